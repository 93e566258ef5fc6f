//! The events' hash chain: each event stores the BLAKE3 hash of its own content and of the
//! event before it, so an event inserted, changed or removed outside cutover (with `sqlite3`,
//! say) breaks the chain from that point on, and `cutover report` says where.
//!
//! What it proves: the journal is as cutover wrote it, unless whoever changed it also
//! recomputed every later hash. It is not a signature (the hash is unkeyed, and a key kept
//! beside the journal would protect nothing more): for that, keep the head hash the report
//! prints somewhere the journal's writer cannot change, and compare it later.

use serde::Serialize;

/// The hash before the first chained event.
pub const GENESIS: [u8; 32] = [0; 32];

/// Domain separation: a hash of anything else never equals an event's.
const CONTEXT: &[u8] = b"cutover journal event v2\0";

/// The stored columns of one event, as the chain covers them.
#[derive(Debug, Clone, Copy)]
pub struct EventRow<'a> {
    /// Position (the `seq` column).
    pub seq: i64,
    /// The run.
    pub run: &'a str,
    /// When it was written.
    pub at_ms: i64,
    /// The event's name.
    pub kind: &'a str,
    /// The step, if any.
    pub step: Option<&'a str>,
    /// The event as stored (redacted JSON).
    pub body: &'a str,
}

/// The hash of `row` after `prev`: over a length-prefixed encoding of every column, so that
/// no two different rows encode alike.
pub fn event_hash(prev: &[u8; 32], row: &EventRow) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(CONTEXT);
    h.update(prev);
    h.update(&row.seq.to_le_bytes());
    h.update(&row.at_ms.to_le_bytes());
    for field in [Some(row.run), Some(row.kind), row.step, Some(row.body)] {
        match field {
            Some(text) => {
                h.update(&[1]);
                h.update(&(text.len() as u64).to_le_bytes());
                h.update(text.as_bytes());
            }
            None => {
                h.update(&[0]);
            }
        }
    }
    *h.finalize().as_bytes()
}

/// The state of the whole journal's chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "chain", rename_all = "snake_case")]
pub enum ChainStatus {
    /// Every event after the unchained ones hashes as written.
    Intact {
        /// Events covered by the chain.
        covered: u64,
        /// Events written before the journal was chained (by a cutover older than the chain),
        /// which it cannot vouch for.
        unchained: u64,
        /// The last event's hash (hex), to keep elsewhere and compare later.
        head: Option<String>,
    },
    /// An event does not hash as written: it, or one before it, was added, changed or removed
    /// outside cutover.
    Broken {
        /// The first event that does not fit (its `seq`).
        at: i64,
        /// What that event says it is (its kind and step).
        event: String,
        /// What does not fit.
        reason: String,
        /// Events before it that do fit.
        covered: u64,
    },
}

/// One sentence for reports: whether the chain holds, over how many events, and its head.
impl std::fmt::Display for ChainStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainStatus::Intact {
                covered: 0,
                unchained: 0,
                ..
            } => write!(f, "no events yet"),
            ChainStatus::Intact {
                covered: 0,
                unchained,
                ..
            } => write!(
                f,
                "not hash-chained: its {unchained} events were written by an older cutover; the chain starts with the next event written"
            ),
            ChainStatus::Intact {
                covered,
                unchained: 0,
                head,
            } => write!(
                f,
                "hash chain intact over all {covered} events (head {})",
                head.as_deref().unwrap_or("-")
            ),
            ChainStatus::Intact {
                covered,
                unchained,
                head,
            } => write!(
                f,
                "hash chain intact over the {covered} events written since it was chained (head {}); the {unchained} events before were written by an older cutover and are not covered",
                head.as_deref().unwrap_or("-")
            ),
            ChainStatus::Broken {
                at,
                event,
                reason,
                covered,
            } => write!(
                f,
                "hash chain BROKEN at event {at} ({event}): {reason}; the {covered} events before it hash as written, none from it on can be trusted"
            ),
        }
    }
}

/// Walks the events in `seq` order, each with its stored hash (hex, `None` when missing).
/// Events up to `unchained_until` may lack a hash: they predate the chain.
pub struct Verifier {
    unchained_until: i64,
    prev: [u8; 32],
    covered: u64,
    unchained: u64,
    last_seq: Option<i64>,
    broken: Option<(i64, String, String)>,
}

impl Verifier {
    /// A walk for a journal chained from after event `unchained_until` (0: from the start).
    pub fn new(unchained_until: i64) -> Self {
        Verifier {
            unchained_until,
            prev: GENESIS,
            covered: 0,
            unchained: 0,
            last_seq: None,
            broken: None,
        }
    }

    /// Takes the next event; after the first break, the rest is not looked at.
    pub fn push(&mut self, row: &EventRow, stored: Option<&str>) {
        if self.broken.is_some() {
            return;
        }
        let seq = row.seq;
        if self.last_seq.is_some_and(|last| seq <= last) {
            return self.break_at(row, "it is out of order".into());
        }
        self.last_seq = Some(seq);
        // Written before the chain began (by an older cutover): vouched for by nothing. Only
        // in the range that existed then: cutover's sequence starts at 1.
        if (1..=self.unchained_until).contains(&seq) && self.covered == 0 {
            self.unchained += 1;
            return;
        }
        let Some(stored) = stored else {
            return self.break_at(row, "it has no hash: it was not written by cutover".into());
        };
        let expected = event_hash(&self.prev, row);
        if hex(&expected) != stored {
            return self.break_at(
                row,
                "its hash does not match its content and the event before it: it, or the event before it, was added, changed or removed outside cutover".into(),
            );
        }
        self.prev = expected;
        self.covered += 1;
    }

    /// The verdict.
    pub fn finish(self) -> ChainStatus {
        match self.broken {
            Some((at, event, reason)) => ChainStatus::Broken {
                at,
                event,
                reason,
                covered: self.covered,
            },
            None => ChainStatus::Intact {
                covered: self.covered,
                unchained: self.unchained,
                head: (self.covered > 0).then(|| hex(&self.prev)),
            },
        }
    }

    fn break_at(&mut self, row: &EventRow, reason: String) {
        let step = row
            .step
            .map(|s| format!(" of step `{s}`"))
            .unwrap_or_default();
        self.broken = Some((row.seq, format!("`{}`{step}", row.kind), reason));
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8; 32]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of a hex hash, if it is one.
pub fn unhex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(seq: i64, body: &str) -> EventRow<'_> {
        EventRow {
            seq,
            run: "r",
            at_ms: 5,
            kind: "approved",
            step: Some("gate"),
            body,
        }
    }

    #[test]
    fn every_column_and_the_previous_hash_change_the_hash() {
        let base = event_hash(&GENESIS, &row(1, "{}"));
        assert_ne!(base, event_hash(&GENESIS, &row(2, "{}")));
        assert_ne!(base, event_hash(&GENESIS, &row(1, "{ }")));
        assert_ne!(base, event_hash(&[1; 32], &row(1, "{}")));
        let no_step = EventRow {
            step: None,
            ..row(1, "{}")
        };
        assert_ne!(base, event_hash(&GENESIS, &no_step));
        // Moving a byte from one field to the next changes the encoding.
        let a = EventRow {
            run: "ab",
            kind: "c",
            ..row(1, "{}")
        };
        let b = EventRow {
            run: "a",
            kind: "bc",
            ..row(1, "{}")
        };
        assert_ne!(event_hash(&GENESIS, &a), event_hash(&GENESIS, &b));
    }

    #[test]
    fn hex_round_trips() {
        let h = event_hash(&GENESIS, &row(1, "{}"));
        assert_eq!(unhex(&hex(&h)), Some(h));
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn unchained_events_are_counted_apart_and_only_before_the_chain() {
        let mut v = Verifier::new(2);
        v.push(&row(1, "a"), None);
        v.push(&row(2, "b"), None);
        let h3 = event_hash(&GENESIS, &row(3, "c"));
        v.push(&row(3, "c"), Some(&hex(&h3)));
        assert_eq!(
            v.finish(),
            ChainStatus::Intact {
                covered: 1,
                unchained: 2,
                head: Some(hex(&h3))
            }
        );
        // An event without a hash after the chain began breaks it.
        let mut v = Verifier::new(0);
        v.push(
            &row(1, "a"),
            Some(&hex(&event_hash(&GENESIS, &row(1, "a")))),
        );
        v.push(&row(2, "forged"), None);
        assert!(matches!(
            v.finish(),
            ChainStatus::Broken {
                at: 2,
                covered: 1,
                ..
            }
        ));
    }
}
