//! `dns.record`: record sets created, changed or deleted, one atomic change per zone. What
//! each record set was before (absent included) is journaled before any change, so rollback
//! deletes what the step created and creates again what it deleted, also after a crash.

use super::traffic::{by_zone, check_capabilities, load_state, manual_instructions, provider};
use super::traffic::{desired, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_plan::steps::{DnsRecordStep, DEFAULT_CREATED_TTL};
use cutover_traffic::dns::{record_corrections, Correction, Desired, DnsProvider, RecordSet};

pub(crate) struct DnsRecord<'a>(pub &'a DnsRecordStep);

/// The journaled record sets before the step (no values: it did not exist).
const PREVIOUS: &str = "previous";

impl DnsRecord<'_> {
    fn wish(&self, values: &Values<'_>) -> Result<Vec<Desired>, EngineError> {
        let mut wish = desired(values, &self.0.records, !self.0.deletes(), self.0.ttl)?;
        if self.0.deletes() {
            for d in &mut wish {
                d.values = Some(Vec::new());
                d.ttl = None;
            }
        }
        Ok(wish)
    }

    fn wish_now(&self, ctx: &StepCtx<'_>) -> Result<Vec<Desired>, EngineError> {
        let outputs = ctx.outputs_now();
        self.wish(&Values {
            plan: ctx.plan,
            run_id: Some(ctx.run_id),
            secrets: None,
            outputs: Some(&outputs),
        })
    }
}

/// What is there now for `wish`, zone by zone, and the corrections that make it so; the
/// record sets read (an absent one as a set without values) go to `seen`.
async fn corrections_for(
    ctx: &StepCtx<'_>,
    p: &dyn DnsProvider,
    wish: Vec<Desired>,
    seen: &mut Vec<RecordSet>,
) -> Result<Vec<(String, Vec<Correction>)>, EngineError> {
    let mut plan = Vec::new();
    for (zone, list) in by_zone(ctx, p, wish)? {
        let keys: Vec<_> = list.iter().map(|d| d.key.clone()).collect();
        let current = p
            .read(&zone, &keys)
            .await
            .map_err(|e| ctx.failed(e.to_string()))?;
        for (key, set) in keys.iter().zip(&current) {
            seen.push(set.clone().unwrap_or_else(|| RecordSet {
                key: key.clone(),
                ttl: 0,
                values: Vec::new(),
                proxied: None,
            }));
        }
        let fixes = record_corrections(p, &current, &list, DEFAULT_CREATED_TTL)
            .map_err(|e| ctx.failed(e.to_string()))?;
        plan.push((zone, fixes));
    }
    Ok(plan)
}

/// Applies `plan` zone by zone; a failure names the zones done and not attempted.
async fn apply_all(
    ctx: &StepCtx<'_>,
    p: &dyn DnsProvider,
    plan: &[(String, Vec<Correction>)],
) -> Result<usize, EngineError> {
    for line in manual_instructions(p, plan) {
        ctx.detail(line);
    }
    let mut done: Vec<&str> = Vec::new();
    for (zone, fixes) in plan {
        for f in fixes {
            ctx.detail(format!("{zone}: {}", f.msg));
        }
        if let Err(e) = p.apply(zone, fixes).await {
            return Err(ctx.failed(format!(
                "{e}\nzones changed: {}. Run `cutover apply` to retry (it re-reads and changes only what is left), or `cutover rollback` to put back the journaled records",
                if done.is_empty() { "none".into() } else { done.join(", ") },
            )));
        }
        done.push(zone);
    }
    Ok(plan.iter().map(|(_, f)| f.len()).sum())
}

#[async_trait]
impl StepRunner for DnsRecord<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let provider = &self.0.provider.value;
        let mut lines: Vec<String> = self
            .wish(values)?
            .iter()
            .map(|d| match d.values.as_deref() {
                Some([]) | None => format!("{} deleted at DNS provider `{provider}`", d.key),
                Some(v) => format!(
                    "{} = {} ({}) at DNS provider `{provider}`",
                    d.key,
                    v.join(","),
                    d.ttl
                        .map_or("TTL kept, 300 s if created".into(), |t| format!(
                            "TTL {t} s"
                        ))
                ),
            })
            .collect();
        lines.push("one atomic change per zone; what was there journaled for rollback".into());
        Ok(lines)
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        // Begun in this run: apply again so that the step is ours to roll back.
        if load_state::<Vec<RecordSet>>(ctx, ctx.id(), PREVIOUS)?.is_some() {
            return Ok(Verified::NotInPlace);
        }
        let wish = self.wish_now(ctx)?;
        check_capabilities(ctx, &self.0.provider.value, &wish)?;
        let p = provider(ctx, &self.0.provider.value)?;
        let plan = corrections_for(ctx, p.as_ref(), wish, &mut Vec::new()).await?;
        Ok(if plan.iter().all(|(_, f)| f.is_empty()) {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let wish = self.wish_now(ctx)?;
        check_capabilities(ctx, &self.0.provider.value, &wish)?;
        let p = provider(ctx, &self.0.provider.value)?;
        let mut before = Vec::new();
        let plan = corrections_for(ctx, p.as_ref(), wish.clone(), &mut before).await?;
        // The first attempt's reading is what rollback restores.
        if load_state::<Vec<RecordSet>>(ctx, ctx.id(), PREVIOUS)?.is_none() {
            save_state(ctx, PREVIOUS, &before)?;
        }
        let changed = apply_all(ctx, p.as_ref(), &plan).await?;
        // A server may accept an update and still not hold it (RFC 2136 3.4.2.2 ignores a
        // CNAME beside other data): read back before calling it done.
        let left = corrections_for(ctx, p.as_ref(), wish, &mut Vec::new()).await?;
        if let Some(f) = left.iter().flat_map(|(_, f)| f).next() {
            return Err(ctx.failed(format!(
                "the DNS server accepted the change but does not hold it: {}",
                f.msg
            )));
        }
        Ok(Applied::Done {
            summary: format!("{changed} record set(s) written in {} zone(s)", plan.len()),
        })
    }

    /// What was there is journaled before any change: a partial change is undone too.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let Some(previous) = load_state::<Vec<RecordSet>>(ctx, ctx.id(), PREVIOUS)? else {
            return Ok(None);
        };
        let wish: Vec<Desired> = previous
            .iter()
            .map(|r| Desired {
                key: r.key.clone(),
                values: Some(r.values.clone()),
                ttl: (!r.values.is_empty()).then_some(r.ttl),
                proxied: r.proxied,
            })
            .collect();
        let p = provider(ctx, &self.0.provider.value)?;
        let plan = corrections_for(ctx, p.as_ref(), wish, &mut Vec::new()).await?;
        let n = apply_all(ctx, p.as_ref(), &plan).await?;
        Ok(Some(format!(
            "{n} record set(s) put back as they were (created ones deleted, deleted ones created)"
        )))
    }
}
