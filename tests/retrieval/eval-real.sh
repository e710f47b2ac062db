#!/usr/bin/env bash
# make eval-retrieval: retrieval quality on a real documentation site (the
# Python 3.11 manual, Debian's python3.11-doc: ~530 HTML pages written by
# nobody here) and on kb/, with the default no-key configuration. Starts its
# own Postgres, indexes from the folder as a new user would, then prints
# hit@5 / MRR@10 / recall@20 for hybrid, vector, text and a plain ts_rank_cd
# baseline, the default call's hit@5, off-topic empties and latency.
#   tests/retrieval/eval-real.sh BUILD_DIR [--verbose]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:-build/release}; shift || true
bin="$root/$build/bin"
ev="$root/$build/eval/eval_retrieval"
docs=/usr/share/doc/python3.11/html
if [ ! -f "$docs/library/json.html" ]; then
  echo "eval-retrieval: installing python3.11-doc (the manual to evaluate on)" >&2
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
    python3.11-doc >/dev/null
fi
tmp=$(mktemp -d /tmp/chat-eval.XXXXXX)
port=$("$root/scripts/free-port.sh")
export DATABASE_URL
DATABASE_URL=$("$root/deploy/local/pg.sh" start "$tmp/pg" "$port" --fast)
trap '"$root/deploy/local/pg.sh" stop "$tmp/pg" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
export LOG_LEVEL=warn
"$bin/svc-session" --migrate >/dev/null

echo "== Python 3.11 manual ($docs), $(grep -vc '^question' "$root/tests/retrieval/python-questions.tsv") questions"
t0=$(date +%s%N)
"$bin/svc-indexer" index --base-url https://docs.python.org/3.11 "$docs" | sed 's/^/   /' | head -3
echo "   indexed in $(( ($(date +%s%N) - t0) / 1000000 )) ms"
psql "$DATABASE_URL" -qc "VACUUM ANALYZE kb_chunks" -qc "VACUUM ANALYZE kb_documents"   # the steady state autovacuum reaches
EVAL_STRIP=https://docs.python.org/3.11/ "$ev" "$root/tests/retrieval/python-questions.tsv" "$@"

echo "== kb/ (the sample site), $(grep -vc '^question' "$root/tests/retrieval/questions.tsv") questions"
"$bin/svc-indexer" reset >/dev/null
KB_BASE_URL=https://quorvia.example "$bin/svc-indexer" index "$root/kb" | sed 's/^/   /' | head -2
"$ev" "$root/tests/retrieval/questions.tsv" "$@"
