//! The end every store's switch shares (`postgres.switch`, `redis.switch`, `mysql.switch`):
//! the window in which writes waited journaled as a measure and as an outage on the
//! timeline, the catch-up and the store's own figures as measures, and one summary line. A
//! switch finished by a resumed attempt measured nothing and says so.

use crate::context::StepCtx;
use crate::error::EngineError;
use crate::step::Applied;
use cutover_data::store::Switched;

/// Journals a store's finished switch and gives the step's summary.
pub(crate) fn conclude<S: Switched>(ctx: &StepCtx<'_>, report: &S) -> Result<Applied, EngineError> {
    let summary = format!("target is the primary: {}", report.summary());
    if report.resumed() {
        return Ok(Applied::Done { summary });
    }
    let (measure, outage) = report.window_names();
    let (from_ms, seconds) = report.window();
    ctx.measure(measure, seconds, "s")?;
    ctx.outage(outage, from_ms, from_ms + (seconds * 1000.0).round() as i64)?;
    ctx.measure("catch_up", report.catch_up(), "s")?;
    for f in report.figures() {
        ctx.measure(f.name, f.value, f.unit)?;
    }
    Ok(Applied::Done { summary })
}
