//! `kind = "dns.record"`: record sets created, changed or deleted, one atomic change per zone
//! (test subdomains before a go-live, a verification TXT, the old name's records at
//! decommission). Unlike `dns.switch`, which only re-points records that exist, it may create
//! a record set that does not exist (`state = "present"`, the default) or delete one
//! (`state = "absent"`). What was there before is journaled first, so rollback puts it back:
//! a created record set is deleted, a deleted one created again.

use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::traffic::DnsRecord;
use crate::validate::StepCheck;
use std::time::Duration;

/// Makes `records` at `provider` exist with their values, or not exist.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct DnsRecordStep {
    /// The DNS provider (a name from `[dns]`).
    pub provider: Spanned<String>,
    /// The record sets: `{ name = "test-app.example.com", type = "A", value = "..." }`
    /// (`type`: A, AAAA, CNAME, TXT, MX as `"10 mx.example.com"`, NS). With `state =
    /// "absent"`, only `name` and `type`.
    pub records: Vec<DnsRecord>,
    /// The TTL of the record sets written (default: a changed set keeps its TTL, a created
    /// one gets 300 s).
    #[schemars(with = "Option<String>")]
    pub ttl: Option<Duration>,
    /// `present` (default): the record sets hold exactly these values, created if absent.
    /// `absent`: the record sets are deleted.
    pub state: Option<Spanned<String>>,
}

/// The TTL of a created record set when the step names none.
pub const DEFAULT_CREATED_TTL: u32 = 300;

impl DnsRecordStep {
    /// The fields a `dns.record` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "provider",
        "records",
        "ttl",
        "state",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let provider = f.required("provider", p);
        let records = f.required("records", p);
        let ttl = f.duration("ttl", &limits::DNS_TTL, p);
        let state = f.optional("state", p);
        Some(DnsRecordStep {
            provider: provider?,
            records: records?,
            ttl,
            state,
        })
    }

    /// True when the step deletes its record sets.
    pub fn deletes(&self) -> bool {
        self.state.as_ref().is_some_and(|s| s.value == "absent")
    }
}

impl Validate for DnsRecordStep {
    fn validate(&self, check: &StepCheck<'_>, p: &mut Problems) {
        if let Some(s) = &self.state {
            if s.value != "present" && s.value != "absent" {
                p.push(
                    Problem::new(
                        s.span,
                        format!(
                            "`state` of {} must be \"present\" or \"absent\", not \"{}\"",
                            check.owner, s.value
                        ),
                        "unknown state",
                    )
                    .help("\"present\" creates or changes the records, \"absent\" deletes them"),
                );
            }
        }
        for r in &self.records {
            let has_values = !r.templates().is_empty();
            if self.deletes() && has_values {
                p.push(
                    Problem::new(
                        r.name.span,
                        format!(
                            "record `{}` of {} is deleted (`state = \"absent\"`) but has a value",
                            r.name.value, check.owner
                        ),
                        "value of a deleted record",
                    )
                    .help("a deletion removes the whole record set: remove `value`/`values`"),
                );
            }
            if !self.deletes() && !has_values {
                p.push(
                    Problem::new(
                        r.name.span,
                        format!(
                            "record `{}` of {} has no `value`",
                            r.name.value, check.owner
                        ),
                        "no value",
                    )
                    .help(
                        "add `value = \"...\"`, or `state = \"absent\"` to delete the record set",
                    ),
                );
            }
        }
        // A CNAME owns its name (RFC 1034 3.6.2): nothing else may sit beside it.
        for (i, r) in self.records.iter().enumerate() {
            let is_cname = |x: &DnsRecord| x.rtype.value.eq_ignore_ascii_case("CNAME");
            let clash = self.records[..i].iter().find(|x| {
                crate::traffic::same_name(&x.name.value, &r.name.value)
                    && (is_cname(x) || is_cname(r))
            });
            if let (Some(_), false) = (clash, self.deletes()) {
                p.push(
                    Problem::new(
                        r.name.span,
                        format!(
                            "{} gives `{}` a CNAME and other records: a CNAME cannot share its name",
                            check.owner, r.name.value
                        ),
                        "beside a CNAME",
                    )
                    .help("keep the CNAME alone at that name, or use A/AAAA records there"),
                );
            }
        }
    }
}
