#!/usr/bin/env bash
# Flower's deployment engine on loopback: a SuperLink, 3 SuperNodes, `flwr run` of this app
# (secagg.flower's mod and workflow), one SuperNode stopped with SIGTERM mid-round.
#   examples/flower/deployment/smoke.sh [VENV]   (VENV with secagg[flower] installed)
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
    slow=0; [ "$i" = 2 ] && slow=30
    FLWR_HOME="$work/node$i" flower-supernode --insecure --superlink 127.0.0.1:8000 --port $((9094 + i)) \
        --node-config "partition-id=$i num-partitions=3 slow=$slow" >"$work/node$i.log" 2>&1 &
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
# Stop SuperNode 2 (its training sleeps 30 s) once secure aggregation has begun; bounded wait.
for _ in $(seq 1 240); do
    grep -q "Secure aggregation commencing" "$work/run.log" 2>/dev/null && break
    sleep 0.5
done
sleep 8
kill -TERM "$victim"
echo "stopped SuperNode 2 (pid $victim) with SIGTERM"
wait "$run" || true
grep -E "SECAGG-SMOKE|Secure aggregation|aggregate_fit|failed in|ERROR" "$work/run.log" || true
echo "logs: $work"
grep -q "SECAGG-SMOKE sampled=3 included=2 halted=None" "$work/run.log" \
    && awk '/SECAGG-SMOKE max_error=/ { split($0, a, "max_error="); exit (a[2] + 0 < 1e-3 ? 0 : 1) }' "$work/run.log"
