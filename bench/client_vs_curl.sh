#!/usr/bin/env bash
# The client against curl, same 200 MB JSONL, same batchd-sim, one run
# (issue 3's targets: throughput >= 0.8x curl both ways; the client's peak
# RSS grows by <= 32 MB over an idle run of the same binary).
# Usage: bench/client_vs_curl.sh [SIZE_MB] [ROUNDS]
set -euo pipefail
cd "$(dirname "$0")/.."
size_mb=${1:-200}
rounds=${2:-3}
sim=build/release/sim/batchd-sim
bench=build/release/bench/openai-bench
[[ -x $sim && -x $bench ]] || { echo "build first: cmake --build --preset release" >&2; exit 2; }
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
python3 - "$work/big.jsonl" "$size_mb" <<'PY'
import json, sys
path, target = sys.argv[1], int(sys.argv[2]) * 1024 * 1024
line = {"custom_id": "", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x" * 3800}]}}
with open(path, "w") as f:
    n = written = 0
    while written < target - 5000:
        line["custom_id"] = f"req-{n}"; s = json.dumps(line) + "\n"; f.write(s); written += len(s); n += 1
PY
export OPENAI_API_KEY=sk-bench
BATCHD_SIM_API_KEY=sk-bench "$sim" --port 0 --data-dir "$work/data" >"$work/sim.out" &
pid=$!
for _ in $(seq 50); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
base=$(grep -o 'http://[^ ]*' "$work/sim.out")/v1
bytes=$(stat -c %s "$work/big.jsonl")
printf 'Authorization: Bearer sk-bench\n' >"$work/auth"
mbps() { python3 -c "print(f'{$bytes/1e6/$1:.0f}')"; }
rss_kb() { awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$1"; }

/usr/bin/time -v "$bench" "$base" idle 2>"$work/idle.time"
idle=$(rss_kb "$work/idle.time")
for r in $(seq "$rounds"); do
  t=$( { /usr/bin/time -f %e curl -sS -o /dev/null -H @"$work/auth" -F purpose=batch -F "file=@$work/big.jsonl" "$base/files"; } 2>&1 )
  cu_up=$(mbps "$t")
  out=$(/usr/bin/time -v "$bench" "$base" upload "$work/big.jsonl" 2>"$work/up.time")
  id=${out%% *}
  bd_up=$(echo "$out" | awk '{print int($2)}')
  up_rss=$(rss_kb "$work/up.time")
  t=$( { /usr/bin/time -f %e curl -sS -o "$work/curl.out" -H @"$work/auth" "$base/files/$id/content"; } 2>&1 )
  cu_down=$(mbps "$t")
  out=$(/usr/bin/time -v "$bench" "$base" download "$id" "$work/back.jsonl" 2>"$work/down.time")
  bd_down=$(echo "$out" | awk '{print int($2)}')
  down_rss=$(rss_kb "$work/down.time")
  cmp -s "$work/big.jsonl" "$work/back.jsonl" || { echo "download differs!" >&2; exit 1; }
  rm -f "$work/back.jsonl" "$work/curl.out"
  python3 - <<PY
cu_up, bd_up, cu_down, bd_down = $cu_up, $bd_up, $cu_down, $bd_down
print(f"round $r: upload batchd {bd_up} MB/s vs curl {cu_up} MB/s ({bd_up/cu_up:.2f}x); "
      f"download batchd {bd_down} MB/s vs curl {cu_down} MB/s ({bd_down/cu_down:.2f}x); "
      f"RSS growth upload {($up_rss-$idle)/1024:.1f} MiB, download {($down_rss-$idle)/1024:.1f} MiB (idle {$idle/1024:.1f} MiB)")
PY
done
