#!/usr/bin/env bash
# The main job end to end on the self-contained lab: installs what it needs, builds cutover,
# brings up two SSH hosts (`old` 198.51.100.10 and `new` 198.51.100.20, network namespaces
# with their own filesystems), seeds an app on `old`, and migrates it to `new` with
# examples/lab/cutover.toml: preflight, a host-to-host file sync (files.sync), its proof
# (files.verify: BLAKE3 manifests built on both hosts), PostgreSQL 16 -> 18 by logical
# replication while the app writes (postgres.sync), an approval gate (approved here by a
# second operator process, after a late upload lands on old), the final incremental sync and
# its proof, the database switch (write freeze, catch-up, sequences) and its proof
# (postgres.verify), the DNS switch and its propagation, then the report; finally every
# order the app wrote on old is checked on new and the secrets are checked absent.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s.%N)
LAB=${CUTOVER_DEMO_LAB:-/var/lib/cutover-lab/demo}
PLAN=examples/lab/cutover.toml

scripts/install-deps.sh
echo "== build"
cargo build --quiet --bin cutover --bin cutover-lab
export PATH="$PWD/target/debug:$PATH"

echo "== lab"
cutover-lab up --dir "$LAB"
# DNS for the traffic switch: BIND primary on old, secondary on new (scripts/demo-dns.sh).
scripts/demo-dns.sh "$LAB"
# The shop's database: PostgreSQL 16 on old, written to by the app while the run replicates
# it to PostgreSQL 18 on new (scripts/demo-db.sh). Its password travels like the token below.
LAB_DB_PASSWORD="db-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export LAB_DB_PASSWORD
scripts/demo-db.sh "$LAB"
# A fresh demo each time: forget the previous run and reset both hosts.
rm -f examples/lab/cutover.journal.db examples/lab/cutover.journal.db-* examples/lab/cutover.journal.db.lock
cutover-lab exec --dir "$LAB" new -- 'rm -rf /srv/app'
cutover-lab exec --dir "$LAB" old -- 'rm -rf /srv/app && mkdir -p /srv/app/media/uploads /srv/app/static &&
  for i in $(seq 1 200); do head -c $((4096 + i * 97)) /dev/urandom > /srv/app/media/uploads/img-$i.jpg; done &&
  head -c 20000000 /dev/urandom > /srv/app/media/video.mp4 && echo "v1.4.2" > /srv/app/VERSION &&
  printf "body{}\n" > /srv/app/static/site.css && ln -s media/uploads /srv/app/uploads'

# A secret for the app's config: it travels over SSH stdin and never reaches argv, the
# journal or the report (the demo checks that at the end).
LAB_APP_TOKEN="demo-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
export LAB_APP_TOKEN

echo "== cutover check"
cutover -f "$PLAN" check
echo "== cutover plan"
cutover -f "$PLAN" plan

# A second operator approves the go-live gate once the run waits there.
(
  for _ in $(seq 1 600); do
    if cutover -f "$PLAN" status --json 2>/dev/null | grep -q '"waiting_for": "go-live'; then
      # Users keep uploading while the run waits: the final sync carries only this over.
      cutover-lab exec --dir "$LAB" old -- 'head -c 5000 /dev/urandom > /srv/app/media/uploads/late.jpg && rm /srv/app/media/uploads/img-3.jpg'
      cutover -f "$PLAN" approve go-live --by demo-operator --comment "copy verified by checksums"
      exit 0
    fi
    sleep 0.2
  done
  echo "demo: the run never reached the go-live gate" >&2
) &
approver=$!

echo "== cutover apply"
cutover -f "$PLAN" apply --yes
wait "$approver"

echo "== cutover report"
cutover -f "$PLAN" report

TSIG_SECRET=$(cat "$LAB/tsig.secret")
if grep -qF "$TSIG_SECRET" examples/lab/cutover.journal.db* || cutover -f "$PLAN" report --json | grep -qF "$TSIG_SECRET"; then
  echo "demo: the TSIG secret leaked into the journal or report" >&2
  exit 1
fi
# Every order the app wrote on old and PostgreSQL acknowledged, up to the freeze, is on new.
cutover-lab exec --dir "$LAB" old -- 'sort -u /tmp/acked-orders' > "$LAB/acked-orders"
cutover-lab exec --dir "$LAB" new -- "runuser -u postgres -- /opt/cutover/pg/18/bin/psql -X -At -h /var/lib/postgresql/cutover-18-5432 -d shop -c 'SELECT id FROM orders'" | sort -u > "$LAB/orders-on-new"
acked=$(wc -l < "$LAB/acked-orders")
missing=$(comm -23 "$LAB/acked-orders" "$LAB/orders-on-new" | wc -l)
echo "orders written on old during the run and acknowledged: $acked; missing on new: $missing"
if [ "$acked" -lt 10 ] || [ "$missing" -ne 0 ]; then
  echo "demo: acknowledged writes were lost (or the app never wrote)" >&2
  exit 1
fi
for secret in "$LAB_APP_TOKEN" "$LAB_DB_PASSWORD"; do
  if grep -qF "$secret" examples/lab/cutover.journal.db* || cutover -f "$PLAN" report --json | grep -qF "$secret"; then
    echo "demo: a secret leaked into the journal or report" >&2
    exit 1
  fi
done
printf '\n== demo finished in %.1f s (lab left up: `cutover-lab down --dir %s` removes it)\n' \
  "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$LAB"
