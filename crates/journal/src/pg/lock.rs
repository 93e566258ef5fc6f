//! The plan lock of a shared journal: a PostgreSQL session-level advisory lock held by a
//! session of its own, which the [`LockGuard`](crate::LockGuard) owns. The server releases it
//! when that session ends, however the holder ends: a clean exit, `kill -9` (the kernel
//! closes the socket), or a controller that vanished from the network (the session's
//! keepalives, set short here, notice within seconds). A row in `cutover.holders` names the
//! holder for whoever is refused; it counts only while its session holds the lock.

use super::connect::{describe, PgTarget};
use super::worker::Worker;
use crate::lock::Holder;
use postgres::GenericClient;
use std::time::{Duration, Instant};

/// How long a refused taker retries before reporting contention (a `status` probing the
/// holder never takes the lock, so this only covers a holder that is just leaving).
const PATIENCE: Duration = Duration::from_millis(500);

/// The session that holds a plan's lock; dropping it releases the lock and ends the session.
#[derive(Debug)]
pub struct LockSession {
    session: Worker,
}

impl Drop for LockSession {
    fn drop(&mut self) {
        // Released by a statement the server has answered, not left to the end of the
        // session: the server ends a closed session a moment after the socket closes, and
        // until then `pg_locks` still shows the lock to whoever looks right after the drop
        // (a test saw it under load). Best effort: a session already gone holds nothing.
        let _ = self
            .session
            .run(|c| c.batch_execute("SELECT pg_advisory_unlock_all()"));
    }
}

/// The advisory lock's key for `plan_key`: 64 bits of its BLAKE3 hash, so every controller
/// derives the same number from the plan's identity.
pub(crate) fn lock_key(plan_key: &str) -> i64 {
    key_of("cutover plan lock\0", plan_key)
}

/// The key that serializes appends to one plan's hash chain (held per transaction).
pub(crate) fn chain_key(plan_key: &str) -> i64 {
    key_of("cutover chain\0", plan_key)
}

fn key_of(purpose: &str, plan_key: &str) -> i64 {
    let hash = blake3::hash(format!("{purpose}{plan_key}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&hash.as_bytes()[..8]);
    i64::from_le_bytes(bytes)
}

/// What taking the lock came to.
pub(crate) enum Taken {
    /// Ours until the session drops.
    Held(LockSession),
    /// Someone else's.
    Refused(Holder),
}

/// Takes `plan_key`'s lock for `holder` in a new session to `target`.
pub(crate) fn take(target: &PgTarget, plan_key: &str, holder: Holder) -> Result<Taken, String> {
    let target = target.clone();
    let session = Worker::start("cutover-journal-lock", move || {
        target.connect("cutover lock")
    })?;
    let key = lock_key(plan_key);
    let deadline = Instant::now() + PATIENCE;
    loop {
        let got = session.run(move |c| try_lock(c, key))?;
        if got.map_err(|e| describe(&e))? {
            break;
        }
        if Instant::now() >= deadline {
            let plan_key = plan_key.to_string();
            let found = session.run(move |c| current_holder(c, &plan_key))?;
            return Ok(Taken::Refused(found.map_err(|e| describe(&e))?.unwrap_or(
                // The holder left between our try and our look: say so rather than retry
                // forever.
                Holder {
                    pid: 0,
                    operator: "unknown".into(),
                    command: "?".into(),
                    since_ms: 0,
                },
            )));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let plan_key = plan_key.to_string();
    session
        .run(move |c| record_holder(c, &plan_key, &holder))?
        .map_err(|e| describe(&e))?;
    Ok(Taken::Held(LockSession { session }))
}

/// One try; the session's keepalives are set first, so that the server notices a holder
/// whose machine vanished (no FIN, no RST) within about 8 seconds.
fn try_lock(client: &mut postgres::Client, key: i64) -> Result<bool, postgres::Error> {
    client.batch_execute(
        "SET tcp_keepalives_idle = 5; SET tcp_keepalives_interval = 1; SET tcp_keepalives_count = 3;",
    )?;
    client
        .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
        .map(|row| row.get(0))
}

fn record_holder(
    client: &mut postgres::Client,
    plan_key: &str,
    holder: &Holder,
) -> Result<(), postgres::Error> {
    client.execute(
        "INSERT INTO cutover.holders (plan_key, backend_pid, pid, operator, command, since_ms)
         VALUES ($1, pg_backend_pid(), $2, $3, $4, $5)
         ON CONFLICT (plan_key) DO UPDATE SET backend_pid = excluded.backend_pid,
             pid = excluded.pid, operator = excluded.operator, command = excluded.command,
             since_ms = excluded.since_ms",
        &[
            &plan_key,
            &i64::from(holder.pid),
            &holder.operator,
            &holder.command,
            &holder.since_ms,
        ],
    )?;
    Ok(())
}

/// Who holds `plan_key`'s lock now: the session the server says holds it, named by its row
/// (a session without a matching row is reported as unknown: it holds the lock all the same).
pub(crate) fn current_holder(
    client: &mut impl GenericClient,
    plan_key: &str,
) -> Result<Option<Holder>, postgres::Error> {
    let key = lock_key(plan_key);
    let (classid, objid) = ((key >> 32) as u32 as i64, key as u32 as i64);
    let row = client.query_opt(
        "SELECT h.pid, h.operator, h.command, h.since_ms
         FROM pg_locks l
         LEFT JOIN cutover.holders h ON h.plan_key = $3 AND h.backend_pid = l.pid
         WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
           AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
           AND l.classid::bigint = $1 AND l.objid::bigint = $2
         LIMIT 1",
        &[&classid, &objid, &plan_key],
    )?;
    Ok(row.map(|r| Holder {
        pid: r
            .get::<_, Option<i64>>(0)
            .and_then(|p| u32::try_from(p).ok())
            .unwrap_or(0),
        operator: r
            .get::<_, Option<String>>(1)
            .unwrap_or_else(|| "unknown".into()),
        command: r.get::<_, Option<String>>(2).unwrap_or_else(|| "?".into()),
        since_ms: r.get::<_, Option<i64>>(3).unwrap_or(0),
    }))
}
