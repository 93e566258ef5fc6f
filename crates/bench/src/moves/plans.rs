//! The plans of the moves bench: the same sync and database switch, then either one
//! coordinated move (`proxy.switch` with `data`) or a `proxy.switch` of its own; the
//! soaking plan adds a soak after the coordinated move.

use cutover_testbed::Lab;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Which plan.
pub enum Kind {
    /// The coordinated move.
    Coordinated,
    /// The database switch, then the proxy switch.
    Separate,
    /// The coordinated move, then a soak probing `/healthz` through the proxy at `front`
    /// every 250 ms (1 s timeout), whose third failure in a row rolls the move back.
    Soaking { front: SocketAddr },
}

/// The soak stage of [`Kind::Soaking`]: the settings of the soak detection test.
fn soak(front: SocketAddr) -> String {
    format!(
        r#"
[checks.users]
kind = "http"
url = "http://{front}/healthz"
json = ['$.status == "ok"']
timeout = "1s"

[[stages]]
name = "soak"
[[stages.steps]]
id = "watch"
kind = "soak"
checks = "users"
interval = "250ms"
duration = "10m"
triggers = [{{ consecutive_failures = 3 }}]
"#
    )
}

/// Writes plan `name` of `kind` into its own directory under `dir` (its own journal) and
/// returns its path.
pub fn write(lab: &Lab, dir: &Path, name: &str, kind: Kind) -> anyhow::Result<PathBuf> {
    let plan_dir = dir.join(name);
    std::fs::create_dir_all(&plan_dir)?;
    let path = plan_dir.join("cutover.toml");
    // `drain` and `max_hold` left at their defaults (500 ms, 10 s).
    let (traffic, after) = match kind {
        Kind::Coordinated => ("data = [\"db-switch\"]", String::new()),
        Kind::Separate => ("", String::new()),
        Kind::Soaking { front } => ("data = [\"db-switch\"]", soak(front)),
    };
    let plan = format!(
        r#"name = "moves-bench-{name}"
[ssh]
config = "{ssh}"
[hosts.old]
ssh = "old"
address = "{old}"
[hosts.new]
ssh = "new"
address = "{new}"
[proxies.front]
kind = "haproxy"
host = "old"
socket = "{haproxy}/admin.sock"
backend = "app"
server = "web"

[secrets.db]
env = "DB_PW"

[[stages]]
name = "sync"
[[stages.steps]]
id = "replicate"
kind = "postgres.sync"
source = {{ host = "old", address = "127.0.0.1", db = "app", password = "{{{{ secrets.db }}}}" }}
target = {{ host = "new", address = "127.0.0.1", db = "app", password = "{{{{ secrets.db }}}}" }}
source_address = "{{{{ hosts.old.address }}}}"

[[stages]]
name = "switch"
[[stages.steps]]
id = "db-switch"
kind = "postgres.switch"
sync = "replicate"
reverse = true
max_wait = "3s"
[[stages.steps]]
id = "move"
kind = "proxy.switch"
proxy = "front"
to = "{{{{ hosts.new.address }}}}:8080"
health_path = "/healthz"
{traffic}
{after}"#,
        ssh = lab.ssh_config().display(),
        old = lab.host("old").address(),
        new = lab.host("new").address(),
        haproxy = cutover_testbed::proxy::HAPROXY_DIR,
    );
    std::fs::write(&path, plan)?;
    Ok(path)
}
