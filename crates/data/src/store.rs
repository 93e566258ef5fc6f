//! What each data store's steps cannot carry, declared next to the stores (as DNS providers
//! declare their capabilities): `cutover check --offline` lists the limits of every data step
//! in a plan with the step's file:line:col, before any server is reached, so that a team
//! reads "cannot: large objects through logical replication" while writing the plan, not in
//! the middle of the migration. The preflights of the steps refuse what they can detect; these
//! are also the limits no preflight can see from the plan (ACL users, a script cache).

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
