//! A `psql` session kept open for a sequence of short queries whose latency matters (the
//! switch's freeze window): no SSH channel or connection setup per query, one round trip
//! each. Every query's answer ends with a sentinel line printed by `\echo`.

use super::endpoint::Endpoint;
use super::error::PgError;
use super::session::{tool_error, PSQL_SCRIPT, SESSION_SETUP};
use cutover_exec::{Executor, Output, Spawned, Stdin};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

const SENTINEL: &str = "__cutover_end_of_answer__";

/// An open session on one server.
pub struct LiveSession {
    ep: Endpoint,
    exec: Executor,
    session: Spawned,
}

impl LiveSession {
    /// Connects (through `psql` on the endpoint's host).
    pub async fn open(exec: &Executor, ep: &Endpoint) -> Result<Self, PgError> {
        let cmd = ep.command("psql", PSQL_SCRIPT).stdin(Stdin::Piped);
        let session = exec.spawn(&cmd).await?;
        let mut s = LiveSession {
            ep: ep.clone(),
            exec: exec.clone(),
            session,
        };
        s.query(SESSION_SETUP).await?;
        Ok(s)
    }

    /// Runs `sql` (one or more statements) and returns its output lines.
    pub async fn query(&mut self, sql: &str) -> Result<Vec<String>, PgError> {
        let first = sql.lines().next().unwrap_or_default();
        self.query_as(&format!("`{first}`"), sql).await
    }

    /// [`LiveSession::query`], its failure saying `what` was being done.
    pub async fn query_as(&mut self, what: &str, sql: &str) -> Result<Vec<String>, PgError> {
        let script = format!("{sql}\n\\echo {SENTINEL}\n");
        let sent = match self.session.stdin.as_mut() {
            Some(stdin) => {
                stdin.write_all(script.as_bytes()).await.is_ok() && stdin.flush().await.is_ok()
            }
            None => false,
        };
        let mut out = Vec::new();
        if sent {
            // A reader per answer loses nothing: psql writes nothing after the sentinel
            // until it is sent the next query.
            // Bounded: a host answering without end fails the query (below) instead of
            // filling memory.
            let answer_bytes = cutover_exec::bounded::DEFAULT_MAX_STDOUT as u64;
            let mut lines = BufReader::new((&mut self.session.stdout).take(answer_bytes)).lines();
            let answer = tokio::time::timeout(Duration::from_secs(300), async {
                while let Ok(Some(line)) = lines.next_line().await {
                    if line == SENTINEL {
                        return true;
                    }
                    out.push(line);
                }
                false
            })
            .await;
            if answer == Ok(true) {
                return Ok(out);
            }
        }
        Err(self.failure(what).await)
    }

    /// The first line of the answer to `sql`, trimmed.
    pub async fn value(&mut self, sql: &str) -> Result<String, PgError> {
        let lines = self.query(sql).await?;
        Ok(lines
            .first()
            .map(|l| l.trim().to_string())
            .unwrap_or_default())
    }

    async fn failure(&mut self, what: &str) -> PgError {
        drop(self.session.stdin.take());
        let err = tokio::time::timeout(
            Duration::from_secs(5),
            cutover_exec::bounded::read_stderr(&mut self.session.stderr),
        )
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default();
        let code = tokio::time::timeout(Duration::from_secs(5), self.session.child.wait())
            .await
            .ok()
            .and_then(|s| s.ok())
            .and_then(|s| s.code());
        let out = Output {
            host: self.ep.host.clone(),
            code: Some(code.unwrap_or(-1)),
            stdout: String::new(),
            stderr: self.exec.redactor().redact_bytes(&err),
            duration: Duration::ZERO,
        };
        tool_error(what, &self.ep, &out)
    }

    /// Ends the session.
    pub async fn close(mut self) {
        drop(self.session.stdin.take());
        let _ = tokio::time::timeout(Duration::from_secs(5), self.session.child.wait()).await;
    }
}
