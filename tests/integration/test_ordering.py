#!/usr/bin/env python3
"""PROTOCOL.md §4: untagged requests FIFO, tagged concurrent, the in-flight cap, whole replies."""
import json
import time

import gdtest


def sleep_req(ms, tag=None, where="loop"):
    name = "guest-test-sleep" if where == "loop" else "guest-test-block"
    r = {"execute": name, "arguments": {"ms": ms}}
    if tag is not None:
        r["tag"] = tag
    return r


class Ordering(gdtest.AgentTest):
    def test_untagged_fifo(self):
        """An untagged ping waits for the untagged request before it."""
        t0 = time.monotonic()
        self.c.send(json.dumps(sleep_req(300)) + '{"execute":"guest-ping","id":2}')
        first = self.c.reply()
        second = self.c.reply()
        self.assertNotIn("id", first)
        self.assertEqual(second, {"return": {}, "id": 2})
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)

    def test_untagged_fifo_pool(self):
        """FIFO holds for threadpool commands too: replies in request order."""
        self.c.send(json.dumps(sleep_req(200, where="pool")) + json.dumps(sleep_req(10, where="pool"))
                    + '{"execute":"guest-sync","arguments":{"id":3}}')
        self.assertEqual(self.c.reply(), {"return": {}})
        self.assertEqual(self.c.reply(), {"return": {}})
        self.assertEqual(self.c.reply(), {"return": 3})

    def test_tagged_overtakes_loop_wait(self):
        """A tagged ping is answered while a tagged slow request is still running."""
        self.c.send(json.dumps(sleep_req(1000, tag="slow")))
        t0 = time.monotonic()
        self.c.send('{"execute":"guest-ping","tag":"fast"}')
        r = self.c.reply()
        dt = time.monotonic() - t0
        self.assertEqual(r, {"return": {}, "tag": "fast"})
        self.assertLess(dt, 0.5)
        self.assertEqual(self.c.reply(), {"return": {}, "tag": "slow"})

    def test_tagged_overtakes_blocked_worker(self):
        """A tagged ping is answered while a threadpool worker is blocked."""
        self.c.send(json.dumps(sleep_req(1000, tag="slow", where="pool")))
        time.sleep(0.05)
        t0 = time.monotonic()
        self.c.send('{"execute":"guest-ping","tag":"fast"}')
        r = self.c.reply()
        self.assertEqual(r, {"return": {}, "tag": "fast"})
        self.assertLess(time.monotonic() - t0, 0.5)
        self.assertEqual(self.c.reply(), {"return": {}, "tag": "slow"})

    def test_untagged_not_held_by_tagged(self):
        """A tagged request does not hold back a later untagged one."""
        self.c.send(json.dumps(sleep_req(800, tag="slow")) + '{"execute":"guest-ping"}')
        t0 = time.monotonic()
        self.assertEqual(self.c.reply(), {"return": {}})
        self.assertLess(time.monotonic() - t0, 0.5)
        self.assertEqual(self.c.reply(), {"return": {}, "tag": "slow"})

    def test_tagged_complete_in_finish_order(self):
        """Tagged replies come when their requests finish, not in request order."""
        self.c.send(json.dumps(sleep_req(400, tag="a")) + json.dumps(sleep_req(200, tag="b"))
                    + json.dumps(sleep_req(1, tag="c")))
        tags = [self.c.reply()["tag"] for _ in range(3)]
        self.assertEqual(tags, ["c", "b", "a"])

    def test_tagged_run_concurrently(self):
        """20 tagged 300 ms requests finish in about 300 ms, not 6 s."""
        t0 = time.monotonic()
        self.c.send("".join(json.dumps(sleep_req(300, tag=i)) for i in range(20)))
        got = sorted(self.c.reply()["tag"] for _ in range(20))
        self.assertEqual(got, list(range(20)))
        self.assertLess(time.monotonic() - t0, 2.0)

    def test_pipelined_untagged(self):
        """2000 pipelined requests: every reply, in order."""
        self.c.send("".join('{"execute":"guest-sync","arguments":{"id":%d}}' % i for i in range(2000)))
        for i in range(2000):
            self.assertEqual(self.c.reply(), {"return": i})

    def test_replies_whole(self):
        """Many concurrent replies of different sizes never interleave."""
        reqs = []
        for i in range(200):
            reqs.append('{"execute":"%s","tag":%d}' % ("guest-info" if i % 3 == 0 else "guest-ping", i))
        self.c.send("".join(reqs))
        seen = set()
        for _ in range(200):
            r = self.c.reply()  # json.loads of each line: fails on an interleaved line
            gdtest.check_reply(self, r)
            seen.add(r["tag"])
        self.assertEqual(seen, set(range(200)))


class DefaultCap(gdtest.AgentTest):
    def test_default_cap_is_64(self):
        """PROTOCOL.md §4: 64 requests in flight by default. With 63 slow ones a tagged ping is
        read and answered at once; with 64 it waits for a slot."""
        self.c.send("".join(json.dumps(sleep_req(600, tag=i)) for i in range(63))
                    + '{"execute":"guest-ping","tag":"p"}')
        t0 = time.monotonic()
        self.assertEqual(self.c.reply(), {"return": {}, "tag": "p"})
        self.assertLess(time.monotonic() - t0, 0.4)
        for _ in range(63):
            self.c.reply()
        self.c.send("".join(json.dumps(sleep_req(600, tag=i)) for i in range(64))
                    + '{"execute":"guest-ping","tag":"p"}')
        first = self.c.reply()
        self.assertNotEqual(first.get("tag"), "p")
        for _ in range(64):
            self.c.reply()


class Backpressure(gdtest.AgentTest):
    agent_args = ("--max-in-flight", "4")

    def test_cap_stops_reading_drops_nothing(self):
        """With 4 in flight the agent stops reading: the 5th request waits, nothing is lost."""
        t0 = time.monotonic()
        self.c.send("".join(json.dumps(sleep_req(400, tag=i)) for i in range(4))
                    + '{"execute":"guest-ping","tag":"p"}')
        first = self.c.reply()
        dt = time.monotonic() - t0
        # the ping was not even read before a slot freed, so it cannot come first
        self.assertNotEqual(first.get("tag"), "p")
        self.assertGreaterEqual(dt, 0.39)
        rest = [self.c.reply()["tag"] for _ in range(4)]
        self.assertEqual(sorted([first["tag"]] + rest, key=str), sorted([0, 1, 2, 3, "p"], key=str))

    def test_many_more_than_cap(self):
        """500 tagged requests through a cap of 4: all answered."""
        self.c.send("".join('{"execute":"guest-sync","arguments":{"id":%d},"tag":%d}' % (i, i)
                            for i in range(500)))
        got = set()
        for _ in range(500):
            r = self.c.reply()
            self.assertEqual(r["return"], r["tag"])
            got.add(r["tag"])
        self.assertEqual(len(got), 500)

    def test_peer_not_reading(self):
        """A client that does not read its replies stalls only itself."""
        hog = self.agent.connect()
        try:
            big = '{"execute":"guest-info"}' * 20000
            hog.s.setblocking(False)
            try:
                hog.s.send(big.encode())
            except BlockingIOError:
                pass
            time.sleep(0.3)
            r = self.c.call(self, "guest-ping")
            self.assertEqual(r, {"return": {}})
        finally:
            hog.close()


if __name__ == "__main__":
    gdtest.main()
