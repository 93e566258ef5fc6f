//! `soak` (being built).

use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_plan::steps::SoakStep;

pub(crate) struct Soak<'a>(pub &'a SoakStep);

#[async_trait]
impl StepRunner for Soak<'_> {
    fn plan(&self, _values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        Ok(vec![format!("{} checks", self.0.checks.len())])
    }

    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        Err(ctx.failed("not built yet"))
    }

    async fn rollback(&self, _ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}
