#!/usr/bin/env bash
# The main job end to end on the self-contained lab: installs what it needs, builds cutover,
# brings up two SSH hosts (`old` 198.51.100.10 and `new` 198.51.100.20, network namespaces
# with their own filesystems), seeds an app on `old`, and migrates it to `new` with
# examples/lab/cutover.toml: preflight, a host-to-host file sync (files.sync), its proof
# (files.verify: BLAKE3 manifests built on both hosts), an approval gate (approved here by a
# second operator process, after a late upload lands on old), the final incremental sync and
# its proof, a wait, then the report.
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
if grep -q "$LAB_APP_TOKEN" examples/lab/cutover.journal.db* || cutover -f "$PLAN" report --json | grep -q "$LAB_APP_TOKEN"; then
  echo "demo: the secret leaked into the journal or report" >&2
  exit 1
fi
printf '\n== demo finished in %.1f s (lab left up: `cutover-lab down --dir %s` removes it)\n' \
  "$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')" "$LAB"
