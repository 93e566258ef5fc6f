//! The agent's side of the MariaDB/MySQL requests (hooked into the files agent's dispatcher):
//! each request does its work next to the server and answers. Sessions named by `Sql`
//! requests are kept between requests (in [`State`], one per agent process) so that the
//! controller can hold a session's state, such as a lock, across calls; everything else
//! connects for the request.

use super::client::{self, Failure};
use super::copy::{dump, load};
use super::objects;
use super::protocol::{Conn, MysqlReply, MysqlRequest, Rows};
use super::verify::digest;
use crate::agent::host::{error, Out};
use crate::agent::protocol::Reply;
use std::collections::HashMap;

/// The sessions an agent keeps open, by server and name.
#[derive(Default)]
pub struct State {
    sessions: HashMap<(String, String), mysql::Conn>,
}

/// Rows a narrowed chunk lists at most.
const MAX_ROWS: usize = 100_000;

/// Answers one request on `out`.
pub fn serve(request: MysqlRequest, state: &mut State, out: &Out) -> std::io::Result<()> {
    match handle(request, state, out) {
        Ok(r) => out.reply(&Reply::Mysql { reply: r }),
        Err(f) => out.reply(&error(f.message, &f.code)),
    }
}

fn handle(request: MysqlRequest, state: &mut State, out: &Out) -> Result<MysqlReply, Failure> {
    match request {
        MysqlRequest::Sql {
            server,
            session,
            statements,
            ignore,
        } => sql(state, &server, session, &statements, &ignore)
            .map(|(columns, results)| MysqlReply::Results { results, columns }),
        MysqlRequest::Close { server, session } => {
            state.sessions.remove(&(key(&server), session));
            Ok(MysqlReply::Done)
        }
        MysqlRequest::Inventory {
            server,
            databases,
            users,
        } => super::inventory::read(&server, &databases, users)
            .map(|i| MysqlReply::Inventory(Box::new(i))),
        MysqlRequest::Prepare { server, options } => {
            load::prepare(&server, &options).map(|created| MysqlReply::Prepared { created })
        }
        MysqlRequest::Load { server, options } => load::run(&server, &options, out)
            .map(|(rows, bytes)| MysqlReply::Loaded { rows, bytes }),
        MysqlRequest::Dump { server, options } => dump::run(&server, &options, out)
            .map(|(rows, bytes)| MysqlReply::Dumped { rows, bytes }),
        MysqlRequest::Objects { server, objects } => {
            objects::create(&server, &objects).map(MysqlReply::Created)
        }
        MysqlRequest::Bounds {
            server,
            tables,
            chunk_rows,
        } => bounds(&server, &tables, chunk_rows).map(|bounds| MysqlReply::Bounds { bounds }),
        MysqlRequest::Digest { server, options } => {
            let progress = |rows: u64| {
                let _ = out.reply(&Reply::Mysql {
                    reply: MysqlReply::Progress { rows, bytes: 0 },
                });
            };
            digest::digest(&server, &options, &progress)
                .map(|chunks| MysqlReply::Digests { chunks })
        }
        MysqlRequest::RowHashes {
            server,
            table,
            chunk,
        } => digest::row_hashes(&server, &table, chunk, MAX_ROWS)
            .map(|rows| MysqlReply::RowHashes { rows }),
    }
}

fn key(server: &Conn) -> String {
    format!("{}|{}", server.describe(), server.password.is_some())
}

/// Runs `statements` on the named session, opening it when needed; a session whose
/// connection broke is forgotten.
fn sql(
    state: &mut State,
    server: &Conn,
    session: String,
    statements: &[String],
    ignore: &[u16],
) -> Result<(Vec<Vec<String>>, Vec<Rows>), Failure> {
    let k = (key(server), session);
    if !state.sessions.contains_key(&k) {
        let c = client::connect(server, false)?;
        state.sessions.insert(k.clone(), c);
    }
    let (mut columns, mut results) = (Vec::new(), Vec::new());
    for s in statements {
        let Some(c) = state.sessions.get_mut(&k) else {
            break;
        };
        match client::result(c, server, s) {
            Ok((names, r)) => {
                columns.push(names);
                results.push(r);
            }
            Err(f) if f.server_code().is_some_and(|c| ignore.contains(&c)) => {
                columns.push(Vec::new());
                results.push(Vec::new());
            }
            Err(f) => {
                if f.server_code().is_none() {
                    state.sessions.remove(&k);
                }
                return Err(f);
            }
        }
    }
    Ok((columns, results))
}

/// Inner bounds of each table's integer key for ranges of about `chunk_rows` rows.
fn bounds(
    server: &Conn,
    tables: &[(String, String, String, u64)],
    chunk_rows: u64,
) -> Result<Vec<Vec<i128>>, Failure> {
    let mut c = client::connect(server, false)?;
    let mut out = Vec::new();
    for (db, name, column, rows) in tables {
        let n = rows / chunk_rows.max(1);
        if n < 2 {
            out.push(Vec::new());
            continue;
        }
        let k = super::sql::ident(column);
        let r = client::rows(
            &mut c,
            server,
            &format!(
                "SELECT MIN({k}), MAX({k}) FROM {}",
                super::sql::qualified(db, name)
            ),
        )?;
        let get = |i: usize| {
            r.first()
                .and_then(|row| row.get(i).cloned().flatten())
                .and_then(|v| v.parse::<i128>().ok())
        };
        out.push(match (get(0), get(1)) {
            (Some(lo), Some(hi)) => dump::split(lo, hi, n.min(4096)),
            _ => Vec::new(),
        });
    }
    Ok(out)
}
