#!/usr/bin/env bash
# Fetches and unpacks a Debian source package with a *private* sources list
# and lists directory, so the system's apt sources are never changed:
#
#   deploy/local/debian-source.sh SUITE PACKAGE[=VERSION] WORKDIR
#
# Prints the unpacked source directory (Debian's own patches applied) on
# stdout. Used for pgvector (from trixie: not in Debian 12) and for nng
# (Debian 12's own 1.5.2, rebuilt with a fix; see deploy/nng/README.md).
set -euo pipefail
suite=$1; pkg=$2; work=$3
mkdir -p "$work/lists/partial" "$work/src"
cat > "$work/sources.list" <<SRC
deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main
SRC
aptopts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-"
         -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root")
apt-get "${aptopts[@]}" update -qq >&2
(cd "$work/src" && apt-get "${aptopts[@]}" source --download-only "$pkg" >/dev/null)
dsc=$(ls "$work"/src/"${pkg%%=*}"_*.dsc | head -1)
name=${pkg%%=*}
(cd "$work/src" && dpkg-source -x --no-check "$dsc" "$name" >/dev/null)
echo "$work/src/$name"
