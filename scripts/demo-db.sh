#!/usr/bin/env bash
# The lab demo's database: PostgreSQL 16 on `old` (wal_level = logical, the publisher) holding
# the shop's database, an empty PostgreSQL 18 on `new` (logical too, for the reverse
# subscription kept after the switch), both with the superuser password from
# $LAB_DB_PASSWORD (passed on stdin, never argv). Then the app starts writing orders on old,
# one every ~20 ms, through its own role (`shop`), and records every id PostgreSQL
# acknowledged in /tmp/acked-orders on old: the write freeze at the switch ends its session,
# and the demo checks afterwards that every acknowledged order reached new.
# Idempotent: a rerun starts both servers afresh.
# Usage: scripts/demo-db.sh LAB_DIR
set -euo pipefail
LAB=${1:?usage: demo-db.sh LAB_DIR}
: "${LAB_DB_PASSWORD:?LAB_DB_PASSWORD must hold the database password}"

cutover-lab pg --dir "$LAB" old --major 16 --logical --password-env LAB_DB_PASSWORD
cutover-lab pg --dir "$LAB" new --major 18 --logical --password-env LAB_DB_PASSWORD

psql_on() { # HOST MAJOR DB: runs SQL from stdin through the server's socket as postgres
  cutover-lab exec --dir "$LAB" "$1" -- \
    "runuser -u postgres -- /opt/cutover/pg/$2/bin/psql -X -q -v ON_ERROR_STOP=1 -h /var/lib/postgresql/cutover-$2-5432 -d $3 -f -"
}

echo "CREATE ROLE shop LOGIN;" | psql_on new 18 postgres
psql_on old 16 postgres <<'SQL'
CREATE ROLE shop LOGIN;
CREATE DATABASE shop;
SQL
psql_on old 16 shop <<'SQL'
CREATE TYPE order_state AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE customers (id bigserial PRIMARY KEY, email text UNIQUE NOT NULL, profile jsonb, avatar bytea);
CREATE TABLE orders (
  id bigserial PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES customers,
  state order_state NOT NULL DEFAULT 'new',
  total numeric(12,2) NOT NULL,
  note text,
  created timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX orders_customer_idx ON orders (customer_id);
CREATE VIEW open_orders AS SELECT * FROM orders WHERE state <> 'shipped';
COMMENT ON TABLE orders IS 'one row per checkout';
INSERT INTO customers (email, profile, avatar)
  SELECT 'c' || i || '@example.test', jsonb_build_object('tier', i % 3, 'tags', jsonb_build_array('a', i)),
         decode(md5(i::text), 'hex')
  FROM generate_series(1, 2000) i;
INSERT INTO orders (customer_id, state, total, note)
  SELECT 1 + i % 2000, (ARRAY['new','paid','shipped']::order_state[])[1 + i % 3], (i % 9000) / 100.0,
         CASE WHEN i % 7 = 0 THEN NULL ELSE 'order ' || i END
  FROM generate_series(1, 50000) i;
GRANT SELECT, INSERT ON orders TO shop;
GRANT USAGE ON SEQUENCE orders_id_seq TO shop;
SQL

# The app's writes: they go on until the freeze ends the session.
cutover-lab exec --dir "$LAB" old -- 'rm -f /tmp/acked-orders; nohup sh -c "
  i=0; while [ \$i -lt 100000 ]; do i=\$((i+1));
    echo \"INSERT INTO orders (customer_id, total, note) VALUES (1 + \$i % 2000, 9.99, '"'"'live'"'"') RETURNING id; SELECT pg_sleep(0.02);\";
  done | runuser -u postgres -- /opt/cutover/pg/16/bin/psql -X -q -At -h /var/lib/postgresql/cutover-16-5432 -U shop -d shop 2>/dev/null | grep --line-buffered -v "^\$" > /tmp/acked-orders
" >/dev/null 2>&1 &'
echo "shop database seeded on old (2000 customers, 50000 orders); the app writes an order every ~20 ms"
