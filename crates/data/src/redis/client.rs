//! The agent's connection to a Redis server on its host, through the `redis` crate: the
//! password goes in the protocol's `AUTH`, never on a command line. Failures carry a class
//! the controller turns back into a typed error (`redis-auth`, `redis-unreachable`...), and a
//! message naming the server and the user, never the password.

use super::protocol::Conn;
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisConnectionInfo, Value};
use std::time::Duration;

/// A failed Redis operation, as the agent reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// Its class: `redis-auth`, `redis-unreachable`, `redis-noperm`, `redis-unknown-command`,
    /// `redis-server`, `redis-protocol`.
    pub code: &'static str,
    /// What happened, for the operator.
    pub message: String,
}

impl Failure {
    fn new(code: &'static str, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A reply that does not have the expected shape.
    pub fn protocol(conn: &Conn, what: &str) -> Self {
        Failure::new(
            "redis-protocol",
            format!("unexpected answer from {} to {what}", conn.describe()),
        )
    }
}

/// An open connection.
pub struct Client {
    con: redis::Connection,
    /// The server reached.
    pub conn: Conn,
}

/// Connects and authenticates (within `timeout`); replies wait at most 5 minutes.
pub fn connect(conn: &Conn, timeout: Duration) -> Result<Client, Failure> {
    let addr = if conn.address.starts_with('/') {
        ConnectionAddr::Unix(conn.address.clone().into())
    } else {
        ConnectionAddr::Tcp(conn.address.clone(), conn.port)
    };
    let mut settings = RedisConnectionInfo::default().set_skip_set_lib_name();
    if let Some(u) = &conn.user {
        settings = settings.set_username(u);
    }
    if let Some(p) = &conn.password {
        settings = settings.set_password(p);
    }
    let info: ConnectionInfo = addr
        .into_connection_info()
        .map_err(|e| classify(conn, "connect", &e))?
        .set_redis_settings(settings);
    let client = redis::Client::open(info).map_err(|e| classify(conn, "connect", &e))?;
    let con = client
        .get_connection_with_timeout(timeout)
        .map_err(|e| classify(conn, "connect", &e))?;
    let _ = con.set_read_timeout(Some(Duration::from_secs(300)));
    Ok(Client {
        con,
        conn: conn.clone(),
    })
}

impl Client {
    /// Runs one command (its first word names it in errors).
    pub fn cmd(&mut self, args: &[&[u8]]) -> Result<Value, Failure> {
        let mut c = redis::Cmd::new();
        for a in args {
            c.arg(*a);
        }
        let what = String::from_utf8_lossy(args.first().copied().unwrap_or_default()).into_owned();
        c.query::<Value>(&mut self.con)
            .map_err(|e| classify(&self.conn, &what, &e))
    }

    /// Runs one command given as text words.
    pub fn cmd_str(&mut self, args: &[&str]) -> Result<Value, Failure> {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd(&bytes)
    }

    /// Sends the batch in one round trip; each result on its own (an error reply of one
    /// command does not fail the others).
    pub fn pipeline(&mut self, batch: &Batch) -> Result<Vec<Value>, Failure> {
        use redis::ConnectionLike;
        if batch.count == 0 {
            return Ok(Vec::new());
        }
        self.con
            .req_packed_commands(&batch.buf, 0, batch.count)
            .map_err(|e| classify(&self.conn, "a pipeline", &e))
    }

    /// `INFO [section]` as text.
    pub fn info(&mut self, section: Option<&str>) -> Result<String, Failure> {
        let v = match section {
            Some(s) => self.cmd_str(&["INFO", s])?,
            None => self.cmd_str(&["INFO"])?,
        };
        text(&v).ok_or_else(|| Failure::protocol(&self.conn, "INFO"))
    }

    /// Sets the read timeout (short ones inside a pause).
    pub fn set_read_timeout(&mut self, t: Duration) {
        let _ = self.con.set_read_timeout(Some(t));
    }
}

/// Commands sent in one round trip, written in RESP as they are added (no per-argument
/// allocation: a digest sends millions).
#[derive(Debug, Default)]
pub struct Batch {
    buf: Vec<u8>,
    count: usize,
}

impl Batch {
    /// Adds one command.
    pub fn push(&mut self, args: &[&[u8]]) {
        self.buf.push(b'*');
        decimal(&mut self.buf, args.len());
        self.buf.extend_from_slice(b"\r\n");
        for a in args {
            self.buf.push(b'$');
            decimal(&mut self.buf, a.len());
            self.buf.extend_from_slice(b"\r\n");
            self.buf.extend_from_slice(a);
            self.buf.extend_from_slice(b"\r\n");
        }
        self.count += 1;
    }

    /// Adds one command given as text words.
    pub fn push_str(&mut self, args: &[&str]) {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.push(&bytes);
    }

    /// The commands as RESP, to be written as they are.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Commands added.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when none was added.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Appends `n` in decimal (no allocation: a digest writes millions of lengths).
fn decimal(buf: &mut Vec<u8>, mut n: usize) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// A reply as text (bulk or simple strings).
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::BulkString(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Okay => Some("OK".into()),
        Value::Int(i) => Some(i.to_string()),
        Value::VerbatimString { text, .. } => Some(text.clone()),
        _ => None,
    }
}

/// A per-command error reply inside a pipeline, as a failure.
pub fn server_error(conn: &Conn, what: &str, v: &Value) -> Option<Failure> {
    match v {
        Value::ServerError(e) => Some(classify(conn, what, &redis::RedisError::from(e.clone()))),
        _ => None,
    }
}

/// Classifies a client error: authentication, reachability, permissions, unknown commands.
pub fn classify(conn: &Conn, what: &str, e: &redis::RedisError) -> Failure {
    let server = conn.describe();
    let user = conn.user_name();
    let code = e.code().unwrap_or_default();
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || code == "WRONGPASS"
        || code == "NOAUTH"
        || lower.contains("invalid password")
        || lower.contains("without any password configured")
        || lower.contains("invalid username-password")
    {
        let detail = if lower.contains("without any password configured") {
            "the server has no password for this user, yet one was given".to_string()
        } else if code == "NOAUTH" {
            "the server requires a password and none was given".to_string()
        } else {
            "wrong password, or the user does not exist or is disabled".to_string()
        };
        return Failure::new(
            "redis-auth",
            format!("the Redis server at {server} refused user `{user}`: {detail}"),
        );
    }
    if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() {
        return Failure::new(
            "redis-unreachable",
            format!("cannot reach the Redis server at {server} ({what}): {text}"),
        );
    }
    if code == "NOPERM" {
        return Failure::new(
            "redis-noperm",
            format!("user `{user}` may not run {what} on the Redis server at {server}: {text}"),
        );
    }
    if lower.contains("unknown command") {
        return Failure::new(
            "redis-unknown-command",
            format!("the Redis server at {server} does not know {what} (renamed or disabled by `rename-command`?): {text}"),
        );
    }
    Failure::new(
        "redis-server",
        format!("{what} failed on the Redis server at {server}: {text}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_written_in_resp() {
        let mut b = Batch::default();
        b.push(&[b"GET", b""]);
        b.push(&[b"SET", b"k", &[b'v'; 10]]);
        assert_eq!(
            b.bytes(),
            &b"*2\r\n$3\r\nGET\r\n$0\r\n\r\n*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$10\r\nvvvvvvvvvv\r\n"[..]
        );
        assert_eq!(b.len(), 2);
    }
}
