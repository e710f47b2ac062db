#!/bin/sh
# The one place that decides which nng the images use.
#
#   install-nng.sh build     headers + library, for the build stage
#   install-nng.sh runtime   the shared library, for the runtime stage
#
# When the build context has deploy/nng/build.sh (the project's own nng:
# Debian 12's 1.5.2 source rebuilt with our fixes, under /opt/chat/nng, which
# the Makefile links through an rpath), `build` runs it; the Dockerfiles copy
# /opt/chat/nng into the runtime stage and `runtime` then installs nothing.
# Otherwise both use Debian 12's packages (libnng-dev / libnng1, 1.5.2).
# To use another nng (e.g. a 1.10 source build), change this file and
# deploy/nng/ only. The caller runs `apt-get update` first and cleans the
# lists afterwards.
set -eu
mode=${1:?usage: install-nng.sh build|runtime}
here=$(cd "$(dirname "$0")" && pwd)
prefix=${NNG_PREFIX:-/opt/chat/nng}
export DEBIAN_FRONTEND=noninteractive
case "$mode" in
build)
  if [ -x "$here/nng/build.sh" ]; then
    apt-get install -y -qq --no-install-recommends cmake dpkg-dev patch >/dev/null
    "$here/nng/build.sh" "$prefix"
    rm -rf "$prefix/lib/cmake"
  else
    apt-get install -y -qq --no-install-recommends libnng-dev >/dev/null
    mkdir -p "$prefix"     # empty: the runtime stage copies it either way
  fi
  ;;
runtime)
  if [ -e "$prefix/lib/libnng.so.1" ]; then
    rm -rf "$prefix/include"
  else
    apt-get install -y -qq --no-install-recommends libnng1 >/dev/null
  fi
  ;;
*) echo "install-nng.sh: unknown mode $mode" >&2; exit 2 ;;
esac
