#!/usr/bin/env python3
"""Streamed replies (guest-file-read, runs=stream): large reads come whole and exact, in bounded
memory, in their place in the output, and a peer leaving mid-stream costs nothing."""
import base64
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time

import gdtest

MIB = 1024 * 1024


def vm_hwm_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Stream(gdtest.AgentTest):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.d = tempfile.mkdtemp(prefix="guestd-stream-")
        cls.path = os.path.join(cls.d, "big")
        cls.data = os.urandom(48 * MIB + 1)  # not a multiple of 3 or of the piece size
        with open(cls.path, "wb") as f:
            f.write(cls.data)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.d, ignore_errors=True)
        super().tearDownClass()

    def open(self):
        r = self.c.call(self, "guest-file-open", {"path": self.path})
        return r["return"]

    def read(self, h, count, **kw):
        r = self.c.call(self, "guest-file-read", {"handle": h, "count": count}, **kw)
        self.assertIn("return", r, r)
        return r

    def test_48mib_exact_bounded_memory(self):
        """A 48 MiB read: the bytes are exact, count and eof right, tag and id echoed, and the
        agent's peak memory stays far below the reply's 64 MiB."""
        h = self.open()
        r = self.read(h, 48 * MIB, tag={"t": [1]}, id="i")
        self.assertEqual(r["tag"], {"t": [1]})
        self.assertEqual(r["id"], "i")
        got = base64.b64decode(r["return"]["buf-b64"], validate=True)
        self.assertEqual(r["return"]["count"], 48 * MIB)
        self.assertFalse(r["return"]["eof"])
        self.assertEqual(hashlib.sha256(got).digest(), hashlib.sha256(self.data[:48 * MIB]).digest())
        rest = self.read(h, 10)["return"]
        self.assertEqual(base64.b64decode(rest["buf-b64"]), self.data[48 * MIB:])
        self.assertEqual((rest["count"], rest["eof"]), (1, True))
        with open(f"/proc/{self.agent.proc.pid}/maps") as f:
            sanitized = "libasan" in f.read()
        if not sanitized:  # ASan's shadow memory and quarantine say nothing about ours
            self.assertLess(vm_hwm_kb(self.agent.proc.pid), 32 * 1024, "peak RSS")
        self.c.call(self, "guest-file-close", {"handle": h})

    def test_replies_keep_their_order(self):
        """Untagged requests after a big read are answered after it, in order."""
        h = self.open()
        self.c.send(json.dumps({"execute": "guest-file-read", "arguments": {"handle": h, "count": 5 * MIB}})
                    + '{"execute":"guest-sync","arguments":{"id":1}}'
                    + json.dumps({"execute": "guest-file-read", "arguments": {"handle": h, "count": 3}})
                    + '{"execute":"guest-sync","arguments":{"id":2}}')
        first = self.c.reply()
        self.assertEqual(base64.b64decode(first["return"]["buf-b64"]), self.data[:5 * MIB])
        self.assertEqual(self.c.reply(), {"return": 1})
        third = self.c.reply()
        self.assertEqual(base64.b64decode(third["return"]["buf-b64"]), self.data[5 * MIB:5 * MIB + 3])
        self.assertEqual(self.c.reply(), {"return": 2})
        self.c.call(self, "guest-file-close", {"handle": h})

    def test_tagged_ping_before_stream_output(self):
        """A tagged ping sent right behind a 48 MiB read is answered before the read's reply."""
        h = self.open()
        self.c.send(json.dumps({"execute": "guest-file-read", "arguments": {"handle": h, "count": 48 * MIB},
                                "tag": "big"}) + '{"execute":"guest-ping","tag":"p"}')
        first = self.c.reply()
        self.assertEqual(first, {"return": {}, "tag": "p"})
        self.assertEqual(self.c.reply()["return"]["count"], 48 * MIB)
        self.c.call(self, "guest-file-close", {"handle": h})

    def test_peer_leaves_mid_stream(self):
        """A client that disconnects during a streamed reply: the handle is released (the same
        handle reads on from another connection), the agent serves on."""
        h = self.open()
        for _ in range(3):
            a = self.agent.connect()
            a.send(json.dumps({"execute": "guest-file-read", "arguments": {"handle": h, "count": 48 * MIB}}))
            a.s.recv(65536)  # the stream has started
            a.close()
        time.sleep(0.3)
        r = self.c.call(self, "guest-file-seek", {"handle": h, "offset": 0, "whence": "set"})
        self.assertEqual(r["return"]["position"], 0)
        self.assertEqual(base64.b64decode(self.read(h, 4)["return"]["buf-b64"]), self.data[:4])
        self.c.call(self, "guest-file-close", {"handle": h})

    def test_half_close_mid_stream(self):
        """printf '{read 20 MiB}' | socat: the whole reply comes, then EOF."""
        h = self.open()
        a = self.agent.connect()
        try:
            a.send(json.dumps({"execute": "guest-file-read", "arguments": {"handle": h, "count": 20 * MIB}}))
            a.s.shutdown(socket.SHUT_WR)
            r = a.reply()
            self.assertEqual(base64.b64decode(r["return"]["buf-b64"]), self.data[:20 * MIB])
            self.assertEqual(a.s.recv(10), b"")
        finally:
            a.close()
        self.c.call(self, "guest-file-close", {"handle": h})


if __name__ == "__main__":
    gdtest.main()
