//! The MariaDB/MySQL steps and command through the `cutover` binary: a plan copying,
//! replicating, switching and proving under a client writing all along, then rolled back;
//! `cutover verify mysql`; the refusals with their fixes and exit codes.

use super::fixture::{proof_section, Fixture, Run};
use cutover_testbed::{MariaOptions, MariaServer, MysqlWriter, MysqlWriterReport};
use std::net::SocketAddr;
use std::time::Duration;

/// The application's database on old, its accounts, and the replication account.
pub const APP: &str = r#"
CREATE DATABASE shop;
USE shop;
CREATE TABLE writes (conn INT NOT NULL, n BIGINT NOT NULL, at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6), PRIMARY KEY (conn, n));
CREATE TABLE items (id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(50), price DECIMAL(10,2), KEY by_name (name));
INSERT INTO items (name, price) SELECT CONCAT('item ', seq), seq / 100 FROM seq_1_to_ROWS;
CREATE TABLE notes (code VARCHAR(20) NOT NULL PRIMARY KEY, body TEXT);
INSERT INTO notes VALUES ('a', 'first'), ('b', NULL), ('c', '');
CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 1;
CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw';
GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO 'app'@'%';
CREATE USER 'repl'@'%' IDENTIFIED BY 'repl-pw';
GRANT REPLICATION SLAVE ON *.* TO 'repl'@'%';
"#;

/// Copy, sync, switch with reverse replication, proof.
pub const PLAN: &str = r#"
[secrets.db]
env = "DB_PW"

[secrets.repl]
env = "REPL_PW"

[[stages]]
name = "sync"

[[stages.steps]]
id = "copy-db"
kind = "mysql.copy"
source = { host = "old", password = "{{ secrets.db }}" }
target = { host = "new", password = "{{ secrets.db }}" }
databases = ["shop"]
users = true
workers = 3
chunk_mb = 1
address = "NEW_ADDRESS"

[[stages.steps]]
id = "replicate"
kind = "mysql.sync"
copy = "copy-db"
source_address = "OLD_ADDRESS"
replication_password = "{{ secrets.repl }}"
max_behind = 5

[[stages]]
name = "switch"

[[stages.steps]]
id = "promote"
kind = "mysql.switch"
sync = "replicate"
reverse = true
reverse_address = "NEW_ADDRESS"

[[stages]]
name = "verify"

[[stages.steps]]
id = "prove"
kind = "mysql.verify"
source = { host = "old", password = "{{ secrets.db }}" }
target = { host = "new", password = "{{ secrets.db }}" }
databases = ["shop"]
"#;

/// A lab with MariaDB on both hosts and the plan above.
pub struct MysqlRun {
    pub f: Fixture,
    pub old: MariaServer,
    pub new: MariaServer,
}

impl MysqlRun {
    /// Servers with the binary log on (ids 1 and 2) and `rows` items on old.
    pub fn start(rows: u32) -> MysqlRun {
        Self::start_with(rows, MariaOptions::primary(1), PLAN)
    }

    pub fn start_with(rows: u32, old_options: MariaOptions, plan: &str) -> MysqlRun {
        let f = Fixture::new("");
        f.write_plan(
            &plan
                .replace("OLD_ADDRESS", &f.lab.host("old").address().to_string())
                .replace("NEW_ADDRESS", &f.lab.host("new").address().to_string()),
        );
        let (old, new) = std::thread::scope(|s| {
            let a = s.spawn(|| MariaServer::start(f.lab.host("old"), 3306, old_options));
            let b =
                s.spawn(|| MariaServer::start(f.lab.host("new"), 3306, MariaOptions::primary(2)));
            (a.join().expect("old"), b.join().expect("new"))
        });
        let (old, new) = (old.expect("MariaDB on old"), new.expect("MariaDB on new"));
        old.sql(&APP.replace("ROWS", &rows.to_string()))
            .expect("schema");
        MysqlRun { f, old, new }
    }

    /// `cutover ARGS` with the passwords in the environment.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.f.command(args);
        c.env("DB_PW", MariaServer::PASSWORD)
            .env("REPL_PW", "repl-pw");
        c
    }

    pub fn cutover(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().expect("run cutover"))
    }

    pub fn at(s: &MariaServer) -> SocketAddr {
        SocketAddr::new(s.address().into(), s.port())
    }

    /// A client writing on old as `app`.
    pub fn writer(&self) -> MysqlWriter {
        MysqlWriter::start(Self::at(&self.old), "app", "app-pw", "shop", 4)
    }

    /// The `(conn, n)` rows of `shop.writes` on `s`.
    pub fn writes(s: &MariaServer) -> Vec<(u64, u64)> {
        s.sql("SELECT conn, n FROM shop.writes")
            .expect("writes")
            .lines()
            .filter_map(|l| {
                let (a, b) = l.split_once('\t')?;
                Some((a.parse().ok()?, b.parse().ok()?))
            })
            .collect()
    }

    /// Every acknowledged write is on `s`.
    pub fn assert_none_lost(report: &MysqlWriterReport, s: &MariaServer, context: &str) {
        let lost = report.lost(&Self::writes(s));
        assert!(
            lost.is_empty(),
            "{context}: {} writes acknowledged, {} lost on {}: {:?}",
            report.total(),
            lost.len(),
            s.host(),
            &lost[..lost.len().min(10)]
        );
    }
}

#[test]
fn a_plan_copies_syncs_switches_and_proves_under_writes_then_rolls_back() {
    let r = MysqlRun::start(20_000);
    let writer = r.writer();
    std::thread::sleep(Duration::from_millis(300));
    let run = r.cutover(&["apply", "--yes"]);
    assert_eq!(
        run.code(),
        0,
        "{}\n{}\n{}",
        run.stdout(),
        run.stderr(),
        r.f.lab.failure_report()
    );
    // The copy's marker went with the switch (see the fresh-journal test below).
    assert!(
        run.stdout().contains("the copy's marker removed from new"),
        "{}",
        run.stdout()
    );
    assert_eq!(
        r.new.sql("SHOW DATABASES LIKE 'cutover'").unwrap().trim(),
        ""
    );
    // The application follows the switch: it writes on new from now on.
    writer.repoint(MysqlRun::at(&r.new));
    std::thread::sleep(Duration::from_millis(500));
    let done = writer.stop();
    assert!(done.total() > 50, "{done:?}");
    MysqlRun::assert_none_lost(&done, &r.new, "after the switch");

    let report = r.cutover(&["report"]).expect(0).stdout();
    assert!(report.contains("freeze_window"), "{report}");
    let proof = proof_section(&report, "prove");
    assert!(proof.contains("MATCH: 3 table(s)"), "{proof}");
    assert!(!report.contains(MariaServer::PASSWORD) && !report.contains("repl-pw"));
    assert!(!super::fixture::contains(
        &r.f.journal_bytes(),
        MariaServer::PASSWORD
    ));
    assert!(!super::fixture::contains(&r.f.journal_bytes(), "repl-pw"));

    // Rolled back: what was written on new flowed back, old takes writes, new is as before.
    let back = r.cutover(&["rollback", "--yes"]);
    assert_eq!(back.code(), 0, "{}\n{}", back.stdout(), back.stderr());
    MysqlRun::assert_none_lost(&done, &r.old, "after the rollback");
    r.old
        .shell(
            "mariadb --no-defaults -h 127.0.0.1 -uapp -papp-pw shop -e \"INSERT INTO items (name) VALUES ('after rollback')\"",
        )
        .expect("old takes the application's writes again");
    assert_eq!(
        r.new.sql("SELECT @@read_only").unwrap().trim(),
        "0",
        "new is as it was before the plan"
    );
    assert_eq!(
        r.new.sql("SHOW DATABASES LIKE 'shop'").unwrap().trim(),
        "",
        "the copy's database is dropped"
    );
    assert_eq!(
        r.new.sql("SHOW DATABASES LIKE 'cutover'").unwrap().trim(),
        "",
        "the copy's marker is removed with its database"
    );
}

/// After a switch, a run with a fresh journal (another controller, the journal lost) must not
/// find the copy in place by its marker: its sync would point the switched target, now the
/// primary, back at the source. It stops at the copy instead, and new stays the primary.
#[test]
fn a_fresh_journal_after_a_switch_stops_at_the_copy_and_new_stays_the_primary() {
    let r = MysqlRun::start(2_000);
    r.cutover(&["apply", "--yes"]).expect(0);
    r.new
        .sql("INSERT INTO shop.items (name) VALUES ('written on new after the switch')")
        .expect("new takes writes");
    r.f.reset_journal();
    let again = r.cutover(&["apply", "--yes"]);
    let text = again.stdout() + &again.stderr();
    assert_eq!(again.code(), 5, "{text}");
    assert!(text.contains("is not empty"), "{text}");
    assert_eq!(
        r.new.sql("SELECT @@read_only").unwrap().trim(),
        "0",
        "{text}"
    );
    assert_eq!(
        r.new.sql("SHOW SLAVE STATUS").unwrap().trim(),
        "",
        "new replicates from nothing: {text}"
    );
    assert_eq!(
        r.new
            .sql("SELECT COUNT(*) FROM shop.items WHERE name = 'written on new after the switch'")
            .unwrap()
            .trim(),
        "1"
    );
}

fn verify_args(r: &MysqlRun, extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "verify",
        "mysql",
        "mysql://root@127.0.0.1:3306",
        "mysql://root@127.0.0.1:3306",
        "--databases",
        "shop",
        "--source-ssh",
        "old",
        "--target-ssh",
        "new",
        "--ssh-config",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push(r.f.lab.ssh_config().display().to_string());
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

/// Objects of every kind the proof compares, made on old before the reference copy.
const OBJECTS: &str = r#"
USE shop;
CREATE TABLE files (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, data BLOB);
INSERT INTO files (data) VALUES (REPEAT(X'00FF', 64)), (X'CAFE');
INSERT INTO notes VALUES ('d', 'fourth');
CREATE TRIGGER items_name BEFORE INSERT ON items FOR EACH ROW SET NEW.name = TRIM(NEW.name);
CREATE PROCEDURE restock(IN n INT) UPDATE items SET price = price + n WHERE id = 1;
CREATE EVENT cleanup ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' DISABLE DO DELETE FROM notes WHERE code = 'zz';
"#;

/// One change of each kind the issue's mutation suite names, made after the reference copy:
/// on new (the target) except the auto-increment counter moved ahead on old.
const MUTATIONS: &[(&str, &str)] = &[
    ("new", "UPDATE shop.items SET price = 99 WHERE id = 7"),
    ("new", "DELETE FROM shop.items WHERE id = 8"),
    ("new", "INSERT INTO shop.notes VALUES ('z', 'extra')"),
    ("new", "UPDATE shop.notes SET body = '' WHERE code = 'b'"),
    ("new", "UPDATE shop.files SET data = INSERT(data, 5, 1, X'01') WHERE id = 1"),
    ("new", "USE shop; DROP TRIGGER items_name; CREATE TRIGGER items_name BEFORE INSERT ON items FOR EACH ROW SET NEW.name = UPPER(NEW.name)"),
    ("new", "DROP PROCEDURE shop.restock"),
    ("new", "CREATE OR REPLACE VIEW shop.cheap AS SELECT id, name FROM shop.items WHERE price < 2"),
    ("new", "ALTER EVENT shop.cleanup ON SCHEDULE EVERY 2 DAY STARTS '2030-01-01 00:00:00'"),
    ("old", "ALTER TABLE shop.files AUTO_INCREMENT = 1000"),
];

#[test]
fn verify_mysql_proves_a_copy_names_each_mutation_and_refuses_a_wrong_password() {
    let r = MysqlRun::start(2_000);
    r.old.sql(OBJECTS).expect("objects");
    r.new
        .shell(&format!(
            "mariadb-dump --no-defaults -h {} -uroot --single-transaction --routines --triggers --events --databases shop | mariadb --no-defaults -uroot -S {}",
            r.old.address(),
            r.new.socket()
        ))
        .expect("a reference copy by mariadb-dump");
    let run = |password: &str| {
        let args = verify_args(&r, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Run(r
            .f
            .command(&args)
            .env("MYSQL_PWD", password)
            .output()
            .expect("run"))
    };
    let ok = run(MariaServer::PASSWORD).expect(0).stdout();
    assert!(
        ok.contains("MATCH: 4 table(s), 2006 row(s) hashed on each side"),
        "{ok}"
    );

    for (host, sql) in MUTATIONS {
        let server = if *host == "old" { &r.old } else { &r.new };
        server.sql(sql).expect(sql);
    }
    let out = run(MariaServer::PASSWORD).expect(9).stdout();
    let differences: Vec<&str> = out.lines().filter(|l| l.starts_with("  ✗ ")).collect();
    // Each mutation named once (the row counts come with the missing and extra rows).
    assert_eq!(
        differences,
        [
            "  ✗ table shop.files: auto-increment behind (source next 1000, target next 3)",
            "  ✗ event shop.cleanup: definition (source: …T `cleanup` ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 00:00:00' ON COMPLETION N; target: …T `cleanup` ON SCHEDULE EVERY 2 DAY STARTS '2030-01-01 00:00:00' ON COMPLETION N)",
            "  ✗ procedure shop.restock: missing on target",
            "  ✗ trigger shop.items_name: definition (source: …s FOR EACH ROW SET NEW.name = TRIM(NEW.name); target: …s FOR EACH ROW SET NEW.name = UPPER(NEW.name))",
            "  ✗ view shop.cheap: definition (source: …here `shop`.`items`.`price` < 1; target: …here `shop`.`items`.`price` < 2)",
            "  ✗ table shop.files: row differs (id=1 in `data`)",
            "  ✗ table shop.items: row count (2000 rows on source, 1999 on target)",
            "  ✗ table shop.items: row differs (id=7 in `price`)",
            "  ✗ table shop.items: row missing on target (id=8)",
            "  ✗ table shop.notes: row count (4 rows on source, 5 on target)",
            "  ✗ table shop.notes: row differs (code=\"b\" in `body` (NULL on source, empty on target))",
            "  ✗ table shop.notes: row only on target (code=\"z\")",
        ],
        "{out}"
    );

    let denied = run("wrong-password");
    assert_eq!(denied.code(), 4, "{}\n{}", denied.stdout(), denied.stderr());
    assert_eq!(
        denied.stderr().trim(),
        "error: source: connect on root@127.0.0.1:3306: ERROR 1045 (28000): Access denied for user 'root'@'127.0.0.1' (using password: YES)\nhint: check the password of the source (its secret) and `user` (`root`), and that the server lets the account connect from the address its message names (`'root'@'ADDRESS'`)"
    );
}

/// A copy and a sync, nothing else: the sync's preflight refuses what replication needs.
const SYNC_ONLY: &str = r#"
[secrets.db]
env = "DB_PW"

[secrets.repl]
env = "REPL_PW"

[[stages]]
name = "sync"

[[stages.steps]]
id = "copy-db"
kind = "mysql.copy"
source = { host = "old", password = "{{ secrets.db }}" }
target = { host = "new", password = "{{ secrets.db }}" }
databases = ["shop"]
address = "NEW_ADDRESS"

[[stages.steps]]
id = "replicate"
kind = "mysql.sync"
copy = "copy-db"
source_address = "OLD_ADDRESS"
replication_password = "{{ secrets.repl }}"
"#;

#[test]
fn the_sync_refuses_a_source_it_cannot_replicate_with_the_fix() {
    let mut r = MysqlRun::start_with(100, MariaOptions::plain(1), SYNC_ONLY);
    let failed = |r: &MysqlRun| {
        let run = r.cutover(&["apply", "--yes"]);
        assert_eq!(run.code(), 5, "{}\n{}", run.stdout(), run.stderr());
        run.stderr()
    };
    assert_eq!(
        failed(&r),
        "error: step `replicate` failed: the source at root@127.0.0.1:3306 (agent on host `old`) has its binary log off (log_bin = OFF): replication reads the binary log\nhint: turn it on in the source's configuration and restart it: `[mysqld]` `log_bin = mysql-bin`, `server_id = 1` (unique), `binlog_format = ROW`\n"
    );

    let statement = MariaOptions {
        binlog_format: "STATEMENT".into(),
        ..MariaOptions::primary(1)
    };
    r.old
        .reconfigure(statement)
        .expect("binary log on, STATEMENT");
    assert_eq!(
        failed(&r),
        "error: step `replicate` failed: the source at root@127.0.0.1:3306 (agent on host `old`) logs in STATEMENT format: cutover replicates row images only (binlog_format = ROW)\nhint: run `SET GLOBAL binlog_format = 'ROW'` on the source, reconnect the application (sessions keep the format they started with), and set `binlog_format = ROW` in its configuration\n"
    );

    r.old
        .sql("SET GLOBAL binlog_format = 'ROW'; CREATE TABLE shop.log (at DATETIME, msg TEXT)")
        .expect("row format, a table without a key");
    assert_eq!(
        failed(&r),
        "error: step `replicate` failed: table(s) without a primary key on the source: shop.log: the target would scan the whole table for each row changed\nhint: add a primary key to each (`ALTER TABLE ... ADD PRIMARY KEY (...)`, or an invisible `id` column), or set `allow_no_primary_key = true` on the step\n"
    );

    r.old.sql("DROP TABLE shop.log").expect("drop");
    assert_eq!(
        failed(&r),
        "error: step `replicate` failed: the copy was taken while the source's binary log was off: the writes made since are in no binary log, so replication cannot start from the copy\nhint: roll the copy back (`cutover rollback`) and apply again now that the binary log is on\n"
    );
    r.cutover(&["rollback", "--yes"]).expect(0);
    r.cutover(&["apply", "--yes"]).expect(0);
}
