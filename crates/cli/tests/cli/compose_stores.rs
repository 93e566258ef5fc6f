//! Stores inside containers (`container = "NAME"` on `redis.*` and `mysql.*` endpoints): the
//! server runs in a Compose stack on old and moves out of Compose to a plain server on new,
//! under a writer, with no acknowledged write lost. The agents stay on the hosts and reach
//! the container through its published port; the new server replicates from that port too.

use crate::compose_fixture::{DockerLab, PlanDir};
use crate::fixture::contains;
use cutover_testbed::{
    missing_writes, store_images, RedisOptions, RedisServer, RedisVersion, RedisWriter,
};
use std::net::SocketAddr;

const REDIS_PLAN: &str = r#"[secrets.redis]
env = "REDIS_PW"
[[stages]]
name = "sync"
[[stages.steps]]
id = "replicate"
kind = "redis.sync"
source = { host = "old", container = "shop-redis-1", password = "{{ secrets.redis }}" }
target = { host = "new", password = "{{ secrets.redis }}" }
[[stages]]
name = "switch"
[[stages.steps]]
id = "promote"
kind = "redis.switch"
sync = "replicate"
max_wait = "5s"
[[stages.steps]]
id = "prove"
kind = "redis.verify"
source = { host = "old", container = "shop-redis-1", password = "{{ secrets.redis }}" }
target = { host = "new", password = "{{ secrets.redis }}" }
"#;

/// A compose project `shop` on `host` with one `redis` service, `ports` its published
/// ports (compose syntax, e.g. `["6379:6379"]`), started and healthy.
fn redis_stack(d: &DockerLab, host: &str, ports: &str) {
    store_images::redis(d.lab.host(host), d.docker(host), "redis:7").expect("redis image");
    let compose = format!(
        "services:\n  redis:\n    image: redis:7\n    ports: {ports}\n    environment:\n      REDIS_PASSWORD: {}\n",
        RedisServer::PASSWORD
    );
    let dir = d.lab.host(host).fs_path("/srv/shop");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("compose.yaml"), compose).expect("write compose file");
    d.docker(host)
        .shell("cd /srv/shop && docker compose -p shop up -d --wait --wait-timeout 60")
        .expect("compose up");
}

/// `redis-cli ARGS` inside the container (the password from its environment).
fn in_container(d: &DockerLab, host: &str, args: &str) -> String {
    d.docker(host)
        .docker(&format!(
            "exec shop-redis-1 sh -c 'REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli {args}'"
        ))
        .expect("redis-cli in the container")
        .trim()
        .to_string()
}

fn run(plan: &PlanDir, args: &[&str]) -> crate::fixture::Run {
    plan.run(args, &[("REDIS_PW", RedisServer::PASSWORD)])
}

#[test]
fn a_redis_in_a_container_moves_out_of_compose_under_writes_losing_no_write() {
    let d = DockerLab::start(&["old"]);
    // Published on another port than the server's: every step must look it up.
    redis_stack(&d, "old", r#"["16379:6379"]"#);
    in_container(&d, "old", "HSET seeded a 1 b 2");
    let new = RedisServer::start(
        d.lab.host("new"),
        RedisVersion::Redis70,
        6379,
        RedisOptions::default(),
    )
    .expect("new");
    let plan = d.plan(REDIS_PLAN, &[]);
    let shown = run(&plan, &["plan"]).expect(0).stdout();
    assert!(
        shown.contains(
            "replicate container shop-redis-1:6379 (agent on old) into 127.0.0.1:6379 (agent on new)"
        ),
        "{shown}"
    );

    let old_port = SocketAddr::from((d.lab.host("old").address(), 16379));
    let new_addr = SocketAddr::from((new.address(), new.port()));
    let writer = RedisWriter::start(old_port, RedisServer::PASSWORD, 2, "w");
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = run(&plan, &["apply", "--yes"]).expect(0).stdout();
    let written = writer.stop();
    assert!(written.total() > 50, "{written:?}");
    let missing = missing_writes(&written, new_addr, RedisServer::PASSWORD, "w").unwrap();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    assert!(out.contains("ok prove"), "{out}");
    assert_eq!(new.cli(&["HGET", "seeded", "b"]).unwrap().trim(), "2");
    assert_eq!(
        new.info_field("replication", "role").unwrap().as_deref(),
        Some("master")
    );
    // The container's server follows new (the switch's reverse), through the lab network.
    assert!(
        in_container(&d, "old", "INFO replication").contains("role:slave"),
        "the source follows the target after the switch"
    );
    // `cutover status` looks into the container too, for what the switch left running.
    let status = run(&plan, &["status"]).expect(0).stdout();
    assert!(status.contains("old: follows new (REPLICAOF)"), "{status}");
    assert!(!contains(&plan.journal_bytes(), RedisServer::PASSWORD));
}

/// The other way: a plain server on old moved into a Compose stack on new (the target in a
/// container, replicating from old through the Docker network's NAT; old then follows the
/// container's published port).
#[test]
fn a_redis_moves_into_a_compose_container_under_writes_losing_no_write() {
    let d = DockerLab::start(&["new"]);
    redis_stack(&d, "new", r#"["16379:6379"]"#);
    let old = RedisServer::start(
        d.lab.host("old"),
        RedisVersion::Redis70,
        6379,
        RedisOptions::default(),
    )
    .expect("old");
    old.cli(&["HSET", "seeded", "a", "1", "b", "2"]).unwrap();
    let plan = d.plan(
        &REDIS_PLAN
            .replace(
                r#"source = { host = "old", container = "shop-redis-1","#,
                r#"source = { host = "old","#,
            )
            .replace(
                r#"target = { host = "new","#,
                r#"target = { host = "new", container = "shop-redis-1","#,
            ),
        &[],
    );
    let writer = RedisWriter::start(
        SocketAddr::from((old.address(), old.port())),
        RedisServer::PASSWORD,
        2,
        "w",
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    let out = run(&plan, &["apply", "--yes"]).expect(0).stdout();
    let written = writer.stop();
    assert!(written.total() > 50, "{written:?}");
    let published = SocketAddr::from((d.lab.host("new").address(), 16379));
    let missing = missing_writes(&written, published, RedisServer::PASSWORD, "w").unwrap();
    assert!(missing.is_empty(), "acknowledged writes lost: {missing:?}");
    assert!(out.contains("ok prove"), "{out}");
    assert_eq!(in_container(&d, "new", "HGET seeded b"), "2");
    assert!(in_container(&d, "new", "INFO replication").contains("role:master"));
    assert_eq!(
        old.info_field("replication", "role").unwrap().as_deref(),
        Some("slave"),
        "old follows the container on new after the switch"
    );
}

#[test]
fn a_redis_container_without_a_published_port_is_verified_but_not_replicated_from_afar() {
    let d = DockerLab::start(&["old"]);
    redis_stack(&d, "old", "[]");
    in_container(&d, "old", "SET only-here 1");
    let _new = RedisServer::start(
        d.lab.host("new"),
        RedisVersion::Redis70,
        6379,
        RedisOptions::default(),
    )
    .expect("new");
    // The agent on old reaches the container at its own address: the proof runs and finds
    // the difference. A probe runs `redis-cli` inside the container.
    let proof = d.plan(
        r#"[secrets.redis]
env = "REDIS_PW"
[checks.cache]
kind = "redis"
host = "old"
container = "shop-redis-1"
query = "GET only-here"
expect = '== "1"'
env = { REDISCLI_AUTH = "{{ secrets.redis }}" }
[[stages]]
name = "s"
[[stages.steps]]
id = "probe"
kind = "check"
checks = ["cache"]
[[stages.steps]]
id = "prove"
kind = "redis.verify"
source = { host = "old", container = "shop-redis-1", password = "{{ secrets.redis }}" }
target = { host = "new", password = "{{ secrets.redis }}" }
"#,
        &[],
    );
    let out = run(&proof, &["apply", "--yes"]).expect(9);
    assert!(out.stderr().contains("only-here"), "{}", out.stderr());
    assert!(
        out.stdout().contains("1 check(s) passed: cache"),
        "{}",
        out.stdout()
    );

    // The server on new cannot reach it: said before anything changes.
    let sync = d.plan(REDIS_PLAN, &[]);
    let out = run(&sync, &["apply", "--yes", "--until", "sync"]).expect(5);
    assert_eq!(
        out.stderr().lines().next().unwrap_or_default(),
        "error: step `replicate` failed: the server on the other host cannot reach container `shop-redis-1` on old: it publishes no port for 6379/tcp; publish the port on an address other hosts reach (compose `ports: [\"6379:6379\"]`), or set `source_address` to an address the other server reaches it at"
    );
    // A missing container is named.
    let gone = d.plan(&REDIS_PLAN.replace("shop-redis-1", "shop-cache-1"), &[]);
    let out = run(&gone, &["apply", "--yes", "--until", "sync"]).expect(5);
    assert_eq!(
        out.stderr().lines().next().unwrap_or_default(),
        "error: step `replicate` failed: container `shop-cache-1` does not exist on old: check its name with `docker ps` (compose names containers PROJECT-SERVICE-1)"
    );
}

/// `check --offline` refuses what `container` cannot honour on an endpoint, at its place in
/// the file, with no host contacted.
#[test]
fn check_offline_refuses_an_address_or_socket_beside_container_at_its_place() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("cutover.toml"),
        r#"name = "m"
[hosts.old]
ssh = "old"
[hosts.new]
ssh = "new"
[[stages]]
name = "s"
[[stages.steps]]
id = "cache"
kind = "redis.verify"
source = { host = "old", container = "shop-redis-1", address = "127.0.0.1" }
target = { host = "new" }
[[stages.steps]]
id = "db"
kind = "mysql.verify"
source = { host = "old", container = "shop-db-1", socket = "/run/mysqld/mysqld.sock" }
target = { host = "new" }
databases = ["shop"]
"#,
    )
    .expect("write plan");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"))
        .current_dir(dir.path())
        .args(["-f", "cutover.toml", "check", "--offline"])
        .env("NO_COLOR", "1")
        .output()
        .expect("run cutover");
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    let said: Vec<&str> = err
        .lines()
        .filter(|l| l.starts_with("  × ") || l.contains("╭─["))
        .collect();
    assert_eq!(
        said,
        [
            "  × `address` of `source` of step `cache` cannot be used with `container`: the server's address is the container's (its published port, else its own address)",
            "    ╭─[cutover.toml:11:65]",
            "  × `socket` of `source` of step `db` cannot be used with `container`: a socket inside the container is out of the agent's reach on the host",
            "    ╭─[cutover.toml:16:61]",
        ],
        "{err}"
    );
    assert!(
        err.ends_with("error: cutover.toml has 2 problems\n"),
        "{err}"
    );
}
