#!/usr/bin/env bash
# Scripted mutation testing (issue 16): each mutation below breaks one thing the protocol or
# the privacy accounting relies on; the tests must notice. For every mutation the script
#
#   1. applies it with a one-line perl substitution to ONE file of a separate git worktree
#      (never the working tree you run it from), checks that the file really changed,
#   2. builds and runs the listed test binaries there (`cargo test --all-features`), with its
#      own target directory,
#   3. restores that one file (`git checkout -- <file>` in the worktree),
#
# and reports CAUGHT (some test failed; the failing tests are named), SURVIVED (every test
# passed), UNVIABLE (does not compile) or NOT-APPLIED (the pattern no longer matches: the
# source moved on and the mutation must be updated). A baseline run without mutation comes
# first and must pass.
#
# Usage: scripts/mutants.sh [REV] [ID...]
#   REV    the commit to test (default HEAD); commit what you want tested first.
#   ID...  run only these mutations (default: all).
# Environment: MUTANTS_WORKTREE (default /tmp/secagg-mutants-wt), CARGO_TARGET_DIR (default
# /tmp/secagg-mutants-target), MUTANTS_OUT (default /tmp/secagg-mutants; the Markdown table is
# $MUTANTS_OUT/table.md, each run's log $MUTANTS_OUT/<ID>.log).
#
# Runs under `nice`; on two cores expect one to two minutes per mutation (the crate is
# rebuilt at opt-level 2 each time).

set -euo pipefail

repo=$(git rev-parse --show-toplevel)
rev=${1:-HEAD}
shift || true
only=("$@")
wt=${MUTANTS_WORKTREE:-/tmp/secagg-mutants-wt}
out=${MUTANTS_OUT:-/tmp/secagg-mutants}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/tmp/secagg-mutants-target}
mkdir -p "$out"

commit=$(git -C "$repo" rev-parse "$rev")
if [ -d "$wt" ]; then
    # The worktree belongs to this script: put it back at the commit under test.
    git -C "$wt" checkout --detach --force --quiet "$commit"
else
    git -C "$repo" worktree add --detach "$wt" "$commit" >/dev/null
fi

SESSION_TESTS="--test masking"
DP_TESTS="--test masking --test dp --test dp_papers --test encoding"

# id # file # perl substitution (applied with -0pi: the whole file is one string) # tests #
# what it breaks
mutations=(
"mask-off#src/crypto/prg.rs#s/(pub fn apply_masks\([^)]*\)\s*\{)/\$1\n    return;/#$SESSION_TESTS --test e2e#apply_masks does nothing: clients send their plain input, the server removes no mask (sums stay right)"
"mask-one-off#src/crypto/prg.rs#s/(pub fn apply_mask_with\([^)]*\)\s*\{)/\$1\n    return;/#$SESSION_TESTS#apply_mask_with (one mask, hazmat) does nothing: an all-zero mask"
"l1-is-l2#src/encoding/config.rs#s/l1: \(len\.sqrt\(\) \* l2\)\.min\(l2_sq\),/l1: l2,/#$DP_TESTS#Δ₁ replaced by Δ₂ in the encoder's sensitivity"
"no-weight-in-l2#src/encoding/config.rs#s/let l2_sq = b\.norm_sq\.saturating_add\(w \* w\);/let l2_sq = b.norm_sq;/#$DP_TESTS#the weight element left out of Δ₂"
"no-norm-redraw#src/encoding/codec.rs#s/if in_range && norm_sq <= bounds\.norm_sq \{/if in_range {/#$DP_TESTS#conditional rounding does not enforce the norm bound"
"no-coordinate-bound#src/encoding/codec.rs#s/\n\s*let r = r\.filter\(\|r\| i128::from\(\*r\)\.abs\(\) <= limit\);//#$DP_TESTS#the rounded coordinate bound is not enforced"
"no-coordinate-clip#src/encoding/codec.rs#s/\*x = x\.signum\(\) \* b;//#$DP_TESTS#the coordinate clip is counted but not applied"
"tiny-never-up#src/encoding/rounding.rs#s/if rng\.next_u64\(\) >> \(64 - take\) != 0 \{/if take > 0 {/#$DP_TESTS#fractions below 2^-11 never round up"
"small-never-up#src/encoding/rounding.rs#s/if frac\.is_nan\(\) \|\| frac <= 0\.0 \{/if frac.is_nan() || frac < 1e-9 {/#$DP_TESTS#fractions below 1e-9 never round up"
"skellam-4x-variance#src/dp/accountant.rs#s/let mu = positive\(variance, \"the variance must be positive\"\)\?;/let mu = positive(variance, \"the variance must be positive\")? * 4.0;/#$DP_TESTS#the Skellam accountant uses 4× the variance"
"skellam-4x-mechanism#src/dp/noise.rs#s/variance: s\.variance\(\) \* contributors as f64,/variance: 4.0 * s.variance() * contributors as f64,/#$DP_TESTS#the encoding's Skellam mechanism claims 4× the noise"
"skellam-loose-halved#src/dp/accountant.rs#s/let loose = 3\.0 \* l1 \/ \(2\.0 \* mu\);/let loose = 1.5 * l1 \/ (2.0 * mu);/#$DP_TESTS#the Skellam 3Δ₁/(2μ) branch halved"
"skellam-tight-l2#src/dp/accountant.rs#s/\* l2 \* l2 \+ 6\.0 \* l1\)/* l2 * l2 + 6.0 * l2)/#$DP_TESTS#Δ₂ for Δ₁ in the Skellam correction term"
"ddg-no-third-term#src/dp/accountant.rs#s/Ok\(a\.min\(b\)\.min\(c\)\)/Ok(a.min(b))/#$DP_TESTS#the third term of Proposition 14 dropped"
"ddg-tau-over-10#src/dp/accountant.rs#s/    10\.0 \* sum\n/    sum\n/#$DP_TESTS#τ a tenth of its value"
"calibration-rounds-down#src/dp/noise.rs#s/let scaled = \(v \* den as f64\)\.ceil\(\);/let scaled = (v * den as f64).floor();/#$DP_TESTS#local variance rounded down, below the request"
"beta-bound-d-over-8#src/encoding/config.rs#s/root_d \* root_d \/ 4\.0/root_d * root_d \/ 8.0/#$DP_TESTS#the conditional-rounding bound with d'/8 for d'/4"
"weight-unit-zero#src/encoding/config.rs#s/\.floor\(\)\)\?\.max\(1\);/.floor())?;/#$DP_TESTS#the weight unit may be 0 (weight element and its sensitivity vanish)"
"no-decode-refusal#src/encoding/codec.rs#s/&& contributors < spec\.min_contributors/\&\& contributors < 1/#$DP_TESTS#decode accepts noisy sums below min_contributors"
"no-threshold-tie#src/encoding/codec.rs#s/&& params\.threshold\(\) < spec\.min_contributors/\&\& params.threshold() < 1/#$DP_TESTS#check_params accepts a threshold below min_contributors"
"conversion-drops-log-alpha#src/dp/accountant.rs#s/- \(delta\.ln\(\) \+ alpha\.ln\(\)\) \/ \(alpha - 1\.0\)/- delta.ln() \/ (alpha - 1.0)/#$DP_TESTS#the RDP-to-DP conversion loses its ln α term"
"orders-dense-to-128#src/dp/accountant.rs#s/const ORDERS: \(u32, u32, u32\) = \(256, 32, 1024\);/const ORDERS: (u32, u32, u32) = (128, 32, 1024);/#$DP_TESTS#Rényi orders 129..=255 left out of the search"
"eps-not-floored#src/dp/accountant.rs#s/\n\s*best\.epsilon = best\.epsilon\.max\(0\.0\);//#$DP_TESTS#a negative ε bound is reported as is, not as 0"
"wrap-union-halved#src/encoding/preflight.rs#s/\(2\.0 \* d \* log_one_side\.exp\(\)\)/(d * log_one_side.exp())/#$DP_TESTS#the preflight's two-sided union bound on noise wrap-around halved"
"signal-ignores-weight#src/encoding/preflight.rs#s/u128::from\(b\.coordinate\.max\(b\.weight\)\)/u128::from(b.coordinate)/#$DP_TESTS#the preflight's signal bound ignores the weight element"
"one-rounding-draw#src/encoding/codec.rs#s/const MAX_ROUNDING_DRAWS: u32 = 64;/const MAX_ROUNDING_DRAWS: u32 = 1;/#$DP_TESTS#conditional rounding gives up after one draw"
)

table="$out/table.md"
printf '| mutation | file | what it breaks | outcome | caught by |\n|---|---|---|---|---|\n' >"$table"

# Runs the given test binaries in the worktree; prints the failing tests as
# `binary::test` (one per line) to stdout, the log to $2. Returns cargo's status.
run_tests() {
    local tests=$1 log=$2
    local status=0
    # shellcheck disable=SC2086 # the test list is meant to split into arguments
    (cd "$wt" && nice -n 19 cargo test --all-features --no-fail-fast $tests) >"$log" 2>&1 ||
        status=$?
    awk '/Running (tests|unittests)/ { bin = $2; sub(/^tests\//, "", bin); sub(/\.rs$/, "", bin) }
         / \.\.\. FAILED$/ { print bin "::" $2 }' "$log"
    return $status
}

restore() {
    if [ -n "${current:-}" ]; then
        git -C "$wt" checkout -- "$current"
        current=
    fi
}
trap restore EXIT

echo "baseline at $commit"
if ! failed=$(run_tests "$DP_TESTS --test e2e" "$out/baseline.log"); then
    echo "baseline fails (see $out/baseline.log):" >&2
    echo "$failed" >&2
    exit 1
fi

caught=0
survived=0
other=0
for line in "${mutations[@]}"; do
    IFS='#' read -r id file expr tests what <<<"$line"
    if [ "${#only[@]}" -gt 0 ] && [[ ! " ${only[*]} " == *" $id "* ]]; then
        continue
    fi
    current=$file
    perl -0pi -e "$expr" "$wt/$file"
    if git -C "$wt" diff --quiet -- "$file"; then
        outcome=NOT-APPLIED
        by=
        other=$((other + 1))
    elif failed=$(run_tests "$tests" "$out/$id.log"); then
        outcome=SURVIVED
        by=
        survived=$((survived + 1))
    elif [ -z "$failed" ]; then
        if grep -q "error\[E\|error: could not compile" "$out/$id.log"; then
            outcome=UNVIABLE
        else
            outcome="FAILED (no test named; see log)"
        fi
        by=
        other=$((other + 1))
    else
        outcome=CAUGHT
        by=$(echo "$failed" | sort -u | sed 's/.*/`&`/' | paste -sd ',' | sed 's/,/, /g')
        caught=$((caught + 1))
    fi
    restore
    printf '| `%s` | `%s` | %s | %s | %s |\n' "$id" "$file" "$what" "$outcome" "$by" | tee -a "$table"
done

echo
echo "caught $caught, survived $survived, other $other (table: $table)"
[ "$survived" -eq 0 ] && [ "$other" -eq 0 ]
