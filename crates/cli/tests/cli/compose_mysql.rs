//! A MariaDB server inside a Compose container on old (`container = "shop-db-1"` on the
//! `mysql.*` endpoints), moved out of Compose to a plain server on new under a client
//! writing all along: copy, sync, switch with reverse replication, proof; no acknowledged
//! write lost. The agents stay on the hosts and reach the container through its published
//! port, which is also where new's server replicates from.

use crate::compose_fixture::DockerLab;
use crate::fixture::{contains, proof_section};
use crate::mysql::{MysqlRun, APP};
use cutover_testbed::{store_images, MariaOptions, MariaServer, MysqlWriter};
use std::time::{Duration, Instant};

/// The port the container publishes for MariaDB's 3306.
const PUBLISHED: u16 = 13306;

const PLAN: &str = r#"[secrets.db]
env = "DB_PW"
[secrets.repl]
env = "REPL_PW"
[[stages]]
name = "sync"
[[stages.steps]]
id = "copy-db"
kind = "mysql.copy"
source = { host = "old", container = "shop-db-1", password = "{{ secrets.db }}" }
target = { host = "new", password = "{{ secrets.db }}" }
databases = ["shop"]
users = true
[[stages.steps]]
id = "replicate"
kind = "mysql.sync"
copy = "copy-db"
replication_password = "{{ secrets.repl }}"
max_behind = 5
[[stages]]
name = "switch"
[[stages.steps]]
id = "promote"
kind = "mysql.switch"
sync = "replicate"
reverse = true
[[stages]]
name = "verify"
[[stages.steps]]
id = "prove"
kind = "mysql.verify"
source = { host = "old", container = "shop-db-1", password = "{{ secrets.db }}" }
target = { host = "new", password = "{{ secrets.db }}" }
databases = ["shop"]
"#;

/// The server `db` (stopped here) run again in container `shop-db-1` of a compose project
/// on its host, on the same data directory, its port published as [`PUBLISHED`] (another
/// port, so that every step must look it up); `sql` through its socket (in the mounted
/// directory) works as before.
fn into_container(d: &DockerLab, mut db: MariaServer) -> MariaServer {
    let host = d.lab.host("old");
    store_images::mariadb(host, d.docker("old"), "mariadb:10.11").expect("mariadb image");
    db.stop().expect("stop the host's server");
    let args: Vec<String> = db
        .server_args()
        .into_iter()
        .filter(|a| a != "--user=mysql")
        .map(|a| format!("\"{a}\""))
        .collect();
    let dir = db.socket().trim_end_matches("/mysqld.sock").to_string();
    let ids = d
        .docker("old")
        .shell("echo $(id -u mysql):$(id -g mysql)")
        .expect("mysql ids");
    let compose = format!(
        "services:\n  db:\n    image: mariadb:10.11\n    user: \"{}\"\n    ports: [\"{PUBLISHED}:{port}\"]\n    volumes: [\"{dir}:{dir}\"]\n    command: [\"mariadbd\", {}]\n",
        ids.trim(),
        args.join(", "),
        port = db.port(),
    );
    let project = host.fs_path("/srv/shop");
    std::fs::create_dir_all(&project).expect("mkdir");
    std::fs::write(project.join("compose.yaml"), compose).expect("write compose file");
    d.docker("old")
        .shell("cd /srv/shop && docker compose -p shop up -d")
        .expect("compose up");
    let started = Instant::now();
    while db.sql("SELECT 1").is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "MariaDB in its container never answered: {}",
            d.sh("old", "logs shop-db-1")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    db
}

#[test]
fn a_mariadb_in_a_container_moves_out_of_compose_under_writes_losing_no_write() {
    let d = DockerLab::start(&["old"]);
    let (old, new) = std::thread::scope(|s| {
        let a = s.spawn(|| MariaServer::start(d.lab.host("old"), 3306, MariaOptions::primary(1)));
        let b = s.spawn(|| MariaServer::start(d.lab.host("new"), 3306, MariaOptions::primary(2)));
        (a.join().expect("old"), b.join().expect("new"))
    });
    let (old, new) = (old.expect("MariaDB on old"), new.expect("MariaDB on new"));
    old.sql(&APP.replace("ROWS", "5000")).expect("schema");
    let old = into_container(&d, old);

    let plan = d.plan(PLAN, &[]);
    let env = [("DB_PW", MariaServer::PASSWORD), ("REPL_PW", "repl-pw")];
    let shown = plan.run(&["plan"], &env).expect(0).stdout();
    assert!(
        shown.contains("root@container shop-db-1:3306 (agent on old)"),
        "{shown}"
    );
    let published = std::net::SocketAddr::from((old.address(), PUBLISHED));
    let writer = MysqlWriter::start(published, "app", "app-pw", "shop", 4);
    std::thread::sleep(Duration::from_millis(300));
    let out = plan.run(&["apply", "--yes"], &env).expect(0).stdout();
    // The application follows the switch: it writes on new from now on.
    writer.repoint(MysqlRun::at(&new));
    std::thread::sleep(Duration::from_millis(500));
    let done = writer.stop();
    assert!(done.total() > 50, "{done:?}");
    MysqlRun::assert_none_lost(&done, &new, "after the switch");
    assert!(out.contains("ok prove"), "{out}");

    let report = plan.run(&["report"], &env).expect(0).stdout();
    let proof = proof_section(&report, "prove");
    assert!(proof.contains("MATCH: 3 table(s)"), "{proof}");
    // The container's server replicates from new (the switch's reverse).
    assert!(
        old.sql("SHOW SLAVE STATUS").unwrap().contains("Yes"),
        "old follows new after the switch"
    );
    assert!(!contains(&plan.journal_bytes(), MariaServer::PASSWORD));
}
