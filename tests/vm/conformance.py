"""The VM conformance sequence: a list of named steps run in order against one booted guest.

Adding a capability (file, exec, fsfreeze...) means adding a function here, or in a new
tests/vm/steps_NAME.py (every steps_*.py is imported, in name order, after the core steps):

    from conformance import step, check, StepSkip, expect_return, expect_error

    @step("exec-true")
    def _(c):
        pid = c.ret("guest-exec", {"path": "/bin/true"})["pid"]
        ...

- Steps run in definition order; `last=True` pins a step to the end (guest-shutdown).
- A step fails by raising (use `check(cond, msg)`), skips with `raise StepSkip("why")`, and may
  return a short note string printed next to its result.
- `guestd_only=True` marks parts of PROTOCOL.md that qemu-ga does not implement (tags, base64
  errors...); they are skipped when the agent under test is qemu-ga.
- `c` is a Ctx: `c.q` is the connected QGA client (vmlib.QGA), `c.vm` the VM, `c.agent` the
  agent, `c.metrics` a dict for numbers worth printing, `c.reconnect()` opens a new connection.
After a failed step the runner reconnects and resynchronises before the next one.
"""

import base64
import json
import time

import vmlib


class StepSkip(Exception):
    pass


class StepFail(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise StepFail(msg)


class Step:
    def __init__(self, name, fn, guestd_only=False, last=False):
        self.name = name
        self.fn = fn
        self.guestd_only = guestd_only
        self.last = last


STEPS = []


def step(name, guestd_only=False, last=False):
    def deco(fn):
        STEPS.append(Step(name, fn, guestd_only, last))
        return fn
    return deco


def ordered_steps():
    return [s for s in STEPS if not s.last] + [s for s in STEPS if s.last]


class Ctx:
    def __init__(self, vm, q, agent, guestctl=None):
        self.guestctl = guestctl
        self.vm = vm
        self.q = q
        self.agent = agent
        self.metrics = {}
        self.vm_gone = False

    @property
    def is_guestd(self):
        return self.agent.name != "qemu-ga"

    def reconnect(self, sync=True):
        if self.q:
            self.q.close()
        self.q = vmlib.QGA(self.vm.sock, timeout=10)
        if sync:
            self.q.sync()
        return self.q

    # shorthands
    def call(self, *a, **kw):
        return self.q.call(*a, **kw)

    def ret(self, *a, **kw):
        return self.q.ret(*a, **kw)


# ---------------------------------------------------------------------------------------------
# reply checks

def expect_return(reply, value=None, what="reply", **extra):
    check(isinstance(reply, dict), "%s: not an object: %r" % (what, reply))
    check("error" not in reply, "%s: unexpected error %r" % (what, reply.get("error")))
    check("return" in reply, "%s: no 'return' in %r" % (what, reply))
    if value is not None:
        check(reply["return"] == value, "%s: return %r, expected %r" % (what, reply["return"], value))
    want_keys = {"return"} | set(extra)
    check(set(reply) == want_keys, "%s: members %s, expected %s" % (what, sorted(reply),
                                                                   sorted(want_keys)))
    for k, v in extra.items():
        check(reply[k] == v, "%s: %s is %r, expected %r" % (what, k, reply[k], v))
    return reply["return"]


def expect_error(c, reply, cls=None, what="reply", code=None):
    check(isinstance(reply, dict) and "error" in reply, "%s: expected an error, got %r"
          % (what, reply))
    e = reply["error"]
    check(isinstance(e, dict), "%s: error is not an object" % what)
    check(isinstance(e.get("class"), str), "%s: error without class: %r" % (what, e))
    check(isinstance(e.get("desc"), str) and e["desc"], "%s: error without desc: %r" % (what, e))
    if cls:
        check(e["class"] == cls, "%s: class %s, expected %s (%s)" % (what, e["class"], cls,
                                                                      e["desc"]))
    if c.is_guestd:  # PROTOCOL.md §3: bufb64, code, errno
        check("bufb64" in e, "%s: no bufb64 in %r" % (what, e))
        check(base64.b64decode(e["bufb64"]).decode() == e["desc"],
              "%s: bufb64 does not decode to desc: %r" % (what, e))
        check(isinstance(e.get("code"), int), "%s: no integer code in %r" % (what, e))
        if e["code"] >= 0:
            check(isinstance(e.get("errno"), str) and e["errno"].startswith("E"),
                  "%s: code %d without errno name: %r" % (what, e["code"], e))
        if code is not None:
            check(e.get("errno") == code, "%s: errno %r, expected %s" % (what, e.get("errno"),
                                                                         code))
    return e


def collect_until_sync(c, timeout=10):
    """Send a sync-delimited and return every reply received before its marker."""
    vmlib.QGA._next_id += 1
    sid = vmlib.QGA._next_id
    c.q.send(b"\xff" + c.q.request("guest-sync-delimited", {"id": sid}))
    replies = []
    deadline = time.monotonic() + timeout
    while True:
        line = c.q.read_line(max(0.01, deadline - time.monotonic()))
        if b"\xff" in line:
            pre, post = line.split(b"\xff", 1)
            if pre.strip():
                replies.append(json.loads(pre.decode()))
            obj = json.loads(post.decode())
            if obj.get("return") == sid:
                return replies
            replies.append(obj)
            continue
        if line.strip():
            replies.append(json.loads(line.decode()))


def next_id():
    vmlib.QGA._next_id += 1
    return vmlib.QGA._next_id


CORE_COMMANDS = ["guest-sync-delimited", "guest-sync", "guest-ping", "guest-info"]


# ---------------------------------------------------------------------------------------------
# the core sequence

@step("sync-delimited")
def _(c):
    sid = next_id()
    c.q.send(b"\xff" + c.q.request("guest-sync-delimited", {"id": sid}))
    raw = b""
    deadline = time.monotonic() + 10
    # Read raw bytes: everything up to the marker is discarded, then exactly one line.
    while b"\xff" not in raw or not raw.split(b"\xff")[-1].endswith(b"\n"):
        c.q._fill(deadline)
        raw, c.q.buf = raw + c.q.buf, b""
    after = raw[raw.rindex(b"\xff") + 1:]
    check(after.count(b"\n") == 1, "bytes after 0xFF: %r" % after)
    expect_return(json.loads(after), sid, "guest-sync-delimited")


@step("guest-sync")
def _(c):
    for sid in (1, 2 ** 31, next_id()):
        expect_return(c.call("guest-sync", {"id": sid}), sid, "guest-sync %d" % sid)


@step("guest-ping")
def _(c):
    expect_return(c.call("guest-ping"), {}, "guest-ping")
    expect_return(c.call("guest-ping", {}), {}, "guest-ping with {}")


@step("guest-info")
def _(c):
    info = expect_return(c.call("guest-info"), None, "guest-info")
    check(isinstance(info.get("version"), str) and info["version"], "no version: %r" % info)
    cmds = info.get("supported_commands")
    check(isinstance(cmds, list) and cmds, "no supported_commands")
    names = {}
    for e in cmds:
        check(isinstance(e, dict), "command entry is not an object: %r" % e)
        check(isinstance(e.get("name"), str), "entry without name: %r" % e)
        check(isinstance(e.get("enabled"), bool), "entry without enabled: %r" % e)
        check(isinstance(e.get("success-response"), bool),
              "entry without success-response: %r" % e)
        names[e["name"]] = e
    for n in CORE_COMMANDS:
        check(n in names, "%s missing from supported_commands" % n)
        check(names[n]["enabled"], "%s is not enabled" % n)
    if "guest-shutdown" in names:
        check(names["guest-shutdown"]["success-response"] is False,
              "guest-shutdown must have success-response false")
    check(names["guest-ping"]["success-response"] is True, "guest-ping success-response")
    c.metrics["commands"] = len(cmds)
    return "version %s, %d commands" % (info["version"], len(cmds))


@step("id-echo")
def _(c):
    # QMP's "id" member: echoed as the same JSON value (qemu-ga does it too).
    for v in ("abc", 17, {"k": [1, "x"]}):
        expect_return(c.call("guest-ping", id=v), {}, "guest-ping id=%r" % (v,), id=v)


@step("pipelined")
def _(c):
    reqs, want = [], []
    for i in range(12):
        if i % 3 == 0:
            sid = next_id()
            reqs.append(c.q.request("guest-sync", {"id": sid}))
            want.append(sid)
        elif i % 3 == 1:
            reqs.append(c.q.request("guest-ping"))
            want.append({})
        else:
            reqs.append(c.q.request("guest-info"))
            want.append("info")
    c.q.send(b"".join(reqs))
    for i, w in enumerate(want):
        r = c.q.read_reply()
        if w == "info":
            check("version" in expect_return(r, None, "pipelined #%d" % i),
                  "pipelined #%d: expected guest-info, got %r" % (i, r))
        else:
            expect_return(r, w, "pipelined #%d" % i)


@step("framing")
def _(c):
    # No separator, whitespace and CRLF between requests, a request split over several writes.
    a, b = next_id(), next_id()
    c.q.send(b'{"execute":"guest-sync","arguments":{"id":%d}}{"execute":"guest-ping"}' % a)
    c.q.send(b'  \r\n\t {"execute" : "guest-sync" ,\n "arguments" : { "id" : %d } }\r\n' % b)
    expect_return(c.q.read_reply(), a, "back-to-back #1")
    expect_return(c.q.read_reply(), {}, "back-to-back #2")
    expect_return(c.q.read_reply(), b, "whitespace/CRLF")
    sid = next_id()
    req = c.q.request("guest-sync", {"id": sid, })
    for i in range(0, len(req), 7):
        c.q.send(req[i:i + 7])
        time.sleep(0.01)
    expect_return(c.q.read_reply(), sid, "split request")
    # Braces, quotes, backslashes and raw UTF-8 (2, 3 and 4 bytes) inside a string.
    tricky = 'x}{"\\\u00e9\u2603\U0001f600]'
    c.q.send(json.dumps({"execute": "guest-ping", "id": tricky}, ensure_ascii=False).encode()
             + b"\n")
    expect_return(c.q.read_reply(), {}, "tricky id", id=tricky)


@step("tagged", guestd_only=True)
def _(c):
    expect_return(c.call("guest-ping", tag="t1"), {}, "tagged ping", tag="t1")
    for t in (7, {"a": [1, 2]}, "é\"}"):
        expect_return(c.call("guest-ping", tag=t), {}, "tag %r" % (t,), tag=t)
    # Tagged requests pipelined with untagged ones: every reply arrives, tags intact, and the
    # untagged replies keep their relative order.
    reqs, tags, syncs = [], set(), []
    for i in range(10):
        if i % 2:
            reqs.append(c.q.request("guest-ping", tag="p%d" % i))
            tags.add("p%d" % i)
        else:
            sid = next_id()
            syncs.append(sid)
            reqs.append(c.q.request("guest-sync", {"id": sid}))
    c.q.send(b"".join(reqs))
    got_tags, got_syncs = set(), []
    for _ in range(10):
        r = c.q.read_reply()
        if "tag" in r:
            expect_return(r, {}, "tagged reply", tag=r["tag"])
            got_tags.add(r["tag"])
        else:
            got_syncs.append(expect_return(r, None, "untagged reply"))
    check(got_tags == tags, "tags %s, expected %s" % (sorted(got_tags), sorted(tags)))
    check(got_syncs == syncs, "untagged order %s, expected %s" % (got_syncs, syncs))
    r = c.call("guest-no-such-command", tag="e1")
    expect_error(c, r, "CommandNotFound", "tagged error")
    check(r.get("tag") == "e1", "tagged error reply without its tag: %r" % r)


@step("pipelined-200")
def _(c):
    # More than the in-flight cap (64) in one write: guestd stops reading, nothing is dropped.
    ids = [next_id() for _ in range(200)]
    c.q.send(b"".join(c.q.request("guest-sync", {"id": i}) for i in ids))
    got = [expect_return(c.q.read_reply(), None, "pipelined #%d" % n) for n in range(200)]
    if got != ids:
        n = next(n for n in range(200) if got[n] != ids[n])
        raise StepFail("replies out of order: #%d is %r, expected %r" % (n, got[n], ids[n]))


@step("ff-discards-partial")
def _(c):
    # PROTOCOL.md 1: 0xFF discards the partial request; guestd does not answer the 0xFF itself
    # (qemu-ga answers it with an error).
    sid, end = next_id(), next_id()
    c.q.send(b'{"execute": "guest-sync", "arguments": {"id": 1, "x": "unterminated')
    time.sleep(0.05)
    c.q.send(b"\xff" + c.q.request("guest-sync", {"id": sid}))
    replies = collect_until(c, sid)
    errors = [r for r in replies[:-1] if "error" in r]
    check(len(errors) == len(replies) - 1, "unexpected replies %r" % replies)
    if c.is_guestd:
        check(not errors, "0xFF was answered with an error: %r" % errors)
    c.q.send(c.q.request("guest-sync", {"id": end}))
    late = collect_until(c, end)[:-1]
    check(not late, "late replies %r" % late)
    return None if c.is_guestd else "%d error(s) for the 0xFF" % len(errors)


@step("guestctl")
def _(c):
    import subprocess
    if not c.guestctl:
        raise StepSkip("no guestctl binary given (--guestctl)")
    # QEMU's chardev takes one client at a time: hand the socket over to guestctl.
    c.q.close()
    c.q = None
    outs = []
    for args in (["ping"], ["info"], ["call", "guest-sync", '{"id": 4242}']):
        r = subprocess.run([c.guestctl, "-s", c.vm.sock, "-t", "20"] + args,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
        check(r.returncode == 0, "guestctl %s: exit %d: %s" % (" ".join(args), r.returncode,
                                                              r.stderr.strip()[-300:]))
        outs.append(r.stdout)
    check("4242" in outs[2], "guestctl call guest-sync printed %r" % outs[2][:200])
    check("guest-ping" in outs[1], "guestctl info lists no guest-ping: %r" % outs[1][:200])
    c.reconnect()


@step("unknown-command")
def _(c):
    expect_error(c, c.call("guest-no-such-command"), "CommandNotFound", "unknown command")
    expect_return(c.call("guest-ping"), {}, "ping after unknown command")


@step("bad-arguments")
def _(c):
    e = expect_error(c, c.call("guest-sync", {}), "GenericError", "guest-sync without id")
    check("id" in e["desc"], "error does not name the member: %r" % e["desc"])
    e = expect_error(c, c.call("guest-sync", {"id": "x"}), "GenericError", "id of wrong type")
    check("id" in e["desc"], "error does not name the member: %r" % e["desc"])
    e = expect_error(c, c.call("guest-ping", {"bogus": 1}), "GenericError", "unknown argument")
    check("bogus" in e["desc"], "error does not name the member: %r" % e["desc"])
    e = expect_error(c, c.call("guest-ping", bogus=1), "GenericError", "unknown top member")
    check("bogus" in e["desc"], "error does not name the member: %r" % e["desc"])
    expect_return(c.call("guest-ping"), {}, "ping after bad arguments")


MALFORMED = [
    ("unquoted value", b'{"execute": guest-ping}\n'),
    ("garbage line", b'hello world\n'),
    ("bare array", b'[1, 2, 3]\n'),
    ("bare number", b'42\n'),
    ("lone brace", b'}\n'),
    ("no execute", b'{"arguments": {}}\n'),
    ("execute not a string", b'{"execute": 7}\n'),
    ("trailing comma", b'{"execute": "guest-ping",}\n'),
    ("invalid utf-8", b'{"execute": "guest-\xc3\x28ping"}\n'),
]


def collect_until(c, sid, timeout=10):
    """Replies up to and including {"return": SID}; a timeout fails with what arrived."""
    replies = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = c.q.read_reply(max(0.01, deadline - time.monotonic()))
        except TimeoutError:
            raise StepFail("no reply to guest-sync %d; got %r" % (sid, replies))
        replies.append(r)
        if r.get("return") == sid:
            return replies


@step("malformed-then-good")
def _(c):
    notes = []
    for name, bad in MALFORMED:
        sid, end = next_id(), next_id()
        c.q.send(bad + c.q.request("guest-sync", {"id": sid}))
        replies = collect_until(c, sid)
        c.q.send(c.q.request("guest-sync", {"id": end}))
        late = collect_until(c, end)[:-1]
        check(not late, "%s: replies after the good request's: %r" % (name, late))
        errors = [r for r in replies if "error" in r]
        check(len(errors) == len(replies) - 1, "%s: unexpected replies %r" % (name, replies))
        check(errors, "%s: no error reply: %r" % (name, replies))
        for e in errors:
            expect_error(c, e, None, name)
        if c.is_guestd:
            check(len(errors) == 1, "%s: %d error replies, expected exactly 1: %r"
                  % (name, len(errors), errors))
        elif len(errors) != 1:
            notes.append("%s: %d errors" % (name, len(errors)))
    return ", ".join(notes) if notes else None


@step("oversized-depth", guestd_only=True)
def _(c):
    deep = b'{"execute":"guest-ping","id":' + b"[" * 100 + b"]" * 100 + b"}\n"
    sid = next_id()
    c.q.send(deep + c.q.request("guest-sync", {"id": sid}))
    replies = collect_until(c, sid)
    check(len(replies) == 2 and "error" in replies[0],
          "nesting 100 > 64: expected one error then the sync, got %r" % replies)
    expect_error(c, replies[0], None, "too deep", code="E2BIG")


def _reconnect_round(c, i):
    """One disconnect/reconnect: variants clean, mid-request, mid-reply, pipelined-unread."""
    kind = ("clean", "mid-request", "mid-reply", "pipelined-unread")[i % 4]
    q = c.q
    if kind == "mid-request":
        q.send(b'{"execute": "guest-sync", "argu')
    elif kind == "mid-reply":
        q.send(q.request("guest-info"))
    elif kind == "pipelined-unread":
        q.send(b"".join(q.request("guest-ping") for _ in range(20)))
    q.close()
    c.q = None
    if i % 2:
        time.sleep(0.05)
    try:
        c.reconnect()
    except Exception as e:
        raise StepFail("reconnect #%d after %s disconnect: %s" % (i + 1, kind, e))


@step("reconnect-20")
def _(c):
    t0 = time.monotonic()
    for i in range(20):
        _reconnect_round(c, i)
    expect_return(c.call("guest-ping"), {}, "ping after reconnects")
    return "%.2f s" % (time.monotonic() - t0)


def measure_idle(c, window=5.0, settle=1.0):
    """Disconnect, wait SETTLE s, then read the agent's context switches from the guest's
    GDSTAT lines over WINDOW s of guest time.  Returns (wakeups, seconds).  Reconnects."""
    vm = c.vm
    c.q.sync()
    c.q.close()
    c.q = None
    time.sleep(settle)
    since = vm.console_size()
    first = vm.wait_stat(lambda s: True, since, timeout=10)
    if first is None:
        raise StepFail("no GDSTAT line on the console (is the stat loop running?)\n%s"
                       % vm.console_tail(20))
    if first[2] is None:
        raise StepFail("the agent is dead")
    last = vm.wait_stat(lambda s: s[0] >= first[0] + window, since, timeout=window * 4 + 10)
    if last is None:
        raise StepFail("no GDSTAT line %.0f s after the first" % window)
    if last[2] is None:
        raise StepFail("the agent died while the host was away")
    c.reconnect()
    return last[2] - first[2], last[0] - first[0]


@step("idle-wakeups")
def _(c):
    n, secs = measure_idle(c)
    rate = n / secs
    c.metrics["idle_wakeups_per_s"] = rate
    note = "%d context switches in %.1f s while the host was away (%.1f/s)" % (n, secs, rate)
    if c.is_guestd:
        check(n == 0, "agent woke up while the host was disconnected: " + note)
    expect_return(c.call("guest-ping"), {}, "ping after the idle window")
    return note


@step("idle-connected")
def _(c):
    # Host connected but silent: no timers, no polling.
    vm = c.vm
    c.q.sync()
    time.sleep(0.5)
    since = vm.console_size()
    first = vm.wait_stat(lambda s: True, since, timeout=10)
    check(first is not None and first[2] is not None, "no GDSTAT line for a live agent")
    last = vm.wait_stat(lambda s: s[0] >= first[0] + 3.0, since, timeout=20)
    check(last is not None and last[2] is not None, "no GDSTAT line 3 s later")
    n, secs = last[2] - first[2], last[0] - first[0]
    note = "%d context switches in %.1f s with the host connected and silent" % (n, secs)
    if c.is_guestd:
        check(n == 0, "agent woke up while idle: " + note)
    expect_return(c.call("guest-ping"), {}, "ping after the idle window")
    return note


def _supported(c, name):
    if "_commands" not in c.metrics:
        info = c.ret("guest-info")
        c.metrics["_commands"] = {e["name"]: e.get("enabled") for e in info["supported_commands"]}
    return c.metrics["_commands"].get(name)


@step("file-read-disk")
def _(c):
    # Read the virtio data disk through guest-file-*: a small text file, then 16 MiB in 4 MiB
    # reads (5.6 MB reply lines).  Skipped only while the agent does not list the commands.
    import hashlib
    for n in ("guest-file-open", "guest-file-read", "guest-file-close"):
        if not _supported(c, n):
            raise StepSkip("%s not in guest-info" % n)
    h = c.ret("guest-file-open", {"path": vmlib.DATA_MOUNT + "/hello.txt", "mode": "r"})
    check(isinstance(h, int), "guest-file-open returned %r" % (h,))
    r = c.ret("guest-file-read", {"handle": h, "count": 4096})
    data = base64.b64decode(r["buf-b64"])
    check(data == b"hello from the guestd test disk\n", "hello.txt read as %r" % data[:100])
    check(r.get("count") == len(data), "count %r for %d bytes" % (r.get("count"), len(data)))
    r = c.ret("guest-file-read", {"handle": h, "count": 4096})
    check(r.get("eof") is True and r.get("count") == 0, "no eof at the end: %r" % r)
    c.ret("guest-file-close", {"handle": h})
    h = c.ret("guest-file-open", {"path": vmlib.BENCH_FILE})
    sha, total, t0 = hashlib.sha256(), 0, time.monotonic()
    while True:
        r = c.ret("guest-file-read", {"handle": h, "count": 4 << 20}, timeout=60)
        chunk = base64.b64decode(r["buf-b64"])
        sha.update(chunk)
        total += len(chunk)
        if r.get("eof") or not chunk:
            break
    dt = time.monotonic() - t0
    c.ret("guest-file-close", {"handle": h})
    check(total == vmlib.BENCH_FILE_SIZE, "read %d bytes, expected %d" % (total,
                                                                       vmlib.BENCH_FILE_SIZE))
    check(sha.hexdigest() == hashlib.sha256(vmlib.bench_file_bytes()).hexdigest(),
          "16 MiB file content differs")
    expect_error(c, c.call("guest-file-read", {"handle": h, "count": 1}), None,
                     "read on a closed handle")
    return "16 MiB at %.1f MiB/s" % (total / dt / (1 << 20))


@step("tagged-ping-during-read", guestd_only=True)
def _(c):
    # PROTOCOL.md 4: a slow command never delays a tagged guest-ping.  An untagged 16 MiB
    # guest-file-read is sent, then a tagged ping: the ping's reply must come first.
    for n in ("guest-file-open", "guest-file-read", "guest-file-close"):
        if not _supported(c, n):
            raise StepSkip("%s not in guest-info" % n)
    h = c.ret("guest-file-open", {"path": vmlib.BENCH_FILE})
    try:
        t0 = time.monotonic()
        c.q.send(c.q.request("guest-file-read", {"handle": h, "count": vmlib.BENCH_FILE_SIZE})
                 + c.q.request("guest-ping", tag="fast"))
        first = c.q.read_reply(60)
        t_first = time.monotonic() - t0
        second = c.q.read_reply(60)
        t_second = time.monotonic() - t0
        check(first.get("tag") == "fast",
              "the tagged ping waited for the 16 MiB read (first reply: %s)"
              % json.dumps(first)[:120])
        expect_return(first, {}, "tagged ping", tag="fast")
        r = expect_return(second, None, "guest-file-read")
        check(r.get("count") == vmlib.BENCH_FILE_SIZE, "read %r bytes" % r.get("count"))
    finally:
        c.ret("guest-file-close", {"handle": h})
    return "ping after %.0f ms, 16 MiB read after %.0f ms" % (t_first * 1000, t_second * 1000)


@step("guest-shutdown", last=True)
def _(c):
    c.q.send(c.q.request("guest-shutdown"))
    # Success sends no reply; QEMU must exit by itself.  An error reply fails at once.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if c.vm.wait_exit(0.2) is not None:
            break
        try:
            r = c.q.read_reply(0.01)
        except TimeoutError:
            continue
        except (ConnectionError, OSError):
            continue  # QEMU going away closes the socket
        if "error" in r:
            raise StepFail("guest-shutdown answered with an error: %s" % json.dumps(r)[:400])
        raise StepFail("guest-shutdown sent a reply: %r" % r)
    rc = c.vm.wait_exit(0)
    c.vm_gone = rc is not None
    check(rc is not None, "QEMU still running 60 s after guest-shutdown\n%s"
          % c.vm.console_tail(20))
    return "QEMU exited (rc %d)" % rc


# ---------------------------------------------------------------------------------------------
# runner

def run_sequence(vm, q, agent, only=None, out=print, guestctl=None):
    """Run the steps; returns (passed, failed, skipped, metrics, failures)."""
    c = Ctx(vm, q, agent, guestctl)
    passed = failed = skipped = 0
    failures = []
    for s in ordered_steps():
        if only and s.name not in only:
            continue
        if s.guestd_only and not c.is_guestd:
            out("SKIP %-26s (guestd-only)" % s.name)
            skipped += 1
            continue
        if c.vm_gone or not vm.running():
            out("FAIL %-26s (the VM is gone)" % s.name)
            failed += 1
            continue
        t0 = time.monotonic()
        try:
            if c.q is None:
                c.reconnect()
            note = s.fn(c)
            out("ok   %-26s %5.2fs %s" % (s.name, time.monotonic() - t0, note or ""))
            passed += 1
        except StepSkip as e:
            out("SKIP %-26s (%s)" % (s.name, e))
            skipped += 1
        except Exception as e:
            failed += 1
            msg = "%s: %s" % (type(e).__name__, e)
            failures.append((s.name, msg))
            out("FAIL %-26s %5.2fs %s" % (s.name, time.monotonic() - t0, msg))
            if vm.running() and not s.last:
                try:
                    c.reconnect()
                except Exception as e2:
                    out("     (could not resynchronise after the failure: %s)" % e2)
    return passed, failed, skipped, c.metrics, failures


def _load_step_modules():
    """Import tests/vm/steps_*.py: their @step functions join the sequence after the core."""
    import importlib
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    for f in sorted(os.listdir(here)):
        if f.startswith("steps_") and f.endswith(".py"):
            importlib.import_module(f[:-3])


_load_step_modules()
