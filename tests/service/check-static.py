#!/usr/bin/env python3
"""The fully static build (meson option fully_static): configure a scratch build, link guestd
and guestctl with -static, check that they are static and that they serve in an empty root.

Usage: check-static.py MESON SRCDIR BUILDDIR CC...

The scratch build lives in BUILDDIR/tmp/fully-static and is reused (ninja rebuilds only what
changed). Exits 77 (skipped) when the C compiler cannot link a static program (no libc.a).
As root, the programs run chrooted into an empty directory (nothing but themselves, an empty
config and an /etc/group), which is what an initramfs without shared libraries looks like;
otherwise they run in place.
"""
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

PT_INTERP = 3
PT_DYNAMIC = 2


def elf_segments(path):
    """The program header types of a 64- or 32-bit little/big-endian ELF file."""
    with open(path, "rb") as f:
        ident = f.read(16)
        if ident[:4] != b"\x7fELF":
            raise ValueError(f"{path}: not an ELF file")
        bits64 = ident[4] == 2
        end = "<" if ident[5] == 1 else ">"
        if bits64:
            hdr = struct.unpack(end + "HHIQQQIHHHHHH", f.read(48))
            phoff, phentsize, phnum = hdr[4], hdr[8], hdr[9]
        else:
            hdr = struct.unpack(end + "HHIIIIIHHHHHH", f.read(36))
            phoff, phentsize, phnum = hdr[4], hdr[8], hdr[9]
        types = []
        for i in range(phnum):
            f.seek(phoff + i * phentsize)
            types.append(struct.unpack(end + "I", f.read(4))[0])
        return types


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def static_libc(cc):
    with tempfile.TemporaryDirectory(prefix="guestd-static-cc-") as d:
        src = os.path.join(d, "t.c")
        with open(src, "w") as f:
            f.write("#include <stdio.h>\nint main(void) { puts(\"ok\"); return 0; }\n")
        p = run(cc + ["-static", "-o", os.path.join(d, "t"), src])
        return p.returncode == 0


def ping(path, timeout=5):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect(path)
        s.sendall(b'{"execute":"guest-ping"}{"execute":"guest-sync","arguments":{"id":77}}')
        buf = b""
        while buf.count(b"\n") < 2:
            chunk = s.recv(4096)
            if not chunk:
                break
            buf += chunk
        return [json.loads(line) for line in buf.split(b"\n") if line]
    finally:
        s.close()


def main():
    meson, srcdir, builddir = sys.argv[1:4]
    cc = sys.argv[4:]
    failures = []

    def check(ok, what):
        print(("ok   " if ok else "FAIL ") + what)
        if not ok:
            failures.append(what)
        return ok

    if not static_libc(cc):
        print(f"{' '.join(cc)} cannot link a static program (no libc.a): skipped")
        return 77

    scratch = os.path.join(builddir, "tmp", "fully-static")
    t0 = time.monotonic()
    if not os.path.exists(os.path.join(scratch, "build.ninja")):
        shutil.rmtree(scratch, ignore_errors=True)
        os.makedirs(os.path.dirname(scratch), exist_ok=True)
        p = run([meson, "setup", scratch, srcdir, "-Dfully_static=true", "-Dtests=false",
                 "-Dvm_tests=disabled", "-Dbuildtype=release"])
        if p.returncode != 0:
            print(p.stdout)
            print("FAIL meson setup -Dfully_static=true")
            shutil.rmtree(scratch, ignore_errors=True)
            return 1
    p = run(["ninja", "-C", scratch, "guestd", "guestctl"])
    if not check(p.returncode == 0, "ninja guestd guestctl (fully_static)"):
        print(p.stdout)
        return 1
    # the linker's NSS warnings are expected (docs/guestd.8 CAVEATS); anything else is not
    others = [l for l in p.stdout.splitlines() if "warning" in l
              and "statically linked applications requires at runtime" not in l]
    check(not others, "no warnings but the documented NSS ones" +
          ("".join("\n     " + l for l in others)))
    print(f"     built in {time.monotonic() - t0:.1f} s")

    guestd = os.path.join(scratch, "guestd")
    guestctl = os.path.join(scratch, "guestctl")
    for prog in (guestd, guestctl):
        name = os.path.basename(prog)
        segs = elf_segments(prog)
        check(PT_INTERP not in segs and PT_DYNAMIC not in segs,
              f"{name}: no program interpreter, no dynamic section")
        if shutil.which("file"):
            out = run(["file", "-L", prog]).stdout
            check("statically linked" in out or "static-pie linked" in out,
                  f"{name}: file(1) says statically linked")
        if shutil.which("ldd"):
            out = run(["ldd", prog]).stdout
            check("not a dynamic executable" in out, f"{name}: ldd says 'not a dynamic executable'")

    root = tempfile.mkdtemp(prefix="guestd-static-root-")
    proc = None
    try:
        chroot = []
        if os.geteuid() == 0 and shutil.which("chroot"):
            for prog in (guestd, guestctl):
                shutil.copy2(prog, root)
            open(os.path.join(root, "guestd.conf"), "w").close()
            os.mkdir(os.path.join(root, "etc"))
            with open(os.path.join(root, "etc", "group"), "w") as f:
                f.write("agents:x:4242:\n")
            if run(["chroot", root, "/guestd", "-V"]).returncode == 0:
                chroot = ["chroot", root]
                where = "chrooted into a directory with nothing else"
        if not chroot:
            shutil.copy2(guestd, root)
            shutil.copy2(guestctl, root)
            open(os.path.join(root, "guestd.conf"), "w").close()
            where = "in place (not root: no empty chroot)"
        inside = (lambda p: p) if chroot else (lambda p: os.path.join(root, p.lstrip("/")))
        print(f"     running {where}")

        p = run(chroot + [inside("/guestd"), "-V"])
        check(p.returncode == 0 and p.stdout.startswith("guestd "), f"guestd -V: {p.stdout.strip()}")

        args = chroot + [inside("/guestd"), "-m", "unix-listen", "-p", inside("/s"), "-t",
                         inside("/"), "-c", inside("/guestd.conf")]
        if chroot:
            args += ["--socket-group", "agents"]  # /etc/group, no NSS library in the root
        proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)
        sock = os.path.join(root, "s")
        deadline = time.monotonic() + 10
        while not os.path.exists(sock) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        if check(os.path.exists(sock), "the agent listens on its unix socket"):
            check(ping(sock) == [{"return": {}}, {"return": 77}], "guest-ping and guest-sync answer")
            if chroot:
                check(os.stat(sock).st_gid == 4242, "socket-group by name from /etc/group")
            p = run(chroot + [inside("/guestctl"), "-s", inside("/s"), "ping"])
            check(p.returncode == 0 and p.stdout.strip() == "pong", f"guestctl ping: {p.stdout.strip()}")
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
        err = proc.stderr.read()
        check(rc == 0, f"SIGTERM: exit status {rc} {err.strip()}")
        check(not os.path.exists(sock), "socket removed at exit")
        if chroot:
            p = run(args[:-2] + ["--socket-group", "nosuchgroup"])
            check(p.returncode == 1 and "nosuchgroup" in p.stdout,
                  f"unknown group refused: {p.stdout.strip()}")
    finally:
        if proc and proc.poll() is None:
            proc.kill()
            proc.wait()
        shutil.rmtree(root, ignore_errors=True)

    if failures:
        print(f"{len(failures)} failed")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
