//! `roles = true` with `role_passwords`: the login role a copy creates can log in with the
//! password the plan's secret gives it, and that password reaches neither the journal, the
//! report, nor the target server's log (it is sent as a SCRAM verifier).

use super::fixture::{contains, Fixture, Run};
use cutover_testbed::{PgOptions, PgServer};

const APP_PW: &str = "app-role-canary-7f3a";

const PLAN: &str = r#"
[secrets.old_db]
env = "OLD_DB_PW"

[secrets.new_db]
env = "NEW_DB_PW"

[secrets.app_pw]
env = "APP_PW"

[[stages]]
name = "copy"

[[stages.steps]]
id = "copy-db"
kind = "postgres.copy"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.old_db }}" }
target = { host = "new", address = "127.0.0.1", db = "app", password = "{{ secrets.new_db }}" }
roles = true
role_passwords = { app = "{{ secrets.app_pw }}" }
"#;

#[test]
fn a_created_login_role_gets_its_password_from_a_secret_and_nothing_shows_it() {
    let f = Fixture::new(PLAN);
    let opts = PgOptions {
        settings: vec![("log_statement".into(), "'all'".into())],
        ..PgOptions::default()
    };
    let old = PgServer::start(f.lab.host("old"), 16, 5432, opts.clone()).expect("pg16");
    let new = PgServer::start(f.lab.host("new"), 18, 5432, opts).expect("pg18");
    old.psql(
        "postgres",
        "CREATE ROLE app LOGIN PASSWORD 'old-password'; CREATE ROLE reporting NOLOGIN; CREATE DATABASE app OWNER app;",
    )
    .expect("roles");
    old.psql(
        "app",
        "CREATE TABLE orders (id int PRIMARY KEY); ALTER TABLE orders OWNER TO app; GRANT SELECT ON orders TO reporting;",
    )
    .expect("schema");
    let apply = |args: &[&str]| {
        let mut c = f.command(args);
        c.env("OLD_DB_PW", PgServer::PASSWORD)
            .env("NEW_DB_PW", PgServer::PASSWORD)
            .env("APP_PW", APP_PW);
        Run(c.output().expect("run cutover"))
    };
    let out = apply(&["apply", "--yes"]).expect(0).stdout();
    assert!(
        out.contains(
            "roles created on the target: app, reporting (passwords from the plan's secrets: app)"
        ),
        "{out}"
    );
    // Over TCP, where the lab's servers ask for a SCRAM password.
    let login = |pw: &str| {
        new.shell(&format!(
            "PGPASSWORD='{pw}' psql -X -At -h {} -U app -d app -c 'SELECT current_user'",
            new.address()
        ))
    };
    assert_eq!(login(APP_PW).expect("app logs in").trim(), "app");
    assert!(
        login("old-password").is_err(),
        "the source's password works on new"
    );
    let report = apply(&["report"]).expect(0).stdout();
    assert!(!report.contains(APP_PW), "password in the report");
    assert!(
        !contains(&f.journal_bytes(), APP_PW),
        "password in the journal"
    );
    let log = new.server_log();
    assert!(
        log.contains("ALTER ROLE \"app\" PASSWORD 'SCRAM-SHA-256$"),
        "statements not logged: the test saw nothing\n{log}"
    );
    assert!(!log.contains(APP_PW), "password in the target's log");
}
