#!/bin/sh
# Builds pgvector for PostgreSQL 15 from Debian 13 (trixie)'s source package
# (pgvector is not in Debian 12), the same way deploy/local/install-deps.sh
# does on a developer's machine: a private sources list and lists directory,
# so the image's apt sources never mention trixie. Installs into the running
# system (make install) and, with DESTDIR, also into that tree.
set -eu
PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
work=$(mktemp -d /tmp/pgvector.XXXXXX)
mkdir -p "$work/lists/partial" "$work/src"
echo 'deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main' > "$work/sources.list"
set -- -o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=-" \
       -o "Dir::State::Lists=$work/lists" -o "APT::Sandbox::User=root"
apt-get "$@" update -qq
(cd "$work/src" && apt-get "$@" source --download-only pgvector >/dev/null)
dsc=$(ls "$work"/src/pgvector_*.dsc | head -1)
(cd "$work/src" && dpkg-source -x --no-check "$dsc" pgvector >/dev/null)
make -s -C "$work/src/pgvector" PG_CONFIG=$PG_CONFIG OPTFLAGS="" >/dev/null
make -s -C "$work/src/pgvector" PG_CONFIG=$PG_CONFIG install DESTDIR="${DESTDIR:-}" >/dev/null
rm -rf "$work"
