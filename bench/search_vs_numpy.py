#!/usr/bin/python3
"""Top-10 over an embeddings.npy: batchd's search (bench/search-bench, the
daemon's code) against numpy (argpartition over M @ q) and faiss
(IndexFlatIP), on the same file, in one run. Run with Debian's python3
(python3-numpy, python3-faiss):

    /usr/bin/python3 bench/search_vs_numpy.py build/release/bench/search-bench [DIR]

Writes 1,000,000 x 256 and 100,000 x 1536 unit float32 files into DIR
(default /tmp/batchd-search-bench, about 1.6 GB), warms the page cache, and
prints p50/p99 latency per query and anonymous memory growth for each.
"""
import json
import os
import resource
import subprocess
import sys
import time

import faiss
import numpy as np

QUERIES, K = 50, 10


def rss_anon_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])


def make(path, rows, dims):
    if os.path.exists(path):
        return
    rng = np.random.default_rng(7)
    out = np.lib.format.open_memmap(path + ".tmp", mode="w+", dtype="<f4", shape=(rows, dims))
    for at in range(0, rows, 50_000):
        block = rng.standard_normal((min(50_000, rows - at), dims), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        out[at:at + len(block)] = block
    out.flush()
    del out
    os.rename(path + ".tmp", path)


def pct(ms, p):
    s = sorted(ms)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def numpy_search(path):
    before = rss_anon_kib()
    m = np.load(path, mmap_mode="r")
    ms, top = [], []
    for q in range(QUERIES):
        query = np.array(m[(q * 997) % len(m)])
        t0 = time.perf_counter()
        scores = m @ query
        best = np.argpartition(-scores, K)[:K]
        best = best[np.argsort(-scores[best])]
        ms.append((time.perf_counter() - t0) * 1000)
        top.append(int(best[0]))
    return ms, rss_anon_kib() - before, top


def faiss_search(path):
    before = rss_anon_kib()
    m = np.load(path, mmap_mode="r")
    index = faiss.IndexFlatIP(m.shape[1])
    index.add(np.ascontiguousarray(m))  # faiss keeps its own copy of the vectors
    ms, top = [], []
    for q in range(QUERIES):
        query = np.array(m[(q * 997) % len(m)])[None, :]
        t0 = time.perf_counter()
        _, ids = index.search(query, K)
        ms.append((time.perf_counter() - t0) * 1000)
        top.append(int(ids[0][0]))
    return ms, rss_anon_kib() - before, top


def batchd_search(binary, path):
    r = json.loads(subprocess.run([binary, path, str(QUERIES), str(K)], capture_output=True, text=True,
                                  check=True).stdout)
    return r["ms"], r["rss_anon_kib_after"] - r["rss_anon_kib_before"], r["top_row_checksum"]


def main():
    binary = sys.argv[1]
    folder = sys.argv[2] if len(sys.argv) > 2 else "/tmp/batchd-search-bench"
    os.makedirs(folder, exist_ok=True)
    print(f"# {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, numpy {np.__version__}, faiss {faiss.__version__}")
    print("| file | tool | p50 ms | p99 ms | anon growth MiB |")
    print("|---|---|---|---|---|")
    for rows, dims in ((1_000_000, 256), (100_000, 1536)):
        path = os.path.join(folder, f"e{rows}x{dims}.npy")
        make(path, rows, dims)
        with open(path, "rb") as f:  # warm the page cache, as a search after the first one finds it
            while f.read(1 << 24):
                pass
        b_ms, b_anon, b_check = batchd_search(binary, path)
        n_ms, n_anon, n_top = numpy_search(path)
        f_ms, f_anon, f_top = faiss_search(path)
        assert b_check == sum(n_top) == sum(f_top), (b_check, sum(n_top), sum(f_top))  # same answers
        for tool, ms, anon in (("batchd", b_ms, b_anon), ("numpy", n_ms, n_anon), ("faiss IndexFlatIP", f_ms, f_anon)):
            print(f"| {rows:,} x {dims} | {tool} | {pct(ms, 50):.1f} | {pct(ms, 99):.1f} | {anon / 1024:.1f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
