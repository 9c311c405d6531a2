#!/usr/bin/env bash
# The control socket with 10,000 jobs in the store (issue 6's targets):
# GET /v1/jobs/{job} p99 <= 1 ms and GET /v1/jobs?limit=50 p99 <= 5 ms over
# one connection; 64 concurrent clients without an error; the daemon's idle
# RSS <= 32 MB. Usage: bench/control_bench.sh [JOBS] [ROUNDS] [CLIENTS]
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-10000}
rounds=${2:-2000}
clients=${3:-64}
b=build/release
[[ -x $b/bench/control-bench ]] || { echo "build first: cmake --build --preset release" >&2; exit 2; }
work=$(mktemp -d /tmp/batchd-ctlbench-XXXXXX)
trap 'kill $sim_pid $d_pid 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
echo sk-bench >"$work/key"
BATCHD_SIM_API_KEY=sk-bench $b/sim/batchd-sim --port 0 >"$work/sim.out" 2>&1 &
sim_pid=$!
for _ in $(seq 50); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
base=$(grep -o 'http://[^ ]*' "$work/sim.out")
start_daemon() {
  $b/daemon/batchd --spool "$work/spool" --state "$work/state" --api-base "$base/v1" --api-key-file "$work/key" \
    --socket "$work/ctl.sock" --pricing etc/pricing.json >>"$work/batchd.log" 2>&1 &
  d_pid=$!
  for _ in $(seq 100); do [[ -S $work/ctl.sock ]] && grep -q " started: " "$work/batchd.log" && break; sleep 0.05; done
}
start_daemon  # creates and migrates the database
kill $d_pid; wait $d_pid 2>/dev/null || true
# 10,000 finished jobs, each with one merged batch and a ledger booking.
python3 - "$work/state/batchd.db" "$jobs" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = int(sys.argv[2])
with db:
    for i in range(n):
        cur = db.execute(
            "INSERT INTO jobs (name, kind, source, stage, endpoint, model, total, succeeded, created_at, finished_at,"
            " est_input_tokens) VALUES (?, 'requests', '/x', 'completed', '/v1/chat/completions', 'gpt-4o-mini',"
            " 100, 100, ?, ?, 5000)", (f"job-{i}", 1.7e9 + i, 1.7e9 + i + 60))
        j = cur.lastrowid
        c = db.execute(
            "INSERT INTO chunks (job_id, idx, attempt, stage, path, sha256, requests, bytes, est_tokens, file_id,"
            " batch_id, batch_status, req_total, req_completed, updated_at) VALUES (?, 1, 1, 'merged', '/x', 'h',"
            " 100, 20000, 5000, 'file-x', ?, 'completed', 100, 100, 0)", (j, f"batch_{i}")).lastrowid
        db.execute("INSERT INTO ledger (job_id, chunk_id, model, booked_at, day, requests, prompt_tokens,"
                   " cached_tokens, completion_tokens, batch_cost, regular_cost) VALUES (?, ?, 'gpt-4o-mini', ?,"
                   " '2026-11-27', 100, 5000, 0, 1000, 675000000, 1350000000)", (j, c, 1.7e9 + i))
PY
start_daemon
sleep 1
echo "daemon idle with $jobs jobs: $(grep VmRSS /proc/$d_pid/status)"
$b/bench/control-bench "$work/ctl.sock" "job-$((jobs / 2))" "$rounds" "$clients"
echo "daemon after the run: $(grep -E 'VmRSS|VmHWM' /proc/$d_pid/status | tr -s ' \n' ' ')"
