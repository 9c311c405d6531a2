#!/usr/bin/env python3
"""How long the control socket waits while batchd does heavy work (issue 15).

For each daemon binary given (the one before the worker pool and the one
after, in the same run), and each of three loads:
  (a) a 270 MB manifest with 1,000,000 inline inputs is taken in;
  (b) a 200 MB request file of 50,000 lines is taken in;
  (c) 20 result files of about 50 MB each are sorted (a job of 20 batches);
GET /v1/health is sent at 50 requests a second over the socket, and the
WATCHDOG=1 datagrams (WATCHDOG_USEC=1 s, so one each 0.5 s when the loop
turns) are timed. Prints p50/p99/max latency, the longest watchdog gap and
the intake time. Usage: bench/loop_bench.py OLD_BATCHD NEW_BATCHD SIM
"""
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))
import harness  # noqa: E402


def health_ms(sock_path):
    t = time.perf_counter()
    harness.request(sock_path, "GET", "/v1/health")
    return (time.perf_counter() - t) * 1000


def make_loads(root):
    loads = {}
    a = os.path.join(root, "a.job.json")
    with open(a, "w") as f:
        f.write('{"endpoint": "/v1/embeddings", "model": "text-embedding-3-small", "body": {"dimensions": 8}, "inputs": [')
        for i in range(1_000_000):
            f.write(("," if i else "") + json.dumps(f"text {i:07d} " + "lorem ipsum dolor sit amet " * 9))
        f.write("]}\n")
    loads["a"] = (a, "a.job.json", {})
    b = os.path.join(root, "b.jsonl")
    pad = "x" * 3900
    with open(b, "w") as f:
        for i in range(50_000):
            f.write(json.dumps({"custom_id": f"r{i}", "method": "POST", "url": "/v1/chat/completions",
                                "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": pad}]}}) + "\n")
    loads["b"] = (b, "b.jsonl", {})
    c = os.path.join(root, "c.jsonl")
    with open(c, "w") as f:
        for i in range(20 * 3300):
            f.write(json.dumps({"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
                                "body": {"model": "text-embedding-3-small", "input": f"text {i}", "dimensions": 1536}}) + "\n")
    loads["c"] = (c, "c.jsonl", {"pipeline": {"max_requests_per_batch": 3300}})
    return loads


def run(binary, sim, load, name, root, config, held):
    harness.BATCHD = binary
    notify = os.path.join(root, "notify.sock")
    ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    ns.bind(notify)
    ns.settimeout(0.2)
    cfg = {"daily_budget_usd": "0.000001"} if held else {}
    cfg.update(config)
    os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"] = notify, "1000000"
    try:
        d = harness.Daemon(os.path.join(root, "d"), sim, config=cfg)
    finally:
        del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
    d.wait_ready()
    stop, lat, pings = threading.Event(), [], []

    def watchdog():
        while not stop.is_set():
            try:
                if "WATCHDOG=1" in ns.recv(4096).decode():
                    pings.append(time.monotonic())
            except socket.timeout:
                pass

    def prober():
        nxt = time.monotonic()
        while not stop.is_set():
            lat.append(health_ms(d.socket))
            nxt += 0.02
            time.sleep(max(0, nxt - time.monotonic()))

    threads = [threading.Thread(target=watchdog), threading.Thread(target=prober)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    job = name.split(".")[0]
    started = time.monotonic()
    shutil.copy(load, os.path.join(d.spool, "inbox", "." + name + ".tmp"))
    os.rename(os.path.join(d.spool, "inbox", "." + name + ".tmp"), os.path.join(d.spool, "inbox", name))
    want = ("held",) if held else ("completed", "failed", "cancelled")
    while (d.job(job) or {}).get("status") not in want:
        time.sleep(0.05)
    took = time.monotonic() - started
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join()
    d.stop()
    ns.close()
    gaps = [b - a for a, b in zip(pings, pings[1:])]
    lat.sort()
    return {"p50": statistics.median(lat), "p99": lat[int(len(lat) * 0.99) - 1], "max": lat[-1], "n": len(lat),
            "gap": max(gaps) if gaps else float("nan"), "took": took, "status": d.job(job)["status"]}


def main():
    old, new, sim_bin = sys.argv[1:4]
    harness.SIM = sim_bin
    work = tempfile.mkdtemp(prefix="batchd-loopbench-")
    try:
        loads = make_loads(work)
        print(f"loads: a {os.path.getsize(loads['a'][0]) / 1e6:.0f} MB, b {os.path.getsize(loads['b'][0]) / 1e6:.0f} MB, "
              f"c {os.path.getsize(loads['c'][0]) / 1e6:.0f} MB of requests")
        for key in ("a", "b", "c"):
            path, name, config = loads[key]
            for label, binary in (("before", old), ("after", new)):
                sim = harness.Sim()
                root = tempfile.mkdtemp(dir=work)
                try:
                    r = run(binary, sim, path, name, root, config, held=key != "c")
                finally:
                    sim.close()
                    shutil.rmtree(root, ignore_errors=True)
                print(f"({key}) {label:6s} health p50 {r['p50']:.2f} ms  p99 {r['p99']:.2f} ms  max {r['max']:.1f} ms"
                      f"  ({r['n']} probes)  watchdog longest gap {r['gap'] * 1000:.0f} ms"
                      f"  {'intake' if key != 'c' else 'job'} {r['took']:.2f} s ({r['status']})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
