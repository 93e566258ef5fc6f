//! Which journal a plan's run lives in, opened: the SQLite file next to the plan, or the
//! shared PostgreSQL journal its URL names (`journal = "postgres://..."`, `--journal`,
//! `CUTOVER_JOURNAL`), with the password read from the plan's secret.

use crate::error::EngineError;
use crate::secrets::{read_source, Secrets};
use cutover_exec::{Redactor, SecretValue};
use cutover_journal::{Journal, PgJournal, PgTarget, PgTls, RedactFn, SqliteJournal};
use cutover_plan::{JournalUrl, Plan, SslMode};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// An opened journal and the name it goes by.
pub(crate) struct Opened {
    /// The SQLite file, or for a shared journal its URL (no password) and plan key: a key
    /// that scopes SSH connection sharing to the run.
    pub location: PathBuf,
    /// The journal.
    pub journal: Arc<dyn Journal>,
}

/// How the journal is opened.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// `apply`, `rollback`, `approve`: created or migrated if need be, written.
    Write,
    /// `status`, `report`, `check`, `plan`, the dashboard: never created, never written.
    Read,
}

/// Opens `plan`'s journal; with `secrets`, everything it stores is redacted of their values.
pub(crate) fn open(
    plan: &Plan,
    plan_path: &Path,
    secrets: Option<&Secrets>,
    access: Access,
) -> Result<Opened, EngineError> {
    let Some(url) = &plan.journal.url else {
        return open_file(plan, plan_path, secrets, access);
    };
    let target = target(plan, url, secrets)?;
    let key = plan_key(plan);
    let journal = match access {
        Access::Write => PgJournal::open(&target, &key)?,
        Access::Read => PgJournal::open_read_only(&target, &key)?,
    };
    // The journal's own password is redacted even by commands that read no other secret.
    let mut known: Vec<(String, SecretValue)> = secrets
        .map(|s| s.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
        .unwrap_or_default();
    if let (Some(name), Some(password)) = (&url.password_secret, &target.password) {
        known.push((name.clone(), SecretValue::new(password.clone())));
    }
    let redactor = Redactor::new(known.iter().map(|(k, v)| (k.as_str(), v)));
    let redact: RedactFn = Arc::new(move |s: &str| redactor.redact(s));
    Ok(Opened {
        location: PathBuf::from(format!("{url}#{key}")),
        journal: Arc::new(journal.with_redactor(redact)),
    })
}

fn open_file(
    plan: &Plan,
    plan_path: &Path,
    secrets: Option<&Secrets>,
    access: Access,
) -> Result<Opened, EngineError> {
    let path = plan.journal_path(plan_path);
    let journal = match access {
        Access::Write => SqliteJournal::open(&path)?,
        Access::Read => SqliteJournal::open_read_only(&path)?,
    };
    let journal = match secrets {
        Some(secrets) => {
            let redactor = secrets.redactor();
            journal.with_redactor(Arc::new(move |s: &str| redactor.redact(s)))
        }
        None => journal,
    };
    Ok(Opened {
        location: path,
        journal: Arc::new(journal),
    })
}

/// The plan's identity among the plans sharing a journal database: its name, and its
/// environment when it runs in one (an environment's run is a run of its own). Not its
/// path, which differs on each machine that may resume the run.
pub fn plan_key(plan: &Plan) -> String {
    match &plan.environment {
        Some(env) => format!("{}@{env}", plan.name),
        None => plan.name.clone(),
    }
}

/// The connection settings of `url`, its password read from the secret it names (from
/// `secrets` when the command read them all, else that one secret alone).
pub(crate) fn target(
    plan: &Plan,
    url: &JournalUrl,
    secrets: Option<&Secrets>,
) -> Result<PgTarget, EngineError> {
    let password = match &url.password_secret {
        None => None,
        Some(name) => Some(match secrets.and_then(|s| s.get(name)) {
            Some(value) => value.expose().to_string(),
            None => {
                let secret = plan.secret(name).ok_or_else(|| EngineError::Secret {
                    name: name.clone(),
                    reason: "the journal URL names it, but the plan does not declare it".into(),
                })?;
                read_source(plan, &secret.source).map_err(|reason| EngineError::Secret {
                    name: name.clone(),
                    reason,
                })?
            }
        }),
    };
    let tls = match url.sslmode {
        SslMode::Disable => PgTls::Disable,
        SslMode::VerifyFull => PgTls::VerifyFull {
            root: url
                .sslrootcert
                .as_ref()
                .map(|p| plan.resolve_path(Path::new(p))),
        },
    };
    Ok(PgTarget {
        host: url.host.clone(),
        port: url.port,
        user: url.user.clone(),
        dbname: url.dbname.clone(),
        password,
        tls,
    })
}
