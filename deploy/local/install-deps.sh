#!/usr/bin/env bash
# Installs everything the project needs on Debian 12, idempotently.
# Fast path: when every package is present, the `vector` extension is
# installed and our nng build is current, it runs no apt command at all (a
# few dpkg queries, well under 1 s).
#
# pgvector is not in Debian 12. When it is missing, its source package is
# fetched from Debian 13 (trixie) with a *private* sources list and lists
# directory (deploy/local/debian-source.sh), built against the installed
# PostgreSQL and installed with `make install`. nng is Debian 12's own 1.5.2
# source package rebuilt with our fixes (deploy/nng/build.sh). The system's
# apt sources are never changed.
#
#   install-deps.sh [--bench-peer]
#
# --bench-peer also installs what `make bench-compare` needs for its peer
# (tests/bench/peers/fastapi/: FastAPI, uvicorn with uvloop and httptools,
# psycopg 3 with its pool, httpx); the script itself only ever adds them then.
set -euo pipefail

PG_MAJOR=15
PKGS=(
  build-essential pkg-config ca-certificates curl jq iproute2 clang-format
  libprotobuf-c-dev protobuf-c-compiler
  libmicrohttpd-dev libcriterion-dev libjansson-dev
  libpq-dev libcurl4-openssl-dev libxml2-dev libssl-dev zlib1g-dev
  libstemmer-dev liblapacke-dev liblapack-dev libblas-dev
  postgresql-$PG_MAJOR postgresql-client-$PG_MAJOR postgresql-server-dev-$PG_MAJOR
  dpkg-dev patch cmake tzdata
  clang libclang-rt-14-dev   # make fuzz: libFuzzer, ASan, UBSan (tests/fuzz/)
)
PKGS+=(python3 python3-yaml)   # make deploy-check (deploy/check.py)
for a in "$@"; do
  case "$a" in
    --bench-peer) PKGS+=(python3-fastapi python3-uvicorn python3-uvloop python3-httptools
                         python3-psycopg python3-psycopg-pool python3-httpx) ;;
    *) echo "usage: install-deps.sh [--bench-peer]" >&2; exit 2 ;;
  esac
done

here=$(cd "$(dirname "$0")" && pwd)
log() { printf 'install-deps: %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    log "not root and no sudo: install these packages by hand: ${PKGS[*]}"; exit 1
  fi
fi

missing=()
for p in "${PKGS[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = "installed" ] || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # Do not let the postgresql package start a system cluster we never use.
  $SUDO mkdir -p /etc/postgresql-common
  if [ ! -f /etc/postgresql-common/createcluster.conf ] || ! grep -q '^create_main_cluster' /etc/postgresql-common/createcluster.conf; then
    echo 'create_main_cluster = false' | $SUDO tee -a /etc/postgresql-common/createcluster.conf >/dev/null
  fi
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
sharedir=$($PG_CONFIG --sharedir)
if [ ! -f "$sharedir/extension/vector.control" ]; then
  log "pgvector missing: building it from Debian trixie's source package"
  work=$(mktemp -d /tmp/pgvector-build.XXXXXX)
  trap 'rm -rf "$work"' EXIT
  src=$($SUDO "$here/debian-source.sh" trixie pgvector "$work")
  make -s -C "$src" PG_CONFIG=$PG_CONFIG OPTFLAGS="" >/dev/null
  $SUDO make -s -C "$src" PG_CONFIG=$PG_CONFIG install >/dev/null
  log "pgvector $(sed -n "s/^default_version = '\(.*\)'/\1/p" "$sharedir/extension/vector.control") installed"
  rm -rf "$work"; trap - EXIT
fi

# nng: Debian 12's own 1.5.2 with the fixes in deploy/nng/ (a no-op when the
# build under NNG_PREFIX is current).
$SUDO "$here/../nng/build.sh" "${NNG_PREFIX:-/opt/chat/nng}"

# Browser tests (widget) use Debian's chromium with npm's playwright-core; they
# are installed by the widget's own step when present.
if [ -f "$(dirname "$0")/../../widget/package.json" ] && [ "${SKIP_BROWSER:-0}" != 1 ]; then
  if ! command -v chromium >/dev/null 2>&1; then
    log "installing chromium"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
  fi
fi
exit 0
