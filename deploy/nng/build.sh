#!/usr/bin/env bash
# Builds the nng the project links: Debian 12's own nng 1.5.2 (source package
# nng 1.5.2-2, Debian's patches applied) plus the fixes in this folder, as a
# shared library under PREFIX (default /opt/chat/nng). Idempotent: a stamp
# naming the version and the patches' checksum skips the build when current.
#
#   deploy/nng/build.sh [PREFIX]
#
# Needs: build-essential, cmake, dpkg-dev (the install step has them). The
# Makefile links with -L PREFIX/lib and an rpath to it, so our programs (and
# Criterion, which loads libnng.so.1 too) use this build, not the system's.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
prefix=${1:-/opt/chat/nng}
version=1.5.2-2
stamp="nng $version $(cat "$here"/*.patch | sha256sum | cut -c1-16)"
if [ -f "$prefix/.stamp" ] && [ "$(cat "$prefix/.stamp")" = "$stamp" ] && [ -f "$prefix/lib/libnng.so.1" ]; then
  exit 0
fi
log() { printf 'nng: %s\n' "$*" >&2; }
log "building nng $version with $(ls "$here"/*.patch | wc -l) fix(es) into $prefix"
work=$(mktemp -d /tmp/nng-build.XXXXXX)
trap 'rm -rf "$work"' EXIT
src=$("$here/../local/debian-source.sh" bookworm "nng=$version" "$work")
for p in "$here"/*.patch; do patch -s -d "$src" -p1 < "$p"; done
buildlog="$work/build.log"
if ! { cmake -S "$src" -B "$work/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBUILD_SHARED_LIBS=ON \
         -DNNG_TESTS=OFF -DNNG_TOOLS=OFF -DNNG_ENABLE_NNGCAT=OFF -DNNG_ENABLE_TLS=OFF \
         -DCMAKE_INSTALL_PREFIX="$prefix" -DCMAKE_INSTALL_LIBDIR=lib &&
       cmake --build "$work/build" -j "$(nproc)"; } >"$buildlog" 2>&1; then
  tail -20 "$buildlog" >&2; log "build failed"; exit 1
fi
rm -rf "$prefix"
cmake --install "$work/build" >/dev/null
echo "$stamp" > "$prefix/.stamp"
log "installed $(readlink -f "$prefix/lib/libnng.so.1")"
