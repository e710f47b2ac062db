#!/usr/bin/env bash
# chat-backup: the daily backup of the conversation data to S3/Tigris, its
# restore, and the bucket's retention rule. See docs/deploy.md ("Backups").
#
#   chat-backup.sh backup              dump, gzip, upload dump + manifest (the daily job)
#   chat-backup.sh list                the backups in the bucket, newest last
#   chat-backup.sh restore KEY TARGET_URL [--force]
#                                      download KEY (a .sql.gz from `list`, or "latest"),
#                                      check its SHA-256 against the manifest, load it into
#                                      the EMPTY database TARGET_URL, verify every table's
#                                      row count and content hash
#   chat-backup.sh lifecycle [DAYS]    put the bucket's expiry rule (default 90 days)
#   chat-backup.sh status              the last runs and the failures in the last 7 days
#
# Environment:
#   DATABASE_URL              the database to back up (the DIRECT Neon string: the
#                             dump uses one snapshot; CHECKPOINT_DB_URL accepted)
#   TIGRIS_BUCKET_NAME        bucket (BUCKET_NAME accepted, as `fly storage create` sets)
#   TIGRIS_ACCESS_KEY_ID      (AWS_ACCESS_KEY_ID accepted)
#   TIGRIS_SECRET_ACCESS_KEY  (AWS_SECRET_ACCESS_KEY accepted)
#   TIGRIS_ENDPOINT           https://fly.storage.tigris.dev (AWS_ENDPOINT_URL_S3 accepted)
#   TIGRIS_REGION             auto (the SigV4 region)
#   BACKUP_PREFIX             backups/ (object keys: PREFIX YYYY-MM-DD/chat-<UTC time>.sql.gz)
#   BACKUP_ALERT_WEBHOOK      URL that gets a JSON POST when a backup fails (Slack-style
#                             {"text":…} plus fields); unset = no alert
#   BACKUP_METRICS_FILE       Prometheus text file written after every run (node-exporter
#                             textfile collector); unset = none
#   BACKUP_PUSHGATEWAY_URL    Prometheus Pushgateway base URL; the same metrics are pushed
#                             there under job="chat_backup"; unset = none
#   BACKUP_WORKDIR            scratch space (default: a temporary directory)
#
# Every run is recorded as a row in the table backup_runs (created here when
# missing) of DATABASE_URL when that database answers; the 7-day failure count
# (the ADR-006 review trigger: more than two failures in seven days) is in
# `status`, in every alert and in the metric chat_backup_failures_7d.
# Exit status: 0 success, 1 the backup/restore failed, 2 usage or configuration.
set -Eeuo pipefail

PROG=chat-backup
log() { printf '{"ts":"%s","level":"%s","prog":"%s","msg":"%s"}\n' "$(date -u +%FT%T.%3NZ)" "$1" "$PROG" "$(printf '%s' "$2" | sed 's/\\/\\\\/g; s/"/\\"/g' | tr '\n' ' ')" >&2; }
die_usage() { echo "$PROG: $*" >&2; exit 2; }

# The data that is backed up. Everything's schema is in the dump (so a
# restore is a complete, migrated database); these tables' rows too. The
# knowledge base (kb_*) is derived from the site and rebuilt by re-indexing
# (`svc-indexer index`), so only its schema is kept unless
# BACKUP_KNOWLEDGE=true. backup_runs is this job's own log.
DATA_TABLES=(checkpoints checkpoint_writes checkpoint_blobs checkpoint_migrations
             handoff_records handoff_outbox erasure_audit messages sessions usage usage_daily
             schema_migrations)
KNOWLEDGE_TABLES=(kb_documents kb_chunks kb_embedding_model)

DB=${DATABASE_URL:-${CHECKPOINT_DB_URL:-}}
BUCKET=${TIGRIS_BUCKET_NAME:-${BUCKET_NAME:-}}
AKID=${TIGRIS_ACCESS_KEY_ID:-${AWS_ACCESS_KEY_ID:-}}
SECRET=${TIGRIS_SECRET_ACCESS_KEY:-${AWS_SECRET_ACCESS_KEY:-}}
ENDPOINT=${TIGRIS_ENDPOINT:-${AWS_ENDPOINT_URL_S3:-https://fly.storage.tigris.dev}}
ENDPOINT=${ENDPOINT%/}
REGION=${TIGRIS_REGION:-auto}
PREFIX=${BACKUP_PREFIX:-backups/}
# Values are compared as text: the same time zone and styles as pg_dump's.
export PGTZ=UTC PGDATESTYLE=ISO
EMPTY_SHA=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855

need_s3() {
  local miss=()
  [ -n "$BUCKET" ] || miss+=(TIGRIS_BUCKET_NAME)
  [ -n "$AKID" ] || miss+=(TIGRIS_ACCESS_KEY_ID)
  [ -n "$SECRET" ] || miss+=(TIGRIS_SECRET_ACCESS_KEY)
  [ ${#miss[@]} -eq 0 ] || die_usage "not set: ${miss[*]}"
  case "$ENDPOINT" in http://*|https://*) ;; *) die_usage "TIGRIS_ENDPOINT must be an http(s) URL, got '$ENDPOINT'";; esac
}
need_db() { [ -n "$DB" ] || die_usage "DATABASE_URL is not set"; }

# --- S3 over curl --aws-sigv4 (path-style). curl 7.88 signs the query as
# given, so every query here is written in SigV4's canonical form (sorted
# keys, percent-encoded, "key=" for a bare key). The payload hash is sent
# as x-amz-content-sha256 (curl < 8 does not add it).
S3_ERR=""
s3() { # s3 METHOD KEY_OR_EMPTY QUERY OUTFILE [INFILE] [extra curl args...]
  local method=$1 key=$2 query=$3 out=$4 in=${5:-} code hash
  shift 5 2>/dev/null || shift $#
  local url="$ENDPOINT/$BUCKET${key:+/$key}${query:+?$query}"
  if [ -n "$in" ]; then hash=$(sha256sum "$in" | cut -d' ' -f1); else hash=$EMPTY_SHA; fi
  local args=(-sS -o "$out" -w '%{http_code}' --connect-timeout 10 --max-time 600 -X "$method"
              --aws-sigv4 "aws:amz:$REGION:s3" --user "$AKID:$SECRET" -H "x-amz-content-sha256: $hash")
  [ -n "$in" ] && args+=(--data-binary "@$in" -H "content-type: ${S3_CONTENT_TYPE:-application/octet-stream}")
  code=$(curl "${args[@]}" "$@" "$url" 2>"$out.curlerr") || { S3_ERR="$method $url: $(tr '\n' ' ' <"$out.curlerr")"; return 1; }
  if [ "${code:0:1}" != 2 ]; then
    S3_ERR="$method $url: HTTP $code $(sed -n 's:.*<Code>\(.*\)</Code>.*:\1:p' "$out" 2>/dev/null | head -1)"
    return 1
  fi
}
urlenc() { jq -rn --arg s "$1" '$s|@uri'; }
s3_keys() { # s3_keys PREFIX -> keys, sorted (ListObjectsV2; at most 1000 per page)
  local p=$1 tok="" out=$WORK/list.xml q
  while :; do
    q="continuation-token=$(urlenc "$tok")&list-type=2&prefix=$(urlenc "$p")"
    [ -n "$tok" ] || q="list-type=2&prefix=$(urlenc "$p")"
    s3 GET "" "$q" "$out" || return 1
    grep -o '<Key>[^<]*</Key>' "$out" | sed 's:<Key>\(.*\)</Key>:\1:; s/&amp;/\&/g'
    grep -q '<IsTruncated>true</IsTruncated>' "$out" || break
    tok=$(sed -n 's:.*<NextContinuationToken>\([^<]*\)</NextContinuationToken>.*:\1:p' "$out")
    [ -n "$tok" ] || break
  done | sort
}

psqlq() { psql "$1" -X -q -A -t -v ON_ERROR_STOP=1 "${@:2}"; }

# --- run accounting ---------------------------------------------------------
record_run() { # record_run OK(true|false) SECONDS BYTES KEY ERROR -> prints failures in 7 days (or "?")
  local ok=$1 secs=$2 bytes=$3 key=$4 err=$5 n="?"
  if [ -n "$DB" ] && n=$(psqlq "$DB" -v ok="$ok" -v secs="$secs" -v bytes="$bytes" -v key="$key" -v err="$err" 2>/dev/null <<'SQL'
CREATE TABLE IF NOT EXISTS backup_runs (
    id BIGSERIAL PRIMARY KEY,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    ok BOOLEAN NOT NULL,
    seconds DOUBLE PRECISION NOT NULL,
    bytes BIGINT NOT NULL DEFAULT 0,
    object_key TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT ''
);
INSERT INTO backup_runs (ok, seconds, bytes, object_key, error)
VALUES (:'ok'::boolean, :'secs'::double precision, :'bytes'::bigint, :'key', :'err');
SELECT count(*) FROM backup_runs WHERE NOT ok AND started_at > now() - interval '7 days';
SQL
  ); then :; else n="?"; fi
  echo "$n"
}
write_metrics() { # write_metrics OK SECONDS BYTES FAILURES_7D
  local ok=$1 secs=$2 bytes=$3 f7=$4 now m
  now=$(date +%s)
  m=$(cat <<M
# HELP chat_backup_last_run_timestamp_seconds When the last backup run ended.
# TYPE chat_backup_last_run_timestamp_seconds gauge
chat_backup_last_run_timestamp_seconds $now
# HELP chat_backup_last_run_success 1 when the last backup run succeeded.
# TYPE chat_backup_last_run_success gauge
chat_backup_last_run_success $([ "$ok" = true ] && echo 1 || echo 0)
# HELP chat_backup_duration_seconds How long the last backup run took.
# TYPE chat_backup_duration_seconds gauge
chat_backup_duration_seconds $secs
# HELP chat_backup_size_bytes Size of the last uploaded dump (0 after a failure).
# TYPE chat_backup_size_bytes gauge
chat_backup_size_bytes $bytes
M
)
  [ "$ok" = true ] && m+=$'\n'"# HELP chat_backup_last_success_timestamp_seconds When the last successful backup ended."$'\n'"# TYPE chat_backup_last_success_timestamp_seconds gauge"$'\n'"chat_backup_last_success_timestamp_seconds $now"
  [ "$f7" != "?" ] && m+=$'\n'"# HELP chat_backup_failures_7d Failed backup runs in the last 7 days (ADR-006 review trigger: > 2)."$'\n'"# TYPE chat_backup_failures_7d gauge"$'\n'"chat_backup_failures_7d $f7"
  if [ -n "${BACKUP_METRICS_FILE:-}" ]; then
    printf '%s\n' "$m" >"$BACKUP_METRICS_FILE.tmp" && mv "$BACKUP_METRICS_FILE.tmp" "$BACKUP_METRICS_FILE" || log warn "could not write $BACKUP_METRICS_FILE"
  fi
  if [ -n "${BACKUP_PUSHGATEWAY_URL:-}" ]; then
    printf '%s\n' "$m" | curl -sS -f --max-time 10 --data-binary @- "${BACKUP_PUSHGATEWAY_URL%/}/metrics/job/chat_backup" >/dev/null 2>&1 \
      || log warn "could not push metrics to $BACKUP_PUSHGATEWAY_URL"
  fi
}
alert() { # alert ERROR FAILURES_7D
  local err=$1 f7=$2 trig=false text body
  [ "$f7" != "?" ] && [ "$f7" -gt 2 ] && trig=true
  text="chat backup FAILED on $(hostname): $err. Failures in the last 7 days: $f7."
  [ "$trig" = true ] && text+=" ADR-006 review trigger reached (more than two failures in seven days): evaluate Neon Launch (7-day PITR)."
  if [ -z "${BACKUP_ALERT_WEBHOOK:-}" ]; then log warn "BACKUP_ALERT_WEBHOOK is not set: no alert sent"; return 0; fi
  body=$(jq -nc --arg t "$text" --arg e "$err" --arg f "$f7" --argjson trig "$trig" --arg h "$(hostname)" \
    '{text:$t, event:"chat_backup_failed", error:$e, failures_7d:($f|tonumber? // null), review_trigger:$trig, host:$h}')
  if curl -sS -f --max-time 15 -H 'content-type: application/json' -d "$body" "$BACKUP_ALERT_WEBHOOK" >/dev/null 2>&1; then
    log info "alert sent to the webhook"
  else
    log error "the alert webhook did not accept the alert"
  fi
}

# --- dump analysis: rows and a content hash per table, from the COPY blocks
# (the dump's own snapshot, so they always agree with it). A table's hash is
# the SHA-256 of its COPY text lines sorted bytewise: independent of row order.
table_stats() { # table_stats SQLFILE -> JSON {"table":{"rows":N,"sha256":"…"}}
  local sql=$1 dir=$WORK/tables
  rm -rf "$dir"; mkdir -p "$dir"
  awk -v dir="$dir" '
    /^COPY [^ ]+ \(/ && /FROM stdin;$/ { t=$2; gsub(/"/,"",t); sub(/^public\./,"",t); f=dir "/" t; printf "" > f; inblk=1; next }
    inblk && $0 == "\\." { close(f); inblk=0; next }
    inblk { print >> f }' "$sql"
  local t first=1
  printf '{'
  for f in "$dir"/*; do
    [ -e "$f" ] || continue
    t=$(basename "$f")
    [ $first -eq 1 ] || printf ','
    first=0
    printf '"%s":{"rows":%s,"sha256":"%s"}' "$t" "$(wc -l <"$f" | tr -d ' ')" "$(LC_ALL=C sort "$f" | sha256sum | cut -d' ' -f1)"
  done
  printf '}'
}
db_table_stats() { # db_table_stats URL TABLE... -> same JSON, from the live tables
  local url=$1 t first=1 f=$WORK/live.tsv
  shift
  printf '{'
  for t in "$@"; do
    psqlq "$url" -c "SET intervalstyle = postgres" -c "SET extra_float_digits = 3" -c "COPY public.\"$t\" TO STDOUT" >"$f" || return 1
    [ $first -eq 1 ] || printf ','
    first=0
    printf '"%s":{"rows":%s,"sha256":"%s"}' "$t" "$(wc -l <"$f" | tr -d ' ')" "$(LC_ALL=C sort "$f" | sha256sum | cut -d' ' -f1)"
  done
  printf '}'
}

# --- backup ------------------------------------------------------------------
cmd_backup() {
  need_db; need_s3
  local t0 stamp day key base err="" secs bytes=0 f7
  t0=$(date +%s.%N)
  stamp=$(date -u +%Y%m%dT%H%M%SZ); day=$(date -u +%F)
  base="chat-$stamp"; key="$PREFIX$day/$base.sql.gz"
  if ! err=$(do_backup "$key" "$base" 2>&1 >/dev/null); then
    err=$(printf '%s' "$err" | tail -3 | tr '\n' ' ' | cut -c1-500)
    secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
    f7=$(record_run false "$secs" 0 "$key" "$err")
    log error "backup failed after ${secs}s: $err (failures in the last 7 days: $f7)"
    write_metrics false "$secs" 0 "$f7"
    alert "$err" "$f7"
    [ "$f7" != "?" ] && [ "$f7" -gt 2 ] && log error "ADR-006 review trigger: $f7 failed backups in 7 days (more than two)"
    return 1
  fi
  bytes=$(cat "$WORK/bytes")
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
  f7=$(record_run true "$secs" "$bytes" "$key" "")
  write_metrics true "$secs" "$bytes" "$f7"
  log info "backup done in ${secs}s: $key ($bytes bytes; failures in the last 7 days: $f7)"
  echo "$key"
}
do_backup() { # runs with stderr captured: every failure explains itself there
  local key=$1 base=$2 sql=$WORK/$base.sql gz=$WORK/$base.sql.gz man=$WORK/$base.manifest.json
  local have t args=(--no-owner --no-privileges --quote-all-identifiers --format=plain --file="$sql") data=() schema_only=()
  have=$(psqlq "$DB" -c "SELECT tablename FROM pg_tables WHERE schemaname='public' ORDER BY 1") \
    || { echo "database unreachable or refused the query" >&2; return 1; }
  local want=("${DATA_TABLES[@]}")
  [ "${BACKUP_KNOWLEDGE:-false}" = true ] && want+=("${KNOWLEDGE_TABLES[@]}")
  for t in "${DATA_TABLES[@]}"; do
    grep -qx "$t" <<<"$have" || { echo "table $t is missing: is the database migrated (svc-session --migrate)?" >&2; return 1; }
  done
  while read -r t; do
    [ -n "$t" ] || continue
    if printf '%s\n' "${want[@]}" | grep -qx "$t"; then data+=("$t"); else schema_only+=("$t"); args+=("--exclude-table-data=public.\"$t\""); fi
  done <<<"$have"
  pg_dump "${args[@]}" "$DB" || { echo "pg_dump failed" >&2; return 1; }
  local stats
  stats=$(table_stats "$sql")
  gzip -n -6 -c "$sql" >"$gz" || { echo "gzip failed (disk full?)" >&2; return 1; }
  local sha bytes
  sha=$(sha256sum "$gz" | cut -d' ' -f1); bytes=$(stat -c %s "$gz")
  jq -n --arg key "$key" --arg file "$base.sql.gz" --arg sha "$sha" --argjson bytes "$bytes" \
        --argjson tables "$stats" --arg created "$(date -u +%FT%TZ)" --arg pgdump "$(pg_dump --version)" \
        --arg server "$(psqlq "$DB" -c 'SHOW server_version')" \
        --argjson migrations "$(psqlq "$DB" -c 'SELECT coalesce(json_agg(version ORDER BY version),$$[]$$) FROM schema_migrations')" \
        --argjson schema_only "$(printf '%s\n' "${schema_only[@]}" | jq -R . | jq -sc 'map(select(. != ""))')" \
        '{format:1, created_at:$created, object:$key, file:$file, sha256:$sha, bytes:$bytes,
          pg_dump:$pgdump, server_version:$server, migrations:$migrations,
          tables:$tables, schema_only:$schema_only}' >"$man"
  S3_CONTENT_TYPE=application/gzip s3 PUT "$key" "" "$WORK/put.out" "$gz" || { echo "upload of the dump failed: $S3_ERR" >&2; return 1; }
  S3_CONTENT_TYPE=application/json s3 PUT "${key%.sql.gz}.manifest.json" "" "$WORK/put.out" "$man" || { echo "upload of the manifest failed: $S3_ERR" >&2; return 1; }
  echo "$bytes" >"$WORK/bytes"
}

cmd_list() {
  need_s3
  local keys k
  keys=$(s3_keys "$PREFIX") || { echo "$PROG: list failed: $S3_ERR" >&2; return 1; }
  # A backup is complete when its manifest is there.
  for k in $(grep '\.sql\.gz$' <<<"$keys" || true); do
    if grep -qxF "${k%.sql.gz}.manifest.json" <<<"$keys"; then echo "$k"; else echo "$k (incomplete: no manifest)"; fi
  done
}

cmd_restore() {
  local key=${1:-} target=${2:-} force=${3:-}
  [ -n "$key" ] && [ -n "$target" ] || die_usage "usage: restore KEY|latest TARGET_DATABASE_URL [--force]"
  need_s3
  local t0 gz=$WORK/restore.sql.gz man=$WORK/restore.manifest.json n
  t0=$(date +%s.%N)
  if [ "$key" = latest ]; then
    key=$(cmd_list | grep -v incomplete | tail -1)
    [ -n "$key" ] || { echo "$PROG: no complete backup under $PREFIX" >&2; return 1; }
  fi
  case "$key" in *.sql.gz) ;; *) die_usage "KEY must name a .sql.gz object (see list), got '$key'";; esac
  n=$(psqlq "$target" -c "SELECT count(*) FROM pg_tables WHERE schemaname='public'") \
    || { echo "$PROG: the target database does not answer: $target" >&2; return 1; }
  if [ "$n" != 0 ] && [ "$force" != --force ]; then
    echo "$PROG: the target database has $n tables; restore loads only into an empty database" >&2; return 1
  fi
  s3 GET "${key%.sql.gz}.manifest.json" "" "$man" || { echo "$PROG: manifest download failed: $S3_ERR" >&2; return 1; }
  s3 GET "$key" "" "$gz" || { echo "$PROG: dump download failed: $S3_ERR" >&2; return 1; }
  local want got
  want=$(jq -r .sha256 "$man"); got=$(sha256sum "$gz" | cut -d' ' -f1)
  [ "$want" = "$got" ] || { echo "$PROG: checksum mismatch: the manifest says $want, the download is $got" >&2; return 1; }
  log info "checksum ok ($got)"
  gunzip -c "$gz" | psql "$target" -X -q -v ON_ERROR_STOP=1 --single-transaction >/dev/null 2>"$WORK/restore.err" \
    || { echo "$PROG: loading the dump failed: $(tail -3 "$WORK/restore.err" | tr '\n' ' ')" >&2; return 1; }
  # Every table of the manifest: the same rows (count and content hash).
  local tables live bad
  mapfile -t tables < <(jq -r '.tables | keys[]' "$man")
  live=$(db_table_stats "$target" "${tables[@]}")
  bad=$(jq -n --argjson m "$(jq .tables "$man")" --argjson l "$live" -r \
    '$m | to_entries[] | select($l[.key] != .value) | "\(.key): backup \(.value.rows) rows \(.value.sha256[0:12]), restored \($l[.key].rows // "none") rows \(($l[.key].sha256 // "")[0:12])"')
  if [ -n "$bad" ]; then echo "$PROG: restored data differs from the backup: $bad" >&2; return 1; fi
  local secs
  secs=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b-a}')
  log info "restored $key in ${secs}s: $(jq -r '[.tables|to_entries[]|"\(.key)=\(.value.rows)"]|join(" ")' "$man")"
  echo "restored $key: ${#tables[@]} tables verified (row counts and content hashes)"
}

cmd_lifecycle() {
  need_s3
  local days=${1:-90} x=$WORK/lifecycle.xml
  [[ "$days" =~ ^[1-9][0-9]*$ ]] || die_usage "DAYS must be a positive integer, got '$days'"
  cat >"$x" <<XML
<?xml version="1.0" encoding="UTF-8"?>
<LifecycleConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">
  <Rule>
    <ID>chat-backups-expire-after-$days-days</ID>
    <Filter><Prefix>$PREFIX</Prefix></Filter>
    <Status>Enabled</Status>
    <Expiration><Days>$days</Days></Expiration>
  </Rule>
</LifecycleConfiguration>
XML
  S3_CONTENT_TYPE=application/xml s3 PUT "" "lifecycle=" "$WORK/lc.out" "$x" -H "content-md5: $(openssl md5 -binary "$x" | base64)" \
    || { echo "$PROG: PutBucketLifecycleConfiguration failed: $S3_ERR" >&2; return 1; }
  s3 GET "" "lifecycle=" "$WORK/lc.get" || { echo "$PROG: reading the lifecycle back failed: $S3_ERR" >&2; return 1; }
  grep -q "<Days>$days</Days>" "$WORK/lc.get" || { echo "$PROG: the bucket's lifecycle does not show $days days" >&2; return 1; }
  echo "lifecycle: objects under $BUCKET/$PREFIX expire $days days after upload"
}

cmd_status() {
  need_db
  psql "$DB" -X -q -v ON_ERROR_STOP=1 -c "SELECT started_at, ok, seconds, bytes, object_key, left(error, 80) AS error FROM backup_runs ORDER BY id DESC LIMIT 10" \
    || { echo "$PROG: no backup_runs table yet (no backup has run against this database)" >&2; return 1; }
  local f7
  f7=$(psqlq "$DB" -c "SELECT count(*) FROM backup_runs WHERE NOT ok AND started_at > now() - interval '7 days'")
  echo "failures in the last 7 days: $f7 (ADR-006 review trigger: more than 2)$([ "$f7" -gt 2 ] && echo ' -- TRIGGER REACHED')"
}

cmd=${1:-}
[ -n "$cmd" ] || die_usage "usage: chat-backup.sh backup|list|restore KEY TARGET_URL|lifecycle [DAYS]|status"
shift
case "$cmd" in backup|list|restore|lifecycle|status) ;; -h|--help) sed -n '2,/^set -E/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) die_usage "unknown command '$cmd' (backup|list|restore|lifecycle|status)";; esac
for tool in psql pg_dump curl jq gzip sha256sum openssl; do command -v "$tool" >/dev/null || die_usage "$tool is not installed"; done
if [ -n "${BACKUP_WORKDIR:-}" ]; then mkdir -p "$BACKUP_WORKDIR"; WORK=$(mktemp -d "$BACKUP_WORKDIR/run.XXXXXX"); else WORK=$(mktemp -d /tmp/chat-backup.XXXXXX); fi
trap 'rm -rf "$WORK"' EXIT
"cmd_$cmd" "$@"
