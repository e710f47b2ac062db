# Postgres 15 + pgvector, for docker-compose and self-hosting (production
# uses Neon, which has pgvector built in). pgvector is built from Debian
# trixie's source package in the build stage; the runtime stage is Debian's
# postgresql-15 plus the extension's files.
ARG BASE=debian:12-slim

FROM ${BASE} AS build
COPY deploy/docker/build-pgvector.sh /usr/local/lib/chat/
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; \
    mkdir -p /etc/postgresql-common; echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; \
    apt-get install -y -qq --no-install-recommends build-essential ca-certificates dpkg-dev \
      postgresql-server-dev-15 postgresql-15 >/dev/null; \
    DESTDIR=/out /usr/local/lib/chat/build-pgvector.sh

FROM ${BASE}
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; \
    mkdir -p /etc/postgresql-common; echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.conf; \
    apt-get update -qq; apt-get install -y -qq --no-install-recommends postgresql-15 tzdata >/dev/null; \
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*; \
    mkdir -p /var/lib/postgresql/data /var/run/postgresql; \
    chown -R postgres:postgres /var/lib/postgresql /var/run/postgresql; chmod 700 /var/lib/postgresql/data
COPY --from=build /out/usr/ /usr/
COPY deploy/docker/postgres-entrypoint.sh /usr/local/bin/postgres-entrypoint
ENV PGDATA=/var/lib/postgresql/data PGPORT=5432
USER postgres
VOLUME /var/lib/postgresql/data
EXPOSE 5432
# SIGINT is Postgres's fast shutdown: sessions are ended, a checkpoint written.
STOPSIGNAL SIGINT
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=5 \
  CMD pg_isready -q -h 127.0.0.1 -p "$PGPORT" -U "${POSTGRES_USER:-chat}" || exit 1
ENTRYPOINT ["/usr/local/bin/postgres-entrypoint"]
