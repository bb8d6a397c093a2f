#!/bin/sh
# File-transfer benchmark: the same workload, the same C client (bench-file), against Debian's
# qemu-ga and guestd, each agent started fresh for each workload on a unix socket.
#
#   bench/file/run.sh [BUILDDIR] [SIZE_MIB]      (defaults: build, 256)
#
# Workloads: read SIZE MiB in 48 MiB counts and in 64 KiB counts, write SIZE MiB in 4 MiB
# chunks, and guest-pings while one 48 MiB read is in flight (tagged for guestd; qemu-ga has no
# tags and runs requests one at a time). For each: MB/s (10^6 bytes/s), the agent's peak RSS
# (VmHWM) and its RSS one second after the transfer. Prints a table with guestd/qemu-ga ratios.
# The data files live in a temp dir under /dev/shm when it exists (no disk in the measurement).
set -eu

BUILD=${1:-build}
SIZE_MIB=${2:-256}
QGA=${QGA:-qemu-ga}
HERE=$(cd "$(dirname "$0")" && pwd)
GUESTD=$BUILD/guestd
CLIENT=$BUILD/bench/file/bench-file

[ -x "$GUESTD" ] || { echo "no $GUESTD: build first" >&2; exit 1; }
command -v "$QGA" >/dev/null || { echo "no $QGA" >&2; exit 1; }
if [ ! -x "$CLIENT" ]; then
	CLIENT=$(mktemp /tmp/bench-file.XXXXXX)
	${CC:-cc} -O2 -std=c11 -D_GNU_SOURCE -o "$CLIENT" "$HERE/bench-file.c" -lnettle
fi

base=/tmp
[ -d /dev/shm ] && [ -w /dev/shm ] && base=/dev/shm
W=$(mktemp -d "$base/guestd-bench-file.XXXXXX")
AGENT_PID=
cleanup() {
	[ -n "$AGENT_PID" ] && kill "$AGENT_PID" 2>/dev/null || true
	rm -rf "$W"
	case "$CLIENT" in /tmp/bench-file.*) rm -f "$CLIENT" ;; esac
}
trap cleanup EXIT INT TERM

dd if=/dev/urandom of="$W/data" bs=1M count="$SIZE_MIB" status=none
SIZE=$((SIZE_MIB * 1024 * 1024))

start_agent() {   # $1: qemu-ga | guestd
	rm -rf "$W/state" && mkdir -p "$W/state"
	if [ "$1" = qemu-ga ]; then
		"$QGA" -m unix-listen -p "$W/sock" -t "$W/state" 2>"$W/agent.log" &
	else
		"$GUESTD" -m unix-listen -p "$W/sock" -t "$W/state" -c /dev/null 2>"$W/agent.log" &
	fi
	AGENT_PID=$!
	i=0
	while [ ! -S "$W/sock" ]; do
		i=$((i + 1))
		[ $i -gt 500 ] && { echo "$1 did not start" >&2; cat "$W/agent.log" >&2; exit 1; }
		sleep 0.01
	done
}

stop_agent() {
	kill "$AGENT_PID" 2>/dev/null || true
	wait "$AGENT_PID" 2>/dev/null || true
	AGENT_PID=
	rm -f "$W/sock"
}

kb() {   # VmHWM or VmRSS of the agent, kB
	awk -v k="$1:" '$1 == k { print $2 }' "/proc/$AGENT_PID/status"
}

val() {   # key from a key=value output
	printf '%s\n' "$2" | awk -F= -v k="$1" '$1 == k { print $2 }'
}

# run AGENT NAME CLIENT-ARGS...: one workload on a fresh agent; sets R_* variables
run() {
	agent=$1 name=$2
	shift 2
	start_agent "$agent"
	out=$("$CLIENT" "$@" | tr '\n' ' ' | tr ' ' '\n')
	R_HWM=$(kb VmHWM)
	sleep 1
	R_RSS=$(kb VmRSS)
	stop_agent
	R_OUT=$out
	eval "${agent%%-*}_${name}_out=\$out; ${agent%%-*}_${name}_hwm=\$R_HWM; ${agent%%-*}_${name}_rss=\$R_RSS"
}

for a in qemu-ga guestd; do
	tag=id
	[ "$a" = guestd ] && tag=tag
	run "$a" read48 read "$W/sock" "$W/data" 50331648
	run "$a" read64k read "$W/sock" "$W/data" 65536
	run "$a" write4m write "$W/sock" "$W/out-$a" "$SIZE" 4194304
	run "$a" ping ping "$W/sock" "$W/data" 50331648 "$tag"
done

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

printf '\nfile transfer, %s MiB, unix socket, same client (bench-file)\n\n' "$SIZE_MIB"
printf '%-24s %12s %12s %8s\n' "workload" "qemu-ga" "guestd" "ratio"
for w in read48 read64k write4m; do
	case $w in read*) k=read_mbps ;; *) k=write_mbps ;; esac
	eval "q=\$(val $k \"\$qemu_${w}_out\"); g=\$(val $k \"\$guestd_${w}_out\")"
	printf '%-24s %9s MB/s %7s MB/s %7sx\n' "$w" "$q" "$g" "$(ratio "$g" "$q")"
done
for w in read48 read64k write4m; do
	eval "qh=\$qemu_${w}_hwm gh=\$guestd_${w}_hwm qr=\$qemu_${w}_rss gr=\$guestd_${w}_rss"
	printf '%-24s %9s MB %9s MB %7sx\n' "peak RSS $w" "$((qh / 1024))" "$((gh / 1024))" \
		"$(ratio "$gh" "$qh")"
	printf '%-24s %9s MB %9s MB\n' "RSS 1 s after $w" "$((qr / 1024))" "$((gr / 1024))"
done
for k in ping_first_ms ping_median_ms ping_max_ms read_ms; do
	eval "q=\$(val $k \"\$qemu_ping_out\"); g=\$(val $k \"\$guestd_ping_out\")"
	printf '%-24s %9s ms %9s ms\n' "48 MiB read: $k" "$q" "$g"
done
cat <<'EOF'

ratio: guestd / qemu-ga (throughput: higher is better; RSS: lower is better).
ping_first: a guest-ping sent right after the read request; median/max: pings sent one after
the other while the read runs. A reply is written whole, so a ping answered while the 64 MiB
reply is on the wire waits for it: max includes that transfer time for any agent.
EOF
