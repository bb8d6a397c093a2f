#!/bin/sh
# guestd benchmark: bench/run.sh BUILDDIR [--quick] [--no-strace] [--idle S] ...
# See bench/README.md. Needs python3 (standard library only).
here=$(dirname "$0")
if [ $# -lt 1 ]; then
	echo "usage: $0 BUILDDIR [options]   (--help for the options)" >&2
	exit 2
fi
exec python3 "$here/run.py" "$@"
