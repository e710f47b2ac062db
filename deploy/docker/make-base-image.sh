#!/usr/bin/env bash
# Makes the Debian 12 base image locally, for machines that reach Debian's
# package archive but no image registry. The result is tagged
# `chat/debian:12-slim` (or $1) and every Dockerfile here takes it through
# `--build-arg BASE=chat/debian:12-slim`; with the default BASE=debian:12-slim
# the same Dockerfiles use the public image instead.
#
#   deploy/docker/make-base-image.sh [TAG]
#
# The root filesystem is made once with `debootstrap --variant=minbase
# bookworm` and kept as a tarball in $CHAT_CACHE (default
# ~/.cache/chat-docker); later runs only `docker import` it when the tag is
# missing. Like the official slim image it keeps no documentation, man pages
# or package lists, and dpkg is told not to install them later.
# MIRROR (default http://deb.debian.org/debian) picks the archive.
set -euo pipefail
TAG=${1:-chat/debian:12-slim}
CACHE=${CHAT_CACHE:-${HOME:-/root}/.cache/chat-docker}
MIRROR=${MIRROR:-http://deb.debian.org/debian}
SUITE=bookworm
tarball="$CACHE/debian-$SUITE-slim-rootfs.tar"
log() { printf 'make-base-image: %s\n' "$*" >&2; }

if docker image inspect "$TAG" >/dev/null 2>&1; then
  log "$TAG is present"; exit 0
fi

if [ ! -s "$tarball" ]; then
  command -v debootstrap >/dev/null || { log "debootstrap is not installed (apt-get install debootstrap)"; exit 1; }
  [ "$(id -u)" -eq 0 ] || { log "debootstrap needs root"; exit 1; }
  mkdir -p "$CACHE"
  root=$(mktemp -d "$CACHE/rootfs.XXXXXX")
  trap 'rm -rf "$root"' EXIT
  log "debootstrap $SUITE from $MIRROR (a few minutes, once)"
  t0=$(date +%s)
  if ! timeout 900 debootstrap --variant=minbase --components=main "$SUITE" "$root" "$MIRROR" >"$CACHE/debootstrap.log" 2>&1; then
    log "debootstrap failed; last lines of $CACHE/debootstrap.log:"; tail -5 "$CACHE/debootstrap.log" >&2; exit 1
  fi
  # The same sources as the official image (main, updates, security).
  rm -f "$root/etc/apt/sources.list"
  cat >"$root/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: ${MIRROR}
Suites: $SUITE $SUITE-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: ${MIRROR%/debian}/debian-security
Suites: $SUITE-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  # Slim: no docs, man pages or translations now or in later installs.
  cat >"$root/etc/dpkg/dpkg.cfg.d/docker-slim" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
CFG
  cat >"$root/etc/apt/apt.conf.d/docker-clean" <<'CFG'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
CFG
  echo 'APT::Install-Recommends "false";' >"$root/etc/apt/apt.conf.d/docker-no-recommends"
  find "$root/usr/share/doc" -mindepth 2 ! -name copyright -delete 2>/dev/null || true
  find "$root/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
  rm -rf "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
         "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
         "$root"/var/log/* "$root"/tmp/* "$root"/root/.cache 2>/dev/null || true
  : >"$root/etc/machine-id"
  tar --numeric-owner -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  log "root filesystem cached in $tarball ($(du -h "$tarball" | cut -f1), $(( $(date +%s) - t0 )) s)"
fi

docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["bash"]' \
  "$tarball" "$TAG" >/dev/null
log "imported $TAG ($(docker image inspect -f '{{.Size}}' "$TAG" | awk '{printf "%.0f MB", $1/1e6}'))"
