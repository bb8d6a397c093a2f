"""Real-VM harness for guestd: guest kernel, initramfs, QEMU, and a raw qemu-ga protocol client.

Python 3 standard library only.  Used by run_vm_tests.py (the conformance suite),
run-vm.sh (a shell in the test VM) and bench/vm/bench.py (guestd vs qemu-ga).

Everything downloaded is kept in a cache directory (GUESTD_VM_CACHE, else BUILD/vm-cache);
everything made for one run goes under a scratch directory below the build directory.
"""

import contextlib
import ctypes
import fcntl
import gzip
import io
import json
import lzma
import os
import re
import select
import shutil
import signal
import socket
import stat
import struct
import subprocess
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))

PORT_NAME = "org.qemu.guest_agent.0"
GUEST_PORT_PATH = "/dev/virtio-ports/" + PORT_NAME
DATA_MOUNT = "/mnt/data"
BENCH_FILE = DATA_MOUNT + "/bench-16m.bin"
BENCH_FILE_SIZE = 16 << 20
BIG_FILE = DATA_MOUNT + "/bench-48m.bin"   # content: bench_file_bytes(BIG_FILE_SIZE)
BIG_FILE_SIZE = 48 << 20                    # = guest-file-read's largest count
DATA_DISK_SIZE = 128 << 20                  # room for guestctl cp uploads in the steps

# Modules the guest needs; their dependencies are added from each module's own modinfo.
WANTED_MODULES = ["virtio", "virtio_ring", "virtio_pci", "virtio_console", "virtio_net",
                  "virtio_blk"]

KERNEL_META = "linux-image-cloud-amd64"

QEMU_GA_CANDIDATES = ["/usr/sbin/qemu-ga", "/usr/bin/qemu-ga"]


class Skip(Exception):
    """The environment cannot run the VM tests (no QEMU, no kernel, no agent): exit 77."""


def log(msg):
    print("[vm] " + msg, flush=True)


def default_build_dir():
    env = os.environ.get("MESON_BUILD_ROOT")
    if env:
        return env
    return os.path.join(REPO, "build")


def cache_dir(build_dir):
    d = os.environ.get("GUESTD_VM_CACHE") or os.path.join(build_dir, "vm-cache")
    os.makedirs(d, exist_ok=True)
    return os.path.abspath(d)


@contextlib.contextmanager
def locked(path):
    """An exclusive flock on PATH (so two harnesses sharing a cache do not race)."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def run(cmd, **kw):
    kw.setdefault("check", True)
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    kw.setdefault("universal_newlines", True)
    return subprocess.run(cmd, **kw)


# ---------------------------------------------------------------------------------------------
# Debian packages (apt-get download + dpkg-deb -x, no installation on the host)

def _apt_tools():
    for tool in ("apt-cache", "apt-get", "dpkg-deb"):
        if not shutil.which(tool):
            raise Skip("%s not found: cannot fetch Debian packages for the guest" % tool)


def apt_download_extract(pkg, dest, cache):
    """Download Debian package PKG (exact name) and extract it into DEST (replaced)."""
    _apt_tools()
    dl = os.path.join(cache, "debs")
    os.makedirs(dl, exist_ok=True)
    for f in os.listdir(dl):
        if f.startswith(pkg + "_") and f.endswith(".deb"):
            os.unlink(os.path.join(dl, f))
    log("apt-get download %s" % pkg)
    try:
        r = run(["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root", pkg], cwd=dl,
                check=False, timeout=600)
    except subprocess.TimeoutExpired:
        raise Skip("apt-get download %s timed out" % pkg)
    debs = [f for f in os.listdir(dl) if f.startswith(pkg + "_") and f.endswith(".deb")]
    if r.returncode != 0 or not debs:
        raise Skip("apt-get download %s failed: %s" % (pkg, (r.stderr or r.stdout).strip()[-400:]))
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    run(["dpkg-deb", "-x", os.path.join(dl, debs[0]), tmp])
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(tmp, dest)
    os.unlink(os.path.join(dl, debs[0]))


def resolve_kernel_package():
    """The versioned package the meta package depends on, e.g. linux-image-6.1.0-56-cloud-amd64."""
    if not shutil.which("apt-cache"):
        return None
    r = run(["apt-cache", "depends", KERNEL_META], check=False)
    for line in r.stdout.splitlines():
        m = re.match(r"\s*Depends:\s*(linux-image-\S+-cloud-amd64)\s*$", line)
        if m:
            return m.group(1)
    # Fall back to the newest versioned cloud image apt knows about.
    r = run(["apt-cache", "search", "--names-only", r"^linux-image-[0-9].*-cloud-amd64$"],
            check=False)
    names = sorted((l.split()[0] for l in r.stdout.splitlines() if l.strip()),
                   key=lambda n: [int(x) if x.isdigit() else x for x in re.split(r"[.-]", n)])
    names = [n for n in names if not n.endswith("-dbg") and "unsigned" not in n]
    return names[-1] if names else None


class Kernel:
    def __init__(self, root, version):
        self.root = root
        self.version = version
        self.vmlinuz = os.path.join(root, "boot", "vmlinuz-" + version)
        self.moddir = os.path.join(root, "lib", "modules", version)


def ensure_kernel(cache):
    """Fetch (once) the Debian cloud kernel into CACHE/kernel. Returns a Kernel."""
    kroot = os.path.join(cache, "kernel")
    stamp = os.path.join(kroot, "PACKAGE")
    with locked(os.path.join(cache, ".lock")):
        have = open(stamp).read().strip() if os.path.exists(stamp) else None
        want = resolve_kernel_package()
        if want is None and have is None:
            _apt_tools()
            raise Skip("cannot find %s's kernel package with apt-cache (run apt-get update?)"
                       % KERNEL_META)
        if want and want != have:
            try:
                apt_download_extract(want, kroot, cache)
            except Skip as e:
                if have is None:
                    raise
                log("%s; keeping the cached %s" % (e, have))
            else:
                with open(stamp, "w") as f:
                    f.write(want + "\n")
                have = want
        boot = os.path.join(kroot, "boot")
        versions = [f[len("vmlinuz-"):] for f in os.listdir(boot) if f.startswith("vmlinuz-")]
        if not versions:
            raise Skip("no vmlinuz in %s" % have)
        k = Kernel(kroot, sorted(versions)[-1])
        if not os.path.isdir(k.moddir):
            raise Skip("kernel package %s has no modules" % have)
        return k


def ensure_busybox(cache):
    """A static busybox: the host's if it is static, else Debian's busybox-static."""
    for cand in ("/bin/busybox", "/usr/bin/busybox"):
        if os.path.exists(cand) and elf_is_static(cand):
            return cand
    root = os.path.join(cache, "busybox-static")
    bb = os.path.join(root, "bin", "busybox")
    with locked(os.path.join(cache, ".lock")):
        if not os.path.exists(bb):
            apt_download_extract("busybox-static", root, cache)
    if not os.path.exists(bb):
        raise Skip("busybox-static has no /bin/busybox")
    return bb


def find_qemu_ga():
    for c in QEMU_GA_CANDIDATES:
        if os.access(c, os.X_OK):
            return c
    return None


# ---------------------------------------------------------------------------------------------
# ELF helpers: static check and the .modinfo section of kernel modules

def _elf_sections(data):
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise ValueError("not a 64-bit ELF file")
    end = "<" if data[5] == 1 else ">"
    (e_phoff, e_shoff) = struct.unpack_from(end + "QQ", data, 0x20)
    (e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx) = struct.unpack_from(end + "HHHHH",
                                                                                  data, 0x36)
    secs = []
    for i in range(e_shnum):
        off = e_shoff + i * e_shentsize
        name, typ, flags, addr, offset, size = struct.unpack_from(end + "IIQQQQ", data, off)
        secs.append((name, offset, size))
    strtab = secs[e_shstrndx]
    out = {}
    for name, offset, size in secs:
        s = data[strtab[1] + name:data.index(b"\0", strtab[1] + name)].decode()
        out[s] = data[offset:offset + size]
    return out


def elf_is_static(path):
    with open(path, "rb") as f:
        data = f.read(4096)
    if data[:4] != b"\x7fELF" or data[4] != 2:
        return False
    end = "<" if data[5] == 1 else ">"
    e_phoff, = struct.unpack_from(end + "Q", data, 0x20)
    e_phentsize, e_phnum = struct.unpack_from(end + "HH", data, 0x36)
    for i in range(e_phnum):
        p_type, = struct.unpack_from(end + "I", data, e_phoff + i * e_phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


def read_module(path):
    """The uncompressed bytes of a kernel module (.ko, .ko.xz, .ko.zst, .ko.gz)."""
    with open(path, "rb") as f:
        data = f.read()
    if path.endswith(".xz"):
        return lzma.decompress(data)
    if path.endswith(".gz"):
        return gzip.decompress(data)
    if path.endswith(".zst"):
        if not shutil.which("zstd"):
            raise Skip("kernel modules are zstd-compressed and zstd is not installed")
        return subprocess.run(["zstd", "-dc"], input=data, stdout=subprocess.PIPE,
                              check=True).stdout
    return data


def modinfo(ko_bytes):
    """The .modinfo key=value pairs of a module, as a dict of lists."""
    sec = _elf_sections(ko_bytes).get(".modinfo", b"")
    info = {}
    for item in sec.split(b"\0"):
        if b"=" in item:
            k, v = item.split(b"=", 1)
            info.setdefault(k.decode(), []).append(v.decode(errors="replace"))
    return info


def _modname(filename):
    base = os.path.basename(filename)
    base = re.sub(r"\.ko(\.(xz|zst|gz))?$", "", base)
    return base.replace("-", "_")


def module_load_order(moddir, wanted):
    """[(name, bytes)] for WANTED and their dependencies, dependencies first."""
    index = {}
    for dp, _, files in os.walk(moddir):
        for f in files:
            if re.search(r"\.ko(\.(xz|zst|gz))?$", f):
                index.setdefault(_modname(f), os.path.join(dp, f))
    builtin = set()
    bpath = os.path.join(moddir, "modules.builtin")
    if os.path.exists(bpath):
        builtin = {_modname(l.strip()) for l in open(bpath) if l.strip()}
    order, seen, blobs = [], set(), {}

    def visit(name, stack):
        name = name.replace("-", "_")
        if name in seen:
            return
        if name in stack:
            raise RuntimeError("module dependency cycle: %s" % " -> ".join(stack + [name]))
        if name not in index:
            if name in builtin:
                seen.add(name)
                return
            raise Skip("kernel module %s not found in %s" % (name, moddir))
        data = read_module(index[name])
        info = modinfo(data)
        for dep in ",".join(info.get("depends", [""])).split(","):
            if dep:
                visit(dep, stack + [name])
        seen.add(name)
        order.append(name)
        blobs[name] = data

    for w in wanted:
        visit(w, [])
    return [(n, blobs[n]) for n in order]


# ---------------------------------------------------------------------------------------------
# Shared libraries of a dynamic binary

def ldd(binary, env=None):
    """Absolute paths of the libraries (and loader) BINARY needs, from ldd."""
    if elf_is_static(binary):
        return []
    if not shutil.which("ldd"):
        raise Skip("ldd not found: cannot collect %s's libraries" % binary)
    r = run(["ldd", binary], check=False, env=env)
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        if "not found" in line:
            raise RuntimeError("ldd %s: %s" % (binary, line))
        m = re.match(r"\S+\s+=>\s+(/\S+)", line) or re.match(r"(/\S+)\s+\(", line)
        if m:
            libs.append(m.group(1))
    if r.returncode != 0 and not libs:
        raise RuntimeError("ldd %s failed: %s" % (binary, r.stderr.strip()))
    return libs


# ---------------------------------------------------------------------------------------------
# newc cpio writer (no cpio binary and no root needed, device nodes included)

class Cpio:
    def __init__(self):
        self.entries = {}  # path -> (mode, data, rdev)

    def _parents(self, path):
        parts = path.strip("/").split("/")[:-1]
        for i in range(1, len(parts) + 1):
            d = "/".join(parts[:i])
            if d not in self.entries:
                self.entries[d] = (stat.S_IFDIR | 0o755, b"", (0, 0))

    def dir(self, path, mode=0o755):
        self._parents(path)
        self.entries[path.strip("/")] = (stat.S_IFDIR | mode, b"", (0, 0))

    def file(self, path, data=None, src=None, mode=None):
        if src is not None:
            with open(src, "rb") as f:
                data = f.read()
            if mode is None:
                mode = stat.S_IMODE(os.stat(src).st_mode)
        if isinstance(data, str):
            data = data.encode()
        self._parents(path)
        self.entries[path.strip("/")] = (stat.S_IFREG | (0o644 if mode is None else mode), data,
                                         (0, 0))

    def symlink(self, path, target):
        self._parents(path)
        self.entries[path.strip("/")] = (stat.S_IFLNK | 0o777, target.encode(), (0, 0))

    def chardev(self, path, major, minor, mode=0o600):
        self._parents(path)
        self.entries[path.strip("/")] = (stat.S_IFCHR | mode, b"", (major, minor))

    def bytes(self):
        out = io.BytesIO()
        ino = 1000

        def put(name, mode, data, rdev, nlink):
            nonlocal ino
            ino += 1
            nb = name.encode() + b"\0"
            hdr = "070701" + "".join("%08X" % v for v in (
                ino, mode, 0, 0, nlink, 0, len(data), 0, 0, rdev[0], rdev[1], len(nb), 0))
            out.write(hdr.encode() + nb)
            out.write(b"\0" * ((4 - (110 + len(nb)) % 4) % 4))
            out.write(data)
            out.write(b"\0" * ((4 - len(data) % 4) % 4))

        for name in sorted(self.entries):
            mode, data, rdev = self.entries[name]
            put(name, mode, data, rdev, 2 if stat.S_ISDIR(mode) else 1)
        put("TRAILER!!!", 0, b"", (0, 0), 1)
        return out.getvalue()

    def write_gz(self, path):
        with open(path + ".tmp", "wb") as f:
            f.write(gzip.compress(self.bytes(), compresslevel=6))
        os.replace(path + ".tmp", path)


# ---------------------------------------------------------------------------------------------
# Agents and the guest image

class Agent:
    """An agent to put in the guest: NAME is 'guestd' or 'qemu-ga'."""

    def __init__(self, name, binary, guest_path, argv, libs_env=None):
        self.name = name
        self.binary = binary
        self.guest_path = guest_path
        self.argv = argv  # as run in the guest
        self.libs_env = libs_env


def guestd_agent(binary):
    if not binary or not os.access(binary, os.X_OK):
        raise Skip("guestd binary not found: %s" % binary)
    return Agent("guestd", os.path.abspath(binary), "/usr/sbin/guestd",
                 ["/usr/sbin/guestd", "-m", "virtio-serial", "-p", GUEST_PORT_PATH, "-t", "/run"])


def qemu_ga_agent(binary=None):
    binary = binary or find_qemu_ga()
    if not binary:
        raise Skip("qemu-ga not installed (apt-get install qemu-guest-agent)")
    return Agent("qemu-ga", binary, "/usr/sbin/qemu-ga",
                 ["/usr/sbin/qemu-ga", "-m", "virtio-serial", "-p", GUEST_PORT_PATH, "-t", "/run"])


def make_agent(name, binary=None):
    if name == "guestd":
        return guestd_agent(binary or os.path.join(default_build_dir(), "guestd"))
    if name == "qemu-ga":
        return qemu_ga_agent(binary)
    raise ValueError("unknown agent %r (guestd or qemu-ga)" % name)


def build_initramfs(agent, kernel, busybox, out):
    """Write the gzip newc initramfs for AGENT to OUT."""
    c = Cpio()
    for d in ("dev", "proc", "sys", "run", "tmp", "mnt/data", "root", "etc", "bin", "sbin",
              "usr/bin", "usr/sbin", "var/lib", "lib/modules"):
        c.dir(d)
    c.dir("tmp", 0o1777)
    c.symlink("var/run", "../run")
    c.chardev("dev/console", 5, 1, 0o600)
    c.chardev("dev/null", 1, 3, 0o666)
    c.chardev("dev/ttyS0", 4, 64, 0o600)
    c.file("bin/busybox", src=busybox, mode=0o755)
    c.symlink("bin/sh", "busybox")
    c.file("init", src=os.path.join(HERE, "guest-init.sh"), mode=0o755)
    c.file("sbin/shutdown", src=os.path.join(HERE, "guest-shutdown.sh"), mode=0o755)
    c.file("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n")
    c.file("etc/group", "root:x:0:\n")
    c.file("etc/hostname", "guestd-vm\n")
    c.file("etc/hosts", "127.0.0.1 localhost guestd-vm\n")
    c.dir("etc/guestd/command.d")
    c.dir("etc/qemu")
    mods = module_load_order(kernel.moddir, WANTED_MODULES)
    for name, data in mods:
        c.file("lib/modules/%s.ko" % name, data, mode=0o644)
    c.file(agent.guest_path, src=agent.binary, mode=0o755)
    libdirs = []
    std = {"/lib", "/lib64", "/usr/lib", "/usr/lib64", "/lib/x86_64-linux-gnu",
           "/usr/lib/x86_64-linux-gnu"}
    for lib in ldd(agent.binary, env=agent.libs_env):
        c.file(lib, src=lib, mode=0o755)  # reads through symlinks: the soname path gets the file
        d = os.path.dirname(lib)
        if d not in std and d not in libdirs:
            libdirs.append(d)  # e.g. a build-tree library found through $ORIGIN on the host
    cmd = " ".join(agent.argv)
    if libdirs:
        cmd = "env LD_LIBRARY_PATH=%s %s" % (":".join(libdirs), cmd)
    conf = ("GD_AGENT=%s\nGD_AGENT_CMD='%s'\nGD_MODULES='%s'\nGD_PORT=%s\nGD_DATA=%s\n"
            % (agent.name, cmd, " ".join(n for n, _ in mods), PORT_NAME, DATA_MOUNT))
    c.file("etc/gd-vm.conf", conf)
    c.write_gz(out)
    return out


def build_data_disk(cache):
    """An ext4 image (cached) holding hello.txt, a 16 MiB and a 48 MiB deterministic file, with
    free room for uploads; attached snapshot=on, so every boot starts from this content."""
    img = os.path.join(cache, "data-v2.ext4")
    with locked(os.path.join(cache, ".lock")):
        if os.path.exists(img):
            return img
        mkfs = shutil.which("mkfs.ext4") or (os.path.exists("/sbin/mkfs.ext4") and "/sbin/mkfs.ext4")
        if not mkfs:
            raise Skip("mkfs.ext4 not found (apt-get install e2fsprogs)")
        staging = os.path.join(cache, "data-staging")
        shutil.rmtree(staging, ignore_errors=True)
        os.makedirs(staging)
        for path, size in ((BENCH_FILE, BENCH_FILE_SIZE), (BIG_FILE, BIG_FILE_SIZE)):
            with open(os.path.join(staging, os.path.basename(path)), "wb") as f:
                f.write(bench_file_bytes(size))
        with open(os.path.join(staging, "hello.txt"), "w") as f:
            f.write("hello from the guestd test disk\n")
        with open(img + ".tmp", "wb") as f:
            f.truncate(DATA_DISK_SIZE)
        run([mkfs, "-q", "-F", "-L", "gddata", "-d", staging, img + ".tmp"])
        os.replace(img + ".tmp", img)
        shutil.rmtree(staging, ignore_errors=True)
        return img


def bench_file_bytes(size=BENCH_FILE_SIZE):
    """SIZE bytes (a multiple of 64 KiB) that do not compress away, reproducible on the host
    for checking reads.  The 48 MiB file starts with the 16 MiB file's bytes."""
    import hashlib
    block = b"".join(hashlib.sha256(b"guestd-%d" % i).digest() for i in range(2048))  # 64 KiB
    return block * (size // len(block))


# ---------------------------------------------------------------------------------------------
# QEMU

def _pdeathsig():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG: die with the harness
    except Exception:
        pass


_ACCEL = None


def kvm_usable():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
        return True
    except OSError:
        return False


def probe_kvm(kernel, workdir, timeout=8.0):
    """Does a KVM guest actually run here?  /dev/kvm may open while vCPUs never execute
    (nested hypervisors without vmx/svm): boot the kernel without 'quiet' and wait for its
    first console bytes."""
    qemu = shutil.which("qemu-system-x86_64")
    os.makedirs(workdir, exist_ok=True)
    out = os.path.join(workdir, "kvm-probe.log")
    with contextlib.suppress(FileNotFoundError):
        os.unlink(out)
    argv = [qemu, "-nodefaults", "-no-user-config", "-display", "none", "-m", "128",
            "-no-reboot", "-accel", "kvm", "-kernel", kernel.vmlinuz,
            "-append", "console=ttyS0 panic=-1", "-serial", "file:" + out]
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, preexec_fn=_pdeathsig)
    try:
        end = time.monotonic() + timeout
        while time.monotonic() < end and p.poll() is None:
            if os.path.exists(out) and os.path.getsize(out) > 0:
                return True
            time.sleep(0.05)
        return False
    finally:
        p.kill()
        p.wait()


def choose_accel(kernel, cache, workdir):
    """['kvm'] when KVM really runs guests, else ['tcg'].  GUESTD_VM_ACCEL=kvm|tcg forces it.
    The probe's verdict is cached per host kernel in the cache directory."""
    global _ACCEL
    forced = os.environ.get("GUESTD_VM_ACCEL")
    if forced:
        _ACCEL = [forced]
        return _ACCEL
    if _ACCEL is not None:
        return _ACCEL
    if not kvm_usable():
        _ACCEL = ["tcg"]
        return _ACCEL
    key = "%s %s %s" % (os.uname().release, kernel.version, os.stat("/dev/kvm").st_rdev)
    vfile = os.path.join(cache, "kvm-verdict")
    try:
        k, verdict = open(vfile).read().rsplit(" ", 1)
        if k == key:
            _ACCEL = [verdict.strip()]
            return _ACCEL
    except (OSError, ValueError):
        pass
    ok = probe_kvm(kernel, workdir)
    _ACCEL = ["kvm"] if ok else ["tcg"]
    if not ok:
        log("/dev/kvm opens but a KVM guest does not run here: using TCG")
    with open(vfile, "w") as f:
        f.write("%s %s\n" % (key, _ACCEL[0]))
    return _ACCEL


class VM:
    """One QEMU guest. Use as a context manager: the process is always killed on exit."""

    def __init__(self, workdir, kernel, initrd, disk, shell=False, stat_interval=1,
                 accel=None, mem=256, extra_append=""):
        self.workdir = workdir
        self.kernel = kernel
        self.initrd = initrd
        self.disk = disk
        self.shell = shell
        self.stat_interval = stat_interval
        self.accel = accel
        self.mem = mem
        self.extra_append = extra_append
        self.proc = None
        self.t_start = None
        os.makedirs(workdir, exist_ok=True)
        self.console_log = os.path.join(workdir, "console.log")
        self.qemu_log = os.path.join(workdir, "qemu.log")
        sock = os.path.join(workdir, "qga.sock")
        self._sockdir = None
        if len(sock.encode()) > 100:  # sun_path limit
            self._sockdir = tempfile.mkdtemp(prefix="gdvm-")
            sock = os.path.join(self._sockdir, "qga.sock")
        self.sock = sock

    def argv(self, accel):
        qemu = shutil.which("qemu-system-x86_64")
        if not qemu:
            raise Skip("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
        append = "console=ttyS0 quiet panic=1 gd.stat=%d" % (0 if self.shell else self.stat_interval)
        if self.shell:
            append += " gd.shell=1"
        if self.extra_append:
            append += " " + self.extra_append
        a = [qemu, "-nodefaults", "-no-user-config", "-display", "none", "-m", str(self.mem),
             "-no-reboot", "-name", "guestd-vm"]
        for ac in accel:
            a += ["-accel", ac]
        a += ["-kernel", self.kernel.vmlinuz, "-initrd", self.initrd, "-append", append,
              "-device", "virtio-serial-pci,id=vser0",
              "-chardev", "socket,id=qga0,path=%s,server=on,wait=off" % self.sock,
              "-device", "virtserialport,bus=vser0.0,chardev=qga0,name=%s" % PORT_NAME,
              "-netdev", "user,id=n0,restrict=on",
              "-device", "virtio-net-pci,netdev=n0,romfile=",
              "-drive", "if=none,id=d0,file=%s,format=raw,snapshot=on" % self.disk,
              "-device", "virtio-blk-pci,drive=d0"]
        if self.shell:
            a += ["-serial", "mon:stdio"]
        else:
            a += ["-serial", "file:%s" % self.console_log]
        return a

    def start(self):
        accel = self.accel or _ACCEL or ["tcg"]
        for p in (self.console_log, self.sock):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(p)
        env = dict(os.environ, TMPDIR=self.workdir)  # snapshot=on overlay goes here
        argv = self.argv(accel)
        with open(os.path.join(self.workdir, "qemu.cmd"), "w") as f:
            f.write(" ".join(argv) + "\n")
        self.t_start = time.monotonic()
        if self.shell:
            self.proc = subprocess.Popen(argv, env=env, preexec_fn=_pdeathsig)
        else:
            self._qlog = open(self.qemu_log, "wb")
            self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=self._qlog,
                                         stderr=subprocess.STDOUT, env=env,
                                         preexec_fn=_pdeathsig)
        self.accel_used = accel
        return self

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_socket(self, timeout=30):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if os.path.exists(self.sock):
                return
            if not self.running():
                raise RuntimeError("qemu exited (rc=%s): %s" % (self.proc.returncode,
                                                              self.tail(self.qemu_log)))
            time.sleep(0.01)
        raise RuntimeError("qemu did not create %s" % self.sock)

    def connect(self, timeout=10):
        self.wait_socket()
        return QGA(self.sock, timeout=timeout)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if getattr(self, "_qlog", None):
            self._qlog.close()
            self._qlog = None
        if self._sockdir:
            shutil.rmtree(self._sockdir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.kill()

    # -- console log ----------------------------------------------------------------------

    def console(self, since=0):
        """The console log from byte offset SINCE, as text."""
        try:
            with open(self.console_log, "rb") as f:
                f.seek(since)
                return f.read().decode(errors="replace")
        except FileNotFoundError:
            return ""

    @staticmethod
    def tail(path, n=40):
        try:
            with open(path, "rb") as f:
                lines = f.read().decode(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no %s)" % path
        return "\n".join(lines[-n:])

    def console_tail(self, n=60):
        """The last N console lines, GDSTAT samples thinned to the last three."""
        lines = self.console().splitlines()
        stats = [i for i, l in enumerate(lines) if l.startswith("GDSTAT ")]
        drop = set(stats[:-3])
        return "\n".join([l for i, l in enumerate(lines) if i not in drop][-n:])

    def stats(self, since=0):
        """[(uptime, pid, context switches or None if dead, VmRSS kB, CPU seconds, VmHWM kB)]
        from the GDSTAT lines at byte offset >= SINCE of the console log (USER_HZ taken as
        100).  VmHWM is the peak RSS since the previous sample (the guest resets it after each
        sample); None where a field is missing."""
        text = self.console(since)
        text = text[:text.rfind("\n") + 1]  # complete lines only
        out = []
        pat = r"^GDSTAT (\d+\.\d+) (\d+) (\d+|dead)(?: (\d+))?(?: (\d+))?(?: (\d+))?\s*$"
        for m in re.finditer(pat, text, re.M):
            out.append((float(m.group(1)), int(m.group(2)),
                        None if m.group(3) == "dead" else int(m.group(3)),
                        int(m.group(4)) if m.group(4) else None,
                        int(m.group(5)) / 100.0 if m.group(5) else None,
                        int(m.group(6)) if m.group(6) else None))
        return out

    def console_size(self):
        try:
            return os.path.getsize(self.console_log)
        except FileNotFoundError:
            return 0

    def wait_stat(self, pred, since, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            for s in self.stats(since):
                if pred(s):
                    return s
            if not self.running():
                break
            time.sleep(0.1)
        return None


def boot_and_sync(vm, timeout=120):
    """Start VM and return (QGA client, seconds from qemu start to the first sync reply)."""
    vm.start()
    end = vm.t_start + timeout
    vm.wait_socket()
    q = QGA(vm.sock, timeout=5)
    n = 0
    ids = set()
    while True:
        n += 1
        sid = 424200 + n
        ids.add(sid)
        q.send(b"\xff" + json.dumps({"execute": "guest-sync-delimited",
                                     "arguments": {"id": sid}}).encode() + b"\n")
        got = q.read_sync_reply(ids, timeout=min(0.2, max(0.05, end - time.monotonic())))
        if got is not None:
            t = time.monotonic() - vm.t_start
            q.sync()  # a clean, fresh sync before the caller starts
            return q, t
        st = vm.stats()
        if st and st[-1][2] is None:
            raise RuntimeError("the agent died during boot\n--- console ---\n%s"
                               % vm.console_tail())
        if not vm.running():
            raise RuntimeError("qemu exited during boot (rc=%s)\n--- console ---\n%s"
                               % (vm.proc.returncode, vm.console_tail()))
        if time.monotonic() > end:
            raise RuntimeError("no sync reply %ds after boot\n--- console ---\n%s"
                               % (timeout, vm.console_tail()))


# ---------------------------------------------------------------------------------------------
# Raw qemu-ga protocol client over the chardev's unix socket

class ProtocolError(Exception):
    pass


class QGA:
    _next_id = 1000

    def __init__(self, path, timeout=10):
        self.path = path
        self.timeout = timeout
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(path)
        self.buf = b""

    def close(self):
        if self.sock:
            self.sock.close()
            self.sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def _fill(self, deadline):
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("timed out waiting for the agent")
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise TimeoutError("timed out waiting for the agent")
        chunk = self.sock.recv(1 << 20)
        if not chunk:
            raise ConnectionError("connection closed by QEMU")
        if not isinstance(self.buf, bytearray):
            self.buf = bytearray(self.buf)  # appends in place: tens of MiB lines stay linear
        self.buf += chunk

    def read_line(self, timeout=None):
        """One reply line (bytes, without the newline). 0xFF bytes are kept."""
        deadline = time.monotonic() + (self.timeout if timeout is None else timeout)
        pos = 0
        while True:
            i = self.buf.find(b"\n", pos)
            if i >= 0:
                break
            pos = len(self.buf)
            self._fill(deadline)
        line, self.buf = bytes(self.buf[:i]), self.buf[i + 1:]
        return line

    def read_reply(self, timeout=None):
        """The next reply as a dict (0xFF markers skipped)."""
        while True:
            line = self.read_line(timeout).replace(b"\xff", b"").strip()
            if not line:
                continue
            try:
                obj = json.loads(line.decode())
            except ValueError as e:
                raise ProtocolError("reply is not JSON (%s): %r" % (e, line[:200]))
            if not isinstance(obj, dict):
                raise ProtocolError("reply is not a JSON object: %r" % line[:200])
            return obj

    def read_sync_reply(self, ids, timeout):
        """After a guest-sync-delimited: skip to a 0xFF, then to {"return": id in IDS}.
        Returns the id, or None on timeout."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                while b"\xff" not in self.buf:
                    self.buf = b""
                    self._fill(deadline)
                self.buf = self.buf[self.buf.index(b"\xff") + 1:]
                while True:
                    while b"\n" not in self.buf:
                        self._fill(deadline)
                    line, rest = self.buf.split(b"\n", 1)
                    if b"\xff" in line:
                        break  # another marker: start over from it
                    self.buf = rest
                    try:
                        obj = json.loads(line.decode(errors="replace"))
                    except ValueError:
                        continue
                    if isinstance(obj, dict) and obj.get("return") in ids:
                        return obj["return"]
        except TimeoutError:
            return None

    def sync(self, timeout=None):
        """Resynchronise: 0xFF + guest-sync-delimited, wait for our id. Returns the id."""
        QGA._next_id += 1
        sid = QGA._next_id
        self.send(b"\xff" + json.dumps({"execute": "guest-sync-delimited",
                                        "arguments": {"id": sid}}).encode() + b"\n")
        got = self.read_sync_reply({sid}, self.timeout if timeout is None else timeout)
        if got != sid:
            raise TimeoutError("no guest-sync-delimited reply for id %d" % sid)
        return sid

    def request(self, execute, arguments=None, **extra):
        req = {"execute": execute}
        if arguments is not None:
            req["arguments"] = arguments
        req.update(extra)
        return json.dumps(req).encode() + b"\n"

    def call(self, execute, arguments=None, timeout=None, **extra):
        """Send one request, return the reply dict (error replies included)."""
        self.send(self.request(execute, arguments, **extra))
        return self.read_reply(timeout)

    def ret(self, execute, arguments=None, timeout=None, **extra):
        """Like call() but return the 'return' value, raising on an error reply."""
        r = self.call(execute, arguments, timeout, **extra)
        if "error" in r:
            raise AgentError(execute, r["error"])
        if "return" not in r:
            raise ProtocolError("%s: reply without return: %r" % (execute, r))
        return r["return"]


class AgentError(Exception):
    def __init__(self, execute, err):
        self.execute = execute
        self.err = err
        super().__init__("%s: %s: %s" % (execute, err.get("class"), err.get("desc")))

    @property
    def cls(self):
        return self.err.get("class")


# ---------------------------------------------------------------------------------------------

def scratch_dir(build_dir, name):
    d = os.path.join(build_dir, "vm-scratch", name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def prepare(agent, build_dir, name=None):
    """Everything needed to boot AGENT: returns (kernel, initrd, disk, workdir)."""
    if not shutil.which("qemu-system-x86_64"):
        raise Skip("qemu-system-x86_64 not found (apt-get install qemu-system-x86)")
    cache = cache_dir(build_dir)
    kernel = ensure_kernel(cache)
    busybox = ensure_busybox(cache)
    disk = build_data_disk(cache)
    work = scratch_dir(build_dir, name or agent.name)
    initrd = build_initramfs(agent, kernel, busybox, os.path.join(work, "initrd.gz"))
    choose_accel(kernel, cache, work)
    return kernel, initrd, disk, work


def install_signal_handlers():
    """Turn SIGTERM/SIGINT/SIGHUP into SystemExit so finally blocks kill the VMs."""
    def h(sig, frame):
        raise SystemExit(128 + sig)
    for s in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, h)
