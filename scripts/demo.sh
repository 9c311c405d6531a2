#!/usr/bin/env bash
# The main job, end to end on this machine: installs what is missing, builds,
# starts batchd-sim (the local stand-in for the OpenAI API) and batchd on a
# temporary spool, both on a clock running 60x, drops a sample job into the
# inbox, shows it move through its states, and prints where the results are
# and what was used; then a manifest job: 20,000 texts to embed, packed into
# a few requests by batchd, followed with `batchctl watch`, and the ledger.
# Usage: scripts/demo.sh [FILE.jsonl]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target batchd batchctl batchd-sim >/dev/null

input=${1:-examples/reviews.jsonl}
work=$(mktemp -d /tmp/batchd-demo-XXXXXX)
key="sk-demo-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
umask 077
printf '%s\n' "$key" >"$work/api-key"  # the key travels in a file, never in argv
scale=60
BATCHD_SIM_API_KEY=$key build/release/sim/batchd-sim --port 0 --time-scale $scale >"$work/sim.out" 2>&1 &
sim_pid=$!
trap 'kill $sim_pid $batchd_pid 2>/dev/null; wait 2>/dev/null' EXIT
for _ in $(seq 50); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
base=$(grep -o 'http://[^ ]*' "$work/sim.out")
build/release/daemon/batchd --spool "$work/spool" --state "$work/state" --api-base "$base/v1" \
  --api-key-file "$work/api-key" --time-scale $scale --socket "$work/batchd.sock" --pricing etc/pricing.json \
  >"$work/batchd.log" 2>&1 &
batchd_pid=$!
echo "batchd-sim at $base; batchd on spool $work/spool (clocks run ${scale}x: a minute in a second)"

job=$(basename "$input"); job=${job%%.*}
for _ in $(seq 50); do [[ -d $work/spool/inbox ]] && break; sleep 0.1; done
cp "$input" "$work/spool/inbox/.$job.tmp" && mv "$work/spool/inbox/.$job.tmp" "$work/spool/inbox/$job.jsonl"
echo "dropped $input into inbox/ as job '$job'; following outbox/$job/job.json:"
last=""
for _ in $(seq 600); do
  state=$(python3 - "$work/spool/outbox/$job/job.json" <<'PY' 2>/dev/null || true
import json, sys
j = json.load(open(sys.argv[1]))
b = ", ".join(f"{x['id'][:14]}… {x['status']} {x['request_counts']['completed']}/{x['request_counts']['total']}" for x in j["batches"])
p = j.get("progress") or {"finished": j["counts"]["succeeded"] + j["counts"]["failed"], "total": j["counts"]["total"]}
print(f"{j['status']:<9} {p['finished']} of {p['total']} done" + (f"; batches: {b}" if b else ""))
PY
)
  if [[ -n $state && $state != "$last" ]]; then echo "  $state"; last=$state; fi
  case $state in completed* | failed* | cancelled*) break ;; esac
  sleep 0.05
done
out=$work/spool/outbox/$job
echo
echo "results: $out/results.jsonl ($(wc -l <"$out/results.jsonl") lines), errors: $out/errors.jsonl ($(wc -l <"$out/errors.jsonl") lines)"
python3 - "$out/results.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
for r in lines[:3]:
    body = r["response"]["body"]
    if "choices" in body:
        print(f"  {r['custom_id']}: {body['choices'][0]['message']['content']!r}")
PY
batchctl() { build/release/daemon/batchctl --socket "$work/batchd.sock" "$@"; }
echo
echo "\$ batchctl show $job"
batchctl show "$job"

echo
echo "A manifest job: 20,000 texts to embed (texts.txt), one manifest (texts.job.json):"
python3 -c 'import sys
for i in range(20000): print(f"headline {i}: markets move as the quarter closes")' >"$work/spool/inbox/.texts.tmp"
mv "$work/spool/inbox/.texts.tmp" "$work/spool/inbox/texts.txt"
manifest='{"endpoint": "/v1/embeddings", "model": "text-embedding-3-small", "body": {"dimensions": 4},
 "inputs_file": "texts.txt", "custom_id": {"prefix": "h-"}}'
echo "  $manifest"
printf '%s\n' "$manifest" >"$work/spool/inbox/.texts.job.tmp"
mv "$work/spool/inbox/.texts.job.tmp" "$work/spool/inbox/texts.job.json"
for _ in $(seq 100); do batchctl show texts >/dev/null 2>&1 && break; sleep 0.1; done
echo "\$ batchctl watch texts"
batchctl watch texts --interval 0.2 || true
echo "$(python3 -c 'import json, sys; print(sum(b["request_counts"]["total"] for b in json.load(open(sys.argv[1]))["batches"]))' "$work/spool/outbox/texts/job.json") requests carried the 20,000 inputs; results.jsonl has $(wc -l <"$work/spool/outbox/texts/results.jsonl") lines, the first:"
head -1 "$work/spool/outbox/texts/results.jsonl"
echo
echo "\$ batchctl ledger --by model    # what it cost at the batch price, and what it saved"
batchctl ledger --by model
echo "daemon log: $work/batchd.log; everything is under $work"
