#!/usr/bin/env python3
"""The job state machine from outside: a job is completed only when every
request it was given is in results.jsonl or errors.jsonl exactly once, even
when its dropped file is changed under batchd; a step that throws is tried
again and the job completes; cancel ends a job stranded on such a step;
batchd's own files never take a user's name; a config typo inside a section
is refused with its path."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import BATCHD, Daemon, Sim, chat, get, post, wait_until  # noqa: E402



def outbox_lines(d, job):
    out = {}
    for part in ("results.jsonl", "errors.jsonl"):
        with open(os.path.join(d.spool, "outbox", job, part)) as f:
            out[part] = [json.loads(l) for l in f if l.strip()]
    return out



def block_results(d, job):
    """A file where batchd puts the job's sorted results, so its download step
    cannot create that folder and throws. Returns the file, to remove."""
    blocker = os.path.join(d.root, "state", "jobs", job, "work", "results")
    os.makedirs(os.path.dirname(blocker))
    open(blocker, "w").close()
    return blocker


class StateMachineTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-states-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def assert_every_id_once(self, d, job, ids):
        lines = outbox_lines(d, job)
        seen = [l["custom_id"] for l in lines["results.jsonl"] + lines["errors.jsonl"]]
        self.assertEqual(len(seen), len(ids), "one line per request")
        self.assertEqual(sorted(seen), sorted(ids), "every id exactly once")
        return lines

    def test_a_drop_changed_after_intake_never_completes_short(self):
        sim = Sim()
        try:
            # The daily budget holds the job, so the change surely lands after intake.
            d = Daemon(os.path.join(self.root, "d"), sim, config={"daily_budget_usd": "0.000001"})
            d.wait_ready()
            n = 2000
            ids = [f"chat-{i}" for i in range(n)]
            outside = os.path.join(self.root, "mine.jsonl")
            with open(outside, "w") as f:
                for i in range(n):
                    f.write(json.dumps(chat(i)) + "\n")
            os.link(outside, os.path.join(d.spool, "inbox", "linked.jsonl"))  # a second name for the same bytes
            wait_until("held", lambda: (d.job("linked") or {}).get("status") == "held")
            with open(outside, "r+") as f:  # the user's other name is cut to 3% of its lines
                f.truncate(sum(len(json.dumps(chat(i))) + 1 for i in range(60)))
            self.assertEqual(post(d.socket, "/v1/jobs/linked/release")[0], 202)
            job = d.wait_for("linked", timeout=120)
            print("changed drop ended", job["status"], job.get("error"), file=sys.stderr)
            lines = self.assert_every_id_once(d, "linked", ids)
            missing = [l for l in lines["errors.jsonl"] if l["error"]["code"] == "batchd_result_missing"]
            if job["status"] == "completed":
                self.assertEqual(missing, [], "completed means every request has its own result")
            else:
                self.assertEqual(job["status"], "failed", job)
                self.assertGreater(len(missing), 0)
                self.assertIn(f"{len(missing)} of {n} requests have no result", job["error"])
            self.assertEqual(job["counts"]["succeeded"] + job["counts"]["failed"], n, job["counts"])
            self.assertEqual(len(lines["results.jsonl"]), job["counts"]["succeeded"])
            d.stop()
        finally:
            sim.close()

    def test_a_step_that_throws_is_tried_again_and_the_job_completes(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim,
                       config={"pipeline": {"step_retry_initial_s": 600, "step_retry_cap_s": 3000}})
            d.wait_ready()
            blocker = block_results(d, "flaky")
            d.drop("flaky.jsonl", [chat(i) for i in range(20)])
            job = wait_until("a step error in job.json", lambda: (d.job("flaky") or {}).get("last_error") and d.job("flaky"))
            self.assertEqual(job["status"], "running", job)
            self.assertIsNotNone(job["retry_at"])
            shown = get(d.socket, "/v1/jobs/flaky")
            self.assertTrue(shown["last_error"], "the socket shows it too")
            os.remove(blocker)  # space is back, so to speak
            job = d.wait_for("flaky", timeout=60)
            self.assertEqual(job["status"], "completed", job)
            self.assertIsNone(job["last_error"])
            self.assert_every_id_once(d, "flaky", [f"chat-{i}" for i in range(20)])
            d.stop()
        finally:
            sim.close()

    def test_cancel_ends_a_job_stranded_on_a_failing_step(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim,
                       config={"pipeline": {"step_retry_initial_s": 10_000_000, "step_retry_cap_s": 10_000_000}})
            d.wait_ready()
            block_results(d, "stuck")
            d.drop("stuck.jsonl", [chat(i) for i in range(10)])
            wait_until("a step error", lambda: (d.job("stuck") or {}).get("last_error"))
            status, _ = post(d.socket, "/v1/jobs/stuck/cancel")
            self.assertEqual(status, 202)
            job = d.wait_for("stuck", timeout=10)  # the retry is months away: cancel did not wait for it
            self.assertEqual(job["status"], "cancelled", job)
            self.assert_every_id_once(d, "stuck", [f"chat-{i}" for i in range(10)])
            d.stop()
        finally:
            sim.close()

    def test_inputs_files_named_like_batchds_own_files_are_kept_and_used(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            d.wait_ready()
            inbox = os.path.join(d.spool, "inbox")
            # batchd writes work/ids.txt, work/requests.jsonl, work/chunk-N.ids and work/asked.ids for itself.
            for n, name in enumerate(["ids.txt", "requests.inputs.jsonl", "chunk-1.txt", "asked.txt"]):
                if name.endswith(".txt"):
                    texts = "".join(f"text {n}-{i}\n" for i in range(50))
                else:
                    texts = "".join(json.dumps({"text": f"text {n}-{i}"}) + "\n" for i in range(50))
                with open(os.path.join(inbox, "." + name + ".tmp"), "w") as f:
                    f.write(texts)
                os.rename(os.path.join(inbox, "." + name + ".tmp"), os.path.join(inbox, name))
                job = f"named{n}"
                manifest = {"endpoint": "/v1/embeddings", "model": "text-embedding-3-small",
                            "body": {"dimensions": 8}, "inputs_file": name}
                d.drop(job + ".job.json", [json.dumps(manifest)])
                result = d.wait_for(job)
                self.assertEqual(result["status"], "completed", (name, result))
                self.assertEqual(len(outbox_lines(d, job)["results.jsonl"]), 50, name)
                with open(os.path.join(d.root, "state", "jobs", job, name)) as f:
                    self.assertEqual(f.read(), texts, f"the user's {name} is unchanged")
            # And a request file named like batchd's own request lines.
            d.drop("requests.jsonl", [chat(i) for i in range(5)])
            self.assertEqual(d.wait_for("requests")["counts"]["succeeded"], 5)
            d.stop()
        finally:
            sim.close()

    def test_a_typo_inside_a_config_section_is_refused_with_its_path(self):
        path = os.path.join(self.root, "typo.json")
        with open(path, "w") as f:
            json.dump({"pipeline": {"max_atempts": 5}, "control": {"grup": "x"}}, f)
        r = subprocess.run([BATCHD, "--config", path, "--spool", self.root, "--state", self.root],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("unknown key 'pipeline.max_atempts'", r.stderr)
        self.assertIn("did you mean 'pipeline.max_attempts'", r.stderr)
        self.assertIn("unknown key 'control.grup'", r.stderr)
        # The shipped example names every key, and each is known.
        example = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc", "batchd.json")
        env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
        r = subprocess.run([BATCHD, "--config", example, "--spool", self.root, "--state", self.root],
                           capture_output=True, text=True, timeout=10, env=env)
        self.assertNotIn("config:", r.stderr)
        self.assertIn("no API key", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
