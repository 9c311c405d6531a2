#!/usr/bin/env bash
# Assembling a manifest's 1,000,000 inputs (about 200 MB) into request lines
# (issue 8's target: >= 3x the speed of python3 writing the same lines with
# json.dumps). Two cases: chat (one request an input, from a body template)
# and embeddings (up to 2048 inputs and 300,000 bytes of text a request,
# batches of 50,000 inputs). Python writes byte-identical lines (checked with
# cmp); batchd's time also includes cutting the file into chunks, hashing
# them and fsyncing the file, Python's does not. Each run starts after a
# `sync`. Usage: bench/manifest_vs_python.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-1000000}
bin=build/release/bench/manifest-bench
[[ -x $bin ]] || { echo "build first: cmake --build --preset release" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work/in.txt" "$n" <<'PY'
import sys
words = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma".split()
with open(sys.argv[1], "w") as f:
    for i in range(int(sys.argv[2])):
        # ~200 bytes of plain text, a quote and a tab now and then to escape
        line = " ".join(words[(i * 7 + k) % len(words)] for k in range(30))[:190]
        if i % 10 == 0:
            line = 'he said "' + line[:170] + '"\tok'
        f.write(f"{i} {line}\n")
PY
cat "$work/in.txt" >/dev/null
echo "inputs: $n lines, $(( $(stat -c %s "$work/in.txt") / 1000000 )) MB"
cat >"$work/chat.job.json" <<'J'
{"endpoint": "/v1/chat/completions", "model": "gpt-4o-mini", "custom_id": {"prefix": "b-"},
 "body": {"messages": [{"role": "user", "content": "Summarize: {{input}}"}], "max_tokens": 50}, "inputs_file": "in.txt"}
J
cat >"$work/emb.job.json" <<'J'
{"endpoint": "/v1/embeddings", "model": "text-embedding-3-small", "custom_id": {"prefix": "b-"},
 "body": {"dimensions": 256}, "inputs_file": "in.txt"}
J
for kind in chat emb; do
  mkdir -p "$work/$kind"
  sync  # each run starts with no other run's dirty pages still being written back
  py_s=$( { /usr/bin/time -f "%e" python3 - "$work/in.txt" "$work/$kind.py.jsonl" "$kind" <<'PY'
import json, sys
src, dst, kind = sys.argv[1:]
dumps = lambda o: json.dumps(o, ensure_ascii=False, separators=(",", ":"))
with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as out:
    if kind == "chat":
        for i, line in enumerate(f, 1):
            out.write(dumps({"custom_id": f"b-{i}", "method": "POST", "url": "/v1/chat/completions",
                             "body": {"max_tokens": 50, "messages": [{"content": "Summarize: " + line[:-1], "role": "user"}],
                                      "model": "gpt-4o-mini"}}) + "\n")
    else:
        texts = [l[:-1] for l in f]
        def flush(first, pack):
            out.write(dumps({"custom_id": f"batchd-pack-{first}-{len(pack)}", "method": "POST",
                             "url": "/v1/embeddings",
                             "body": {"dimensions": 256, "encoding_format": "base64", "model": "text-embedding-3-small",
                                      "input": pack}}) + "\n")
        # As many inputs a request as keep each answer line near 512 KiB: base64 float32 is 6 bytes a dimension.
        per_request = min(2048, max(1, (512 * 1024) // (256 * 6 + 64)))
        pack, first, size, in_batch = [], 0, 0, 0
        for i, t in enumerate(texts):
            n = len(t.encode())
            if pack and (len(pack) == per_request or size + n > 300_000 or in_batch == 50_000):
                flush(first, pack)
                pack, size = [], 0
            if in_batch == 50_000:
                in_batch = 0
            if not pack:
                first = i
            pack.append(t)
            size += n
            in_batch += 1
        if pack:
            flush(first, pack)
PY
  } 2>&1 | tail -1)
  sync
  out=$("$bin" "$work/$kind.job.json" "$work/in.txt" "$work/$kind")
  bd_s=$(sed -E 's/.*total ([0-9.]+) s.*/\1/' <<<"$out")
  same=$(cmp -s "$work/$kind.py.jsonl" "$work/$kind/requests.jsonl" && echo "byte-identical" || echo "DIFFERENT")
  echo "$kind: $out"
  python3 -c "import sys; py, bd = float(sys.argv[1]), float(sys.argv[2]); print(f'  python json.dumps {py:.2f} s, batchd {bd:.2f} s: {py/bd:.1f}x (target >= 3x); lines {sys.argv[3]}')" "$py_s" "$bd_s" "$same"
  rm -rf "$work/$kind" "$work/$kind.py.jsonl"  # the next case starts with as much free page cache
done
