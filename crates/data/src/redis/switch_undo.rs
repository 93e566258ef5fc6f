//! Undoing a switch (also one cut off part-way): the source becomes the primary again and
//! the target follows it, as during the sync, without losing writes made on the target since
//! the switch.

use super::error::RedisError;
use super::pair::Pair;
use super::protocol::{RedisReply, RedisRequest};
use super::stage::Stage;
use super::switch::{both_wrote, with_hint, SwitchOptions};
use std::time::{Duration, Instant};

impl Pair {
    /// Undoes a switch (also one cut off part-way): the source becomes the primary again
    /// and the target follows it, as during the sync, without losing writes made on the
    /// target since the switch (the source catches up with them first, then the roles swap
    /// back under a pause of the target's writes). `None` when nothing was switched.
    /// `source_masterauth_was_set` is what [`Pair::source_masterauth_set`] said before the
    /// switch: `Some(false)` clears the credentials the switch gave the source.
    pub async fn undo_switch(
        &mut self,
        options: &SwitchOptions,
        source_masterauth_was_set: Option<bool>,
    ) -> Result<Option<String>, RedisError> {
        let (stage, _, _) = self.stage(options).await?;
        let mut done = Vec::new();
        match stage {
            Stage::Syncing => {
                // Killed inside the pause before the promotion, or never switched.
                self.source
                    .done(RedisRequest::Unpause {
                        server: self.source.conn(),
                        follow: None,
                    })
                    .await?;
                return Ok(Some(
                    "the target had not been promoted: the source's writes are unpaused".into(),
                ));
            }
            Stage::Promoted {
                target_writes: 0, ..
            } => {
                let primary = self.source_seen_from_target(&options.sync);
                self.target
                    .done(RedisRequest::Follow {
                        server: self.target.conn(),
                        primary,
                    })
                    .await?;
                self.source
                    .done(RedisRequest::Unpause {
                        server: self.source.conn(),
                        follow: None,
                    })
                    .await?;
                done.push("the target took no writes since its promotion: it follows the source again and the source's writes are unpaused".to_string());
            }
            Stage::Promoted {
                source_writes: 0,
                target_writes,
            } => {
                let primary = self.target_seen_from_source(options);
                self.source
                    .done(RedisRequest::Follow {
                        server: self.source.conn(),
                        primary,
                    })
                    .await?;
                self.source
                    .done(RedisRequest::Unpause {
                        server: self.source.conn(),
                        follow: None,
                    })
                    .await?;
                self.wait_reverse_link(Duration::from_secs(30)).await?;
                done.push(format!("the source caught up with the {target_writes} bytes of writes made on the target"));
                done.push(self.switch_back(options).await?);
            }
            Stage::Promoted {
                source_writes,
                target_writes,
            } => return Err(both_wrote(source_writes, target_writes)),
            Stage::Reversed => done.push(self.switch_back(options).await?),
            Stage::Unrelated(s, t) => {
                return Err(RedisError::precondition(
                    format!("cannot tell what the switch left: source: {s}; target: {t}"),
                    "set the roles by hand (REPLICAOF), then run `cutover rollback` again",
                ))
            }
        }
        if source_masterauth_was_set == Some(false) {
            self.source
                .done(RedisRequest::SetMasterAuth {
                    server: self.source.conn(),
                    user: String::new(),
                    password: String::new(),
                })
                .await?;
        }
        Ok(Some(done.join("; ")))
    }

    /// The switch the other way: the source (a replica of the target) catches up under a
    /// pause of the target's writes, becomes the primary, and the target follows it again.
    async fn switch_back(&mut self, options: &SwitchOptions) -> Result<String, RedisError> {
        let timeout_ms = options.pause_timeout().as_millis() as u64;
        let t0 = Instant::now();
        let offset = match self
            .target
            .ask(RedisRequest::Pause {
                server: self.target.conn(),
                timeout_ms,
            })
            .await?
        {
            RedisReply::Paused { offset } => offset,
            other => return Err(self.target.unexpected(&other)),
        };
        let promoted = self
            .source
            .ask(RedisRequest::CatchUpAndPromote {
                server: self.source.conn(),
                offset,
                max_wait_ms: options.max_wait.max(Duration::from_secs(30)).as_millis() as u64,
            })
            .await;
        if let Err(e) = promoted {
            let _ = self
                .target
                .done(RedisRequest::Unpause {
                    server: self.target.conn(),
                    follow: None,
                })
                .await;
            return Err(with_hint(
                e,
                "nothing was switched back: the target is still the primary",
            ));
        }
        let follow = Some(self.source_seen_from_target(&options.sync));
        self.target
            .done(RedisRequest::Unpause {
                server: self.target.conn(),
                follow,
            })
            .await?;
        Ok(format!(
            "the source is the primary again with every write made on the target (writes paused {:.3}s); the target follows it",
            t0.elapsed().as_secs_f64()
        ))
    }
}
