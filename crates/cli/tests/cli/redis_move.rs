//! A `redis.switch` carried by a coordinated move (`proxy.switch` with `data`): the writes
//! move to new with the users' traffic, and the soak's automatic rollback is the same move
//! backwards, giving old its role back with the writes made on new.

use super::redis::role;
use super::soak::{cutover, get, haproxy_plan_header, setup};
use crate::fixture::Run;
use cutover_testbed::{RedisOptions, RedisServer, RedisVersion};

fn plan(lab: &cutover_testbed::Lab) -> String {
    let header = haproxy_plan_header(lab, "redis-move-test");
    format!(
        r#"{header}
[secrets.redis]
env = "REDIS_PW"

[[stages]]
name = "sync"
[[stages.steps]]
id = "replicate"
kind = "redis.sync"
source = {{ host = "old", password = "{{{{ secrets.redis }}}}" }}
target = {{ host = "new", password = "{{{{ secrets.redis }}}}" }}
source_address = "{{{{ hosts.old.address }}}}"

[[stages]]
name = "switch"
[[stages.steps]]
id = "redis-switch"
kind = "redis.switch"
sync = "replicate"
target_address = "{{{{ hosts.new.address }}}}"
max_wait = "3s"
[[stages.steps]]
id = "move"
kind = "proxy.switch"
proxy = "front"
to = "{{{{ hosts.new.address }}}}:8080"
health = "/healthz"
data = ["redis-switch"]
max_hold = "8s"
drain = "200ms"

[checks.canary]
kind = "command"
host = "new"
command = "test ! -e /tmp/break"

[[stages]]
name = "soak"
[[stages.steps]]
id = "watch"
kind = "soak"
checks = "canary"
interval = "500ms"
duration = "4s"
triggers = [{{ consecutive_failures = 2 }}]
"#
    )
}

#[test]
fn a_redis_switch_moves_with_the_traffic_and_back_with_the_writes_made_on_new() {
    let s = setup();
    let start = |host: &str| {
        RedisServer::start(
            s.lab.host(host),
            RedisVersion::Redis70,
            6379,
            RedisOptions::default(),
        )
        .expect(host)
    };
    let (old, new) = (start("old"), start("new"));
    old.pipe(&cutover_testbed::redis_data::mixed(0..500))
        .expect("seed");
    let plan_path = s.dir.path().join("cutover.toml");
    std::fs::write(&plan_path, plan(&s.lab)).unwrap();
    let run = |args: &[&str]| {
        let mut c = cutover(&plan_path, args);
        c.env("REDIS_PW", RedisServer::PASSWORD);
        Run(c.output().expect("run cutover"))
    };
    run(&["apply", "--yes", "--until", "sync"]).expect(0);
    assert_eq!(role(&new), "slave");

    let out = run(&["apply", "--yes", "--until", "switch"]).expect(0);
    let text = out.stdout();
    assert!(text.contains("with redis-switch in one move"), "{text}");
    assert!(get(s.front.listen, "/").contains("hello from new"));
    assert_eq!((role(&old), role(&new)), ("slave".into(), "master".into()));
    new.cli(&["SET", "made-on-new", "1"])
        .expect("new takes writes");

    // The soak fires and rolls the move back by itself: redis.switch undone with the proxy.
    s.lab
        .host("new")
        .exec_ok("touch /tmp/break")
        .expect("break");
    let out = run(&["apply", "--yes"]).expect(5);
    let text = out.stdout() + &out.stderr();
    assert!(text.contains("trigger fired"), "{text}");
    assert!(
        text.contains("with redis-switch undone in one move"),
        "{text}"
    );
    assert!(get(s.front.listen, "/").contains("hello from old"));
    assert_eq!((role(&old), role(&new)), ("master".into(), "slave".into()));
    assert_eq!(old.cli(&["GET", "made-on-new"]).expect("get").trim(), "1");
    old.cli(&["SET", "after-the-rollback", "1"])
        .expect("old takes writes again");
}
