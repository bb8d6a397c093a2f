#!/usr/bin/env python3
"""A 256 MiB file through guestctl cp, into the guest and back, checked with --sha256 on both
legs and against guest-file-checksum (the slow part of test_file.py, a meson test of its own)."""
import hashlib
import os
import subprocess
import time

import gdtest
from test_file import FileTest


class BigCopy(FileTest):
    """256 MiB through guestctl cp both ways, checked with --sha256 (slow)."""

    def test_256mib_round_trip(self):
        if not gdtest.GUESTCTL:
            self.skipTest("no guestctl")
        size = 256 * 1024 * 1024
        h = hashlib.sha256()
        with open(self.p("big"), "wb") as f:
            block = os.urandom(1024 * 1024)
            for i in range(256):
                chunk = bytes([i]) + block[1:]
                h.update(chunk)
                f.write(chunk)
        os.mkdir(self.p("g"))
        t0 = time.monotonic()
        for args in (["cp", "-q", "--sha256", self.p("big"), ":" + self.p("g", "big")],
                     ["cp", "-q", "--sha256", ":" + self.p("g", "big"), self.p("back")]):
            r = subprocess.run([gdtest.GUESTCTL, "-s", self.agent.sock, *args],
                               capture_output=True, timeout=600)
            self.assertEqual(r.returncode, 0, r.stderr.decode())
        took = time.monotonic() - t0
        self.assertEqual(os.path.getsize(self.p("back")), size)
        with open(self.p("back"), "rb") as f:
            h2 = hashlib.sha256()
            while True:
                b = f.read(1 << 20)
                if not b:
                    break
                h2.update(b)
        self.assertEqual(h2.hexdigest(), h.hexdigest())
        r = self.ok("guest-file-checksum", {"path": self.p("g", "big")})
        self.assertEqual((r["digest"], r["size"]), (h.hexdigest(), size))
        print(f"256 MiB up and down with --sha256: {took:.1f} s", flush=True)


if __name__ == "__main__":
    gdtest.main()
