#!/usr/bin/env python3
"""PROTOCOL.md §1-§3 and §5 against the real agent: envelope, replies, errors, limits, sync."""
import base64
import json
import time

import gdtest


class Envelope(gdtest.AgentTest):
    def test_ping(self):
        self.assertEqual(self.c.call(self, "guest-ping"), {"return": {}})

    def test_tag_echoed_same_value(self):
        for tag in ["t", 0, -5, 1.5, True, None, [1, "x"], {"a": {"b": [None]}}, "h\u00e9 \u2603"]:
            r = self.c.call(self, "guest-ping", tag=tag)
            self.assertEqual(r["tag"], tag)
            self.assertEqual(type(r["tag"]), type(tag))

    def test_id_echoed(self):
        r = self.c.call(self, "guest-sync", {"id": 4}, id={"x": 1})
        self.assertEqual(r, {"return": 4, "id": {"x": 1}})

    def test_tag_and_id(self):
        r = self.c.call(self, "guest-ping", tag="t", id=7)
        self.assertEqual(r, {"return": {}, "tag": "t", "id": 7})

    def test_no_tag_no_id_in_reply(self):
        r = self.c.call(self, "guest-ping")
        self.assertEqual(set(r), {"return"})

    def test_unknown_member(self):
        r = self.c.call(self, "guest-ping", tag=1, extra=2)
        self.assertEqual(r["error"]["desc"], "QMP input member 'extra' is unexpected")
        self.assertEqual(r["error"]["code"], 22)
        self.assertEqual(r["tag"], 1)

    def test_arguments_absent_means_empty(self):
        self.assertEqual(self.c.call(self, "guest-ping", None), {"return": {}})
        self.assertEqual(self.c.call(self, "guest-ping", {}), {"return": {}})

    def test_string_arguments_refused_for_builtins(self):
        r = self.c.call(self, "guest-ping", "raw")
        self.assertEqual(r["error"]["desc"], "QMP input member 'arguments' must be an object")

    def test_argument_errors_name_the_member(self):
        r = self.c.call(self, "guest-sync", {"id": 1.5})
        self.assertEqual(r["error"]["desc"], "Invalid parameter type for 'id', expected: integer")
        r = self.c.call(self, "guest-sync", {})
        self.assertEqual(r["error"]["desc"], "Parameter 'id' is missing")
        r = self.c.call(self, "guest-sync", {"id": 1, "idd": 2})
        self.assertEqual(r["error"]["desc"], "Parameter 'idd' is unexpected")

    def test_unknown_command(self):
        r = self.c.call(self, "guest-frobnicate")
        self.assertEqual(r["error"]["class"], "CommandNotFound")
        self.assertEqual(r["error"]["code"], -1)
        self.assertIn("guest-frobnicate", r["error"]["desc"])

    def test_error_fields(self):
        r = self.c.call(self, "guest-sync", {})
        e = r["error"]
        self.assertEqual(base64.b64decode(e["bufb64"]).decode(), e["desc"])
        self.assertEqual(e["errno"], "EINVAL")

    def test_info(self):
        r = self.c.call(self, "guest-info")["return"]
        self.assertRegex(r["version"], r"^\d+\.\d+\.\d+")
        names = {c["name"]: c for c in r["supported_commands"]}
        for n in ("guest-ping", "guest-sync", "guest-sync-delimited", "guest-info"):
            self.assertEqual(names[n], {"enabled": True, "name": n, "success-response": True})
        for name in gdtest.schema():
            self.assertIn(name, names)

    def test_reply_bytes(self):
        """qemu-ga's spacing, exactly one newline, nothing else."""
        self.c.send('{"execute":"guest-sync","arguments":{"id":1}}')
        time.sleep(0.1)
        data = self.c.s.recv(4096)
        self.assertEqual(data, b'{"return": 1}\n')


class Sync(gdtest.AgentTest):
    def test_sync(self):
        self.assertEqual(self.c.call(self, "guest-sync", {"id": 123456789}), {"return": 123456789})

    def test_sync_delimited_ff(self):
        self.c.send('{"execute":"guest-sync-delimited","arguments":{"id":77}}')
        time.sleep(0.1)
        self.assertEqual(self.c.s.recv(4096), b'\xff{"return": 77}\n')

    def test_resync_after_partial_garbage(self):
        """A client that left half a request and garbage behind gets back in sync."""
        self.c.send('{"execute":"guest-sync","arguments":{"id":1}}{"execute": "gue')
        self.c.send(b'\xff{"execute":"guest-sync-delimited","arguments":{"id":99}}')
        stale = self.c.reply()
        self.assertEqual(stale, {"return": 1})
        r = self.c.reply()
        self.assertEqual(r, {"return": 99, "_ff": True})
        self.assertEqual(self.c.call(self, "guest-ping"), {"return": {}})

    def test_ff_is_silent(self):
        """Unlike qemu-ga, guestd does not answer 0xFF with an error."""
        self.c.send(b"\xff\xff")
        self.assertIsNone(self.c.expect_silence(0.3))


class Limits(gdtest.AgentTest):
    """The default limits of §1 (64 MiB, 64 levels)."""

    def test_request_over_64mib(self):
        size = 64 * 1024 * 1024
        head = b'{"execute":"guest-ping","tag":"'
        body = b"a" * (size + 100)
        self.c.send(head + body + b'"}')
        r = self.c.reply()
        self.assertEqual(r["error"]["code"], 7)
        self.assertEqual(r["error"]["errno"], "E2BIG")
        self.assertIn("67108864", r["error"]["desc"])
        self.assertEqual(self.c.call(self, "guest-ping"), {"return": {}})
        self.assertIsNone(self.c.expect_silence(0.2), "one error only")

    def test_request_of_64mib_accepted(self):
        head = b'{"execute":"guest-ping","tag":"'
        tail = b'"}'
        n = 64 * 1024 * 1024 - len(head) - len(tail)
        self.c.send(head + b"b" * n + tail)
        r = self.c.reply()
        self.assertEqual(len(r["tag"]), n)

    def test_depth_64(self):
        ok = '{"execute":"guest-ping","tag":' + "[" * 63 + "]" * 63 + "}"
        self.assertIn("return", json.loads(json.dumps(self.c.call_raw(ok))))
        bad = '{"execute":"guest-ping","tag":' + "[" * 64 + "]" * 64 + "}"
        r = self.c.call_raw(bad)
        self.assertEqual(r["error"]["errno"], "E2BIG")
        self.assertEqual(self.c.call(self, "guest-ping"), {"return": {}})

    def test_garbage_one_error(self):
        """qemu-ga answers ~1000 errors for one bad request; guestd answers one."""
        self.c.send("x" * 100000 + "\n")
        r = self.c.reply()
        self.assertEqual(r["error"]["desc"], "QMP input must be a JSON object")
        self.assertEqual(self.c.call(self, "guest-ping"), {"return": {}})
        self.assertIsNone(self.c.expect_silence(0.2))


def call_raw(self, text):
    self.send(text)
    return self.reply()


gdtest.Conn.call_raw = call_raw


class Gates(gdtest.AgentTest):
    agent_args = ("-b", "guest-sync, guest-info")

    def test_blocked(self):
        r = self.c.call(self, "guest-sync", {"id": 1})
        self.assertEqual(r["error"]["class"], "CommandNotFound")
        self.assertEqual(r["error"]["desc"], "Command guest-sync has been disabled")

    def test_blocked_before_argument_check(self):
        r = self.c.call(self, "guest-sync", {})
        self.assertEqual(r["error"]["desc"], "Command guest-sync has been disabled")

    def test_others_run(self):
        self.assertEqual(self.c.call(self, "guest-sync-delimited", {"id": 3})["return"], 3)


class AllowList(gdtest.AgentTest):
    agent_args = ("-a", "guest-ping,guest-info")

    def test_allow(self):
        self.assertEqual(self.c.call(self, "guest-ping"), {"return": {}})
        r = self.c.call(self, "guest-sync", {"id": 1})
        self.assertEqual(r["error"]["class"], "CommandNotFound")
        info = {c["name"]: c["enabled"] for c in self.c.call(self, "guest-info")["return"]["supported_commands"]}
        self.assertTrue(info["guest-ping"])
        self.assertFalse(info["guest-sync"])


if __name__ == "__main__":
    gdtest.main()
