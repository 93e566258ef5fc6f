//! `dns.verify`: polls every authoritative server of the records' zones and the listed
//! resolvers until each answers the new values, and journals each server's time to
//! consistency, counted from the latest `dns.switch` of the same provider.

use super::traffic::{by_zone, desired, provider};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_journal::now_ms;
use cutover_plan::steps::DnsVerifyStep;
use cutover_plan::StepKind;
use cutover_traffic::dns::authority::{self, Server};
use cutover_traffic::dns::{normalize_value, RecordKey};
use std::time::{Duration, Instant};

pub(crate) struct DnsVerify<'a>(pub &'a DnsVerifyStep);

impl DnsVerify<'_> {
    /// When the latest earlier `dns.switch` of this provider changed the records.
    fn switched_at(&self, ctx: &StepCtx<'_>) -> Option<i64> {
        let mut at = None;
        for (_, step) in ctx.plan.steps() {
            if step.id.value == ctx.id() {
                break;
            }
            if matches!(&step.kind, StepKind::DnsSwitch(s) if s.provider.value == self.0.provider.value)
            {
                if let Some(m) = ctx.state.step(&step.id.value).and_then(|s| {
                    s.measurements
                        .iter()
                        .rev()
                        .find(|m| m.name == "switched_at_ms")
                }) {
                    at = Some(m.value as i64);
                }
            }
        }
        at
    }
}

#[async_trait]
impl StepRunner for DnsVerify<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let wish = desired(values, &self.0.records, true, None)?;
        let mut lines: Vec<String> = wish
            .iter()
            .map(|d| {
                format!(
                    "every authoritative server answers {} = {}",
                    d.key,
                    d.values.clone().unwrap_or_default().join(",")
                )
            })
            .collect();
        if !self.0.resolvers.is_empty() {
            lines.push(format!("and resolvers {}", self.0.resolvers.join(", ")));
        }
        Ok(lines)
    }

    async fn verify(&self, _: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let outputs = ctx.outputs_now();
        let values = Values {
            plan: ctx.plan,
            run_id: Some(ctx.run_id),
            secrets: None,
            outputs: Some(&outputs),
        };
        let wish = desired(&values, &self.0.records, true, None)?;
        let want: Vec<(RecordKey, Vec<String>)> = wish
            .iter()
            .map(|d| {
                let mut v: Vec<String> = d
                    .values
                    .clone()
                    .unwrap_or_default()
                    .iter()
                    .map(|x| normalize_value(d.key.rtype, x))
                    .collect();
                v.sort();
                (d.key.clone(), v)
            })
            .collect();
        let p = provider(ctx, &self.0.provider.value)?;
        let mut servers: Vec<Server> = Vec::new();
        for (zone, _) in by_zone(ctx, p.as_ref(), wish)? {
            let found = authority::servers(&zone, p.bootstrap(), Duration::from_secs(3))
                .await
                .map_err(|e| ctx.failed(e.to_string()))?;
            servers.extend(
                found
                    .into_iter()
                    .filter(|s| !servers.contains(s))
                    .collect::<Vec<_>>(),
            );
        }
        for r in &self.0.resolvers {
            let addr = r
                .parse()
                .or_else(|_| {
                    r.parse::<std::net::IpAddr>()
                        .map(|ip| std::net::SocketAddr::new(ip, 53))
                })
                .map_err(|_| ctx.failed(format!("resolver `{r}` is not an address")))?;
            servers.push(Server {
                name: format!("resolver {r}"),
                addr,
            });
        }
        let since_ms = self.switched_at(ctx).unwrap_or_else(now_ms);
        let since = Instant::now()
            .checked_sub(Duration::from_millis((now_ms() - since_ms).max(0) as u64))
            .unwrap_or_else(Instant::now);
        let deadline = Instant::now() + self.0.timeout.unwrap_or(Duration::from_secs(120));
        let interval = self.0.interval.unwrap_or(Duration::from_millis(20));
        let results = authority::wait_consistent(&servers, &want, since, interval, deadline).await;
        let mut late = Vec::new();
        let mut slowest = Duration::ZERO;
        for c in &results {
            match &c.after {
                Ok(d) => {
                    ctx.detail(format!(
                        "{}: consistent {} ms after the switch",
                        c.server,
                        d.as_millis()
                    ));
                    ctx.measure(
                        &format!("consistent_ms {}", c.server),
                        d.as_secs_f64() * 1000.0,
                        "ms",
                    )?;
                    slowest = slowest.max(*d);
                }
                Err(last) => late.push(format!("{}: {last}", c.server)),
            }
        }
        if !late.is_empty() {
            return Err(ctx.verify_failed(format!(
                "not every server answers the new values after {:?}:\n{}",
                self.0.timeout.unwrap_or(Duration::from_secs(120)),
                late.join("\n")
            )));
        }
        ctx.measure("all_consistent_ms", slowest.as_secs_f64() * 1000.0, "ms")?;
        Ok(Applied::Done {
            summary: format!(
                "{} server(s) answer the new values; the last {} ms after the switch",
                results.len(),
                slowest.as_millis()
            ),
        })
    }

    async fn rollback(&self, _: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}
