#!/usr/bin/env python3
"""Golden framing cases (PROTOCOL.md §1): each cases/*.case gives input bytes and the replies the
agent must give, in order. Every case is run three ways — in the chunks given (separate reads),
all at once, and one byte per write — and must give the same replies each way.

Case format: '# description', then '> chunk' lines (the bytes sent; \\xHH, \\n, \\r, \\t are
escapes, any other backslash is literal; no newline is added), then '< reply' lines (a JSON
reply; '<ff reply' when a 0xFF byte must precede it). Error replies are compared without their
bufb64, which gdtest.check_reply verifies against desc.

usage: run.py AGENT [CASE...]
"""
import json
import os
import re
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import gdtest  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SENTINEL_ID = 987654321
SENTINEL = b'\xff{"execute":"guest-sync-delimited","arguments":{"id":%d}}' % SENTINEL_ID
ESC = re.compile(rb"\\(x[0-9a-fA-F]{2}|n|r|t)")


def unescape(s):
    def rep(m):
        e = m.group(1)
        if e.startswith(b"x"):
            return bytes([int(e[1:], 16)])
        return {b"n": b"\n", b"r": b"\r", b"t": b"\t"}[e]
    return ESC.sub(rep, s.encode("utf-8"))


def load(path):
    desc, chunks, want = "", [], []
    with open(path, encoding="utf-8") as f:
        for line in f.read().split("\n"):
            if line.startswith("# "):
                desc = line[2:]
            elif line.startswith("> "):
                chunks.append(unescape(line[2:]))
            elif line.startswith("<ff "):
                want.append((True, json.loads(line[4:])))
            elif line.startswith("< "):
                want.append((False, json.loads(line[2:])))
            elif line.strip():
                raise ValueError(f"{path}: bad line {line!r}")
    return desc, chunks, want


def strip_b64(r):
    r = json.loads(json.dumps(r))
    if "error" in r:
        r["error"].pop("bufb64", None)
    return r


class Frames(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.agent = gdtest.Agent("--max-request-size", "1024", "--max-depth", "8")

    @classmethod
    def tearDownClass(cls):
        cls.agent.close()

    def run_case(self, chunks, want, mode):
        c = self.agent.connect()
        try:
            if mode == "chunks":
                for ch in chunks:
                    c.send(ch)
                    time.sleep(0.02)
            elif mode == "whole":
                c.send(b"".join(chunks))
            else:
                for b in b"".join(chunks):
                    c.send(bytes([b]))
            c.send(SENTINEL)
            got = []
            while True:
                r = c.reply()
                ff = r.pop("_ff", False)
                if ff and r.get("return") == SENTINEL_ID:
                    break
                gdtest.check_reply(self, r)
                got.append((ff, strip_b64(r)))
            self.assertEqual([(ff, strip_b64(w)) for ff, w in want], got, f"mode {mode}")
        finally:
            c.close()
        self.assertIsNone(self.agent.proc.poll(), "agent died")


def add_cases(names):
    files = sorted(f for f in os.listdir(os.path.join(HERE, "cases")) if f.endswith(".case"))
    for fn in files:
        name = fn[:-5]
        if names and name not in names:
            continue
        desc, chunks, want = load(os.path.join(HERE, "cases", fn))
        size = sum(len(c) for c in chunks)
        for mode in ("chunks", "whole", "bytes"):
            if mode == "bytes" and size > 2048:
                continue

            def t(self, chunks=chunks, want=want, mode=mode):
                self.run_case(chunks, want, mode)
            t.__doc__ = f"{name} [{mode}]: {desc}"
            setattr(Frames, f"test_{name.replace('-', '_')}_{mode}", t)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    add_cases(set(sys.argv[2:]))
    del sys.argv[2:]
    gdtest.main()
