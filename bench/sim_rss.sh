#!/usr/bin/env bash
# batchd-sim's peak RSS while a 200 MB batch file goes up and comes back
# down (issue 2's target: <= 64 MB). Uses curl as the client, so only the
# simulator is measured. Usage: bench/sim_rss.sh [SIZE_MB]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-200}
sim=build/release/sim/batchd-sim
[[ -x $sim ]] || { echo "build first: cmake --build --preset release" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT

python3 - "$work/big.jsonl" "$size_mb" <<'PY'
import json, sys
path, target = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
line_tmpl = {"custom_id": "", "method": "POST", "url": "/v1/chat/completions",
             "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 3800}]}}
with open(path, "w") as f:
    n = written = 0
    while written < target - 5000:
        line_tmpl["custom_id"] = f"req-{n}"
        s = json.dumps(line_tmpl) + "\n"
        f.write(s); written += len(s); n += 1
PY
bytes=$(stat -c %s "$work/big.jsonl")
/usr/bin/time -v "$sim" --port 0 --api-key sk-bench --data-dir "$work/data" >"$work/sim.out" 2>"$work/time.txt" &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
base=$(grep -o 'http://[^ ]*' "$work/sim.out")
printf 'Authorization: Bearer sk-bench\n' >"$work/auth"

t0=$(date +%s.%N)
id=$(curl -sS -H @"$work/auth" -F purpose=batch -F "file=@$work/big.jsonl" "$base/v1/files" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
t1=$(date +%s.%N)
curl -sS -H @"$work/auth" -o "$work/back.jsonl" "$base/v1/files/$id/content"
t2=$(date +%s.%N)
cmp "$work/big.jsonl" "$work/back.jsonl"
# time -v is the simulator's parent: stop the simulator, not time.
pkill -TERM -P $pid -f batchd-sim || kill -TERM $pid
wait $pid || true
rss_kb=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$work/time.txt")
python3 - "$bytes" "$t0" "$t1" "$t2" "$rss_kb" <<'PY'
import sys
b, t0, t1, t2, rss = int(sys.argv[1]), *map(float, sys.argv[2:5]), int(sys.argv[5])
mb = b / 1e6
print(f"file: {b} bytes; upload {mb/(t1-t0):.0f} MB/s, download {mb/(t2-t1):.0f} MB/s (curl as client)")
print(f"batchd-sim peak RSS: {rss/1024:.1f} MiB (target <= 64 MiB); round trip byte-identical")
PY
