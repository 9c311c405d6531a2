#!/usr/bin/env python3
"""Progress while batches run: a request-file job's progress in job.json, on
the socket and in `batchctl show` follows its batch's request_counts while
the batch is in_progress, and its counts end exact."""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import Daemon, Sim, chat, get, wait_until  # noqa: E402

BATCHCTL = os.environ.get("BATCHCTL", "build/release/daemon/batchctl")


class ProgressTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-progress-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def test_a_request_file_job_moves_while_its_batch_runs(self):
        # 12 requests at 4,000 simulated seconds each: about 2.4 s in_progress on the scaled clock.
        sim = Sim(args=["--in-progress-s", "0", "--per-request-s", "4000"])
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            d.drop("slow.jsonl", [chat(i) for i in range(12)])
            seen = set()  # progress.finished in job.json while its batch was in_progress

            def running_progress():
                j = d.job("slow")
                if j and j["batches"] and j["batches"][0]["status"] == "in_progress":
                    counts = j["batches"][0]["request_counts"]
                    self.assertEqual(j["progress"]["finished"], counts["completed"] + counts["failed"], j)
                    self.assertEqual(j["counts"]["succeeded"] + j["counts"]["failed"], 0, "counts wait for the merge")
                    if j["progress"]["finished"] > 0:
                        seen.add(j["progress"]["finished"])
                return len(seen) >= 2

            wait_until("progress to move twice while the batch runs", running_progress)
            view = get(d.socket, "/v1/jobs/slow")
            self.assertGreater(view["progress"]["finished"], 0, view)
            self.assertEqual(view["progress"]["total"], 12)
            shown = subprocess.run([BATCHCTL, "--socket", d.socket, "show", "slow"], capture_output=True,
                                   text=True, timeout=30, check=True).stdout
            finished = int(re.search(r"^progress\s+(\d+)/12 requests finished", shown, re.M).group(1))
            self.assertGreater(finished, 0, shown)

            done = d.wait_for("slow")
            self.assertEqual(done["status"], "completed")
            self.assertEqual(done["counts"], {"total": 12, "succeeded": 12, "failed": 0})
            self.assertEqual(done["progress"], {"finished": 12, "total": 12})
            self.assertEqual(get(d.socket, "/v1/jobs/slow")["progress"], done["progress"])
            d.stop()
        finally:
            sim.close()


if __name__ == "__main__":
    unittest.main()
