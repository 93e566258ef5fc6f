//! `dns.switch`: records pointed at the new host, one atomic change per zone, only once the
//! TTLs lowered by earlier `dns.lower_ttl` steps have expired everywhere. The values read
//! before the change are journaled first, so rollback restores them even after a crash.

use super::dns_ttl::EXPIRY;
use super::traffic::{by_zone, check_capabilities, desired, load_state, provider, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_journal::{format_ms, now_ms};
use cutover_plan::steps::DnsSwitchStep;
use cutover_plan::StepKind;
use cutover_traffic::dns::{corrections, Correction, Desired, DnsError, RecordSet};
use std::time::{Duration, Instant};

pub(crate) struct DnsSwitch<'a>(pub &'a DnsSwitchStep);

/// The journaled values before the switch.
pub(crate) const PREVIOUS: &str = "previous";

impl DnsSwitch<'_> {
    fn wish(&self, ctx: &StepCtx<'_>) -> Result<Vec<Desired>, EngineError> {
        let values = Values {
            plan: ctx.plan,
            run_id: Some(ctx.run_id),
            secrets: None,
        };
        desired(&values, &self.0.records, true, self.0.ttl)
    }

    /// Refuses while an earlier `dns.lower_ttl` of this provider has an old TTL not yet expired.
    fn ttl_gate(&self, ctx: &StepCtx<'_>) -> Result<(), EngineError> {
        let mut latest: Option<(i64, String)> = None;
        for (_, step) in ctx.plan.steps() {
            if step.id.value == ctx.id() {
                break;
            }
            let StepKind::DnsLowerTtl(l) = &step.kind else {
                continue;
            };
            if l.provider.value != self.0.provider.value {
                continue;
            }
            if let Some(at) = load_state::<i64>(ctx, &step.id.value, EXPIRY)? {
                if latest.as_ref().is_none_or(|(t, _)| at > *t) {
                    latest = Some((at, step.id.value.clone()));
                }
            }
        }
        match latest {
            Some((at, step)) if at > now_ms() => {
                let left = Duration::from_millis((at - now_ms()) as u64);
                Err(ctx.failed(format!(
                    "the TTLs lowered by `{step}` have not expired everywhere yet: {} left (until {}); resolvers may still serve the old values for that long. Run `cutover apply` again after that, or add a `wait` step with `after = \"{step}\"`",
                    humantime::format_duration(Duration::from_secs(left.as_secs() + 1)),
                    format_ms(at)
                )))
            }
            _ => Ok(()),
        }
    }
}

#[async_trait]
impl StepRunner for DnsSwitch<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let wish = desired(values, &self.0.records, true, self.0.ttl)?;
        let mut lines: Vec<String> = wish
            .iter()
            .map(|d| {
                let ttl = d.ttl.map_or("TTL kept".into(), |t| format!("TTL {t} s"));
                format!(
                    "{} -> {} ({ttl}) at DNS provider `{}`",
                    d.key,
                    d.values.clone().unwrap_or_default().join(","),
                    self.0.provider.value
                )
            })
            .collect();
        lines.push("one atomic change per zone, after the lowered TTLs expired; previous values journaled for rollback".into());
        Ok(lines)
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        // Begun in this run (e.g. interrupted): apply again so the step is ours to roll back.
        if load_state::<Vec<RecordSet>>(ctx, ctx.id(), PREVIOUS)?.is_some() {
            return Ok(Verified::NotInPlace);
        }
        let wish = self.wish(ctx)?;
        check_capabilities(ctx, &self.0.provider.value, &wish)?;
        let p = provider(ctx, &self.0.provider.value)?;
        for (zone, list) in by_zone(ctx, p.as_ref(), wish)? {
            let keys: Vec<_> = list.iter().map(|d| d.key.clone()).collect();
            let current = p
                .read(&zone, &keys)
                .await
                .map_err(|e| ctx.failed(e.to_string()))?;
            let fixes =
                corrections(p.as_ref(), &current, &list).map_err(|e| ctx.failed(e.to_string()))?;
            if !fixes.is_empty() {
                return Ok(Verified::NotInPlace);
            }
        }
        Ok(Verified::InPlace)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let wish = self.wish(ctx)?;
        check_capabilities(ctx, &self.0.provider.value, &wish)?;
        self.ttl_gate(ctx)?;
        let p = provider(ctx, &self.0.provider.value)?;
        let mut plan: Vec<(String, Vec<Correction>)> = Vec::new();
        let mut previous: Vec<RecordSet> = Vec::new();
        for (zone, list) in by_zone(ctx, p.as_ref(), wish)? {
            let keys: Vec<_> = list.iter().map(|d| d.key.clone()).collect();
            let current = p
                .read(&zone, &keys)
                .await
                .map_err(|e| ctx.failed(e.to_string()))?;
            previous.extend(current.iter().flatten().cloned());
            let fixes =
                corrections(p.as_ref(), &current, &list).map_err(|e| ctx.failed(e.to_string()))?;
            plan.push((zone, fixes));
        }
        if load_state::<Vec<RecordSet>>(ctx, ctx.id(), PREVIOUS)?.is_none() {
            save_state(ctx, PREVIOUS, &previous)?;
        }
        for line in super::traffic::manual_instructions(p.as_ref(), &plan) {
            ctx.detail(line);
        }
        let started = Instant::now();
        let mut done: Vec<&str> = Vec::new();
        for (zone, fixes) in &plan {
            for f in fixes {
                ctx.detail(format!("{zone}: {}", f.msg));
            }
            if let Err(e) = p.apply(zone, fixes).await {
                let pending: Vec<&str> = plan
                    .iter()
                    .map(|(z, _)| z.as_str())
                    .filter(|z| z != zone && !done.contains(z))
                    .collect();
                let unknown = matches!(e, DnsError::Unknown { .. });
                return Err(ctx.failed(format!(
                    "{e}\nzones switched: {}; zone {zone}: {}; not attempted: {}. Run `cutover apply` to retry (it re-reads and changes only what is left), or `cutover rollback` to restore the journaled values",
                    if done.is_empty() { "none".into() } else { done.join(", ") },
                    if unknown { "unknown, re-read it before deciding" } else { "not changed" },
                    if pending.is_empty() { "none".into() } else { pending.join(", ") },
                )));
            }
            done.push(zone);
        }
        let changed: usize = plan.iter().map(|(_, f)| f.len()).sum();
        ctx.measure("switch_ms", started.elapsed().as_secs_f64() * 1000.0, "ms")?;
        ctx.measure("switched_at_ms", now_ms() as f64, "unix_ms")?;
        Ok(Applied::Done {
            summary: format!(
                "{changed} record set(s) switched in {} zone(s) in {} ms",
                plan.len(),
                started.elapsed().as_millis()
            ),
        })
    }

    /// The previous values are journaled before any change: a partial switch is undone too.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let Some(previous) = load_state::<Vec<RecordSet>>(ctx, ctx.id(), PREVIOUS)? else {
            return Ok(None);
        };
        let n = super::traffic::restore(ctx, &self.0.provider.value, &previous, true).await?;
        Ok(Some(format!(
            "{n} record set(s) restored to their previous values and TTLs"
        )))
    }
}
