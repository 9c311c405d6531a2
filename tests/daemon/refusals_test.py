#!/usr/bin/env python3
"""A refusal is not an unknown (issue 22). An upload or batch create the API
refused (429 with Retry-After, 503 Slow Down, any 4xx with its envelope) made
nothing: it waits what the server asked, never the grace window that a call
of unknown outcome earns. A lost answer is adopted as soon as the list shows
the object; a create that never happened is made again only after the grace.
An account out of quota holds the job, quietly, until it is resumed.

Every time below is the simulator's own (simulated seconds), read from its
record of each create as it came in (/admin/stats upload_attempts and
batch_attempts), so the assertions hold on a loaded machine too. Both
processes run 100 times faster than real time: the default 600 s grace is
6 real seconds, which a refused call would have cost before.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import BATCHD, Daemon, Sim, chat, get, wait_until  # noqa: E402

BATCHCTL = os.environ.get("BATCHCTL", os.path.join(os.path.dirname(BATCHD), "batchctl"))
SCALE = 100
SLACK_S = 6  # simulated seconds (60 ms real) for the loop, the client and the test machine
# The client's own request budget is in real time: 20 a simulated second is 2,000 a real one here.
API = {"requests_per_second": 20 * SCALE}


def attempts(stats, kind):
    """{key: [(at, outcome), …]} for "upload" or "batch"."""
    return {k: [(a["at"], a["outcome"]) for a in v] for k, v in stats[kind + "_attempts"].items()}


def gaps_after(history, outcome):
    """The time from each attempt that ended in `outcome` to the next attempt of the same object."""
    return [b[0] - a[0] for a, b in zip(history, history[1:]) if a[1] == outcome]


class RefusalTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-refusals-")
        self.sims, self.daemons = [], []

    def tearDown(self):
        for d in self.daemons:
            d.stop()
        for s in self.sims:
            s.close()
        shutil.rmtree(self.root, ignore_errors=True)

    def start(self, faults, config, name="d"):
        sim = Sim(faults=faults, scale=SCALE)
        self.sims.append(sim)
        config["api"] = API
        d = Daemon(os.path.join(self.root, name), sim, config=config, scale=SCALE)
        self.daemons.append(d)
        return sim, d

    def restart(self, d, config):
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait(10)
        d.log.close()
        self.daemons.remove(d)
        d = Daemon(d.root, d.sim, config=config, scale=SCALE)
        self.daemons.append(d)
        return d

    def assert_paid_once(self, d, job, n, stats):
        self.assertEqual(sorted(d.ids_in_outbox(job)), sorted(f"chat-{i}" for i in range(n)), "every id once")
        self.assertEqual([f for f, k in stats["uploads_by_filename"].items() if k != 1], [], "each chunk uploaded once")
        self.assertEqual([m for m, k in stats["batches_by_metadata"].items() if k != 1], [], "each attempt batched once")

    def test_429s_on_uploads_and_creates_cost_their_retry_after_never_the_grace(self):
        ra = 2.0
        sim, d = self.start({"rate_429_create": 0.3, "retry_after_ms": int(ra * 1000)},
                            {"pipeline": {"max_requests_per_batch": 200, "api_grace_s": 600}})
        d.drop("busy.jsonl", [chat(i) for i in range(2000)])
        job = d.wait_for("busy", timeout=120)
        self.assertEqual(job["status"], "completed", job)
        stats = sim.stats()
        self.assert_paid_once(d, "busy", 2000, stats)
        refused = [g for kind in ("upload", "batch") for h in attempts(stats, kind).values() for g in gaps_after(h, "429")]
        self.assertGreaterEqual(len(refused), 3, f"the faults were really there: {stats['calls']}")
        # Each refused chunk came back after its Retry-After (with at most a tenth of jitter), not the grace.
        self.assertGreaterEqual(min(refused), ra, refused)
        self.assertLessEqual(max(refused), ra * 1.1 + SLACK_S, refused)
        print(f"{len(refused)} refusals; longest wait {max(refused):.1f} s of simulated time (grace 600 s)",
              file=sys.stderr)

    def test_a_lost_answer_is_adopted_as_soon_as_the_list_shows_it(self):
        # The first upload and the first batch create commit, then lose their
        # answers; lists show new objects 3 s after they were made.
        sim, d = self.start({"next_lost_reply": 2, "list_lag_s": 3}, {"pipeline": {"api_grace_s": 600}})
        d.drop("lost.jsonl", [chat(i) for i in range(10)])
        job = d.wait_for("lost", timeout=60)
        self.assertEqual(job["status"], "completed", job)
        stats = sim.stats()
        self.assert_paid_once(d, "lost", 10, stats)
        self.assertEqual(stats["calls"]["POST /v1/files"].get("lost_reply"), 1)
        self.assertEqual(stats["calls"]["POST /v1/batches"].get("lost_reply"), 1)
        (upload,) = attempts(stats, "upload").values()
        (batch,) = attempts(stats, "batch").values()
        self.assertEqual((len(upload), len(batch)), (1, 1), "nothing made twice")
        # The upload was found (its batch created) and the batch was found (polled) within ~5 s of being made.
        adopted_upload = batch[0][0] - upload[0][0]
        (first_read,) = stats["batch_first_read"].values()
        adopted_batch = first_read - batch[0][0]
        for what, took in (("upload", adopted_upload), ("batch", adopted_batch)):
            # created_at is whole seconds, so a list may show it up to a second sooner than 3 s after.
            self.assertGreaterEqual(took, 2, f"the {what} cannot be listed that soon")
            self.assertLessEqual(took, 5 + SLACK_S, f"the {what} was adopted only after {took:.1f} s")

    def test_a_create_that_never_happened_is_made_again_only_after_the_grace(self):
        grace = 60
        sim, d = self.start({"next_drop_upload": 1, "next_drop_batch": 1}, {"pipeline": {"api_grace_s": grace}})
        d.drop("dropped.jsonl", [chat(i) for i in range(10)])
        job = d.wait_for("dropped", timeout=60)
        self.assertEqual(job["status"], "completed", job)
        stats = sim.stats()
        self.assert_paid_once(d, "dropped", 10, stats)
        for kind in ("upload", "batch"):
            (history,) = attempts(stats, kind).values()
            self.assertEqual([o for _, o in history], ["dropped", "200"], history)
            again = history[1][0] - history[0][0]
            self.assertGreaterEqual(again, grace, f"{kind} made again before the grace")
            self.assertLessEqual(again, grace + grace / 8 + SLACK_S, f"{kind} made again only after {again:.1f} s")

    def test_a_503_slow_down_may_have_acted_so_it_earns_the_grace(self):
        # A 5xx after the body was sent proves nothing either way: its Retry-After first, then looks, and a
        # second upload only once the grace has passed with nothing listed.
        grace, ra = 60, 20
        sim, d = self.start({"next_503_create": 1, "retry_after_ms": ra * 1000}, {"pipeline": {"api_grace_s": grace}})
        d.drop("slow.jsonl", [chat(i) for i in range(10)])
        self.assertEqual(d.wait_for("slow", timeout=60)["status"], "completed")
        stats = sim.stats()
        self.assert_paid_once(d, "slow", 10, stats)
        (upload,) = attempts(stats, "upload").values()
        self.assertEqual([o for _, o in upload], ["503", "200"], upload)
        again = upload[1][0] - upload[0][0]
        self.assertGreaterEqual(again, grace)
        self.assertLessEqual(again, grace + grace / 8 + SLACK_S)

    def test_out_of_quota_holds_the_job_quietly_until_resumed(self):
        sim, d = self.start({"insufficient_quota": True}, {"pipeline": {"quota_recheck_s": 3600}})
        d.drop("broke.jsonl", [chat(i) for i in range(20)])
        held = wait_until("the job held for quota",
                          lambda: (j := d.job("broke")) and j["status"] == "held" and j)
        self.assertEqual(held["held_for"], "quota", held)
        self.assertIn("quota", held["held_reason"])
        self.assertIn("batchctl resume broke", held["held_reason"])
        self.assertIsNotNone(held["look_again_at"])
        show = subprocess.run([BATCHCTL, "--socket", d.socket, "show", "broke"], capture_output=True, text=True)
        self.assertIn("held", show.stdout)
        self.assertIn("looks again", show.stdout)
        metrics = subprocess.run(["curl", "-s", "--unix-socket", d.socket, "http://localhost/metrics"],
                                 capture_output=True, text=True).stdout
        self.assertIn('batchd_jobs_held{reason="quota"} 1', metrics)
        # Held: no call storm. 300 simulated seconds pass with not one more create.
        before = sim.stats()["calls"]
        time.sleep(3)
        after = sim.stats()["calls"]
        self.assertEqual(before, after, "calls made while held")
        self.assertEqual(after["POST /v1/batches"], {"429": 1}, "refused once, then quiet")
        sim.set_faults({"insufficient_quota": False})  # the operator tops the account up
        r = subprocess.run([BATCHCTL, "--socket", d.socket, "resume", "broke"], capture_output=True, text=True)
        self.assertEqual(r.returncode, 0, r.stderr)
        job = d.wait_for("broke", timeout=60)
        self.assertEqual(job["status"], "completed", job)
        self.assert_paid_once(d, "broke", 20, sim.stats())
        self.assertEqual(subprocess.run([BATCHCTL, "--socket", d.socket, "resume", "broke"],
                                        capture_output=True).returncode, 1, "a finished job is not held")

    def test_out_of_quota_looks_again_by_itself(self):
        # Looks again every 100 s by itself: over 300 s held, a handful of tries, no storm.
        sim, d = self.start({"insufficient_quota": True}, {"pipeline": {"quota_recheck_s": 100}})
        d.drop("slow.jsonl", [chat(i) for i in range(5)])
        wait_until("held", lambda: (j := d.job("slow")) and j["status"] == "held")
        time.sleep(3)
        tries = sim.stats()["calls"]["POST /v1/batches"]["429"]
        self.assertGreaterEqual(tries, 2, "it looked again by itself")
        self.assertLessEqual(tries, 5, "one look per quota_recheck_s")
        sim.set_faults({"insufficient_quota": False})
        self.assertEqual(d.wait_for("slow", timeout=60)["status"], "completed")

    def test_a_reload_asks_again_at_once(self):
        sim, d = self.start({"insufficient_quota": True}, {"pipeline": {"quota_recheck_s": 100000}})
        d.drop("later.jsonl", [chat(i) for i in range(5)])
        wait_until("held", lambda: (j := d.job("later")) and j["status"] == "held")
        sim.set_faults({"insufficient_quota": False})
        time.sleep(1)
        self.assertEqual(d.job("later")["status"], "held", "it waits for its hourly look (here: 1,000 s)")
        d.proc.send_signal(signal.SIGHUP)  # the operator topped the account up and reloaded
        self.assertEqual(d.wait_for("later", timeout=30)["status"], "completed")
        with open(d.log.name) as f:
            self.assertIn("held for quota ask the API again", f.read())

    def test_a_restart_during_a_retry_after_wait_waits_only_the_rest(self):
        ra = 120.0  # the cap: 1.2 real seconds
        config = {"pipeline": {"api_grace_s": 600}}
        sim, d = self.start({"next_429_create": 1, "retry_after_ms": int(ra * 1000)}, config)
        d.drop("kill.jsonl", [chat(i) for i in range(10)])
        wait_until("the upload refused", lambda: sim.stats()["upload_attempts"])
        time.sleep(0.3)  # a quarter of the way through the wait
        d = self.restart(d, config)
        job = d.wait_for("kill", timeout=60)
        self.assertEqual(job["status"], "completed", job)
        stats = sim.stats()
        self.assert_paid_once(d, "kill", 10, stats)
        (upload,) = attempts(stats, "upload").values()
        self.assertEqual([o for _, o in upload], ["429", "200"], upload)
        waited = upload[1][0] - upload[0][0]
        self.assertGreaterEqual(waited, ra, "the restart did not cut the server's wait short")
        self.assertLessEqual(waited, ra * 1.1 + SLACK_S, f"waited {waited:.1f} s: more than the rest of it")


if __name__ == "__main__":
    unittest.main(verbosity=2)
