# gateway image. Build: see deploy/docker/README.md (docker build -f deploy/docker/gateway.Dockerfile .)
# The build stage is the same text in every service's Dockerfile, so one
# build of the sources serves all five images (Docker's layer cache).
ARG BASE=debian:12-slim

FROM ${BASE} AS build
ARG VERSION=dev
COPY deploy/docker/install-build-deps.sh deploy/docker/install-nng.sh deploy/docker/runtime-packages.sh /usr/local/lib/chat/
# The project's own nng build and its helper, when the tree has them (the
# [g]/[h] patterns copy nothing when they do not exist): see install-nng.sh.
COPY deploy/docker/install-nng.sh deploy/nn[g] /usr/local/lib/chat/nng/
COPY deploy/docker/install-nng.sh deploy/local/debian-source.s[h] /usr/local/lib/chat/local/
RUN /usr/local/lib/chat/install-build-deps.sh
WORKDIR /src
COPY Makefile ./
COPY scripts scripts
COPY proto proto
COPY lib lib
COPY gateway gateway
COPY svc-session svc-session
COPY svc-retrieval svc-retrieval
COPY svc-llm svc-llm
COPY svc-indexer svc-indexer
COPY tests/bench/health_probe.c tests/bench/health_probe.c
RUN make -j"$(nproc)" VERSION="$VERSION" all build/release/bench/health_probe \
 && mkdir -p /out \
 && for p in gateway svc-session svc-retrieval svc-llm svc-indexer; do \
      /usr/local/lib/chat/runtime-packages.sh build/release/bin/$p build/release/bench/health_probe > /out/$p.pkgs; \
    done

FROM ${BASE}
COPY deploy/docker/install-nng.sh /usr/local/lib/chat/
COPY --from=build /opt/chat/nng /opt/chat/nng
COPY --from=build /out/gateway.pkgs /usr/local/lib/chat/
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends tzdata ca-certificates $(cat /usr/local/lib/chat/gateway.pkgs) >/dev/null; \
    /usr/local/lib/chat/install-nng.sh runtime; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*; \
    useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin chat
COPY --from=build /src/build/release/bin/gateway /usr/local/bin/gateway
# chat-health: the HEALTHCHECK command (tests/bench/health_probe.c --wait):
# GET /healthz on 127.0.0.1:$HTTP_PORT answers 200
COPY --from=build /src/build/release/bench/health_probe /usr/local/bin/chat-health
COPY widget/chat.js widget/demo.html /usr/share/chat/widget/
# Cloudflare's ranges, read at start when TRUST_CLOUDFLARE=true.
COPY deploy/cloudflare/ips.txt /usr/share/chat/cloudflare-ips.txt
ENV HTTP_ADDR=0.0.0.0 HTTP_PORT=8080 WIDGET_DIR=/usr/share/chat/widget CLOUDFLARE_IPS_FILE=/usr/share/chat/cloudflare-ips.txt
USER chat
STOPSIGNAL SIGTERM
# SIGTERM: stop accepting, end the open streams (a client resumes elsewhere
# with Last-Event-ID), wait up to 7 s for pending calls, exit 0.
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD chat-health --http "$HTTP_PORT" --wait --timeout 3000 >/dev/null || exit 1
ENTRYPOINT ["/usr/local/bin/gateway"]
