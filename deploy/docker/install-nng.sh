#!/bin/sh
# The one place that decides which nng the images use.
#
#   install-nng.sh build     headers + library, for the build stage
#   install-nng.sh runtime   the shared library only, for the runtime stage
#
# Today: Debian 12's packages (nng 1.5.2: libnng-dev / libnng1). To move to a
# source-built nng (e.g. 1.10.1), change only this file: in `build` mode
# build and install it under /usr/local; in `runtime` mode install its
# libnng.so.* (or link nng statically and make `runtime` a no-op).
# The caller runs `apt-get update` first and cleans the lists afterwards.
set -eu
mode=${1:?usage: install-nng.sh build|runtime}
export DEBIAN_FRONTEND=noninteractive
case "$mode" in
build)   pkgs=libnng-dev ;;
runtime) pkgs=libnng1 ;;
*) echo "install-nng.sh: unknown mode $mode" >&2; exit 2 ;;
esac
apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
