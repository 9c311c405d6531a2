#!/usr/bin/env python3
"""batchd end to end: the real daemon against the real batchd-sim, with faults
on, killed with SIGKILL at each point of a chunk's life and restarted.

Binaries come from $BATCHD and $BATCHD_SIM. Both run on a scaled clock so a
24-hour batch window passes in seconds.
"""
import json
import os
import shutil
import signal
import tempfile
import time
import unittest
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import Daemon, Sim, chat, embedding  # noqa: E402


class DaemonTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-daemon-test-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def assert_each_id_once(self, ids, expected):
        self.assertEqual(len(ids), len(expected), "as many lines as requests")
        self.assertEqual(sorted(ids), sorted(expected), "every custom_id exactly once")

    def test_three_jobs_with_faults_on(self):
        sim = Sim({"rate_429": 0.05, "rate_5xx": 0.05, "rate_drop": 0.02, "retry_after_ms": 20,
                   "request_retryable_rate": 0.05, "expire_next": 1, "token_limit_next": 1})
        d = Daemon(os.path.join(self.root, "d"), sim, max_requests=700, list_refresh_from=2)
        try:
            d.drop("chat.jsonl", [chat(i) for i in range(2000)])
            d.drop("emb.jsonl", [embedding(i) for i in range(300)])
            d.drop("broken.jsonl", [chat(0), "{not json", chat(0)])
            chat_job, emb_job = d.wait_for("chat", 120), d.wait_for("emb", 120)
            self.assertEqual(chat_job["status"], "completed")
            self.assertEqual(emb_job["status"], "completed")
            self.assert_each_id_once(d.ids_in_outbox("chat"), [f"chat-{i}" for i in range(2000)])
            self.assert_each_id_once(d.ids_in_outbox("emb"), [f"emb-{i}" for i in range(300)])
            self.assertEqual(chat_job["counts"]["total"], 2000)
            self.assertEqual(chat_job["counts"]["succeeded"] + chat_job["counts"]["failed"], 2000)
            statuses = [b["status"] for j in (chat_job, emb_job) for b in j["batches"]]
            self.assertIn("expired", statuses, "one batch expired and its rest was sent again")
            self.assertGreater(len(chat_job["batches"]), 3, "follow-up batches for retryable failures")
            rejected = os.path.join(d.spool, "rejected")
            self.assertTrue(os.path.exists(os.path.join(rejected, "broken.jsonl")))
            with open(os.path.join(rejected, "broken.jsonl.error.json")) as f:
                report = json.load(f)
            self.assertEqual([e["line"] for e in report["errors"]], [2, 3])
            stats = sim.stats()
            self.assertTrue(all(n == 1 for n in stats["uploads_by_filename"].values()), stats["uploads_by_filename"])
            self.assertTrue(all(n == 1 for n in stats["batches_by_metadata"].values()))
            self.assertGreater(stats["calls"]["GET /v1/batches"].get("200", 0), 0,
                               "with batches in flight, list calls refreshed them together")
        finally:
            d.stop()
            sim.close()

    def crash_and_recover(self, point):
        sim = Sim()
        d = Daemon(os.path.join(self.root, point), sim, crash_at=point, max_requests=40)
        d.drop("job.jsonl", [chat(i) for i in range(100)])
        d.proc.wait(60)
        self.assertEqual(d.proc.returncode, -signal.SIGKILL, f"the daemon died at {point}")
        d.log.close()
        d = Daemon(d.root, sim)  # the same spool and state, no crash this time
        try:
            job = d.wait_for("job", 60)
            self.assertEqual(job["status"], "completed")
            self.assert_each_id_once(d.ids_in_outbox("job"), [f"chat-{i}" for i in range(100)])
            stats = sim.stats()
            self.assertEqual(len(stats["uploads_by_filename"]), 3, "one upload per chunk")
            self.assertTrue(all(n == 1 for n in stats["uploads_by_filename"].values()),
                            f"no chunk uploaded twice: {stats['uploads_by_filename']}")
            self.assertEqual(len(stats["batches_by_metadata"]), 3)
            self.assertTrue(all(n == 1 for n in stats["batches_by_metadata"].values()),
                            f"no batch created twice: {stats['batches_by_metadata']}")
        finally:
            d.stop()
            sim.close()

    def test_crash_after_upload_before_it_is_recorded(self):
        self.crash_and_recover("after_upload")

    def test_crash_after_create_before_it_is_recorded(self):
        self.crash_and_recover("after_create")

    def test_crash_mid_download(self):
        self.crash_and_recover("mid_download")

    def test_crash_mid_merge(self):
        self.crash_and_recover("mid_merge")

    def test_a_final_api_error_ends_every_request_as_an_error(self):
        sim = Sim()
        d = Daemon(os.path.join(self.root, "badkey"), sim, max_requests=40, key="sk-not-the-right-key")
        try:
            d.drop("job.jsonl", [chat(i) for i in range(100)])
            job = d.wait_for("job", 60)
            self.assertEqual(job["status"], "completed")
            self.assertEqual(job["counts"], {"total": 100, "succeeded": 0, "failed": 100})
            self.assert_each_id_once(d.ids_in_outbox("job"), [f"chat-{i}" for i in range(100)])
            with open(os.path.join(d.spool, "outbox", "job", "errors.jsonl")) as f:
                first = json.loads(f.readline())
            self.assertIn("401", first["error"]["message"])
            self.assertNotIn("sk-not-the-right-key", open(d.log.name).read(), "the key is never logged")
        finally:
            d.stop()
            sim.close()

    def test_sighup_reloads_the_pipeline_settings(self):
        sim = Sim()
        d = Daemon(os.path.join(self.root, "hup"), sim, max_requests=700)
        try:
            d.wait_ready()  # before that, SIGHUP's default action would end it
            config = os.path.join(d.root, "batchd.json")
            with open(config, "w") as f:
                f.write("{not json")
            d.proc.send_signal(signal.SIGHUP)
            time.sleep(0.3)
            self.assertIsNone(d.proc.poll(), "a bad file on reload keeps the daemon running")
            with open(config, "w") as f:
                json.dump({"pipeline": {"max_requests_per_batch": 40}}, f)
            d.proc.send_signal(signal.SIGHUP)
            deadline = time.time() + 10
            while time.time() < deadline:
                with open(os.path.join(d.root, "batchd.log")) as f:
                    if "configuration reloaded" in f.read():
                        break
                time.sleep(0.05)
            d.drop("after.jsonl", [chat(i) for i in range(100)])
            job = d.wait_for("after", 60)
            self.assertEqual(len(job["batches"]), 3, "100 requests at 40 a batch")
        finally:
            d.stop()
            sim.close()

    def test_120k_requests_become_three_batches_merged_whole(self):
        sim = Sim()
        d = Daemon(os.path.join(self.root, "big"), sim)
        try:
            d.drop("big.jsonl", [chat(i) for i in range(120_000)])
            job = d.wait_for("big", 240)
            self.assertEqual(job["status"], "completed")
            self.assertEqual(len(job["batches"]), 3)
            self.assertEqual(job["counts"], {"total": 120_000, "succeeded": 120_000, "failed": 0})
            ids = d.ids_in_outbox("big")
            self.assertEqual(len(ids), 120_000)
            self.assertEqual(len(set(ids)), 120_000)
        finally:
            d.stop()
            sim.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
