#!/usr/bin/env python3
"""The real agent's command line (docs/guestd.8): options and their errors, signals, pidfile,
daemonizing, -D/-n, the log file and SIGHUP, blocked commands, socket group; guestctl's exit
statuses; guest-shutdown run for real against a fake shutdown program in a private mount
namespace."""
import json
import os
import re
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import textwrap
import time
import unittest

import gdtest


wait_for = gdtest.wait_for


def alive(pid):
    """pid exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def read(path):
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return ""


answers = gdtest.answers


class Tmp(unittest.TestCase):
    """A temp dir and an empty config file per test; agents started with start() are killed
    at the end whatever happens."""

    def setUp(self):
        self.d = tempfile.mkdtemp(prefix="guestd-cli-")
        self.conf = self.p("empty.conf")
        open(self.conf, "w").close()
        self.procs = []

    def tearDown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
            p.stdout.close()
            p.stderr.close()
        shutil.rmtree(self.d, ignore_errors=True)

    def p(self, *names):
        return os.path.join(self.d, *names)

    def run_agent(self, *args, timeout=10):
        return subprocess.run([gdtest.AGENT, *args], capture_output=True, text=True,
                              timeout=timeout)

    def start(self, *args, sock=None, **kw):
        """An agent in the foreground; waits for sock when given."""
        proc = subprocess.Popen([gdtest.AGENT, *args], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, **kw)
        self.procs.append(proc)
        if sock:
            ok = wait_for(lambda: os.path.exists(sock) or proc.poll() is not None, 10)
            self.assertTrue(ok and proc.poll() is None,
                            f"agent did not start: {proc.poll()} {proc.stderr.read() if proc.poll() is not None else ''}")
        return proc

    def unix(self, sock, *more):
        return ("-c", self.conf, "-t", self.d, "-m", "unix-listen", "-p", sock, *more)

    def one_line_error(self, r, *names):
        self.assertNotEqual(r.returncode, 0, r)
        self.assertEqual(r.stdout, "")
        lines = r.stderr.splitlines()
        self.assertEqual(len(lines), 1, f"one line on stderr: {r.stderr!r}")
        for n in names:
            self.assertIn(n, lines[0])
        return lines[0]


class Options(Tmp):
    def test_version(self):
        r = self.run_agent("-V")
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^guestd \d+\.\d+\.\d+\n$")
        self.assertEqual(r.stderr, "")
        r2 = self.run_agent("--version")
        self.assertEqual(r2.stdout, r.stdout)

    def test_help(self):
        for flag in ("-h", "--help"):
            r = self.run_agent(flag)
            self.assertEqual(r.returncode, 0)
            self.assertTrue(r.stdout.startswith("Usage: guestd"), r.stdout[:100])
            for opt in ("--method", "--path", "--pidfile", "--daemonize", "--retry-path",
                        "--block-rpcs", "--dump-conf", "--check-config", "--socket-group"):
                self.assertIn(opt, r.stdout)
            self.assertEqual(r.stderr, "")

    def test_bad_command_lines(self):
        cases = [
            (("--bogus",), ("--bogus",)),
            (("-x",), ("-x",)),
            (("-p",), ("-p", "argument")),
            (("-m", "bogus"), ("bogus", "method")),
            (("-m", "unix-listen"), ("unix-listen", "-p")),
            (("--max-in-flight", "abc"), ("--max-in-flight", "abc")),
            (("--max-in-flight", "0"), ("--max-in-flight", "0")),
            (("--max-in-flight",), ("--max-in-flight", "argument")),
            (("--socket-mode", "999"), ("--socket-mode", "999")),
            (("extra-arg",), ("extra-arg",)),
        ]
        for args, names in cases:
            with self.subTest(args=args):
                r = self.run_agent("-c", self.conf, *args)
                self.assertEqual(r.returncode, 1, r)
                self.one_line_error(r, *names)

    def test_missing_device(self):
        r = self.run_agent("-c", self.conf, "-m", "virtio-serial", "-p", "/nonexistent/x")
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/x", r.stderr)
        self.assertIn("--retry-path", r.stderr)

    def test_retry_path_waits(self):
        proc = self.start("-c", self.conf, "-t", self.d, "-m", "virtio-serial", "-p",
                          "/nonexistent/x", "--retry-path")
        time.sleep(0.5)
        self.assertIsNone(proc.poll(), "keeps running while the device is missing")
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        self.assertLess(time.monotonic() - t0, 1.5, "no grace period: nothing was running")
        err = proc.stderr.read()
        self.assertNotIn("still running", err)

    def test_socket_group_missing(self):
        sock = self.p("s")
        r = self.run_agent(*self.unix(sock, "--socket-group", "no-such-group-xyz"))
        self.assertEqual(r.returncode, 1)
        self.assertIn("no-such-group-xyz", r.stderr)
        self.assertFalse(os.path.exists(sock), "no socket left behind")

    def test_socket_group_number(self):
        sock = self.p("s")
        proc = self.start(*self.unix(sock, "--socket-group", "4242", "--socket-mode", "0660"),
                          sock=sock)
        st = os.stat(sock)
        self.assertEqual(st.st_gid, 4242)
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o660)
        proc.terminate()
        self.assertEqual(proc.wait(10), 0)


class Signals(Tmp):
    def _clean_exit(self, sig):
        sock, pidfile = self.p("s"), self.p("pid")
        proc = self.start(*self.unix(sock, "-f", pidfile), sock=sock)
        with open(pidfile) as f:
            self.assertEqual(int(f.read()), proc.pid)
        self.assertTrue(answers(sock))
        proc.send_signal(sig)
        self.assertEqual(proc.wait(10), 0)
        self.assertFalse(os.path.exists(sock), "socket removed")
        self.assertFalse(os.path.exists(pidfile), "pidfile removed")
        self.assertEqual(proc.stderr.read(), "")

    def test_sigterm(self):
        self._clean_exit(signal.SIGTERM)

    def test_sigint(self):
        self._clean_exit(signal.SIGINT)

    def test_sigterm_with_client_connected(self):
        sock = self.p("s")
        proc = self.start(*self.unix(sock), sock=sock)
        c = gdtest.Conn(sock)
        c.send('{"execute":"guest-sync","argu')  # a partial request
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        self.assertEqual(c.s.recv(10), b"", "the client sees the end")
        c.close()

    def test_pidfile_locked(self):
        pidfile = self.p("pid")
        first = self.start(*self.unix(self.p("s1"), "-f", pidfile), sock=self.p("s1"))
        r = self.run_agent(*self.unix(self.p("s2"), "-f", pidfile))
        self.assertEqual(r.returncode, 1)
        self.assertIn("locked", r.stderr)
        self.assertIn(pidfile, r.stderr)
        self.assertFalse(os.path.exists(self.p("s2")))
        with open(pidfile) as f:
            self.assertEqual(int(f.read()), first.pid, "the first agent's pidfile kept")
        self.assertTrue(answers(self.p("s1")))

    def test_daemonize(self):
        sock, pidfile = self.p("s"), self.p("pid")
        r = self.run_agent(*self.unix(sock, "-d", "-f", pidfile))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        with open(pidfile) as f:
            pid = int(f.read())
        try:
            self.assertTrue(alive(pid))
            self.assertTrue(os.path.exists(sock), "listening before the parent exits")
            self.assertTrue(answers(sock))
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            self.assertNotEqual(int(fields[3]), os.getsid(0), "in a session of its own")
            self.assertEqual(os.readlink(f"/proc/{pid}/cwd"), "/")
        finally:
            os.kill(pid, signal.SIGTERM)
        self.assertTrue(wait_for(lambda: not alive(pid), 10), "daemon stops on SIGTERM")
        self.assertFalse(os.path.exists(sock))
        self.assertFalse(os.path.exists(pidfile))

    def test_daemonize_default_pidfile(self):
        """-d without -f: GD_DEFAULT_STATEDIR/guestd.pid (build/gd_config.h), as qemu-ga's
        /var/run/qemu-ga.pid. Only where that directory exists and no agent uses the file."""
        conf_h = os.path.join(os.path.dirname(gdtest.AGENT), "gd_config.h")
        try:
            with open(conf_h) as f:
                statedir = re.search(r'GD_DEFAULT_STATEDIR "([^"]*)"', f.read()).group(1)
        except (OSError, AttributeError):
            self.skipTest(f"no GD_DEFAULT_STATEDIR in {conf_h}")
        pidfile = os.path.join(statedir, "guestd.pid")
        if not os.path.isdir(statedir) or not os.access(statedir, os.W_OK):
            self.skipTest(f"{statedir} does not exist or is not writable")
        if os.path.exists(pidfile):
            self.skipTest(f"{pidfile} exists")
        sock = self.p("s")
        r = self.run_agent(*self.unix(sock, "-d"))
        self.assertEqual(r.returncode, 0, r.stderr)
        with open(pidfile) as f:
            pid = int(f.read())
        try:
            self.assertTrue(alive(pid))
            self.assertTrue(answers(sock))
        finally:
            os.kill(pid, signal.SIGTERM)
        self.assertTrue(wait_for(lambda: not alive(pid), 10))
        self.assertFalse(os.path.exists(pidfile))

    def test_daemonize_startup_error(self):
        """A daemon that cannot start makes the parent exit 1 and say why."""
        pidfile = self.p("pid")
        first = self.start(*self.unix(self.p("s1"), "-f", pidfile), sock=self.p("s1"))
        r = self.run_agent(*self.unix(self.p("s2"), "-d", "-f", pidfile))
        self.assertEqual(r.returncode, 1)
        self.assertIn("locked", r.stderr)
        self.assertIsNone(first.poll())

    def test_notify_socket_ignores_daemonize(self):
        """Under systemd Type=notify, -d is ignored with a warning and READY=1 is sent."""
        sock, nsock = self.p("s"), self.p("notify")
        n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        n.bind(nsock)
        n.settimeout(10)
        try:
            env = dict(os.environ, NOTIFY_SOCKET=nsock)
            proc = self.start(*self.unix(sock, "-d"), sock=sock, env=env)
            self.assertEqual(n.recv(100), b"READY=1")
            self.assertIsNone(proc.poll(), "did not fork away")
            self.assertTrue(answers(sock))
            proc.terminate()
            self.assertEqual(proc.wait(10), 0)
            err = proc.stderr.read()
            self.assertIn("NOTIFY_SOCKET", err)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertEqual(n.recv(100), b"STOPPING=1")
        finally:
            n.close()


class Config(Tmp):
    def test_dump_round_trip(self):
        args = ("-c", self.conf, "-m", "unix-listen", "-p", self.p("s"),
                "--listen", "vsock-listen:-1:4000", "-b", "guest-exec,guest-file-open",
                "-b", "guest-ping", "--max-in-flight", "7", "--socket-mode", "0660",
                "-f", self.p("pid"), "-v", "-v", "--plugin-timeout", "12", "-D")
        r = self.run_agent(*args)
        self.assertEqual(r.returncode, 0, r.stderr)
        first = r.stdout
        self.assertTrue(first.startswith("[general]\n"))
        for line in ("method=unix-listen", f"path={self.p('s')}", "listen=vsock-listen:-1:4000",
                     "block-rpcs=guest-exec,guest-file-open,guest-ping", "max-in-flight=7",
                     "socket-mode=0660", "verbose=2", "plugin-timeout=12"):
            self.assertIn(line + "\n", first)
        dumped = self.p("dumped.conf")
        with open(dumped, "w") as f:
            f.write(first)
        r2 = self.run_agent("-c", dumped, "-D")
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertEqual(r2.stdout, first)
        r3 = self.run_agent("-c", dumped, "-n")
        self.assertEqual(r3.returncode, 0, r3.stderr)

    def test_check_bad_key(self):
        bad = self.p("bad.conf")
        with open(bad, "w") as f:
            f.write("[general]\nverbose=1\n\nbogus-key=3\n")
        r = self.run_agent("-c", bad, "-n")
        self.assertEqual(r.returncode, 1)
        line = self.one_line_error(r, f"{bad}:4", "bogus-key")
        self.assertIn("unknown key", line)

    def test_check_bad_value(self):
        bad = self.p("bad.conf")
        with open(bad, "w") as f:
            f.write("[general]\nmax-depth=lots\n")
        r = self.run_agent("-c", bad, "-n")
        self.assertEqual(r.returncode, 1)
        self.one_line_error(r, f"{bad}:2", "max-depth", "lots")

    def test_check_ok(self):
        r = self.run_agent("-c", self.conf, "-n")
        self.assertEqual(r.returncode, 0)
        self.assertIn("OK", r.stdout)

    def test_missing_config(self):
        r = self.run_agent("-c", self.p("nope.conf"), "-n")
        self.assertEqual(r.returncode, 1)
        self.one_line_error(r, self.p("nope.conf"))


class Logging(Tmp):
    def test_logfile_and_sighup(self):
        sock, log = self.p("s"), self.p("guestd.log")
        proc = self.start(*self.unix(sock, "-l", log, "-vv"), sock=sock)
        self.assertTrue(wait_for(lambda: "ready" in read(log)))
        self.assertTrue(answers(sock))
        self.assertTrue(wait_for(lambda: "connection ended" in read(log)))
        os.rename(log, log + ".1")
        proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: os.path.exists(log)), "SIGHUP reopens the file")
        self.assertIsNone(proc.poll(), "SIGHUP does not stop the agent")
        self.assertTrue(answers(sock))
        self.assertTrue(wait_for(lambda: "connected" in read(log)),
                        "new lines go to the new file")
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(10), 0)
        with open(log) as f:
            new = f.read()
        with open(log + ".1") as f:
            old = f.read()
        self.assertIn("ready", old)
        self.assertNotIn("ready", new)
        for s in ("connected", "run guest-ping", "shutting down", "stopped"):
            self.assertIn(s, new)
        self.assertNotIn("shutting down", old)
        self.assertEqual(proc.stderr.read(), "", "nothing on stderr with -l")

    def test_verbose_levels(self):
        """Without -v only warnings and errors; -v adds info, not debug."""
        sock, log = self.p("s"), self.p("log")
        for flags, want, not_want in (((), (), ("info:", "debug:")),
                                      (("-v",), ("info: guestd",), ("debug:",))):
            proc = self.start(*self.unix(sock, "-l", log, *flags), sock=sock)
            self.assertTrue(answers(sock))
            proc.terminate()
            self.assertEqual(proc.wait(10), 0)
            with open(log) as f:
                text = f.read()
            os.unlink(log)
            for w in want:
                self.assertIn(w, text)
            for w in not_want:
                self.assertNotIn(w, text)

    def test_unwritable_logfile(self):
        r = self.run_agent(*self.unix(self.p("s"), "-l", self.p("no", "such", "dir", "log")))
        self.assertEqual(r.returncode, 1)
        self.one_line_error(r, "log")


class Blocked(Tmp):
    def test_block_ping(self):
        sock = self.p("s")
        self.start(*self.unix(sock, "-b", "guest-ping"), sock=sock)
        c = gdtest.Conn(sock)
        try:
            r = c.call(self, "guest-ping")
            self.assertEqual(r["error"]["class"], "CommandNotFound")
            self.assertEqual(r["error"]["desc"], "Command guest-ping has been disabled")
            self.assertEqual(c.call(self, "guest-sync", {"id": 1}), {"return": 1})
        finally:
            c.close()

    def test_allow_list(self):
        sock = self.p("s")
        self.start(*self.unix(sock, "-a", "guest-sync,guest-info"), sock=sock)
        c = gdtest.Conn(sock)
        try:
            r = c.call(self, "guest-ping")
            self.assertEqual(r["error"]["desc"], "Command guest-ping has been disabled")
            self.assertEqual(c.call(self, "guest-sync", {"id": 2}), {"return": 2})
        finally:
            c.close()


class Guestctl(gdtest.AgentTest):
    def ctl(self, *args, sock=None, timeout=20):
        if not gdtest.GUESTCTL:
            self.skipTest("no guestctl given")
        return subprocess.run([gdtest.GUESTCTL, "-s", sock or self.agent.sock, *args],
                              capture_output=True, text=True, timeout=timeout)

    def test_ping(self):
        r = self.ctl("ping")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "pong\n", ""))

    def test_call_sync(self):
        r = self.ctl("call", "guest-sync", '{"id":5}')
        self.assertEqual((r.returncode, r.stdout.strip(), r.stderr), (0, "5", ""))

    def test_call_unknown(self):
        r = self.ctl("call", "guest-nope")
        self.assertEqual(r.returncode, 1)
        self.assertEqual(r.stdout, "")
        self.assertIn("guest-nope", r.stderr)
        self.assertEqual(len(r.stderr.splitlines()), 1, r.stderr)

    def test_call_error_desc(self):
        r = self.ctl("call", "guest-file-open", '{"path":"/nonexistent/x"}')
        self.assertEqual(r.returncode, 1)
        self.assertIn("/nonexistent/x", r.stderr)
        self.assertIn("No such file", r.stderr)

    def test_bad_json(self):
        for bad in ("{bad", "[1,2]", '"str"'):
            with self.subTest(bad=bad):
                r = self.ctl("call", "guest-sync", bad)
                self.assertEqual(r.returncode, 2, r)
                self.assertIn("JSON", r.stderr)

    def test_dead_socket(self):
        d = tempfile.mkdtemp(prefix="guestd-cli-")
        try:
            missing = os.path.join(d, "missing")
            r = self.ctl("ping", sock=missing)
            self.assertEqual(r.returncode, 1)
            self.assertIn(missing, r.stderr)
            self.assertIn("No such file", r.stderr)
            stale = os.path.join(d, "stale")
            s = socket.socket(socket.AF_UNIX)
            s.bind(stale)
            s.close()  # the file stays, nobody listens
            r = self.ctl("ping", sock=stale)
            self.assertEqual(r.returncode, 1)
            self.assertIn(stale, r.stderr)
            self.assertIn("refused", r.stderr)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_no_socket_given(self):
        if not gdtest.GUESTCTL:
            self.skipTest("no guestctl given")
        env = {k: v for k, v in os.environ.items() if k != "GUESTD_SOCKET"}
        r = subprocess.run([gdtest.GUESTCTL, "ping"], capture_output=True, text=True,
                           timeout=10, env=env)
        self.assertNotEqual(r.returncode, 0)
        self.assertTrue(r.stderr.strip())
        env["GUESTD_SOCKET"] = self.agent.sock
        r = subprocess.run([gdtest.GUESTCTL, "ping"], capture_output=True, text=True,
                           timeout=10, env=env)
        self.assertEqual((r.returncode, r.stdout), (0, "pong\n"))


FAKE_SHUTDOWN = """\
#!/bin/sh
printf '%s\\n' "$@" > {dir}/argv.tmp
mv {dir}/argv.tmp {dir}/argv
exit $(cat {dir}/status)
"""


class Shutdown(unittest.TestCase):
    """guest-shutdown runs /sbin/shutdown for real: the agent runs in a private mount namespace
    where the directory /sbin resolves to is a tmpfs holding a fake shutdown that records its
    arguments and exits with the status in a file."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            raise unittest.SkipTest("needs root for unshare --mount")
        if not shutil.which("unshare"):
            raise unittest.SkipTest("no unshare")
        sbin = os.path.realpath("/sbin")   # /usr/sbin on merged-/usr systems
        agent = os.path.realpath(gdtest.AGENT)
        if agent.startswith(sbin + "/"):
            raise unittest.SkipTest(f"the agent lives in {sbin}")
        r = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh",
                            "-c", f"mount -t tmpfs tmpfs {sbin} && test ! -e {sbin}/shutdown"],
                           capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise unittest.SkipTest(f"unshare --mount does not work here: {r.stderr.strip()}")
        cls.d = tempfile.mkdtemp(prefix="guestd-shutdown-")
        cls.sock = os.path.join(cls.d, "s")
        fake = os.path.join(cls.d, "fake-shutdown")
        with open(fake, "w") as f:
            f.write(FAKE_SHUTDOWN.format(dir=cls.d))
        os.chmod(fake, 0o755)
        with open(os.path.join(cls.d, "status"), "w") as f:
            f.write("0\n")
        open(os.path.join(cls.d, "none.conf"), "w").close()
        script = textwrap.dedent(f"""\
            set -e
            mount -t tmpfs -o mode=0755 tmpfs {sbin}
            cp {fake} {sbin}/shutdown
            exec "$@"
            """)
        cls.stderr = open(os.path.join(cls.d, "stderr"), "w+")
        cls.proc = subprocess.Popen(
            # no --fork: unshare and sh exec into the agent, whose pid is proc.pid
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
             agent, "-m", "unix-listen", "-p", cls.sock, "-t", cls.d,
             "-c", os.path.join(cls.d, "none.conf")], stderr=cls.stderr)
        if not wait_for(lambda: os.path.exists(cls.sock) or cls.proc.poll() is not None, 10) \
                or cls.proc.poll() is not None:
            cls.stderr.seek(0)
            raise RuntimeError(f"agent did not start: {cls.stderr.read()}")
        assert os.path.realpath(f"/proc/{cls.proc.pid}/exe") == agent, "unshare execs the agent"
        # the namespace's tmpfs did not leak: the host's shutdown is not the fake
        host = os.path.join(sbin, "shutdown")
        if os.path.exists(host):
            with open(host, "rb") as a, open(fake, "rb") as b:
                assert a.read(4096) != b.read(), "the fake leaked into the host's " + sbin

    @classmethod
    def tearDownClass(cls):
        if cls.proc.poll() is None:
            cls.proc.terminate()
            try:
                cls.status = cls.proc.wait(10)
            except subprocess.TimeoutExpired:
                cls.proc.kill()
                cls.proc.wait()
        cls.stderr.close()
        shutil.rmtree(cls.d, ignore_errors=True)

    def setUp(self):
        self.argv = os.path.join(self.d, "argv")
        if os.path.exists(self.argv):
            os.unlink(self.argv)
        self.c = gdtest.Conn(self.sock)

    def tearDown(self):
        self.c.close()
        self.assertIsNone(self.proc.poll(), "agent died")

    def status(self, n):
        with open(os.path.join(self.d, "status"), "w") as f:
            f.write(f"{n}\n")

    def recorded(self):
        self.assertTrue(wait_for(lambda: os.path.exists(self.argv), 5), "shutdown was not run")
        with open(self.argv) as f:
            return f.read().splitlines()

    def test_powerdown_no_reply(self):
        self.status(0)
        self.c.request("guest-shutdown")
        self.assertEqual(self.recorded(), ["-h", "-P", "+0", "hypervisor initiated shutdown"])
        self.assertIsNone(self.c.expect_silence(0.5), "no reply on success (qemu-ga)")
        self.assertEqual(self.c.call(self, "guest-ping"), {"return": {}}, "still serving")

    def test_mode_powerdown_explicit_tagged(self):
        self.status(0)
        self.c.request("guest-shutdown", {"mode": "powerdown"}, tag="t1")
        self.assertEqual(self.recorded(), ["-h", "-P", "+0", "hypervisor initiated shutdown"])
        self.assertIsNone(self.c.expect_silence(0.5), "no reply on success, tagged or not")

    def test_halt(self):
        self.status(0)
        self.c.request("guest-shutdown", {"mode": "halt"})
        self.assertEqual(self.recorded(), ["-h", "-H", "+0", "hypervisor initiated shutdown"])
        self.assertIsNone(self.c.expect_silence(0.5))

    def test_reboot(self):
        self.status(0)
        self.c.request("guest-shutdown", {"mode": "reboot"})
        self.assertEqual(self.recorded(), ["-r", "+0", "hypervisor initiated reboot"])
        self.assertIsNone(self.c.expect_silence(0.5))

    def test_failure_replies(self):
        self.status(3)
        r = self.c.call(self, "guest-shutdown", tag="f")
        self.assertIn("error", r)
        self.assertEqual(r["tag"], "f")
        self.assertIn("status 3", r["error"]["desc"])
        self.assertEqual(self.recorded(), ["-h", "-P", "+0", "hypervisor initiated shutdown"])

    def test_bad_mode(self):
        r = self.c.call(self, "guest-shutdown", {"mode": "sideways"})
        self.assertIn("error", r)
        self.assertIn("mode", r["error"]["desc"])
        self.assertFalse(os.path.exists(self.argv), "nothing run for a bad mode")


if __name__ == "__main__":
    gdtest.main()
