//! The agent's side of the Redis requests (hooked into the files agent's dispatcher): each
//! request connects to the server on this host, does its work next to the data, and
//! answers. Requests carry everything they need, so the agent keeps no Redis state between
//! them; a pause on a server outlives the connection that set it, by design of `CLIENT PAUSE`.

use super::client::{self, connect, server_error, text, Batch, Client, Failure};
use super::digest::{self, from_hex};
use super::protocol::{Conn, Facts, RedisReply, RedisRequest};
use crate::agent::host::{error, Out};
use crate::agent::protocol::Reply;
use std::time::{Duration, Instant};

/// How long connecting to a server may take.
const CONNECT: Duration = Duration::from_secs(10);

/// The `CONFIG GET` parameters facts carry (never `masterauth`: only whether it is set).
const CONFIG: &[&str] = &[
    "maxmemory",
    "maxmemory-policy",
    "appendonly",
    "save",
    "databases",
    "masteruser",
    "replica-read-only",
    "repl-diskless-load",
    "min-replicas-to-write",
];

/// Answers one Redis request on `out`.
pub fn serve(request: RedisRequest, out: &Out) -> std::io::Result<()> {
    let reply = match request {
        RedisRequest::Keys {
            server,
            db,
            buckets,
            options,
        } => {
            match connect(&server, CONNECT)
                .and_then(|mut c| digest::keys(&mut c, db, &buckets, &options))
            {
                Ok(entries) => {
                    // One line per key, written in one go.
                    return out.with(|w| {
                        for e in entries {
                            let line = serde_json::to_vec(&redis_reply(RedisReply::Key(e)))
                                .map_err(std::io::Error::other)?;
                            w.write_all(&line)?;
                            w.write_all(b"\n")?;
                        }
                        let end = serde_json::to_vec(&redis_reply(RedisReply::End))
                            .map_err(std::io::Error::other)?;
                        w.write_all(&end)?;
                        w.write_all(b"\n")
                    });
                }
                Err(f) => Err(f),
            }
        }
        RedisRequest::Digest { server, options } => {
            let mut last = Instant::now();
            let mut progress = |keys: u64| {
                if last.elapsed() >= Duration::from_millis(500) {
                    last = Instant::now();
                    let _ = out.reply(&redis_reply(RedisReply::Progress { keys }));
                }
            };
            connect(&server, CONNECT)
                .and_then(|mut c| digest::digest(&mut c, &options, &mut progress))
                .map(|dbs| RedisReply::Digests { dbs })
        }
        other => handle(other),
    };
    match reply {
        Ok(r) => out.reply(&redis_reply(r)),
        Err(f) => out.reply(&error(f.message, f.code)),
    }
}

fn redis_reply(reply: RedisReply) -> Reply {
    Reply::Redis { reply }
}

fn handle(request: RedisRequest) -> Result<RedisReply, Failure> {
    match request {
        RedisRequest::Facts {
            server,
            commands,
            settings,
        } => facts(&mut connect(&server, CONNECT)?, &commands, settings),
        RedisRequest::Reach { server } => {
            let mut c = connect(&server, CONNECT)?;
            let info = c.info(Some("server"))?;
            let field = |name: &str| {
                info.lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(str::trim)
            };
            let version = field("valkey_version:")
                .map(|v| format!("valkey {v}"))
                .or_else(|| field("redis_version:").map(|v| format!("redis {v}")))
                .unwrap_or_default();
            Ok(RedisReply::Reached { version })
        }
        RedisRequest::Follow { server, primary } => {
            let mut c = connect(&server, CONNECT)?;
            follow(&mut c, &primary)?;
            Ok(RedisReply::Done)
        }
        RedisRequest::Promote { server } => {
            replicaof(&mut connect(&server, CONNECT)?, None)?;
            Ok(RedisReply::Done)
        }
        RedisRequest::SetMasterAuth {
            server,
            user,
            password,
        } => {
            let mut c = connect(&server, CONNECT)?;
            c.cmd_str(&["CONFIG", "SET", "masteruser", &user])?;
            c.cmd_str(&["CONFIG", "SET", "masterauth", &password])?;
            Ok(RedisReply::Done)
        }
        RedisRequest::SetConfig {
            server,
            name,
            value,
        } => {
            connect(&server, CONNECT)?.cmd_str(&["CONFIG", "SET", &name, &value])?;
            Ok(RedisReply::Done)
        }
        RedisRequest::FlushAll { server } => {
            connect(&server, CONNECT)?.cmd_str(&["FLUSHALL"])?;
            Ok(RedisReply::Done)
        }
        RedisRequest::Pause { server, timeout_ms } => {
            let mut c = connect(&server, CONNECT)?;
            let mut batch = Batch::default();
            batch.push_str(&["CLIENT", "PAUSE", &timeout_ms.to_string(), "WRITE"]);
            batch.push_str(&["INFO", "replication"]);
            let answers = c.pipeline(&batch)?;
            if let Some(f) = answers
                .iter()
                .find_map(|v| server_error(&server, "CLIENT PAUSE", v))
            {
                return Err(f);
            }
            let info = answers.get(1).and_then(text).unwrap_or_default();
            let offset = info_u64(&info, "master_repl_offset")
                .ok_or_else(|| Failure::protocol(&server, "INFO replication"))?;
            Ok(RedisReply::Paused { offset })
        }
        RedisRequest::CatchUpAndPromote {
            server,
            offset,
            max_wait_ms,
        } => catch_up_and_promote(&server, offset, max_wait_ms),
        RedisRequest::Unpause { server, follow: to } => {
            let mut c = connect(&server, CONNECT)?;
            if let Some(primary) = &to {
                replicaof(&mut c, Some(primary))?;
            }
            c.cmd_str(&["CLIENT", "UNPAUSE"])?;
            Ok(RedisReply::Done)
        }
        RedisRequest::Detail { server, db, key } => {
            let key = from_hex(&key)
                .ok_or_else(|| Failure::protocol(&server, "a key that is not hex"))?;
            let (kind, elements, truncated) =
                digest::detail(&mut connect(&server, CONNECT)?, db, &key)?;
            Ok(RedisReply::Detail {
                kind,
                elements,
                truncated,
            })
        }
        RedisRequest::Keys { .. } | RedisRequest::Digest { .. } => Err(Failure {
            code: "redis-protocol",
            message: "streamed requests are served by `serve`".into(),
        }),
    }
}

/// A number field of INFO text.
pub fn info_u64(info: &str, name: &str) -> Option<u64> {
    let prefix = format!("{name}:");
    info.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

fn facts(c: &mut Client, commands: &[String], settings: bool) -> Result<RedisReply, Failure> {
    let info = c.info(None)?;
    let mut f = Facts {
        info: info
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect(),
        ..Facts::default()
    };
    if !settings {
        return Ok(RedisReply::Facts(f));
    }
    let mut gets = Batch::default();
    for p in CONFIG.iter().chain(["masterauth"].iter()) {
        gets.push_str(&["CONFIG", "GET", p]);
    }
    let answers = c.pipeline(&gets)?;
    for (name, answer) in CONFIG.iter().chain(["masterauth"].iter()).zip(&answers) {
        if let Some(fail) = server_error(&c.conn, "CONFIG GET", answer) {
            f.config_error.get_or_insert(fail.message);
            continue;
        }
        let value = client_pair_value(answer);
        match *name {
            "masterauth" => f.masterauth_set = value.is_some_and(|v| !v.is_empty()),
            other => {
                if let Some(v) = value {
                    f.config.insert(other.to_string(), v);
                }
            }
        }
    }
    if !commands.is_empty() {
        let mut args = vec!["COMMAND", "INFO"];
        args.extend(commands.iter().map(String::as_str));
        match c.cmd_str(&args) {
            Ok(v) => {
                let list = super::reply::items(&v);
                for (name, entry) in commands.iter().zip(list) {
                    if matches!(entry, redis::Value::Nil) {
                        f.missing_commands.push(name.clone());
                    }
                }
            }
            Err(_) => f.commands_unknown = true,
        }
    }
    Ok(RedisReply::Facts(f))
}

/// The value of a `CONFIG GET name` reply (`[name, value]`).
fn client_pair_value(v: &redis::Value) -> Option<String> {
    super::reply::items(v).get(1).and_then(|x| client::text(x))
}

/// Makes `c`'s server follow `primary`, credentials first.
fn follow(c: &mut Client, primary: &Conn) -> Result<(), Failure> {
    c.cmd_str(&[
        "CONFIG",
        "SET",
        "masteruser",
        primary.user.as_deref().unwrap_or(""),
    ])?;
    c.cmd_str(&[
        "CONFIG",
        "SET",
        "masterauth",
        primary.password.as_deref().unwrap_or(""),
    ])?;
    replicaof(c, Some(primary))
}

/// `REPLICAOF host port` (or `NO ONE`), through `SLAVEOF` when `REPLICAOF` is unknown.
fn replicaof(c: &mut Client, primary: Option<&Conn>) -> Result<(), Failure> {
    let port = primary.map(|p| p.port.to_string());
    let (a, b) = match (primary, &port) {
        (Some(p), Some(port)) => (p.address.as_str(), port.as_str()),
        _ => ("NO", "ONE"),
    };
    match c.cmd_str(&["REPLICAOF", a, b]) {
        Err(f) if f.code == "redis-unknown-command" => c.cmd_str(&["SLAVEOF", a, b]).map(drop),
        other => other.map(drop),
    }
}

/// Polls the replica every millisecond until it has processed `offset`, then promotes it.
fn catch_up_and_promote(
    server: &Conn,
    offset: u64,
    max_wait_ms: u64,
) -> Result<RedisReply, Failure> {
    let mut c = connect(server, CONNECT)?;
    let started = Instant::now();
    let mut seen = 0;
    loop {
        let info = c.info(Some("replication"))?;
        seen = info_u64(&info, "slave_repl_offset").unwrap_or(seen);
        if seen >= offset {
            let waited_ms = started.elapsed().as_millis() as u64;
            replicaof(&mut c, None)?;
            return Ok(RedisReply::Promoted {
                offset: seen,
                waited_ms,
            });
        }
        if started.elapsed() >= Duration::from_millis(max_wait_ms) {
            return Err(Failure {
                code: "redis-catch-up",
                message: format!(
                    "the target at {} reached replication offset {seen} of the source's {offset} within {max_wait_ms} ms",
                    server.describe()
                ),
            });
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}
