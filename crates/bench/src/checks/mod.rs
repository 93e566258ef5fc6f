//! The checks benchmark: the probe engine against curl (a loop, as runbooks do, and curl's
//! own parallel keep-alive mode), the CPU the downtime prober and a soak spend at 10
//! probes/s against a curl loop at that rate, and, end to end through `cutover apply` on the
//! lab, how long users see a failing new host before the soak rolls a HAProxy switch back,
//! measured at the bench's own client.

mod probes;
mod soak;

use crate::report::Section;
use crate::Options;

/// Runs the checks benchmark.
pub fn run(options: &Options) -> anyhow::Result<Section> {
    let mut section = Section {
        name: "checks",
        setup: "`scripts/bench.sh checks`: health probes against the test app on loopback (the probe engine alone), and a soak on the lab hosts behind HAProxy.".into(),
        rounds: options.rounds,
        rows: Vec::new(),
        targets: Vec::new(),
        tables: Vec::new(),
        notes: Vec::new(),
    };
    let (rows, targets) = probes::run(options)?;
    section.rows = rows;
    section.targets = targets;
    section.targets.extend(soak::run(options)?);
    section.notes.push(
        "The soak's figures are taken by the bench's own client, a fresh connection through the proxy every 10 ms: from the first request that failed after the new app was broken to the first one the old app served; cutover's own account of its rollback is beside it."
            .into(),
    );
    Ok(section)
}
