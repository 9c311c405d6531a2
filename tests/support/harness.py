"""Test harness: the real batchd and batchd-sim as processes (Sim, Daemon),
and request lines to feed them. Binaries come from $BATCHD and $BATCHD_SIM;
both run on a scaled clock so a 24-hour batch window passes in seconds.
"""
import atexit
import json
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.request

BATCHD = os.environ.get("BATCHD", "build/release/daemon/batchd")
SIM = os.environ.get("BATCHD_SIM", "build/release/sim/batchd-sim")
KEY = "sk-daemon-test-0123456789"
PRICING = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "etc", "pricing.json")
SCALE = "20000"  # 24 h = 4.3 s


_processes = []  # every process started here, so a failed test leaves none running


@atexit.register
def _kill_leftovers():
    for p in _processes:
        if p.poll() is None:
            p.kill()
            p.wait()


class Sim:
    def __init__(self, faults=None, args=(), ca=None, seed=11, scale=SCALE):
        self.ca = ca  # the CA of an HTTPS simulator's certificate
        args = [SIM, "--port", "0", "--time-scale", str(scale), "--seed", str(seed), *args]
        if faults:
            args += ["--faults", json.dumps(faults)]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True,
                                     env={**os.environ, "BATCHD_SIM_API_KEY": KEY})
        _processes.append(self.proc)
        line = self.proc.stdout.readline()
        self.base = line.strip().rsplit(" ", 1)[1]

    def stats(self):
        context = ssl.create_default_context(cafile=self.ca) if self.ca else None
        with urllib.request.urlopen(self.base + "/admin/stats", context=context) as r:
            return json.load(r)

    def set_faults(self, faults):
        """Changes faults at run time (POST /admin/faults); batch faults apply to batches created after."""
        context = ssl.create_default_context(cafile=self.ca) if self.ca else None
        req = urllib.request.Request(self.base + "/admin/faults", data=json.dumps(faults).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, context=context) as r:
            return json.load(r)

    def close(self):
        self.proc.terminate()
        self.proc.wait(10)
        self.proc.stdout.close()


class Daemon:
    def __init__(self, root, sim, crash_at=None, max_requests=None, list_refresh_from=None, key=KEY,
                 config=None, pricing=PRICING, wrap=(), state=None, scale=SCALE):
        self.root, self.sim = root, sim
        os.makedirs(root, exist_ok=True)
        with open(os.path.join(root, "key"), "w") as f:
            f.write(key + "\n")
        extra = config or {}
        config = {"pipeline": {"max_attempts": 3, "inbox_settle_s": 0.1}}
        for section, values in extra.items():
            if isinstance(values, dict):
                config.setdefault(section, {}).update(values)
            else:
                config[section] = values
        if max_requests:
            config["pipeline"]["max_requests_per_batch"] = max_requests
        if list_refresh_from:
            config["pipeline"]["list_refresh_from"] = list_refresh_from
        with open(os.path.join(root, "batchd.json"), "w") as f:
            json.dump(config, f)
        env = {**os.environ}
        env.pop("OPENAI_API_KEY", None)
        env["BATCHD_STRICT_MOVES"] = "1"  # a move the stage table forbids aborts the daemon: tests see it
        if crash_at:
            env["BATCHD_CRASH_AT"] = crash_at
        self.log = open(os.path.join(root, "batchd.log"), "a")
        self.log_start = self.log.tell()  # this run's lines begin here
        self.state = state or os.path.join(root, "state")
        self.proc = subprocess.Popen(
            [*wrap, BATCHD, "--config", os.path.join(root, "batchd.json"), "--spool", self.spool, "--state",
             self.state, "--api-base", sim.base + "/v1", "--api-key-file",
             os.path.join(root, "key"), "--time-scale", str(scale), "--socket", self.socket,
             *(["--pricing", pricing] if pricing else [])],
            stdout=self.log, stderr=subprocess.STDOUT, env=env)
        _processes.append(self.proc)

    def wait_ready(self):
        deadline = time.time() + 10
        while time.time() < deadline:
            with open(self.log.name) as f:
                f.seek(self.log_start)
                if " started: " in f.read():
                    return
            if self.proc.poll() is not None:
                raise AssertionError(f"batchd exited with {self.proc.returncode}; see {self.log.name}")
            time.sleep(0.02)
        raise AssertionError("batchd did not start")

    @property
    def socket(self):
        return os.path.join(self.root, "batchd.sock")

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


# HTTP over the control socket, raw, so that tests see exactly what was sent.
def exchange(path, raw, timeout=10):
    """Sends raw bytes, returns (status, headers, body) of the one response."""
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect(path)
    s.sendall(raw)
    data = b""
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (l.split(":", 1) for l in lines[1:])}
    return int(lines[0].split()[1]), headers, body.decode()


def get(path, target):
    """GET a route over the control socket; its JSON body."""
    return json.loads(request(path, "GET", target)[2])


def post(path, target, body=b""):
    """POST to a route over the control socket: (status, JSON body)."""
    status, _, text = request(path, "POST", target, body)
    return status, json.loads(text)


def wait_until(what, fn, timeout=30):
    """fn()'s first truthy value, polled; fails after `timeout` seconds."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.02)
    raise AssertionError("timed out waiting for " + what)


def request(path, method, target, body=b"", headers=None):
    h = {"Host": "localhost", "Connection": "close", "Content-Length": str(len(body)), **(headers or {})}
    raw = f"{method} {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    return exchange(path, raw.encode() + body)
