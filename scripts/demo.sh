#!/usr/bin/env bash
# The main job, end to end on this machine: installs what is missing, builds,
# starts batchd-sim (the local stand-in for the OpenAI API) on a scaled
# clock, and walks a batch through its life — upload, create, poll, download —
# printing each state change, the results and what the simulator served.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
cmake --preset release >/dev/null
cmake --build --preset release -j "$(nproc)" --target batchd-sim >/dev/null

input=${1:-examples/reviews.jsonl}
work=$(mktemp -d)
key="sk-demo-$(head -c8 /dev/urandom | od -An -tx1 | tr -d ' \n')"
BATCHD_SIM_API_KEY=$key build/release/sim/batchd-sim --port 0 --time-scale 60 >"$work/sim.out" &
sim_pid=$!
trap 'kill $sim_pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 50); do grep -q listening "$work/sim.out" 2>/dev/null && break; sleep 0.1; done
base=$(grep -o 'http://[^ ]*' "$work/sim.out")
echo "batchd-sim at $base (time runs 60x: one simulated minute = 1 s)"

api() {  # api METHOD PATH [curl args…]: the key travels in a header file, never in argv
  local method=$1 path=$2
  shift 2
  curl -sS -X "$method" -H @"$work/auth" "$base/v1$path" "$@"
}
printf 'Authorization: Bearer %s\n' "$key" >"$work/auth"
field() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }

echo "1. upload $input ($(wc -l <"$input") requests)"
file_id=$(api POST /files -F purpose=batch -F "file=@$input" | field "['id']")
echo "   file $file_id"
echo "2. create the batch"
batch_id=$(api POST /batches -H 'Content-Type: application/json' \
  -d "{\"input_file_id\":\"$file_id\",\"endpoint\":\"/v1/chat/completions\",\"completion_window\":\"24h\",\"metadata\":{\"job\":\"demo\"}}" |
  field "['id']")
echo "   batch $batch_id"
echo "3. poll until it is done"
last=""
while :; do
  state=$(api GET "/batches/$batch_id" | field "['status'], d['request_counts']")
  if [[ $state != "$last" ]]; then echo "   $state"; last=$state; fi
  case $state in completed* | failed* | expired* | cancelled*) break ;; esac
  sleep 0.05
done
out_id=$(api GET "/batches/$batch_id" | field "['output_file_id']")
api GET "/files/$out_id/content" >"$work/results.jsonl"
echo "4. results ($(wc -l <"$work/results.jsonl") lines), first three:"
python3 - "$work/results.jsonl" <<'PY'
import json, sys
for line in list(open(sys.argv[1]))[:3]:
    r = json.loads(line)
    body = r["response"]["body"]
    print(f"   {r['custom_id']}: {body['choices'][0]['message']['content']!r} ({body['usage']['total_tokens']} tokens)")
PY
echo "5. what the simulator served (GET /admin/stats):"
curl -sS "$base/admin/stats" | python3 -m json.tool | sed 's/^/   /' | head -40
