//! The target kept in sync by the servers' own replication: after the preflight, the target
//! gets the source's credentials (`CONFIG SET masteruser/masterauth`, over the agent's
//! channel) and `REPLICAOF source_address port`. The full sync (bytes received, keys loaded)
//! is watched, then the offset lag; a dropped link is retried by the target itself, with a
//! partial resync from the source's backlog where the servers allow it.
//!
//! Why native replication rather than cutover acting as a replica: the servers stream the
//! RDB and then the command stream at their own speed, resume a dropped link from the
//! backlog (`PSYNC`), and carry every type (modules included) without cutover parsing the
//! RDB format of every version. Its limits: the target must reach the source over the
//! network, and load the RDB format the source sends (checked first).

use super::error::RedisError;
use super::info::{Role, State};
use super::pair::{Pair, Progress};
use super::preflight::{self, check_sync};
use super::protocol::{Conn, RedisReply, RedisRequest};
use super::sync_stage::{StageSink, SyncStage};
use std::time::{Duration, Instant};

/// How often a watched sync looks at both servers: a look is one `INFO` on each, so a
/// short interval costs the servers little and ends the watch soon after the target is in
/// sync (at 50 ms the watch overshot by 25 ms on average).
const POLL: Duration = Duration::from_millis(20);

/// The target's replication bytes received since it started (INFO stats, Redis 6.2+).
const INPUT_BYTES: &str = "total_net_repl_input_bytes";

/// How a sync runs.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// How the target *server* reaches the source server.
    pub source_address: String,
    /// Let the sync replace the keys a target holds.
    pub replace: bool,
    /// The sync is done once the target is less than this many bytes behind.
    pub max_lag_bytes: u64,
    /// Give up on the full sync after this long.
    pub timeout: Duration,
    /// Give up when the link to the source stays down this long.
    pub link_timeout: Duration,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            source_address: "127.0.0.1".into(),
            replace: false,
            max_lag_bytes: 1 << 20,
            timeout: Duration::from_secs(24 * 3600),
            link_timeout: Duration::from_secs(60),
        }
    }
}

/// The target's role before the sync, journaled so that rollback restores it. Passwords are
/// never kept: only whether `masterauth` was set.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Previous {
    /// The primary it followed (`host`, `port`), if it was a replica.
    pub primary: Option<(String, u16)>,
    /// Its `masteruser`.
    pub masteruser: String,
    /// Whether `masterauth` was set.
    pub masterauth_set: bool,
    /// Keys it held.
    pub keys: u64,
    /// Its `repl-diskless-load` (the sync loads an empty target straight from the socket).
    #[serde(default)]
    pub diskless_load: Option<String>,
}

/// What the preflight found.
#[derive(Debug, Clone)]
pub struct Preflight {
    /// The source's version.
    pub source_version: String,
    /// The target's version.
    pub target_version: String,
    /// Differences that do not stop the sync.
    pub warnings: Vec<String>,
    /// The target's role now (to journal before anything changes).
    pub previous: Previous,
    /// The target follows the source already (a resumed sync).
    pub running: bool,
}

/// How far behind the target is.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Lag {
    /// Replication bytes the target has not processed.
    pub bytes: u64,
}

/// What a finished sync reports.
#[derive(Debug, Clone, serde::Serialize)]
pub struct SyncReport {
    /// Source version.
    pub source_version: String,
    /// Target version.
    pub target_version: String,
    /// Keys on the target once in sync.
    pub keys: u64,
    /// Bytes the target received from the source during the sync: the RDB and the command
    /// stream until in sync (the target's `total_net_repl_input_bytes`); on a server
    /// without that figure, the most bytes seen received in a full sync (sampled: a small
    /// full sync can be over between two samples).
    pub full_sync_bytes: u64,
    /// Full syncs the source served meanwhile.
    pub full_syncs: u64,
    /// Partial resyncs the source accepted meanwhile (a dropped link resumed).
    pub partial_resyncs: u64,
    /// Seconds until the target was in sync.
    pub seconds: f64,
    /// Lag when the step finished.
    pub lag: Lag,
}

impl Pair {
    /// Checks both servers, refusing before anything changes; reaches the source from the
    /// target's host with the source's credentials (the path the target server takes).
    pub async fn preflight(&mut self, options: &SyncOptions) -> Result<Preflight, RedisError> {
        let (s, t) = self
            .states(
                &preflight::names(preflight::SOURCE_COMMANDS),
                &preflight::names(preflight::TARGET_COMMANDS),
            )
            .await?;
        let port = self.source.endpoint.port;
        let findings = check_sync(
            &s,
            &t,
            &self.source.endpoint.describe(),
            &self.target.endpoint.describe(),
            &options.source_address,
            port,
            options.replace,
        );
        let warnings = findings.into_result()?;
        self.sync_counters = Some((
            s.number("sync_full"),
            s.number("sync_partial_ok"),
            t.number(INPUT_BYTES),
        ));
        let running = t.follows(&options.source_address, port);
        self.previous = Some(previous(&t));
        if !running {
            self.reach_source_from_target(options).await?;
        }
        Ok(Preflight {
            source_version: s.version_text(),
            target_version: t.version_text(),
            warnings,
            previous: previous(&t),
            running,
        })
    }

    /// The source as the target server reaches it.
    pub(crate) fn source_seen_from_target(&self, options: &SyncOptions) -> Conn {
        Conn {
            address: options.source_address.clone(),
            ..self.source.conn()
        }
    }

    async fn reach_source_from_target(&mut self, options: &SyncOptions) -> Result<(), RedisError> {
        let server = self.source_seen_from_target(options);
        match self.target.ask(RedisRequest::Reach { server }).await {
            Ok(RedisReply::Reached { .. }) => Ok(()),
            Ok(other) => Err(self.target.unexpected(&other)),
            Err(RedisError::Unreachable { message, .. }) => Err(RedisError::Unreachable {
                message: format!("from the target's host `{}`, the source is out of reach: {message}", self.target.endpoint.host),
                hint: format!(
                    "the target server connects to the source at {}:{} (`source_address`): check that address, the source's `bind` and `protected-mode`, and the firewall",
                    options.source_address, self.source.endpoint.port
                ),
            }),
            Err(e) => Err(e),
        }
    }

    /// Makes the target follow the source (credentials first). An empty target loads the
    /// full sync straight from the socket (`repl-diskless-load on-empty-db`, for the time of
    /// the sync: no copy of the RDB written to its disk and read back).
    pub async fn start_sync(&mut self, options: &SyncOptions) -> Result<(), RedisError> {
        let primary = self.source_seen_from_target(options);
        let server = self.target.conn();
        if self.diskless_load_was("disabled") {
            self.set_diskless_load("on-empty-db").await?;
        }
        self.target
            .done(RedisRequest::Follow { server, primary })
            .await
    }

    fn diskless_load_was(&self, value: &str) -> bool {
        self.previous
            .as_ref()
            .and_then(|p| p.diskless_load.as_deref())
            == Some(value)
    }

    pub(crate) async fn set_diskless_load(&mut self, value: &str) -> Result<(), RedisError> {
        let server = self.target.conn();
        let (name, value) = ("repl-diskless-load".to_string(), value.to_string());
        self.target
            .done(RedisRequest::SetConfig {
                server,
                name,
                value,
            })
            .await
    }

    /// Watches the full sync, then the lag, until it is under `max_lag_bytes`.
    pub async fn watch_sync(
        &mut self,
        options: &SyncOptions,
        progress: Progress<'_>,
    ) -> Result<SyncReport, RedisError> {
        self.watch_sync_staged(options, progress, &|_| {}).await
    }

    /// [`watch_sync`](Self::watch_sync), also giving `stages` the figures of every look at
    /// the servers (about 50 a second: the receiver keeps what it needs).
    pub async fn watch_sync_staged(
        &mut self,
        options: &SyncOptions,
        progress: Progress<'_>,
        stages: StageSink<'_>,
    ) -> Result<SyncReport, RedisError> {
        let started = Instant::now();
        let (full0, partial0, input0) = match self.sync_counters {
            Some(c) => c,
            None => {
                let (s0, t0) = self.states(&[], &[]).await?;
                (
                    s0.number("sync_full"),
                    s0.number("sync_partial_ok"),
                    t0.number(INPUT_BYTES),
                )
            }
        };
        let port = self.source.endpoint.port;
        let mut bytes = 0u64;
        let mut last = String::new();
        let mut shown = Instant::now();
        // Reset whenever the sync moves (link up, more bytes received, more loaded): a full
        // sync of a large dataset takes long, one that fails over and over makes no headway.
        let mut moved = Instant::now();
        let mut loaded = String::new();
        loop {
            let (s, t) = self.progress_states().await?;
            if !t.follows(&options.source_address, port) {
                return Err(RedisError::precondition(
                    format!("the target {} no longer follows the source at {}:{port} (its role: {})", self.target.endpoint.describe(), options.source_address, role_text(&t)),
                    "someone changed its replication meanwhile; run the step again to set it up again",
                ));
            }
            let read = t.number("master_sync_read_bytes");
            let now_loaded = t
                .info("loading_loaded_bytes")
                .unwrap_or_default()
                .to_string();
            if read > bytes
                || (t.number("loading") == 1 && now_loaded != loaded)
                || matches!(t.role, Role::Replica { link_up: true, .. })
            {
                moved = Instant::now();
            }
            bytes = bytes.max(read);
            loaded = now_loaded;
            let stage = SyncStage::of(&s, &t);
            stages(stage.clone());
            let (line, lag) = (stage.line(), stage.lag());
            // A line when the phase changes, else at most one a second.
            let phase = |l: &str| l.split(':').next().unwrap_or_default().to_string();
            if phase(&line) != phase(&last)
                || (line != last && shown.elapsed() >= Duration::from_secs(1))
            {
                progress(line.clone());
                last = line;
                shown = Instant::now();
            }
            if let Some(lag) = lag.filter(|l| *l <= options.max_lag_bytes) {
                if self.diskless_load_was("disabled") {
                    self.set_diskless_load("disabled").await?;
                }
                return Ok(SyncReport {
                    source_version: s.version_text(),
                    target_version: t.version_text(),
                    keys: t.keys(),
                    full_sync_bytes: bytes.max(t.number(INPUT_BYTES).saturating_sub(input0)),
                    full_syncs: s.number("sync_full").saturating_sub(full0),
                    partial_resyncs: s.number("sync_partial_ok").saturating_sub(partial0),
                    seconds: started.elapsed().as_secs_f64(),
                    lag: Lag { bytes: lag },
                });
            }
            if moved.elapsed() >= options.link_timeout {
                return Err(RedisError::precondition(
                    format!(
                        "the target {} has not been able to sync from the source at {}:{port} for {} s",
                        self.target.endpoint.describe(),
                        options.source_address,
                        options.link_timeout.as_secs()
                    ),
                    "look at the target server's log (a refused password, an RDB it cannot load, a network path that drops) and the source's",
                ));
            }
            if started.elapsed() > options.timeout {
                return Err(RedisError::precondition(
                    format!("the target was not in sync within {:?}", options.timeout),
                    "look at both servers' logs; raise `timeout` for a very large dataset",
                ));
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// How far behind the target is now (`None`: not in sync: link down or full sync).
    pub async fn lag(&mut self) -> Result<Option<Lag>, RedisError> {
        let (s, t) = self.states(&[], &[]).await?;
        Ok(SyncStage::of(&s, &t).lag().map(|bytes| Lag { bytes }))
    }

    /// True when the target follows the source with its link up.
    pub async fn is_syncing(&mut self, options: &SyncOptions) -> Result<bool, RedisError> {
        let (_, t) = self.states(&[], &[]).await?;
        Ok(
            t.follows(&options.source_address, self.source.endpoint.port)
                && matches!(t.role, Role::Replica { link_up: true, .. }),
        )
    }
}

/// The target's role now, journaled before the sync changes it.
fn previous(t: &State) -> Previous {
    Previous {
        primary: match &t.role {
            Role::Replica { host, port, .. } => Some((host.clone(), *port)),
            Role::Primary => None,
        },
        masteruser: t.config("masteruser").unwrap_or_default().to_string(),
        masterauth_set: t.facts.masterauth_set,
        keys: t.keys(),
        diskless_load: t.config("repl-diskless-load").map(str::to_string),
    }
}

/// `master` or `replica of host:port (link up|down)`.
pub fn role_text(s: &State) -> String {
    match &s.role {
        Role::Primary => "primary".into(),
        Role::Replica {
            host,
            port,
            link_up,
        } => {
            format!(
                "replica of {host}:{port}, link {}",
                if *link_up { "up" } else { "down" }
            )
        }
    }
}
