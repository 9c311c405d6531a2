#!/usr/bin/env python3
"""Issue 22's benchmark: the same 2,000-line chat job against batchd-sim with
30% of uploads and batch creates refused (429, Retry-After: 2 s), run by
batchd and by a script around the official openai SDK (bench/sdk_batch.mjs,
the SDK's own retries), in pairs on one machine; wall time as a ratio.

Both run in real time (scale 1) against a simulator whose batches take
6.46 s (validating 1 s, in progress 2 s + 1.23 ms a request, finalizing
1 s: not a whole number of seconds, so a poll once a second does not meet
the end exactly), and both poll about once a second (batchd: 0.5-1 s,
jittered). A pair shares the simulator's seed, so both meet the same
refusals in the same order of creates.
Usage: bench/refusals_vs_sdk.py [PAIRS]   (build first)
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "support"))
from harness import KEY, Daemon, Sim, chat  # noqa: E402

FAULTS = {"rate_429_create": 0.3, "retry_after_ms": 2000}
LIFECYCLE = ["--validating-s", "1", "--in-progress-s", "2", "--per-request-s", "0.00123", "--finalizing-s", "1"]
LINES = 2000


def run_batchd(root, seed):
    sim = Sim(faults=FAULTS, args=LIFECYCLE, seed=seed, scale=1)
    d = Daemon(os.path.join(root, "batchd"), sim, scale=1,
               config={"pipeline": {"poll_initial_s": 1, "poll_cap_s": 1}})
    try:
        d.wait_ready()
        started = time.time()
        d.drop("bench.jsonl", [chat(i) for i in range(LINES)])
        job = d.wait_for("bench", timeout=300)
        took = time.time() - started
        assert job["status"] == "completed", job
        assert len(set(d.ids_in_outbox("bench"))) == LINES
        refused = sum(c.get("429", 0) for r, c in sim.stats()["calls"].items() if r.startswith("POST"))
        return took, refused
    finally:
        d.stop()
        sim.close()


def run_sdk(root, seed):
    sim = Sim(faults=FAULTS, args=LIFECYCLE, seed=seed, scale=1)
    try:
        path = os.path.join(root, "in.jsonl")
        with open(path, "w") as f:
            for i in range(LINES):
                f.write(json.dumps(chat(i)) + "\n")
        out = subprocess.run(["node", os.path.join(ROOT, "bench", "sdk_batch.mjs"), sim.base + "/v1", path,
                              os.path.join(root, "out.jsonl")], capture_output=True, text=True, timeout=300,
                             env={**os.environ, "OPENAI_API_KEY": KEY, "POLL_S": "1"})
        assert out.returncode == 0, out.stderr
        result = json.loads(out.stdout.strip().splitlines()[-1])
        assert result["status"] == "completed", result
        refused = sum(c.get("429", 0) for r, c in sim.stats()["calls"].items() if r.startswith("POST"))
        return result["seconds"], refused
    finally:
        sim.close()


def main():
    pairs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    rows = []
    for i in range(pairs):
        seed = 100 + i
        with tempfile.TemporaryDirectory() as a, tempfile.TemporaryDirectory() as b:
            bd = run_batchd(a, seed)
            sdk = run_sdk(b, seed)
        rows.append((bd, sdk))
        print(f"pair {i + 1}: batchd {bd[0]:.2f} s ({bd[1]} refused), SDK script {sdk[0]:.2f} s ({sdk[1]} refused), "
              f"ratio {bd[0] / sdk[0]:.2f}", flush=True)
    b = statistics.median(r[0][0] for r in rows)
    s = statistics.median(r[1][0] for r in rows)
    ratio = statistics.median(r[0][0] / r[1][0] for r in rows)
    print(f"median of {pairs} pairs: batchd {b:.2f} s, SDK script {s:.2f} s; median batchd/SDK ratio {ratio:.2f}")


if __name__ == "__main__":
    main()
