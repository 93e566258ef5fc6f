//! `notify`: a message to `[notify]` receivers. Whether it arrives is shown and logged; it
//! never fails the run.

use super::show;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::notify::{deliver, receivers, Notice};
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_plan::steps::NotifyStep;

pub(crate) struct Notify<'a>(pub &'a NotifyStep);

impl Notify<'_> {
    fn names(&self) -> Vec<&str> {
        self.0.to.iter().map(|t| t.value.as_str()).collect()
    }
}

#[async_trait]
impl StepRunner for Notify<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let to = if self.0.to.is_empty() {
            "every [notify] receiver".to_string()
        } else {
            self.names().join(", ")
        };
        Ok(vec![format!(
            "notify {to}: {}",
            show(&self.0.message, values)?
        )])
    }

    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let text = ctx.render(&self.0.message)?;
        let text = ctx.redact_outputs(&ctx.exec.redactor().redact(&text));
        let names = self.names();
        let to: Vec<_> = receivers(ctx.plan, ctx.secrets)
            .into_iter()
            .filter(|r| names.is_empty() || names.contains(&r.name()))
            .collect();
        let notice = Notice {
            event: "message".into(),
            plan: ctx.plan.name.clone(),
            run: ctx.run_id.to_string(),
            step: Some(ctx.id().to_string()),
            text,
        };
        let results = tokio::task::spawn_blocking(move || deliver(&to, &notice))
            .await
            .unwrap_or_default();
        let mut lines = Vec::new();
        for (name, result) in results {
            let line = match result {
                Ok(()) => format!("{name}: delivered"),
                Err(why) => format!("{name}: not delivered ({why}); the run goes on"),
            };
            ctx.detail(line.clone());
            lines.push(line);
        }
        Ok(Applied::Done {
            summary: format!("notified {}", lines.join("; ")),
        })
    }

    async fn rollback(&self, _ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        // A message sent cannot be taken back.
        Ok(None)
    }
}
