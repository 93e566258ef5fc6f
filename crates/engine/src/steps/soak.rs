//! `soak`: the monitoring window after traffic moved. The loop, statistics and triggers live
//! in `cutover_checks::soak`; this file gives it the plan's checks, keeps its window across
//! restarts, journals its figures, and on a fired trigger rolls the traffic switch back
//! at once (the step returns a rollback request the apply loop carries out) and fails with
//! the trigger's evidence.
//!
//! Resume: the window starts when the current try of the step started (the first
//! `StepStarted` after its last failure, from the journal), so a restarted `cutover apply`
//! waits only for what is left; the statistics (counts, streaks, latency histogram, recent
//! samples) are checkpointed in the journal every 2 s (redacted like its events) and
//! restored when they belong to the same try.

use super::check::{describe, probe_env, probes};
use crate::context::{StepCtx, Values};
use crate::error::{EngineError, RollbackRequest};
use crate::step::{Applied, StepRunner, Verified};
use cutover_checks::soak::{self, LogSource, LogSpec, SoakEnd, SoakSpec, SoakState};
use cutover_checks::trigger::TriggerSpec;
use cutover_journal::{now_ms, Event};
use cutover_plan::steps::{Role, SoakStep};
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// How often the statistics are checkpointed.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(2);

pub(crate) struct Soak<'a>(pub &'a SoakStep);

impl Soak<'_> {
    fn interval(&self) -> Duration {
        self.0.interval.unwrap_or(Duration::from_secs(1))
    }

    fn triggers(&self) -> Vec<TriggerSpec> {
        let t: Vec<TriggerSpec> = self.0.triggers.iter().map(TriggerSpec::from_plan).collect();
        if t.is_empty() {
            TriggerSpec::default_set()
        } else {
            t
        }
    }

    /// The steps a fired trigger undoes: the plan's list, else this run's applied switches.
    fn targets(&self, ctx: &StepCtx<'_>) -> Vec<String> {
        if !self.0.rollback.is_empty() {
            return self.0.rollback.iter().map(|s| s.value.clone()).collect();
        }
        ctx.plan
            .steps()
            .map(|(_, s)| s)
            .take_while(|s| s.id.value != ctx.id())
            .filter(|s| s.kind.kind().is(Role::TrafficSwitch))
            .map(|s| s.id.value.clone())
            .collect()
    }
}

/// The soak's logs as the checks crate follows them: files tailed, commands run, Compose
/// services' logs followed (`deploy`: the colour that step made live, from its journaled
/// state).
fn log_specs(
    ctx: &StepCtx<'_>,
    logs: &[cutover_plan::steps::LogWatch],
) -> Result<Vec<LogSpec>, EngineError> {
    logs.iter()
        .map(|l| {
            let host = l.host.value.clone();
            let source = match (&l.path, &l.command, &l.service) {
                (Some(path), _, _) => LogSource::File(ctx.render(path)?),
                (None, Some(command), _) => LogSource::Command(ctx.render(command)?),
                (None, None, Some(service)) => {
                    let (project, deploy) = (&l.project, &l.deploy);
                    let project = match (project, deploy) {
                        (Some(p), _) => p.value.clone(),
                        (None, Some(d)) => super::compose_deploy::live_project(ctx, &d.value)?,
                        (None, None) => {
                            return Err(ctx.failed("a watched service needs `project` or `deploy`"))
                        }
                    };
                    let p = cutover_data::docker::Project {
                        host: host.clone(),
                        sudo: false,
                        dir: "/".into(),
                        name: project.clone(),
                        files: Vec::new(),
                        env_file: None,
                    };
                    LogSource::Follow {
                        label: format!("compose {project}/{service}"),
                        command: p.follow_logs(service),
                    }
                }
                (None, None, None) => {
                    return Err(ctx.failed("a watched log needs `path`, `command` or `service`"))
                }
            };
            Ok(LogSpec {
                sudo: ctx.plan.host(&host).is_some_and(|h| h.sudo),
                host,
                source,
                patterns: l.patterns.clone(),
            })
        })
        .collect()
}

/// When the current try of the step began: its first start after its last failure.
fn window_start(ctx: &StepCtx<'_>) -> Result<i64, EngineError> {
    let events = ctx.journal.events(ctx.run_id)?;
    let id = ctx.id();
    let after_failure = events
        .iter()
        .rposition(|r| matches!(&r.event, Event::StepFailed { step, .. } if step == id))
        .map_or(0, |i| i + 1);
    Ok(events[after_failure..]
        .iter()
        .find(|r| matches!(&r.event, Event::StepStarted { step, .. } if step == id))
        .map_or(ctx.first_started_ms, |r| r.at_ms))
}

/// The statistics of the current try, from the journal's checkpoint (fresh when there is
/// none, or it belongs to an earlier try). An unreadable checkpoint only costs the history.
fn load(ctx: &StepCtx<'_>, started_ms: i64) -> SoakState {
    let fresh = SoakState {
        started_ms,
        ..Default::default()
    };
    match ctx.journal.checkpoint(ctx.run_id, ctx.id()) {
        Ok(Some(body)) => serde_json::from_str::<SoakState>(&body)
            .ok()
            .filter(|s| s.started_ms == started_ms)
            .unwrap_or(fresh),
        Ok(None) => fresh,
        Err(e) => {
            tracing::warn!(
                "cannot read the soak's checkpoint: {e}; the window's statistics restart"
            );
            fresh
        }
    }
}

/// Checkpoints the statistics in the journal (which redacts them). A failure is warned
/// about, not fatal: the soak itself goes on, only a resume would lose the history.
fn save(ctx: &StepCtx<'_>, state: &SoakState) {
    let saved = serde_json::to_string(state)
        .map_err(|e| e.to_string())
        .and_then(|json| {
            ctx.journal
                .save_checkpoint(ctx.run_id, ctx.id(), &json)
                .map_err(|e| e.to_string())
        });
    if let Err(e) = saved {
        tracing::warn!("cannot checkpoint the soak: {e}");
    }
}

#[async_trait]
impl StepRunner for Soak<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let mut lines = describe(values, &self.0.checks);
        lines.push(format!(
            "probe every {} for {}",
            humantime::format_duration(self.interval()),
            humantime::format_duration(self.0.duration)
        ));
        for t in self.triggers() {
            lines.push(format!("trigger: {}", t.describe()));
        }
        lines.push(if !self.0.rolls_back() {
            "on a trigger: stop the run".to_string()
        } else if self.0.rollback.is_empty() {
            "on a trigger: roll back the run's traffic switch steps at once".to_string()
        } else {
            let ids: Vec<&str> = self.0.rollback.iter().map(|s| s.value.as_str()).collect();
            format!("on a trigger: roll back {} at once", ids.join(", "))
        });
        Ok(lines)
    }

    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let started_ms = window_start(ctx)?;
        let ends_at_ms = started_ms + self.0.duration.as_millis() as i64;
        let mut state = load(ctx, started_ms);
        if state.ticks > 0 {
            let left = Duration::from_millis((ends_at_ms - now_ms()).max(0) as u64);
            ctx.detail(format!(
                "resuming the soak window: {} left, {} tick(s) already done",
                humantime::format_duration(Duration::from_secs(left.as_secs())),
                state.ticks
            ));
        }
        let spec = SoakSpec {
            probes: probes(ctx, &self.0.checks)?,
            interval: self.interval(),
            ends_at_ms,
            triggers: self.triggers(),
            prometheus: self
                .0
                .prometheus
                .as_ref()
                .map(|t| ctx.render(t))
                .transpose()?,
            logs: log_specs(ctx, &self.0.logs)?,
        };
        let env = probe_env(ctx);
        let redact = |s: &str| ctx.exec.redactor().redact(s);
        let mut saved = Instant::now();
        let mut sampler = Sampler::new(self.0.duration, self.interval());
        let mut sample_error = None;
        let end = soak::run(&spec, &env, &mut state, |tick| {
            for (name, o) in &tick.failures {
                ctx.detail(redact(&format!("{name}: {}", o.line())));
            }
            for n in &tick.notes {
                ctx.detail(redact(n));
            }
            if saved.elapsed() >= CHECKPOINT_EVERY {
                save(ctx, tick.state);
                saved = Instant::now();
            }
            if sample_error.is_none() {
                sample_error = sampler.sample(ctx, tick.state).err();
            }
        })
        .await
        .map_err(|e| ctx.failed(e))?;
        if let Some(e) = sample_error {
            return Err(e);
        }
        // The window's last figures, whenever the previous sample was.
        sampler.last = None;
        sampler.sample(ctx, &state)?;
        let fired_at = Instant::now();
        // The window is over either way: its figures go to the journal. Its checkpoint
        // stays, harmless: a later try starts a new window, which does not match it.
        self.measure(ctx, &state)?;
        let figures = soak::summary(&state);
        for line in &figures {
            ctx.detail(redact(line));
        }
        match end {
            SoakEnd::Completed => Ok(Applied::Done {
                summary: format!(
                    "soaked {} with no trigger firing: {}",
                    humantime::format_duration(self.0.duration),
                    figures.join("; ")
                ),
            }),
            SoakEnd::Fired(f) => Err(self.fired(ctx, f, fired_at).await),
        }
    }

    async fn rollback(&self, _ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        Ok(None)
    }
}

/// Journals each check's figures at most every `period`: about [`Sampler::POINTS`] points a
/// window whatever its length, so a 48 h watch stays as small as a 10 min one.
struct Sampler {
    period: Duration,
    last: Option<Instant>,
}

impl Sampler {
    const POINTS: u32 = 300;
    /// Percentiles and error rates of a sample are over this last stretch of probes.
    const OVER: Duration = Duration::from_secs(60);

    fn new(window: Duration, interval: Duration) -> Self {
        Sampler {
            period: (window / Self::POINTS)
                .max(interval)
                .max(Duration::from_secs(1)),
            last: None,
        }
    }

    fn sample(&mut self, ctx: &StepCtx<'_>, state: &SoakState) -> Result<(), EngineError> {
        if self.last.is_some_and(|l| l.elapsed() < self.period) {
            return Ok(());
        }
        self.last = Some(Instant::now());
        let now = now_ms();
        for (name, s) in &state.checks {
            let ms = |q| {
                s.quantile(now, Self::OVER, q)
                    .map(|d| d.as_secs_f64() * 1000.0)
            };
            let view = s.view(now, Self::OVER);
            let mut figures = vec![
                ("probes", s.requests as f64),
                ("failed", s.failed as f64),
                ("error_rate", view.error_rate()),
            ];
            for (key, q) in [
                ("p50_ms", 0.50),
                ("p90_ms", 0.90),
                ("p95_ms", 0.95),
                ("p99_ms", 0.99),
            ] {
                if let Some(v) = ms(q) {
                    figures.push((key, v));
                }
            }
            ctx.sample(name, &figures)?;
        }
        Ok(())
    }
}

impl Soak<'_> {
    fn measure(&self, ctx: &StepCtx<'_>, state: &SoakState) -> Result<(), EngineError> {
        for (name, s) in &state.checks {
            ctx.measure(&format!("{name}.probes"), s.requests as f64, "probes")?;
            ctx.measure(&format!("{name}.failed"), s.failed as f64, "probes")?;
            if let Some(p95) = s.latency.quantile(0.95) {
                ctx.measure(&format!("{name}.p95"), p95.as_secs_f64() * 1000.0, "ms")?;
            }
        }
        Ok(())
    }

    /// A trigger fired: roll back (unless the plan says stop) and fail with the evidence.
    async fn fired(
        &self,
        ctx: &StepCtx<'_>,
        f: cutover_checks::trigger::Fired,
        at: Instant,
    ) -> EngineError {
        let evidence = ctx.exec.redactor().redact(&f.evidence);
        let what = format!("trigger fired: {}\nevidence: {evidence}", f.trigger);
        ctx.detail(what.clone());
        if !self.0.rolls_back() {
            return ctx.failed(format!("{what}\non_failure = \"stop\": nothing was rolled back; `cutover rollback` undoes the run"));
        }
        let targets = self.targets(ctx);
        if targets.is_empty() {
            return ctx.failed(format!("{what}\nno traffic switch step to roll back (name them in `rollback`); `cutover rollback` undoes the run"));
        }
        let reason = format!("soak `{}`: {what}", ctx.id());
        EngineError::RollbackRequested(Box::new(RollbackRequest {
            step: ctx.id().to_string(),
            what,
            targets,
            reason,
            at,
        }))
    }
}
