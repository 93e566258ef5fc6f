//! Shared setup: a lab, Redis/Valkey servers on its hosts, an executor reaching them over
//! SSH (redacting the servers' password), the agent binary, and the step options.

use cutover_data::agent::AgentBinary;
use cutover_data::redis::{Endpoint, Pair, SwitchOptions, SyncOptions};
use cutover_exec::{Executor, Redactor, SecretValue, SshTarget, Target};
use cutover_testbed::{Lab, RedisOptions, RedisServer, RedisVersion};
use std::collections::HashMap;
use std::time::Duration;

pub fn agent() -> AgentBinary {
    AgentBinary {
        path: env!("CARGO_BIN_EXE_cutover-files-agent").into(),
        args: Vec::new(),
    }
}

/// An executor over real SSH to the lab's `old` and `new` (and the controller as `local`).
pub fn executor(lab: &Lab) -> Executor {
    let pw = SecretValue::new(RedisServer::PASSWORD.into());
    let redactor = Redactor::new([("redis_password", &pw)]);
    let mut targets: HashMap<String, Target> = ["old", "new"]
        .map(|h| {
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
        })
        .into_iter()
        .collect();
    targets.insert("local".into(), Target::Local);
    Executor::new(targets, redactor)
}

/// A lab with `old_version` on `old` and `new_version` on `new` (both port 6379).
pub fn servers(
    old_version: RedisVersion,
    new_version: RedisVersion,
    old_options: RedisOptions,
    new_options: RedisOptions,
) -> (Lab, RedisServer, RedisServer) {
    let lab = Lab::start().expect("lab");
    let old = RedisServer::start(lab.host("old"), old_version, 6379, old_options).expect("old");
    let new = RedisServer::start(lab.host("new"), new_version, 6379, new_options).expect("new");
    (lab, old, new)
}

/// The server as its own host reaches it, with the password.
pub fn endpoint(r: &RedisServer) -> Endpoint {
    let mut e = Endpoint::new(r.host(), "127.0.0.1");
    e.port = r.port();
    e.password = Some(SecretValue::new(RedisServer::PASSWORD.into()));
    e
}

pub async fn pair(lab: &Lab, old: &RedisServer, new: &RedisServer) -> Pair {
    Pair::open(&executor(lab), &agent(), &endpoint(old), &endpoint(new))
        .await
        .expect("agents")
}

pub fn sync_options(old: &RedisServer) -> SyncOptions {
    SyncOptions {
        source_address: old.address().to_string(),
        timeout: Duration::from_secs(120),
        link_timeout: Duration::from_secs(20),
        ..SyncOptions::default()
    }
}

pub fn switch_options(old: &RedisServer, new: &RedisServer) -> SwitchOptions {
    SwitchOptions {
        sync: sync_options(old),
        target_address: new.address().to_string(),
        reverse: true,
        max_wait: Duration::from_secs(10),
        clients: None,
        clients_timeout: Duration::from_secs(30),
    }
}

/// Progress lines kept for assertions.
#[derive(Default)]
pub struct Lines(pub std::sync::Mutex<Vec<String>>);

impl Lines {
    pub fn push(&self, line: String) {
        self.0.lock().unwrap().push(line);
    }

    pub fn all(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

/// Loads the mixed dataset's keys `range` into `r`.
pub fn seed(r: &RedisServer, range: std::ops::Range<u64>) {
    r.pipe(&cutover_testbed::redis_data::mixed(range))
        .expect("seed");
}

/// The server's address for the writer.
pub fn addr(r: &RedisServer) -> std::net::SocketAddr {
    std::net::SocketAddr::from((r.address(), r.port()))
}
