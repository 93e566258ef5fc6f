//! `kind = "mysql.finish"`: the end of a MariaDB/MySQL switch's way back. Once the soak has
//! passed, the reverse replication a `mysql.switch` with `reverse` left running (the source
//! replicating from the target, for a rollback) ends; the source stays read-only or becomes
//! writable as the plan says.

use super::mysql_endpoint::earlier_step;
use super::postgres_finish::SourceAfter;
use super::redis_finish::no_reverse;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::steps::{Kind, StepKind};

/// Ends what the `mysql.switch` step `switch` left running: the source stops replicating
/// from the target and forgets it (`STOP REPLICA`, `RESET REPLICA ALL`: the reverse
/// channel cutover created, and the target's replication account with it). The source is
/// left read-only (`source = "read-only"`, the default: `read_only`, and `super_read_only`
/// on MySQL, so no application writes to the server that no longer receives the new
/// server's writes) or made writable (`source = "writable"`). Applying again changes
/// nothing. Afterwards a rollback of the switch is refused: with the reverse replication
/// gone, writes made on the target can no longer go back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct MysqlFinishStep {
    /// The id of the `mysql.switch` step whose reverse replication ends.
    pub switch: Spanned<String>,
    /// What the source server becomes: "read-only" (default) or "writable".
    pub source: Option<Spanned<SourceAfter>>,
}

impl MysqlFinishStep {
    /// The fields a `mysql.finish` step accepts.
    pub const FIELDS: &'static [&'static str] = &["id", "kind", "description", "switch", "source"];

    /// True when the source takes writes again.
    pub fn writable(&self) -> bool {
        self.source
            .as_ref()
            .is_some_and(|s| s.value == SourceAfter::Writable)
    }

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        Some(MysqlFinishStep {
            switch: f.required("switch", p)?,
            source: f.optional("source", p),
        })
    }
}

impl crate::steps::kind::Validate for MysqlFinishStep {
    fn validate(&self, check: &crate::validate::StepCheck<'_>, p: &mut Problems) {
        earlier_step(check, "switch", &self.switch, Kind::MysqlSwitch, p);
        if let Some(StepKind::MysqlSwitch(s)) = check.plan.step(&self.switch.value).map(|s| &s.kind)
        {
            if !s.reverse {
                p.push(no_reverse(check, &self.switch, "reverse = true"));
            }
        }
    }
}
