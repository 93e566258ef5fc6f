//! Shared setup: a lab, MariaDB servers on its hosts, an executor reaching them over SSH, the
//! agent binary, and a database that uses every kind of object and value a copy must carry.

use cutover_data::agent::AgentBinary;
use cutover_data::mysql::Endpoint;
use cutover_exec::{Executor, Redactor, SecretValue, SshTarget, Target};
use cutover_testbed::{Lab, MariaOptions, MariaServer};
use std::collections::HashMap;

/// The agent binary uploaded to the hosts.
pub fn agent() -> AgentBinary {
    AgentBinary {
        path: env!("CARGO_BIN_EXE_cutover-files-agent").into(),
        args: Vec::new(),
    }
}

/// An executor over real SSH to the lab's `old` and `new`, redacting the servers' password.
pub fn executor(lab: &Lab) -> Executor {
    let pw = SecretValue::new(MariaServer::PASSWORD.into());
    let redactor = Redactor::new([("mysql_password", &pw)]);
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

/// The endpoint of `db`'s server, reached from its own host over TCP as root with the
/// password (so the secret path is exercised).
pub fn endpoint(db: &MariaServer) -> Endpoint {
    let mut e = Endpoint::new(db.host(), "127.0.0.1");
    e.port = db.port();
    e.password = Some(SecretValue::new(MariaServer::PASSWORD.into()));
    e
}

/// A lab with MariaDB on `old` (server id 1) and `new` (server id 2), both with the binary
/// log on in ROW format, port 3306.
pub fn servers() -> (Lab, MariaServer, MariaServer) {
    let lab = Lab::start().expect("lab");
    let (old, new) = std::thread::scope(|s| {
        let a = s.spawn(|| MariaServer::start(lab.host("old"), 3306, MariaOptions::primary(1)));
        let b = s.spawn(|| MariaServer::start(lab.host("new"), 3306, MariaOptions::primary(2)));
        (a.join().expect("old"), b.join().expect("new"))
    });
    (
        lab,
        old.expect("MariaDB on old"),
        new.expect("MariaDB on new"),
    )
}

/// A database with every kind of object and awkward values: every column type class,
/// NULLs next to empty strings, bytes that are structure in `LOAD DATA` text, a FLOAT that
/// 6 digits would round, a generated column, a table keyed by text, one without a key, a
/// view over a view, a function, a procedure, a trigger, an event, an account.
pub const SCHEMA: &str = r#"
CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
USE shop;
CREATE TABLE customers (
  id INT NOT NULL AUTO_INCREMENT,
  name VARCHAR(100) NOT NULL,
  email VARCHAR(200) NULL,
  PRIMARY KEY (id),
  UNIQUE KEY email (email)
) ENGINE=InnoDB;
CREATE TABLE orders (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  customer INT NOT NULL,
  status ENUM('new','paid','sent') NOT NULL DEFAULT 'new',
  flags SET('gift','rush') NULL,
  total DECIMAL(12,2) NULL,
  ratio FLOAT NULL,
  score DOUBLE NULL,
  note TEXT NULL,
  payload BLOB NULL,
  created DATETIME(6) NULL,
  seen TIMESTAMP NULL DEFAULT NULL,
  day DATE NULL,
  dur TIME(3) NULL,
  yr YEAR NULL,
  bits BIT(12) NULL,
  doc JSON NULL,
  total_x2 DECIMAL(13,2) AS (total * 2) VIRTUAL,
  PRIMARY KEY (id),
  KEY by_customer (customer),
  KEY by_created (created, status),
  CONSTRAINT fk_customer FOREIGN KEY (customer) REFERENCES customers (id)
) ENGINE=InnoDB;
CREATE TABLE `odd name``s` (code VARCHAR(20) NOT NULL, v LONGTEXT, PRIMARY KEY (code)) ENGINE=InnoDB;
CREATE TABLE log (at DATETIME NULL, msg VARCHAR(100) NULL) ENGINE=InnoDB;
INSERT INTO customers (name, email) SELECT CONCAT('customer ', seq, IF(seq % 7 = 0, ' ☃', '')), IF(seq % 5 = 0, NULL, CONCAT('c', seq, '@example.com')) FROM seq_1_to_200;
INSERT INTO orders (customer, status, flags, total, ratio, score, note, payload, created, seen, day, dur, yr, bits, doc)
SELECT 1 + seq % 200, ELT(1 + seq % 3, 'new', 'paid', 'sent'), IF(seq % 4 = 0, 'gift,rush', NULL),
       seq * 1.25, 1.2345678 * seq, 1e300 / seq, IF(seq % 3 = 0, NULL, IF(seq % 3 = 1, '', CONCAT('note\t', seq, '\nline \\ 2'))),
       IF(seq % 2 = 0, UNHEX(CONCAT('00090A5C4E', HEX(seq))), NULL), '2024-01-01 00:00:00' + INTERVAL seq SECOND + INTERVAL 123456 MICROSECOND,
       IF(seq % 2 = 0, '2024-06-01 12:00:00', NULL), '2024-01-01' + INTERVAL seq DAY, IF(seq % 2 = 0, '-838:59:58.125', '00:00:01.5'),
       2000 + seq % 100, seq % 4096, JSON_OBJECT('n', seq, 's', 'x"y')
FROM seq_1_to_5000;
INSERT INTO `odd name``s` VALUES ('a', REPEAT('x', 70000)), ('b\'c', NULL), ('', '');
INSERT INTO log VALUES ('2024-01-01 00:00:00', 'one'), ('2024-01-01 00:00:00', 'one'), (NULL, NULL);
CREATE VIEW big_orders AS SELECT id, customer, total FROM orders WHERE total > 100;
CREATE VIEW big_customers AS SELECT DISTINCT customer FROM big_orders;
CREATE FUNCTION double_it(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
DELIMITER //
CREATE PROCEDURE touch(IN c INT) BEGIN UPDATE customers SET name = CONCAT(name, '') WHERE id = c; END//
DELIMITER ;
CREATE TRIGGER orders_bi BEFORE INSERT ON orders FOR EACH ROW SET NEW.note = COALESCE(NEW.note, 'none');
CREATE EVENT purge_log ON SCHEDULE EVERY 1 DAY STARTS '2026-01-01 00:00:00' DO DELETE FROM log WHERE at < NOW() - INTERVAL 30 DAY;
CREATE USER 'app'@'%' IDENTIFIED BY 'app-pw';
GRANT SELECT, INSERT, UPDATE, DELETE ON shop.* TO 'app'@'%';
"#;

/// A dump of `db` that two equal databases print alike (the counter of AUTO_INCREMENT aside).
pub fn dump(server: &MariaServer, db: &str) -> String {
    let out = server
        .shell(&format!(
            "mariadb-dump --no-defaults -uroot -S {} --skip-dump-date --skip-comments --single-transaction --routines --triggers --events --hex-blob {db}",
            server.socket()
        ))
        .expect("mariadb-dump");
    out.lines()
        .map(|l| match l.find(" AUTO_INCREMENT=") {
            Some(i) => {
                let rest = &l[i + 16..];
                let end = rest.find(' ').unwrap_or(rest.len());
                format!("{}{}", &l[..i], &rest[end..])
            }
            None => l.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails naming the first lines where two texts differ (dumps are too long to print whole).
pub fn assert_same(what: &str, a: &str, b: &str) {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    let cut = |l: &str| l.chars().take(300).collect::<String>();
    for (i, (x, y)) in la.iter().zip(&lb).enumerate() {
        if x != y {
            panic!(
                "{what}: line {} differs\n source: {}\n target: {}",
                i + 1,
                cut(x),
                cut(y)
            );
        }
    }
    assert_eq!(la.len(), lb.len(), "{what}: line counts differ");
}
