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
import subprocess
import tempfile
import time
import unittest
import urllib.request

BATCHD = os.environ.get("BATCHD", "build/release/daemon/batchd")
SIM = os.environ.get("BATCHD_SIM", "build/release/sim/batchd-sim")
KEY = "sk-daemon-test-0123456789"
SCALE = "20000"  # 24 h = 4.3 s


class Sim:
    def __init__(self, faults=None):
        args = [SIM, "--port", "0", "--time-scale", SCALE, "--seed", "11"]
        if faults:
            args += ["--faults", json.dumps(faults)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "BATCHD_SIM_API_KEY": KEY})
        line = self.proc.stdout.readline()
        self.base = line.strip().rsplit(" ", 1)[1]

    def stats(self):
        with urllib.request.urlopen(self.base + "/admin/stats") as r:
            return json.load(r)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()


class Daemon:
    def __init__(self, root, sim, crash_at=None, max_requests=None, list_refresh_from=None, key=KEY):
        self.root, self.sim = root, sim
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "key"), "w") as f:
            f.write(key + "\n")
        config = {"pipeline": {"max_attempts": 3}}
        if max_requests:
            config["pipeline"]["max_requests_per_batch"] = max_requests
        if list_refresh_from:
            config["pipeline"]["list_refresh_from"] = list_refresh_from
        with open(os.path.join(root, "batchd.json"), "w") as f:
            json.dump(config, f)
        env = {**os.environ}
        env.pop("OPENAI_API_KEY", None)
        if crash_at:
            env["BATCHD_CRASH_AT"] = crash_at
        self.log = open(os.path.join(root, "batchd.log"), "a")
        self.proc = subprocess.Popen(
            [BATCHD, "--config", os.path.join(root, "batchd.json"), "--spool", self.spool, "--state",
             os.path.join(root, "state"), "--api-base", sim.base + "/v1", "--api-key-file",
             os.path.join(root, "key"), "--time-scale", SCALE],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def wait_ready(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(self.log.name) as f:
                if " started: " in f.read():
                    return
            time.sleep(0.02)
        raise AssertionError("batchd did not start")

    @property
    def spool(self):
        return os.path.join(self.root, "spool")

    def drop(self, name, lines):
        inbox = os.path.join(self.spool, "inbox")
        deadline = time.time() + 10
        while not os.path.isdir(inbox) and time.time() < deadline:
            time.sleep(0.02)
        tmp = os.path.join(inbox, "." + name + ".tmp")
        with open(tmp, "w") as f:
            for l in lines:
                f.write(l if isinstance(l, str) else json.dumps(l))
                f.write("\n")
        os.rename(tmp, os.path.join(inbox, name))

    def job(self, name):
        try:
            with open(os.path.join(self.spool, "outbox", name, "job.json")) as f:
                return json.load(f)
        except (FileNotFoundError, json.JSONDecodeError):
            return None

    def wait_for(self, name, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            j = self.job(name)
            if j and j["status"] in ("completed", "failed", "cancelled"):
                return j
            if self.proc.poll() is not None:
                raise AssertionError(f"batchd exited with {self.proc.returncode}; see {self.log.name}")
            time.sleep(0.05)
        raise AssertionError(f"job {name} did not finish; last job.json: {self.job(name)}")

    def ids_in_outbox(self, name):
        ids = []
        for part in ("results.jsonl", "errors.jsonl"):
            with open(os.path.join(self.spool, "outbox", name, part)) as f:
                ids += [json.loads(l)["custom_id"] for l in f if l.strip()]
        return ids

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.log.close()


def chat(i):
    return {"custom_id": f"chat-{i}", "method": "POST", "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": f"question {i}"}]}}


def embedding(i):
    return {"custom_id": f"emb-{i}", "method": "POST", "url": "/v1/embeddings",
            "body": {"model": "text-embedding-3-small", "input": [f"text {i}-{k}" for k in range(5)],
                     "dimensions": 8}}


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
