//! Where a source and a target stand, read from both servers rather than from any record
//! of cutover's: who follows whom, and (from `master_replid2` and `second_repl_offset`)
//! whether the target was promoted from the source and how many bytes of writes each took
//! since. A switch resumed after a crash, and its undo, act on this.

use super::error::RedisError;
use super::info::{Role, State};
use super::pair::Pair;
use super::switch::SwitchOptions;
use super::sync::role_text;

/// Where a pair stands, read from both servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stage {
    /// The target follows the source: not switched.
    Syncing,
    /// The target is the primary and the source follows it.
    Reversed,
    /// The target was promoted from the source, which is a primary too; writes each took
    /// since the promotion (replication bytes).
    Promoted {
        /// On the source.
        source_writes: u64,
        /// On the target.
        target_writes: u64,
    },
    /// Neither: `(source's role, target's role)`.
    Unrelated(String, String),
}

/// Reads the stage of a pair.
pub fn stage(s: &State, t: &State, source_at: (&str, u16), target_at: (&str, u16)) -> Stage {
    if t.follows(source_at.0, source_at.1) {
        return Stage::Syncing;
    }
    if t.role == Role::Primary {
        if s.follows(target_at.0, target_at.1) {
            return Stage::Reversed;
        }
        if s.role == Role::Primary && !s.replid().is_empty() && t.replid2() == s.replid() {
            if let Some(at) = t.promoted_at() {
                return Stage::Promoted {
                    source_writes: s.offset().saturating_sub(at),
                    target_writes: t.offset().saturating_sub(at),
                };
            }
        }
    }
    Stage::Unrelated(role_text(s), role_text(t))
}

impl Pair {
    fn addresses(&self, options: &SwitchOptions) -> ((String, u16), (String, u16)) {
        (
            (
                options.sync.source_address.clone(),
                self.source.endpoint.port,
            ),
            (options.target_address.clone(), self.target.endpoint.port),
        )
    }

    /// Where the pair stands now.
    pub async fn stage(
        &mut self,
        options: &SwitchOptions,
    ) -> Result<(Stage, State, State), RedisError> {
        let (s, t) = self.states(&[], &[]).await?;
        let ((sa, sp), (ta, tp)) = self.addresses(options);
        Ok((stage(&s, &t, (&sa, sp), (&ta, tp)), s, t))
    }
}
