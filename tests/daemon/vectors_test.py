#!/usr/bin/env python3
"""Embeddings to a vector file, end to end: a manifest with "output" set
becomes outbox/<job>/embeddings.npy and embeddings.rows.jsonl; the vectors
travel as base64 and each row is the simulator's float vector for its input,
bit for bit. Needs Debian's python3-numpy ($NUMPY_PYTHON runs the checks)."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import KEY, Daemon, Sim, get, post  # noqa: E402

BATCHCTL = os.environ.get("BATCHCTL", "build/release/daemon/batchctl")

NUMPY_PYTHON = os.environ.get("NUMPY_PYTHON", "/usr/bin/python3")
MODEL, DIMS = "text-embedding-3-small", 64


def api(sim, method, path, body=None):
    req = urllib.request.Request(sim.base + path, method=method, headers={"Authorization": "Bearer " + KEY,
                                                                          "Content-Type": "application/json"},
                                 data=json.dumps(body).encode() if body is not None else None)
    with urllib.request.urlopen(req) as r:
        return r.read()


def sim_floats(sim, texts):
    """The simulator's float vectors, asked synchronously, as float32 bit patterns."""
    out = []
    for at in range(0, len(texts), 2048):
        body = {"model": MODEL, "input": texts[at:at + 2048], "dimensions": DIMS, "encoding_format": "float"}
        out += [d["embedding"] for d in json.loads(api(sim, "POST", "/v1/embeddings", body))["data"]]
    return out


def batchctl(d, *args):
    r = subprocess.run([BATCHCTL, "--socket", d.socket, *args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError(f"batchctl {' '.join(args)}: {r.stderr}")
    return r.stdout


def numpy_check(script, *args):
    r = subprocess.run([NUMPY_PYTHON, "-c", script, *args], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError(r.stderr)
    return json.loads(r.stdout)


# Loads the file as users would (memory-mapped), and says what it holds.
LOAD = """
import json, sys, numpy as np
m = np.load(sys.argv[1], mmap_mode="r")
want = json.load(open(sys.argv[2]))
rows = [json.loads(l) for l in open(sys.argv[3])]
same = all(np.array_equal(m[r["row"]], np.array(want[r["index"]], dtype=np.float32)) for r in rows)
norms = np.linalg.norm(m, axis=1)
print(json.dumps({"shape": list(m.shape), "dtype": str(m.dtype), "fortran": bool(m.flags.f_contiguous and not m.flags.c_contiguous),
                  "same": same, "min_norm": float(norms.min()), "max_norm": float(norms.max())}))
"""


class VectorsTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-vectors-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def corpus(self, d, name, n, output, extra=None):
        texts = [f"document {i}: the {['red', 'green', 'blue'][i % 3]} fox number {i * 7919 % 10007}" for i in range(n)]
        with open(os.path.join(d.spool, "inbox", f"{name}.txt"), "w") as f:
            f.write("".join(t + "\n" for t in texts))
        manifest = {"endpoint": "/v1/embeddings", "model": MODEL, "body": {"dimensions": DIMS},
                    "inputs_file": f"{name}.txt", "custom_id": {"prefix": "doc-"}, "output": output, **(extra or {})}
        with open(os.path.join(d.spool, "inbox", f".{name}.tmp"), "w") as f:
            json.dump(manifest, f)
        os.rename(os.path.join(d.spool, "inbox", f".{name}.tmp"), os.path.join(d.spool, "inbox", f"{name}.job.json"))
        return texts

    def test_ten_thousand_texts_become_a_vector_file(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim, config={"pipeline": {"delete_remote_files": False}})
            d.wait_ready()
            texts = self.corpus(d, "corpus", 10_000, "both")
            job = d.wait_for("corpus", 120)
            self.assertEqual(job["status"], "completed", job)
            out = os.path.join(d.spool, "outbox", "corpus")

            want = os.path.join(self.root, "want.json")
            with open(want, "w") as f:
                json.dump(sim_floats(sim, texts), f)
            seen = numpy_check(LOAD, os.path.join(out, "embeddings.npy"), want, os.path.join(out, "embeddings.rows.jsonl"))
            self.assertEqual(seen["shape"], [10_000, DIMS])
            self.assertEqual(seen["dtype"], "float32")
            self.assertFalse(seen["fortran"])
            self.assertTrue(seen["same"], "each row is the sim's float vector for its input, bit for bit")
            self.assertAlmostEqual(seen["min_norm"], 1.0, places=4)
            self.assertAlmostEqual(seen["max_norm"], 1.0, places=4)

            with open(os.path.join(out, "embeddings.rows.jsonl")) as f:
                rows = [json.loads(l) for l in f]
            self.assertEqual([r["row"] for r in rows], list(range(10_000)))
            self.assertEqual([r["index"] for r in rows], list(range(10_000)))
            self.assertEqual([r["custom_id"] for r in rows], [f"doc-{i + 1}" for i in range(10_000)])
            self.assertEqual([r["input"] for r in rows], texts)

            # "both": results.jsonl has the same vectors as floats, as before.
            with open(os.path.join(out, "results.jsonl")) as f:
                first = json.loads(f.readline())
            self.assertEqual(first["custom_id"], "doc-1")
            self.assertEqual(len(first["embedding"]), DIMS)

            # What went over the wire asked for base64.
            for b in job["batches"]:
                batch = json.loads(api(sim, "GET", f"/v1/batches/{b['id']}"))
                sent = api(sim, "GET", f"/v1/files/{batch['input_file_id']}/content").decode().splitlines()
                self.assertTrue(sent)
                self.assertTrue(all(json.loads(l)["body"]["encoding_format"] == "base64" for l in sent))

            # Search with an input's own text: that input first. The query is booked at the regular price.
            before = get(d.socket, "/v1/ledger?by=job")["total"]
            sim_tokens_before = sim.stats()["usage"]["sync"][MODEL]["prompt_tokens"]
            found = json.loads(batchctl(d, "search", "corpus", texts[1234], "-k", "5", "--json"))
            self.assertEqual(len(found["results"]), 5)
            self.assertEqual(found["results"][0]["custom_id"], "doc-1235")
            self.assertEqual(found["results"][0]["rank"], 1)
            self.assertAlmostEqual(found["results"][0]["score"], 1.0, places=4)
            self.assertEqual(found["results"][0]["input"], texts[1234])
            scores = [r["score"] for r in found["results"]]
            self.assertEqual(scores, sorted(scores, reverse=True), "best first")
            after = get(d.socket, "/v1/ledger?by=job")["total"]
            tokens = found["cost"]["prompt_tokens"]
            self.assertGreater(tokens, 0)
            price = 20_000  # text-embedding-3-small: $0.02 per 1M tokens = 20,000 pico-USD a token, undiscounted
            self.assertEqual(after["regular_pusd"] - before["regular_pusd"], tokens * price)
            self.assertEqual(after["batch_pusd"] - before["batch_pusd"], tokens * price, "a sync call saves nothing")
            self.assertEqual(after["requests"] - before["requests"], 1)
            sim_tokens_after = sim.stats()["usage"]["sync"][MODEL]["prompt_tokens"]
            self.assertEqual(tokens, sim_tokens_after - sim_tokens_before, "booked what the API counted")

            # A query the API refuses (over 8,192 tokens) costs nothing: its estimate is taken back.
            # One whose connection drops is asked again and booked once, with the API's count.
            status, body = post(d.socket, "/v1/jobs/corpus/search", json.dumps({"query": "word " * 10_000}).encode())
            self.assertEqual((status, body["error"]["code"]), (502, "api_error"))
            self.assertEqual(get(d.socket, "/v1/ledger?by=job")["total"]["requests"], after["requests"])
            sim.set_faults({"next_drop": 1})
            again = json.loads(batchctl(d, "search", "corpus", texts[7], "--json"))
            self.assertEqual(again["results"][0]["custom_id"], "doc-8")
            total = get(d.socket, "/v1/ledger?by=job")["total"]
            self.assertEqual(total["requests"], after["requests"] + 1)
            self.assertEqual(total["regular_pusd"], after["regular_pusd"] + again["cost"]["prompt_tokens"] * price)

            # Similar: a row ranks itself first, with no API call.
            sync_calls = lambda: sim.stats()["calls"].get("POST /v1/embeddings", {})
            calls = sync_calls()
            like = json.loads(batchctl(d, "--json", "similar", "corpus", "doc-42"))
            self.assertEqual(like["results"][0]["custom_id"], "doc-42")
            self.assertGreater(like["results"][0]["score"], 0.9999)
            self.assertEqual(len(like["results"]), 10)
            self.assertEqual(sync_calls(), calls, "similar asks the API nothing")
            table = batchctl(d, "similar", "corpus", "doc-42", "-k", "3")
            self.assertRegex(table.splitlines()[1], r"^1\s+1\.0000\s+doc-42\s+document 41")

            # The envelope for what cannot be searched.
            status, body = post(d.socket, "/v1/jobs/corpus/search", json.dumps({"like": "doc-0"}).encode())
            self.assertEqual((status, body["error"]["code"]), (404, "unknown_custom_id"))
            status, body = post(d.socket, "/v1/jobs/nope/search", json.dumps({"like": "doc-1"}).encode())
            self.assertEqual((status, body["error"]["code"]), (404, "unknown_job"))
            d.stop()
        finally:
            sim.close()

    def test_failed_inputs_have_no_row_and_every_input_is_accounted_for(self):
        sim = Sim(faults={"request_final_rate": 0.3})
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            d.wait_ready()
            self.corpus(d, "partly", 2_000, "npy", {"inputs_per_request": 50})
            job = d.wait_for("partly", 120)
            out = os.path.join(d.spool, "outbox", "partly")
            self.assertFalse(os.path.exists(os.path.join(out, "results.jsonl")), "npy alone: the vectors are the results")
            with open(os.path.join(out, "embeddings.rows.jsonl")) as f:
                row_ids = [json.loads(l)["custom_id"] for l in f]
            with open(os.path.join(out, "errors.jsonl")) as f:
                error_ids = [json.loads(l)["custom_id"] for l in f]
            self.assertGreater(len(error_ids), 0, "the fault failed some requests")
            self.assertGreater(len(row_ids), 0)
            self.assertEqual(set(row_ids) & set(error_ids), set(), "a failed input never gets a vector")
            self.assertEqual(sorted(row_ids + error_ids), sorted(f"doc-{i + 1}" for i in range(2_000)))
            self.assertEqual(job["counts"]["succeeded"], len(row_ids), job)
            self.assertEqual(job["counts"]["failed"], len(error_ids), job)
            shape = numpy_check("import sys, json, numpy as np; print(json.dumps(list(np.load(sys.argv[1], mmap_mode='r').shape)))",
                                os.path.join(out, "embeddings.npy"))
            self.assertEqual(shape, [len(row_ids), DIMS])
            d.stop()
        finally:
            sim.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
