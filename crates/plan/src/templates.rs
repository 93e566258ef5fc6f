//! Starter plans written by `cutover init --template NAME`; each is a commented plan that a
//! test parses, so they never drift from the plan types.

/// A starter plan: its name, a one-line summary and its text.
pub struct StarterPlan {
    /// Name given to `--template`.
    pub name: &'static str,
    /// What it sets up.
    pub summary: &'static str,
    /// The plan file's text.
    pub text: &'static str,
}

/// Every starter plan.
pub const TEMPLATES: &[StarterPlan] = &[
    StarterPlan {
        name: "basic",
        summary: "preflight checks on two hosts, a streamed copy, an approval gate and a wait",
        text: include_str!("../templates/basic.toml"),
    },
    StarterPlan {
        name: "blue-green",
        summary: "start on new with a health gate, pinned probes and a smoke scenario before traffic moves, a proxy switch, a soak that rolls back by itself",
        text: include_str!("../templates/blue-green.toml"),
    },
    StarterPlan {
        name: "blue-green-compose",
        summary: "a blue/green release of a Docker Compose app: the new colour next to the live one, gated on its healthchecks and /readyz, the proxy switched, a soak that switches straight back, then the old colour retired",
        text: include_str!("../templates/blue-green-compose.toml"),
    },
    StarterPlan {
        name: "compose",
        summary: "a Docker Compose stack moved to a new host: images host to host, named volumes and the database in its container, the stack up and gated, the proxy switched, a soak watching the app's logs",
        text: include_str!("../templates/compose.toml"),
    },
    StarterPlan {
        name: "dns",
        summary: "lower DNS TTLs and wait them out, switch A records in one atomic change, verify at every authoritative server, raise TTLs",
        text: include_str!("../templates/dns.toml"),
    },
    StarterPlan {
        name: "files",
        summary: "an initial host-to-host file sync and its proof while old serves, then the final incremental sync and proof at the switch",
        text: include_str!("../templates/files.toml"),
    },
    StarterPlan {
        name: "mysql",
        summary: "MariaDB/MySQL on old to new: a consistent parallel copy, replication from its GTID position, an approval, a short write freeze with reverse replication for rollback, then rows and definitions proven",
        text: include_str!("../templates/mysql.toml"),
    },
    StarterPlan {
        name: "postgres",
        summary: "PostgreSQL 16 on old to 18 on new by logical replication: lag watched, an approval, a short write freeze with a reverse subscription for rollback, then row counts and checksums proven",
        text: include_str!("../templates/postgres.toml"),
    },
    StarterPlan {
        name: "redis",
        summary: "Redis on old to Valkey or a newer Redis on new by replication: lag watched, an approval, a short write pause with old following new for rollback, then every key proven",
        text: include_str!("../templates/redis.toml"),
    },
    StarterPlan {
        name: "proxy",
        summary: "start on new, switch a reverse proxy (HAProxy, Caddy or nginx) to it once healthy, roll back in one step",
        text: include_str!("../templates/proxy.toml"),
    },
];

/// The starter plan named `name`.
pub fn template(name: &str) -> Option<&'static StarterPlan> {
    TEMPLATES.iter().find(|t| t.name == name)
}
