//! What every store's running sync reports (`postgres.sync`, `redis.sync`, `mysql.sync`), so
//! that one runner journals, measures, shows and concludes every sync the same way: the
//! report once the target has caught up ([`Synced`]) and the lag read while the step watches
//! ([`SyncLag`]). A store writes only how it starts and how it reads its lag.

use crate::proof::Figure;

/// How far a sync's target is behind, as one store reads it.
pub trait SyncLag: Clone + Send + Sync {
    /// The lag as one journaled sample (`("bytes", 1024.0)`...).
    fn sample(&self) -> Vec<(&'static str, f64)>;

    /// What is shown after "lag: ".
    fn line(&self) -> String;

    /// True when `self` is further behind than `other` (the step keeps the worst).
    fn behind(&self, other: &Self) -> bool;

    /// The measures the worst lag is journaled as at the end (`lag_bytes`...).
    fn figures(&self) -> Vec<Figure>;
}

/// What a store's sync reports once its target has caught up.
pub trait Synced: Send + Sync {
    /// How the store reads its lag.
    type Lag: SyncLag;

    /// The lag when the target had caught up.
    fn lag(&self) -> Self::Lag;

    /// Lines shown once caught up (what the sync changed that rollback undoes).
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The store's own figures (tables, keys, seconds of the initial copy).
    fn figures(&self) -> Vec<Figure>;

    /// The step's summary, with the worst lag seen.
    fn summary(&self, worst: &Self::Lag) -> String;
}

impl SyncLag for crate::postgres::replication::Lag {
    fn sample(&self) -> Vec<(&'static str, f64)> {
        vec![("bytes", self.bytes as f64), ("seconds", self.seconds)]
    }
    fn line(&self) -> String {
        format!("{} bytes, {:.3}s", self.bytes, self.seconds)
    }
    fn behind(&self, other: &Self) -> bool {
        self.bytes > other.bytes
    }
    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("lag_bytes", self.bytes as f64, "bytes"),
            Figure::new("lag_seconds", self.seconds, "s"),
        ]
    }
}

impl Synced for crate::postgres::replication::SyncReport {
    type Lag = crate::postgres::replication::Lag;
    fn lag(&self) -> Self::Lag {
        self.lag
    }
    fn notes(&self) -> Vec<String> {
        self.identity_full
            .iter()
            .map(|t| format!("{t}: REPLICA IDENTITY FULL (no primary key; undone by rollback)"))
            .collect()
    }
    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("tables", self.tables as f64, "tables"),
            Figure::new("initial_sync_seconds", self.initial_sync_seconds, "s"),
        ]
    }
    fn summary(&self, worst: &Self::Lag) -> String {
        format!(
            "{} tables replicated from PostgreSQL {} to {}; initial copy {:.1}s; {} bytes ({:.3}s) behind",
            self.tables, self.source_version, self.target_version, self.initial_sync_seconds, worst.bytes, worst.seconds
        )
    }
}

impl SyncLag for crate::redis::sync::Lag {
    fn sample(&self) -> Vec<(&'static str, f64)> {
        vec![("bytes", self.bytes as f64)]
    }
    fn line(&self) -> String {
        format!("{} bytes", self.bytes)
    }
    fn behind(&self, other: &Self) -> bool {
        self.bytes > other.bytes
    }
    fn figures(&self) -> Vec<Figure> {
        vec![Figure::new("lag_bytes", self.bytes as f64, "bytes")]
    }
}

impl Synced for crate::redis::SyncReport {
    type Lag = crate::redis::sync::Lag;
    fn lag(&self) -> Self::Lag {
        self.lag
    }
    fn figures(&self) -> Vec<Figure> {
        vec![
            Figure::new("keys", self.keys as f64, "keys"),
            Figure::new("full_sync_bytes", self.full_sync_bytes as f64, "bytes"),
            Figure::new("full_syncs", self.full_syncs as f64, "syncs"),
            Figure::new("partial_resyncs", self.partial_resyncs as f64, "syncs"),
            Figure::new("sync_seconds", self.seconds, "s"),
        ]
    }
    fn summary(&self, worst: &Self::Lag) -> String {
        format!(
            "{} keys replicated from {} to {} in {:.1}s ({} full sync(s), {} partial resync(s)); {} bytes behind",
            self.keys, self.source_version, self.target_version, self.seconds, self.full_syncs, self.partial_resyncs, worst.bytes
        )
    }
}

impl SyncLag for crate::mysql::sync::Lag {
    fn sample(&self) -> Vec<(&'static str, f64)> {
        let mut figures = vec![("transactions", self.transactions as f64)];
        figures.extend(self.seconds.map(|s| ("seconds", s as f64)));
        figures
    }
    fn line(&self) -> String {
        crate::mysql::sync::Lag::line(self)
    }
    fn behind(&self, other: &Self) -> bool {
        self.transactions > other.transactions
    }
    fn figures(&self) -> Vec<Figure> {
        let mut figures = vec![Figure::new(
            "lag_transactions",
            self.transactions as f64,
            "transactions",
        )];
        figures.extend(
            self.seconds
                .map(|s| Figure::new("lag_seconds", s as f64, "s")),
        );
        figures
    }
}

impl Synced for crate::mysql::sync::SyncReport {
    type Lag = crate::mysql::sync::Lag;
    fn lag(&self) -> Self::Lag {
        self.lag.clone()
    }
    fn figures(&self) -> Vec<Figure> {
        Vec::new()
    }
    fn summary(&self, worst: &Self::Lag) -> String {
        format!(
            "target replicates from {} since {}{}; {}",
            self.primary,
            self.start,
            self.converge.as_ref().map_or(String::new(), |c| format!(
                " (replayed idempotently up to {c})"
            )),
            worst.line()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::sync::{Lag as MysqlLag, SyncReport as MysqlReport};
    use crate::redis::sync::Lag as RedisLag;

    #[test]
    fn the_worst_lag_is_the_one_furthest_behind_in_each_stores_unit() {
        assert!(RedisLag { bytes: 2 }.behind(&RedisLag { bytes: 1 }));
        assert!(!RedisLag { bytes: 1 }.behind(&RedisLag { bytes: 1 }));
        let few = MysqlLag {
            transactions: 1,
            seconds: Some(9),
            ..MysqlLag::default()
        };
        let many = MysqlLag {
            transactions: 3,
            seconds: None,
            ..MysqlLag::default()
        };
        assert!(many.behind(&few) && !few.behind(&many));
    }

    #[test]
    fn a_lag_the_server_cannot_time_is_sampled_and_measured_without_seconds() {
        let lag = MysqlLag {
            transactions: 3,
            seconds: None,
            ..MysqlLag::default()
        };
        assert_eq!(lag.sample(), vec![("transactions", 3.0)]);
        let names: Vec<&str> = lag.figures().iter().map(|f| f.name).collect();
        assert_eq!(names, vec!["lag_transactions"]);
    }

    #[test]
    fn a_mysql_sync_summary_names_its_start_and_the_worst_lag() {
        let report = MysqlReport {
            primary: "10.0.0.1:3306".into(),
            start: "GTID 0-1-42".into(),
            converge: Some("GTID 0-1-50".into()),
            lag: MysqlLag::default(),
        };
        let worst = MysqlLag {
            transactions: 2,
            seconds: Some(1),
            source: "0-1-52".into(),
            target: "0-1-50".into(),
        };
        assert_eq!(
            report.summary(&worst),
            "target replicates from 10.0.0.1:3306 since GTID 0-1-42 (replayed idempotently up to GTID 0-1-50); 2 transaction(s) (1 s) behind: source at 0-1-52, target at 0-1-50"
        );
    }
}
