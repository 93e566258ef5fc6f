//! Talking to a server through `psql` on the endpoint's host: scripts in on standard input,
//! COPY-formatted answers out, and a session that holds an exported snapshot open so that
//! several parallel sessions see the database at one instant.

use super::endpoint::Endpoint;
use super::error::PgError;
use super::sql;
use cutover_exec::FailureClass;
use cutover_exec::{frame, Executor, Output, Spawned, Stdin};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// Settings every cutover session starts with, so that text output is the same on every
/// server whatever its configuration: UTC, ISO dates, shortest exact floats, hex bytea.
pub const SESSION_SETUP: &str = "SET client_encoding = 'UTF8';\n\
SET standard_conforming_strings = on;\n\
SET TimeZone = 'UTC';\n\
SET DateStyle = 'ISO, YMD';\n\
SET IntervalStyle = 'postgres';\n\
SET extra_float_digits = 3;\n\
SET bytea_output = 'hex';\n\
SET statement_timeout = 0;\n\
SET lock_timeout = 0;\n\
SET idle_in_transaction_session_timeout = 0;\n";

/// `psql` arguments for running a script from standard input, stopping at the first error,
/// printing bare values.
pub const PSQL_SCRIPT: &[&str] = &["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-f", "-"];

/// Runs `script` (after [`SESSION_SETUP`]) through `psql` on `ep`'s host; `what` names the
/// work in errors. Returns standard output.
pub async fn run_sql(
    exec: &Executor,
    ep: &Endpoint,
    what: &str,
    script: &str,
) -> Result<String, PgError> {
    let input = format!("{SESSION_SETUP}{script}");
    let cmd = ep
        .command("psql", PSQL_SCRIPT)
        .stdin(Stdin::Bytes(input.into_bytes()));
    let out = exec.run(&cmd).await?;
    if !out.success() {
        return Err(tool_error(what, ep, &out));
    }
    Ok(out.stdout)
}

/// Runs `COPY (query) TO STDOUT` for each query and returns the decoded rows of all of them.
pub async fn copy_query(
    exec: &Executor,
    ep: &Endpoint,
    what: &str,
    queries: &[String],
) -> Result<Vec<Vec<Option<String>>>, PgError> {
    copy_query_at(exec, ep, what, queries, None).await
}

/// Like [`copy_query`], inside an exported snapshot when one is given.
pub async fn copy_query_at(
    exec: &Executor,
    ep: &Endpoint,
    what: &str,
    queries: &[String],
    snapshot: Option<&str>,
) -> Result<Vec<Vec<Option<String>>>, PgError> {
    let statements: Vec<String> = queries
        .iter()
        .map(|q| format!("COPY ({q}) TO STDOUT;"))
        .collect();
    copy_statements_at(exec, ep, what, &statements, snapshot).await
}

/// Runs `statements` (COPY ... TO STDOUT and the settings they need, each a whole
/// statement) and returns the decoded rows of all of them; inside an exported snapshot
/// when one is given.
pub async fn copy_statements_at(
    exec: &Executor,
    ep: &Endpoint,
    what: &str,
    statements: &[String],
    snapshot: Option<&str>,
) -> Result<Vec<Vec<Option<String>>>, PgError> {
    let mut script = match snapshot {
        Some(id) => format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSET TRANSACTION SNAPSHOT {};\n",
            sql::literal(id)
        ),
        None => String::new(),
    };
    for s in statements {
        script.push_str(s);
        script.push('\n');
    }
    if snapshot.is_some() {
        script.push_str("COMMIT;\n");
    }
    let out = run_sql(exec, ep, what, &script).await?;
    Ok(sql::copy_rows(&out))
}

/// The error of a client tool that exited non-zero, with a hint for the usual causes.
pub fn tool_error(what: &str, ep: &Endpoint, out: &Output) -> PgError {
    let text = if out.stderr.trim().is_empty() {
        &out.stdout
    } else {
        &out.stderr
    };
    let (class, hint) = diagnose(text, ep);
    PgError::Tool {
        what: what.to_string(),
        host: ep.host.clone(),
        db: ep.db.clone(),
        code: out.code.unwrap_or(-1),
        stderr: frame(text),
        hint,
        class,
    }
}

/// The class of a client tool's failure and what to do about it, from libpq's and the
/// server's messages (read here, where the error is made, once).
fn diagnose(stderr: &str, ep: &Endpoint) -> (FailureClass, Option<String>) {
    let s = stderr.to_ascii_lowercase();
    let server = format!("{}:{}", ep.address, ep.port);
    if s.contains("password authentication failed") || s.contains("no password supplied") {
        (
            FailureClass::Auth,
            Some(format!(
                "check the password given for user `{}` (its secret) or the pgpass file",
                ep.user
            )),
        )
    } else if s.contains("connection refused")
        || s.contains("could not connect")
        || s.contains("could not translate host name")
        || s.contains("timeout expired")
    {
        (FailureClass::Unreachable, Some(format!("is the server running, listening on {server} and reachable from host `{}`? (`address` is how that host reaches it)", ep.host)))
    } else if s.contains("database") && s.contains("does not exist") {
        (
            FailureClass::MissingObject,
            Some(format!("create database `{}` first, or fix `db`", ep.db)),
        )
    } else if s.contains("permission denied")
        || s.contains("must be superuser")
        || s.contains("must be owner")
    {
        (FailureClass::Permission, Some(format!("connect as a role with the needed privileges (a superuser, or the owner of the objects) instead of `{}`", ep.user)))
    } else if s.contains("no such file or directory") || s.contains("not found") {
        (
            FailureClass::MissingObject,
            Some(
                "the client tools may be missing on that host: set `bin` to their directory".into(),
            ),
        )
    } else {
        (FailureClass::Failed, None)
    }
}

/// A session holding a `REPEATABLE READ` transaction open with its snapshot exported:
/// other sessions import it (`SET TRANSACTION SNAPSHOT`) to read the same instant.
pub struct SnapshotHolder {
    session: Spawned,
    /// The exported snapshot's id.
    pub id: String,
}

impl SnapshotHolder {
    /// Opens the session and exports the snapshot.
    pub async fn open(exec: &Executor, ep: &Endpoint) -> Result<Self, PgError> {
        let cmd = ep.command("psql", PSQL_SCRIPT).stdin(Stdin::Piped);
        let mut session = exec.spawn(&cmd).await?;
        let script = format!(
            "{SESSION_SETUP}BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_export_snapshot();\n"
        );
        let protocol = |detail: String| PgError::Protocol {
            what: "the snapshot session".into(),
            host: ep.host.clone(),
            detail,
        };
        if let Some(stdin) = session.stdin.as_mut() {
            stdin
                .write_all(script.as_bytes())
                .await
                .map_err(|e| protocol(e.to_string()))?;
            stdin.flush().await.map_err(|e| protocol(e.to_string()))?;
        }
        let mut line = String::new();
        // A snapshot's name is one short line; a longer one is no answer.
        let read = tokio::time::timeout(Duration::from_secs(60), async {
            BufReader::new((&mut session.stdout).take(4096))
                .read_line(&mut line)
                .await
        })
        .await;
        let id = line.trim().to_string();
        if matches!(read, Ok(Ok(n)) if n > 0) && !id.is_empty() {
            return Ok(SnapshotHolder { session, id });
        }
        drop(session.stdin.take());
        let err = tokio::time::timeout(
            Duration::from_secs(5),
            cutover_exec::bounded::read_stderr(&mut session.stderr),
        )
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default();
        let code = session.child.wait().await.ok().and_then(|s| s.code());
        let out = Output {
            host: ep.host.clone(),
            code,
            stdout: String::new(),
            stderr: exec.redactor().redact_bytes(&err),
            duration: Duration::ZERO,
        };
        Err(tool_error("export a snapshot", ep, &out))
    }

    /// Ends the transaction and the session.
    pub async fn close(mut self) {
        if let Some(mut stdin) = self.session.stdin.take() {
            let _ = stdin.write_all(b"COMMIT;\n").await;
            drop(stdin);
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.session.child.wait()).await;
    }
}

/// Runs `script` (after [`SESSION_SETUP`]) through `psql` on `ep`'s host, handing each line of
/// output to `on_line` as it arrives (progress while a long script runs).
pub async fn run_streaming(
    exec: &Executor,
    ep: &Endpoint,
    what: &str,
    script: &str,
    on_line: &mut (dyn FnMut(&str) + Send),
) -> Result<(), PgError> {
    let input = format!("{SESSION_SETUP}{script}");
    let cmd = ep
        .command("psql", PSQL_SCRIPT)
        .stdin(Stdin::Bytes(input.into_bytes()));
    let started = std::time::Instant::now();
    let mut s = exec.spawn(&cmd).await?;
    let mut stderr = s.stderr;
    let limit = cutover_exec::bounded::DEFAULT_MAX_STDOUT as u64;
    let (child, stdout) = (&mut s.child, &mut s.stdout);
    let read_out = async {
        let mut bounded = BufReader::new(stdout.take(limit));
        let mut lines = (&mut bounded).lines();
        while let Some(line) = lines.next_line().await? {
            on_line(&exec.redactor().redact(&line));
        }
        if bounded.into_inner().limit() == 0 {
            // Past the bound: ended rather than read further (its status says it failed).
            let _ = child.start_kill();
        }
        Ok::<(), std::io::Error>(())
    };
    let (a, b) = tokio::join!(read_out, cutover_exec::bounded::read_stderr(&mut stderr));
    let io = |e: std::io::Error| {
        PgError::Exec(cutover_exec::ExecError::Io {
            host: ep.host.clone(),
            source: e,
        })
    };
    a.map_err(io)?;
    let err = b.map_err(io)?;
    let status = s.child.wait().await.map_err(io)?;
    if !status.success() {
        let out = Output {
            host: ep.host.clone(),
            code: status.code(),
            stdout: String::new(),
            stderr: exec.redactor().redact_bytes(&err),
            duration: started.elapsed(),
        };
        return Err(tool_error(what, ep, &out));
    }
    Ok(())
}
