#!/usr/bin/env python3
"""Nothing lost, whatever happens to the files: a hard-linked drop changed
after intake is not seen by batchd (it took a private copy); batchd's own
copy changed anyway fails the job with a reason; a file still being written
is not cut; a full spool stalls a job with its reason until space returns;
a second daemon on the same state changes nothing; every rename the promise
depends on is followed by an fsync of its directory before the next
database commit."""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import BATCHD, Daemon, Sim, chat, get, post, request, wait_until  # noqa: E402




def lines(path):
    with open(path) as f:
        return [json.loads(l) for l in f if l.strip()]


def write_requests(path, n, first=0):
    with open(path, "w") as f:
        for i in range(first, first + n):
            f.write(json.dumps(chat(i)) + "\n")


def whole_calls(lines):
    """strace -f prints a call another thread interrupts in two lines, "PID call(args <unfinished ...>"
    and later "PID <... call resumed>)   = 0" (padded): joined here, where the call began, and unpadded."""
    out, pending = [], {}
    for line in lines:
        pid, _, rest = line.partition(" ")
        if rest.endswith("<unfinished ...>"):
            pending[pid] = len(out)
            out.append(line[:-len("<unfinished ...>")].rstrip())
        elif rest.startswith("<... ") and pid in pending:
            i = pending.pop(pid)
            out[i] = re.sub(r"\)\s+= ", ") = ", out[i] + rest.split(" resumed>", 1)[1])
        else:
            out.append(re.sub(r"\)\s+= ", ") = ", line))
    return out


class FilesTest(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-files-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def outbox_ids(self, d, job):
        out = os.path.join(d.spool, "outbox", job)
        return [l["custom_id"] for l in lines(os.path.join(out, "results.jsonl")) + lines(os.path.join(out, "errors.jsonl"))]

    def held_daemon(self, sim):
        d = Daemon(os.path.join(self.root, "d"), sim, config={"daily_budget_usd": "0.000001"})
        d.wait_ready()
        return d

    def test_a_hard_linked_drop_changed_after_intake_completes_whole_from_batchds_copy(self):
        sim = Sim()
        try:
            d = self.held_daemon(sim)
            mine = os.path.join(self.root, "mine.jsonl")
            write_requests(mine, 500)
            os.link(mine, os.path.join(d.spool, "inbox", "linked.jsonl"))
            wait_until("held", lambda: (d.job("linked") or {}).get("status") == "held")
            with open(mine, "r+") as f:
                f.truncate(1000)  # the user's other name, cut short after intake
            self.assertEqual(post(d.socket, "/v1/jobs/linked/release")[0], 202)
            job = d.wait_for("linked")
            self.assertEqual(job["status"], "completed", job)
            self.assertEqual(job["counts"]["succeeded"], 500)
            self.assertEqual(sorted(self.outbox_ids(d, "linked")), sorted(f"chat-{i}" for i in range(500)))
            self.assertEqual(os.path.getsize(mine), 1000, "the user's file is theirs: batchd left it as it was")
            d.stop()
        finally:
            sim.close()

    def test_batchds_copy_changed_anyway_fails_the_job_with_a_reason(self):
        sim = Sim()
        try:
            d = self.held_daemon(sim)
            d.drop("tampered.jsonl", [chat(i) for i in range(50)])
            wait_until("held", lambda: (d.job("tampered") or {}).get("status") == "held")
            kept = os.path.join(d.state, "jobs", "tampered", "tampered.jsonl")
            with open(kept, "r+") as f:
                f.seek(30)
                f.write("X")
            self.assertEqual(post(d.socket, "/v1/jobs/tampered/release")[0], 202)
            job = d.wait_for("tampered")
            self.assertEqual(job["status"], "failed", job)
            self.assertIn("changed after it was validated", job["error"])
            self.assertEqual(sorted(self.outbox_ids(d, "tampered")), sorted(f"chat-{i}" for i in range(50)))
            self.assertEqual(sim.stats()["uploads_by_filename"], {}, "nothing of it was sent")
            d.stop()
        finally:
            sim.close()

    def test_an_embeddings_request_over_2048_inputs_is_rejected_at_drop_time_with_its_line(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            d.wait_ready()
            def embed(i, n):
                return {"custom_id": f"e{i}", "method": "POST", "url": "/v1/embeddings",
                        "body": {"model": "text-embedding-3-small", "input": [f"t{k}" for k in range(n)]}}
            d.drop("wide.jsonl", [embed(0, 10), embed(1, 2049), embed(2, 5)])
            report_path = os.path.join(d.spool, "rejected", "wide.jsonl.error.json")
            wait_until("the refusal", lambda: os.path.exists(report_path))
            with open(report_path) as f:
                report = json.load(f)
            self.assertEqual(report["errors"][0]["line"], 2, report)
            self.assertIn("2049 inputs", report["errors"][0]["message"])
            self.assertEqual(sim.stats()["uploads_by_filename"], {}, "nothing was sent")
            d.stop()
        finally:
            sim.close()

    def test_a_file_still_being_written_is_not_cut(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            d.wait_ready()
            path = os.path.join(d.spool, "inbox", "growing.jsonl")  # written in place, not renamed in
            with open(path, "w") as f:
                for i in range(10):
                    f.write(json.dumps(chat(i)) + "\n")
                f.flush()
                time.sleep(0.5)  # well past the rescan interval and the settle time (both scaled or short here)
                self.assertIsNone(d.job("growing"), "not taken while its writer holds it open")
                for i in range(10, 20):
                    f.write(json.dumps(chat(i)) + "\n")
            job = d.wait_for("growing")
            self.assertEqual(job["status"], "completed", job)
            self.assertEqual(job["counts"]["total"], 20)
            d.stop()
        finally:
            sim.close()

    def test_a_full_spool_stalls_the_job_with_its_reason_until_space_returns(self):
        d_root = os.path.join(self.root, "d")
        spool = os.path.join(d_root, "spool")
        os.makedirs(spool)
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", spool], capture_output=True, text=True)
        if r.returncode != 0:
            self.skipTest("cannot mount a tmpfs here: " + r.stderr.strip())
        sim = Sim()
        try:
            d = Daemon(d_root, sim, config={"daily_budget_usd": "0.000001",
                                            "pipeline": {"step_retry_initial_s": 600, "step_retry_cap_s": 3000}})
            d.wait_ready()
            d.drop("roomy.jsonl", [chat(i) for i in range(300)])
            wait_until("held", lambda: (d.job("roomy") or {}).get("status") == "held")
            filler = os.path.join(spool, "filler")
            fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
            try:
                while True:
                    os.write(fd, b"\0" * 4096)
            except OSError:
                pass  # full
            os.close(fd)
            self.assertEqual(post(d.socket, "/v1/jobs/roomy/release")[0], 202)
            shown = wait_until("the step error", lambda: (lambda j: j if j.get("last_error") else None)(
                get(d.socket, "/v1/jobs/roomy")))
            self.assertIn("No space left", shown["last_error"])
            self.assertEqual(shown["status"], "running")
            os.remove(filler)
            job = wait_until("completed", lambda: (lambda j: j if j.get("status") == "completed" else None)(
                get(d.socket, "/v1/jobs/roomy")), timeout=60)
            self.assertEqual(job["counts"]["succeeded"], 300)
            self.assertEqual(sorted(self.outbox_ids(d, "roomy")), sorted(f"chat-{i}" for i in range(300)))
            self.assertEqual(d.wait_for("roomy")["status"], "completed", "job.json caught up")
            d.stop()
        finally:
            sim.close()
            subprocess.run(["umount", "-l", spool])

    def test_a_second_daemon_on_the_same_state_exits_and_changes_nothing(self):
        sim = Sim()
        try:
            d = Daemon(os.path.join(self.root, "d"), sim)
            d.wait_ready()
            # Measured by the first housekeeping pass, on a worker, just after start.
            wait_until("the state directory's size shown in health",
                       lambda: get(d.socket, "/v1/health")["state"]["bytes"] > 0, 10)
            self.assertIn("batchd_state_bytes ", request(d.socket, "GET", "/metrics")[2])
            # The first daemon's own SQLite files come and go (WAL checkpoints): leave them out.
            listing = lambda: sorted(n for n in os.listdir(d.state) if not n.startswith("batchd.db"))
            before = listing()
            other_spool = os.path.join(self.root, "other-spool")
            r = subprocess.run([BATCHD, "--spool", other_spool, "--state", d.state, "--socket",
                                os.path.join(self.root, "other.sock"), "--api-key-file", os.path.join(d.root, "key"),
                                "--api-base", sim.base + "/v1"], capture_output=True, text=True, timeout=10)
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(f"another batchd (pid {d.proc.pid})", r.stderr + r.stdout)
            self.assertFalse(os.path.exists(other_spool), "it touched nothing")
            self.assertFalse(os.path.exists(os.path.join(self.root, "other.sock")))
            self.assertEqual(listing(), before)
            d.stop()
        finally:
            sim.close()

    def test_each_rename_is_followed_by_an_fsync_of_its_directory_before_the_next_commit(self):
        if not shutil.which("strace"):
            self.skipTest("strace is not installed")
        sim = Sim()
        try:
            trace = os.path.join(self.root, "trace")
            d = Daemon(os.path.join(self.root, "d"), sim,
                       wrap=("strace", "-f", "-y", "-qq", "-e", "trace=rename,renameat,renameat2,fsync,fdatasync",
                             "-o", trace))
            d.wait_ready()
            d.drop("traced.jsonl", [chat(i) for i in range(20)])
            d.drop("refused.jsonl", ["{not json"])
            self.assertEqual(d.wait_for("traced", timeout=120)["status"], "completed")
            wait_until("the refusal", lambda: os.path.exists(os.path.join(d.spool, "rejected", "refused.jsonl")))
            with open(f"/proc/{d.proc.pid}/task/{d.proc.pid}/children") as f:
                daemon_pid = int(f.read().split()[0])  # strace's child
            os.kill(daemon_pid, signal.SIGTERM)
            d.proc.wait(30)
            d.log.close()
            with open(trace) as f:
                calls = whole_calls(f.read().splitlines())
            renamed = re.compile(r'rename\w*\(.*"([^"]+)"(?:, \d+)?\) = 0')
            synced = re.compile(r'f(?:data)?sync\(\d+<([^>]+)>\) = 0')
            checked = []
            for i, line in enumerate(calls):
                m = renamed.search(line)
                if not m:
                    continue
                target = m.group(1)
                directory = os.path.dirname(target)
                if not any(part in target for part in ("/outbox/", "/rejected/", "/work/results/")):
                    continue
                # The fsync of the directory (on any thread: the client hands it to a worker) before
                # the renaming thread's next commit and its next rename into the same directory.
                # Commits of other threads in between are other work (two jobs run at once here): a
                # worker's move is done, fsync included, before the loop hears of it.
                tid = line.split(" ", 1)[0]
                ok = False
                for later in calls[i + 1:]:
                    same_thread = later.split(" ", 1)[0] == tid
                    again = renamed.search(later)
                    if same_thread and again and os.path.dirname(again.group(1)) == directory:
                        break
                    s = synced.search(later)
                    if not s:
                        continue
                    if s.group(1) == directory:
                        ok = True
                        break
                    if same_thread and (s.group(1).endswith("batchd.db-wal") or s.group(1).endswith("batchd.db")):
                        break  # a commit came first
                self.assertTrue(ok, f"rename to {target} not followed by an fsync of {directory} before a commit")
                checked.append(target)
            kinds = {k: any(k in t for t in checked) for k in ("/outbox/", "/rejected/", "/work/results/")}
            self.assertTrue(all(kinds.values()), f"renames seen: {kinds}")
        finally:
            sim.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
