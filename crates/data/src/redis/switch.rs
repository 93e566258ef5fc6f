//! The switch of a synced pair, keeping the write pause short: both agents are open before
//! it, and every step inside it is one round trip.
//!
//! 1. (before the pause) the target is less than 1 MB behind; the source gets the
//!    target's credentials for the reverse replication;
//! 2. `CLIENT PAUSE ms WRITE` on the source: clients' writes wait (they do not fail); its
//!    replication offset then covers every write acknowledged so far;
//! 3. the target's agent polls every millisecond until the target has processed that
//!    offset, then promotes it (`REPLICAOF NO ONE`);
//! 4. the plan's clients command, if any (points the clients at the target);
//! 5. with `reverse`, the source follows the target (a partial resync from the point of
//!    the promotion: no RDB is sent, so it works across versions), then `CLIENT UNPAUSE`.
//!    The pause window, measured from before 2 to after 5, is reported.
//!
//! The pause carries its own timeout (`max_wait` + the clients command's + 10 s): a
//! controller killed inside it leaves the source writable again by itself. Who is primary
//! and whether anyone took writes since the promotion are read from the servers
//! (replication ids and offsets), so a resumed switch finishes what a killed one began, and
//! [`Pair::undo_switch`] gives the source its role back without losing writes made on the
//! target.

use super::error::RedisError;
use super::info::Role;
use super::pair::{Pair, Progress};
use super::protocol::{Conn, RedisReply, RedisRequest};
use super::stage::Stage;
use super::sync::{role_text, SyncOptions};
use cutover_exec::Command;
use std::time::{Duration, Instant};

/// How a switch runs.
#[derive(Debug, Clone)]
pub struct SwitchOptions {
    /// The sync's settings (how the target reaches the source).
    pub sync: SyncOptions,
    /// How the source *server* reaches the target server (reverse replication, rollback).
    pub target_address: String,
    /// Keep the source following the target after the switch.
    pub reverse: bool,
    /// Longest wait for the target to catch up inside the pause.
    pub max_wait: Duration,
    /// Run inside the pause once the target is the primary: points the clients at it.
    pub clients: Option<Box<Command>>,
    /// The longest the clients command may take (it extends the pause's own timeout).
    pub clients_timeout: Duration,
}

impl SwitchOptions {
    /// The pause's own timeout: long enough for everything inside it.
    pub fn pause_timeout(&self) -> Duration {
        self.max_wait
            + if self.clients.is_some() {
                self.clients_timeout
            } else {
                Duration::ZERO
            }
            + Duration::from_secs(10)
    }
}

/// What a switch did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SwitchReport {
    /// Seconds from the pause to its end.
    pub pause_window: f64,
    /// When the pause began (Unix ms), for the journal's outage window.
    pub paused_from_ms: i64,
    /// Of which: seconds waiting for the target to catch up.
    pub catch_up: f64,
    /// Of which, each step's round trip in seconds: pause (with the offset read),
    /// catch-up and promotion, the clients command, reverse replication and unpause.
    pub steps: [f64; 4],
    /// The source's replication offset at the pause.
    pub offset: u64,
    /// The source follows the target.
    pub reverse: bool,
    /// Finished a switch an interrupted attempt had made (no pause measured).
    pub resumed: bool,
    /// Things worth knowing (the reverse link not up yet...).
    pub notes: Vec<String>,
}

impl Pair {
    /// The target as the source server reaches it.
    pub(crate) fn target_seen_from_source(&self, options: &SwitchOptions) -> Conn {
        Conn {
            address: options.target_address.clone(),
            ..self.target.conn()
        }
    }

    /// Switches from the source to the target (or finishes a switch an interrupted attempt
    /// began).
    pub async fn switch(
        &mut self,
        options: &SwitchOptions,
        progress: Progress<'_>,
    ) -> Result<SwitchReport, RedisError> {
        let (stage, _, _) = self.stage(options).await?;
        match stage {
            Stage::Syncing => self.fresh_switch(options, progress).await,
            Stage::Reversed => {
                self.source
                    .done(RedisRequest::Unpause {
                        server: self.source.conn(),
                        follow: None,
                    })
                    .await?;
                Ok(resumed(
                    options,
                    "the switch was made by an interrupted attempt".into(),
                ))
            }
            Stage::Promoted {
                source_writes: 0, ..
            } => {
                progress("an interrupted attempt promoted the target; the source took no writes since: finishing the switch".into());
                run_clients(&self.exec, options).await?;
                let follow = options
                    .reverse
                    .then(|| self.target_seen_from_source(options));
                self.source
                    .done(RedisRequest::Unpause {
                        server: self.source.conn(),
                        follow,
                    })
                    .await?;
                Ok(resumed(
                    options,
                    "finished the switch an interrupted attempt began".into(),
                ))
            }
            Stage::Promoted {
                source_writes,
                target_writes: 0,
            } => {
                progress(format!("an interrupted attempt promoted the target, then the source took {source_writes} bytes of writes (its pause ran out): the target follows it again, then the switch runs again"));
                let primary = self.source_seen_from_target(&options.sync);
                self.target
                    .done(RedisRequest::Follow {
                        server: self.target.conn(),
                        primary,
                    })
                    .await?;
                self.wait_caught_up(options.max_wait.max(Duration::from_secs(30)))
                    .await?;
                self.fresh_switch(options, progress).await
            }
            Stage::Promoted {
                source_writes,
                target_writes,
            } => Err(both_wrote(source_writes, target_writes)),
            Stage::Unrelated(s, t) => Err(RedisError::precondition(
                format!("the target does not follow the source (source: {s}; target: {t})"),
                "run the redis.sync step first",
            )),
        }
    }

    async fn fresh_switch(
        &mut self,
        options: &SwitchOptions,
        progress: Progress<'_>,
    ) -> Result<SwitchReport, RedisError> {
        self.wait_caught_up(options.max_wait.max(Duration::from_secs(30)))
            .await?;
        if options.reverse {
            let target = self.target.conn();
            self.source
                .done(RedisRequest::SetMasterAuth {
                    server: self.source.conn(),
                    user: target.user.clone().unwrap_or_default(),
                    password: target.password.clone().unwrap_or_default(),
                })
                .await?;
        }
        let t0 = Instant::now();
        let paused_from_ms = crate::unix_ms();
        let timeout_ms = options.pause_timeout().as_millis() as u64;
        let offset = match self
            .source
            .ask(RedisRequest::Pause {
                server: self.source.conn(),
                timeout_ms,
            })
            .await?
        {
            RedisReply::Paused { offset } => offset,
            other => return Err(self.source.unexpected(&other)),
        };
        let paused = t0.elapsed().as_secs_f64();
        let promoted = self
            .target
            .ask(RedisRequest::CatchUpAndPromote {
                server: self.target.conn(),
                offset,
                max_wait_ms: options.max_wait.as_millis() as u64,
            })
            .await;
        let promoted_at = t0.elapsed().as_secs_f64();
        let catch_up = match promoted {
            Ok(RedisReply::Promoted { waited_ms, .. }) => waited_ms as f64 / 1000.0,
            other => {
                // Nothing switched: give the source its writes back.
                let _ = self
                    .source
                    .done(RedisRequest::Unpause {
                        server: self.source.conn(),
                        follow: None,
                    })
                    .await;
                return Err(match other {
                    Err(e) => with_hint(e, "the pause was lifted and nothing switched; look at the target's replication, then switch again"),
                    Ok(r) => self.target.unexpected(&r),
                });
            }
        };
        let clients = run_clients(&self.exec, options).await;
        let clients_at = t0.elapsed().as_secs_f64();
        let follow = options
            .reverse
            .then(|| self.target_seen_from_source(options));
        self.source
            .done(RedisRequest::Unpause {
                server: self.source.conn(),
                follow,
            })
            .await?;
        let pause_window = t0.elapsed().as_secs_f64();
        let steps = [
            paused,
            promoted_at - paused,
            clients_at - promoted_at,
            pause_window - clients_at,
        ];
        clients?;
        progress(format!("switched: writes paused {pause_window:.3}s ({catch_up:.3}s waiting for the target to reach offset {offset})"));
        let mut notes = Vec::new();
        if options.reverse {
            notes.extend(self.wait_reverse_link(Duration::from_secs(10)).await?);
            progress(
                "the source follows the target: writes on the new server flow back to the old one"
                    .into(),
            );
        }
        Ok(SwitchReport {
            pause_window,
            paused_from_ms,
            catch_up,
            steps,
            offset,
            reverse: options.reverse,
            resumed: false,
            notes,
        })
    }
}

/// Runs the plan's clients command, if any.
async fn run_clients(
    exec: &cutover_exec::Executor,
    options: &SwitchOptions,
) -> Result<(), RedisError> {
    let Some(cmd) = &options.clients else {
        return Ok(());
    };
    let cmd = cmd.as_ref().clone().timeout(Some(options.clients_timeout));
    let out = exec
        .run(&cmd)
        .await
        .map_err(|e| RedisError::Agent(e.into()))?;
    if !out.success() {
        return Err(RedisError::Server {
                message: format!(
                    "the clients command failed on host `{}` (exit {}):\n{}",
                    cmd.host,
                    out.code.unwrap_or(-1),
                    cutover_exec::frame(if out.stderr.trim().is_empty() { &out.stdout } else { &out.stderr })
                ),
                hint: Some("the target is the primary; fix the command and apply again (it runs again), or `cutover rollback` to switch back".into()),
            });
    }
    Ok(())
}

impl Pair {
    /// Waits until the target follows the source with its link up and less than 1 MB behind.
    pub(crate) async fn wait_caught_up(&mut self, max: Duration) -> Result<(), RedisError> {
        let deadline = Instant::now() + max;
        loop {
            match self.lag().await? {
                Some(l) if l.bytes < (1 << 20) => return Ok(()),
                lag if Instant::now() > deadline => {
                    return Err(RedisError::precondition(
                        format!(
                            "the target is not in sync with the source ({})",
                            lag.map_or("link down or full sync running".into(), |l| format!(
                                "{} bytes behind",
                                l.bytes
                            ))
                        ),
                        "wait for the sync to catch up (see the redis.sync step), then switch",
                    ))
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// After a switch with `reverse`: the source's link to the target, once up.
    pub(crate) async fn wait_reverse_link(
        &mut self,
        max: Duration,
    ) -> Result<Vec<String>, RedisError> {
        let deadline = Instant::now() + max;
        loop {
            let (s, _) = self.states(&[], &[]).await?;
            if matches!(s.role, Role::Replica { link_up: true, .. }) {
                return Ok(Vec::new());
            }
            if Instant::now() > deadline {
                return Ok(vec![format!(
                    "the source's link to the target is not up after {} s ({}): it refuses writes as a replica, but rollback cannot carry writes back until it is (an older server cannot load a newer one's full copy: only a partial resync works across versions)",
                    max.as_secs(),
                    role_text(&s)
                )]);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Whether the source's `masterauth` is set now (before a switch sets it for the reverse
    /// replication), for its undo.
    pub async fn source_masterauth_set(&mut self) -> Result<bool, RedisError> {
        Ok(self.source.state(&[]).await?.facts.masterauth_set)
    }

    /// True when the target is the primary and the source follows it, or was promoted from
    /// a source that took no writes since.
    pub async fn is_switched(&mut self, options: &SwitchOptions) -> Result<bool, RedisError> {
        let (stage, _, _) = self.stage(options).await?;
        Ok(matches!(stage, Stage::Reversed)
            || (!options.reverse
                && matches!(
                    stage,
                    Stage::Promoted {
                        source_writes: 0,
                        ..
                    }
                )))
    }
}

fn resumed(options: &SwitchOptions, note: String) -> SwitchReport {
    SwitchReport {
        pause_window: 0.0,
        paused_from_ms: 0,
        catch_up: 0.0,
        steps: [0.0; 4],
        offset: 0,
        reverse: options.reverse,
        resumed: true,
        notes: vec![note],
    }
}

pub(crate) fn both_wrote(source_writes: u64, target_writes: u64) -> RedisError {
    RedisError::precondition(
        format!("both servers took writes since the target's promotion ({source_writes} bytes on the source, {target_writes} on the target): neither holds everything"),
        "decide which writes to keep: `REPLICAOF` the other server to it by hand (the follower's own writes are discarded), then run cutover again",
    )
}

pub(crate) fn with_hint(e: RedisError, hint: &str) -> RedisError {
    match e {
        RedisError::Server { message, .. } => RedisError::Server {
            message,
            hint: Some(hint.into()),
        },
        other => other,
    }
}
