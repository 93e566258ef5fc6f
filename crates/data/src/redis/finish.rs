//! The end of a switch's way back: once the run no longer needs to roll back, the source
//! stops following the target, the credentials the switch and the sync set are cleared, and
//! the source refuses writes or takes them as the plan says.
//!
//! Redis has no read-only primary: `replica-read-only` only holds while the server is a
//! replica. What it does enforce on a primary is `min-replicas-to-write`: with fewer good
//! replicas than it asks for, every write gets `NOREPLICAS`. Set beyond any replica count
//! *before* the source stops following the target, the source never takes a write in
//! between. Where the servers stand is read from them, so a repeat (also after a kill)
//! finishes what an attempt left and a second run changes nothing.

use super::error::RedisError;
use super::info::{Role, State};
use super::pair::Pair;
use super::protocol::RedisRequest;
use super::switch::SwitchOptions;
use super::sync::role_text;

/// The `min-replicas-to-write` that keeps a primary from taking any write: more replicas
/// than a server can have (the setting's maximum).
pub const REFUSE_WRITES: &str = "2147483647";

/// What the source server is left as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceAfter {
    /// Every write refused (`NOREPLICAS`).
    ReadOnly,
    /// Takes writes.
    Writable,
}

/// Whether the credentials cutover set for the sync and the switch were set before it
/// did: those that were not (`Some(false)`) are cleared by the finish (`None`: not known,
/// left alone).
#[derive(Debug, Clone, Copy, Default)]
pub struct SetByCutover {
    /// The source's `masterauth` was not set before the switch gave it the target's.
    pub source_masterauth: Option<bool>,
    /// The target's `masterauth` was not set before the sync gave it the source's.
    pub target_masterauth: Option<bool>,
}

/// What a switch left running, as found on the servers (for `cutover status`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LeftRunning {
    /// The source follows the target (writes made on the target flow back) and refuses
    /// writes as a replica.
    pub source_follows: bool,
}

impl Pair {
    /// Ends what the switch left running; idempotent. Returns what was done, one phrase each.
    pub async fn finish(
        &mut self,
        options: &SwitchOptions,
        after: SourceAfter,
        set: SetByCutover,
    ) -> Result<Vec<String>, RedisError> {
        let (s, t) = self.states(&[], &[]).await?;
        let (source, target) = (
            self.source.endpoint.host.clone(),
            self.target.endpoint.host.clone(),
        );
        let mut done = Vec::new();
        let follows = s.follows(&options.target_address, self.target.endpoint.port);
        if !follows && !detached(&s, &t) {
            return Err(RedisError::precondition(
                format!(
                    "the source does not follow the target (source: {}; target: {}): there is no switch's reverse replication to end",
                    role_text(&s),
                    role_text(&t)
                ),
                "run the redis.switch step first; finish only ends what a switch left running",
            ));
        }
        // The source refuses writes before it stops being a replica: no write in between.
        match after {
            SourceAfter::ReadOnly if s.config("min-replicas-to-write") != Some(REFUSE_WRITES) => {
                self.set_source("min-replicas-to-write", REFUSE_WRITES)
                    .await?
            }
            SourceAfter::Writable if s.config("min-replicas-to-write") == Some(REFUSE_WRITES) => {
                self.set_source("min-replicas-to-write", "0").await?
            }
            _ => {}
        }
        if follows {
            self.source
                .done(RedisRequest::Promote {
                    server: self.source.conn(),
                })
                .await?;
            done.push(format!(
                "{source} no longer follows {target} (REPLICAOF NO ONE)"
            ));
        }
        if set.source_masterauth == Some(false) && s.facts.masterauth_set {
            self.source
                .done(RedisRequest::SetMasterAuth {
                    server: self.source.conn(),
                    user: String::new(),
                    password: String::new(),
                })
                .await?;
            done.push(format!("{source}'s masterauth cleared"));
        }
        if set.target_masterauth == Some(false) && t.facts.masterauth_set {
            self.target
                .done(RedisRequest::SetMasterAuth {
                    server: self.target.conn(),
                    user: String::new(),
                    password: String::new(),
                })
                .await?;
            done.push(format!("{target}'s masterauth cleared"));
        }
        done.push(match after {
            SourceAfter::ReadOnly => format!(
                "{source} refuses writes (min-replicas-to-write {REFUSE_WRITES}: NOREPLICAS)"
            ),
            SourceAfter::Writable => format!("{source} takes writes"),
        });
        Ok(done)
    }

    /// True when the source no longer follows the target and takes writes or refuses them
    /// as `after` says.
    pub async fn is_finished(
        &mut self,
        options: &SwitchOptions,
        after: SourceAfter,
    ) -> Result<bool, RedisError> {
        let (s, t) = self.states(&[], &[]).await?;
        let refuses = s.config("min-replicas-to-write") == Some(REFUSE_WRITES);
        Ok(
            !s.follows(&options.target_address, self.target.endpoint.port)
                && detached(&s, &t)
                && refuses == (after == SourceAfter::ReadOnly),
        )
    }

    /// Looks for what the switch left running: the source following a server on the
    /// target's port (`cutover status` has no address the source was told for the target:
    /// that may come from the target host's SSH configuration).
    pub async fn left_running(&mut self) -> Result<LeftRunning, RedisError> {
        let s = self.source.state(&[]).await?;
        let port = self.target.endpoint.port;
        Ok(LeftRunning {
            source_follows: matches!(s.role, Role::Replica { port: p, .. } if p == port),
        })
    }

    async fn set_source(&mut self, name: &str, value: &str) -> Result<(), RedisError> {
        self.source
            .done(RedisRequest::SetConfig {
                server: self.source.conn(),
                name: name.into(),
                value: value.into(),
            })
            .await
    }
}

/// The source was a replica of the target and was detached from it: both are primaries and
/// the source's previous replication id is the target's.
fn detached(s: &State, t: &State) -> bool {
    s.role == Role::Primary
        && t.role == Role::Primary
        && !t.replid().is_empty()
        && s.replid2() == t.replid()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::protocol::Facts;

    fn state(fields: &[(&str, &str)]) -> State {
        State::new(Facts {
            info: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..Facts::default()
        })
    }

    #[test]
    fn a_source_promoted_away_from_the_target_is_detached() {
        let new = state(&[("role", "master"), ("master_replid", "bbb")]);
        let old = state(&[
            ("role", "master"),
            ("master_replid", "ccc"),
            ("master_replid2", "bbb"),
        ]);
        assert!(detached(&old, &new));
    }

    #[test]
    fn a_source_still_following_or_never_switched_is_not_detached() {
        let new = state(&[("role", "master"), ("master_replid", "bbb")]);
        let following = state(&[
            ("role", "slave"),
            ("master_host", "10.0.0.2"),
            ("master_port", "6379"),
            ("master_replid", "bbb"),
        ]);
        let unswitched = state(&[
            ("role", "master"),
            ("master_replid", "aaa"),
            ("master_replid2", "0000000000000000000000000000000000000000"),
        ]);
        assert!(!detached(&following, &new));
        assert!(!detached(&unswitched, &new));
    }
}
