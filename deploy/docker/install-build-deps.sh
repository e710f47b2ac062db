#!/bin/sh
# Build stage of every image: the compiler and the -dev packages the
# programs link (the build part of deploy/local/install-deps.sh's PKGS, no
# test libraries; keep the two in step), then nng.
set -eu
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends \
  build-essential pkg-config ca-certificates \
  libprotobuf-c-dev protobuf-c-compiler libmicrohttpd-dev libjansson-dev \
  libpq-dev libcurl4-openssl-dev libxml2-dev libssl-dev zlib1g-dev \
  libstemmer-dev liblapacke-dev liblapack-dev libblas-dev >/dev/null
"$(dirname "$0")/install-nng.sh" build
