//! Steps: one kind per file, listed in the registry below ([`KINDS`] and [`read_kind`]).

mod approve;
mod check;
mod compose_deploy;
pub mod compose_project;
mod compose_retire;
mod compose_up;
mod dns_switch;
mod dns_ttl;
mod dns_verify;
mod files_sync;
mod files_verify;
mod images_copy;
mod pg_endpoint;
mod pipe;
mod postgres_copy;
mod postgres_switch;
mod postgres_sync;
mod postgres_verify;
mod proxy_switch;
mod run;
pub mod soak;
mod wait;

pub use approve::ApproveStep;
pub use check::CheckStep;
pub use compose_deploy::{ColourAddresses, ColourPorts, ComposeDeployStep};
pub use compose_project::ComposeProject;
pub use compose_retire::ComposeRetireStep;
pub use compose_up::ComposeUpStep;
pub use dns_switch::DnsSwitchStep;
pub use dns_ttl::DnsTtlStep;
pub use dns_verify::DnsVerifyStep;
pub use files_sync::{FilesSyncStep, TreeRef};
pub use files_verify::FilesVerifyStep;
pub use images_copy::ImagesCopyStep;
pub use pg_endpoint::PgEndpoint;
pub use pipe::{PipeEnd, PipeStep};
pub use postgres_copy::PostgresCopyStep;
pub use postgres_switch::{HostCommand, PostgresSwitchStep};
pub use postgres_sync::PostgresSyncStep;
pub use postgres_verify::PostgresVerifyStep;
pub use proxy_switch::ProxySwitchStep;
pub use run::RunStep;
pub use soak::{LogWatch, SoakStep, Trigger};
pub use wait::WaitStep;

use crate::problem::{did_you_mean, Problem, Problems};
use crate::read::{Fields, Spanned};
use toml_span::value::Value;

/// Fields every step has, whatever its kind.
pub const COMMON_FIELDS: &[&str] = &["id", "kind", "description"];

/// Every step kind, in the order `cutover init` documents them.
pub const KINDS: &[&str] = &[
    "run",
    "pipe",
    "approve",
    "wait",
    "files.sync",
    "files.verify",
    "check",
    "soak",
    "dns.lower_ttl",
    "dns.switch",
    "dns.verify",
    "dns.raise_ttl",
    "proxy.switch",
    "postgres.verify",
    "postgres.copy",
    "postgres.sync",
    "postgres.switch",
    "images.copy",
    "compose.up",
    "compose.deploy",
    "compose.retire",
];

/// One step of a stage.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Step {
    /// Unique name of the step in the plan (letters, digits, `-`, `_`). Approvals and
    /// `wait.after` refer to steps by id, and the journal records progress by id.
    pub id: Spanned<String>,
    /// What the step is for, shown by `cutover plan` and in the report.
    pub description: Option<String>,
    /// The step's kind and its fields.
    #[serde(flatten)]
    pub kind: StepKind,
}

/// The kind of a step, chosen by its `kind` field.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
#[serde(tag = "kind")]
#[schemars(transform = crate::schema::describe_variant_fields)]
pub enum StepKind {
    /// Run a shell command on one or more hosts.
    #[serde(rename = "run")]
    Run(RunStep),
    /// Stream one host's command output into another host's command (dump | restore).
    #[serde(rename = "pipe")]
    Pipe(PipeStep),
    /// A human gate: the run waits until `cutover approve ID` is given.
    #[serde(rename = "approve")]
    Approve(ApproveStep),
    /// A time gate: a duration, a point in time, or a delay after another step.
    #[serde(rename = "wait")]
    Wait(WaitStep),
    /// Copy a file tree from one host to another, host to host; run again, only what changed.
    #[serde(rename = "files.sync")]
    FilesSync(FilesSyncStep),
    /// Prove that a target tree holds exactly what the source tree holds.
    #[serde(rename = "files.verify")]
    FilesVerify(FilesVerifyStep),
    /// A health gate: every named check must pass (with retries until a deadline).
    #[serde(rename = "check")]
    Check(CheckStep),
    /// A monitoring window whose triggers roll the traffic switch back by themselves.
    #[serde(rename = "soak")]
    Soak(SoakStep),
    /// Lower the TTL of records and journal when the old TTL has expired everywhere.
    #[serde(rename = "dns.lower_ttl")]
    DnsLowerTtl(DnsTtlStep),
    /// Point records at the new host, one atomic change per zone.
    #[serde(rename = "dns.switch")]
    DnsSwitch(DnsSwitchStep),
    /// Wait until every authoritative server and listed resolver answers the new values.
    #[serde(rename = "dns.verify")]
    DnsVerify(DnsVerifyStep),
    /// Raise the TTL of records back once the new host is settled.
    #[serde(rename = "dns.raise_ttl")]
    DnsRaiseTtl(DnsTtlStep),
    /// Point a reverse proxy at a new upstream once it is healthy (blue/green).
    #[serde(rename = "proxy.switch")]
    ProxySwitch(ProxySwitchStep),
    /// Prove that the target database holds what the source holds (counts, checksums,
    /// sequences, schema objects); a difference fails with exit code 9.
    #[serde(rename = "postgres.verify")]
    PostgresVerify(PostgresVerifyStep),
    /// Copy a PostgreSQL database to another server (any major version up), streamed with
    /// parallel per-table COPY and overlapped index builds, then `ANALYZE`.
    #[serde(rename = "postgres.copy")]
    PostgresCopy(PostgresCopyStep),
    /// Keep the target in sync with the source by logical replication until the switch.
    #[serde(rename = "postgres.sync")]
    PostgresSync(PostgresSyncStep),
    /// Freeze writes on the source, wait for the target to replay them, advance sequences,
    /// drop the subscription: the target becomes the primary (freeze window journaled).
    #[serde(rename = "postgres.switch")]
    PostgresSwitch(PostgresSwitchStep),
    /// Copy Docker images from one host's engine to another's, host to host: only the
    /// layers the target lacks, verified by image id.
    #[serde(rename = "images.copy")]
    ImagesCopy(ImagesCopyStep),
    /// Bring a Compose project up on a host, gated on its healthchecks and the plan's checks;
    /// the release is journaled and undo brings back what ran before.
    #[serde(rename = "compose.up")]
    ComposeUp(ComposeUpStep),
    /// A blue/green release of a Compose project: the new colour next to the live one,
    /// gated, then the proxy switched to it; rollback is one switch back.
    #[serde(rename = "compose.deploy")]
    ComposeDeploy(ComposeDeployStep),
    /// Drain and stop the colour a `compose.deploy` took traffic from.
    #[serde(rename = "compose.retire")]
    ComposeRetire(ComposeRetireStep),
}

impl StepKind {
    /// The kind's name as written in plans.
    pub fn name(&self) -> &'static str {
        match self {
            StepKind::Run(_) => "run",
            StepKind::Pipe(_) => "pipe",
            StepKind::Approve(_) => "approve",
            StepKind::Wait(_) => "wait",
            StepKind::FilesSync(_) => "files.sync",
            StepKind::FilesVerify(_) => "files.verify",
            StepKind::Check(_) => "check",
            StepKind::Soak(_) => "soak",
            StepKind::DnsLowerTtl(_) => "dns.lower_ttl",
            StepKind::DnsSwitch(_) => "dns.switch",
            StepKind::DnsVerify(_) => "dns.verify",
            StepKind::DnsRaiseTtl(_) => "dns.raise_ttl",
            StepKind::ProxySwitch(_) => "proxy.switch",
            StepKind::PostgresVerify(_) => "postgres.verify",
            StepKind::PostgresCopy(_) => "postgres.copy",
            StepKind::PostgresSync(_) => "postgres.sync",
            StepKind::PostgresSwitch(_) => "postgres.switch",
            StepKind::ImagesCopy(_) => "images.copy",
            StepKind::ComposeUp(_) => "compose.up",
            StepKind::ComposeDeploy(_) => "compose.deploy",
            StepKind::ComposeRetire(_) => "compose.retire",
        }
    }
}

/// The registry: reads the kind-specific fields of a step whose `kind` is `name`.
fn read_kind(name: &str, f: &mut Fields<'_>, p: &mut Problems) -> Option<StepKind> {
    match name {
        "run" => {
            f.set_known(RunStep::FIELDS);
            RunStep::read(f, p).map(StepKind::Run)
        }
        "pipe" => {
            f.set_known(PipeStep::FIELDS);
            PipeStep::read(f, p).map(StepKind::Pipe)
        }
        "approve" => {
            f.set_known(ApproveStep::FIELDS);
            ApproveStep::read(f, p).map(StepKind::Approve)
        }
        "wait" => {
            f.set_known(WaitStep::FIELDS);
            WaitStep::read(f, p).map(StepKind::Wait)
        }
        "files.sync" => {
            f.set_known(FilesSyncStep::FIELDS);
            FilesSyncStep::read(f, p).map(StepKind::FilesSync)
        }
        "files.verify" => {
            f.set_known(FilesVerifyStep::FIELDS);
            FilesVerifyStep::read(f, p).map(StepKind::FilesVerify)
        }
        "check" => {
            f.set_known(CheckStep::FIELDS);
            CheckStep::read(f, p).map(StepKind::Check)
        }
        "soak" => {
            f.set_known(SoakStep::FIELDS);
            SoakStep::read(f, p).map(StepKind::Soak)
        }
        "dns.lower_ttl" | "dns.raise_ttl" => {
            f.set_known(DnsTtlStep::FIELDS);
            let step = DnsTtlStep::read(f, p)?;
            Some(if name == "dns.lower_ttl" {
                StepKind::DnsLowerTtl(step)
            } else {
                StepKind::DnsRaiseTtl(step)
            })
        }
        "dns.switch" => {
            f.set_known(DnsSwitchStep::FIELDS);
            DnsSwitchStep::read(f, p).map(StepKind::DnsSwitch)
        }
        "dns.verify" => {
            f.set_known(DnsVerifyStep::FIELDS);
            DnsVerifyStep::read(f, p).map(StepKind::DnsVerify)
        }
        "proxy.switch" => {
            f.set_known(ProxySwitchStep::FIELDS);
            ProxySwitchStep::read(f, p).map(StepKind::ProxySwitch)
        }
        "postgres.verify" => {
            f.set_known(PostgresVerifyStep::FIELDS);
            PostgresVerifyStep::read(f, p).map(StepKind::PostgresVerify)
        }
        "postgres.copy" => {
            f.set_known(PostgresCopyStep::FIELDS);
            PostgresCopyStep::read(f, p).map(StepKind::PostgresCopy)
        }
        "postgres.sync" => {
            f.set_known(PostgresSyncStep::FIELDS);
            PostgresSyncStep::read(f, p).map(StepKind::PostgresSync)
        }
        "postgres.switch" => {
            f.set_known(PostgresSwitchStep::FIELDS);
            PostgresSwitchStep::read(f, p).map(StepKind::PostgresSwitch)
        }
        "images.copy" => {
            f.set_known(ImagesCopyStep::FIELDS);
            ImagesCopyStep::read(f, p).map(StepKind::ImagesCopy)
        }
        "compose.up" => {
            f.set_known(ComposeUpStep::FIELDS);
            ComposeUpStep::read(f, p).map(StepKind::ComposeUp)
        }
        "compose.deploy" => {
            f.set_known(ComposeDeployStep::FIELDS);
            ComposeDeployStep::read(f, p).map(StepKind::ComposeDeploy)
        }
        "compose.retire" => {
            f.set_known(ComposeRetireStep::FIELDS);
            ComposeRetireStep::read(f, p).map(StepKind::ComposeRetire)
        }
        _ => None,
    }
}

/// True when `id` is a valid step id.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
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
        let kind = match kind {
            Some(name) if KINDS.contains(&name.as_str()) => read_kind(&name, &mut f, p),
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
            kind: kind?,
        })
    }
}
