//! The controller's end of the MariaDB/MySQL requests: an agent on the endpoint's host
//! (started over SSH, or in-process for the controller's own machine) answering typed calls.
//! Agent failures come back classified (`mysql-auth`, `mysql-unreachable`, `mysql-ERRNO`...)
//! and become [`MysqlError`]s naming the side, in their failure class, with what to do.

use super::endpoint::Endpoint;
use super::error::MysqlError;
use super::protocol::{Conn, MysqlReply, MysqlRequest, Rows};
use crate::agent::protocol::{Reply, Request};
use crate::agent::session::Session;
use crate::agent::AgentBinary;
use crate::agent::AgentError;
use cutover_exec::{Executor, FailureClass, Redactor, SecretValue};

/// An agent serving one server.
pub struct Agent {
    session: Session,
    /// The plan's secrets, and the passwords this agent was given: a server's error can
    /// quote a statement, and the statement a password.
    redactors: Vec<Redactor>,
    /// The server.
    pub endpoint: Endpoint,
    /// `source` or `target`, for messages.
    pub side: &'static str,
}

impl Agent {
    /// Starts the agent on the endpoint's host.
    pub async fn open(
        exec: &Executor,
        binary: &AgentBinary,
        endpoint: &Endpoint,
        side: &'static str,
    ) -> Result<Agent, MysqlError> {
        let session = Session::open(exec, &endpoint.host, binary, endpoint.sudo).await?;
        let own: Vec<(&str, &SecretValue)> = endpoint
            .password
            .iter()
            .map(|p| ("mysql_password", p))
            .collect();
        Ok(Agent {
            session,
            redactors: vec![exec.redactor().clone(), Redactor::new(own)],
            endpoint: endpoint.clone(),
            side,
        })
    }

    /// Also hides `secret` from the errors this agent reports (a password sent in a
    /// statement, such as the replication account's).
    pub fn hide(&mut self, name: &str, secret: &SecretValue) {
        self.redactors.push(Redactor::new([(name, secret)]));
    }

    fn redact(&self, text: &str) -> String {
        self.redactors
            .iter()
            .fold(text.to_string(), |t, r| r.redact(&t))
    }

    /// How the agent reaches the server.
    pub fn conn(&self) -> Conn {
        self.endpoint.conn()
    }

    /// Sends a request without waiting for its reply.
    pub async fn send(&mut self, request: MysqlRequest) -> Result<(), MysqlError> {
        self.session
            .send(&Request::Mysql { request })
            .await
            .map_err(|e| self.classify(e))
    }

    /// Reads the next reply.
    pub async fn recv(&mut self) -> Result<MysqlReply, MysqlError> {
        match self.session.recv().await {
            Ok(Reply::Mysql { reply }) => Ok(reply),
            Ok(other) => Err(self.classify(self.session.unexpected(&other))),
            Err(e) => Err(self.classify(e)),
        }
    }

    /// Sends `request` and returns its first reply that is not progress (progress goes to
    /// `progress` as rows and bytes).
    pub async fn call(
        &mut self,
        request: MysqlRequest,
        progress: &mut (dyn FnMut(u64, u64) + Send),
    ) -> Result<MysqlReply, MysqlError> {
        self.send(request).await?;
        loop {
            match self.recv().await? {
                MysqlReply::Progress { rows, bytes } => progress(rows, bytes),
                other => return Ok(other),
            }
        }
    }

    /// Runs `statements` on the agent's default session; the rows of each.
    pub async fn sql(&mut self, statements: &[&str]) -> Result<Vec<Rows>, MysqlError> {
        self.sql_on("", statements).await
    }

    /// Runs `statements` on the agent's session `session`.
    pub async fn sql_on(
        &mut self,
        session: &str,
        statements: &[&str],
    ) -> Result<Vec<Rows>, MysqlError> {
        let request = MysqlRequest::Sql {
            server: self.conn(),
            session: session.into(),
            statements: statements.iter().map(|s| s.to_string()).collect(),
            ignore: Vec::new(),
        };
        match self.call(request, &mut |_, _| {}).await? {
            MysqlReply::Results { results, .. } => Ok(results),
            other => Err(self.unexpected(&other)),
        }
    }

    /// The rows of one statement, each as `column -> value` (for `SHOW ... STATUS`, whose
    /// columns differ between versions).
    pub async fn named(
        &mut self,
        statement: &str,
    ) -> Result<Vec<std::collections::HashMap<String, Option<String>>>, MysqlError> {
        let request = MysqlRequest::Sql {
            server: self.conn(),
            session: String::new(),
            statements: vec![statement.to_string()],
            ignore: Vec::new(),
        };
        match self.call(request, &mut |_, _| {}).await? {
            MysqlReply::Results { results, columns } => {
                let names = columns.into_iter().next().unwrap_or_default();
                Ok(results
                    .into_iter()
                    .next()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|row| names.iter().cloned().zip(row).collect())
                    .collect())
            }
            other => Err(self.unexpected(&other)),
        }
    }

    /// The rows of one statement.
    pub async fn rows(&mut self, statement: &str) -> Result<Rows, MysqlError> {
        Ok(self
            .sql(&[statement])
            .await?
            .into_iter()
            .next()
            .unwrap_or_default())
    }

    /// The first value of one statement's first row (`None`: no row, or NULL).
    pub async fn value(&mut self, statement: &str) -> Result<Option<String>, MysqlError> {
        Ok(self
            .rows(statement)
            .await?
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next().flatten()))
    }

    /// Runs statements, their rows not wanted.
    pub async fn run(&mut self, statements: &[&str]) -> Result<(), MysqlError> {
        self.sql(statements).await.map(drop)
    }

    /// Runs statements, going on past server errors numbered in `ignore`.
    pub async fn run_ignoring(
        &mut self,
        statements: &[String],
        ignore: &[u16],
    ) -> Result<(), MysqlError> {
        let request = MysqlRequest::Sql {
            server: self.conn(),
            session: String::new(),
            statements: statements.to_vec(),
            ignore: ignore.to_vec(),
        };
        match self.call(request, &mut |_, _| {}).await? {
            MysqlReply::Results { .. } => Ok(()),
            other => Err(self.unexpected(&other)),
        }
    }

    /// An error for a reply that does not fit.
    pub fn unexpected(&self, r: &MysqlReply) -> MysqlError {
        MysqlError::Agent(AgentError::Protocol {
            host: self.endpoint.host.clone(),
            detail: format!("unexpected MySQL reply {r:?}"),
        })
    }

    /// Stops the agent (closing every session it holds).
    pub async fn close(self) {
        self.session.close().await;
    }

    /// Turns an agent error into a typed one, naming the side and what to do.
    fn classify(&self, e: AgentError) -> MysqlError {
        let AgentError::Reported { message, code, .. } = e else {
            return MysqlError::Agent(e);
        };
        let (side, ep) = (self.side, &self.endpoint);
        let message = self.redact(&format!("{side}: {message}"));
        let (class, hint) = match code.as_str() {
            "mysql-auth" => (
                FailureClass::Auth,
                Some(format!(
                    "check the password of the {side} (its secret) and `user` (`{}`), and that the server lets the account connect from the address its message names (`'{}'@'ADDRESS'`)",
                    ep.user, ep.user
                )),
            ),
            "mysql-unreachable" => (
                FailureClass::Unreachable,
                Some(format!(
                    "is the server running and listening there? `address` and `port` are how host `{}` reaches it",
                    ep.host
                )),
            ),
            "mysql-listen" | "mysql-stream" => (FailureClass::Unreachable, None),
            "mysql-lock" => (FailureClass::Precondition, None),
            "mysql-1227" | "mysql-1142" | "mysql-1143" | "mysql-1370" => (
                FailureClass::Permission,
                Some(format!(
                    "connect as an account with the privileges cutover needs (e.g. `GRANT ALL ON *.* TO {} WITH GRANT OPTION`)",
                    ep.user
                )),
            ),
            "mysql-1049" | "mysql-1146" => (FailureClass::MissingObject, None),
            _ => (FailureClass::Failed, None),
        };
        MysqlError::Failed {
            message,
            hint,
            class,
        }
    }
}

/// Opens the agents of both sides at once.
pub async fn open_pair(
    exec: &Executor,
    binary: &AgentBinary,
    source: &Endpoint,
    target: &Endpoint,
) -> Result<(Agent, Agent), MysqlError> {
    let (a, b) = tokio::join!(
        Agent::open(exec, binary, source, "source"),
        Agent::open(exec, binary, target, "target")
    );
    match (a, b) {
        (Ok(a), Ok(b)) => Ok((a, b)),
        (Err(e), Ok(b)) => {
            b.close().await;
            Err(e)
        }
        (Ok(a), Err(e)) => {
            a.close().await;
            Err(e)
        }
        (Err(e), Err(_)) => Err(e),
    }
}
