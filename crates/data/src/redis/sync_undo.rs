//! Undoing a sync: the target stops following the source and gets back the role it had
//! (journaled before the sync changed it), its credentials setting and the load setting the
//! sync changed; a target that was a primary loses the copied keys.

use super::error::RedisError;
use super::info::Role;
use super::pair::Pair;
use super::protocol::{Conn, RedisRequest};
use super::sync::{role_text, Previous, SyncOptions};

impl Pair {
    /// Undoes a sync: the target stops following the source, gets back the primary it
    /// followed before (if any) and its credentials setting, and loses the copied keys when
    /// it was a primary (it held none, or `replace` gave them up). A target that no longer
    /// follows the source is left alone.
    pub async fn undo_sync(
        &mut self,
        options: &SyncOptions,
        previous: Option<&Previous>,
    ) -> Result<String, RedisError> {
        let (s, t) = self.states(&[], &[]).await?;
        if !t.follows(&options.source_address, self.source.endpoint.port) {
            if t.role == Role::Primary && !s.replid().is_empty() && t.replid2() == s.replid() {
                return Err(RedisError::precondition(
                    "the target was promoted from the source (a switch is not undone)",
                    "roll back the redis.switch step first (`cutover rollback` does, newest first)",
                ));
            }
            return Ok(format!(
                "the target does not follow the source (its role: {}): nothing to undo",
                role_text(&t)
            ));
        }
        let server = self.target.conn();
        let mut done = Vec::new();
        if let Some(value) = previous.and_then(|p| p.diskless_load.clone()) {
            // A sync cut off before it finished left its own setting.
            self.set_diskless_load(&value).await?;
        }
        let user = previous.map(|p| p.masteruser.clone()).unwrap_or_default();
        let restore_auth = previous.is_none_or(|p| !p.masterauth_set);
        match previous.and_then(|p| p.primary.clone()) {
            Some((host, port)) => {
                // Its old credentials: the user as it was, the password unknown (never kept).
                let primary = Conn {
                    address: host.clone(),
                    port,
                    user: Some(user).filter(|u| !u.is_empty()),
                    password: None,
                };
                self.target
                    .done(RedisRequest::Follow { server, primary })
                    .await?;
                done.push(format!("the target follows {host}:{port} again, as before"));
            }
            None => {
                self.target
                    .done(RedisRequest::Promote {
                        server: server.clone(),
                    })
                    .await?;
                self.target
                    .done(RedisRequest::FlushAll {
                        server: server.clone(),
                    })
                    .await?;
                done.push(format!(
                    "the target is a primary again and the {} copied key(s) are removed",
                    t.keys()
                ));
                if restore_auth {
                    self.target
                        .done(RedisRequest::SetMasterAuth {
                            server,
                            user,
                            password: String::new(),
                        })
                        .await?;
                }
            }
        }
        if !restore_auth {
            done.push("masterauth was set before the sync and now holds the source's password (cutover keeps no passwords): set it again".into());
        }
        Ok(done.join("; "))
    }
}
