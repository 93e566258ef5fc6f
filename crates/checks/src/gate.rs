//! A health gate: every probe must pass. Probes run together; each failing one is tried
//! again after a pause until it passes, its retries are spent or the deadline passes, and
//! the result is a checklist with the last outcome of each.

use crate::outcome::Outcome;
use crate::probe::{NamedProbe, ProbeEnv};
use futures_util::future::join_all;
use std::time::{Duration, Instant};

/// How long and how often a gate tries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GatePolicy {
    /// Stop trying after this long.
    pub deadline: Duration,
    /// Pause between tries.
    pub interval: Duration,
    /// Tries after the first (`None`: as many as the deadline allows).
    pub retries: Option<u32>,
}

impl Default for GatePolicy {
    fn default() -> Self {
        GatePolicy {
            deadline: Duration::from_secs(60),
            interval: Duration::from_secs(2),
            retries: None,
        }
    }
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Item {
    /// The check's name.
    pub name: String,
    /// Its kind.
    pub kind: &'static str,
    /// How many times it ran.
    pub tries: u32,
    /// Its last outcome.
    pub outcome: Outcome,
}

/// Runs `probes` under `policy`; `on_try(name, try, outcome)` sees every try as it ends.
pub async fn gate(
    probes: &[NamedProbe],
    env: &ProbeEnv,
    policy: GatePolicy,
    mut on_try: impl FnMut(&str, u32, &Outcome),
) -> Vec<Item> {
    let started = Instant::now();
    let mut items: Vec<Option<Item>> = vec![None; probes.len()];
    let mut round: u32 = 0;
    loop {
        round += 1;
        let pending: Vec<usize> = (0..probes.len())
            .filter(|&i| !items[i].as_ref().is_some_and(|it| it.outcome.ok))
            .collect();
        let outcomes = join_all(pending.iter().map(|&i| probes[i].run(env))).await;
        for (&i, outcome) in pending.iter().zip(outcomes) {
            on_try(&probes[i].name, round, &outcome);
            items[i] = Some(Item {
                name: probes[i].name.clone(),
                kind: probes[i].kind,
                tries: round,
                outcome,
            });
        }
        let all_ok = items
            .iter()
            .all(|it| it.as_ref().is_some_and(|it| it.outcome.ok));
        let retries_left = policy.retries.is_none_or(|r| round <= r);
        let elapsed = started.elapsed();
        if all_ok || !retries_left || elapsed >= policy.deadline {
            break;
        }
        // The last try starts at the deadline, not an interval before it.
        tokio::time::sleep(policy.interval.min(policy.deadline - elapsed)).await;
    }
    items.into_iter().flatten().collect()
}

/// The checklist as lines: `✓ name  summary` or `✗ name  failures (after N tries)`.
pub fn checklist(items: &[Item]) -> Vec<String> {
    let width = items.iter().map(|i| i.name.len()).max().unwrap_or(0);
    items
        .iter()
        .map(|i| {
            let mark = if i.outcome.ok { "✓" } else { "✗" };
            let tries = if i.tries > 1 {
                format!(" ({} tries)", i.tries)
            } else {
                String::new()
            };
            format!("{mark} {:<width$}  {}{tries}", i.name, i.outcome.line())
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::Probe;

    fn closed() -> NamedProbe {
        // Nothing listens on port 1 of loopback: every try fails at once.
        NamedProbe::new(
            "closed",
            Probe::Tcp(crate::probe::TcpProbe::to("127.0.0.1:1")),
        )
    }

    #[tokio::test]
    async fn retries_bound_the_tries_and_the_checklist_says_how_many() {
        let policy = GatePolicy {
            deadline: Duration::from_secs(60),
            interval: Duration::from_millis(10),
            retries: Some(2),
        };
        let mut seen = Vec::new();
        let items = gate(&[closed()], &ProbeEnv::default(), policy, |n, t, _| {
            seen.push((n.to_string(), t))
        })
        .await;
        assert_eq!(
            seen,
            vec![
                ("closed".to_string(), 1),
                ("closed".to_string(), 2),
                ("closed".to_string(), 3)
            ]
        );
        assert_eq!(items[0].tries, 3);
        let lines = checklist(&items);
        assert!(
            lines[0].starts_with("✗ closed  cannot connect to 127.0.0.1:1"),
            "{lines:?}"
        );
        assert!(lines[0].ends_with("(3 tries)"), "{lines:?}");
    }

    #[tokio::test]
    async fn the_last_try_starts_at_the_deadline() {
        let policy = GatePolicy {
            deadline: Duration::from_millis(300),
            interval: Duration::from_millis(200),
            retries: None,
        };
        let started = Instant::now();
        let items = gate(&[closed()], &ProbeEnv::default(), policy, |_, _, _| {}).await;
        assert_eq!(items[0].tries, 3, "at 0, 200 and 300 ms");
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
