//! `cutover journal copy FROM TO`: a plan's runs moved between an SQLite journal file and a
//! shared PostgreSQL journal, either way, both locked for the copy, chains checked.

use crate::error::EngineError;
use crate::journal_store::{plan_key, target};
use cutover_journal::copy::{copy_runs, Copied, CopyError, Import};
use cutover_journal::{Holder, Journal, PgJournal, RunInfo, SqliteJournal};
use cutover_plan::JournalUrl;
use std::path::{Path, PathBuf};

/// One side of a copy, opened.
enum Side {
    File(SqliteJournal),
    Shared(PgJournal),
}

impl Side {
    fn journal(&self) -> &dyn Journal {
        match self {
            Side::File(j) => j,
            Side::Shared(j) => j,
        }
    }

    fn import(&self) -> &dyn Import {
        match self {
            Side::File(j) => j,
            Side::Shared(j) => j,
        }
    }
}

/// What a copy did, for the command to print.
pub struct CopyOutcome {
    /// Each run copied.
    pub runs: Vec<Copied>,
    /// The destination's chain after the copy, in words.
    pub chain: String,
    /// The source and destination as shown (no password).
    pub from: String,
    /// The destination, as shown.
    pub to: String,
}

/// Copies the plan's runs (all, or the one `run` names: an id or a number from 1) from
/// `from` to `to`, each an SQLite journal path or a `postgres://` URL. A URL's password is
/// read from the plan's secret it names; a shared journal's rows are the plan's (its name).
pub fn copy(
    plan_path: &Path,
    from: &str,
    to: &str,
    run: Option<&str>,
) -> Result<CopyOutcome, EngineError> {
    let (plan, _) = cutover_plan::load(plan_path)?;
    let from_side = open(&plan, from, "FROM", true)?;
    let to_side = open(&plan, to, "TO", false)?;
    let holder = || Holder::me("journal copy");
    let _from_lock = from_side.journal().lock(holder())?;
    let _to_lock = to_side.journal().lock(holder())?;
    let runs = chosen(from_side.journal(), run)?;
    let copied = copy_runs(from_side.journal(), to_side.import(), &runs).map_err(|e| match e {
        CopyError::Journal(e) => EngineError::Journal(e),
        CopyError::Refused(why) => EngineError::Invalid(format!("journal copy: {why}")),
    })?;
    Ok(CopyOutcome {
        runs: copied,
        chain: to_side.journal().verify_chain()?.to_string(),
        from: shown(from),
        to: shown(to),
    })
}

fn chosen(from: &dyn Journal, run: Option<&str>) -> Result<Vec<RunInfo>, EngineError> {
    let runs = from.runs()?;
    if runs.is_empty() {
        return Err(EngineError::Invalid(
            "journal copy: FROM has no run of this plan: nothing to copy".into(),
        ));
    }
    let Some(spec) = run else {
        return Ok(runs);
    };
    let by_number = spec
        .parse::<usize>()
        .ok()
        .filter(|n| (1..=runs.len()).contains(n));
    match runs
        .iter()
        .position(|r| r.id == spec)
        .or(by_number.map(|n| n - 1))
    {
        Some(i) => Ok(vec![runs[i].clone()]),
        None => Err(EngineError::Invalid(format!(
            "journal copy: FROM has no run `{spec}`: give a run id or a number from 1 to {}",
            runs.len()
        ))),
    }
}

fn is_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// How a side is named in messages: a URL without its password reference.
fn shown(text: &str) -> String {
    match JournalUrl::parse(text) {
        Ok(url) if is_url(text) => url.to_string(),
        _ => text.to_string(),
    }
}

fn open(
    plan: &cutover_plan::Plan,
    text: &str,
    which: &str,
    must_exist: bool,
) -> Result<Side, EngineError> {
    if !is_url(text) {
        let path = PathBuf::from(text);
        if must_exist && !path.exists() {
            return Err(EngineError::Invalid(format!(
                "journal copy: {which} {text}: no journal file there"
            )));
        }
        return Ok(Side::File(SqliteJournal::open(&path)?));
    }
    let url = JournalUrl::parse(text).map_err(|e| {
        EngineError::Invalid(format!(
            "journal copy: {which} is not a journal URL: {e}\nhint: write it as {}",
            cutover_plan::journal_url::URL_FORM
        ))
    })?;
    if let Some(name) = &url.password_secret {
        if plan.secret(name).is_none() {
            return Err(EngineError::Invalid(format!(
                "journal copy: {which}'s password is secret `{name}`, which the plan does not declare\nhint: add `[secrets.{name}]` to the plan"
            )));
        }
    }
    let target = target(plan, &url, None)?;
    Ok(Side::Shared(PgJournal::open(&target, &plan_key(plan))?))
}
