#!/usr/bin/env bash
# The README's first command: install what is missing, build, and run guestd in the foreground
# on a unix socket in a temp dir (no VM needed). Ctrl-C stops it and removes the socket.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
[ -f build/build.ninja ] || meson setup build >/dev/null
ninja -C build >/dev/null
dir=$(mktemp -d /tmp/guestd.XXXXXX)
sock="$dir/guestd.sock"
cat <<MSG
guestd is starting on $sock. In another terminal:
  socat - UNIX-CONNECT:$sock         then type: {"execute":"guest-ping"}
  build/guestctl -s $sock info
MSG
exec build/guestd -m unix-listen -p "$sock" -t "$dir" -c /dev/null -v
