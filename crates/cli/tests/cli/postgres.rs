//! The PostgreSQL commands and steps through the `cutover` binary: the standalone
//! `cutover verify postgres`, and plans using the `postgres.*` step kinds.

use super::fixture::Fixture;
use cutover_testbed::{PgOptions, PgServer};

/// A small database on `pg`: a table with awkward values, an index, a sequence.
const APP: &str = "CREATE DATABASE app;";
const SCHEMA: &str = "CREATE TABLE items (id serial PRIMARY KEY, name text, note text, data jsonb);
CREATE INDEX items_name_idx ON items (name);
INSERT INTO items (name, note, data) SELECT 'item ' || i, CASE WHEN i % 3 = 0 THEN NULL ELSE '' END,
  jsonb_build_object('i', i) FROM generate_series(1, 500) i;";

fn servers(f: &Fixture) -> (PgServer, PgServer) {
    servers_with(f, PgOptions::default())
}

fn servers_with(f: &Fixture, options: PgOptions) -> (PgServer, PgServer) {
    let old = PgServer::start(f.lab.host("old"), 16, 5432, options.clone()).expect("pg16");
    let new = PgServer::start(f.lab.host("new"), 18, 5432, options).expect("pg18");
    old.psql("postgres", APP).expect("create db");
    old.psql("app", SCHEMA).expect("schema");
    (old, new)
}

fn verify_args<'a>(f: &'a Fixture, extra: &[&'a str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "verify",
        "postgres",
        "postgres://postgres@127.0.0.1:5432/app",
        "postgres://postgres@127.0.0.1:5432/app",
        "--source-ssh",
        "old",
        "--target-ssh",
        "new",
        "--ssh-config",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(f.lab.ssh_config().display().to_string());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

#[test]
fn verify_postgres_proves_a_copy_and_names_each_difference() {
    let f = Fixture::new("");
    let (old, new) = servers(&f);
    new.psql("postgres", APP).expect("create db");
    new.shell(&format!(
        "PGPASSWORD='{}' pg_dump -h {} -U postgres app | psql -q -v ON_ERROR_STOP=1 app >/dev/null",
        PgServer::PASSWORD,
        old.address()
    ))
    .expect("reference copy");
    let run = |extra: &[&str]| {
        let args = verify_args(&f, extra);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        f.command(&args)
            .env("PGPASSWORD", PgServer::PASSWORD)
            .output()
            .expect("run cutover")
    };
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("public.items"), "{stdout}");
    assert!(stdout.contains("source and target match"), "{stdout}");
    assert!(!stdout.contains(PgServer::PASSWORD));

    new.psql(
        "app",
        "UPDATE items SET note = NULL WHERE id = 1; DROP INDEX items_name_idx;",
    )
    .expect("damage the copy");
    let out = run(&[]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(9), "{stdout}");
    assert!(
        stdout.contains("table public.items: content differs"),
        "{stdout}"
    );
    assert!(
        stdout.contains("index public.items_name_idx: missing on target"),
        "{stdout}"
    );

    let out = run(&["--json"]);
    assert_eq!(out.status.code(), Some(9));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json report");
    let kinds: Vec<&str> = report["differences"]
        .as_array()
        .expect("differences")
        .iter()
        .filter_map(|d| d["kind"].as_str())
        .collect();
    assert!(
        kinds.contains(&"content differs") && kinds.contains(&"missing on target"),
        "{kinds:?}"
    );
}

#[test]
fn verify_postgres_refuses_a_password_in_the_url() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .args([
            "verify",
            "postgres",
            "postgres://u:hunter2@h/db",
            "postgres://u@h/db",
        ])
        .output()
        .expect("run cutover");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("password") && !stderr.contains("hunter2"),
        "{stderr}"
    );
}

/// The same failure exits the same way from a step and from the standalone command: a
/// wrong password is an access problem (exit 4), said with its fix, in both.
#[test]
fn a_wrong_password_exits_4_from_the_verify_step_and_from_verify_postgres() {
    // The copy plan's secrets and its verify stage only.
    let (secrets, rest) = COPY_PLAN.split_once("[[stages]]").expect("stages");
    let verify = rest.split_once("[[stages]]").expect("two stages").1;
    let f = Fixture::new(&format!("{secrets}[[stages]]{verify}"));
    let (_old, new) = servers(&f);
    new.psql("postgres", APP).expect("create db");
    let mut c = f.command(&["apply", "--yes"]);
    c.env("OLD_DB_PW", "not-the-password")
        .env("NEW_DB_PW", PgServer::PASSWORD);
    let step = super::fixture::Run(c.output().expect("run cutover"));
    let text = step.stdout() + &step.stderr();
    assert_eq!(step.code(), 4, "{text}");
    assert!(
        text.contains("check the password given for user `postgres`"),
        "{text}"
    );
    let args = verify_args(&f, &[]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = f
        .command(&args)
        .env("CUTOVER_SOURCE_PGPASSWORD", "not-the-password")
        .env("CUTOVER_TARGET_PGPASSWORD", PgServer::PASSWORD)
        .output()
        .expect("run cutover");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(
        stderr.contains("check the password given for user `postgres`"),
        "{stderr}"
    );
}

/// A proof is journaled whole, not cut to a few KiB: the report of a 300-table database's
/// verification names every table, in Markdown and in JSON.
#[test]
fn the_report_holds_the_whole_proof_of_a_300_table_database() {
    let (secrets, rest) = COPY_PLAN.split_once("[[stages]]").expect("stages");
    let verify = rest.split_once("[[stages]]").expect("two stages").1;
    let f = Fixture::new(&format!("{secrets}[[stages]]{verify}"));
    let (old, new) = servers(&f);
    old.psql(
        "app",
        "DO $$ BEGIN FOR i IN 1..300 LOOP EXECUTE format('CREATE TABLE wide_%s (id int PRIMARY KEY, v text); INSERT INTO wide_%s SELECT g, md5(g::text) FROM generate_series(1, 3) g', lpad(i::text, 3, '0'), lpad(i::text, 3, '0')); END LOOP; END $$;",
    )
    .expect("300 tables");
    new.psql("postgres", APP).expect("create db");
    new.shell(&format!(
        "PGPASSWORD='{}' pg_dump -h {} -U postgres app | psql -q -v ON_ERROR_STOP=1 app >/dev/null",
        PgServer::PASSWORD,
        old.address()
    ))
    .expect("copy");
    let run = |args: &[&str]| {
        let mut c = f.command(args);
        c.env("OLD_DB_PW", PgServer::PASSWORD)
            .env("NEW_DB_PW", PgServer::PASSWORD);
        super::fixture::Run(c.output().expect("run cutover"))
    };
    run(&["apply", "--yes"]).expect(0);
    let md = run(&["report"]).expect(0).stdout();
    let json = run(&["report", "--json"]).expect(0).stdout();
    for i in 1..=300 {
        let name = format!("public.wide_{i:03}");
        assert!(
            md.contains(&name),
            "{name} missing from the Markdown report"
        );
        assert!(json.contains(&name), "{name} missing from the JSON report");
    }
}

/// A plan copying `app` from old to new and proving the copy, passwords from secrets.
const COPY_PLAN: &str = r#"
[secrets.old_db]
env = "OLD_DB_PW"

[secrets.new_db]
env = "NEW_DB_PW"

[[stages]]
name = "copy"

[[stages.steps]]
id = "copy-db"
kind = "postgres.copy"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.old_db }}" }
target = { host = "new", address = "127.0.0.1", db = "app", password = "{{ secrets.new_db }}" }
split_mb = 0

[[stages]]
name = "verify"

[[stages.steps]]
id = "prove-db"
kind = "postgres.verify"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.old_db }}" }
target = { host = "new", address = "127.0.0.1", db = "app", password = "{{ secrets.new_db }}" }
"#;

#[test]
fn a_plan_copies_proves_and_rolls_back_a_database() {
    let f = Fixture::new(COPY_PLAN);
    let (_old, new) = servers(&f);
    let apply = |args: &[&str]| {
        let mut c = f.command(args);
        c.env("OLD_DB_PW", PgServer::PASSWORD)
            .env("NEW_DB_PW", PgServer::PASSWORD);
        super::fixture::Run(c.output().expect("run cutover"))
    };
    let plan = apply(&["plan"]).expect(0).stdout();
    assert!(
        plan.contains("postgres@127.0.0.1:5432/app (tools on old)"),
        "{plan}"
    );
    let out = apply(&["apply", "--yes"]).expect(0).stdout();
    assert!(out.contains("public.items: 500 rows"), "{out}");
    assert!(out.contains("source and target match"), "{out}");
    assert_eq!(
        new.psql("app", "SELECT count(*) FROM items")
            .expect("count")
            .trim(),
        "500"
    );
    let report = apply(&["report", "--json"]).expect(0).stdout();
    assert!(report.contains("rows public.items"), "{report}");
    // The copy's progress reached the journal: the table done, of all.
    let json: serde_json::Value = serde_json::from_str(&report).unwrap();
    let progressed: Vec<_> = json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["event"] == "progressed" && t["step"] == "copy-db")
        .map(|t| (t["unit"].as_str(), t["done"].as_f64(), t["total"].as_f64()))
        .collect();
    assert_eq!(progressed, [(Some("tables"), Some(1.0), Some(1.0))]);
    let markdown = apply(&["report"]).expect(0).stdout();
    let proof = super::fixture::proof_section(&markdown, "prove-db (old + new)");
    assert!(
        proof.contains("public.items") && proof.contains("no differences"),
        "{markdown}"
    );
    assert!(
        !super::fixture::contains(&f.journal_bytes(), PgServer::PASSWORD),
        "password in the journal"
    );
    apply(&["rollback", "--yes"]).expect(0);
    let dbs = new
        .psql("postgres", "SELECT datname FROM pg_database")
        .expect("list");
    assert!(!dbs.lines().any(|d| d == "app"), "{dbs}");
}

#[test]
fn a_verify_step_fails_with_exit_9_naming_the_difference() {
    let f = Fixture::new(&COPY_PLAN.replace(
        "id = \"prove-db\"",
        "id = \"prove-db\"\ndescription = \"proof\"",
    ));
    let (old, _new) = servers(&f);
    let apply = |args: &[&str]| {
        let mut c = f.command(args);
        c.env("OLD_DB_PW", PgServer::PASSWORD)
            .env("NEW_DB_PW", PgServer::PASSWORD);
        super::fixture::Run(c.output().expect("run cutover"))
    };
    apply(&["apply", "--yes", "--until", "copy"]).expect(0);
    old.psql("app", "INSERT INTO items (name) VALUES ('late write')")
        .expect("write after the copy");
    let failed = apply(&["apply", "--yes"]).expect(9);
    let text = format!("{}{}", failed.stdout(), failed.stderr());
    assert!(
        text.contains("table public.items: row count differs (501 rows on source, 500 on target)"),
        "{text}"
    );
    assert!(
        text.contains("sequence public.items_id_seq: behind"),
        "{text}"
    );
}

/// Logical replication through a plan: sync (lag watched), switch under writes, rollback.
const SYNC_PLAN: &str = r#"
[secrets.db]
env = "DB_PW"

[[stages]]
name = "sync"

[[stages.steps]]
id = "replicate"
kind = "postgres.sync"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
target = { host = "new", address = "127.0.0.1", db = "app", password = "{{ secrets.db }}" }
source_address = "OLD_ADDRESS"
watch = "1s"

[[stages]]
name = "switch"

[[stages.steps]]
id = "promote"
kind = "postgres.switch"
sync = "replicate"
"#;

#[test]
fn a_plan_replicates_switches_under_writes_and_rolls_back() {
    let f = Fixture::new("");
    f.write_plan(&SYNC_PLAN.replace("OLD_ADDRESS", &f.lab.host("old").address().to_string()));
    let opts = PgOptions {
        logical: true,
        ..PgOptions::default()
    };
    let (old, new) = servers_with(&f, opts);
    old.psql("postgres", "CREATE ROLE writer LOGIN")
        .expect("role");
    new.psql("postgres", "CREATE ROLE writer LOGIN")
        .expect("role");
    old.psql(
        "app",
        "GRANT INSERT, SELECT ON items TO writer; GRANT USAGE ON SEQUENCE items_id_seq TO writer;",
    )
    .expect("grant");
    let mut writer = old
        .spawn_shell("seq 1 10000000 | sed 's/.*/INSERT INTO items (name) VALUES (md5(&::text)) RETURNING id;/' | psql -X -q -At -U writer app > /tmp/acked 2>/dev/null")
        .expect("writer");
    let run = |args: &[&str]| {
        let mut c = f.command(args);
        c.env("DB_PW", PgServer::PASSWORD);
        super::fixture::Run(c.output().expect("run cutover"))
    };
    let check = run(&["check"]).expect(0).stdout();
    assert!(check.contains("host old"), "{check}");
    let out = run(&["apply", "--yes"]).expect(0).stdout();
    assert!(out.contains("initial sync: 1/1 tables copied"), "{out}");
    assert!(
        out.contains("target is the primary: writes frozen"),
        "{out}"
    );
    writer.wait().expect("the writer ends with its session");
    let acked: Vec<String> = old
        .shell("cat /tmp/acked")
        .expect("acked")
        .lines()
        .map(str::to_string)
        .collect();
    let ids = new.psql("app", "SELECT id FROM items").expect("ids");
    let present: std::collections::HashSet<&str> = ids.lines().collect();
    let lost = acked
        .iter()
        .filter(|id| !present.contains(id.as_str()))
        .count();
    assert!(
        acked.len() > 50 && lost == 0,
        "{} acknowledged, {lost} lost",
        acked.len()
    );
    let report = run(&["report", "--json"]).expect(0).stdout();
    assert!(
        report.contains("freeze_window") && report.contains("lag_bytes"),
        "{report}"
    );
    // The freeze is journaled where it began and ended, as long as its measure says.
    let json: serde_json::Value = serde_json::from_str(&report).unwrap();
    let outage = json["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["event"] == "outage" && t["step"] == "promote")
        .unwrap_or_else(|| panic!("no outage journaled: {report}"));
    assert_eq!(outage["what"], "writes frozen");
    let window_ms = outage["to_ms"].as_i64().unwrap() - outage["from_ms"].as_i64().unwrap();
    let measured = json["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == "promote")
        .and_then(|s| {
            s["measurements"]
                .as_array()
                .unwrap()
                .iter()
                .find(|m| m["name"] == "freeze_window")
        })
        .and_then(|m| m["value"].as_f64())
        .unwrap();
    assert!(
        (window_ms as f64 - measured * 1000.0).abs() <= 1.0,
        "outage {window_ms} ms, freeze_window {measured} s"
    );
    run(&["rollback", "--yes"]).expect(0);
    old.shell("psql -X -U writer app -c \"INSERT INTO items (name) VALUES ('after rollback')\"")
        .expect("the source takes writes again");
    assert_eq!(
        old.psql("app", "SELECT count(*) FROM pg_publication")
            .expect("pubs")
            .trim(),
        "0"
    );
    let dbs = new
        .psql("postgres", "SELECT datname FROM pg_database")
        .expect("dbs");
    assert!(!dbs.lines().any(|d| d == "app"), "{dbs}");
}

#[test]
fn a_switch_must_name_an_earlier_sync_step() {
    let f = Fixture::new(&SYNC_PLAN.replace("sync = \"replicate\"", "sync = \"replicat\""));
    let out = f.run(&["check"]).expect(3);
    let text = out.stderr() + &out.stdout();
    assert!(
        text.contains("no step `replicat` to switch")
            && text.contains("postgres.sync steps: replicate"),
        "{text}"
    );
}
