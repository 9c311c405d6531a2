#!/usr/bin/env python3
"""Paid once, whatever the network does (issue 13): against a simulator over
HTTPS whose lists leave out objects younger than 60 s, whose fresh ids
answer 404 for a while, which loses half the replies to uploads and creates
after committing them (cutting the TLS stream without close_notify), with
the daemon SIGKILLed 4 times at random moments, each chunk attempt is
uploaded once and batched once, no request is served twice, and every
custom_id is in the outbox once. Seeded: a failure can be replayed
(NETWORK_SEED)."""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import Daemon, Sim, chat  # noqa: E402

FAULTS = {"list_lag_s": 60, "not_found_s": 30, "rate_lost_reply": 0.5, "rate_drop": 0.02}


def certificates(d):
    with open(os.path.join(d, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    script = ("set -e; cd '%s'; "
              "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days 2 -subj /CN=test-ca; "
              "openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=batchd-sim; "
              "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 "
              "-extfile ext.cnf") % d
    subprocess.run(["bash", "-c", script], check=True, capture_output=True)
    return os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"), os.path.join(d, "server.key")


def run_once(root, seed, kills=4, n=2000):
    """One run; returns (job, stats, ids in the outbox)."""
    rng = random.Random(seed)
    ca, cert, key = certificates(root)
    sim = Sim(faults=FAULTS, args=["--tls-cert", cert, "--tls-key", key], ca=ca, seed=seed)
    try:
        config = {"api": {"ca_file": ca}, "pipeline": {"max_requests_per_batch": 200}}
        d = Daemon(os.path.join(root, "d"), sim, config=config)
        d.drop("net.jsonl", [chat(i) for i in range(n)])
        for _ in range(kills):
            time.sleep(rng.uniform(0.05, 0.4))
            # batchd never exits by itself: dead before its kill is a crash (a forbidden move aborts).
            assert d.proc.poll() is None, f"batchd exited with {d.proc.returncode} before it was killed"
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            d.log.close()
            d = Daemon(d.root, sim, config=config)
        job = d.wait_for("net", timeout=240)
        ids = d.ids_in_outbox("net")
        d.stop()
        return job, sim.stats(), ids
    finally:
        sim.close()


class NetworkTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-network-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def test_an_output_file_gone_for_good_is_sent_again_after_the_grace_not_fetched_forever(self):
        sim = Sim(faults={"output_gone_next": 1})
        try:
            d = Daemon(os.path.join(self.root, "gone"), sim, config={"pipeline": {"api_grace_s": 600}})
            d.drop("gone.jsonl", [chat(i) for i in range(30)])
            job = d.wait_for("gone", 60)
            self.assertEqual(job["status"], "completed", job)
            self.assertEqual(sorted(b["attempt"] for b in job["batches"]), [1, 2], "attempt 1's results were lost")
            with open(os.path.join(d.spool, "outbox", "gone", "results.jsonl")) as f:
                ids = [json.loads(l)["custom_id"] for l in f]
            self.assertEqual(sorted(ids), sorted(f"chat-{i}" for i in range(30)))
            with open(d.log.name) as f:
                self.assertIn("is gone; its requests are taken as not come back", f.read())
            d.stop()
        finally:
            sim.close()

    def test_paid_once_through_lagging_lists_lost_replies_cuts_and_kills(self):
        seed = int(os.environ.get("NETWORK_SEED", "7"))
        job, stats, ids = run_once(self.root, seed)
        self.assertEqual(job["status"], "completed", job)
        self.assertEqual(sorted(ids), sorted(f"chat-{i}" for i in range(2000)), "every id once")
        uploads = stats["uploads_by_filename"]
        self.assertEqual(len(uploads), 10, uploads)
        self.assertEqual([f for f, count in uploads.items() if count != 1], [], "each chunk uploaded once")
        batches = stats["batches_by_metadata"]
        self.assertEqual(len(batches), 10, batches)
        self.assertEqual([m for m, count in batches.items() if count != 1], [], "each attempt batched once")
        served = sum(u["requests"] for u in stats["usage"]["batch"].values())
        self.assertEqual(served, 2000, "no request served (and paid) twice")
        lost = sum(by.get("lost_reply", 0) for by in stats["calls"].values())
        self.assertGreater(lost, 0, "the faults were really there")
        print(f"seed {seed}: {lost} replies lost after commit, every chunk uploaded and batched once",
              file=sys.stderr)

    def test_a_lost_create_reply_is_looked_for_through_a_restart_and_never_created_twice(self):
        # Lists lag 1.5 s (real), the grace is 5 s: the first two creates (the
        # upload, then the batch) commit and lose their replies.
        sim = Sim(faults={"list_lag_s": 30000, "next_lost_reply": 2})
        try:
            config = {"pipeline": {"api_grace_s": 100000}}
            d = Daemon(os.path.join(self.root, "d"), sim, config=config)
            d.drop("unsure.jsonl", [chat(i) for i in range(10)])
            deadline = time.time() + 30
            while sim.stats()["calls"].get("POST /v1/batches", {}).get("lost_reply", 0) < 1:
                self.assertLess(time.time(), deadline, "the create's reply was never lost")
                time.sleep(0.02)
            time.sleep(0.3)  # in the middle of the grace, the batch not listed yet
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            d.log.close()
            d = Daemon(d.root, sim, config=config)
            job = d.wait_for("unsure", timeout=60)
            self.assertEqual(job["status"], "completed", job)
            self.assertEqual(sorted(d.ids_in_outbox("unsure")), sorted(f"chat-{i}" for i in range(10)))
            stats = sim.stats()
            self.assertEqual(list(stats["uploads_by_filename"].values()), [1], "uploaded once")
            self.assertEqual(list(stats["batches_by_metadata"].values()), [1], "created once")
            self.assertEqual(stats["calls"]["POST /v1/files"].get("lost_reply"), 1)
            d.stop()
        finally:
            sim.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
