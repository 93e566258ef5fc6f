//! The replication objects a sync creates, looked for on the servers: `cutover status` warns
//! about the ones no finished step accounts for (a crash inside the sync, a rollback that
//! could not reach a server), since an abandoned slot makes the source keep its WAL until
//! the disk fills.

use super::SyncOptions;
use crate::postgres::endpoint::Endpoint;
use crate::postgres::error::PgError;
use crate::postgres::session::copy_query;
use crate::postgres::sql::literal;
use crate::postgres::tools;
use cutover_exec::Executor;

/// Which of a sync's objects exist.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Leftovers {
    /// The publication, in the source database.
    pub publication: bool,
    /// The replication slot (named like the subscription), on the source server.
    pub slot: bool,
    /// The subscription, in the target database.
    pub subscription: bool,
}

impl Leftovers {
    /// True when none exists.
    pub fn is_empty(&self) -> bool {
        *self == Leftovers::default()
    }
}

/// Looks for the publication and slot on `source` and the subscription on `target`.
pub async fn leftovers(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &SyncOptions,
) -> Result<Leftovers, PgError> {
    let (source, target) = tokio::join!(with_tools(exec, source), with_tools(exec, target));
    let (source, target) = (source?, target?);
    let on_source = copy_query(
        exec,
        &source,
        "look for the sync's publication and slot",
        &[
            format!(
                "SELECT count(*) FROM pg_publication WHERE pubname = {}",
                literal(&options.publication)
            ),
            format!(
                "SELECT count(*) FROM pg_replication_slots WHERE slot_name = {}",
                literal(&options.subscription)
            ),
        ],
    )
    .await?;
    // From `postgres`: the target database itself may be gone (pg_subscription is shared).
    let on_target = copy_query(
        exec,
        &target.with_db("postgres"),
        "look for the sync's subscription",
        &[format!(
            "SELECT count(*) FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid WHERE s.subname = {} AND d.datname = {}",
            literal(&options.subscription),
            literal(&target.db)
        )],
    )
    .await?;
    let found = |rows: &[Vec<Option<String>>], i: usize| {
        rows.get(i)
            .and_then(|r| r.first().cloned().flatten())
            .is_some_and(|n| n != "0")
    };
    Ok(Leftovers {
        publication: found(&on_source, 0),
        slot: found(&on_source, 1),
        subscription: found(&on_target, 0),
    })
}

async fn with_tools(exec: &Executor, ep: &Endpoint) -> Result<Endpoint, PgError> {
    let mut ep = ep.clone();
    if ep.bin.is_none() {
        ep.bin = Some(tools::select(exec, &ep, None, false, 0).await?.bin);
    }
    Ok(ep)
}
