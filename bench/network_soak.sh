#!/usr/bin/env bash
# The network test (tests/daemon/network_test.py) with 20 seeds: each run
# has its own lost replies, cuts and kill moments. Prints one line a seed and
# a summary. Usage: bench/network_soak.sh [SEEDS]
set -uo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-20}
export BATCHD=build/release/daemon/batchd BATCHD_SIM=build/release/sim/batchd-sim
pass=0
start=$(date +%s)
for seed in $(seq 1 "$seeds"); do
  t0=$(date +%s.%N)
  if out=$(NETWORK_SEED=$seed python3 tests/daemon/network_test.py 2>&1); then
    pass=$((pass + 1))
    echo "seed $seed: pass in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s; $(grep -o '[0-9]* replies lost after commit' <<<"$out")"
  else
    echo "seed $seed: FAIL"
    grep -E "AssertionError|Error" <<<"$out" | head -3
  fi
done
echo "$pass of $seeds seeds passed in $(( $(date +%s) - start )) s"
[[ $pass -eq $seeds ]]
