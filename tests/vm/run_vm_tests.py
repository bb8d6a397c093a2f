#!/usr/bin/env python3
"""Boot a real Linux guest with an agent on virtio-serial and run the conformance sequence.

    run_vm_tests.py --agent guestd --binary build/guestd [--build-dir build]
    run_vm_tests.py --agent qemu-ga            # the reference agent, guestd-only steps skipped
    run_vm_tests.py --agent guestd --only guest-ping,tagged --keep

Exit status: 0 all passed, 1 a step failed, 77 the environment cannot run a VM (skip).
"""

import argparse
import os
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vmlib  # noqa: E402
import conformance  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--agent", default="guestd", choices=["guestd", "qemu-ga"])
    ap.add_argument("--binary", help="agent binary on the host (default: BUILD/guestd, "
                    "/usr/sbin/qemu-ga)")
    ap.add_argument("--guestctl", help="guestctl binary for the guestctl step (optional)")
    ap.add_argument("--build-dir", default=None, help="meson build dir (scratch and cache)")
    ap.add_argument("--only", help="comma-separated step names")
    ap.add_argument("--list", action="store_true", help="list the steps and exit")
    ap.add_argument("--boot-timeout", type=float, default=120)
    args = ap.parse_args()

    if args.list:
        for s in conformance.ordered_steps():
            print("%-26s%s" % (s.name, " (guestd only)" if s.guestd_only else ""))
        return 0

    vmlib.install_signal_handlers()
    build = os.path.abspath(args.build_dir or vmlib.default_build_dir())
    only = set(args.only.split(",")) if args.only else None
    try:
        agent = vmlib.make_agent(args.agent, args.binary)
        kernel, initrd, disk, work = vmlib.prepare(agent, build, "conformance-" + agent.name)
    except vmlib.Skip as e:
        print("SKIP: %s" % e, flush=True)
        return 77

    vm = vmlib.VM(work, kernel, initrd, disk)
    t0 = time.monotonic()
    failed = 1
    try:
        try:
            q, boot = vmlib.boot_and_sync(vm, timeout=args.boot_timeout)
        except vmlib.Skip as e:
            print("SKIP: %s" % e, flush=True)
            return 77
        except Exception as e:
            print("FAIL boot: %s" % e, flush=True)
            print("0 passed, 1 failed", flush=True)
            return 1
        print("[vm] %s booted (%s) in %.2f s; console log %s" % (
            agent.name, ",".join(vm.accel_used), boot, vm.console_log), flush=True)
        passed, failed, skipped, metrics, failures = conformance.run_sequence(
            vm, q, agent, only, out=lambda s: print(s, flush=True),
            guestctl=os.path.abspath(args.guestctl) if args.guestctl else None)
        if failures:
            print("\n--- failures ---")
            for name, msg in failures:
                print("%s: %s" % (name, msg))
            print("\n--- guest console (tail) ---\n%s" % vm.console_tail(40))
        extra = ""
        if "idle_wakeups_per_s" in metrics:
            extra = ", idle %.2f wakeups/s" % metrics["idle_wakeups_per_s"]
        print("\n%s: first pong %.2f s%s, total %.1f s" % (agent.name, boot, extra,
                                                         time.monotonic() - t0))
        print("%d passed, %d failed, %d skipped" % (passed, failed, skipped), flush=True)
    except Exception:
        traceback.print_exc()
        print("\n--- guest console (tail) ---\n%s" % vm.console_tail(40))
        return 1
    finally:
        vm.kill()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
