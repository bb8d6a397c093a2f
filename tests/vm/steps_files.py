"""File steps on the data disk (/mnt/data): guestctl cp both ways with --sha256, guest-file-stat
and guest-file-list, and a streamed 24 MiB guest-file-read with a tagged ping overtaking it
under a bounded agent RSS.  All guestd-only: guest-file-stat/list/checksum and tags are guestd
extensions, and guestctl cp relies on guest-file-rename and guest-file-checksum."""

import base64
import hashlib
import json
import os
import subprocess
import time

import vmlib
from conformance import step, check, StepSkip, StepFail, expect_return

CP_SIZE = 8 << 20
CP_GUEST = vmlib.DATA_MOUNT + "/rt.bin"
STREAM_COUNT = 24 << 20
RSS_LIMIT_KB = 16 << 10


def _guestctl(c, args, timeout=120):
    r = subprocess.run([c.guestctl, "-s", c.vm.sock, "-t", "60"] + args,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=timeout)
    check(r.returncode == 0, "guestctl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                          (r.stderr or r.stdout).strip()[-400:]))
    return r


def _sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


@step("guestctl-cp-sha256", guestd_only=True)
def _(c):
    # 8 MiB of random bytes up to the data disk and back, both copies checked by guestctl
    # against guest-file-checksum (--sha256), then compared here.
    if not c.guestctl:
        raise StepSkip("no guestctl binary given (--guestctl)")
    work = c.vm.workdir
    src, back = os.path.join(work, "rt-src.bin"), os.path.join(work, "rt-back.bin")
    with open(src, "wb") as f:
        f.write(os.urandom(CP_SIZE))
    if os.path.exists(back):
        os.unlink(back)
    want = _sha256_file(src)
    c.q.close()  # QEMU's chardev serves one client at a time: hand it to guestctl
    c.q = None
    try:
        t0 = time.monotonic()
        _guestctl(c, ["cp", "--sha256", src, ":" + CP_GUEST])
        t1 = time.monotonic()
        _guestctl(c, ["cp", "--sha256", ":" + CP_GUEST, back])
        t2 = time.monotonic()
    finally:
        c.reconnect()
    check(os.path.getsize(back) == CP_SIZE, "copied back %d bytes, expected %d"
          % (os.path.getsize(back), CP_SIZE))
    got = _sha256_file(back)
    check(got == want, "round trip changed the content: sha256 %s, expected %s" % (got, want))
    sums = c.ret("guest-file-checksum", {"path": CP_GUEST})
    check(sums.get("digest") == want and sums.get("size") == CP_SIZE,
          "guest-file-checksum of %s: %r, expected %s" % (CP_GUEST, sums, want))
    c.metrics["cp_sha256"] = want
    for p in (src, back):
        os.unlink(p)
    mib = CP_SIZE / (1 << 20)
    return "8 MiB up %.1f MiB/s, down %.1f MiB/s, sha256 ok" % (mib / (t1 - t0), mib / (t2 - t1))


@step("file-stat-list", guestd_only=True)
def _(c):
    want = {"hello.txt": 32, os.path.basename(vmlib.BENCH_FILE): vmlib.BENCH_FILE_SIZE,
            os.path.basename(vmlib.BIG_FILE): vmlib.BIG_FILE_SIZE}
    if "cp_sha256" in c.metrics:  # the cp step ran and left its file
        want[os.path.basename(CP_GUEST)] = CP_SIZE
    for name, size in sorted(want.items()):
        st = c.ret("guest-file-stat", {"path": vmlib.DATA_MOUNT + "/" + name})
        check(st.get("type") == "file", "%s: type %r" % (name, st.get("type")))
        check(st.get("size") == size, "%s: stat size %r, expected %d" % (name, st.get("size"),
                                                                       size))
        for k in ("mode", "uid", "gid", "nlink", "atime", "mtime", "ctime"):
            check(isinstance(st.get(k), (int, float)), "%s: stat without %s: %r" % (name, k, st))
    d = c.ret("guest-file-stat", {"path": vmlib.DATA_MOUNT})
    check(d.get("type") == "directory", "%s: type %r" % (vmlib.DATA_MOUNT, d.get("type")))
    # Whole listing in one page, then one entry per page to walk the paging.
    ls = c.ret("guest-file-list", {"path": vmlib.DATA_MOUNT})
    entries = ls.get("entries")
    check(isinstance(entries, list), "guest-file-list: no entries: %r" % ls)
    names = [e.get("name") for e in entries]
    check(names == sorted(names), "entries not sorted by name: %r" % names)
    check(ls.get("total") == len(entries) and ls.get("truncated") is False,
          "total %r / truncated %r for %d entries" % (ls.get("total"), ls.get("truncated"),
                                                      len(entries)))
    by = {e.get("name"): e for e in entries}
    for name, size in want.items():
        check(name in by, "%s missing from the listing %r" % (name, names))
        check(by[name].get("type") == "file" and by[name].get("size") == size,
              "%s listed as %r, expected a file of %d bytes" % (name, by[name], size))
    check("lost+found" in by and by["lost+found"].get("type") == "directory",
          "lost+found not listed as a directory: %r" % by.get("lost+found"))
    temps = [n for n in names if ".guestctl-" in n]
    check(not temps, "guestctl cp left temporary files: %r" % temps)
    paged, off = [], 0
    for _ in range(len(entries) + 1):
        p = c.ret("guest-file-list", {"path": vmlib.DATA_MOUNT, "offset": off, "limit": 1})
        paged += [e.get("name") for e in p["entries"]]
        if not p.get("truncated"):
            break
        off = p.get("next")
        check(isinstance(off, int), "truncated page without next: %r" % p)
    check(paged == names, "paged listing %r differs from %r" % (paged, names))
    return "%d entries; %s" % (len(entries), ", ".join("%s %d" % (n, s) for n, s in
                                                      sorted(want.items())))


@step("stream-read-24m", guestd_only=True)
def _(c):
    # One tagged 24 MiB guest-file-read (a 32 MiB reply, streamed in 1 MiB pieces) and right
    # behind it a tagged ping: the ping must be answered first, the read must be whole and
    # right, and the agent's RSS (VmRSS and the per-interval peak VmHWM of the GDSTAT samples,
    # from just before the request to the first sample after the reply) must stay < 16 MiB.
    vm = c.vm
    h = c.ret("guest-file-open", {"path": vmlib.BIG_FILE})
    try:
        # Start from a fresh sample, so the one written next covers only what follows.
        vm.wait_stat(lambda s: True, vm.console_size(), timeout=10)
        since = vm.console_size()
        t0 = time.monotonic()
        c.q.send(c.q.request("guest-file-read", {"handle": h, "count": STREAM_COUNT}, tag="big")
                 + c.q.request("guest-ping", tag="fast"))
        first = c.q.read_reply(60)
        t_first = time.monotonic() - t0
        second = c.q.read_reply(120)
        t_second = time.monotonic() - t0
        end = vm.console_size()
        after = vm.wait_stat(lambda s: True, end, timeout=10)
    finally:
        c.ret("guest-file-close", {"handle": h})
    check(first.get("tag") == "fast", "the tagged ping waited for the 24 MiB read (first reply: "
          "%s)" % json.dumps(first)[:160])
    expect_return(first, {}, "tagged ping", tag="fast")
    r = expect_return(second, None, "guest-file-read", tag="big")
    check(list(r)[:1] == ["buf-b64"] and set(r) == {"buf-b64", "count", "eof"},
          "read reply members %r, expected buf-b64 first, then count and eof" % list(r))
    data = base64.b64decode(r["buf-b64"])
    check(r["count"] == STREAM_COUNT and len(data) == STREAM_COUNT,
          "read count %r, %d bytes decoded, expected %d" % (r["count"], len(data), STREAM_COUNT))
    check(r["eof"] is False, "eof %r after 24 of 48 MiB" % r["eof"])
    want = hashlib.sha256(vmlib.bench_file_bytes(vmlib.BIG_FILE_SIZE)[:STREAM_COUNT])
    check(hashlib.sha256(data).hexdigest() == want.hexdigest(), "24 MiB read: wrong content")
    check(after is not None, "no GDSTAT sample after the read\n%s" % vm.console_tail(10))
    samples = [s for s in vm.stats(since) if s[0] <= after[0]]
    check(all(s[2] is not None for s in samples), "the agent died during the read")
    rss = [s[3] for s in samples if s[3] is not None]
    hwm = [s[5] for s in samples if s[5] is not None]
    check(rss, "no VmRSS in the GDSTAT samples: %r" % samples)
    peak = max(rss + hwm)
    check(peak < RSS_LIMIT_KB, "agent RSS reached %d kB during the 24 MiB read (limit %d kB); "
          "samples (uptime, rss, hwm): %r" % (peak, RSS_LIMIT_KB,
                                              [(s[0], s[3], s[5]) for s in samples]))
    if not hwm:
        raise StepFail("no VmHWM in the GDSTAT samples: the RSS check saw only %d sample(s)"
                       % len(rss))
    c.metrics["stream_read_peak_rss_kb"] = peak
    return ("ping after %.0f ms, 24 MiB after %.0f ms (%.1f MiB/s), peak RSS %d kB over %d "
            "samples" % (t_first * 1000, t_second * 1000, 24 / t_second, peak, len(samples)))
