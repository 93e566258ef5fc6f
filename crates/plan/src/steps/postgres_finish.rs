//! `kind = "postgres.finish"`: the end of a switch's way back. Once the soak has passed,
//! the reverse replication a `postgres.switch` left running (for a rollback after the
//! switch) is ended, and the replication objects cutover created on both servers are
//! dropped; the source stays read-only or becomes writable as the plan says.

use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::StepKind;

/// Ends what the `postgres.switch` step `switch` left running: the reverse subscription on
/// the source (which drops its slot on the target), the reverse publication and any of its
/// slots left on the target, the sync's publication and any of its slots left on the
/// source, and the replica identities the sync changed. The source database is left
/// read-only (`source = "read-only"`, the default: no application can write to the server
/// that no longer receives the new server's writes) or made writable again (`source =
/// "writable"`, its sessions opened during the freeze ended so none stays read-only).
/// Applying again changes nothing. Afterwards a rollback of the switch is refused: with the
/// reverse replication gone, writes made on the target can no longer go back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct PostgresFinishStep {
    /// The id of the `postgres.switch` step whose reverse replication ends.
    pub switch: Spanned<String>,
    /// What the source database becomes: "read-only" (default) or "writable".
    pub source: Option<Spanned<SourceAfter>>,
}

crate::named::named_enum! {
    /// What a `postgres.finish` leaves the source database as.
    pub enum SourceAfter {
        /// Default transactions stay read-only (the switch's freeze is kept).
        ReadOnly = "read-only",
        /// The freeze is lifted and the sessions opened during it are ended.
        Writable = "writable",
    }
}

impl PostgresFinishStep {
    /// The fields a `postgres.finish` step accepts.
    pub const FIELDS: &'static [&'static str] = &["id", "kind", "description", "switch", "source"];

    /// True when the source becomes writable.
    pub fn writable(&self) -> bool {
        self.source
            .as_ref()
            .is_some_and(|s| s.value == SourceAfter::Writable)
    }

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(PostgresFinishStep {
            switch: f.required("switch", p)?,
            source: f.optional("source", p),
        })
    }
}

impl crate::steps::kind::Validate for PostgresFinishStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        let (id, plan) = (check.id, check.plan);
        let position = |name: &str| plan.steps().position(|(_, s)| s.id.value == name);
        let problem = match plan.step(&self.switch.value).map(|s| &s.kind) {
            Some(StepKind::PostgresSwitch(s)) if !s.reverse => Some((
                format!(
                    "step `{}` finishes `{}`, which keeps no reverse replication to end",
                    id.value, self.switch.value
                ),
                "no reverse replication",
                "set `reverse = true` on the switch, or remove this step (a switch without `reverse` leaves nothing running)".to_string(),
            )),
            Some(StepKind::PostgresSwitch(_))
                if position(&self.switch.value) < position(&id.value) =>
            {
                None
            }
            Some(StepKind::PostgresSwitch(_)) => Some((
                format!(
                    "step `{}` finishes `{}`, which runs after it",
                    id.value, self.switch.value
                ),
                "not an earlier step",
                "move the finish below its postgres.switch step (and below the soak that may roll it back)".to_string(),
            )),
            Some(other) => Some((
                format!(
                    "step `{}` is a `{}` step, not `postgres.switch`",
                    self.switch.value,
                    other.name()
                ),
                "not a postgres.switch step",
                "name the id of the postgres.switch step whose reverse replication ends".to_string(),
            )),
            None => {
                let switches: Vec<&str> = plan
                    .steps()
                    .filter(|(_, s)| matches!(s.kind, StepKind::PostgresSwitch(_)))
                    .map(|(_, s)| s.id.value.as_str())
                    .collect();
                Some((
                    format!("no step `{}` to finish", self.switch.value),
                    "unknown step",
                    if switches.is_empty() {
                        "add a postgres.switch step before this one".to_string()
                    } else {
                        format!("postgres.switch steps: {}", switches.join(", "))
                    },
                ))
            }
        };
        if let Some((message, label, help)) = problem {
            p.push(Problem::new(self.switch.span, message, label).help(help));
        }
    }
}
