#!/bin/sh
# /sbin/shutdown for the test VM: qemu-ga and guestd run '/sbin/shutdown -h -P +0 "..."' for
# guest-shutdown; -r reboots (and QEMU, started with -no-reboot, exits), anything else powers off.
echo "GDVM shutdown $*" > /dev/console
sync
for a in "$@"; do
	case $a in -r) exec reboot -f ;; esac
done
exec poweroff -f
