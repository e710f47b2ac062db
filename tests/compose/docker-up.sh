#!/usr/bin/env bash
# docker-up.sh STATE_DIR: makes sure a Docker engine answers, for the compose
# test. Installs Debian's docker.io, docker-compose and debootstrap when they
# are missing (root only), starts dockerd in the background when no engine
# answers (waits at most 30 s) and writes its pid to STATE_DIR/dockerd.pid so
# the caller can stop it. Exit 0 when `docker info` answers; otherwise prints
# ONE line saying why Docker cannot start and exits 1.
set -uo pipefail
state=${1:?usage: docker-up.sh STATE_DIR}
mkdir -p "$state"
if docker info >/dev/null 2>&1; then exit 0; fi
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then echo "Docker cannot start: ${missing[*]} not installed and not root"; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get -o DPkg::Lock::Timeout=600 update -qq && \
         apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}"; } >"$state/apt.log" 2>&1; then
    echo "Docker cannot start: installing ${missing[*]} failed ($(tail -1 "$state/apt.log"))"; exit 1
  fi
fi
if docker info >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" -ne 0 ]; then echo "Docker cannot start: no engine answers and starting dockerd needs root"; exit 1; fi
setsid dockerd >"$state/dockerd.log" 2>&1 &
echo $! >"$state/dockerd.pid"
for _ in $(seq 1 60); do
  docker info >/dev/null 2>&1 && exit 0
  kill -0 "$(cat "$state/dockerd.pid")" 2>/dev/null || break
  sleep 0.5
done
why=$(grep -m1 -i -E 'level=(fatal|error)' "$state/dockerd.log" | sed 's/.*msg="\([^"]*\)".*/\1/' | cut -c1-160)
kill "$(cat "$state/dockerd.pid")" 2>/dev/null
rm -f "$state/dockerd.pid"
echo "Docker cannot start here: dockerd did not answer within 30 s${why:+ ($why)}"
exit 1
