#!/usr/bin/env python3
"""The control socket and batchctl, over a real unix socket, against the real
daemon and batchd-sim: every route with good and bad input, who may change
what, the limits, and batchctl's --json equal to the route's body."""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "support"))
from harness import Daemon, Sim, chat, exchange, request  # noqa: E402

BATCHCTL = os.environ.get("BATCHCTL", "build/release/daemon/batchctl")


def jsonl(lines):
    return ("\n".join(json.dumps(l) for l in lines) + "\n").encode()


class ControlTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = tempfile.mkdtemp(prefix="batchd-control-")
        os.chmod(cls.root, 0o755)  # the unprivileged peer must reach the socket
        # Batches stay in progress about 3 s, long enough to cancel one.
        cls.sim = Sim(args=["--in-progress-s", "60000"])
        cls.d = Daemon(os.path.join(cls.root, "d"), cls.sim,
                       config={"control": {"max_body_bytes": 200000, "timeout_s": 0.5, "max_connections": 8,
                                           "mode": "0666"}})
        os.chmod(cls.d.root, 0o755)
        cls.d.wait_ready()

    @classmethod
    def tearDownClass(cls):
        cls.d.stop()
        cls.sim.close()
        shutil.rmtree(cls.root, ignore_errors=True)

    def call(self, method, target, body=b"", headers=None):
        status, h, text = request(self.d.socket, method, target, body, headers)
        self.assertEqual(h.get("content-type", "").split(";")[0],
                         "text/plain" if target == "/metrics" and status == 200 else "application/json")
        return status, (json.loads(text) if "json" in h.get("content-type", "") else text), h

    def assert_error(self, got, status, code):
        self.assertEqual(got[0], status, got[1])
        self.assertEqual(set(got[1]), {"error"}, "the one envelope")
        self.assertEqual(got[1]["error"]["code"], code)
        self.assertTrue(got[1]["error"]["message"])

    def batchctl(self, *args, check=True):
        p = subprocess.run([BATCHCTL, "--socket", self.d.socket, *args], capture_output=True, text=True, timeout=120)
        if check:
            self.assertEqual(p.returncode, 0, p.stderr)
        return p

    def submit(self, name, lines):
        status, body, h = self.call("POST", "/v1/jobs?name=" + name, jsonl(lines))
        self.assertEqual(status, 201, body)
        self.assertEqual(h["location"], "/v1/jobs/" + body["job"])
        return body

    def wait_status(self, job, statuses, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            body = self.call("GET", "/v1/jobs/" + job)[1]
            if body["status"] in statuses:
                return body
            time.sleep(0.05)
        self.fail(f"{job} never reached {statuses}: {body}")

    def test_health_and_curl(self):
        status, body, _ = self.call("GET", "/v1/health")
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")
        self.assertEqual(set(body["jobs"]), {"queued", "held", "running", "completed", "failed", "cancelled"})
        if shutil.which("curl"):  # as the README shows it
            out = subprocess.run(["curl", "-sf", "--unix-socket", self.d.socket, "http://localhost/v1/health"],
                                 capture_output=True, text=True, check=True).stdout
            self.assertEqual(json.loads(out)["status"], "ok")
        got = json.loads(self.batchctl("--json", "health").stdout)
        self.assertEqual(set(got), set(body), "batchctl prints the route's body")
        self.assertEqual(set(got["api"]) - {"last_error"}, set(body["api"]) - {"last_error"})
        # Counts, uptime and the API's last answer move while other jobs run; these do not.
        self.assertEqual((got["status"], got["version"], got["api"]["base_url"]),
                         (body["status"], body["version"], body["api"]["base_url"]))
        self.assertIn("version", self.batchctl("health").stdout)

    def test_submit_show_list_watch(self):
        job = self.submit("listed.jsonl", [chat(i) for i in range(20)])["job"]
        self.assertEqual(job, "listed")
        watch = self.batchctl("watch", job)  # not a TTY: plain lines, the last one terminal
        self.assertIn("completed", watch.stdout.strip().splitlines()[-1])
        status, body, _ = self.call("GET", "/v1/jobs/listed")
        self.assertEqual((status, body["status"], body["progress"]), (200, "completed", {"finished": 20, "total": 20}))
        self.assertEqual(json.loads(self.batchctl("--json", "show", "listed").stdout), body)
        # Global options after the subcommand too, as kubectl and systemctl take them: the same bytes.
        before = subprocess.run([BATCHCTL, "--json", "--socket", self.d.socket, "show", "listed"],
                                capture_output=True, text=True, timeout=60)
        after = subprocess.run([BATCHCTL, "show", "listed", "--json", "--socket", self.d.socket, "--timeout", "20"],
                               capture_output=True, text=True, timeout=60)
        self.assertEqual((before.returncode, after.returncode), (0, 0), after.stderr)
        self.assertEqual(after.stdout, before.stdout)
        helped = subprocess.run([BATCHCTL, "show", "--help"], capture_output=True, text=True, timeout=60).stdout
        self.assertIn("--json", helped)
        self.assertIn("--socket", helped)
        self.assertIn("listed", self.batchctl("jobs").stdout)
        with open(os.path.join(self.d.spool, "outbox", "listed", "results.jsonl")) as f:
            self.assertEqual(len(f.readlines()), 20)

    def test_submit_a_manifest_with_inline_inputs(self):
        manifest = {"endpoint": "/v1/embeddings", "model": "text-embedding-3-small", "body": {"dimensions": 4},
                    "inputs": [f"text {i}" for i in range(7)], "custom_id": {"prefix": "s-"}}
        status, body, _ = self.call("POST", "/v1/jobs?name=sub.job.json", json.dumps(manifest).encode())
        self.assertEqual(status, 201, body)
        self.assertEqual(body["counts"]["total"], 7, "counted in inputs")
        done = self.wait_status(body["job"], ("completed", "failed", "cancelled"))
        self.assertEqual(done["status"], "completed")
        with open(os.path.join(self.d.spool, "outbox", body["job"], "results.jsonl")) as f:
            self.assertEqual([json.loads(l)["custom_id"] for l in f], [f"s-{i}" for i in range(1, 8)])
        status, body, _ = self.call("POST", "/v1/jobs?name=bad.job.json", b'{"endpoint": "/v1/embeddings"}')
        self.assertEqual((status, body["error"]["code"]), (422, "invalid_job_file"))
        self.assertIn({"field": "model", "hint": "add it", "message": '"model" is missing'},
                      body["error"]["details"]["errors"])

    def test_pagination_and_filters(self):
        for i in range(3):
            self.submit(f"page{i}.jsonl", [chat(i)])
        first = self.call("GET", "/v1/jobs?limit=2")[1]
        self.assertEqual([j["job"] for j in first["data"]][:1], ["page2"], "newest first")
        self.assertTrue(first["has_more"])
        rest = self.call("GET", "/v1/jobs?limit=2&after=" + first["next_after"])[1]
        self.assertNotIn(rest["data"][0]["job"], [j["job"] for j in first["data"]])
        self.assertEqual(json.loads(self.batchctl("--json", "jobs", "--limit", "2").stdout)["data"][0]["job"],
                         first["data"][0]["job"])
        for q in ("limit=0", "limit=abc", "status=bogus", "after=nosuchjob"):
            self.assert_error(self.call("GET", "/v1/jobs?" + q), 400, "invalid_parameter")
        self.assertEqual(self.call("POST", "/v1/jobs?name=pagefail.jsonl", b"not json\n")[0], 422)
        failed = self.call("GET", "/v1/jobs?status=failed&limit=1000")[1]["data"]
        self.assertIn("pagefail", [j["job"] for j in failed])
        for j in failed:
            self.assertEqual(j["status"], "failed")

    def test_bad_requests_get_the_envelope(self):
        self.assert_error(self.call("GET", "/v1/jobs/nosuchjob"), 404, "unknown_job")
        self.assert_error(self.call("GET", "/v1/nothing"), 404, "unknown_route")
        got = self.call("DELETE", "/v1/jobs")
        self.assert_error(got, 405, "method_not_allowed")
        self.assertEqual(got[2]["allow"], "GET, POST")
        self.assert_error(self.call("POST", "/v1/jobs"), 400, "missing_parameter")
        self.assert_error(self.call("POST", "/v1/jobs?name=../x.jsonl", b"{}"), 400, "invalid_parameter")
        self.assert_error(self.call("POST", "/v1/jobs/nosuchjob/cancel", b"{not json"), 400, "invalid_json")
        self.assert_error(self.call("POST", "/v1/jobs/nosuchjob/cancel"), 404, "unknown_job")
        # Oversize body: refused before it is read whole.
        self.assert_error(self.call("POST", "/v1/jobs?name=big.jsonl", b"x" * 250000), 413, "body_too_large")
        # Oversize header.
        self.assert_error(self.call("GET", "/v1/health", headers={"X-Big": "y" * 20000}), 431, "header_too_large")
        # Not HTTP at all.
        status, _, body = exchange(self.d.socket, b"HELLO\r\n\r\n")
        self.assertEqual((status, json.loads(body)["error"]["code"]), (400, "bad_request"))

    def test_ledger_release_and_metrics_routes(self):
        self.assert_error(self.call("GET", "/v1/ledger?by=week"), 400, "invalid_parameter")
        self.assert_error(self.call("GET", "/v1/ledger?since=yesterday"), 400, "invalid_parameter")
        self.assert_error(self.call("POST", "/v1/ledger"), 405, "method_not_allowed")
        self.assert_error(self.call("POST", "/v1/jobs/nosuchjob/release"), 404, "unknown_job")
        job = self.submit("metered.jsonl", [chat(i) for i in range(5)])["job"]
        self.wait_status(job, ("completed",))
        self.assert_error(self.call("POST", f"/v1/jobs/{job}/release"), 409, "not_held")
        status, ledger, _ = self.call("GET", "/v1/ledger?by=job")
        self.assertEqual(status, 200)
        self.assertIn(job, [r["key"] for r in ledger["rows"]])
        self.assertEqual(json.loads(self.batchctl("--json", "ledger", "--by", "job").stdout), ledger)
        status, text, _ = self.call("GET", "/metrics")
        self.assertEqual(status, 200)
        metrics = {}
        for line in text.splitlines():
            if not line.startswith("#"):
                name, value = line.rsplit(" ", 1)
                metrics[name] = float(value)
        self.assertGreaterEqual(metrics['batchd_jobs{status="completed"}'], 1)
        self.assertGreaterEqual(metrics['batchd_batches{status="completed"}'], 1)
        self.assertGreaterEqual(metrics['batchd_api_calls_total{route="POST /batches",outcome="2xx"}'], 1)
        self.assertGreater(metrics["batchd_api_bytes_sent_total"], 0)
        self.assertGreater(metrics['batchd_cost_usd_total{price="regular"}'],
                           metrics['batchd_cost_usd_total{price="batch"}'])
        self.assert_error(self.call("POST", "/metrics"), 405, "method_not_allowed")

    def test_batchctl_exit_status(self):
        self.assertEqual(self.batchctl("show", "nosuchjob", check=False).returncode, 1)
        self.assertIn("no job named", self.batchctl("show", "nosuchjob", check=False).stderr)
        self.assertEqual(self.batchctl("frobnicate", check=False).returncode, 2)
        self.assertEqual(self.batchctl("ledger", "--by", "week", check=False).returncode, 2)
        p = subprocess.run([BATCHCTL, "--socket", "/nonexistent.sock", "health"], capture_output=True, text=True)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot connect", p.stderr)

    def test_malformed_job_file_is_rejected_with_its_lines(self):
        status, body, _ = self.call("POST", "/v1/jobs?name=broken.jsonl", b'{"custom_id": "a", oops\n')
        self.assertEqual(status, 422)
        self.assertEqual(body["error"]["code"], "invalid_job_file")
        self.assertEqual(body["error"]["details"]["errors"][0]["line"], 1)
        rejected = os.path.join(self.d.spool, "rejected")
        self.assertTrue(os.path.exists(os.path.join(rejected, "broken.jsonl.error.json")), os.listdir(rejected))
        p = self.batchctl("submit", os.path.join(rejected, "broken.jsonl"), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("line 1", p.stderr)

    def test_slow_client_gets_408(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(10)
        s.connect(self.d.socket)
        s.sendall(b"GET /v1/health HTTP/1.1\r\nHost: local")  # and then nothing
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 408"), data)
        self.assertEqual(json.loads(data.partition(b"\r\n\r\n")[2])["error"]["code"], "request_timeout")

    def test_connection_limit(self):
        idle = []
        for _ in range(12):
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(self.d.socket)
            idle.append(s)
        time.sleep(0.1)
        refused = 0
        for s in idle:
            s.settimeout(0.3)
            try:
                if s.recv(4096).startswith(b"HTTP/1.1 503"):
                    refused += 1
            except socket.timeout:
                pass
        for s in idle:
            s.close()
        self.assertGreaterEqual(refused, 4, "connections past max_connections (8) are answered 503")

    def test_cancel_collects_partial_results(self):
        job = self.submit("tocancel.jsonl", [chat(i) for i in range(50)])["job"]
        self.wait_status(job, ("running",))
        deadline = time.time() + 30
        while time.time() < deadline and not self.call("GET", "/v1/jobs/" + job)[1]["batches"]:
            time.sleep(0.02)
        out = json.loads(self.batchctl("--json", "cancel", job).stdout)
        self.assertTrue(out["cancel_requested"])
        done = self.wait_status(job, ("cancelled", "completed", "failed"))
        self.assertEqual(done["status"], "cancelled")
        self.assertEqual(done["counts"]["succeeded"] + done["counts"]["failed"], 50)
        calls = self.sim.stats()["calls"]
        self.assertTrue(any(k.endswith("/cancel") for k in calls), calls)
        self.assert_error(self.call("POST", f"/v1/jobs/{job}/cancel"), 409, "job_finished")

    @unittest.skipUnless(os.geteuid() == 0, "needs root to act as another user")
    def test_a_peer_outside_the_group_may_read_but_not_cancel(self):
        job = self.submit("guarded.jsonl", [chat(1)])["job"]
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child becomes nobody, then asks
            os.close(r)
            try:
                os.setgid(65534)
                os.setuid(65534)
                got = [request(self.d.socket, "GET", "/v1/jobs/" + job)[0],
                       request(self.d.socket, "POST", f"/v1/jobs/{job}/cancel")[0],
                       request(self.d.socket, "POST", "/v1/jobs?name=x.jsonl", b"{}")[0],
                       # A peer that may not submit may not send a big body either.
                       request(self.d.socket, "POST", "/v1/jobs?name=x.jsonl", b"x" * 70000)[0]]
                os.write(w, json.dumps(got).encode())
            finally:
                os._exit(0)
        os.close(w)
        with os.fdopen(r) as f:
            got = json.loads(f.read() or "null")
        os.waitpid(pid, 0)
        self.assertEqual(got, [200, 403, 403, 413])


class SocketFileTest(unittest.TestCase):
    def test_a_socket_passed_by_systemd_is_used(self):
        root = tempfile.mkdtemp(prefix="batchd-activation-")
        sim = Sim()
        try:
            path = os.path.join(root, "activated.sock")
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(path)
            listener.listen(16)
            key = os.path.join(root, "key")
            with open(key, "w") as f:
                f.write("sk-x\n")
            fd = listener.fileno()
            # As systemd does: the socket as fd 3, LISTEN_PID naming the daemon itself
            # (a tiny Python wrapper moves it to 3 and execs, keeping its pid).
            wrapper = ("import os, sys; os.dup2(int(sys.argv[1]), 3); os.environ['LISTEN_PID'] = str(os.getpid()); "
                       "os.environ['LISTEN_FDS'] = '1'; os.execv(sys.argv[2], sys.argv[2:])")
            p = subprocess.Popen(
                [sys.executable, "-c", wrapper, str(fd), os.environ.get("BATCHD", "batchd"),
                 "--spool", os.path.join(root, "spool"), "--state", os.path.join(root, "state"),
                 "--api-key-file", key, "--api-base", sim.base + "/v1",
                 "--socket", os.path.join(root, "unused.sock")],
                pass_fds=(fd,), stderr=subprocess.PIPE, text=True)
            try:
                deadline = time.time() + 10
                line = ""
                seen = []
                while " started: " not in line and time.time() < deadline and p.poll() is None:
                    line = p.stderr.readline()
                    seen.append(line)
                self.assertIn("(from systemd)", line, seen)
                status, _, body = request(path, "GET", "/v1/health")
                self.assertEqual((status, json.loads(body)["status"]), (200, "ok"))
                self.assertFalse(os.path.exists(os.path.join(root, "unused.sock")))
            finally:
                p.terminate()
                p.wait(10)
                p.stderr.close()
            self.assertTrue(os.path.exists(path), "systemd's socket file is systemd's to remove")
            listener.close()
        finally:
            sim.close()
            shutil.rmtree(root, ignore_errors=True)

    def test_stale_socket_is_replaced_and_a_live_one_is_not(self):
        root = tempfile.mkdtemp(prefix="batchd-sockfile-")
        sim = Sim()
        try:
            d = Daemon(os.path.join(root, "a"), sim)
            d.wait_ready()
            second = subprocess.run([d.proc.args[0], "--spool", os.path.join(root, "b"), "--state",
                                     os.path.join(root, "bs"), "--api-key-file", os.path.join(d.root, "key"),
                                     "--api-base", sim.base + "/v1", "--socket", d.socket],
                                    capture_output=True, text=True, timeout=30)
            self.assertNotEqual(second.returncode, 0)
            self.assertIn("another batchd is listening", second.stdout + second.stderr)
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
            d.log.close()
            self.assertTrue(os.path.exists(d.socket), "SIGKILL leaves the socket file behind")
            d = Daemon(d.root, sim)
            d.wait_ready()
            status, _, body = request(d.socket, "GET", "/v1/health")
            self.assertEqual(status, 200)
            d.stop()
            self.assertFalse(os.path.exists(d.socket), "a clean stop removes it")
        finally:
            sim.close()
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
