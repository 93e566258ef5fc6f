//! `dns.lower_ttl` and `dns.raise_ttl`: set the TTL of records. Lowering first reads each
//! record's TTL from every authoritative server (found from the NS records) and journals the
//! instant after which the old TTL has expired everywhere: when every server hands out the new
//! TTL, plus the largest old TTL seen. `dns.switch` refuses to run before it.

use super::traffic::{
    by_zone, check_capabilities, desired, load_state, provider, restore, save_state,
};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_journal::{format_ms, now_ms};
use cutover_plan::steps::DnsTtlStep;
use cutover_traffic::dns::authority;
use cutover_traffic::dns::{corrections, Desired, RecordSet};
use std::time::{Duration, Instant};

pub(crate) struct DnsTtl<'a> {
    pub step: &'a DnsTtlStep,
    pub lower: bool,
}

/// The journaled TTL values before the change.
const PREVIOUS: &str = "previous-ttl";
/// The journaled unix ms after which the old TTL has expired everywhere.
pub(crate) const EXPIRY: &str = "ttl-expiry";

impl DnsTtl<'_> {
    fn wish(&self, ctx: &StepCtx<'_>) -> Result<Vec<Desired>, EngineError> {
        let values = Values {
            plan: ctx.plan,
            run_id: Some(ctx.run_id),
            secrets: None,
        };
        desired(&values, &self.step.records, false, Some(self.step.ttl))
    }

    /// The largest TTL any authoritative server hands out for the records, with who said it.
    async fn max_ttl_everywhere(
        &self,
        ctx: &StepCtx<'_>,
        zone: &str,
        p: &dyn cutover_traffic::dns::DnsProvider,
        list: &[Desired],
    ) -> Result<(u32, Vec<authority::Server>), EngineError> {
        let servers = authority::servers(zone, p.bootstrap(), Duration::from_secs(3))
            .await
            .map_err(|e| ctx.failed(e.to_string()))?;
        let mut max = 0;
        for s in &servers {
            for d in list {
                let seen = authority::ask(s, &d.key, Duration::from_secs(3))
                    .await
                    .map_err(|e| ctx.failed(e.to_string()))?;
                let ttl = seen.ttl.unwrap_or(0);
                ctx.detail(format!("{s}: {} TTL {ttl} s", d.key));
                max = max.max(ttl);
            }
        }
        Ok((max, servers))
    }
}

#[async_trait]
impl StepRunner for DnsTtl<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let wish = desired(values, &self.step.records, false, Some(self.step.ttl))?;
        let mut lines: Vec<String> = wish
            .iter()
            .map(|d| {
                format!(
                    "{}: TTL -> {} s at DNS provider `{}`",
                    d.key,
                    self.step.ttl.as_secs(),
                    self.step.provider.value
                )
            })
            .collect();
        if self.lower {
            lines.push("the old TTLs are read from every authoritative server; later dns.switch steps wait until they expired".into());
        }
        Ok(lines)
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        if load_state::<Vec<RecordSet>>(ctx, ctx.id(), PREVIOUS)?.is_some() {
            return Ok(Verified::NotInPlace);
        }
        let wish = self.wish(ctx)?;
        check_capabilities(ctx, &self.step.provider.value, &wish)?;
        let p = provider(ctx, &self.step.provider.value)?;
        for (zone, list) in by_zone(ctx, p.as_ref(), wish)? {
            let keys: Vec<_> = list.iter().map(|d| d.key.clone()).collect();
            let current = p
                .read(&zone, &keys)
                .await
                .map_err(|e| ctx.failed(e.to_string()))?;
            if !corrections(p.as_ref(), &current, &list)
                .map_err(|e| ctx.failed(e.to_string()))?
                .is_empty()
            {
                return Ok(Verified::NotInPlace);
            }
        }
        Ok(Verified::InPlace)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let wish = self.wish(ctx)?;
        check_capabilities(ctx, &self.step.provider.value, &wish)?;
        let p = provider(ctx, &self.step.provider.value)?;
        let earlier = load_state::<Vec<RecordSet>>(ctx, ctx.id(), PREVIOUS)?;
        let mut previous = Vec::new();
        let mut old_max = 0;
        let mut everywhere = Vec::new();
        let zones = by_zone(ctx, p.as_ref(), wish)?;
        for (zone, list) in &zones {
            let keys: Vec<_> = list.iter().map(|d| d.key.clone()).collect();
            let current = p
                .read(zone, &keys)
                .await
                .map_err(|e| ctx.failed(e.to_string()))?;
            previous.extend(current.iter().flatten().cloned());
            if self.lower {
                let (max, servers) = self.max_ttl_everywhere(ctx, zone, p.as_ref(), list).await?;
                old_max = old_max.max(max);
                everywhere.push((servers, list.clone()));
            }
        }
        // A retry after a crash reads the TTLs the first try already lowered: the first
        // try's values are the old ones.
        let previous = match earlier {
            Some(first) => first,
            None => {
                save_state(ctx, PREVIOUS, &previous)?;
                previous
            }
        };
        old_max = old_max.max(
            previous
                .iter()
                .map(|r| p.effective_ttl(r.ttl))
                .max()
                .unwrap_or(0),
        );
        let mut changed = 0;
        for (zone, list) in &zones {
            let keys: Vec<_> = list.iter().map(|d| d.key.clone()).collect();
            let current = p
                .read(zone, &keys)
                .await
                .map_err(|e| ctx.failed(e.to_string()))?;
            let fixes =
                corrections(p.as_ref(), &current, list).map_err(|e| ctx.failed(e.to_string()))?;
            for f in &fixes {
                ctx.detail(format!("{zone}: {}", f.msg));
            }
            p.apply(zone, &fixes)
                .await
                .map_err(|e| ctx.failed(e.to_string()))?;
            changed += fixes.len();
        }
        if !self.lower {
            return Ok(Applied::Done {
                summary: format!(
                    "TTL set to {} s on {changed} record set(s)",
                    self.step.ttl.as_secs()
                ),
            });
        }
        // The old TTL starts running out once every server hands out the new one.
        let started = Instant::now();
        for (servers, list) in &everywhere {
            for s in servers {
                for d in list {
                    loop {
                        let seen = authority::ask(s, &d.key, Duration::from_secs(3))
                            .await
                            .map_err(|e| ctx.failed(e.to_string()))?;
                        if seen
                            .ttl
                            .is_some_and(|t| t <= self.step.ttl.as_secs() as u32)
                        {
                            break;
                        }
                        if started.elapsed() > Duration::from_secs(60) {
                            return Err(ctx.failed(format!("{s} still hands out TTL {:?} for {} after 60 s: is it a secondary that does not get NOTIFY?", seen.ttl, d.key)));
                        }
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                }
            }
        }
        let expiry = now_ms() + i64::from(old_max) * 1000;
        save_state(ctx, EXPIRY, &expiry)?;
        ctx.measure("old_ttl_max", f64::from(old_max), "s")?;
        Ok(Applied::Done {
            summary: format!(
                "TTL lowered to {} s on {changed} record set(s); the old TTL ({old_max} s) has expired everywhere at {}",
                self.step.ttl.as_secs(),
                format_ms(expiry)
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
        let n = restore(ctx, &self.step.provider.value, &previous, false).await?;
        Ok(Some(format!("{n} TTL(s) restored")))
    }
}
