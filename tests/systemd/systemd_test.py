#!/usr/bin/env python3
"""batchd as a systemd service: the notify protocol against a test-owned
NOTIFY_SOCKET (READY=1 after recovery, WATCHDOG=1 at its cadence, STOPPING=1 on
SIGTERM), the unit checked by systemd-analyze, and the .deb unpacked.

Needs $BATCHD, $BATCHD_SIM, $SOURCE_DIR and $BUILD_DIR.
"""
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.environ["SOURCE_DIR"], "tests", "support"))
from harness import KEY, Daemon, Sim, chat  # noqa: E402

SOURCE = os.environ["SOURCE_DIR"]
BUILD = os.environ["BUILD_DIR"]
BATCHD = os.environ["BATCHD"]


class Notify(unittest.TestCase):
    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="batchd-systemd-test-")

    def tearDown(self):
        shutil.rmtree(self.root, ignore_errors=True)

    def test_ready_after_recovery_watchdog_and_stopping(self):
        sim = Sim()
        try:
            # A first run dies with a batch in flight: the next start has work to recover.
            d = Daemon(os.path.join(self.root, "d"), sim, crash_at="after_create")
            d.drop("job.jsonl", [chat(i) for i in range(10)])
            d.proc.wait(60)
            d.log.close()

            path = os.path.join(self.root, "notify.sock")
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            sock.bind(path)
            sock.settimeout(10)
            os.environ["NOTIFY_SOCKET"] = path
            os.environ["WATCHDOG_USEC"] = "200000"  # 0.2 s: WATCHDOG=1 every 0.1 s
            try:
                d = Daemon(d.root, sim)
            finally:
                del os.environ["NOTIFY_SOCKET"], os.environ["WATCHDOG_USEC"]
            first = sock.recv(4096).decode()
            self.assertTrue(first.startswith("READY=1"), first)
            self.assertIn("1 job(s) resumed", first, "READY=1 comes after the in-flight job is picked up")

            start, watchdogs = time.time(), 0
            while time.time() - start < 1.0:
                if "WATCHDOG=1" in sock.recv(4096).decode():
                    watchdogs += 1
            self.assertGreaterEqual(watchdogs, 6, "about ten in a second")
            self.assertLessEqual(watchdogs, 14)

            d.wait_for("job", 60)
            d.proc.send_signal(signal.SIGTERM)
            messages = []
            deadline = time.time() + 10
            while "STOPPING=1" not in "".join(messages) and time.time() < deadline:
                messages.append(sock.recv(4096).decode())
            self.assertIn("STOPPING=1", "".join(messages))
            self.assertEqual(d.proc.wait(10), 0)
            d.log.close()
            sock.close()
        finally:
            sim.close()

    def test_journal_priority_prefixes(self):
        key = os.path.join(self.root, "key")
        with open(key, "w") as f:
            f.write(KEY)

        def first_line(extra_env):
            env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
            env.update(extra_env)
            p = subprocess.Popen([BATCHD, "--api-key-file", key, "--spool", os.path.join(self.root, "s"),
                                  "--state", os.path.join(self.root, "st"), "--api-base", "http://127.0.0.1:9/v1",
                                  "--socket", os.path.join(self.root, "ctl.sock"),
                                  "--pricing", os.path.join(SOURCE, "etc", "pricing.json")],
                                 env=env, stderr=subprocess.PIPE, text=True)
            line = p.stderr.readline()
            p.terminate()
            p.wait(10)
            p.stderr.close()
            return line

        under_systemd = first_line({"JOURNAL_STREAM": "8:1234"})
        self.assertRegex(under_systemd, r"^<6>pricing: ", "an info line, its priority as a prefix, no timestamp")
        plain = first_line({})
        self.assertRegex(plain, r"^\d{4}-\d\d-\d\dT.* info pricing: ")


class Unit(unittest.TestCase):
    def test_systemd_analyze_verify(self):
        with tempfile.TemporaryDirectory() as tmp:
            with open(os.path.join(SOURCE, "systemd", "batchd.service")) as f:
                unit = f.read().replace("/usr/bin/batchd", BATCHD)
            path = os.path.join(tmp, "batchd.service")
            with open(path, "w") as f:
                f.write(unit)
            shutil.copy(os.path.join(SOURCE, "systemd", "batchd.socket"), tmp)
            out = subprocess.run(["systemd-analyze", "verify", path, os.path.join(tmp, "batchd.socket")],
                                 capture_output=True, text=True)
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertEqual(out.stderr.strip(), "", out.stderr)

    def test_security_exposure_at_most_2(self):
        out = subprocess.run(["systemd-analyze", "security", "--offline=true",
                              os.path.join(SOURCE, "systemd", "batchd.service")], capture_output=True, text=True)
        m = re.search(r"Overall exposure level for batchd.service: ([0-9.]+)", out.stdout)
        self.assertIsNotNone(m, out.stdout[-500:])
        print(f"exposure {m.group(1)}", file=sys.stderr)
        self.assertLessEqual(float(m.group(1)), 2.0)


class Package(unittest.TestCase):
    def test_deb_layout_and_metadata(self):
        with tempfile.TemporaryDirectory() as tmp:
            subprocess.run(["cpack", "-G", "DEB", "-B", tmp], cwd=BUILD, check=True, capture_output=True)
            debs = [f for f in os.listdir(tmp) if f.endswith(".deb")]
            self.assertEqual(len(debs), 1, debs)
            deb = os.path.join(tmp, debs[0])
            root = os.path.join(tmp, "root")
            subprocess.run(["dpkg", "-x", deb, root], check=True)
            for f in ("usr/bin/batchd", "usr/bin/batchctl", "usr/lib/systemd/system/batchd.service",
                      "usr/lib/systemd/system/batchd.socket", "etc/batchd/pricing.json", "usr/lib/sysusers.d/batchd.conf",
                      "usr/lib/tmpfiles.d/batchd.conf", "etc/batchd/batchd.json", "usr/share/doc/batchd/README.md"):
                self.assertTrue(os.path.isfile(os.path.join(root, f)), f)
            self.assertTrue(os.access(os.path.join(root, "usr/bin/batchd"), os.X_OK))
            with open(os.path.join(root, "etc/batchd/batchd.json")) as f:
                json.load(f)
            with open(os.path.join(root, "etc/batchd/pricing.json")) as f:
                self.assertEqual(json.load(f)["models"], {}, "an empty overlay: the built-in table stays in force")
            info = subprocess.run(["dpkg-deb", "--info", deb], capture_output=True, text=True, check=True).stdout
            self.assertIn("Package: batchd", info)
            self.assertRegex(info, r"Depends:.*systemd")
            self.assertRegex(info, r"Depends:.*libssl3")
            self.assertIn("postinst", info)
            self.assertIn("conffiles", info)
            control = subprocess.run(["dpkg-deb", "-e", deb, os.path.join(tmp, "ctl")], check=True)
            with open(os.path.join(tmp, "ctl", "postinst")) as f:
                self.assertIn("systemd-sysusers", f.read())


if __name__ == "__main__":
    unittest.main(verbosity=2)
