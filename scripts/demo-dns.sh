#!/usr/bin/env bash
# DNS for the lab demo: a BIND primary on `old` (198.51.100.10:53) that takes TSIG-signed
# RFC 2136 updates and NOTIFYs a BIND secondary on `new` (198.51.100.20:53), both serving
# example.test with www -> old (TTL 2 s). The TSIG secret goes to LAB/tsig.secret (0600),
# which the demo plan reads as a secret. Idempotent: a rerun restarts both servers afresh.
# notify-rate/serial-query-rate: BIND's defaults (20/s) make its rate limiters tick every
# 500 ms, delaying a change made within 500 ms of the previous one (a rollback) by ~0.5 s.
# Usage: scripts/demo-dns.sh LAB_DIR
set -euo pipefail
LAB=${1:?usage: demo-dns.sh LAB_DIR}
PRIMARY=198.51.100.10
SECONDARY=198.51.100.20
D=/tmp/cutover-bind

umask 077
tsig-keygen -a hmac-sha256 cutover | sed -n 's/.*secret "\(.*\)";/\1/p' > "$LAB/tsig.secret"
SECRET=$(cat "$LAB/tsig.secret")

options() { # ADDR
  cat <<CONF
options {
  directory "$D"; pid-file "$D/named.pid"; session-keyfile "$D/session.key";
  managed-keys-directory "$D";
  listen-on port 53 { $1; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no;
  notify-delay 0; max-ixfr-ratio unlimited;
  notify-rate 1000; serial-query-rate 1000;
  notify-source $1; transfer-source $1; query-source address $1;
};
controls { };
key "cutover" { algorithm hmac-sha256; secret "$SECRET"; };
CONF
}

zone_file() {
  cat <<ZONE
\$TTL 300
@ IN SOA ns1.example.test. hostmaster.example.test. 1 60 30 600 5
@ IN NS ns1.example.test.
@ IN NS ns2.example.test.
ns1 IN A $PRIMARY
ns2 IN A $SECONDARY
www 2 IN A $PRIMARY
ZONE
}

# Stops a server left by an earlier demo (by its own pid file, inside its host) and starts anew.
start() { # HOST CONF [ZONEFILE]
  local host=$1 conf=$2 zone=${3:-}
  cutover-lab exec --dir "$LAB" "$host" -- "test -f $D/named.pid && kill \$(cat $D/named.pid) 2>/dev/null; sleep 0.2; rm -rf $D && mkdir -p $D"
  printf '%s\n' "$conf" | cutover-lab exec --dir "$LAB" "$host" -- "cat > $D/named.conf"
  if [[ -n $zone ]]; then
    printf '%s\n' "$zone" | cutover-lab exec --dir "$LAB" "$host" -- "cat > $D/example.test.db"
  fi
  cutover-lab exec --dir "$LAB" "$host" -- "named -c $D/named.conf"
}

start old "$(options $PRIMARY)
zone \"example.test\" { type primary; file \"$D/example.test.db\"; update-policy { grant cutover zonesub ANY; }; ixfr-from-differences yes; notify explicit; also-notify { $SECONDARY; }; allow-transfer { any; }; };" "$(zone_file)"
start new "$(options $SECONDARY)
zone \"example.test\" { type secondary; primaries { $PRIMARY; }; file \"$D/example.test.sec\"; notify no; };"

for server in $PRIMARY $SECONDARY; do
  for _ in $(seq 1 100); do
    dig +norec +short "@$server" www.example.test A 2>/dev/null | grep -qx "$PRIMARY" && break
    sleep 0.05
  done
  dig +norec +short "@$server" www.example.test A | grep -qx "$PRIMARY" || { echo "demo-dns: $server does not serve example.test" >&2; exit 1; }
done
echo "demo-dns: BIND primary $PRIMARY + secondary $SECONDARY serve example.test (www -> $PRIMARY, TTL 2 s)"
