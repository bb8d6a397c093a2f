#!/bin/sh
# Usage: rcd-check.sh SCRIPT SBINDIR CONFFILE (CONFFILE: guestd's default)
# Checks the configured FreeBSD rc.d script: POSIX sh syntax (sh -n, and dash
# -n when dash is there), the rcorder(8) header, no unsubstituted @VAR@, and,
# run against a stub rc.subr, the command line it would start guestd with.
script=$1 sbindir=$2 conffile=$3
fail() { echo "FAIL: $*"; exit 1; }

sh -n "$script" || fail "sh -n $script"
if command -v dash >/dev/null 2>&1; then
	dash -n "$script" || fail "dash -n $script"
fi
grep -q '^# PROVIDE: guestd$' "$script" || fail "no '# PROVIDE: guestd'"
grep -q '^# REQUIRE: DAEMON$' "$script" || fail "no '# REQUIRE: DAEMON'"
grep -q '^# KEYWORD: nojail shutdown$' "$script" || fail "no '# KEYWORD: nojail shutdown'"
grep -n '@[A-Z_]*@' "$script" && fail "unsubstituted placeholders"
grep -qF "\"$conffile\"" "$script" || fail "script does not default to $conffile"

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
# A stub rc.subr: load_rc_config does nothing, run_rc_command prints what the
# real one would run.
cat > "$tmp/rc.subr" <<'STUB'
load_rc_config() { :; }
run_rc_command() {
	echo "rcvar=$rcvar"
	echo "enable=$guestd_enable"
	echo "pidfile=$pidfile"
	echo "run=$command $guestd_flags $command_args"
	echo "extra=$extra_commands"
}
STUB
sed "s|^\. /etc/rc\.subr\$|. $tmp/rc.subr|" "$script" > "$tmp/guestd"
grep -q "^\. $tmp/rc.subr\$" "$tmp/guestd" || fail "script does not source /etc/rc.subr"

expect() {
	printf '%s\n' "$out" | grep -qxF -- "$1" || fail "expected '$1' in:
$out"
}
out=$(env -i PATH="$PATH" sh "$tmp/guestd" start) || fail "stub run failed"
expect "rcvar=guestd_enable"
expect "enable=NO"
expect "pidfile=/var/run/guestd.pid"
# The default file is guestd's own default: no -c, which would insist on it.
expect "run=$sbindir/guestd  -d -f /var/run/guestd.pid"
expect "extra=reload configtest"
out=$(env -i PATH="$PATH" guestd_enable=YES guestd_flags=-v \
	guestd_config=/tmp/x.conf sh "$tmp/guestd" start) || fail "stub run failed"
expect "enable=YES"
expect "run=$sbindir/guestd -v -d -f /var/run/guestd.pid -c /tmp/x.conf"
echo "ok   $script"
