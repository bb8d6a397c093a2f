#!/usr/bin/env python3
"""Install the build into a scratch DESTDIR and check the tree.

Usage: check-install.py MESON BUILDDIR PREFIX BINDIR SBINDIR MANDIR DOCDIR HOST_OS

Runs "meson install -C BUILDDIR --destdir TMP --no-rebuild" and checks that
the programs, the man pages, the documents and the service files for HOST_OS
are installed where they belong (unit and udev rule on Linux, rc.d script on
FreeBSD), and that the rc.d script and the programs are executable.
"""
import os
import stat
import subprocess
import sys
import tempfile


def main():
    meson, builddir, prefix, bindir, sbindir, mandir, docdir, host_os = sys.argv[1:9]
    failures = []

    with tempfile.TemporaryDirectory(prefix="guestd-install-") as destdir:
        proc = subprocess.run(
            [meson, "install", "-C", builddir, "--destdir", destdir, "--no-rebuild"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if proc.returncode != 0:
            print(proc.stdout)
            print(f"FAIL: meson install exited {proc.returncode}"
                  " (a missing file means it was not built: run ninja first)")
            return 1

        def under(*parts):
            """Path inside destdir of an install path (absolute or prefix-relative)."""
            path = os.path.join(prefix, *parts)
            return os.path.join(destdir, path.lstrip("/"))

        def want(path, executable=False):
            rel = os.path.relpath(path, destdir)
            if not os.path.isfile(path):
                failures.append(f"missing /{rel}")
            elif executable and not os.stat(path).st_mode & stat.S_IXUSR:
                failures.append(f"not executable: /{rel}")
            else:
                print(f"ok   /{rel}")

        def want_somewhere(tail):
            """A file whose installed path ends with tail (its directory comes from pkg-config)."""
            hits = [os.path.join(d, f) for d, _, fs in os.walk(destdir) for f in fs
                    if os.path.join(d, f).endswith(tail)]
            if hits:
                print(f"ok   /{os.path.relpath(hits[0], destdir)}")
            else:
                failures.append(f"missing .../{tail}")

        want(under(sbindir, "guestd"), executable=True)
        want(under(bindir, "guestctl"), executable=True)
        for sect, page in (("1", "guestctl.1"), ("5", "guestd.conf.5"), ("8", "guestd.8")):
            want(under(mandir, "man" + sect, page))
        for doc in ("protocol.md", "plugins.md", "design.md", "commands.md"):
            want(under(docdir, doc))
        if host_os == "linux":
            want_somewhere("systemd/system/guestd.service")
            want_somewhere("udev/rules.d/60-guestd.rules")
        elif host_os == "freebsd":
            want(under("etc", "rc.d", "guestd"), executable=True)

    for f in failures:
        print("FAIL: " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
