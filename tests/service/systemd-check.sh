#!/bin/sh
# Usage: systemd-check.sh UNIT RULE GUESTD_EXE VIRTIO_PATH MANDIR_SRC
# Checks the configured systemd unit and udev rule:
#  - "systemd-analyze verify" on a copy of the unit whose ExecStart= points at
#    the built guestd (verify insists that the binary exists), with MANPATH
#    set to the source man pages so that Documentation= is checked too;
#    any message at all is a failure (verify only warns about unknown keys
#    or bad values, and still exits 0);
#  - the unit is Type=notify, Restart=always, and binds to the device unit
#    of VIRTIO_PATH, escaped as systemd-escape --path does;
#  - the udev rule starts guestd.service for the port named basename(VIRTIO_PATH).
unit=$1 rule=$2 exe=$3 virtio=$4 mansrc=$5
case $exe in /*) ;; *) exe=$(pwd)/$exe ;; esac
fail() { echo "FAIL: $*"; exit 1; }
command -v systemd-analyze >/dev/null 2>&1 ||
	{ echo "systemd-analyze not found: skipped"; exit 77; }

grep -n '@[A-Z_]*@' "$unit" "$rule" && fail "unsubstituted placeholders"
for line in Type=notify Restart=always ExecStart=; do
	grep -q "^$line" "$unit" || fail "$unit has no $line"
done

if command -v systemd-escape >/dev/null 2>&1; then
	dev="$(systemd-escape --path "$virtio")".device
	for key in BindsTo After WantedBy; do
		grep -qxF "$key=$dev" "$unit" || fail "$unit: expected $key=$dev"
	done
fi
port=$(basename "$virtio")
grep -qF "ATTR{name}==\"$port\"" "$rule" || fail "$rule does not match port $port"
grep -qF 'ENV{SYSTEMD_WANTS}="guestd.service"' "$rule" || fail "$rule does not want guestd.service"
grep -qF 'TAG+="systemd"' "$rule" || fail "$rule does not tag the device for systemd"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
sed "s|^ExecStart=[^ ]*|ExecStart=$exe|" "$unit" > "$tmp/guestd.service"

man_opt=--man=no
if command -v man >/dev/null 2>&1; then
	for s in 1 5 8; do
		mkdir -p "$tmp/man/man$s"
		cp "$mansrc"/*.$s "$tmp/man/man$s/"
	done
	man_opt=--man=yes
fi
out=$(cd "$tmp" && MANPATH="$tmp/man" systemd-analyze verify $man_opt ./guestd.service 2>&1)
rc=$?
if [ $rc -ne 0 ] || [ -n "$out" ]; then
	printf 'FAIL: systemd-analyze verify (exit %s):\n%s\n' "$rc" "$out"
	exit 1
fi
echo "ok   $unit ($man_opt)"
echo "ok   $rule"
