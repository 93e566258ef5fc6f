//! Steps: one kind per file, each declared once in the registry below (see the `kind` module).

mod approve;
mod check;
mod compose_deploy;
pub mod compose_project;
mod compose_retire;
mod compose_up;
mod dns_record;
mod dns_switch;
mod dns_ttl;
mod dns_verify;
mod file_put;
mod files_sync;
mod files_verify;
mod images_copy;
mod in_container;
pub(crate) mod kind;
mod mysql_copy;
mod mysql_endpoint;
mod mysql_finish;
mod mysql_switch;
mod mysql_sync;
mod mysql_verify;
mod notify;
mod outputs;
mod pg_endpoint;
mod pipe;
mod postgres_copy;
mod postgres_finish;
mod postgres_switch;
mod postgres_sync;
mod postgres_verify;
mod proxy_switch;
mod redis_endpoint;
mod redis_finish;
mod redis_switch;
mod redis_sync;
mod redis_verify;
pub mod role_passwords;
mod run;
pub mod soak;
mod var_length;
mod wait;

use std::collections::BTreeMap;

pub use approve::ApproveStep;
pub use check::CheckStep;
pub use compose_deploy::{ColourAddresses, ColourPorts, ComposeDeployStep};
pub use compose_project::ComposeProject;
pub use compose_retire::ComposeRetireStep;
pub use compose_up::ComposeUpStep;
pub use dns_record::{DnsRecordStep, DEFAULT_CREATED_TTL};
pub use dns_switch::DnsSwitchStep;
pub use dns_ttl::DnsTtlStep;
pub use dns_verify::DnsVerifyStep;
pub use file_put::FilePutStep;
pub use files_sync::{FilesSyncStep, TreeRef};
pub use files_verify::{FilesVerifyStep, HashAlgorithm, OwnerCheck};
pub use images_copy::ImagesCopyStep;
pub use kind::Role;
pub use mysql_copy::MysqlCopyStep;
pub use mysql_endpoint::MysqlEndpoint;
pub use mysql_finish::MysqlFinishStep;
pub use mysql_switch::{MysqlSwitchStep, SessionsMode};
pub use mysql_sync::MysqlSyncStep;
pub use mysql_verify::MysqlVerifyStep;
pub use notify::NotifyStep;
pub use outputs::{read_outputs, Capture, Output};
pub use pg_endpoint::PgEndpoint;
pub use pipe::{PipeEnd, PipeStep};
pub use postgres_copy::PostgresCopyStep;
pub use postgres_finish::{PostgresFinishStep, SourceAfter};
pub use postgres_switch::{FreezeMode, HostCommand, PostgresSwitchStep};
pub use postgres_sync::PostgresSyncStep;
pub use postgres_verify::PostgresVerifyStep;
pub use proxy_switch::ProxySwitchStep;
pub use redis_endpoint::RedisEndpoint;
pub use redis_finish::RedisFinishStep;
pub use redis_switch::RedisSwitchStep;
pub use redis_sync::RedisSyncStep;
pub use redis_verify::RedisVerifyStep;
pub use run::RunStep;
pub use soak::{LogWatch, SoakStep, Trigger};
pub use wait::WaitStep;

use crate::problem::{did_you_mean, Problem, Problems};
use crate::read::{Fields, Spanned};
use toml_span::value::Value;

/// Fields every step has, whatever its kind.
pub const COMMON_FIELDS: &[&str] = &["id", "kind", "description", "keep"];

/// One step of a stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Step {
    /// Unique name of the step in the plan (letters, digits, `-`, `_`). Approvals and
    /// `wait.after` refer to steps by id, and the journal records progress by id.
    pub id: Spanned<String>,
    /// What the step is for, shown by `cutover plan` and in the report.
    pub description: Option<String>,
    /// Never undone by a rollback (`cutover rollback`, `--to`, a soak's automatic one):
    /// for what must outlive a rollback, such as a production database a copy created. The
    /// rollback leaves it in place and names it; `cutover rollback --only ID` undoes it on
    /// purpose.
    #[serde(default)]
    pub keep: bool,
    /// The step's kind and its fields.
    #[serde(flatten)]
    pub kind: StepKind,
}

/// Fills in every step length given as `{{ vars.NAME }}` from `vars` (the plan's, or an
/// environment's once it replaced them).
pub(crate) fn resolve_var_lengths(stages: &mut [crate::Stage], vars: &BTreeMap<String, String>) {
    for step in stages.iter_mut().flat_map(|s| s.steps.iter_mut()) {
        match &mut step.kind {
            StepKind::Wait(wait) => wait.resolve_vars(vars),
            StepKind::Soak(soak) => soak.resolve_vars(vars),
            _ => {}
        }
    }
}

kind::step_kinds! {
    /// Run a shell command on one or more hosts.
    Run = "run": RunStep [];
    /// Stream one host's command output into another host's command (dump | restore).
    Pipe = "pipe": PipeStep [];
    /// A human gate: the run waits until `cutover approve ID` is given.
    Approve = "approve": ApproveStep [Gate];
    /// Send a message to `[notify]` receivers (a failure is logged, never fails the run).
    Notify = "notify": NotifyStep [];
    /// A time gate: a duration, a point in time, or a delay after another step.
    Wait = "wait": WaitStep [Gate];
    /// Copy a file tree from one host to another, host to host; run again, only what changed.
    FilesSync = "files.sync": FilesSyncStep [];
    /// Prove that a target tree holds exactly what the source tree holds.
    FilesVerify = "files.verify": FilesVerifyStep [Proof];
    /// Write a file on a host from a template (vars, secrets, step outputs), replaced
    /// atomically; undo restores the previous content, kept on the host.
    FilePut = "file.put": FilePutStep [];
    /// A health gate: every named check must pass (with retries until a deadline).
    Check = "check": CheckStep [];
    /// A monitoring window whose triggers roll the traffic switch back by themselves.
    Soak = "soak": SoakStep [];
    /// Lower the TTL of records and journal when the old TTL has expired everywhere.
    DnsLowerTtl = "dns.lower_ttl": DnsTtlStep [];
    /// Point records at the new host, one atomic change per zone.
    DnsSwitch = "dns.switch": DnsSwitchStep [TrafficSwitch];
    /// Wait until every authoritative server and listed resolver answers the new values.
    DnsVerify = "dns.verify": DnsVerifyStep [];
    /// Raise the TTL of records back once the new host is settled.
    DnsRaiseTtl = "dns.raise_ttl": DnsTtlStep [];
    /// Create, change or delete record sets (test subdomains, TXT, MX, NS), one atomic change
    /// per zone; rollback puts back what was there.
    DnsRecord = "dns.record": DnsRecordStep [];
    /// Point a reverse proxy at a new upstream once it is healthy (blue/green).
    ProxySwitch = "proxy.switch": ProxySwitchStep [TrafficSwitch];
    /// Prove that the target database holds what the source holds (counts, checksums,
    /// sequences, schema objects); a difference fails with exit code 9.
    PostgresVerify = "postgres.verify": PostgresVerifyStep [Proof];
    /// Copy a PostgreSQL database to another server (any major version up), streamed with
    /// parallel per-table COPY and overlapped index builds, then `ANALYZE`.
    PostgresCopy = "postgres.copy": PostgresCopyStep [];
    /// Keep the target in sync with the source by logical replication until the switch.
    PostgresSync = "postgres.sync": PostgresSyncStep [];
    /// Freeze writes on the source, wait for the target to replay them, advance sequences,
    /// drop the subscription: the target becomes the primary (freeze window journaled).
    PostgresSwitch = "postgres.switch": PostgresSwitchStep [DataSwitch];
    /// End the reverse replication a `postgres.switch` left running once the soak passed:
    /// the replication objects cutover created dropped, the source left read-only or writable.
    PostgresFinish = "postgres.finish": PostgresFinishStep [];
    /// Prove that the target's MariaDB/MySQL databases hold what the source's hold (counts,
    /// row digests narrowed to rows, definitions, counters); a difference fails with exit 9.
    MysqlVerify = "mysql.verify": MysqlVerifyStep [Proof];
    /// Copy MariaDB/MySQL databases from one consistent snapshot, host to host in parallel
    /// primary-key ranges, keys after the rows, then views, routines, triggers and events.
    MysqlCopy = "mysql.copy": MysqlCopyStep [];
    /// Keep the target of a `mysql.copy` in sync by replication from the copy's position.
    MysqlSync = "mysql.sync": MysqlSyncStep [];
    /// Freeze writes on the source, wait for the target's catch-up, stop replication, make
    /// the target writable (freeze window journaled); optional reverse replication.
    MysqlSwitch = "mysql.switch": MysqlSwitchStep [DataSwitch];
    /// End the reverse replication a `mysql.switch` left running once the soak passed: the
    /// source stops replicating from the target, left read-only or writable.
    MysqlFinish = "mysql.finish": MysqlFinishStep [];
    /// Prove that the target Redis/Valkey server holds every key the source holds (type,
    /// value, TTL); a difference fails with exit code 9.
    RedisVerify = "redis.verify": RedisVerifyStep [Proof];
    /// Keep the target Redis/Valkey server in sync with the source by replication until the
    /// switch.
    RedisSync = "redis.sync": RedisSyncStep [];
    /// Pause writes on the source, let the target catch up, promote it, the source follows
    /// it (pause window journaled).
    RedisSwitch = "redis.switch": RedisSwitchStep [DataSwitch];
    /// End the reverse replication a `redis.switch` left running once the soak passed: the
    /// source stops following the target, left refusing writes or writable.
    RedisFinish = "redis.finish": RedisFinishStep [];
    /// Copy Docker images from one host's engine to another's, host to host: only the
    /// layers the target lacks, verified by image id.
    ImagesCopy = "images.copy": ImagesCopyStep [];
    /// Bring a Compose project up on a host, gated on its healthchecks and the plan's checks;
    /// the release is journaled and undo brings back what ran before.
    ComposeUp = "compose.up": ComposeUpStep [];
    /// A blue/green release of a Compose project: the new colour next to the live one,
    /// gated, then the proxy switched to it; rollback is one switch back.
    ComposeDeploy = "compose.deploy": ComposeDeployStep [TrafficSwitch];
    /// Drain and stop the colour a `compose.deploy` took traffic from.
    ComposeRetire = "compose.retire": ComposeRetireStep [];
}

/// True when `id` is a valid step id.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl StepKind {
    /// The values a step of this kind captures from its output, for kinds that print.
    pub fn outputs(&self) -> Option<&std::collections::BTreeMap<String, Output>> {
        match self {
            StepKind::Run(s) => Some(&s.outputs),
            StepKind::Pipe(s) => Some(&s.outputs),
            _ => None,
        }
    }
}

impl Step {
    /// Reads step number `index` (0-based) of `stage` (the stage as named in messages:
    /// "stage `copy`", or "stage 2" when it has no name).
    pub fn read(
        stage: &str,
        index: usize,
        value: &mut Value<'_>,
        p: &mut Problems,
    ) -> Option<Self> {
        let owner = format!("step {} of {stage}", index + 1);
        let mut f = Fields::new(value, owner, COMMON_FIELDS, p)?;
        let id: Option<Spanned<String>> = f.required("id", p);
        if let Some(id) = &id {
            if valid_id(&id.value) {
                f.set_owner(format!("step `{}`", id.value));
            } else {
                p.push(
                    Problem::new(
                        id.span,
                        format!("step id `{}` is not valid", id.value),
                        "invalid id",
                    )
                    .help("use 1 to 64 letters, digits, `-` or `_`"),
                );
            }
        }
        let kind_span = f.value_span("kind");
        if !f.has("kind") {
            p.push(
                Problem::new(
                    f.span(),
                    format!("{} is missing the required field `kind`", f.owner()),
                    "`kind` is missing here",
                )
                .help(format!(
                    "add `kind = \"run\"`; step kinds are: {}",
                    KINDS.join(", ")
                )),
            );
        }
        let kind: Option<String> = f.optional("kind", p);
        let description = f.optional("description", p);
        let keep = f.optional("keep", p).unwrap_or(false);
        let kind = match kind {
            Some(name) if Kind::parse(&name).is_some() => {
                Kind::parse(&name).and_then(|k| k.read(&mut f, p))
            }
            Some(name) => {
                let help = match did_you_mean(&name, KINDS.iter().copied()) {
                    Some(near) => format!("did you mean `{near}`?"),
                    None => format!("step kinds are: {}", KINDS.join(", ")),
                };
                p.push(
                    Problem::new(
                        kind_span.unwrap_or(f.span()),
                        format!("unknown step kind `{name}` in {}", f.owner()),
                        "unknown kind",
                    )
                    .help(help),
                );
                // Its other fields cannot be judged without a kind.
                return None;
            }
            None => return None,
        };
        f.finish(p);
        Some(Step {
            id: id?,
            description,
            keep,
            kind: kind?,
        })
    }
}
