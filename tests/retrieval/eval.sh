#!/usr/bin/env bash
# Retrieval quality on kb/: for every question in tests/retrieval/questions.tsv,
# search (svc-retrieval search, mode given) and count a hit when one of the
# expected pages is among the first 5 results. Needs DATABASE_URL of an
# indexed kb/ and BIN. Prints "hit@5 MODE: H/N = R" and, for the questions
# the knowledge base cannot answer, how many got no result at all.
#   tests/retrieval/eval.sh BIN_DIR MODE [--no-floor] [--verbose]
set -uo pipefail
bin=$1; mode=$2; shift 2
floor=""; verbose=""
for a in "$@"; do case $a in --no-floor) floor=--no-floor ;; --verbose) verbose=1 ;; esac; done
root=$(cd "$(dirname "$0")/../.." && pwd)
# url -> page path (source minus the base URL)
declare -A page_of
while IFS='|' read -r url src; do
  rel=${src#*://*/}
  page_of[$url]=$rel
done < <(psql "$DATABASE_URL" -qAtc "SELECT url, source FROM kb_documents")
hits=0; n=0; none_ok=0; none_n=0
while IFS=$'\t' read -r q pages; do
  [ "$q" = question ] && continue
  out=$("$bin/svc-retrieval" search "$q" -k 5 --mode "$mode" $floor 2>/dev/null)
  got=()
  while read -r u; do
    [ -n "$u" ] || continue
    got+=("${page_of[${u%%#*}]:-$u}")
  done < <(jq -r .url <<<"$out")
  if [ "$pages" = "-" ]; then
    none_n=$((none_n + 1))
    [ ${#got[@]} -eq 0 ] && none_ok=$((none_ok + 1))
    [ -n "$verbose" ] && printf 'unanswerable %-50s -> %s\n' "$q" "${got[*]:-(nothing)}"
    continue
  fi
  n=$((n + 1)); hit=0
  IFS=, read -ra want <<<"$pages"
  for g in "${got[@]}"; do for w in "${want[@]}"; do [ "$g" = "$w" ] && hit=1; done; done
  hits=$((hits + hit))
  if [ -n "$verbose" ] && [ $hit -eq 0 ]; then printf 'MISS %-50s want %s got %s\n' "$q" "$pages" "${got[*]:-(nothing)}"; fi
done < "$root/tests/retrieval/questions.tsv"
awk -v h=$hits -v n=$n -v m="$mode" -v a=$none_ok -v b=$none_n \
  -v f="${floor:+ (no floor)}" 'BEGIN { printf "hit@5 %s%s: %d/%d = %.3f; unanswerable with no result: %d/%d\n", m, f, h, n, (n ? h / n : 0), a, b }'
