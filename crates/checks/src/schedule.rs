//! Probes sent on a fixed schedule: each [`Schedule::send`] starts one probe of a check at
//! once, whatever earlier ones are doing, so a hung endpoint cannot hold the next probe back;
//! each probe ends by its deadline (the check's `timeout`), unanswered ones counting as failed
//! at that moment. Results come back in the order the probes were sent, per check: a probe
//! that failed fast waits for an earlier one still outstanding, at most that one's deadline,
//! so "three failures in a row" means three probes sent one after the other. Outstanding
//! probes are bounded per check; a probe over the bound is not sent and counts as failed.
//!
//! The downtime prober and the soak loop both send through it.

use crate::logs::now_ms;
use crate::outcome::Outcome;
use crate::probe::{NamedProbe, ProbeEnv};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{Id, JoinSet};

/// One probe's result, stamped with when it was sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Sent {
    /// Which check: its index in the probes given to [`Schedule::new`].
    pub check: usize,
    /// When it was sent (unix ms).
    pub at_ms: i64,
    /// What it found.
    pub outcome: Outcome,
}

/// One check's probes: sent, outstanding, and finished ones waiting for earlier ones.
#[derive(Default)]
struct Lane {
    /// Sequence number of the next probe sent.
    next: u64,
    /// Sequence number of the next result to hand out.
    released: u64,
    /// Send times of the probes still running, by sequence number.
    running: BTreeMap<u64, i64>,
    /// Finished results not yet handed out, by sequence number.
    done: BTreeMap<u64, (i64, Outcome)>,
}

/// Sends probes on the caller's schedule and hands back their results in send order.
pub struct Schedule {
    probes: Vec<Arc<NamedProbe>>,
    env: Arc<ProbeEnv>,
    max_outstanding: usize,
    lanes: Vec<Lane>,
    tasks: JoinSet<(usize, u64, Outcome)>,
    /// (check, sequence number) of each task, to account for one that panicked.
    by_task: HashMap<Id, (usize, u64)>,
}

impl Schedule {
    /// A schedule for `probes`, at most `max_outstanding` running per check.
    pub fn new(probes: Vec<NamedProbe>, env: ProbeEnv, max_outstanding: usize) -> Self {
        Schedule {
            lanes: probes.iter().map(|_| Lane::default()).collect(),
            probes: probes.into_iter().map(Arc::new).collect(),
            env: Arc::new(env),
            max_outstanding: max_outstanding.max(1),
            tasks: JoinSet::new(),
            by_task: HashMap::new(),
        }
    }

    /// The probes, in the order [`Sent::check`] indexes.
    pub fn probes(&self) -> impl Iterator<Item = &NamedProbe> {
        self.probes.iter().map(|p| p.as_ref())
    }

    /// Sends one probe of every check now.
    pub fn send_all(&mut self) {
        for check in 0..self.probes.len() {
            self.send(check);
        }
    }

    /// Sends one probe of `check` now; when `max_outstanding` of its probes are still
    /// running, this one is not sent and counts as failed.
    pub fn send(&mut self, check: usize) {
        let Some(lane) = self.lanes.get_mut(check) else {
            return;
        };
        let (seq, at_ms) = (lane.next, now_ms());
        lane.next += 1;
        if lane.running.len() >= self.max_outstanding {
            let why = format!(
                "{} earlier probes still outstanding: this one was not sent (counted as failed)",
                lane.running.len()
            );
            lane.done
                .insert(seq, (at_ms, Outcome::fail(Duration::ZERO, "", why)));
            return;
        }
        lane.running.insert(seq, at_ms);
        let (probe, env) = (self.probes[check].clone(), self.env.clone());
        let task = self
            .tasks
            .spawn(async move { (check, seq, probe.run(&env).await) });
        self.by_task.insert(task.id(), (check, seq));
    }

    /// No probe running and no result waiting.
    pub fn is_idle(&self) -> bool {
        self.tasks.is_empty() && self.lanes.iter().all(|l| l.done.is_empty())
    }

    /// The next result in send order (per check), waiting for it; `None` when idle.
    /// Cancel-safe: a result finished while the caller stopped waiting is kept.
    pub async fn next(&mut self) -> Option<Sent> {
        loop {
            if let Some(sent) = self.release() {
                return Some(sent);
            }
            let (id, (check, seq, outcome)) = match self.tasks.join_next_with_id().await? {
                Ok(r) => r,
                // Only a panic inside a probe gets here (tasks are aborted only on drop).
                Err(e) => {
                    let Some(&(check, seq)) = self.by_task.get(&e.id()) else {
                        continue;
                    };
                    let why = format!("the probe crashed: {e}");
                    (e.id(), (check, seq, Outcome::fail(Duration::ZERO, "", why)))
                }
            };
            self.by_task.remove(&id);
            let lane = &mut self.lanes[check];
            if let Some(at_ms) = lane.running.remove(&seq) {
                lane.done.insert(seq, (at_ms, outcome));
            }
        }
    }

    /// A result whose earlier probes have all been handed out, if any.
    fn release(&mut self) -> Option<Sent> {
        self.lanes.iter_mut().enumerate().find_map(|(check, lane)| {
            let (at_ms, outcome) = lane.done.remove(&lane.released)?;
            lane.released += 1;
            Some(Sent {
                check,
                at_ms,
                outcome,
            })
        })
    }
}
