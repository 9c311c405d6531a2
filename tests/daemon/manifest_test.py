#!/usr/bin/env python3
"""Manifest jobs end to end: batchd writes the requests itself, packs
embedding inputs, unpacks the results to one line per input, and explains a
bad manifest in <file>.error.json."""
import json
import os
import shutil
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import Daemon, Sim, wait_until  # noqa: E402


class ManifestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="batchd-manifest-")
        cls.sim = Sim()
        cls.d = Daemon(os.path.join(cls.root, "d"), cls.sim)
        cls.d.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.sim.close()
        shutil.rmtree(cls.root, ignore_errors=True)

    def put(self, name, content):
        """Into inbox/ the safe way: written aside, renamed in."""
        inbox = os.path.join(self.d.spool, "inbox")
        tmp = os.path.join(inbox, "." + name + ".tmp")
        with open(tmp, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        os.rename(tmp, os.path.join(inbox, name))

    def results(self, job, part="results.jsonl"):
        with open(os.path.join(self.d.spool, "outbox", job, part)) as f:
            return [json.loads(l) for l in f]

    def rejection(self, name, timeout=30):
        path = os.path.join(self.d.spool, "rejected", name + ".error.json")
        deadline = time.time() + timeout
        while not os.path.exists(path) and time.time() < deadline:
            time.sleep(0.02)
        with open(path) as f:
            return json.load(f)

    def test_100k_texts_become_two_packed_batches_and_100k_lines_in_order(self):
        self.put("texts.txt", "".join(f"short text number {i}\n" for i in range(100_000)))
        self.put("emb.job.json", {"endpoint": "/v1/embeddings", "model": "text-embedding-3-small",
                                  "body": {"dimensions": 8}, "inputs_file": "texts.txt",
                                  "custom_id": {"prefix": "t-"}, "metadata": {"team": "search"}})
        job = self.d.wait_for("emb", 120)
        self.assertEqual(job["status"], "completed")
        self.assertEqual(job["counts"], {"total": 100_000, "succeeded": 100_000, "failed": 0})
        self.assertEqual(len(job["batches"]), 2)
        requests = sum(b["request_counts"]["total"] for b in job["batches"])
        self.assertLessEqual(requests, 60, "2048 inputs a request: far fewer requests than inputs")
        lines = self.results("emb")
        self.assertEqual([l["custom_id"] for l in lines], [f"t-{i}" for i in range(1, 100_001)], "input order")
        self.assertTrue(all(len(l["embedding"]) == 8 for l in lines))
        self.assertEqual(self.results("emb", "errors.jsonl"), [])
        # At most 50,000 inputs a batch, as the sim saw them; the manifest's metadata rides along.
        metas = [json.loads(k) for k in self.sim.stats()["batches_by_metadata"]]
        self.assertIn("search", [m.get("team") for m in metas if m.get("batchd_job") == "emb"])
        usage = self.sim.stats()["usage"]["batch"]["text-embedding-3-small"]
        self.assertEqual(job["cost"]["prompt_tokens"], usage["prompt_tokens"], "booked from the packed responses")

    def test_chat_from_records_with_a_template_and_ids_from_a_field(self):
        records = [{"id": f"rev-{i:03d}", "text": f"review {i} says \"fine\"\n", "stars": i % 5} for i in range(60)]
        self.put("reviews.inputs.jsonl", "".join(json.dumps(r) + "\n" for r in records))
        self.put("sum.job.json", {
            "endpoint": "/v1/chat/completions", "model": "gpt-4o-mini",
            "body": {"messages": [{"role": "system", "content": "Summarize in five words."},
                                  {"role": "user", "content": "{{text}} ({{stars}} stars)"}],
                     "max_tokens": 20},
            "inputs_file": "reviews.inputs.jsonl", "custom_id": {"field": "id"}})
        job = self.d.wait_for("sum")
        self.assertEqual((job["status"], job["counts"]["succeeded"]), ("completed", 60))
        self.assertEqual(job["estimate"]["output_tokens"], 60 * 20, "max_tokens counts in the estimate")
        lines = self.results("sum")
        self.assertEqual([l["custom_id"] for l in lines], [r["id"] for r in records])
        self.assertEqual(lines[0]["response"]["status_code"], 200, "the line as OpenAI sent it")

    def test_inline_inputs_in_received_order(self):
        self.put("inline.job.json", {"endpoint": "/v1/chat/completions", "model": "gpt-4o-mini",
                                     "body": {"messages": [{"role": "user", "content": "{{input}}"}]},
                                     "inputs": [f"question {i}" for i in range(30)], "order": "received"})
        job = self.d.wait_for("inline")
        self.assertEqual(job["status"], "completed")
        ids = sorted(l["custom_id"] for l in self.results("inline"))
        self.assertEqual(ids, sorted(f"inline-{i}" for i in range(1, 31)), "default ids: <job>-<n>")

    def test_a_manifest_over_its_max_cost_is_held(self):
        self.put("dear.job.json", {"endpoint": "/v1/embeddings", "model": "text-embedding-3-large",
                                   "inputs": ["x" * 4000] * 10, "max_cost_usd": "0.000001"})
        deadline = time.time() + 30
        while (self.d.job("dear") or {}).get("status") != "held" and time.time() < deadline:
            time.sleep(0.02)
        job = self.d.job("dear")
        self.assertEqual(job["status"], "held")
        self.assertIn("max_cost_usd", job["held_reason"])

    def test_errors_say_what_where_and_how(self):
        self.put("typo.job.json", {"endpoint": "/v1/embeddings", "model": "text-embedding-3-small",
                                   "inputs": ["a"], "metdata": {}})
        e = self.rejection("typo.job.json")
        self.assertEqual(e["errors"][0]["field"], "metdata")
        self.assertIn('did you mean "metadata"', e["errors"][0]["message"])

        self.put("nofile.job.json", {"endpoint": "/v1/embeddings", "model": "text-embedding-3-small",
                                     "inputs_file": "absent.txt"})
        e = self.rejection("nofile.job.json")
        self.assertIn('"absent.txt" was not in inbox/', e["errors"][0]["message"])
        self.assertIn("first", e["errors"][0]["hint"])

        self.put("badbody.job.json", {"endpoint": "/v1/chat/completions", "model": "gpt-4o-mini",
                                      "body": {"prompt": "{{input}}"}, "inputs": ["x"]})
        e = self.rejection("badbody.job.json")
        self.assertEqual(e["errors"][0]["field"], "body")
        self.assertIn("does not give a valid request", e["errors"][0]["message"])

        self.put("long.txt", "fine\n" + "y" * 40_000 + "\nfine\n")
        self.put("long.job.json", {"endpoint": "/v1/embeddings", "model": "text-embedding-3-small",
                                   "inputs_file": "long.txt"})
        e = self.rejection("long.job.json")
        self.assertEqual(e["errors"][0]["line"], 2)
        self.assertIn("over the limit of 8192", e["errors"][0]["message"])
        # The reason is written first, then the files move: wait for the inputs file.
        rejected = os.path.join(self.d.spool, "rejected")
        wait_until("the inputs file kept beside its manifest", lambda: "long.txt" in os.listdir(rejected), 10)

        secret = os.path.join(self.d.root, "key")
        os.symlink(secret, os.path.join(self.d.spool, "inbox", "linked.txt"))
        self.put("linked.job.json", {"endpoint": "/v1/chat/completions", "model": "gpt-4o-mini",
                                     "body": {"messages": [{"role": "user", "content": "{{input}}"}]},
                                     "inputs_file": "linked.txt"})
        e = self.rejection("linked.job.json")
        self.assertIn("not a link", e["errors"][0]["message"], "a symlink could point at the API key")
        self.assertFalse([f for f in self.sim.stats()["uploads_by_filename"] if "-linked-" in f])

        self.put("missingfield.inputs.jsonl", '{"text": "a"}\n{"txt": "b"}\n')
        self.put("missingfield.job.json", {"endpoint": "/v1/chat/completions", "model": "gpt-4o-mini",
                                           "body": {"messages": [{"role": "user", "content": "{{text}}"}]},
                                           "inputs_file": "missingfield.inputs.jsonl"})
        e = self.rejection("missingfield.job.json")
        self.assertEqual((e["errors"][0]["line"], e["errors"][0]["field"]), (2, "inputs_file"))
        self.assertIn('no "text" field', e["errors"][0]["message"])


if __name__ == "__main__":
    unittest.main()
