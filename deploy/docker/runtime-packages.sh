#!/bin/sh
# runtime-packages.sh BINARY...: the Debian packages whose shared libraries
# the binaries load (from ldd and dpkg -S), one per line, with the -dev
# suffix never appearing (the runtime package owns the .so.N). nng is left
# out (and anything under /opt/chat): install-nng.sh installs it.
set -eu
for b in "$@"; do ldd "$b"; done |
  awk '$2 == "=>" && $3 ~ /^\// && $3 !~ /^\/opt\/chat\// { print $3 }' | sort -u |
  while read -r lib; do
    real=$(readlink -f "$lib")
    dpkg -S "$real" 2>/dev/null || dpkg -S "$lib" 2>/dev/null || { echo "runtime-packages: no package owns $lib" >&2; exit 1; }
  done | cut -d: -f1 | sort -u | grep -v -E '^(libc6|libgcc-s1|libnng[0-9])$' || true
