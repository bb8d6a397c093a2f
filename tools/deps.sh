#!/usr/bin/env bash
# Installs the Debian 12 packages guestd needs to build and test (only what is missing).
# Run as root, or it uses sudo.
set -euo pipefail
pkgs=(
  build-essential clang meson ninja-build pkg-config python3   # toolchain
  libjansson-dev libuv1-dev libcmocka-dev nettle-dev libinih-dev # libraries
  socat valgrind mandoc systemd dash                             # tests and tools
  qemu-system-x86 busybox-static e2fsprogs zstd xz-utils         # tests/vm (real guest)
  qemu-guest-agent                                               # the reference, for side-by-side tests and bench
)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends "${missing[@]}"
# qemu-guest-agent's package starts a service where systemd runs; guestd's tests start their own
$SUDO systemctl disable --now qemu-guest-agent >/dev/null 2>&1 || true
