#!/bin/busybox sh
# /init of the guestd test VM (tests/vm). Busybox only.
#   kernel command line: gd.stat=N   print the agent's context switches, RSS, CPU every N s (0: off)
#                        gd.shell=1  start a shell on the console (tests/vm/run-vm.sh --shell)
#                        gd.noagent=1  do not start the agent
/bin/busybox mkdir -p /proc /sys /dev /run /tmp /bin /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/virtio-ports
mount -t devpts devpts /dev/pts
mount -t tmpfs -o mode=0755 tmpfs /run
mount -t tmpfs -o mode=1777 tmpfs /tmp
[ -e /dev/console ] || mknod /dev/console c 5 1
exec </dev/console >/dev/console 2>&1

log() { read _up _idle < /proc/uptime; echo "GDVM [$_up] $*"; }
log init

. /etc/gd-vm.conf
STAT=0 SHELL_MODE=0 NOAGENT=0
for a in $(cat /proc/cmdline); do
	case $a in
	gd.stat=*) STAT=${a#gd.stat=} ;;
	gd.shell=*) SHELL_MODE=${a#gd.shell=} ;;
	gd.noagent=*) NOAGENT=${a#gd.noagent=} ;;
	esac
done
hostname guestd-vm

for m in $GD_MODULES; do
	insmod /lib/modules/$m.ko || log "insmod $m failed"
done

ip link set lo up
for n in /sys/class/net/*; do
	n=${n##*/}
	[ "$n" = lo ] && continue
	ip link set "$n" up && ip addr add 10.0.2.15/24 dev "$n" && ip route add default via 10.0.2.2 dev "$n"
done

mkdir -p "$GD_DATA"
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
log modules+net done
mount -t ext4 /dev/vda "$GD_DATA" || log "mount /dev/vda on $GD_DATA failed"

# The symlink a udev rule would make: /dev/virtio-ports/NAME -> ../vportXpY
i=0
while [ ! -e "/dev/virtio-ports/$GD_PORT" ] && [ $i -lt 200 ]; do
	for p in /sys/class/virtio-ports/*; do
		[ -e "$p/name" ] || continue
		read name < "$p/name"
		[ -n "$name" ] && [ -e "/dev/${p##*/}" ] && ln -sf "../${p##*/}" "/dev/virtio-ports/$name"
	done
	[ -e "/dev/virtio-ports/$GD_PORT" ] || sleep 0.05
	i=$((i+1))
done
[ -e "/dev/virtio-ports/$GD_PORT" ] || log "no virtio port named $GD_PORT"

log disk+port done
AGENT_PID=
if [ "$NOAGENT" != 1 ]; then
	eval "$GD_AGENT_CMD &"
	AGENT_PID=$!
	echo "$AGENT_PID" > /run/agent.pid
	read up idle < /proc/uptime
	log "uptime=$up agent $GD_AGENT started pid $AGENT_PID: $GD_AGENT_CMD"
fi

# The agent's context switches, summed over its threads, read from /proc without touching the
# agent (no fork per sample but sleep; the agent is never signalled or traced).  VmHWM is the
# peak RSS since the previous sample: after each sample the peak is reset to the current RSS
# through /proc/PID/clear_refs ("5"), which only takes the mm's lock and never wakes the agent.
if [ "$STAT" != 0 ] && [ -n "$AGENT_PID" ]; then
	(
		while :; do
			s=0 state=dead rss=0 hwm=0
			for f in /proc/$AGENT_PID/task/*/status; do
				[ -r "$f" ] || continue
				while read k v rest; do
					case $k in
					State:) [ "$v" = Z ] || state=alive ;;
					VmRSS:) rss=$v ;;
					VmHWM:) hwm=$v ;;
					voluntary_ctxt_switches:|nonvoluntary_ctxt_switches:) s=$((s+v)) ;;
					esac
				done < "$f"
			done
			[ $state = alive ] && { echo 5 > /proc/$AGENT_PID/clear_refs; } 2>/dev/null
			cpu=0
			if read -r line < /proc/$AGENT_PID/stat; then
				set -- ${line##*) }   # fields from the 3rd on: utime is the 14th, stime the 15th
				cpu=$((${12} + ${13}))
			fi 2>/dev/null
			read up idle < /proc/uptime
			# GDSTAT <uptime> <pid> <context switches, all threads> <VmRSS kB> <CPU ticks>
			#        <VmHWM kB: peak RSS since the previous sample>
			if [ $state = alive ]; then echo "GDSTAT $up $AGENT_PID $s $rss $cpu $hwm"; else echo "GDSTAT $up $AGENT_PID dead"; fi
			sleep "$STAT"
		done
	) &
fi

read up idle < /proc/uptime
log "ready agent=$GD_AGENT uptime=$up"
if [ "$SHELL_MODE" = 1 ]; then
	echo
	echo "guestd test VM: agent $GD_AGENT (pid $AGENT_PID), data disk on $GD_DATA."
	echo "Ctrl-A X quits QEMU; 'poweroff -f' powers off."
	while :; do setsid cttyhack sh -l; done
fi
while :; do sleep 3600; done
