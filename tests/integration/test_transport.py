#!/usr/bin/env python3
"""PROTOCOL.md §6 and the transports: several unix clients, disconnects, socket files, character
devices (a pseudo-terminal stands in for a virtio port), serial, vsock."""
import errno
import glob
import json
import os
import socket
import stat
import subprocess
import tempfile
import time
import unittest

import gdtest


def ctxt_switches(pid):
    total = 0
    for st in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(st) as f:
                for line in f:
                    if "ctxt_switches" in line:
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


wait_for = gdtest.wait_for


class UnixClients(gdtest.AgentTest):
    def test_two_clients_own_ordering(self):
        """A slow untagged request on one client does not delay the other client."""
        other = self.agent.connect()
        try:
            self.c.send('{"execute":"guest-test-sleep","arguments":{"ms":800}}')
            t0 = time.monotonic()
            self.assertEqual(other.call(self, "guest-ping"), {"return": {}})
            self.assertLess(time.monotonic() - t0, 0.4)
            self.assertEqual(self.c.reply(), {"return": {}})
        finally:
            other.close()

    def test_disconnect_mid_request(self):
        """A client's partial request leaves with it: the next client starts clean."""
        a = self.agent.connect()
        a.send('{"execute":"guest-sync","argum')
        a.close()
        b = self.agent.connect()
        try:
            self.assertEqual(b.call(self, "guest-ping"), {"return": {}})
            self.assertIsNone(b.expect_silence(0.2))
        finally:
            b.close()

    def test_disconnect_with_calls_running(self):
        """Running calls of a departed client finish quietly; the agent keeps serving."""
        for _ in range(20):
            a = self.agent.connect()
            a.send('{"execute":"guest-test-block","arguments":{"ms":100},"tag":1}'
                   '{"execute":"guest-test-sleep","arguments":{"ms":100}}'
                   '{"execute":"guest-ping"}' * 5)
            a.close()
        time.sleep(0.4)
        self.assertEqual(self.c.call(self, "guest-ping"), {"return": {}})

    def test_disconnect_mid_reply(self):
        """A client that leaves while a big reply is being written does not hurt anyone."""
        for _ in range(5):
            a = self.agent.connect()
            a.send('{"execute":"guest-info"}' * 2000)
            a.s.recv(100)
            a.close()
        self.assertEqual(self.c.call(self, "guest-ping"), {"return": {}})

    def test_half_close_gets_replies(self):
        """A client that sends and shuts down its sending side (printf ... | socat) still gets
        every reply, slow ones included, and then the agent closes the connection."""
        c = self.agent.connect()
        try:
            c.send('{"execute":"guest-test-block","arguments":{"ms":200}}'
                   '{"execute":"guest-test-sleep","arguments":{"ms":100},"tag":"t"}'
                   '{"execute":"guest-sync","arguments":{"id":3}}'
                   '{"execute":"guest-sy')  # a partial request at EOF is dropped
            c.s.shutdown(socket.SHUT_WR)
            got = [c.reply() for _ in range(3)]
            self.assertEqual(sorted(json.dumps(g, sort_keys=True) for g in got),
                             sorted(json.dumps(g, sort_keys=True) for g in
                                    [{"return": {}}, {"return": {}, "tag": "t"}, {"return": 3}]))
            self.assertEqual(c.s.recv(100), b"", "closed after the last reply")
        finally:
            c.close()

    def test_many_clients(self):
        conns = [self.agent.connect() for _ in range(50)]
        try:
            for i, c in enumerate(conns):
                c.send('{"execute":"guest-sync","arguments":{"id":%d}}' % i)
            for i, c in enumerate(conns):
                self.assertEqual(c.reply(), {"return": i})
        finally:
            for c in conns:
                c.close()

    def test_socket_mode_0600(self):
        st = os.stat(self.agent.sock)
        self.assertTrue(stat.S_ISSOCK(st.st_mode))
        self.assertEqual(stat.S_IMODE(st.st_mode), 0o600)

    def test_idle_no_wakeups(self):
        """Idle, connected or not, the agent does not wake up at all (qemu-ga: 10/s). A fresh
        agent, so that no other test's work is still finishing."""
        a = gdtest.Agent()
        try:
            time.sleep(0.3)  # the harness's probe connection (is it listening?) is closing
            before = ctxt_switches(a.proc.pid)
            time.sleep(1.5)
            self.assertEqual(ctxt_switches(a.proc.pid), before, "not connected")
            c = a.connect()
            self.assertEqual(c.call(self, "guest-ping"), {"return": {}})
            time.sleep(0.2)
            before = ctxt_switches(a.proc.pid)
            time.sleep(1.5)
            self.assertEqual(ctxt_switches(a.proc.pid), before, "connected")
            c.close()
        finally:
            a.close()


class SocketFiles(unittest.TestCase):
    def test_socket_mode_option(self):
        a = gdtest.Agent("--socket-mode", "0660")
        try:
            self.assertEqual(stat.S_IMODE(os.stat(a.sock).st_mode), 0o660)
        finally:
            a.close()

    def test_stale_socket_replaced(self):
        d = tempfile.mkdtemp()
        path = os.path.join(d, "s")
        s = socket.socket(socket.AF_UNIX)
        s.bind(path)
        s.close()  # the file stays, nobody listens
        p = subprocess.run([gdtest.AGENT, "-m", "unix-listen", "-p", path, "-c", "/dev/null", "-V"])
        self.assertEqual(p.returncode, 0)
        proc = subprocess.Popen([gdtest.AGENT, "-m", "unix-listen", "-p", path, "-c", "/dev/null"],
                                stderr=subprocess.PIPE)
        try:
            self.assertTrue(wait_for(lambda: gdtest.answers(path)))
        finally:
            proc.terminate()
            proc.wait()
        self.assertFalse(os.path.exists(path), "socket removed at exit")

    def test_live_socket_not_stolen(self):
        a = gdtest.Agent()
        try:
            p = subprocess.run([gdtest.AGENT, "-m", "unix-listen", "-p", a.sock, "-c", "/dev/null"],
                               capture_output=True, text=True, timeout=10)
            self.assertEqual(p.returncode, 1)
            self.assertIn("another agent is listening", p.stderr)
            self.assertTrue(gdtest.answers(a.sock), "the first agent still serves")
        finally:
            a.close()

    def test_regular_file_not_replaced(self):
        d = tempfile.mkdtemp()
        path = os.path.join(d, "file")
        with open(path, "w") as f:
            f.write("keep me")
        p = subprocess.run([gdtest.AGENT, "-m", "unix-listen", "-p", path, "-c", "/dev/null"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("not a socket", p.stderr)
        with open(path) as f:
            self.assertEqual(f.read(), "keep me")


class SeveralListeners(unittest.TestCase):
    def test_several_channels_at_once(self):
        """Several -m/-p pairs: two unix sockets and a character device, all served."""
        d = tempfile.mkdtemp()
        a, b, link = os.path.join(d, "a"), os.path.join(d, "b"), os.path.join(d, "port")
        host = PtyHost(link)
        err = tempfile.TemporaryFile()
        proc = subprocess.Popen([gdtest.AGENT, "-c", "/dev/null", "-m", "unix-listen", "-p", a,
                                 "-m", "virtio-serial", "-p", link, "-m", "unix-listen", "-p", b],
                                stderr=err)
        try:
            self.assertTrue(wait_for(lambda: gdtest.answers(a) and gdtest.answers(b)))
            host.send('{"execute":"guest-sync","arguments":{"id":7}}')
            self.assertEqual(host.reply(), b'{"return": 7}')
        finally:
            proc.terminate()
            proc.wait()
            host.close()
        self.assertEqual(proc.returncode, 0)
        self.assertFalse(os.path.exists(a) or os.path.exists(b), "both sockets removed")


class PtyHost:
    """The host end of a character device: a pty master, with the agent's path a symlink to the
    slave (as /dev/virtio-ports/NAME is a symlink made by udev)."""

    def __init__(self, link):
        self.master, slave = os.openpty()
        name = os.ttyname(slave)
        os.close(slave)
        tmp = link + ".new"
        os.symlink(name, tmp)
        os.rename(tmp, link)
        self.buf = b""

    def send(self, data):
        os.write(self.master, data.encode() if isinstance(data, str) else data)

    def reply(self, timeout=5):
        import select
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.master], [], [], left)[0]:
                raise TimeoutError(f"no reply; got {self.buf!r}")
            self.buf += os.read(self.master, 65536)
        line, self.buf = self.buf.split(b"\n", 1)
        return line

    def close(self):
        os.close(self.master)


class CharDevice(unittest.TestCase):
    method = "virtio-serial"

    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.link = os.path.join(self.dir, "org.qemu.guest_agent.0")
        self.host = PtyHost(self.link)
        self.err = open(os.path.join(self.dir, "log"), "w+")
        self.proc = subprocess.Popen([gdtest.AGENT, "-m", self.method, "-p", self.link,
                                      "-c", "/dev/null", "-v"], stderr=self.err)
        self.assertTrue(wait_for(lambda: "serving" in self.log()), self.log())

    def tearDown(self):
        self.proc.terminate()
        self.proc.wait()
        self.host.close()
        self.err.close()

    def log(self):
        self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def test_ping_raw_mode(self):
        """The tty is put in raw mode: no echo, no CRLF."""
        self.host.send('{"execute":"guest-ping"}')
        self.assertEqual(self.host.reply(), b'{"return": {}}')
        self.host.send('{"execute":"guest-sync","arguments":{"id":5}}\n')
        self.assertEqual(self.host.reply(), b'{"return": 5}')

    def test_host_goes_away_and_comes_back(self):
        """Host leaves mid-request: partial input is dropped, the agent waits without waking up,
        and serves the host again when the device comes back."""
        if self.method != "virtio-serial":
            self.skipTest("reconnect is the virtio-serial path")
        for round_ in range(3):
            self.host.send('{"execute":"guest-sync","arguments":{"id":%d}}' % round_)
            self.assertEqual(self.host.reply(), b'{"return": %d}' % round_)
            self.host.send('{"execute":"guest-sy')  # partial
            self.host.close()
            self.assertTrue(wait_for(lambda: self.log().count("waiting for it") > round_), self.log())
            time.sleep(0.2)
            before = ctxt_switches(self.proc.pid)
            time.sleep(1.5)
            self.assertEqual(ctxt_switches(self.proc.pid), before, "woke up while the host was away")
            self.host = PtyHost(self.link)
            # the agent puts the new tty in raw mode when it opens it; before that the line
            # discipline would echo what we send
            self.assertTrue(wait_for(lambda: self.log().count("serving") > round_ + 1), self.log())
            self.host.send(b'{"execute":"guest-ping"}')
            self.assertEqual(self.host.reply(), b'{"return": {}}')

    def test_idle_no_wakeups(self):
        self.host.send('{"execute":"guest-ping"}')
        self.host.reply()
        time.sleep(0.2)
        before = ctxt_switches(self.proc.pid)
        time.sleep(1.5)
        self.assertEqual(ctxt_switches(self.proc.pid), before)


class DeviceAppears(unittest.TestCase):
    def test_waits_for_missing_device_without_waking(self):
        """--retry-path: the port and even its directory are missing (the module is not loaded
        yet); the agent sleeps (no wakeups) until udev's directory and link appear, then serves."""
        d = tempfile.mkdtemp()
        ports = os.path.join(d, "virtio-ports")
        link = os.path.join(ports, "org.qemu.guest_agent.0")
        err = open(os.path.join(d, "log"), "w+")
        proc = subprocess.Popen([gdtest.AGENT, "-m", "virtio-serial", "-p", link, "--retry-path",
                                 "-c", "/dev/null", "-v"], stderr=err)
        host = None
        try:
            time.sleep(0.3)
            self.assertIsNone(proc.poll())
            before = ctxt_switches(proc.pid)
            time.sleep(1.5)
            self.assertEqual(ctxt_switches(proc.pid), before, "woke up while the device was missing")
            os.mkdir(ports)
            time.sleep(0.2)
            host = PtyHost(link)
            with open(err.name) as f:
                self.assertTrue(wait_for(lambda: "serving" in open(err.name).read()), f.read())
            host.send('{"execute":"guest-ping"}')
            self.assertEqual(host.reply(), b'{"return": {}}')
        finally:
            proc.terminate()
            proc.wait()
            if host:
                host.close()
            err.close()


class Serial(CharDevice):
    method = "isa-serial"


class Vsock(unittest.TestCase):
    def test_vsock_loopback(self):
        port = 40000 + os.getpid() % 20000
        try:
            probe = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
            probe.close()
        except (OSError, AttributeError) as e:
            self.skipTest(f"no AF_VSOCK here: {e}")
        err = tempfile.TemporaryFile()
        proc = subprocess.Popen([gdtest.AGENT, "-m", "vsock-listen", "-p", f"-1:{port}",
                                 "-c", "/dev/null"], stderr=err)
        try:
            time.sleep(0.3)
            if proc.poll() is not None:
                err.seek(0)
                self.skipTest(f"cannot listen on vsock here: {err.read().decode().strip()}")
            s = socket.socket(socket.AF_VSOCK, socket.SOCK_STREAM)
            s.settimeout(5)
            try:
                s.connect((1, port))  # VMADDR_CID_LOCAL
            except OSError as e:
                if e.errno in (errno.ENODEV, errno.EADDRNOTAVAIL, errno.ENETUNREACH, errno.ECONNRESET,
                               errno.EHOSTUNREACH, errno.ETIMEDOUT, errno.ECONNREFUSED):
                    self.skipTest(f"no vsock loopback transport here: {e}")
                raise
            s.sendall(b'{"execute":"guest-ping"}')
            self.assertEqual(s.recv(100), b'{"return": {}}\n')
            s.close()
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    gdtest.main()
