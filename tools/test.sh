#!/usr/bin/env bash
# The README's second command (and CI's): install what is missing, build, run every test suite
# (unit, frames, integration, docs, service, vm). Extra arguments go to `meson test`.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/deps.sh
builddir=${GUESTD_BUILDDIR:-build}
[ -f "$builddir/build.ninja" ] || meson setup "$builddir" ${GUESTD_MESON_ARGS:-}
ninja -C "$builddir"
meson test -C "$builddir" --print-errorlogs "$@"
