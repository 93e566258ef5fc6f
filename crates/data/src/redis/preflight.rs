//! Before anything is touched: can the target replicate from the source, and can the switch
//! and its rollback run later? Refused with the fix: versions without `CLIENT PAUSE WRITE`,
//! a target that cannot load the source's RDB format, a source that is itself a replica, a
//! target already replicating from elsewhere, a target holding data (unless `replace`),
//! commands renamed or disabled that the sync, the switch or their undo need, a target whose
//! `maxmemory` is below the source's used memory, or with fewer databases than the source
//! uses. Warned about: eviction policies and persistence settings that differ.

use super::error::RedisError;
use super::info::{Role, State};

/// Commands the source must know under their own names, and what for.
pub const SOURCE_COMMANDS: &[(&str, &str)] = &[
    ("CONFIG", "read the settings checked here and set the reverse replication's credentials"),
    ("CLIENT", "pause writes at the switch (CLIENT PAUSE ... WRITE)"),
    ("REPLICAOF", "follow the new server after the switch (reverse replication) and get its role back on rollback"),
    ("PSYNC", "let the target replicate from it"),
];

/// Commands the target must know under their own names, and what for.
pub const TARGET_COMMANDS: &[(&str, &str)] = &[
    ("CONFIG", "set the credentials it replicates with"),
    (
        "REPLICAOF",
        "follow the source, and become the primary at the switch",
    ),
    ("CLIENT", "pause writes when a rollback switches back"),
    (
        "FLUSHALL",
        "remove the copied keys when the sync is rolled back",
    ),
];

/// The names of `list`.
pub fn names(list: &[(&'static str, &'static str)]) -> Vec<&'static str> {
    list.iter().map(|(n, _)| *n).collect()
}

/// What the checks found.
#[derive(Debug, Clone, Default)]
pub struct Findings {
    /// Problems that refuse the sync: (problem, hint).
    pub problems: Vec<(String, String)>,
    /// Differences worth knowing that do not stop it.
    pub warnings: Vec<String>,
}

impl Findings {
    fn refuse(&mut self, problem: String, hint: impl Into<String>) {
        self.problems.push((problem, hint.into()));
    }

    /// The first problem as an error (every problem is listed in it), or `Ok`.
    pub fn into_result(self) -> Result<Vec<String>, RedisError> {
        let mut problems = self.problems.into_iter();
        let Some((problem, hint)) = problems.next() else {
            return Ok(self.warnings);
        };
        let rest: Vec<String> = problems.map(|(p, h)| format!("\n{p}\nhint: {h}")).collect();
        Err(RedisError::precondition(
            problem,
            format!("{hint}{}", rest.concat()),
        ))
    }
}

/// Checks the pair for a sync from `source` into `target`, the target reaching the source at
/// `source_address:port`.
pub fn check_sync(
    source: &State,
    target: &State,
    source_desc: &str,
    target_desc: &str,
    source_address: &str,
    source_port: u16,
    replace: bool,
) -> Findings {
    let mut f = Findings::default();
    let (Some(sv), Some(tv)) = (source.version, target.version) else {
        let which = if source.version.is_none() {
            source_desc
        } else {
            target_desc
        };
        f.refuse(
            format!("the server {which} reports a version cutover does not understand"),
            "cutover supports Redis 6.2 and later, and Valkey",
        );
        return f;
    };
    for (v, desc) in [(sv, source_desc), (tv, target_desc)] {
        if !v.pauses_writes() {
            f.refuse(
                format!("{desc} runs {v}, which cannot pause writes (`CLIENT PAUSE ... WRITE` came with Redis 6.2)"),
                "upgrade it to Redis 6.2 or later in place first",
            );
        }
    }
    if let Role::Replica { host, port, .. } = &source.role {
        f.refuse(
            format!("the source {source_desc} is itself a replica of {host}:{port}"),
            "sync from the primary: name it as the source",
        );
    }
    let running = target.follows(source_address, source_port);
    if let Role::Replica { host, port, .. } = &target.role {
        if !running {
            f.refuse(
                format!("the target {target_desc} already replicates from {host}:{port} (replication is configured on it)"),
                "run `REPLICAOF NO ONE` on it if it should stop, or choose another target",
            );
        }
    }
    let keys = target.keys();
    if keys > 0 && !running && !replace {
        let dbs: Vec<String> = target
            .keyspace()
            .iter()
            .map(|(db, _, _)| db.to_string())
            .collect();
        f.refuse(
            format!(
                "the target {target_desc} holds {keys} key(s) (database(s) {}): a sync replaces everything on it",
                dbs.join(", ")
            ),
            "empty it (FLUSHALL) if those keys may go, or set `replace = true` in the step",
        );
    }
    let format = sv.rdb_sent_to(&tv);
    if !tv.loads(format) {
        f.refuse(
            format!("the target {target_desc} runs {tv}, which cannot load the RDB format {format} that the source ({sv}) sends in a full sync: it would retry for ever"),
            "replicate into a server of the same or a newer version",
        );
    }
    missing_commands(&mut f, source, source_desc, "source", SOURCE_COMMANDS);
    missing_commands(&mut f, target, target_desc, "target", TARGET_COMMANDS);
    for (state, desc) in [(source, source_desc), (target, target_desc)] {
        let renamed = state.facts.missing_commands.iter().any(|m| m == "CONFIG");
        if let Some(e) = state.facts.config_error.as_ref().filter(|_| !renamed) {
            f.refuse(
                format!("cannot read the configuration of {desc}: {e}"),
                "connect as a user allowed CONFIG (e.g. `+@all`)",
            );
        }
    }
    memory(&mut f, source, target, target_desc);
    databases(&mut f, source, target, target_desc);
    for (name, what) in [("appendonly", "appendonly"), ("save", "save")] {
        let (a, b) = (source.config(name), target.config(name));
        if a.is_some() && b.is_some() && a != b {
            // An empty `save` turns snapshots off: say so rather than print empty quotes.
            let show = |v: Option<&str>| match v.unwrap_or_default() {
                "" => "empty (off)".to_string(),
                v => format!("`{v}`"),
            };
            f.warnings.push(format!(
                "persistence differs: {what} is {} on the source, {} on the target",
                show(a),
                show(b)
            ));
        }
    }
    f
}

fn missing_commands(
    f: &mut Findings,
    state: &State,
    desc: &str,
    side: &str,
    needed: &[(&str, &str)],
) {
    if state.facts.commands_unknown {
        f.warnings.push(format!(
            "COMMAND INFO failed on the {side}: renamed commands could not be looked for"
        ));
        return;
    }
    for (name, why) in needed {
        if state
            .facts
            .missing_commands
            .iter()
            .any(|m| m.eq_ignore_ascii_case(name))
        {
            f.refuse(
                format!("`{name}` is renamed or disabled on the {side} {desc}: cutover needs it to {why}"),
                format!("remove `rename-command {name} ...` from the {side}'s configuration (a restart), or move this server another way"),
            );
        }
    }
}

/// The target's memory limit against what the source uses.
fn memory(f: &mut Findings, source: &State, target: &State, target_desc: &str) {
    let used = source.number("used_memory");
    let limit: u64 = target
        .config("maxmemory")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let policy = target.config("maxmemory-policy").unwrap_or("noeviction");
    if limit > 0 && limit < used + used / 20 {
        f.refuse(
            format!(
                "the target {target_desc} has maxmemory {} but the source uses {}: loading the source's keys would {}",
                mb(limit),
                mb(used),
                if policy == "noeviction" { "refuse writes (OOM)" } else { "evict keys" }
            ),
            format!("raise it on the target: `CONFIG SET maxmemory {}` (and in its configuration file), or 0 for no limit", (used + used / 4).div_ceil(1 << 20) << 20),
        );
    }
    let (a, b) = (
        source.config("maxmemory-policy"),
        target.config("maxmemory-policy"),
    );
    if a.is_some() && b.is_some() && a != b {
        f.warnings.push(format!(
            "eviction policy differs: maxmemory-policy is `{}` on the source, `{}` on the target",
            a.unwrap_or_default(),
            b.unwrap_or_default()
        ));
    }
}

/// The target must have every database number the source uses.
fn databases(f: &mut Findings, source: &State, target: &State, target_desc: &str) {
    let highest = source.keyspace().iter().map(|(db, _, _)| *db).max();
    let count: Option<u32> = target.config("databases").and_then(|v| v.parse().ok());
    if let (Some(highest), Some(count)) = (highest, count) {
        if highest >= count {
            f.refuse(
                format!("the source uses database {highest} but the target {target_desc} has only {count} databases"),
                format!("set `databases {}` in the target's configuration (a restart)", highest + 1),
            );
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::protocol::Facts;

    fn state(info: &str, config: &[(&str, &str)], missing: &[&str]) -> State {
        State::new(Facts {
            info: info
                .lines()
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            config: config
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            missing_commands: missing.iter().map(|m| m.to_string()).collect(),
            ..Facts::default()
        })
    }

    #[test]
    fn refuses_what_cannot_work_and_names_the_fix() {
        let src = state(
            "redis_version:7.0.15\nrole:master\nused_memory:300000000\ndb0:keys=5,expires=0",
            &[("databases", "16")],
            &["CONFIG"],
        );
        let tgt = state(
            "redis_version:6.2.14\nrole:master\ndb0:keys=2,expires=0",
            &[
                ("maxmemory", "100000000"),
                ("maxmemory-policy", "allkeys-lru"),
            ],
            &[],
        );
        let f = check_sync(&src, &tgt, "S", "T", "10.0.0.1", 6379, false);
        let text: Vec<&str> = f.problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(text, vec![
            "the target T holds 2 key(s) (database(s) 0): a sync replaces everything on it",
            "the target T runs Redis 6.2.14, which cannot load the RDB format 10 that the source (Redis 7.0.15) sends in a full sync: it would retry for ever",
            "`CONFIG` is renamed or disabled on the source S: cutover needs it to read the settings checked here and set the reverse replication's credentials",
            "the target T has maxmemory 100.0 MB but the source uses 300.0 MB: loading the source's keys would evict keys",
        ]);
        let ok = check_sync(&src, &tgt, "S", "T", "10.0.0.1", 6379, true);
        assert!(!ok.problems.iter().any(|(p, _)| p.contains("holds")));
    }

    #[test]
    fn differing_persistence_and_eviction_are_warned_about_not_refused() {
        let src = state(
            "redis_version:7.0.15\nrole:master\nused_memory:1000",
            &[
                ("appendonly", "yes"),
                ("save", "3600 1"),
                ("maxmemory-policy", "noeviction"),
            ],
            &[],
        );
        let tgt = state(
            "redis_version:7.0.15\nrole:master",
            &[
                ("appendonly", "no"),
                ("save", ""),
                ("maxmemory-policy", "allkeys-lru"),
            ],
            &[],
        );
        let f = check_sync(&src, &tgt, "S", "T", "10.0.0.1", 6379, false);
        assert!(f.problems.is_empty(), "{:?}", f.problems);
        assert_eq!(
            f.warnings,
            vec![
                "eviction policy differs: maxmemory-policy is `noeviction` on the source, `allkeys-lru` on the target",
                "persistence differs: appendonly is `yes` on the source, `no` on the target",
                "persistence differs: save is `3600 1` on the source, empty (off) on the target",
            ]
        );
    }

    #[test]
    fn a_running_sync_is_not_a_problem() {
        let src = state("redis_version:7.0.15\nrole:master", &[], &[]);
        let tgt = state("redis_version:7.0.15\nrole:slave\nmaster_host:10.0.0.1\nmaster_port:6379\ndb0:keys=9,expires=0", &[], &[]);
        assert!(check_sync(&src, &tgt, "S", "T", "10.0.0.1", 6379, false)
            .problems
            .is_empty());
        let other = check_sync(&src, &tgt, "S", "T", "10.0.0.9", 6379, false);
        assert!(
            other.problems[0]
                .0
                .contains("already replicates from 10.0.0.1:6379"),
            "{:?}",
            other.problems
        );
    }
}
