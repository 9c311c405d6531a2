#!/usr/bin/env python3
"""Embeddings on the wire: float JSON against base64, in one run. A manifest
of 50,000 inputs at 1536 dimensions goes through batchd and batchd-sim
twice: with "encoding_format": "float" in its body and "output": "jsonl"
(as before batchd asked base64), and with nothing set and "output": "npy".
Reports the bytes batchd downloaded (its /metrics), the time from the last
batch seen completed to the job's outbox in place (its log), and batchd's
peak RSS (VmHWM).

    python3 bench/embeddings_transfer.py [INPUTS] [DIMS]
with $BATCHD, $BATCHD_SIM set as for the tests (defaults: build/release).
"""
import datetime
import json
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))
from harness import Daemon, Sim, request  # noqa: E402


EXTRA = json.loads(os.environ.get("MANIFEST_EXTRA", "{}"))  # e.g. {"inputs_per_request": 256}


def metric(d, name):
    text = request(d.socket, "GET", "/metrics")[2]
    text = text.decode() if isinstance(text, bytes) else text
    m = re.search(rf"^{name} (\d+)", text, re.M)
    return int(m.group(1)) if m else 0


def stamp(line):
    return datetime.datetime.fromisoformat(line.split(" ", 1)[0].rstrip("Z")).timestamp()


def run(root, inputs, dims, body, output):
    sim = Sim()
    try:
        d = Daemon(root, sim, config={"pipeline": {"max_embedding_inputs_per_batch": 50_000}})
        d.wait_ready()
        inbox = os.path.join(d.spool, "inbox")
        with open(os.path.join(inbox, "corpus.txt"), "w") as f:
            for i in range(inputs):
                f.write(f"passage {i}: a short text about topic {i % 97} for the transfer benchmark\n")
        manifest = {"endpoint": "/v1/embeddings", "model": "text-embedding-3-small", "body": body,
                    "inputs_file": "corpus.txt", "output": output, **EXTRA}
        with open(os.path.join(inbox, ".corpus.tmp"), "w") as f:
            json.dump(manifest, f)
        os.rename(os.path.join(inbox, ".corpus.tmp"), os.path.join(inbox, "corpus.job.json"))
        job = d.wait_for("corpus", 1800)
        assert job["status"] == "completed", job
        downloaded = metric(d, "batchd_api_bytes_received_total")
        with open(f"/proc/{d.proc.pid}/status") as f:
            hwm = int(re.search(r"VmHWM:\s+(\d+)", f.read()).group(1))
        with open(d.log.name) as f:
            lines = f.read().splitlines()
        seen = [stamp(l) for l in lines if re.search(r"batch \S+ completed \(", l)]
        done = [stamp(l) for l in lines if re.search(r"job corpus: completed", l)]
        out = os.path.join(d.spool, "outbox", "corpus")
        sizes = {f: os.path.getsize(os.path.join(out, f)) for f in os.listdir(out)}
        d.stop()
        return downloaded, done[-1] - max(seen), hwm, sizes
    finally:
        sim.close()


def main():
    inputs = int(sys.argv[1]) if len(sys.argv) > 1 else 50_000
    dims = int(sys.argv[2]) if len(sys.argv) > 2 else 1536
    root = tempfile.mkdtemp(prefix="batchd-transfer-")
    try:
        print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, {inputs:,} inputs x {dims} dimensions")
        print("| wire, output | downloaded MB | output → outbox s | batchd max RSS MiB | outbox files MB |")
        print("|---|---|---|---|---|")
        results = {}
        for name, body, output in (("float JSON, jsonl", {"dimensions": dims, "encoding_format": "float"}, "jsonl"),
                                   ("base64, npy", {"dimensions": dims}, "npy")):
            down, secs, hwm, sizes = run(os.path.join(root, name.split(",")[0].replace(" ", "-")), inputs, dims, body, output)
            results[name] = down
            files = ", ".join(f"{k} {v / 1e6:.0f}" for k, v in sorted(sizes.items()) if v > 1e5)
            print(f"| {name} | {down / 1e6:.1f} | {secs:.2f} | {hwm / 1024:.1f} | {files} |")
            sys.stdout.flush()
        print(f"\nbase64 downloads {results['float JSON, jsonl'] / results['base64, npy']:.2f}x fewer bytes")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
