//! `postgres.sync`: logical replication set up and watched (initial copy, then the lag in
//! bytes and seconds); the runner common to every store's sync
//! ([`StoreSync`](super::store_sync::StoreSync)) journals and concludes it. Rollback before
//! the switch leaves the source as it was.

use super::postgres::{describe, endpoint, failed, server_address};
use super::store_sync::Syncer;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use async_trait::async_trait;
use cutover_data::postgres::replication::drift::{self, SchemaPrint};
use cutover_data::postgres::replication::{self, Lag, SyncOptions, SyncReport};
use cutover_data::postgres::Endpoint;
use cutover_journal::{Event, RunState};
use cutover_plan::steps::PostgresSyncStep;
use std::time::Duration;

pub(crate) struct PostgresSync<'a>(pub &'a PostgresSyncStep);

/// The sync's settings that need no rendering: its objects' names and flags.
pub(crate) fn named(s: &PostgresSyncStep) -> SyncOptions {
    let mut o = SyncOptions {
        replica_identity_full: s.replica_identity_full,
        no_owner: s.no_owner,
        no_privileges: s.no_privileges,
        roles: s.roles,
        ..SyncOptions::default()
    };
    if let Some(p) = &s.publication {
        o.publication = p.value.clone();
    }
    if let Some(n) = &s.subscription {
        o.subscription = n.value.clone();
    }
    o
}

/// The sync's options with real values (the switch step uses them too).
pub(crate) fn options(ctx: &StepCtx<'_>, s: &PostgresSyncStep) -> Result<SyncOptions, EngineError> {
    let mut o = named(s);
    o.source_address = match &s.source_address {
        Some(a) => ctx.render(a)?,
        None => server_address(ctx, &s.source)?,
    };
    if let Some(mb) = s.max_lag_mb {
        o.max_lag_bytes = mb << 20;
    }
    if let Some(t) = s.timeout {
        o.timeout = t;
    }
    o.role_passwords = super::postgres::role_passwords(ctx, &s.role_passwords)?;
    Ok(o)
}

/// Journals the source's schema fingerprint as the sync starts (before its schema is
/// copied), for the switch to notice DDL run on the source since. A sync started again
/// (resumed, or retried) keeps the fingerprint of its first start: an older fingerprint
/// can only make the switch compare the two schemas when it need not, never miss a change.
async fn record_schema(ctx: &StepCtx<'_>, source: &Endpoint) -> Result<(), EngineError> {
    if recorded_schema(ctx.state, ctx.id()).is_some() {
        return Ok(());
    }
    let print = drift::fingerprint(ctx.exec, source)
        .await
        .map_err(|e| failed(ctx, e))?;
    ctx.detail(format!(
        "source schema recorded: {} objects (DDL on the source from now on is caught before the switch)",
        print.objects
    ));
    ctx.record(Event::SchemaRecorded {
        step: ctx.id().to_string(),
        side: "source".into(),
        digest: print.digest,
        objects: print.objects as u64,
    })
}

/// The fingerprint step `id` journaled, if any.
pub(crate) fn recorded_schema(state: &RunState, id: &str) -> Option<SchemaPrint> {
    let record = state.step(id)?.schema.as_ref()?;
    Some(SchemaPrint {
        digest: record.digest.clone(),
        objects: record.objects as usize,
    })
}

#[async_trait]
impl Syncer for PostgresSync<'_> {
    type Report = SyncReport;
    /// The source and the subscription (the slot's name) the lag is read from.
    type Watch = (Endpoint, String);

    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let s = self.0;
        let SyncOptions {
            publication,
            subscription,
            ..
        } = named(s);
        Ok(vec![
            format!("replicate {} into {}", describe(values, &s.source)?, describe(values, &s.target)?),
            "preflight: wal_level = logical, free slots and WAL senders, replication role, no large objects, a key on every table".into(),
            format!("schema copied, publication `{publication}` FOR ALL TABLES on the source, subscription `{subscription}` on the target"),
            "the source's schema fingerprint journaled first: the switch refuses if DDL ran on the source since".into(),
            format!("initial copy watched to completion, then lag under {} MB", s.max_lag_mb.unwrap_or(1)),
            "undo (before the switch): subscription, slot and publication dropped; the target database too if created".into(),
        ])
    }

    async fn running(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        let (source, target) = (
            endpoint(ctx, &self.0.source)?,
            endpoint(ctx, &self.0.target)?,
        );
        replication::is_running(ctx.exec, &source, &target, &options(ctx, self.0)?)
            .await
            .map_err(|e| failed(ctx, e))
    }

    async fn start(&self, ctx: &StepCtx<'_>) -> Result<(Self::Watch, SyncReport), EngineError> {
        let (source, target) = (
            endpoint(ctx, &self.0.source)?,
            endpoint(ctx, &self.0.target)?,
        );
        let o = options(ctx, self.0)?;
        record_schema(ctx, &source).await?;
        let show = |line: String| ctx.detail(line);
        let report = replication::sync(ctx.exec, &source, &target, &o, &show)
            .await
            .map_err(|e| failed(ctx, e))?;
        Ok(((source, o.subscription), report))
    }

    async fn lag(
        &self,
        ctx: &StepCtx<'_>,
        (source, subscription): &mut Self::Watch,
    ) -> Result<Option<Lag>, EngineError> {
        replication::lag(ctx.exec, source, subscription)
            .await
            .map(Some)
            .map_err(|e| failed(ctx, e))
    }

    async fn close(_: Self::Watch) {}

    fn watch(&self) -> Option<Duration> {
        self.0.watch
    }

    /// Removes whatever of the sync exists (subscription, slot, publication, a target
    /// database cutover created): a sync killed or failed part-way, its subscription still
    /// replicating, is undone too.
    async fn undo(&self, ctx: &StepCtx<'_>) -> Result<String, EngineError> {
        let (source, target) = (
            endpoint(ctx, &self.0.source)?,
            endpoint(ctx, &self.0.target)?,
        );
        replication::undo_sync(ctx.exec, &source, &target, &options(ctx, self.0)?)
            .await
            .map_err(|e| failed(ctx, e))
    }
}
