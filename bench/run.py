#!/usr/bin/env python3
"""guestd foundation benchmark driver (python3 standard library only).

Usage: bench/run.sh BUILDDIR [options]     (see bench/README.md)

Runs the same workloads against the echo server (the physical limit of one
unix-socket round trip on this machine), qemu-ga (if installed) and guestd
(if built), then prints one table with absolute numbers and ratios and the
pass/fail lines of the targets.
"""
import argparse
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time

PING = b'{"execute":"guest-ping"}\n'
BIG = 48 * 1024 * 1024


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- /proc ----

def rss_split(pid):
    """'anon A kB + file F kB' from /proc/PID/status, or None."""
    vals = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("RssAnon", "RssFile", "RssShmem"):
                    vals[k] = int(v.split()[0])
    except (OSError, ValueError):
        return None
    return (f"anon {vals.get('RssAnon', 0):,} kB + file (mapped binaries, libraries) "
            f"{vals.get('RssFile', 0):,} kB + shmem {vals.get('RssShmem', 0):,} kB")


def rss_by_mapping(pid, top=6):
    """The mappings holding most of pid's RSS, from /proc/PID/smaps."""
    rss = {}
    name = "?"
    try:
        with open(f"/proc/{pid}/smaps") as f:
            for line in f:
                head = line.split(None, 5)
                if "-" in head[0] and not head[0].endswith(":"):
                    name = os.path.basename(head[5].strip()) if len(head) > 5 else "[anon]"
                elif head[0] == "Rss:":
                    rss[name] = rss.get(name, 0) + int(head[1])
    except (OSError, ValueError, IndexError):
        return None
    items = sorted(rss.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{n} {v:,}" for n, v in items if v)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def schedstat(pid):
    """(cpu ns, run-queue wait ns) of the main thread of pid, or None."""
    if not pid:
        return None
    try:
        with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
            t = f.read().split()
        return int(t[0]), int(t[1])
    except (OSError, ValueError, IndexError):
        return None


def ctxt_switches(pid):
    """Sum of voluntary+nonvoluntary context switches over all threads."""
    total, threads = 0, 0
    base = f"/proc/{pid}/task"
    for tid in os.listdir(base):
        try:
            with open(f"{base}/{tid}/status") as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:",
                                        "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
            threads += 1
        except OSError:
            pass  # thread exited meanwhile
    return total, threads


# ---------------------------------------------------------------- agent ----

class Agent:
    """One long-running agent process listening on a unix socket."""

    def __init__(self, name, argv_fn, workdir):
        self.name = name
        self.workdir = workdir
        self.sock = os.path.join(workdir, f"{name}.sock")
        self.statedir = os.path.join(workdir, f"{name}.state")
        self.logpath = os.path.join(workdir, f"{name}.log")
        self.argv_fn = argv_fn
        self.proc = None
        self.pid = None

    def argv(self, sock=None, statedir=None):
        return self.argv_fn(sock or self.sock, statedir or self.statedir)

    def start(self):
        os.makedirs(self.statedir, exist_ok=True)
        if os.path.exists(self.sock):
            os.unlink(self.sock)
        logf = open(self.logpath, "ab")
        self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
                                     stdout=logf, stderr=logf)
        logf.close()
        deadline = time.monotonic() + 10
        while True:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock)
                break
            except OSError:
                s.close()
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.name} exited with status "
                                       f"{self.proc.returncode}\n{self.log_tail()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{self.name} did not listen on {self.sock}")
                time.sleep(0.005)
        # The process that listens may not be the one we spawned (a daemon
        # that forks): ask the kernel who the peer is.
        cred = s.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED,
                            struct.calcsize("3i"))
        peer = struct.unpack("3i", cred)[0]
        self.pid = peer if peer > 0 else self.proc.pid
        if self.pid != self.proc.pid:
            log(f"note: {self.name}: listening pid {self.pid} != spawned pid {self.proc.pid}")
        ping(s)
        s.close()

    def stop(self):
        if self.proc is None:
            return
        if self.pid and self.pid != self.proc.pid:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except OSError:
                pass
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, n=15):
        try:
            with open(self.logpath, errors="replace") as f:
                lines = f.readlines()[-n:]
            return "".join("    | " + l for l in lines)
        except OSError:
            return ""


def ping(s):
    s.sendall(PING)
    buf = b""
    while not buf.endswith(b"\n"):
        chunk = s.recv(4096)
        if not chunk:
            raise RuntimeError("connection closed while waiting for the guest-ping reply")
        buf += chunk
    if b'"return"' not in buf:
        raise RuntimeError(f"unexpected guest-ping reply: {buf[:200]!r}")


# ------------------------------------------------------------ workloads ----

def bench_ping(tool, *args, timeout=300):
    """Runs bench-ping and returns its key=value output as a dict."""
    r = subprocess.run([tool, *map(str, args)], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    if r.returncode != 0:
        raise RuntimeError((r.stderr or r.stdout).strip() or f"bench-ping exit {r.returncode}")
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition("=")
        try:
            out[k] = float(v)
        except ValueError:
            out[k] = v
    return out


def strace_count(pid, seconds, outfile):
    """Syscalls of all threads of pid during `seconds`, via strace -f -c.

    Returns (count, {syscall: calls}) or raises RuntimeError."""
    if os.path.exists(outfile):
        os.unlink(outfile)
    p = subprocess.Popen(["strace", "-f", "-c", "-o", outfile, "-p", str(pid)],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    # strace says "Process N attached" on stderr once it is in place.
    first = p.stderr.readline()
    if "attached" not in first:
        p.kill()
        rest = p.communicate()[1]
        raise RuntimeError((first + rest).strip() or "strace failed")
    time.sleep(seconds)
    p.send_signal(signal.SIGINT)
    try:
        p.communicate(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.communicate()
    calls = {}
    total = 0
    try:
        with open(outfile) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        t = line.split()
        if len(t) < 5 or not t[0][0].isdigit():
            continue
        if t[-1] == "total":
            total = int(t[3])
        else:
            calls[t[-1]] = int(t[3])
    return total, calls


def idle(agent, seconds, connected, use_strace):
    """Context switches (and syscalls) of an idle agent over `seconds`."""
    res = {}
    s = None
    if connected:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(agent.sock)
        ping(s)
    try:
        time.sleep(0.3)  # let any deferred work (e.g. a close) settle
        c0, threads = ctxt_switches(agent.pid)
        time.sleep(seconds)
        c1, _ = ctxt_switches(agent.pid)
        res["ctxt"] = c1 - c0
        res["threads"] = threads
        if use_strace:
            try:
                res["strace"], res["strace_calls"] = strace_count(
                    agent.pid, seconds, os.path.join(agent.workdir, "strace.txt"))
            except (RuntimeError, OSError) as e:
                res["strace_err"] = str(e).splitlines()[-1]
        if connected:
            ping(s)  # the connection must still work after the idle period
    finally:
        if s:
            s.close()
    return res


def median(xs):
    xs = sorted(xs)
    n = len(xs)
    return xs[n // 2] if n % 2 else (xs[n // 2 - 1] + xs[n // 2]) / 2


def run_all(agents, tool, opts, results, busy_fns):
    """All workloads, agents interleaved round by round so that a burst of load
    from elsewhere on the machine hits them all alike; medians are reported."""
    rounds = max(1, opts.rounds)
    for name in agents:
        results.setdefault(name, {})

    def guarded(name, key, fn):
        try:
            fn()
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
            results[name][key + "_err"] = str(e)
            log(f"   {name}: {key} failed: {e}")

    # 1. startup: each agent spawned afresh, runs split over the rounds
    samples = {n: [] for n in agents}
    per_round = max(1, -(-opts.startup_runs // rounds))
    log(f"== startup: {rounds} rounds of {per_round} runs per agent")
    for _ in range(rounds):
        for name, agent in agents.items():
            os.makedirs(agent.statedir, exist_ok=True)
            sock = os.path.join(agent.workdir, f"{name}-st.sock")

            def one(agent=agent, name=name, sock=sock):
                out = bench_ping(tool, "startup", sock, per_round, agent.logpath, "--",
                                 *agent.argv(sock, agent.statedir))
                samples[name] += [float(x) for x in str(out["startup_all_ms"]).split(",")]
            if "startup_err" not in results[name]:
                guarded(name, "startup", one)
    for name in agents:
        if samples[name]:
            results[name]["startup"] = median(samples[name])
            results[name]["startup_min"] = min(samples[name])

    # 2. the long-running instances
    running = {}
    try:
        for name, agent in agents.items():
            try:
                agent.start()
                running[name] = agent
                results[name]["rss_start"] = rss_kb(agent.pid)
                results[name]["rss_start_split"] = rss_split(agent.pid)
                results[name]["rss_start_maps"] = rss_by_mapping(agent.pid)
            except RuntimeError as e:
                results[name]["start_err"] = str(e)
                log(f"   {name}: {e}")

        # 3. sequential and pipelined pings, round by round
        seq = {n: [] for n in running}
        pipe = {n: [] for n in running}
        for i in range(rounds):
            log(f"== round {i + 1}/{rounds}: {opts.seq} sequential, {opts.pipe} pipelined pings")
            for name, agent in running.items():
                def s1(agent=agent, name=name):
                    seq[name].append(bench_ping(tool, "seq", agent.sock, opts.seq))
                guarded(name, "seq", s1)
            for name, agent in running.items():
                def p1(agent=agent, name=name):
                    pipe[name].append(bench_ping(tool, "pipe", agent.sock, opts.pipe))
                guarded(name, "pipe", p1)
        for name in running:
            r = results[name]
            if seq[name]:
                r["seq"] = median([o["seq_rate"] for o in seq[name]])
                r["p50"] = median([o["seq_p50_us"] for o in seq[name]])
                r["p99"] = median([o["seq_p99_us"] for o in seq[name]])
                r["seq_all"] = [o["seq_rate"] for o in seq[name]]
            if pipe[name]:
                r["pipe"] = median([o["pipe_rate"] for o in pipe[name]])
                r["pipe_all"] = [o["pipe_rate"] for o in pipe[name]]
            r["rss_ping"] = rss_kb(running[name].pid)

        # 4. a slow request and pings behind it
        for name, agent in running.items():
            if busy_fns.get(name):
                guarded(name, "busy", lambda agent=agent, name=name:
                        busy_fns[name](results[name], agent))
            results[name]["rss_end"] = rss_kb(agent.pid)

        # 5. idle, not connected then connected
        if opts.idle > 0:
            for name, agent in running.items():
                if not agent.alive():
                    continue
                for conn in (False, True):
                    key = "idle_conn" if conn else "idle_free"
                    log(f"== {name}: idle {opts.idle:g} s, "
                        f"{'connected' if conn else 'not connected'}")
                    try:
                        results[name][key] = idle(agent, opts.idle, conn, opts.strace)
                    except (RuntimeError, OSError) as e:
                        results[name][key] = {"err": str(e)}
                        log(f"   failed: {e}")
        for name, agent in running.items():
            if not agent.alive():
                results[name]["died"] = "exited during the run\n" + agent.log_tail()
    finally:
        for agent in running.values():
            agent.stop()


# ---------------------------------------------------------------- table ----

def fmt(v, unit=""):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if v >= 100 or float(v).is_integer():
        return f"{v:,.0f}"
    return f"{v:.2f}"


def ratio(a, b):
    if a is None or b is None or isinstance(a, str) or isinstance(b, str) or b == 0:
        return "-"
    return f"{a / b:.2f}x"


def idle_val(r, key, field):
    d = r.get(key)
    if not d:
        return None
    if "err" in d:
        return "error"
    if field == "strace":
        if "strace" in d:
            return d["strace"]
        return "n/a" if "strace_err" in d or field not in d else None
    return d.get(field)


def probe(r, field):
    """Worst value of a busy_probe_* field over the file-read runs."""
    vals = [o[field] for o in r.get("busy_file_runs", []) if field in o]
    return max(vals) if vals else None


def print_table(results, names, opts):
    rows = [
        ("startup to first pong, median (ms)", lambda r: r.get("startup")),
        ("sequential pings/s", lambda r: r.get("seq")),
        ("  latency p50 (us)", lambda r: r.get("p50")),
        ("  latency p99 (us)", lambda r: r.get("p99")),
        (f"pipelined pings/s ({opts.pipe})", lambda r: r.get("pipe")),
        ("VmRSS after start + 1 ping (kB)", lambda r: r.get("rss_start")),
        ("VmRSS after ping workloads (kB)", lambda r: r.get("rss_ping")),
        ("VmRSS after busy workload (kB)", lambda r: r.get("rss_end")),
        (f"idle {opts.idle:g}s ctxt switches, not connected",
         lambda r: idle_val(r, "idle_free", "ctxt")),
        (f"idle {opts.idle:g}s ctxt switches, connected",
         lambda r: idle_val(r, "idle_conn", "ctxt")),
        (f"idle {opts.idle:g}s syscalls (strace), not conn.",
         lambda r: idle_val(r, "idle_free", "strace")),
        (f"idle {opts.idle:g}s syscalls (strace), connected",
         lambda r: idle_val(r, "idle_conn", "strace")),
        ("threads", lambda r: idle_val(r, "idle_free", "threads")),
        ("ping behind busy request (ms)", lambda r: r.get("busy")),
        ("ping behind 48 MiB guest-file-read (ms)", lambda r: r.get("busy_file")),
        ("  worst tagged ping while it reads (ms)", lambda r: probe(r, "busy_probe_working_max_ms")),
        ("  worst incl. reply serialise+send (ms)", lambda r: probe(r, "busy_probe_max_ms")),
    ]
    cols = names
    w0 = max(len(r[0]) for r in rows) + 2
    head = f"{'workload':<{w0}}" + "".join(f"{c:>12}" for c in cols)
    g = "guestd" in names
    if g and "qemu-ga" in names:
        head += f"{'g/qemu-ga':>11}"
    if g and "echo" in names:
        head += f"{'g/echo':>9}"
    print()
    print(head)
    print("-" * len(head))
    for label, fn in rows:
        vals = {c: fn(results.get(c, {})) for c in cols}
        line = f"{label:<{w0}}" + "".join(f"{fmt(vals[c]):>12}" for c in cols)
        if g and "qemu-ga" in names:
            line += f"{ratio(vals['guestd'], vals['qemu-ga']):>11}"
        if g and "echo" in names:
            line += f"{ratio(vals['guestd'], vals['echo']):>9}"
        print(line)
    print()
    for c in cols:
        r = results.get(c, {})
        for k, v in r.items():
            if k.endswith("_err") or k == "died":
                print(f"note: {c}: {k}: {v}")
        for k, what in (("seq_all", "sequential pings/s"), ("pipe_all", "pipelined pings/s")):
            if len(r.get(k, [])) > 1:
                print(f"note: {c}: {what} per round: " + ", ".join(f"{v:,.0f}" for v in r[k]))
        if r.get("rss_start_split"):
            print(f"note: {c}: VmRSS after start + 1 ping = {r['rss_start_split']}")
        if r.get("rss_start_maps"):
            print(f"note: {c}: largest RSS mappings (kB): {r['rss_start_maps']}")
        if r.get("busy_where"):
            print(f"note: {c}: busy request = guest-test-sleep 1000 ms, {r['busy_where']}")
        for key in ("busy", "busy_file"):
            for o in r.get(key + "_runs", []):
                print(f"note: {c}: {key} run: first ping {o['busy_ping_ms']:.3f} ms, "
                      f"slow reply {o['busy_slow_ms']:.1f} ms (first byte "
                      f"{o['busy_slow_first_byte_ms']:.1f} ms)"
                      + (f", {o['busy_probes']:.0f} probes p50 {o['busy_probe_p50_ms']:.3f} ms "
                         f"max {o['busy_probe_max_ms']:.1f} ms, max while working "
                         f"{o['busy_probe_working_max_ms']:.3f} ms" if "busy_probes" in o else "")
                      + (f"; main thread {o['loop_cpu_ms']:.0f} ms on CPU, {o['loop_wait_ms']:.0f} ms "
                         f"waiting for a CPU" if "loop_cpu_ms" in o else ""))
        for key in ("idle_free", "idle_conn"):
            d = r.get(key) or {}
            if d.get("strace_calls"):
                calls = ", ".join(f"{n} {k}" for k, n in sorted(
                    d["strace_calls"].items(), key=lambda kv: -kv[1]))
                print(f"note: {c}: {key} syscalls: {calls}")
            if d.get("strace_err"):
                print(f"note: {c}: strace unavailable: {d['strace_err']}")
            if d.get("err"):
                print(f"note: {c}: {key}: {d['err']}")


def targets(results, have_qga):
    """Pass/fail lines. Returns the number of failures (None: not evaluated)."""
    g = results.get("guestd")
    if g is None:
        print("guestd not built: targets not evaluated")
        return None
    e = results.get("echo", {})
    q = results.get("qemu-ga", {}) if have_qga else {}
    checks = []

    def check(desc, ok, detail):
        checks.append((desc, ok, detail))

    def num(v):
        return v if isinstance(v, (int, float)) else None

    gs, es, qs = num(g.get("seq")), num(e.get("seq")), num(q.get("seq"))
    if gs and es:
        check("sequential rate >= 85% of the echo limit", gs >= 0.85 * es,
              f"{gs:,.0f}/s vs {es:,.0f}/s = {gs / es:.0%}")
    if gs and qs:
        check("sequential rate >= 1.3x qemu-ga", gs >= 1.3 * qs,
              f"{gs:,.0f}/s vs {qs:,.0f}/s = {gs / qs:.2f}x")
    gp, qp = num(g.get("pipe")), num(q.get("pipe"))
    if gp and qp:
        check("pipelined rate >= 5x qemu-ga", gp >= 5 * qp,
              f"{gp:,.0f}/s vs {qp:,.0f}/s = {gp / qp:.2f}x")
    gt, qt = num(g.get("startup")), num(q.get("startup"))
    if gt and qt:
        check("startup <= 1/2 of qemu-ga's", gt <= qt / 2,
              f"{gt:.2f} ms vs {qt:.2f} ms = {gt / qt:.2f}x")
    for key, what in (("rss_start", "after start + 1 ping"), ("rss_ping", "after ping workloads")):
        v = num(g.get(key))
        if v:
            check(f"idle RSS <= 2.0 MB (2048 kB) {what}", v <= 2048, f"{v:,.0f} kB")
    for key, what in (("idle_free", "not connected"), ("idle_conn", "connected")):
        d = g.get(key)
        if not d:
            continue
        if "err" in d:
            check(f"0 wakeups idle, {what}", False, d["err"])
            continue
        check(f"0 context switches in idle period, {what}", d["ctxt"] == 0,
              f"{d['ctxt']} switches, {d['threads']} threads")
        if "strace" in d:
            check(f"0 syscalls in idle period (strace), {what}", d["strace"] == 0,
                  f"{d['strace']} syscalls")
    for key, what in (("busy", "guest-test-sleep 1000 ms"),
                      ("busy_file", "48 MiB guest-file-read")):
        v = num(g.get(key))
        if v is not None:
            check(f"tagged ping behind {what} < 5 ms", v < 5, f"{v:.3f} ms")
        elif g.get(key + "_err"):
            check(f"tagged ping behind {what} < 5 ms", False, "not measured: " + g[key + "_err"].splitlines()[-1])
    fails = 0
    print("targets:")
    for desc, ok, detail in checks:
        fails += not ok
        print(f"  {'PASS' if ok else 'FAIL'}  {desc:<52} {detail}")
    return fails


# ----------------------------------------------------------------- main ----

def find_exe(*cands):
    for c in cands:
        if c and os.path.isfile(c) and os.access(c, os.X_OK):
            return os.path.abspath(c)
    return None


def main():
    ap = argparse.ArgumentParser(description="guestd vs qemu-ga benchmark")
    ap.add_argument("builddir")
    ap.add_argument("--seq", type=int, default=50000, help="sequential round trips (50000)")
    ap.add_argument("--pipe", type=int, default=20000, help="pipelined pings (20000)")
    ap.add_argument("--startup-runs", type=int, default=20, help="startup runs (20)")
    ap.add_argument("--idle", type=float, default=10, help="idle period in seconds (10; 0 skips)")
    ap.add_argument("--rounds", type=int, default=3,
                    help="rounds of the startup, seq and pipe workloads, agents "
                         "interleaved, medians reported (3)")
    ap.add_argument("--busy-runs", type=int, default=3,
                    help="runs of each busy workload, median reported (3)")
    ap.add_argument("--no-strace", dest="strace", action="store_false",
                    help="count idle syscalls with context switches only")
    ap.add_argument("--quick", action="store_true",
                    help="smaller runs: 5000 seq, 5000 pipe, 5 startups, 2 s idle")
    ap.add_argument("--qemu-ga", default=None, help="qemu-ga binary (default: search)")
    ap.add_argument("--strict", action="store_true", help="exit 1 if a target fails")
    opts = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    if opts.quick:
        opts.seq, opts.pipe, opts.startup_runs, opts.idle, opts.busy_runs = 5000, 5000, 6, 2, 1

    b = opts.builddir
    tool = find_exe(f"{b}/bench/bench-ping")
    echo = find_exe(f"{b}/bench/echo-server")
    if not tool or not echo:
        sys.exit(f"bench-ping/echo-server not found in {b}/bench: build first (ninja -C {b})")
    guestd = find_exe(f"{b}/guestd", f"{b}/src/guestd")
    guestd_test = find_exe(f"{b}/guestd-test", f"{b}/src/guestd-test", f"{b}/tests/guestd-test")
    qga = find_exe(opts.qemu_ga, shutil.which("qemu-ga"), "/usr/bin/qemu-ga",
                   "/usr/sbin/qemu-ga", "/usr/local/bin/qemu-ga")
    if opts.strace and not shutil.which("strace"):
        log("strace not installed: idle syscalls measured with context switches only")
        opts.strace = False

    work = tempfile.mkdtemp(prefix="guestd-bench.")
    bigfile = os.path.join(work, "big.bin")
    results = {}
    names = ["echo"]

    def agent_argv(exe):
        return lambda sock, st: [exe, "-m", "unix-listen", "-p", sock, "-t", st]

    def make_big():
        # Written and synced before any agent runs, so that its writeback
        # does not compete for the CPUs during a measurement.
        if not os.path.exists(bigfile):
            with open(bigfile, "wb") as f:
                block = os.urandom(1 << 20)
                for _ in range(BIG >> 20):
                    f.write(block)
                f.flush()
                os.fsync(f.fileno())

    def busy_runs(r, key, sock, *args, pid=None):
        """Runs one busy workload opts.busy_runs times; median first-ping latency.

        Also notes the main (event loop) thread's CPU time and run-queue wait
        over each run, from /proc/PID/task/PID/schedstat."""
        outs = []
        for _ in range(opts.busy_runs):
            a = schedstat(pid)
            out = bench_ping(tool, "busy", sock, *args)
            b = schedstat(pid)
            if a and b:
                out["loop_cpu_ms"] = (b[0] - a[0]) / 1e6
                out["loop_wait_ms"] = (b[1] - a[1]) / 1e6
            outs.append(out)
        pings = sorted(o["busy_ping_ms"] for o in outs)
        r[key] = pings[len(pings) // 2]
        r[key + "_runs"] = outs
        return outs

    def busy_qga(r, agent):
        make_big()
        log("== qemu-ga: ping behind a 48 MiB guest-file-read (untagged: qemu-ga has no tags)")
        try:
            busy_runs(r, "busy_file", agent.sock, "file", bigfile, BIG, "untagged",
                      pid=agent.pid)
            r["busy"] = r["busy_file"]
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            r["busy_err"] = str(e)
            log(f"   failed: {e}")

    def busy_guestd(r, agent):
        make_big()
        log("== guestd: tagged pings behind a tagged 48 MiB guest-file-read")
        try:
            busy_runs(r, "busy_file", agent.sock, "file", bigfile, BIG, "tagged",
                      pid=agent.pid)
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            r["busy_file_err"] = str(e)
            log(f"   failed: {e}")
        if not guestd_test:
            r["busy_err"] = "guestd-test not built (meson -Dtests=true)"
            return
        log("== guestd-test: tagged pings behind guest-test-sleep 1000 ms (pool)")
        ta = Agent("guestd-test", agent_argv(guestd_test), work)
        try:
            ta.start()
            try:
                busy_runs(r, "busy", ta.sock, "sleep", 1000, "pool")
                r["busy_where"] = "pool"
            except RuntimeError as e:
                if "'where'" not in str(e):
                    raise
                # an older guest-test-sleep: only a loop timer, no "where"
                log("   guest-test-sleep has no 'where': using its loop timer")
                busy_runs(r, "busy", ta.sock, "sleep", 1000, "-")
                r["busy_where"] = "loop timer (no 'where' argument in this build)"
        except (RuntimeError, subprocess.TimeoutExpired) as e:
            r["busy_err"] = str(e)
            log(f"   failed: {e}")
        finally:
            ta.stop()

    try:
        log(f"work directory {work}")
        make_big()
        agents = {"echo": Agent("echo", lambda sock, st: [echo, sock], work)}
        busy_fns = {}
        if qga:
            names.append("qemu-ga")
            agents["qemu-ga"] = Agent("qemu-ga", agent_argv(qga), work)
            busy_fns["qemu-ga"] = busy_qga
        if guestd:
            names.append("guestd")
            agents["guestd"] = Agent("guestd", agent_argv(guestd), work)
            busy_fns["guestd"] = busy_guestd
        run_all(agents, tool, opts, results, busy_fns)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print_table(results, names, opts)
    if not qga:
        print("qemu-ga not installed: ratios skipped")
    if not guestd:
        print(f"guestd not built ({b}/guestd missing)")
    fails = targets(results, bool(qga))
    if opts.strict and fails:
        sys.exit(1)


if __name__ == "__main__":
    main()
