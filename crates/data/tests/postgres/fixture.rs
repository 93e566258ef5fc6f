//! Shared setup: a lab, PostgreSQL servers on its hosts, an executor reaching them over SSH,
//! and a small database that uses every kind of object a copy must carry.

use cutover_data::postgres::Endpoint;
use cutover_exec::{Executor, Redactor, SecretValue, SshTarget, Target};
use cutover_testbed::{Lab, PgOptions, PgServer};
use std::collections::HashMap;

/// An executor over real SSH to the lab's `old` and `new`, redacting the servers' password.
pub fn executor(lab: &Lab) -> Executor {
    let pw = SecretValue::new(PgServer::PASSWORD.into());
    let redactor = Redactor::new([("pg_password", &pw)]);
    let targets = ["old", "new"].map(|h| {
        (
            h.to_string(),
            Target::Ssh(SshTarget {
                name: h.into(),
                destination: h.into(),
                port: None,
                user: None,
                identity: None,
                jump: None,
                known_hosts: None,
                config: Some(lab.ssh_config().to_path_buf()),
                connect_timeout: 5,
                control_dir: cutover_exec::control_dir_for(&lab.dir().display().to_string()),
            }),
        )
    });
    Executor::new(HashMap::from(targets), redactor)
}

/// The endpoint of database `db` on `pg`, reached from its own host over TCP with the
/// password (so the secret path is exercised).
pub fn endpoint(pg: &PgServer, db: &str) -> Endpoint {
    let mut e = Endpoint::new(pg.host(), "127.0.0.1", db);
    e.port = pg.port();
    e.password = Some(SecretValue::new(PgServer::PASSWORD.into()));
    e
}

/// A lab with PostgreSQL `old_major` on `old` and `new_major` on `new` (both port 5432).
pub fn servers(old_major: u32, new_major: u32, logical: bool) -> (Lab, PgServer, PgServer) {
    let lab = Lab::start().expect("lab");
    let opts = PgOptions {
        logical,
        ..PgOptions::default()
    };
    let (old, new) = std::thread::scope(|s| {
        let a = s.spawn(|| PgServer::start(lab.host("old"), old_major, 5432, opts.clone()));
        let b = s.spawn(|| PgServer::start(lab.host("new"), new_major, 5432, opts.clone()));
        (a.join().expect("old"), b.join().expect("new"))
    });
    (
        lab,
        old.expect("PostgreSQL on old"),
        new.expect("PostgreSQL on new"),
    )
}

/// A small database with every kind of object and awkward values: enums, domains, arrays,
/// jsonb, bytea, NULLs next to empty strings, partitions, a materialized view, a trigger,
/// comments, a large object, identity and serial sequences, a generated column, a policy,
/// odd names.
pub const SCHEMA: &str = r#"
CREATE EXTENSION hstore;
CREATE EXTENSION citext;
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
CREATE TABLE accounts (
  id bigserial PRIMARY KEY,
  name text NOT NULL,
  email citext UNIQUE,
  note text,
  mood mood,
  balance numeric(12,2),
  score float8,
  ratio real,
  active bool,
  created timestamptz,
  born date,
  at time,
  span interval,
  data jsonb,
  avatar bytea,
  tags text[],
  moods mood[],
  attrs hstore,
  code char(4),
  ip inet,
  uid uuid,
  level posint,
  doubled bigint GENERATED ALWAYS AS (id * 2) STORED
);
CREATE INDEX accounts_created_idx ON accounts (created);
COMMENT ON TABLE accounts IS 'people who pay';
COMMENT ON COLUMN accounts.note IS 'free text; NULL means never asked';
CREATE TABLE events (
  id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  account_id bigint REFERENCES accounts (id) ON DELETE SET NULL,
  kind text NOT NULL CHECK (kind <> ''),
  at timestamptz NOT NULL DEFAULT '2024-01-01 00:00:00+00'
);
CREATE TABLE audit (event_id int, seen timestamptz);
CREATE POLICY audit_recent ON audit FOR SELECT USING (seen > '2020-01-01 00:00:00+00');
CREATE FUNCTION audit_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN INSERT INTO audit VALUES (NEW.id, NEW.at); RETURN NEW; END $$;
CREATE TRIGGER events_audit AFTER INSERT ON events FOR EACH ROW EXECUTE FUNCTION audit_event();
CREATE TABLE measurements (city text NOT NULL, day date NOT NULL, temp numeric, PRIMARY KEY (city, day))
  PARTITION BY RANGE (day);
CREATE TABLE measurements_2023 PARTITION OF measurements FOR VALUES FROM ('2023-01-01') TO ('2024-01-01');
CREATE TABLE measurements_2024 PARTITION OF measurements FOR VALUES FROM ('2024-01-01') TO ('2025-01-01');
CREATE UNLOGGED TABLE sessions (token text PRIMARY KEY, data jsonb);
CREATE SCHEMA "Odd Schema";
CREATE TABLE "Odd Schema"."Mixed ""Case"" Table" ("Weird col" text, "select" int);
CREATE VIEW active_accounts AS SELECT id, name FROM accounts WHERE active;
CREATE MATERIALIZED VIEW mood_counts AS SELECT mood, count(*) AS n FROM accounts GROUP BY mood;
CREATE INDEX mood_counts_mood_idx ON mood_counts (mood);
CREATE SEQUENCE invoice_numbers START 1000 INCREMENT 10;

INSERT INTO accounts (name, email, note, mood, balance, score, ratio, active, created, born, at, span,
                      data, avatar, tags, moods, attrs, code, ip, uid, level)
SELECT 'user ' || i,
       'User' || i || '@example.com',
       CASE i % 4 WHEN 0 THEN NULL WHEN 1 THEN '' WHEN 2 THEN 'tab	and
newline' ELSE 'ünïcødé ' || i END,
       (ARRAY['sad', 'ok', 'happy'])[1 + i % 3]::mood,
       round((i * 12.345)::numeric, 2),
       CASE WHEN i % 10 = 0 THEN NULL ELSE i / 3.0 END,
       (i / 7.0)::real,
       i % 2 = 0,
       '2024-01-01 00:00:00+00'::timestamptz + i * interval '37 minutes',
       '1970-01-01'::date + i,
       '00:00'::time + i * interval '1 minute',
       i * interval '1 second',
       jsonb_build_object('n', i, 'tags', jsonb_build_array('a', i), 'nested', jsonb_build_object('x', i % 5)),
       decode(md5(i::text), 'hex'),
       ARRAY['t' || i, NULL, ''],
       ARRAY['ok', 'sad']::mood[],
       hstore('k', i::text),
       'c' || (i % 10),
       ('10.0.' || (i % 255) || '.1')::inet,
       md5(i::text)::uuid,
       1 + i % 50
FROM generate_series(1, 600) i;
INSERT INTO events (account_id, kind, at)
SELECT 1 + i % 300, 'kind' || (i % 7), '2024-01-01 00:00:00+00'::timestamptz + i * interval '1 hour'
FROM generate_series(1, 900) i;
INSERT INTO measurements SELECT 'city' || (i % 5), '2023-06-01'::date + i, i * 0.5 FROM generate_series(0, 300) i;
INSERT INTO sessions SELECT 'tok' || i, jsonb_build_object('i', i) FROM generate_series(1, 20) i;
INSERT INTO "Odd Schema"."Mixed ""Case"" Table" VALUES ('a', 1), (NULL, 2), ('', NULL);
REFRESH MATERIALIZED VIEW mood_counts;
SELECT nextval('invoice_numbers') FROM generate_series(1, 3);
SELECT lo_from_bytea(0, '\x00ff10cafe'::bytea);
"#;

/// Creates database `db` on `pg` with [`SCHEMA`] in it.
pub fn seed(pg: &PgServer, db: &str) {
    pg.psql("postgres", &format!("CREATE DATABASE {db}"))
        .expect("create database");
    pg.psql(db, SCHEMA).expect("load the fixture schema");
}

/// Copies database `db` of `from` into a new database `db` on `to` the runbook way
/// (`pg_dump | psql`, run on `to`'s host with its tools), as a reference copy for tests
/// of the verifier.
pub fn reference_copy(from: &PgServer, to: &PgServer, db: &str) {
    to.psql("postgres", &format!("CREATE DATABASE {db}"))
        .expect("create database");
    to.shell(&format!(
        "PGPASSWORD='{pw}' pg_dump -h {addr} -p {port} -U postgres {db} | psql -q -v ON_ERROR_STOP=1 {db} >/dev/null",
        pw = PgServer::PASSWORD,
        addr = from.address(),
        port = from.port(),
    ))
    .expect("pg_dump | psql");
}
