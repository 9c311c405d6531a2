#!/usr/bin/env bash
# Validating, splitting and hashing a 200 MB, 50,000-line batch file (issue 4's
# target: >= 3x the throughput of python3 json.loads on every line, peak RSS
# <= 64 MB). Both run on the same file in one run; the file is read once
# beforehand so both find it in the page cache.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=build/release/bench/split-bench
[[ -x $bin ]] || { echo "build first: cmake --build --preset release" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/in.jsonl" <<'PY'
import json, sys
# 50,000 chat requests of ~4 KB each: ~200 MB
with open(sys.argv[1], "w") as f:
    for i in range(50_000):
        text = (f"review {i}: " + "the quick brown fox jumps over the lazy dog " * 90)[:3900]
        f.write(json.dumps({"custom_id": f"req-{i}", "method": "POST", "url": "/v1/chat/completions",
                            "body": {"model": "gpt-4o-mini", "max_tokens": 50,
                                     "messages": [{"role": "system", "content": "Classify."},
                                                  {"role": "user", "content": text}]}}) + "\n")
PY
cat "$work/in.jsonl" >/dev/null
bytes=$(stat -c %s "$work/in.jsonl")
py_s=$( { /usr/bin/time -f "%e" python3 -c '
import json, sys
n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        json.loads(line); n += 1
' "$work/in.jsonl" >/dev/null; } 2>&1 | tail -1)
/usr/bin/time -v "$bin" "$work/in.jsonl" >"$work/out.txt" 2>"$work/time.txt"
cat "$work/out.txt"
bd_s=$(awk -F': ' '/Elapsed \(wall clock\)/ {split($2,a,":"); print a[1]*60+a[2]}' "$work/time.txt")
rss=$(awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}' "$work/time.txt")
python3 - "$bytes" "$py_s" "$bd_s" "$rss" <<'PY'
import sys
b, py, bd, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
print(f"file {b/1e6:.0f} MB; python json.loads {b/1e6/py:.0f} MB/s ({py:.2f} s); "
      f"batchd validate+split {b/1e6/bd:.0f} MB/s ({bd:.2f} s); ratio {py/bd:.1f}x (target >= 3x); "
      f"peak RSS {rss/1024:.1f} MiB (target <= 64)")
PY
