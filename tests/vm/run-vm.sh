#!/bin/sh
# Boot the guestd test VM by hand.
#   tests/vm/run-vm.sh --shell                    shell on the console, guestd running in the guest
#   tests/vm/run-vm.sh --shell --agent qemu-ga    the same with Debian's qemu-ga
#   tests/vm/run-vm.sh                            headless; prints the agent's host socket
# Options: --binary PATH, --build-dir DIR (default ./build), --no-agent, --append 'KERNEL ARGS'.
# Downloads go to GUESTD_VM_CACHE (default BUILD/vm-cache); GUESTD_VM_ACCEL=tcg|kvm forces one.
exec python3 "$(dirname "$0")/run_vm.py" "$@"
