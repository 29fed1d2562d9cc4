#!/usr/bin/env bash
# Flower's deployment engine on loopback: a SuperLink, 3 SuperNodes, `flwr run` of this app
# (secagg.flower's mod and workflow), one SuperNode stopped with SIGTERM mid-round (once its
# training has begun, after its key shares went out). Takes 1-2 minutes.
#   examples/flower/deployment/smoke.sh [VENV]   (VENV with secagg[flower] installed)
# The same run, and one with two nodes stopped (the round halts, the model is unchanged), as
# a test: SECAGG_TEST_DEPLOYMENT=1 pytest python/tests/test_engines.py -k deployment
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
venv=${1:-${VIRTUAL_ENV:?give the venv}}
export PATH="$venv/bin:$PATH" FLWR_TELEMETRY_ENABLED=0 FLWR_DISABLE_UPDATE_CHECK=1
work=$(mktemp -d /tmp/secagg-deploy.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

FLWR_HOME="$work/link" flower-superlink --insecure --disable-runtime-dependency-installation \
    --host 127.0.0.1 --port 8000 >"$work/superlink.log" 2>&1 &
pids+=($!)
for i in 0 1 2; do
    extra=""; [ "$i" = 2 ] && extra=" slow=120 marker='$work/training-2'"
    FLWR_HOME="$work/node$i" flower-supernode --insecure --superlink 127.0.0.1:8000 --port $((9094 + i)) \
        --node-config "partition-id=$i num-partitions=3$extra" >"$work/node$i.log" 2>&1 &
    pids+=($!)
done
victim=${pids[3]}
# Wait (bounded) until the SuperLink serves and all three SuperNodes are active.
for _ in $(seq 1 240); do
    [ "$(grep -c 'Activated node_id' "$work/superlink.log" 2>/dev/null)" -ge 3 ] && break
    sleep 0.5
done
cp -r "$here" "$work/app"
(cd "$work/app" && FLWR_HOME="$work/cli" timeout 400 flwr run . local --stream >"$work/run.log" 2>&1) &
run=$!
# Stop SuperNode 2 once its training has begun (it touches the marker, then sleeps 120 s);
# bounded wait.
for _ in $(seq 1 480); do
    [ -e "$work/training-2" ] && break
    sleep 0.5
done
kill -TERM "$victim"
echo "stopped SuperNode 2 (pid $victim) with SIGTERM"
wait "$run" || true
grep -E "SECAGG-SMOKE|Secure aggregation|aggregate_fit|failed in|ERROR" "$work/run.log" || true
echo "logs: $work"
# Two survivors, partitions 0 and 1, their FedAvg within 1e-3 (the quantization bound is 3.1e-4).
grep -o 'SECAGG-SMOKE {.*}' "$work/run.log" | sed 's/^SECAGG-SMOKE //' | python -c '
import json, sys
o = json.loads(sys.stdin.read())
sys.exit(0 if o["halted"] is None and o["partitions"] == [0, 1] and o["max_error"] < 1e-3 else 1)' 
