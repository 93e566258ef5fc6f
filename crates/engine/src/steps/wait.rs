//! `wait`: a time gate. Its deadline is computed from journaled times (the step's first
//! start, or when another step finished), so a resumed run waits only for what is left.

use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use crate::ui::Progress;
use async_trait::async_trait;
use cutover_journal::{format_ms, now_ms, Event};
use cutover_plan::steps::WaitStep;
use std::time::{Duration, UNIX_EPOCH};

pub(crate) struct Wait<'a>(pub &'a WaitStep);

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

impl Wait<'_> {
    fn deadline_ms(&self, ctx: &StepCtx<'_>) -> Result<i64, EngineError> {
        let w = self.0;
        if let Some(d) = w.duration {
            return Ok(ctx.first_started_ms + ms(d));
        }
        if let Some(t) = w.until {
            return Ok(t.duration_since(UNIX_EPOCH).map(ms).unwrap_or(0));
        }
        let after = w
            .after
            .as_ref()
            .map(|a| a.value.as_str())
            .unwrap_or_default();
        let finished = ctx
            .state
            .step(after)
            .filter(|s| s.status.is_done())
            .and_then(|s| s.finished_ms)
            .ok_or_else(|| {
                ctx.failed(format!(
                    "it waits after step `{after}`, which has not finished in this run"
                ))
            })?;
        Ok(finished + ms(w.delay.unwrap_or_default()))
    }
}

#[async_trait]
impl StepRunner for Wait<'_> {
    fn plan(&self, _: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let w = self.0;
        let line = if let Some(d) = w.duration {
            format!("wait {}", humantime::format_duration(d))
        } else if let Some(t) = w.until {
            format!("wait until {}", humantime::format_rfc3339_seconds(t))
        } else {
            format!(
                "wait until {} after step `{}` finished",
                humantime::format_duration(w.delay.unwrap_or_default()),
                w.after
                    .as_ref()
                    .map(|a| a.value.as_str())
                    .unwrap_or_default()
            )
        };
        Ok(vec![line])
    }

    async fn verify(&self, _: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let deadline = self.deadline_ms(ctx)?;
        let left = deadline - now_ms();
        if left > 0 {
            let reason = format!(
                "time: until {} ({} left)",
                format_ms(deadline),
                humantime::format_duration(Duration::from_secs((left as u64).div_ceil(1000)))
            );
            ctx.record(Event::StepWaiting {
                step: ctx.id().to_string(),
                reason: reason.clone(),
                until_ms: Some(deadline),
            })?;
            ctx.ui.show(Progress::Waiting {
                step: ctx.id().to_string(),
                reason: reason.clone(),
            });
            if ctx.no_wait {
                return Err(EngineError::Waiting {
                    step: ctx.id().to_string(),
                    reason,
                });
            }
            let mut cancel = ctx.cancel.clone();
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(left as u64)) => {}
                _ = cancel.changed() => return Err(EngineError::Interrupted { step: ctx.id().to_string() }),
            }
        }
        Ok(Applied::Done {
            summary: format!("waited until {}", format_ms(deadline)),
        })
    }

    async fn rollback(&self, _: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}
