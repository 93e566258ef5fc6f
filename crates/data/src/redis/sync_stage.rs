//! Where a watched sync stands, read from both servers' INFO: receiving the snapshot,
//! loading it, link down, or following with a lag. As figures for the journal's progress
//! samples and as the line the operator reads.

use super::info::{Role, State};

/// Where a sync stands.
#[derive(Debug, Clone, PartialEq)]
pub enum SyncStage {
    /// The target receives the source's snapshot.
    Receiving {
        /// Bytes received so far.
        read: u64,
        /// Bytes in all, when the source said (not for a diskless sync).
        total: Option<u64>,
    },
    /// The target loads the snapshot.
    Loading {
        /// Percent loaded.
        percent: f64,
        /// Keys loaded so far.
        keys: u64,
    },
    /// The link to the source is down; the target retries by itself.
    LinkDown {
        /// Since how long, as the target says (`?` when it does not).
        seconds: String,
    },
    /// The target follows the source.
    Following {
        /// Keys on the target.
        keys: u64,
        /// Bytes of the source's stream the target has not applied.
        lag: u64,
    },
}

/// Figures of each moment of a sync.
pub type StageSink<'a> = &'a (dyn Fn(SyncStage) + Send + Sync);

impl SyncStage {
    /// The stage from the source's and the target's INFO.
    pub fn of(s: &State, t: &State) -> Self {
        if t.number("master_sync_in_progress") == 1 {
            let total = t
                .info("master_sync_total_bytes")
                .and_then(|v| v.parse::<i64>().ok())
                .filter(|v| *v > 0)
                .map(|v| v as u64);
            return SyncStage::Receiving {
                read: t.number("master_sync_read_bytes"),
                total,
            };
        }
        if t.number("loading") == 1 {
            return SyncStage::Loading {
                percent: t
                    .info("loading_loaded_perc")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0.0),
                keys: t.keys(),
            };
        }
        if !matches!(t.role, Role::Replica { link_up: true, .. }) {
            return SyncStage::LinkDown {
                seconds: t
                    .info("master_link_down_since_seconds")
                    .unwrap_or("?")
                    .to_string(),
            };
        }
        SyncStage::Following {
            keys: t.keys(),
            lag: s.offset().saturating_sub(t.number("slave_repl_offset")),
        }
    }

    /// The lag, once the target follows.
    pub fn lag(&self) -> Option<u64> {
        match self {
            SyncStage::Following { lag, .. } => Some(*lag),
            _ => None,
        }
    }

    /// The line for the operator.
    pub fn line(&self) -> String {
        match self {
            SyncStage::Receiving { read, total } => {
                let of = total.map_or(String::new(), |t| format!(" of {:.1} MB", t as f64 / 1e6));
                format!("full sync: {:.1} MB received{of}", *read as f64 / 1e6)
            }
            SyncStage::Loading { percent, keys } => {
                format!("full sync: loading, {percent}% ({keys} keys so far)")
            }
            SyncStage::LinkDown { seconds } => {
                format!("link to the source down for {seconds} s: the target retries by itself")
            }
            SyncStage::Following { keys, lag } => {
                format!("in sync: {keys} keys, {lag} bytes behind")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::redis::protocol::Facts;

    fn state(lines: &str) -> State {
        let info = lines
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        State::new(Facts {
            info,
            ..Facts::default()
        })
    }

    #[test]
    fn each_stage_of_a_sync_reads_from_info_with_its_figures() {
        let source = state("role:master\nmaster_repl_offset:5000");
        let replica = "role:slave\nmaster_host:10.0.0.1\nmaster_port:6379\n";
        let receiving = state(&format!("{replica}master_link_status:down\nmaster_sync_in_progress:1\nmaster_sync_read_bytes:2500000\nmaster_sync_total_bytes:10000000"));
        let stage = SyncStage::of(&source, &receiving);
        assert_eq!(
            stage,
            SyncStage::Receiving {
                read: 2_500_000,
                total: Some(10_000_000)
            }
        );
        assert_eq!(stage.line(), "full sync: 2.5 MB received of 10.0 MB");
        // A diskless sync does not say its size.
        let diskless = state(&format!("{replica}master_sync_in_progress:1\nmaster_sync_read_bytes:10\nmaster_sync_total_bytes:-1"));
        assert_eq!(
            SyncStage::of(&source, &diskless),
            SyncStage::Receiving {
                read: 10,
                total: None
            }
        );
        let loading = state(&format!(
            "{replica}loading:1\nloading_loaded_perc:42.50\ndb0:keys=7,expires=0,avg_ttl=0"
        ));
        assert_eq!(
            SyncStage::of(&source, &loading),
            SyncStage::Loading {
                percent: 42.5,
                keys: 7
            }
        );
        let following = state(&format!("{replica}master_link_status:up\nslave_repl_offset:4900\ndb0:keys=9,expires=0,avg_ttl=0"));
        let stage = SyncStage::of(&source, &following);
        assert_eq!(
            (stage.lag(), stage.line()),
            (Some(100), "in sync: 9 keys, 100 bytes behind".to_string())
        );
    }
}
