#!/usr/bin/env python3
"""guestd vs qemu-ga in the same real VM (tests/vm's guest image), side by side.

    bench/vm/bench.py [--binary build/guestd] [--agents guestd,qemu-ga] [--pings 2000]
                      [--rounds N]   (N boots per agent, interleaved; medians reported)

For each agent: boot the guest and measure
  - boot-to-first-pong: QEMU start to the first guest-sync-delimited reply (s)
  - sequential pings/s over virtio-serial, one request in flight
  - guest-file-read MiB/s of a 16 MiB file on the virtio data disk, 4 MiB per read
    (best of 3 passes; 'n/a' while the agent lacks guest-file-*), and of the 48 MiB file in
    one 48 MiB read (guest-file-read's largest count; best of --big-passes, 0 to skip)
  - the agent's peak RSS during each kind of read (VmHWM of the GDSTAT samples, MiB)
  - the agent's idle wake-ups/s while the host is disconnected (context switches of all its
    threads, read from /proc inside the guest)
  - the agent's RSS after the reads (VmRSS, MiB), and its CPU time per ping and per MiB read
    (utime+stime from /proc/PID/stat in the guest, 10 ms ticks)
then print a table with the ratio guestd/qemu-ga.  Exit 77 if no VM can be run here.
"""

import argparse
import base64
import hashlib
import json
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "tests", "vm"))
import vmlib  # noqa: E402
import conformance  # noqa: E402

READ_COUNT = 4 << 20


def bench_pings(q, n):
    req = q.request("guest-ping")
    t0 = time.monotonic()
    for _ in range(n):
        q.send(req)
        r = q.read_line()
        if r != b'{"return": {}}' and json.loads(r) != {"return": {}}:
            raise RuntimeError("bad ping reply %r" % r)
    return n / (time.monotonic() - t0)


def read_file_once(q, path, want_sha, size=vmlib.BENCH_FILE_SIZE, count=READ_COUNT):
    r = q.call("guest-file-open", {"path": path, "mode": "r"}, timeout=30)
    if "error" in r:
        if r["error"].get("class") == "CommandNotFound":
            return None
        raise RuntimeError("guest-file-open: %s" % r["error"].get("desc"))
    h = r["return"]
    total = 0
    sha = hashlib.sha256()
    t0 = time.monotonic()
    try:
        while True:
            r = q.call("guest-file-read", {"handle": h, "count": count}, timeout=300)
            if "error" in r:
                if r["error"].get("class") == "CommandNotFound":
                    return None
                raise RuntimeError("guest-file-read: %s" % r["error"].get("desc"))
            data = base64.b64decode(r["return"].get("buf-b64", ""))
            sha.update(data)
            total += len(data)
            if r["return"].get("eof") or not data:
                break
        dt = time.monotonic() - t0
    finally:
        q.call("guest-file-close", {"handle": h}, timeout=30)
    if total != size or sha.hexdigest() != want_sha:
        raise RuntimeError("read %d bytes with the wrong content" % total)
    return total / dt / (1 << 20)


def next_cpu(vm):
    """The agent's CPU seconds from the next GDSTAT sample written from now on."""
    s = vm.wait_stat(lambda s: s[4] is not None, vm.console_size(), timeout=10)
    return s[4] if s else None


def peak_rss_mib(vm, since):
    """The agent's peak RSS (MiB) in the GDSTAT samples from console offset SINCE to the next
    sample written from now on (VmHWM: peak since the previous sample)."""
    vm.wait_stat(lambda s: True, vm.console_size(), timeout=10)
    v = [x for s in vm.stats(since) for x in (s[3], s[5]) if x is not None]
    return max(v) / 1024 if v else None


def bench_agent(agent, build, pings, big_passes=3):
    res = {"agent": agent.name}
    kernel, initrd, disk, work = vmlib.prepare(agent, build, "bench-" + agent.name)
    # 512 MiB: a 48 MiB read makes qemu-ga hold the data, its base64 and the JSON text at once.
    vm = vmlib.VM(work, kernel, initrd, disk, mem=512)
    try:
        q, res["first_pong_s"] = vmlib.boot_and_sync(vm)
        res["accel"] = ",".join(vm.accel_used)
        bench_pings(q, min(200, pings))  # warm-up
        cpu0 = next_cpu(vm)
        res["pings_per_s"] = bench_pings(q, pings)
        cpu1 = next_cpu(vm)
        res["ping_cpu_us"] = (cpu1 - cpu0) / pings * 1e6 if None not in (cpu0, cpu1) else None
        want = hashlib.sha256(vmlib.bench_file_bytes()).hexdigest()
        since = vm.console_size()
        best = None
        passes = 0
        for _ in range(3):
            v = read_file_once(q, vmlib.BENCH_FILE, want)
            if v is None:
                break
            passes += 1
            best = v if best is None else max(best, v)
        cpu2 = next_cpu(vm)
        res["read_mib_s"] = best
        if passes and None not in (cpu1, cpu2):
            res["read_cpu_ms_per_mib"] = (cpu2 - cpu1) * 1000 / (passes * vmlib.BENCH_FILE_SIZE
                                                                  / (1 << 20))
        res["read_peak_rss_mib"] = peak_rss_mib(vm, since)
        if passes and big_passes:
            want = hashlib.sha256(vmlib.bench_file_bytes(vmlib.BIG_FILE_SIZE)).hexdigest()
            since = vm.console_size()
            best = None
            try:
                for _ in range(big_passes):
                    v = read_file_once(q, vmlib.BIG_FILE, want, vmlib.BIG_FILE_SIZE,
                                       vmlib.BIG_FILE_SIZE)
                    best = v if best is None else max(best, v)
            except Exception as e:  # e.g. the agent killed by the OOM killer: keep the rest
                print("[bench] %s: 48 MiB read failed: %s" % (agent.name, e), flush=True)
                if not vm.running() or vm.stats()[-1][2] is None:
                    raise
                q.sync()
            res["read48_mib_s"] = best
            res["read48_peak_rss_mib"] = peak_rss_mib(vm, since)
        q.sync()
        c = conformance.Ctx(vm, q, agent)
        n, secs = conformance.measure_idle(c)
        res["idle_wakeups_per_s"] = n / secs
        st = [s for s in vm.stats() if s[3] is not None]
        res["rss_mib"] = st[-1][3] / 1024 if st else None
        c.q.close()
    finally:
        vm.kill()
    return res


def median_result(rs):
    out = dict(rs[0])
    for _, key, _ in ROWS:
        vals = sorted(r[key] for r in rs if r.get(key) is not None)
        out[key] = vals[len(vals) // 2] if vals else None
    return out


ROWS = [
    ("boot to first pong (s)", "first_pong_s", "%.2f"),
    ("pings/s (1 in flight)", "pings_per_s", "%.0f"),
    ("agent CPU per ping (us)", "ping_cpu_us", "%.0f"),
    ("file read, 4 MiB counts (MiB/s)", "read_mib_s", "%.1f"),
    ("agent CPU per MiB read (ms)", "read_cpu_ms_per_mib", "%.0f"),
    ("peak RSS, 4 MiB reads (MiB)", "read_peak_rss_mib", "%.1f"),
    ("file read, 48 MiB counts (MiB/s)", "read48_mib_s", "%.1f"),
    ("peak RSS, 48 MiB reads (MiB)", "read48_peak_rss_mib", "%.1f"),
    ("idle wakeups/s (host away)", "idle_wakeups_per_s", "%.2f"),
    ("RSS after reads (MiB)", "rss_mib", "%.1f"),
]


def table(results):
    names = [r["agent"] for r in results]
    head = ["metric"] + names
    if names == ["guestd", "qemu-ga"]:
        head.append("guestd/qemu-ga")
    rows = [head]
    for label, key, fmt in ROWS:
        row = [label]
        vals = [r.get(key) for r in results]
        row += ["n/a" if v is None else fmt % v for v in vals]
        if len(head) == 4:
            a, b = vals
            row.append("n/a" if a is None or b is None else
                       ("%.2f" % (a / b) if b else ("1.00" if a == 0 else "inf")))
        rows.append(row)
    w = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for j, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w[i]) if i == 0 else c.rjust(w[i]) for i, c in enumerate(r)))
        if j == 0:
            lines.append("  ".join("-" * x for x in w))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--agents", default="guestd,qemu-ga")
    ap.add_argument("--binary", help="guestd binary (default BUILD/guestd)")
    ap.add_argument("--qemu-ga", help="qemu-ga binary (default /usr/sbin/qemu-ga)")
    ap.add_argument("--build-dir", default=None)
    ap.add_argument("--pings", type=int, default=2000)
    ap.add_argument("--rounds", type=int, default=1,
                    help="boot each agent this many times, interleaved; report medians")
    ap.add_argument("--big-passes", type=int, default=3,
                    help="48 MiB reads of the 48 MiB file per boot (best kept; 0: skip)")
    ap.add_argument("--json", help="also write the results to this file")
    args = ap.parse_args()
    vmlib.install_signal_handlers()
    build = os.path.abspath(args.build_dir or vmlib.default_build_dir())
    agents = []
    for name in args.agents.split(","):
        try:
            agents.append(vmlib.make_agent(name, args.binary if name == "guestd"
                                           else args.qemu_ga))
        except vmlib.Skip as e:
            print("[bench] skipping %s: %s" % (name, e), flush=True)
    if not agents:
        return 77
    runs = {a.name: [] for a in agents}
    for rnd in range(args.rounds):  # agents interleaved round by round: load drifts hit both
        for agent in agents:
            try:
                print("[bench] round %d/%d: %s ..." % (rnd + 1, args.rounds, agent.name),
                      flush=True)
                runs[agent.name].append(bench_agent(agent, build, args.pings,
                                                      args.big_passes))
            except vmlib.Skip as e:
                print("[bench] cannot run a VM here: %s" % e, flush=True)
                return 77
    results = [median_result(runs[a.name]) for a in agents]
    if args.rounds > 1:
        print("\n(medians of %d rounds)" % args.rounds)
    print("\nguest: Debian cloud kernel, busybox initramfs, QEMU %s, virtio-serial\n"
          % results[0].get("accel"))
    print(table(results))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"medians": results, "runs": runs}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
