# The daily backup job: pg_dump (PostgreSQL 15 client: Neon's server major
# must not be newer), gzip, curl --aws-sigv4, jq. One-shot: it runs
# `chat-backup backup` and exits (non-zero on failure); no HEALTHCHECK.
ARG BASE=debian:12-slim
FROM ${BASE}
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends postgresql-client-15 curl jq openssl ca-certificates tzdata >/dev/null; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*; \
    useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin chat
COPY deploy/backup/chat-backup.sh /usr/local/bin/chat-backup
USER chat
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/chat-backup"]
CMD ["backup"]
