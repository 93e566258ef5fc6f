//! A running sync watched: the target's lag read through one pair of agents kept open
//! ([`Watch`]), first until it has caught up, then for as long as the step watches; and
//! what the step reports once caught up ([`SyncReport`]).

use super::endpoint::Endpoint;
use super::error::MysqlError;
use super::flavor::Flavor;
use super::replication;
use super::session::{open_pair, Agent};
use super::sync::SyncOptions;
use crate::agent::AgentBinary;
use cutover_exec::Executor;
use std::time::{Duration, Instant};

/// Where a sync stands.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Lag {
    /// `Seconds_Behind_Master`, when the server knows it.
    pub seconds: Option<u64>,
    /// Transactions the source has that the target has not applied.
    pub transactions: u64,
    /// The source's position.
    pub source: String,
    /// The target's applied position.
    pub target: String,
}

impl Lag {
    /// `3 transactions (2 s) behind`.
    pub fn line(&self) -> String {
        format!(
            "{} transaction(s) ({}) behind: source at {}, target at {}",
            self.transactions,
            self.seconds.map_or("? s".into(), |s| format!("{s} s")),
            if self.source.is_empty() {
                "-"
            } else {
                &self.source
            },
            if self.target.is_empty() {
                "-"
            } else {
                &self.target
            }
        )
    }
}

/// What a sync reports once the target has caught up.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncReport {
    /// The source as the target's server replicates from it (`address:port`).
    pub primary: String,
    /// Where replication started (the copy's snapshot).
    pub start: String,
    /// A resumed copy's later snapshot, replayed idempotently up to.
    pub converge: Option<String>,
    /// The lag once caught up.
    pub lag: Lag,
}

impl SyncReport {
    /// The report of the sync `o` caught up with `lag`.
    pub fn new(o: &SyncOptions, lag: Lag) -> Self {
        SyncReport {
            primary: format!("{}:{}", o.primary.address, o.primary.port),
            start: o.start.describe(),
            converge: o.converge.as_ref().map(|c| c.describe()),
            lag,
        }
    }
}

/// Both servers' agents kept open while a sync is watched.
pub struct Watch {
    source: Agent,
    target: Agent,
    flavor: Flavor,
}

impl Watch {
    /// Opens an agent next to each server.
    pub async fn open(
        exec: &Executor,
        agent: &AgentBinary,
        source: &Endpoint,
        target: &Endpoint,
    ) -> Result<Watch, MysqlError> {
        let (mut s, t) = open_pair(exec, agent, source, target).await?;
        match replication::flavor(&mut s).await {
            Ok(flavor) => Ok(Watch {
                source: s,
                target: t,
                flavor,
            }),
            Err(e) => {
                tokio::join!(s.close(), t.close());
                Err(e)
            }
        }
    }

    /// The lag now; an error when replication broke.
    pub async fn lag(&mut self) -> Result<Lag, MysqlError> {
        lag(&mut self.source, &mut self.target, self.flavor).await
    }

    /// Waits until the target is at most `o.max_behind` transactions behind (giving up
    /// after `o.timeout`), reporting the lag every `every`; returns the lag then.
    pub async fn caught_up(
        &mut self,
        o: &SyncOptions,
        every: Duration,
        progress: &(dyn Fn(&Lag) + Send + Sync),
    ) -> Result<Lag, MysqlError> {
        let started = Instant::now();
        loop {
            let l = self.lag().await?;
            progress(&l);
            if l.transactions <= o.max_behind {
                return Ok(l);
            }
            if started.elapsed() > o.timeout {
                return Err(MysqlError::failed(format!(
                    "the target is still {} after {}s",
                    l.line(),
                    o.timeout.as_secs()
                )));
            }
            tokio::time::sleep(every).await;
        }
    }

    /// Closes both agents.
    pub async fn close(self) {
        tokio::join!(self.source.close(), self.target.close());
    }
}

/// The lag now; an error when replication broke.
pub async fn lag(s: &mut Agent, t: &mut Agent, flavor: Flavor) -> Result<Lag, MysqlError> {
    let status = replication::status(t, flavor).await?;
    if !status.configured() {
        return Err(MysqlError::precondition(
            "the target does not replicate from the source (its replication was reset)",
            "run the sync step again (`cutover apply`), or roll back",
        ));
    }
    if let Some(e) = replication::broken("target", &status) {
        return Err(e);
    }
    let source = replication::position(s, flavor).await?.gtid;
    let target = match flavor {
        Flavor::MariaDb => t.value("SELECT @@GLOBAL.gtid_slave_pos").await?,
        Flavor::MySql => t.value("SELECT @@GLOBAL.gtid_executed").await?,
    }
    .unwrap_or_default();
    Ok(Lag {
        seconds: status.seconds_behind,
        transactions: replication::behind(&source, &target),
        source,
        target,
    })
}

/// Waits until the target is at most `o.max_behind` transactions behind, then keeps
/// reporting the lag for `hold`; reports every `every` and returns the worst lag seen once
/// caught up.
pub async fn watch(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    o: &SyncOptions,
    every: Duration,
    hold: Duration,
    progress: &(dyn Fn(&Lag) + Send + Sync),
) -> Result<Lag, MysqlError> {
    let mut w = Watch::open(exec, &o.agent, source, target).await?;
    let result = async {
        let mut worst = w.caught_up(o, every, progress).await?;
        let held = Instant::now();
        while held.elapsed() < hold {
            tokio::time::sleep(every).await;
            let l = w.lag().await?;
            progress(&l);
            if l.transactions > worst.transactions {
                worst = l;
            }
        }
        Ok(worst)
    }
    .await;
    w.close().await;
    result
}
