# The fake upstream APIs (tests/fakes/fake-apis.js) as a container, for the
# compose test. Node.js from Debian 12; built-in modules only.
ARG BASE=debian:12-slim
FROM ${BASE}
RUN set -eu; export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; \
    apt-get install -y -qq --no-install-recommends nodejs curl ca-certificates >/dev/null; rm -rf /var/lib/apt/lists/*; \
    useradd --system --uid 10001 --user-group --home-dir /nonexistent --shell /usr/sbin/nologin chat
COPY tests/fakes/fake-apis.js /usr/local/lib/chat/fake-apis.js
USER chat
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "/usr/local/lib/chat/fake-apis.js", "--host", "127.0.0.1"]
