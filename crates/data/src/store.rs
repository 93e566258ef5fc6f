//! What each data store's steps cannot carry, declared next to the stores (as DNS providers
//! declare their capabilities): `cutover check --offline` lists the limits of every data step
//! in a plan with the step's file:line:col, before any server is reached, so that a team
//! reads "cannot: large objects through logical replication" while writing the plan, not in
//! the middle of the migration. The preflights of the steps refuse what they can detect; these
//! are also the limits no preflight can see from the plan (ACL users, a script cache).

use crate::proof::Figure;

/// A data store cutover moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// PostgreSQL.
    Postgres,
    /// Redis and Valkey.
    Redis,
    /// MariaDB and MySQL.
    Mysql,
}

/// What a step does with its store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    /// A one-time copy (in a write freeze or a maintenance window).
    Copy,
    /// Replication kept running until the switch.
    Sync,
    /// The switch of the writes from source to target.
    Switch,
    /// The proof that both sides hold the same data.
    Verify,
}

/// One thing a store's step cannot carry, and what to do about it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The verbs it applies to.
    pub verbs: &'static [Verb],
    /// What is not carried (or not proved).
    pub cannot: &'static str,
    /// What the plan or the team does instead; whether cutover refuses it up front.
    pub instead: &'static str,
}

/// The limits of `store`'s steps.
pub fn limits(store: Store) -> &'static [Limit] {
    match store {
        Store::Postgres => crate::postgres::LIMITS,
        Store::Redis => crate::redis::LIMITS,
        Store::Mysql => crate::mysql::LIMITS,
    }
}

/// The limits of `store` that apply to a step doing `verb`.
pub fn limits_of(store: Store, verb: Verb) -> impl Iterator<Item = &'static Limit> {
    limits(store)
        .iter()
        .filter(move |l| l.verbs.contains(&verb))
}

/// What every store's switch reports, so that one conclusion journals every switch the same
/// way: the window in which writes waited (a measure and an outage on the timeline), the
/// catch-up, the store's own figures and one line of summary.
pub trait Switched {
    /// True when the switch was finished by a resumed attempt: nothing was measured.
    fn resumed(&self) -> bool;

    /// The measure and the outage of the window writes waited in: `("freeze_window",
    /// "writes frozen")`, or Redis's `("pause_window", "writes paused")`.
    fn window_names(&self) -> (&'static str, &'static str) {
        ("freeze_window", "writes frozen")
    }

    /// When writes began to wait (Unix ms) and for how many seconds.
    fn window(&self) -> (i64, f64);

    /// Seconds of the window spent waiting for the target to catch up.
    fn catch_up(&self) -> f64;

    /// The store's own figures (sessions ended, sequences advanced, the offset).
    fn figures(&self) -> Vec<crate::proof::Figure>;

    /// What the switch did, after "target is the primary: ".
    fn summary(&self) -> String;

    /// Lines shown before the summary (what the store found on the way).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }
}

/// ", reverse ..." when the old server follows the new one.
fn reverse_note(reverse: bool, what: &str) -> String {
    if reverse {
        format!(", {what}")
    } else {
        String::new()
    }
}

impl Switched for crate::postgres::replication::switch::SwitchReport {
    fn resumed(&self) -> bool {
        self.resumed
    }
    fn window(&self) -> (i64, f64) {
        (self.frozen_from_ms, self.freeze_window)
    }
    fn catch_up(&self) -> f64 {
        self.catch_up
    }
    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("sessions_ended", self.sessions_ended as f64, "sessions"),
            Figure::new("sequences", self.sequences as f64, "sequences"),
        ]
    }
    fn summary(&self) -> String {
        let reverse = reverse_note(self.reverse, "reverse subscription running");
        if self.resumed {
            return format!("switched by the interrupted attempt{reverse}");
        }
        format!(
            "writes frozen {:.3}s (catch-up {:.3}s to {}), {} sequences advanced{reverse}",
            self.freeze_window, self.catch_up, self.lsn, self.sequences
        )
    }
}

impl Switched for crate::mysql::switch::SwitchReport {
    fn resumed(&self) -> bool {
        self.resumed
    }
    fn window(&self) -> (i64, f64) {
        (self.frozen_from_ms, self.freeze_window)
    }
    fn catch_up(&self) -> f64 {
        self.catch_up
    }
    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("sessions_ended", self.sessions_ended as f64, "sessions"),
            Figure::new("counters_advanced", self.counters as f64, "tables"),
        ]
    }
    fn summary(&self) -> String {
        let reverse = reverse_note(self.reverse, "reverse replication running");
        if self.resumed {
            return format!("switched by the interrupted attempt{reverse}");
        }
        format!(
            "writes frozen {:.3}s (catch-up {:.3}s to {}), {} session(s) ended, {} counter(s) advanced, {} event(s) enabled{reverse}",
            self.freeze_window,
            self.catch_up,
            self.position,
            self.sessions_ended,
            self.counters,
            self.events
        )
    }
}

impl Switched for crate::redis::SwitchReport {
    fn resumed(&self) -> bool {
        self.resumed
    }
    fn window_names(&self) -> (&'static str, &'static str) {
        ("pause_window", "writes paused")
    }
    fn window(&self) -> (i64, f64) {
        (self.paused_from_ms, self.pause_window)
    }
    fn catch_up(&self) -> f64 {
        self.catch_up
    }
    fn figures(&self) -> Vec<Figure> {
        vec![Figure::new("offset", self.offset as f64, "bytes")]
    }
    fn notes(&self) -> Vec<String> {
        self.notes.clone()
    }
    fn summary(&self) -> String {
        if self.resumed {
            return self.notes.join("; ");
        }
        format!(
            "writes paused {:.3}s (catch-up {:.3}s to offset {}){}",
            self.pause_window,
            self.catch_up,
            self.offset,
            reverse_note(self.reverse, "the source follows it")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_store_declares_what_its_sync_cannot_carry() {
        for store in [Store::Postgres, Store::Redis, Store::Mysql] {
            assert!(
                limits_of(store, Verb::Sync).next().is_some(),
                "{store:?} declares no sync limit"
            );
            for l in limits(store) {
                assert!(!l.verbs.is_empty() && !l.cannot.is_empty() && !l.instead.is_empty());
            }
        }
    }
}
