"""Test harness for the integration tests: start the real agent on a temp unix socket, talk raw
bytes to it, and validate every reply against PROTOCOL.md §3 and schema/.

Each test file is a unittest module run by meson: `python3 tests/integration/test_x.py AGENT`.
"""
import base64
import errno
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

SRC = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
AGENT = os.environ.get("GUESTD_AGENT")          # build/guestd-test, set by main()
GUESTCTL = os.environ.get("GUESTD_GUESTCTL")    # build/guestctl

_schema = None


def schema():
    global _schema
    if _schema is None:
        _schema = {}
        for d in ("schema/commands", "schema/test"):
            for fn in os.listdir(os.path.join(SRC, d)):
                if fn.endswith(".json"):
                    with open(os.path.join(SRC, d, fn)) as f:
                        c = json.load(f)
                    _schema[c["name"]] = c
    return _schema


ERRNO_NAMES = {v: k for k, v in errno.errorcode.items()}

TYPE_CHECK = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "null": lambda v: v is None,
    "any": lambda v: True,
}


def check_reply(tc, reply, request=None):
    """Asserts that reply obeys PROTOCOL.md §3 (and its command's schema when known)."""
    tc.assertIsInstance(reply, dict)
    tc.assertTrue(("return" in reply) != ("error" in reply), f"exactly one of return/error: {reply}")
    allowed = {"return", "error", "tag", "id", "_ff"}
    tc.assertFalse(set(reply) - allowed, f"unexpected members in {reply}")
    if request is not None and isinstance(request, dict):
        for k in ("tag", "id"):
            if k in request:
                tc.assertIn(k, reply, f"{k} not echoed")
                tc.assertEqual(reply[k], request[k])
            else:
                tc.assertNotIn(k, reply)
    if "error" in reply:
        e = reply["error"]
        tc.assertIn(e.get("class"), ("GenericError", "CommandNotFound"))
        tc.assertIsInstance(e.get("desc"), str)
        tc.assertTrue(e["desc"], "empty desc")
        tc.assertEqual(base64.b64decode(e["bufb64"], validate=True).decode("utf-8", "replace")
                       .replace("\ufffd", "?"), e["desc"])
        tc.assertIsInstance(e.get("code"), int)
        if e["code"] >= 0:
            tc.assertIn("errno", e)
            tc.assertEqual(ERRNO_NAMES.get(e["code"]), e["errno"]) if e["code"] in ERRNO_NAMES else None
        else:
            tc.assertEqual(e["code"], -1)
            tc.assertNotIn("errno", e)
        tc.assertFalse(set(e) - {"class", "desc", "bufb64", "code", "errno"})
    elif request is not None and isinstance(request, dict):
        cmd = schema().get(request.get("execute"))
        if cmd:
            ts = cmd["returns"]["type"]
            ts = ts if isinstance(ts, list) else [ts]
            tc.assertTrue(any(TYPE_CHECK[t](reply["return"]) for t in ts),
                          f"{request['execute']} returned {reply['return']!r}, schema says {ts}")
            members = cmd["returns"].get("members")
            if members and isinstance(reply["return"], dict):
                extra = set(reply["return"]) - set(members)
                tc.assertFalse(extra, f"{request['execute']}: members not in schema: {extra}")


class Agent:
    """A running agent on a temp unix socket."""

    def __init__(self, *extra, binary=None, env=None):
        self.dir = tempfile.mkdtemp(prefix="guestd-test-")
        self.sock = os.path.join(self.dir, "sock")
        self.binary = binary or AGENT
        # GUESTD_WRAP runs the agent under a tool, e.g. "valgrind --error-exitcode=99 -q"
        wrap = os.environ.get("GUESTD_WRAP", "").split()
        cmd = [*wrap, self.binary, "-m", "unix-listen", "-p", self.sock, "-t", self.dir,
               "-c", os.path.join(self.dir, "none.conf"), *extra]
        open(os.path.join(self.dir, "none.conf"), "w").close()
        self.stderr = open(os.path.join(self.dir, "stderr"), "w+")
        self.proc = subprocess.Popen(cmd, stderr=self.stderr, env=env)
        deadline = time.monotonic() + (60 if wrap else 10)
        while not self._listening():
            if self.proc.poll() is not None:
                raise RuntimeError(f"agent exited {self.proc.returncode}: {self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError("agent did not listen on its socket")
            time.sleep(0.005)

    def _listening(self):
        """The socket file appears at bind(), a moment before listen(): try to connect."""
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.sock)
            return True
        except OSError:
            return False
        finally:
            s.close()

    def log(self):
        self.stderr.flush()
        self.stderr.seek(0)
        return self.stderr.read()

    def connect(self, timeout=10):
        return Conn(self.sock, timeout)

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def close(self):
        self.stop()
        self.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Conn:
    """A raw connection: send bytes, read newline-terminated replies (and 0xFF bytes)."""

    def __init__(self, path, timeout=10):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.settimeout(timeout)
        self.s.connect(path)
        self.buf = b""

    def send(self, data):
        if isinstance(data, dict):
            data = json.dumps(data)
        if isinstance(data, str):
            data = data.encode()
        self.s.sendall(data)

    def request(self, execute, arguments=None, **kw):
        req = {"execute": execute}
        if arguments is not None:
            req["arguments"] = arguments
        req.update(kw)
        self.send(req)
        return req

    def _fill(self):
        chunk = self.s.recv(1 << 20)
        if not chunk:
            raise EOFError("agent closed the connection")
        self.buf += chunk

    def read_line(self):
        while b"\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def reply(self):
        """The next reply as a dict (a leading 0xFF is returned as reply['_ff'] = True)."""
        line = self.read_line()
        ff = line.startswith(b"\xff")
        if ff:
            line = line[1:]
        r = json.loads(line)
        if ff:
            r["_ff"] = True
        return r

    def call(self, tc, execute, arguments=None, **kw):
        req = self.request(execute, arguments, **kw)
        r = self.reply()
        check_reply(tc, r, req)
        return r

    def expect_silence(self, seconds=0.2):
        self.s.settimeout(seconds)
        try:
            data = self.s.recv(1 << 16)
        except socket.timeout:
            data = None
        finally:
            self.s.settimeout(10)
        return data

    def close(self):
        self.s.close()


def wait_for(pred, timeout=5.0):
    """Polls pred until it holds or timeout seconds pass; returns its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.01)
    return bool(pred())


def answers(path, timeout=2):
    """Whether an agent on the unix socket path answers a ping."""
    try:
        c = Conn(path, timeout)
    except OSError:
        return False
    try:
        c.send('{"execute":"guest-ping"}')
        return c.reply() == {"return": {}}
    finally:
        c.close()


class AgentTest(unittest.TestCase):
    """Starts one agent per test class."""
    agent_args = ()

    @classmethod
    def setUpClass(cls):
        cls.agent = Agent(*cls.agent_args)

    @classmethod
    def tearDownClass(cls):
        rc = cls.agent.stop()
        log = cls.agent.log()
        cls.agent.close()
        # a clean SIGTERM shutdown exits 0; under ASan a leak or an error at exit does not
        if rc != 0:
            raise AssertionError(f"agent exited {rc} at shutdown: {log[-4000:]}")

    def setUp(self):
        self.c = self.agent.connect()

    def tearDown(self):
        self.c.close()
        self.assertIsNone(self.agent.proc.poll(), "agent died: " + self.agent.log())


def main():
    global AGENT, GUESTCTL
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        AGENT = os.path.abspath(sys.argv.pop(1))
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        GUESTCTL = os.path.abspath(sys.argv.pop(1))
    if not AGENT:
        sys.exit("usage: test_x.py AGENT [GUESTCTL]")
    os.environ["GUESTD_AGENT"] = AGENT
    if GUESTCTL:
        os.environ["GUESTD_GUESTCTL"] = GUESTCTL
    prog = unittest.main(module="__main__", exit=False, verbosity=2)
    r = prog.result
    failed = len(r.failures) + len(r.errors)
    print(f"{r.testsRun - failed - len(r.skipped)} passed, {failed} failed, {len(r.skipped)} skipped")
    sys.exit(1 if failed or r.testsRun == 0 else 0)
