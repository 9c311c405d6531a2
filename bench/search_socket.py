#!/usr/bin/env python3
"""batchd's search end to end, over the control socket: a manifest of
INPUTS texts at DIMS dimensions becomes embeddings.npy through batchd-sim,
then 50 `like` searches (a row, no API call) and 50 `query` searches (the
daemon embeds the text with the sim's synchronous /v1/embeddings, books it,
ranks) for the top 10. Prints p50/p99 per search and the daemon's anonymous
memory (RssAnon) before the first search and after the last.

    python3 bench/search_socket.py [INPUTS] [DIMS]
with $BATCHD and $BATCHD_SIM as for the tests (defaults: build/release).
"""
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))
from harness import Daemon, Sim, request  # noqa: E402


def rss_anon_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        return int(re.search(r"RssAnon:\s+(\d+)", f.read()).group(1))


def pct(ms, p):
    s = sorted(ms)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    inputs = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    dims = int(sys.argv[2]) if len(sys.argv) > 2 else 256
    root = tempfile.mkdtemp(prefix="batchd-search-socket-")
    sim = Sim()
    try:
        d = Daemon(os.path.join(root, "d"), sim)
        d.wait_ready()
        inbox = os.path.join(d.spool, "inbox")
        texts = [f"passage {i} about subject {i % 1009} and detail {i * 31 % 997}" for i in range(inputs)]
        with open(os.path.join(inbox, "corpus.txt"), "w") as f:
            f.write("".join(t + "\n" for t in texts))
        manifest = {"endpoint": "/v1/embeddings", "model": "text-embedding-3-small", "body": {"dimensions": dims},
                    "inputs_file": "corpus.txt", "custom_id": {"prefix": "doc-"}, "output": "npy"}
        with open(os.path.join(inbox, ".corpus.tmp"), "w") as f:
            json.dump(manifest, f)
        os.rename(os.path.join(inbox, ".corpus.tmp"), os.path.join(inbox, "corpus.job.json"))
        t0 = time.time()
        job = d.wait_for("corpus", 3600)
        assert job["status"] == "completed", job
        built = time.time() - t0
        before = rss_anon_kib(d.proc.pid)
        timings = {"like": [], "query": []}
        for q in range(51):
            i = (q * 7919) % inputs
            for kind, ask in (("like", {"like": f"doc-{i + 1}", "k": 10}), ("query", {"query": texts[i], "k": 10})):
                t = time.perf_counter()
                status, _, body = request(d.socket, "POST", "/v1/jobs/corpus/search", json.dumps(ask).encode())
                elapsed = (time.perf_counter() - t) * 1000
                assert status == 200, body
                assert json.loads(body)["results"][0]["custom_id"] == f"doc-{i + 1}", body[:300]
                if q > 0:  # the first loads the file and its row map: reported apart
                    timings[kind].append(elapsed)
                else:
                    first = elapsed if kind == "like" else first
        after = rss_anon_kib(d.proc.pid)
        print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {inputs:,} x {dims}; job built in {built:.0f} s; "
              f"first search (maps the file, indexes the row map) {first:.0f} ms")
        print("| search over the socket | p50 ms | p99 ms |")
        print("|---|---|---|")
        for kind, ms in timings.items():
            print(f"| {kind} | {pct(ms, 50):.1f} | {pct(ms, 99):.1f} |")
        print(f"\nbatchd RssAnon before the first search {before / 1024:.1f} MiB, after the last {after / 1024:.1f} MiB "
              f"(growth {(after - before) / 1024:.1f} MiB)")
        d.stop()
    finally:
        sim.close()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
