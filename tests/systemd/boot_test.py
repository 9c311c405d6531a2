#!/usr/bin/env python3
"""The .deb on a real systemd: a Debian 12 rootfs (debootstrap, cached) boots
in systemd-nspawn, apt installs the package, and batchd runs as the unit
ships, against a batchd-sim on the host's loopback.

Needs root, systemd-nspawn and debootstrap; elsewhere it prints one line and
exits 77 (CTest: skipped). Needs $BATCHD_SIM, $SOURCE_DIR and $BUILD_DIR.
The rootfs is cached in $BATCHD_BOOT_CACHE (default /var/cache/batchd-boot-test),
keyed by the packages it holds.
"""
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.join(os.environ["SOURCE_DIR"], "tests", "support"))
from harness import KEY, Sim, chat, wait_until  # noqa: E402

BUILD = os.environ["BUILD_DIR"]
CACHE = os.environ.get("BATCHD_BOOT_CACHE", "/var/cache/batchd-boot-test")
SUITE = "bookworm"
BASE_PACKAGES = ["systemd", "systemd-sysv", "dbus", "python3-minimal"]
SHARE = "/mnt/batchd-test"  # the host folder holding the .deb, seen read-only inside


def why_not_here():
    if os.geteuid() != 0:
        return "not root"
    for tool in ("systemd-nspawn", "debootstrap", "nsenter", "cpack"):
        if not shutil.which(tool):
            return f"{tool} is not installed"
    if not apt_mirror():
        return "no Debian mirror in the machine's apt sources"
    return None


def apt_mirror():
    """The mirror apt already uses: no other one is reachable here."""
    for path in sorted(glob.glob("/etc/apt/sources.list.d/*.sources")):
        with open(path) as f:
            text = f.read()
        for stanza in text.split("\n\n"):
            uris = re.search(r"^URIs:\s*(\S+)", stanza, re.M)
            suites = re.search(r"^Suites:\s*(.+)$", stanza, re.M)
            if uris and suites and SUITE in suites.group(1).split():
                return uris.group(1)
    if os.path.exists("/etc/apt/sources.list"):
        with open("/etc/apt/sources.list") as f:
            for line in f:
                m = re.match(r"\s*deb\s+(?:\[[^]]*\]\s+)?(\S+)\s+" + SUITE + r"\s", line)
                if m:
                    return m.group(1)
    return None


def build_deb(out_dir):
    subprocess.run(["cpack", "-G", "DEB", "-B", out_dir], cwd=BUILD, check=True, capture_output=True)
    debs = [f for f in os.listdir(out_dir) if f.endswith(".deb")]
    assert len(debs) == 1, debs
    return os.path.join(out_dir, debs[0])


def runtime_packages(deb):
    """The package's Depends, so the cached rootfs holds them and apt installs offline."""
    depends = subprocess.run(["dpkg-deb", "-f", deb, "Depends"], capture_output=True, text=True,
                             check=True).stdout
    names = []
    for part in depends.split(","):
        name = part.split("|")[0].strip().split(" ")[0]
        if name:
            names.append(real_package(name))
    return sorted(set(names))


def real_package(name):
    """debootstrap takes no virtual names (libspdlog1.10-fmt9): the package that provides it."""
    shown = subprocess.run(["apt-cache", "show", "--no-all-versions", name], capture_output=True, text=True).stdout
    if "Package:" in shown:
        return name
    shown = subprocess.run(["apt-cache", "showpkg", name], capture_output=True, text=True).stdout
    providers = shown.split("Reverse Provides:", 1)[-1].split()
    return providers[0] if providers else name


def ensure_rootfs(packages):
    """A minimal Debian rootfs with `packages`, made once and cached."""
    include = sorted(set(BASE_PACKAGES + packages))
    key = hashlib.sha256((SUITE + " " + " ".join(include)).encode()).hexdigest()[:12]
    root = os.path.join(CACHE, f"{SUITE}-{key}")
    if os.path.exists(os.path.join(root, ".batchd-ready")):
        return root, 0.0
    os.makedirs(CACHE, exist_ok=True)
    for old in glob.glob(os.path.join(CACHE, f"{SUITE}-*")):
        shutil.rmtree(old, ignore_errors=True)  # another package set, or a half-made one
    tmp = root + ".tmp"
    start = time.time()
    r = subprocess.run(["debootstrap", "--variant=minbase", "--include=" + ",".join(include), SUITE, tmp,
                        apt_mirror()], capture_output=True, text=True)
    if r.returncode != 0:
        raise AssertionError("debootstrap failed:\n" + r.stdout[-3000:] + r.stderr[-3000:])
    open(os.path.join(tmp, ".batchd-ready"), "w").close()
    os.rename(tmp, root)
    return root, time.time() - start


class Container:
    """A throwaway (--ephemeral) boot of the cached rootfs; commands run inside with nsenter."""

    def __init__(self, root, share, log_path):
        self.log = open(log_path, "w")
        self.proc = subprocess.Popen(
            ["systemd-nspawn", "-D", root, "--ephemeral", "--boot", "--register=no", "--keep-unit",
             "--console=read-only", f"--bind-ro={share}:{SHARE}"],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self.init = None

    def boot(self):
        deadline = time.time() + 30
        while self.init is None and time.time() < deadline:
            for path in glob.glob(f"/proc/{self.proc.pid}/task/*/children"):
                with open(path) as f:
                    kids = f.read().split()
                for kid in kids:  # nspawn's child becomes systemd once the container is set up
                    try:
                        with open(f"/proc/{kid}/comm") as f:
                            if f.read().strip() == "systemd":
                                self.init = kid
                    except FileNotFoundError:
                        pass
            if self.proc.poll() is not None:
                raise AssertionError(f"systemd-nspawn exited with {self.proc.returncode}; see {self.log.name}")
            time.sleep(0.05)
        assert self.init, "no init process in the container"
        # `running`, or `degraded` when some unit unrelated to batchd failed.
        while True:  # systemd is PID 1 before its bus is up
            r = self.run("systemctl is-system-running --wait", check=False, timeout=60)
            if "Failed to connect to bus" not in r.stderr or time.time() > deadline:
                break
            time.sleep(0.05)
        assert r.stdout.strip() in ("running", "degraded"), r.stdout + r.stderr

    def run(self, cmd, user=None, check=True, timeout=60, stdin=None):
        argv = ["nsenter", "-t", self.init, "-a", "--"]
        if user:
            argv += ["runuser", "-u", user, "--"]
        r = subprocess.run(argv + ["sh", "-c", cmd], capture_output=True, text=True, timeout=timeout, input=stdin)
        if check and r.returncode != 0:
            raise AssertionError(f"`{cmd}` as {user or 'root'} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
        return r

    def show(self, prop, unit="batchd"):
        return self.run(f"systemctl show -p {prop} --value {unit}").stdout.strip()

    def journal(self):
        out = self.run("journalctl -u batchd -o json --no-pager").stdout
        return [json.loads(l) for l in out.splitlines() if l.strip()]

    def messages(self):
        return [e.get("MESSAGE", "") for e in self.journal() if isinstance(e.get("MESSAGE"), str)]

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: systemd shuts down cleanly
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def drop_as(c, user, name, lines):
    """A member of the group writes a job into the inbox: a hidden name, then a rename."""
    body = "".join(json.dumps(l) + "\n" for l in lines)
    c.run(f"cat > /var/spool/batchd/inbox/.{name}.tmp && mv /var/spool/batchd/inbox/.{name}.tmp "
          f"/var/spool/batchd/inbox/{name}", user=user, stdin=body)


def job_json(c, user, name):
    r = c.run(f"cat /var/spool/batchd/outbox/{name}/job.json", user=user, check=False)
    try:
        return json.loads(r.stdout) if r.returncode == 0 else None
    except json.JSONDecodeError:
        return None


def wait_job(c, user, name):
    """The job's job.json, read as `user`, once it has ended."""
    return wait_until(name + " to end", lambda: (j := job_json(c, user, name)) and
                      j["status"] in ("completed", "failed", "cancelled") and j, timeout=60)


class Boot(unittest.TestCase):
    def test_the_package_on_a_real_systemd(self):
        timings = {}
        work = tempfile.mkdtemp(prefix="batchd-boot-test-")
        sim = Sim()
        c = None
        try:
            t0 = time.time()
            deb = build_deb(work)
            root, made_in = ensure_rootfs(runtime_packages(deb))
            timings["rootfs made"] = made_in
            t = time.time()
            c = Container(root, work, os.path.join(work, "nspawn.log"))
            c.boot()
            timings["boot"] = time.time() - t

            # Install with apt, as a user would; the dependencies are in the cached rootfs.
            c.run(f"cp {SHARE}/{os.path.basename(deb)} /root/ && apt-get install -y /root/{os.path.basename(deb)}",
                  timeout=120)
            c.run("useradd -m -G batchd alice && useradd -m bob")
            c.run("umask 077 && cat > /etc/batchd/api-key", stdin=KEY + "\n")
            config = json.loads(c.run("cat /etc/batchd/batchd.json").stdout)
            config["api"]["base_url"] = sim.base + "/v1"  # the host's loopback: the network is shared
            config["time_scale"] = 20000  # the sim's scale: a 24-hour window passes in seconds
            config["pipeline"]["inbox_settle_s"] = 0.2
            write_config = lambda cfg: c.run("cat > /etc/batchd/batchd.json", stdin=json.dumps(cfg, indent=2))
            write_config(config)
            # Quicker watchdog and restart than shipped, so the test waits seconds, not minutes;
            # and the hook that lets the test stall the event loop.
            c.run("mkdir -p /etc/systemd/system/batchd.service.d && cat > "
                  "/etc/systemd/system/batchd.service.d/test.conf && systemctl daemon-reload",
                  stdin="[Service]\nWatchdogSec=3s\nRestartSec=1s\nEnvironment=BATCHD_TEST_STALL_ON_SIGUSR2=1\n")

            # Start: active only after READY=1, with a STATUS line.
            t = time.time()
            c.run("systemctl start batchd", timeout=60)
            timings["start"] = time.time() - t
            self.assertEqual(c.show("ActiveState"), "active")
            self.assertEqual(c.show("SubState"), "running")
            self.assertRegex(c.show("StatusText"), r"job\(s\)")
            self.assertEqual(c.show("User"), "batchd")

            # A member of the group drops a job; the key came through LoadCredential
            # (the sim refuses any other), and the member reads the results.
            drop_as(c, "alice", "reviews.jsonl", [chat(i) for i in range(20)])
            job = wait_job(c, "alice", "reviews")
            self.assertEqual(job["status"], "completed", job)
            results = c.run("cat /var/spool/batchd/outbox/reviews/results.jsonl", user="alice").stdout
            self.assertEqual(sorted(json.loads(l)["custom_id"] for l in results.splitlines()),
                             sorted(f"chat-{i}" for i in range(20)))
            self.assertFalse(any(KEY in m for m in c.messages()), "the key is never logged")
            # The only way in: the config names no key file and the unit sets no key variable.
            self.assertEqual(config["api"]["key_file"], "")
            c.run("test -f /run/credentials/batchd.service/openai-api-key")
            self.assertNotIn("OPENAI_API_KEY", c.show("Environment"))

            # The member cancels a running job with batchctl.
            sim.set_faults({"finalizing_stuck_s": 1e9})
            drop_as(c, "alice", "stuck.jsonl", [chat(i) for i in range(5)])
            wait_until("stuck to have a batch", lambda: (j := job_json(c, "alice", "stuck")) and j.get("batches"))
            r = c.run("batchctl cancel stuck", user="alice", check=False)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            job = wait_job(c, "alice", "stuck")
            self.assertEqual(job["status"], "cancelled", job)
            sim.set_faults({"finalizing_stuck_s": 0})
            shown = c.run("batchctl show reviews --json", user="alice")
            self.assertEqual(json.loads(shown.stdout)["status"], "completed")

            # A user outside the group cannot connect.
            r = c.run("batchctl health", user="bob", check=False)
            self.assertNotEqual(r.returncode, 0)
            self.assertRegex(r.stderr + r.stdout, r"(?i)permission denied")

            # Reload: succeeds, and the log says what changed. A broken file is refused
            # with an error, and the daemon runs on with what it had.
            config["pipeline"]["poll_cap_s"] = 300
            config["api"]["max_retries"] = 7  # not applied by a reload: the log must say so
            write_config(config)
            r = c.run("systemctl reload batchd", check=False)
            self.assertEqual(r.returncode, 0, r.stderr)
            wait_until("the reload line", lambda: any("pipeline.poll_cap_s 600 → 300" in m for m in c.messages()))
            self.assertTrue(any("api.max_retries changed; that takes effect at the next start" in m
                                for m in c.messages()), "a setting a reload cannot apply is named")
            self.assertFalse(any("poll_cap_s changed; that takes effect" in m for m in c.messages()))
            broken = dict(config, pipeline=dict(config["pipeline"], poll_cap=1))
            write_config(broken)
            self.assertEqual(c.run("systemctl reload batchd", check=False).returncode, 0)
            wait_until("the refused reload", lambda: any("keeping the running configuration" in m for m in c.messages()))
            self.assertEqual(c.show("ActiveState"), "active")
            write_config(config)

            # journald reads the priority prefixes: info is 6, the refused reload 3.
            entries = c.journal()
            priority = lambda needle: next(e["PRIORITY"] for e in entries if needle in e.get("MESSAGE", ""))
            self.assertEqual(priority(" started: "), "6")
            self.assertEqual(priority("keeping the running configuration"), "3")
            self.assertFalse(any(e.get("MESSAGE", "").startswith("<") for e in entries), "no raw <N> prefixes")

            # A stalled event loop stops the watchdog pings: systemd restarts batchd.
            first_pid = c.show("MainPID")
            t = time.time()
            c.run("systemctl kill --kill-who=main -s SIGUSR2 batchd")
            wait_until("the watchdog restart", lambda: c.show("NRestarts") == "1" and c.show("ActiveState") == "active"
                       and c.show("MainPID") not in ("0", first_pid), timeout=30)
            timings["watchdog restart"] = time.time() - t
            self.assertTrue(any("Watchdog timeout" in m for m in
                                c.run("journalctl --no-pager -u batchd").stdout.splitlines()))
            self.assertEqual(c.run("batchctl health --json", user="alice", check=False).returncode, 0)

            # Stop: exit 0.
            c.run("systemctl stop batchd")
            self.assertEqual(c.show("ExecMainStatus"), "0")
            self.assertEqual(c.show("Result"), "success")

            # Socket activation, as after a boot (tmpfiles, then the socket): systemd
            # holds the socket, the first connection starts batchd, which serves on it.
            c.run("rm -rf /run/batchd && systemd-tmpfiles --create batchd.conf && systemctl start batchd.socket")
            self.assertEqual(c.show("ActiveState"), "inactive")
            r = c.run("batchctl health", user="alice", check=False, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertEqual(c.show("ActiveState"), "active")
            self.assertTrue(any("(from systemd)" in m for m in c.messages()))
            drop_as(c, "alice", "after.jsonl", [chat(i) for i in range(3)])
            job = wait_job(c, "alice", "after")
            self.assertEqual(job["status"], "completed", job)
            c.run("systemctl stop batchd batchd.socket")
            timings["whole test"] = time.time() - t0
            print("boot test: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()), file=sys.stderr)
        except Exception:
            if c:
                print(c.run("journalctl --no-pager -u batchd -u batchd.socket | tail -60", check=False).stdout,
                      file=sys.stderr)
            raise
        finally:
            if c:
                c.close()
            sim.close()
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    reason = why_not_here()
    if reason:
        print(f"boot test skipped: {reason} (needs root, systemd-nspawn and debootstrap)")
        sys.exit(77)
    unittest.main(verbosity=2)
