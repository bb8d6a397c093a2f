#!/usr/bin/env python3
"""File commands against the real agent and real files in a temp dir: qemu-ga's guest-file-*
handle commands, guestd's stat/list/mkdir/chmod/chown/remove/rename/checksum, every error path,
symlink behaviour, and guestctl cp/cat/ls/stat. Every reply is checked against schema/."""
import base64
import errno
import json
import hashlib
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import unittest

import gdtest

ALL_BYTES = bytes(range(256))


def b64(data):
    return base64.b64encode(data).decode()


class FileTest(gdtest.AgentTest):
    def setUp(self):
        super().setUp()
        self.d = tempfile.mkdtemp(prefix="guestd-file-")
        os.chmod(self.d, 0o755)

    def tearDown(self):
        shutil.rmtree(self.d, ignore_errors=True)
        super().tearDown()

    def p(self, *names):
        return os.path.join(self.d, *names)

    def ok(self, execute, arguments=None, **kw):
        r = self.c.call(self, execute, arguments, **kw)
        self.assertIn("return", r, f"{execute} {arguments}: {r}")
        return r["return"]

    def err(self, execute, arguments=None, code=None, desc=None, **kw):
        r = self.c.call(self, execute, arguments, **kw)
        self.assertIn("error", r, f"{execute} {arguments} should fail: {r}")
        e = r["error"]
        if code is not None:
            self.assertEqual(e["code"], code, e)
            self.assertEqual(e["errno"], errno.errorcode[code])
        if desc is not None:
            self.assertIn(desc, e["desc"])
        return e

    def open(self, path, mode=None, **extra):
        args = {"path": path, **extra}
        if mode is not None:
            args["mode"] = mode
        h = self.ok("guest-file-open", args)
        self.assertIsInstance(h, int)
        return h

    def write(self, h, data, **extra):
        return self.ok("guest-file-write", {"handle": h, "buf-b64": b64(data), **extra})

    def read(self, h, count=None):
        args = {"handle": h}
        if count is not None:
            args["count"] = count
        r = self.ok("guest-file-read", args)
        data = base64.b64decode(r["buf-b64"], validate=True)
        self.assertEqual(len(data), r["count"])
        return data, r["eof"]

    def close(self, h):
        self.assertEqual(self.ok("guest-file-close", {"handle": h}), {})


class Handles(FileTest):
    def test_read_whole_file_default_count(self):
        with open(self.p("f"), "wb") as f:
            f.write(b"hello\n")
        h = self.open(self.p("f"))
        self.assertGreaterEqual(h, 1000)
        self.assertEqual(self.read(h), (b"hello\n", True))
        self.assertEqual(self.read(h), (b"", True))
        self.close(h)

    def test_read_in_pieces_and_eof(self):
        with open(self.p("f"), "wb") as f:
            f.write(b"0123456789")
        h = self.open(self.p("f"), "rb")
        self.assertEqual(self.read(h, 3), (b"012", False))
        self.assertEqual(self.read(h, 7), (b"3456789", False))   # exactly to the end
        self.assertEqual(self.read(h, 7), (b"", True))
        self.assertEqual(self.read(h, 0), (b"", False))           # as qemu-ga
        self.close(h)

    def test_all_byte_values_round_trip(self):
        data = ALL_BYTES * 257
        h = self.open(self.p("bin"), "w+")
        self.assertEqual(self.write(h, data), {"count": len(data), "eof": False})
        self.assertEqual(self.ok("guest-file-seek", {"handle": h, "offset": 0, "whence": "set"}),
                         {"position": 0, "eof": False})
        got, eof = self.read(h, len(data) + 1)
        self.assertEqual(got, data)
        self.assertTrue(eof)
        self.close(h)
        with open(self.p("bin"), "rb") as f:
            self.assertEqual(f.read(), data)

    def test_write_count(self):
        h = self.open(self.p("f"), "w")
        self.assertEqual(self.write(h, b"abcdef", count=2)["count"], 2)
        self.assertEqual(self.write(h, b"xyz", count=0)["count"], 0)
        self.err("guest-file-write", {"handle": h, "buf-b64": b64(b"abc"), "count": 4},
                 errno.EINVAL, "value '4' is invalid for argument count")
        self.err("guest-file-write", {"handle": h, "buf-b64": b64(b"abc"), "count": -1},
                 errno.EINVAL, "invalid for argument count")
        self.close(h)
        with open(self.p("f"), "rb") as f:
            self.assertEqual(f.read(), b"ab")

    def test_modes(self):
        with open(self.p("f"), "wb") as f:
            f.write(b"old")
        h = self.open(self.p("f"), "a")
        self.write(h, b"+new")
        self.close(h)
        with open(self.p("f"), "rb") as f:
            self.assertEqual(f.read(), b"old+new")
        h = self.open(self.p("f"), "r+b")
        self.write(h, b"OLD")
        self.close(h)
        with open(self.p("f"), "rb") as f:
            self.assertEqual(f.read(), b"OLD+new")
        h = self.open(self.p("f"), "w+")
        self.assertEqual(self.read(h), (b"", True))    # truncated
        self.close(h)
        h = self.open(self.p("f"), "ab+")
        self.close(h)
        for bad in ("", "rw", "x", "wx", "r++", "rbb", "R", "w+b+"):
            self.err("guest-file-open", {"path": self.p("f"), "mode": bad}, errno.EINVAL,
                     f"invalid file open mode '{bad}'")

    def test_created_files_are_0600_by_default(self):
        old = os.umask(0)
        try:
            h = self.open(self.p("new"), "w")
        finally:
            os.umask(old)
        self.close(h)
        self.assertEqual(stat.S_IMODE(os.stat(self.p("new")).st_mode), 0o600)

    def test_perms_exact_and_existing_file_kept(self):
        h = self.open(self.p("new"), "w", perms=0o640)
        self.close(h)
        self.assertEqual(stat.S_IMODE(os.stat(self.p("new")).st_mode), 0o640)
        h = self.open(self.p("g"), "w", perms=0o777)   # not masked by the agent's umask
        self.close(h)
        self.assertEqual(stat.S_IMODE(os.stat(self.p("g")).st_mode), 0o777)
        os.chmod(self.p("new"), 0o604)
        h = self.open(self.p("new"), "w", perms=0o600)
        self.close(h)
        self.assertEqual(stat.S_IMODE(os.stat(self.p("new")).st_mode), 0o604)
        self.err("guest-file-open", {"path": self.p("x"), "mode": "w", "perms": 0o10000},
                 errno.EINVAL, "perms")
        self.err("guest-file-open", {"path": self.p("x"), "mode": "w", "perms": -1},
                 errno.EINVAL, "perms")
        self.assertFalse(os.path.exists(self.p("x")))

    def test_seek(self):
        with open(self.p("f"), "wb") as f:
            f.write(b"0123456789")
        h = self.open(self.p("f"))
        for whence, off, want in ((0, 4, 4), ("cur", 2, 6), (1, -1, 5), ("end", -3, 7),
                                  (2, 0, 10), ("set", 100, 100)):
            r = self.ok("guest-file-seek", {"handle": h, "offset": off, "whence": whence})
            self.assertEqual(r, {"position": want, "eof": False})
        self.ok("guest-file-seek", {"handle": h, "offset": 8, "whence": "set"})
        self.assertEqual(self.read(h), (b"89", True))
        self.err("guest-file-seek", {"handle": h, "offset": -1, "whence": "set"}, errno.EINVAL,
                 "failed to seek file")
        self.err("guest-file-seek", {"handle": h, "offset": 0, "whence": 3}, errno.EINVAL,
                 "invalid whence code 3")
        self.err("guest-file-seek", {"handle": h, "offset": 0, "whence": "bogus"}, errno.EINVAL,
                 "Parameter 'whence' does not accept value 'bogus'")
        self.err("guest-file-seek", {"handle": h, "offset": 0, "whence": 1.5}, errno.EINVAL,
                 "'whence'")
        self.err("guest-file-seek", {"handle": h, "offset": 0}, errno.EINVAL,
                 "Parameter 'whence' is missing")
        self.close(h)

    def test_flush(self):
        h = self.open(self.p("f"), "w")
        self.write(h, b"data")
        self.assertEqual(self.ok("guest-file-flush", {"handle": h}), {})
        self.close(h)

    def test_bad_handle(self):
        for cmd, extra in (("guest-file-read", {}), ("guest-file-write", {"buf-b64": ""}),
                           ("guest-file-seek", {"offset": 0, "whence": 0}),
                           ("guest-file-flush", {}), ("guest-file-close", {})):
            e = self.err(cmd, {"handle": 1234, **extra}, errno.EBADF)
            self.assertEqual(e["desc"], "handle '1234' has not been found")
        h = self.open("/etc/hostname" if os.path.exists("/etc/hostname") else "/dev/null")
        self.close(h)
        self.err("guest-file-read", {"handle": h}, errno.EBADF, f"handle '{h}' has not been found")
        self.err("guest-file-close", {"handle": h}, errno.EBADF)
        self.err("guest-file-read", {"handle": "1000"}, errno.EINVAL,
                 "Invalid parameter type for 'handle', expected: integer")

    def test_read_count_limits(self):
        h = self.open("/dev/zero")
        got, eof = self.read(h, 48 * 1024 * 1024)
        self.assertEqual(len(got), 48 * 1024 * 1024)
        self.assertFalse(eof)
        self.err("guest-file-read", {"handle": h, "count": 48 * 1024 * 1024 + 1}, errno.EINVAL,
                 "value '50331649' is invalid for argument count")
        self.err("guest-file-read", {"handle": h, "count": -1}, errno.EINVAL,
                 "value '-1' is invalid for argument count")
        self.close(h)

    def test_bad_base64(self):
        h = self.open(self.p("f"), "w")
        for bad in ("aGVsbG8", "aGVs bG8=", "!!!!", "aGVsbG8=\n", "A===", "Zh=="):
            self.err("guest-file-write", {"handle": h, "buf-b64": bad}, errno.EINVAL,
                     "buf-b64 is not valid base64")
        self.close(h)
        self.assertEqual(os.path.getsize(self.p("f")), 0)

    def test_enoent_eisdir(self):
        self.err("guest-file-open", {"path": self.p("nope")}, errno.ENOENT,
                 f"failed to open file '{self.p('nope')}' (mode: 'r'): No such file or directory")
        self.err("guest-file-open", {"path": self.p("no", "dir"), "mode": "w"}, errno.ENOENT)
        self.err("guest-file-open", {"path": self.d, "mode": "w"}, errno.EISDIR)
        h = self.open(self.d)   # opening a directory for reading works, as in qemu-ga...
        self.err("guest-file-read", {"handle": h}, errno.EISDIR, "failed to read file")
        self.close(h)

    def test_write_to_read_only_handle(self):
        with open(self.p("f"), "wb") as f:
            f.write(b"x")
        h = self.open(self.p("f"), "r")
        self.err("guest-file-write", {"handle": h, "buf-b64": b64(b"y")}, errno.EBADF,
                 "failed to write to file")
        self.close(h)

    def test_open_follows_symlinks(self):
        with open(self.p("target"), "wb") as f:
            f.write(b"through the link")
        os.symlink("target", self.p("link"))
        h = self.open(self.p("link"))
        self.assertEqual(self.read(h), (b"through the link", True))
        self.close(h)

    def test_fifo_does_not_block(self):
        os.mkfifo(self.p("fifo"))
        h = self.open(self.p("fifo"))     # O_NONBLOCK: no writer needed
        self.assertEqual(self.read(h, 10), (b"", True))
        self.close(h)

    def test_handles_survive_reconnect(self):
        with open(self.p("f"), "wb") as f:
            f.write(b"abc")
        h = self.open(self.p("f"))
        self.c.close()
        self.c = self.agent.connect()
        self.assertEqual(self.read(h), (b"abc", True))
        self.close(h)

    def test_handles_agent_wide_and_increasing(self):
        h1 = self.open("/dev/null")
        c2 = self.agent.connect()
        r = c2.call(self, "guest-file-open", {"path": "/dev/null"})
        h2 = r["return"]
        self.assertGreater(h2, h1)
        r = c2.call(self, "guest-file-close", {"handle": h1})
        self.assertEqual(r, {"return": {}})
        c2.close()
        self.close(h2)

    def test_tagged_reads_of_one_handle_serialise(self):
        data = os.urandom(64 * 1024)
        with open(self.p("f"), "wb") as f:
            f.write(data)
        h = self.open(self.p("f"))
        for i in range(16):
            self.c.request("guest-file-read", {"handle": h, "count": 4096}, tag=i)
        pieces = []
        for _ in range(16):
            r = self.c.reply()
            gdtest.check_reply(self, r)
            pieces.append(base64.b64decode(r["return"]["buf-b64"]))
        # each read took its own 4 KiB: all pieces together are the file, in some order
        self.assertEqual(sorted(pieces), sorted(data[i:i + 4096] for i in range(0, len(data), 4096)))
        self.close(h)


class HandleCap(FileTest):
    agent_args = ("--max-file-handles", "4")

    def test_cap(self):
        hs = [self.open("/dev/null") for _ in range(4)]
        e = self.err("guest-file-open", {"path": self.p("x"), "mode": "w"}, errno.EMFILE,
                     "too many open file handles")
        self.assertIn("max-file-handles", e["desc"])
        self.assertFalse(os.path.exists(self.p("x")))   # refused before creating anything
        self.close(hs.pop())
        hs.append(self.open("/dev/null"))
        for h in hs:
            self.close(h)


class DefaultHandleCap(FileTest):
    def test_default_cap_is_256(self):
        """PROTOCOL.md §6: the default cap is 256 handles."""
        self.c.send("".join(json.dumps({"execute": "guest-file-open", "arguments": {"path": "/dev/null"}})
                            for _ in range(257)))
        replies = [self.c.reply() for _ in range(257)]
        handles = [r["return"] for r in replies[:256]]
        self.assertEqual(len(set(handles)), 256)
        self.assertEqual(replies[256]["error"]["errno"], "EMFILE")
        for h in handles:
            self.close(h)


class AsNobody(FileTest):
    """EACCES: the agent runs as nobody (setpriv), so permissions apply."""

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0 or not shutil.which("setpriv"):
            raise unittest.SkipTest("needs root and setpriv to run the agent as nobody")
        nobody = pwd.getpwnam("nobody")
        cls.uid, cls.gid = nobody.pw_uid, nobody.pw_gid
        real = gdtest.AGENT
        wrapper = tempfile.NamedTemporaryFile("w", suffix=".sh", delete=False)
        # gdtest.Agent runs: AGENT -m unix-listen -p DIR/sock ...; nobody needs DIR for its
        # socket and config
        wrapper.write(f"#!/bin/sh\nd=$(dirname \"$4\")\nchown {cls.uid}:{cls.gid} \"$d\"\n"
                      f"exec setpriv --reuid={cls.uid} --regid={cls.gid} "
                      f"--clear-groups {real} \"$@\"\n")
        wrapper.close()
        os.chmod(wrapper.name, 0o755)
        cls.wrapper = wrapper.name
        cls.agent = gdtest.Agent(binary=wrapper.name)

    @classmethod
    def tearDownClass(cls):
        cls.agent.close()
        os.unlink(cls.wrapper)

    def test_eacces(self):
        with open(self.p("secret"), "wb") as f:
            f.write(b"x")
        os.chmod(self.p("secret"), 0o600)
        self.err("guest-file-open", {"path": self.p("secret")}, errno.EACCES,
                 "Permission denied")
        self.err("guest-file-checksum", {"path": self.p("secret")}, errno.EACCES)
        self.err("guest-file-mkdir", {"path": self.p("sub")}, errno.EACCES)
        self.err("guest-file-remove", {"path": self.p("secret")}, errno.EACCES)
        self.err("guest-file-chmod", {"path": self.p("secret"), "mode": 0o644}, errno.EPERM)
        os.mkdir(self.p("closed"), 0o700)
        self.err("guest-file-list", {"path": self.p("closed")}, errno.EACCES)
        self.err("guest-file-stat", {"path": self.p("closed", "x")}, errno.EACCES)


class Info(FileTest):
    def test_stat_file(self):
        with open(self.p("f"), "wb") as f:
            f.write(b"12345")
        os.chmod(self.p("f"), 0o4751)
        st = os.lstat(self.p("f"))
        r = self.ok("guest-file-stat", {"path": self.p("f")})
        self.assertEqual(r["type"], "file")
        self.assertEqual(r["size"], 5)
        self.assertEqual(r["mode"], 0o4751)
        self.assertEqual((r["uid"], r["gid"], r["nlink"]), (st.st_uid, st.st_gid, 1))
        self.assertAlmostEqual(r["mtime"], st.st_mtime, places=3)
        self.assertNotIn("link-target", r)

    def test_stat_symlink_not_followed_unless_asked(self):
        os.mkdir(self.p("dir"))
        os.symlink("dir", self.p("link"))
        r = self.ok("guest-file-stat", {"path": self.p("link")})
        self.assertEqual((r["type"], r["link-target"], r["size"]), ("symlink", "dir", 3))
        r = self.ok("guest-file-stat", {"path": self.p("link"), "follow-symlinks": True})
        self.assertEqual(r["type"], "directory")
        self.assertNotIn("link-target", r)
        os.symlink("nowhere", self.p("dangling"))
        self.assertEqual(self.ok("guest-file-stat", {"path": self.p("dangling")})["type"], "symlink")
        self.err("guest-file-stat", {"path": self.p("dangling"), "follow-symlinks": True},
                 errno.ENOENT, "cannot stat")

    def test_stat_types(self):
        os.mkfifo(self.p("fifo"))
        self.assertEqual(self.ok("guest-file-stat", {"path": self.p("fifo")})["type"], "fifo")
        self.assertEqual(self.ok("guest-file-stat", {"path": "/dev/null"})["type"], "char-device")
        self.assertEqual(self.ok("guest-file-stat", {"path": self.d})["type"], "directory")
        self.err("guest-file-stat", {"path": self.p("nope")}, errno.ENOENT,
                 f"cannot stat '{self.p('nope')}'")
        self.err("guest-file-stat", {"path": self.p("fifo", "x")}, errno.ENOTDIR)

    def test_list_sorted_paged(self):
        names = [f"n{i:03d}" for i in range(25)]
        for n in reversed(names):
            open(self.p(n), "w").close()
        os.symlink("n000", self.p("zlink"))
        r = self.ok("guest-file-list", {"path": self.d})
        self.assertEqual([e["name"] for e in r["entries"]], names + ["zlink"])
        self.assertEqual((r["total"], r["truncated"]), (26, False))
        self.assertNotIn("next", r)
        self.assertEqual(r["entries"][-1]["type"], "symlink")        # entries: not followed
        self.assertEqual(r["entries"][-1]["link-target"], "n000")
        got, offset = [], 0
        while True:
            r = self.ok("guest-file-list", {"path": self.d, "offset": offset, "limit": 10})
            got += [e["name"] for e in r["entries"]]
            if not r["truncated"]:
                break
            offset = r["next"]
        self.assertEqual(got, names + ["zlink"])
        r = self.ok("guest-file-list", {"path": self.d, "offset": 1000})
        self.assertEqual((r["entries"], r["truncated"]), ([], False))

    def test_list_non_utf8_name(self):
        raw = os.fsencode(self.d) + b"/bad\xffname"
        open(raw, "w").close()
        r = self.ok("guest-file-list", {"path": self.d})
        e = r["entries"][0]
        self.assertEqual(e["name"], "bad?name")
        self.assertEqual(base64.b64decode(e["name-b64"]), b"bad\xffname")

    def test_list_errors(self):
        open(self.p("f"), "w").close()
        self.err("guest-file-list", {"path": self.p("f")}, errno.ENOTDIR, "cannot open directory")
        self.err("guest-file-list", {"path": self.p("nope")}, errno.ENOENT)
        self.err("guest-file-list", {"path": self.d, "limit": 0}, errno.EINVAL, "limit")
        self.err("guest-file-list", {"path": self.d, "limit": 10001}, errno.EINVAL, "limit")
        self.err("guest-file-list", {"path": self.d, "offset": -1}, errno.EINVAL, "offset")

    def test_list_follows_the_directory_symlink(self):
        os.mkdir(self.p("dir"))
        open(self.p("dir", "inside"), "w").close()
        os.symlink("dir", self.p("link"))
        r = self.ok("guest-file-list", {"path": self.p("link")})
        self.assertEqual([e["name"] for e in r["entries"]], ["inside"])

    def test_checksum(self):
        data = ALL_BYTES * 5000
        with open(self.p("f"), "wb") as f:
            f.write(data)
        os.symlink("f", self.p("link"))
        for alg in ("md5", "sha1", "sha256", "sha512"):
            r = self.ok("guest-file-checksum", {"path": self.p("link"), "algorithm": alg})
            self.assertEqual(r, {"algorithm": alg, "digest": hashlib.new(alg, data).hexdigest(),
                                 "size": len(data)})
        r = self.ok("guest-file-checksum", {"path": self.p("f")})
        self.assertEqual(r["algorithm"], "sha256")
        open(self.p("empty"), "w").close()
        self.assertEqual(self.ok("guest-file-checksum", {"path": self.p("empty")})["digest"],
                         hashlib.sha256(b"").hexdigest())
        self.err("guest-file-checksum", {"path": self.p("f"), "algorithm": "crc32"}, errno.EINVAL,
                 "Parameter 'algorithm' does not accept value 'crc32'")
        self.err("guest-file-checksum", {"path": self.d}, errno.EISDIR)
        self.err("guest-file-checksum", {"path": self.p("nope")}, errno.ENOENT)
        os.mkfifo(self.p("fifo"))
        self.err("guest-file-checksum", {"path": self.p("fifo")}, errno.EINVAL, "not a regular file")


class Changes(FileTest):
    def test_mkdir(self):
        self.assertEqual(self.ok("guest-file-mkdir", {"path": self.p("a")}), {})
        self.assertEqual(stat.S_IMODE(os.stat(self.p("a")).st_mode), 0o755)
        self.ok("guest-file-mkdir", {"path": self.p("b"), "mode": 0o1777})
        self.assertEqual(stat.S_IMODE(os.stat(self.p("b")).st_mode), 0o1777)   # exact, no umask
        self.err("guest-file-mkdir", {"path": self.p("a")}, errno.EEXIST, "cannot create directory")
        self.err("guest-file-mkdir", {"path": self.p("x", "y")}, errno.ENOENT)
        self.ok("guest-file-mkdir", {"path": self.p("x", "y", "z"), "parents": True, "mode": 0o700})
        self.assertEqual(stat.S_IMODE(os.stat(self.p("x", "y", "z")).st_mode), 0o700)
        self.ok("guest-file-mkdir", {"path": self.p("x", "y", "z"), "parents": True})
        open(self.p("file"), "w").close()
        self.err("guest-file-mkdir", {"path": self.p("file"), "parents": True}, errno.EEXIST)
        self.err("guest-file-mkdir", {"path": self.p("c"), "mode": 0o10000}, errno.EINVAL, "mode")

    def test_chmod_follows_symlinks(self):
        open(self.p("f"), "w").close()
        os.symlink("f", self.p("link"))
        self.assertEqual(self.ok("guest-file-chmod", {"path": self.p("link"), "mode": 0o640}), {})
        self.assertEqual(stat.S_IMODE(os.stat(self.p("f")).st_mode), 0o640)
        self.err("guest-file-chmod", {"path": self.p("nope"), "mode": 0o644}, errno.ENOENT,
                 "cannot change the mode")
        self.err("guest-file-chmod", {"path": self.p("f"), "mode": -1}, errno.EINVAL)
        self.err("guest-file-chmod", {"path": self.p("f")}, errno.EINVAL, "Parameter 'mode' is missing")

    @unittest.skipUnless(os.geteuid() == 0, "chown needs root")
    def test_chown(self):
        nobody = pwd.getpwnam("nobody")
        open(self.p("f"), "w").close()
        os.symlink("f", self.p("link"))
        self.ok("guest-file-chown", {"path": self.p("link"), "uid": nobody.pw_uid})
        self.assertEqual(os.lstat(self.p("link")).st_uid, nobody.pw_uid)   # the link itself
        self.assertEqual(os.stat(self.p("f")).st_uid, 0)
        self.ok("guest-file-chown", {"path": self.p("link"), "user": "nobody", "gid": 0,
                                     "follow-symlinks": True})
        self.assertEqual(os.stat(self.p("f")).st_uid, nobody.pw_uid)
        self.ok("guest-file-chown", {"path": self.p("f"), "user": "root", "group": "root"})
        self.assertEqual((os.stat(self.p("f")).st_uid, os.stat(self.p("f")).st_gid), (0, 0))
        self.err("guest-file-chown", {"path": self.p("f"), "user": "no-such-user-x"}, errno.ENOENT,
                 "no such user 'no-such-user-x'")
        self.err("guest-file-chown", {"path": self.p("f"), "uid": 0, "user": "root"}, errno.EINVAL,
                 "not both")
        self.err("guest-file-chown", {"path": self.p("f")}, errno.EINVAL, "at least one")
        self.err("guest-file-chown", {"path": self.p("nope"), "uid": 0}, errno.ENOENT)

    def test_remove(self):
        open(self.p("f"), "w").close()
        self.assertEqual(self.ok("guest-file-remove", {"path": self.p("f")}), {"removed": 1})
        self.assertFalse(os.path.exists(self.p("f")))
        os.mkdir(self.p("empty"))
        self.assertEqual(self.ok("guest-file-remove", {"path": self.p("empty")}), {"removed": 1})
        os.makedirs(self.p("full", "sub"))
        open(self.p("full", "sub", "x"), "w").close()
        self.err("guest-file-remove", {"path": self.p("full")}, errno.ENOTEMPTY, "cannot remove")
        self.assertEqual(self.ok("guest-file-remove", {"path": self.p("full"), "recursive": True}),
                         {"removed": 3})
        self.assertFalse(os.path.exists(self.p("full")))
        self.err("guest-file-remove", {"path": self.p("nope")}, errno.ENOENT)
        self.err("guest-file-remove", {"path": "/", "recursive": True}, errno.EPERM, "refusing")

    def test_remove_never_follows_symlinks(self):
        outside = tempfile.mkdtemp(prefix="guestd-outside-")
        try:
            open(os.path.join(outside, "keep"), "w").close()
            os.makedirs(self.p("tree", "sub"))
            os.symlink(outside, self.p("tree", "sub", "link-to-outside"))
            os.symlink(os.path.join(outside, "keep"), self.p("tree", "filelink"))
            # the link itself goes, not what it points to
            self.ok("guest-file-remove", {"path": self.p("tree", "filelink")})
            self.assertTrue(os.path.exists(os.path.join(outside, "keep")))
            r = self.ok("guest-file-remove", {"path": self.p("tree"), "recursive": True})
            self.assertEqual(r, {"removed": 3})
            self.assertTrue(os.path.exists(os.path.join(outside, "keep")))
            # a symlink to a directory given as the path: removed as a link
            os.symlink(outside, self.p("dirlink"))
            self.ok("guest-file-remove", {"path": self.p("dirlink"), "recursive": True})
            self.assertTrue(os.path.exists(os.path.join(outside, "keep")))
            self.assertFalse(os.path.lexists(self.p("dirlink")))
        finally:
            shutil.rmtree(outside)

    def test_remove_deep_and_wide(self):
        path = self.p("deep")
        for i in range(40):
            path = os.path.join(path, f"d{i}")
        os.makedirs(path)
        for i in range(300):
            open(self.p("deep", f"f{i}"), "w").close()
        r = self.ok("guest-file-remove", {"path": self.p("deep"), "recursive": True})
        self.assertEqual(r["removed"], 1 + 40 + 300)

    def test_rename(self):
        with open(self.p("a"), "w") as f:
            f.write("A")
        with open(self.p("b"), "w") as f:
            f.write("B")
        self.assertEqual(self.ok("guest-file-rename", {"path": self.p("a"), "new-path": self.p("b")}), {})
        with open(self.p("b")) as f:
            self.assertEqual(f.read(), "A")
        self.assertFalse(os.path.exists(self.p("a")))
        os.symlink("b", self.p("link"))
        self.ok("guest-file-rename", {"path": self.p("link"), "new-path": self.p("link2")})
        self.assertEqual(os.readlink(self.p("link2")), "b")              # the link, not followed
        self.err("guest-file-rename", {"path": self.p("nope"), "new-path": self.p("x")},
                 errno.ENOENT, f"cannot rename '{self.p('nope')}' to '{self.p('x')}'")
        os.mkdir(self.p("dir"))
        self.err("guest-file-rename", {"path": self.p("b"), "new-path": self.p("dir")}, errno.EISDIR)


class Guestctl(FileTest):
    def ctl(self, *args, input=None, check=True):
        if not gdtest.GUESTCTL:
            self.skipTest("no guestctl")
        r = subprocess.run([gdtest.GUESTCTL, "-s", self.agent.sock, *args], input=input,
                           capture_output=True, timeout=300)
        if check:
            self.assertEqual(r.returncode, 0, r.stderr.decode())
        return r

    def test_cp_both_ways_binary(self):
        data = ALL_BYTES * 40000 + b"tail"    # ~10 MiB: several chunks
        with open(self.p("src"), "wb") as f:
            f.write(data)
        os.chmod(self.p("src"), 0o640)
        os.mkdir(self.p("in"))
        r = self.ctl("cp", "--sha256", self.p("src"), ":" + self.p("in") + "/")
        self.assertEqual(r.stderr, b"")                     # no progress bar off a terminal
        with open(self.p("in", "src"), "rb") as f:
            self.assertEqual(f.read(), data)
        self.assertEqual(stat.S_IMODE(os.stat(self.p("in", "src")).st_mode), 0o640)
        self.assertEqual(os.listdir(self.p("in")), ["src"])   # no temp file left
        self.ctl("cp", "--sha256", ":" + self.p("in", "src"), self.p("back"))
        with open(self.p("back"), "rb") as f:
            self.assertEqual(f.read(), data)
        r = self.ctl("cp", ":" + self.p("in", "src"), "-")
        self.assertEqual(r.stdout, data)

    def test_cp_replaces_atomically_and_empty_file(self):
        with open(self.p("dst"), "wb") as f:
            f.write(b"old contents")
        open(self.p("empty"), "w").close()
        self.ctl("cp", self.p("empty"), ":" + self.p("dst"))
        self.assertEqual(os.path.getsize(self.p("dst")), 0)
        self.ctl("cp", ":" + self.p("empty"), self.p("dst2"))
        self.assertEqual(os.path.getsize(self.p("dst2")), 0)

    def test_cp_errors_leave_nothing(self):
        r = self.ctl("cp", ":" + self.p("nope"), self.p("x"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn(b"No such file or directory", r.stderr)
        self.assertEqual(os.listdir(self.d), [])
        r = self.ctl("cp", "/nonexistent-local", ":" + self.p("x"), check=False)
        self.assertEqual(r.returncode, 1)
        r = self.ctl("cp", self.p("a"), self.p("b"), check=False)
        self.assertEqual(r.returncode, 2)
        open(self.p("f"), "w").close()
        r = self.ctl("cp", self.p("f"), ":" + self.p("no", "such", "dir", "f"), check=False)
        self.assertEqual(r.returncode, 1)
        self.assertEqual(sorted(os.listdir(self.d)), ["f"])

    def test_cat_ls_stat(self):
        with open(self.p("f"), "wb") as f:
            f.write(b"cat me\n")
        os.symlink("f", self.p("link"))
        self.assertEqual(self.ctl("cat", ":" + self.p("f")).stdout, b"cat me\n")
        out = self.ctl("ls", ":" + self.d).stdout.decode()
        lines = out.splitlines()
        self.assertEqual(len(lines), 2)
        self.assertTrue(lines[0].startswith("-rw") and lines[0].endswith(" f"), lines[0])
        self.assertTrue(lines[1].startswith("l") and lines[1].endswith("link -> f"), lines[1])
        out = self.ctl("stat", ":" + self.p("f")).stdout.decode()
        self.assertIn("Size: 7", out)
        self.assertIn("Type: file", out)
        r = self.ctl("cat", ":" + self.p("nope"), check=False)
        self.assertEqual(r.returncode, 1)


if __name__ == "__main__":
    gdtest.main()
