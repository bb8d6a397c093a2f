#!/usr/bin/env python3
"""Boot the test VM for a human (see run-vm.sh)."""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402


def main():
    ap = argparse.ArgumentParser(prog="run-vm.sh", description=(
        "Boot the guestd test VM. --shell: a busybox shell on the serial console in this "
        "terminal (Ctrl-A X quits QEMU, Ctrl-A C toggles the QEMU monitor). Without --shell "
        "the VM runs headless until Ctrl-C; talk to the agent through the printed socket "
        "(build/guestctl -s SOCKET ping, or socat - UNIX-CONNECT:SOCKET)."))
    ap.add_argument("--agent", default="guestd", choices=["guestd", "qemu-ga"])
    ap.add_argument("--binary", help="agent binary (default BUILD/guestd or /usr/sbin/qemu-ga)")
    ap.add_argument("--build-dir", default=None)
    ap.add_argument("--shell", action="store_true", help="shell on the console (stdio)")
    ap.add_argument("--no-agent", action="store_true", help="do not start the agent in the guest")
    ap.add_argument("--append", default="", help="extra kernel command line")
    args = ap.parse_args()

    vmlib.install_signal_handlers()
    build = os.path.abspath(args.build_dir or vmlib.default_build_dir())
    try:
        agent = vmlib.make_agent(args.agent, args.binary)
        kernel, initrd, disk, work = vmlib.prepare(agent, build, "run-vm-" + agent.name)
    except vmlib.Skip as e:
        print("cannot boot the VM: %s" % e, file=sys.stderr)
        return 77
    extra = args.append + (" gd.noagent=1" if args.no_agent else "")
    vm = vmlib.VM(work, kernel, initrd, disk, shell=args.shell, extra_append=extra.strip())
    try:
        vm.start()
        msg = ("[vm] agent %s, accel %s, agent socket %s, data disk (snapshot) %s"
               % (agent.name, ",".join(vm.accel_used), vm.sock, disk))
        if args.shell:
            print(msg + "\n[vm] Ctrl-A X quits QEMU; the shell prompt follows the boot.",
                  flush=True)
            return vm.proc.wait()
        print(msg + "\n[vm] console log %s; Ctrl-C stops the VM" % vm.console_log, flush=True)
        while vm.running():
            time.sleep(0.5)
        return vm.proc.returncode
    except KeyboardInterrupt:
        return 130
    finally:
        vm.kill()


if __name__ == "__main__":
    sys.exit(main())
