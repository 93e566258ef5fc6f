//! `compose.up`: a Compose project brought up on its host. Before anything changes, what
//! the project ran (its release, by image id) is journaled and the files the step will
//! write are copied aside on the host; then the plan's files are uploaded, `.env` written
//! (0600, through stdin), the files validated with `docker compose config`, the containers
//! started and gated on their healthchecks and the plan's checks. A failure anywhere puts
//! back what ran before (or takes the project down when nothing did), so nothing is left
//! half up; the undo does the same after success.

use super::check::{describe, run_gate};
use super::docker::{self as d, Failed, QUICK};
use super::show_env;
use super::traffic::{load_state, save_state};
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_checks::GatePolicy;
use cutover_data::docker::{compose, hostfiles, Project, Pull, Release, Up};
use cutover_plan::steps::{ComposeProject, ComposeUpStep};
use serde::{Deserialize, Serialize};
use std::time::Duration;

pub(crate) struct ComposeUp<'a>(pub &'a ComposeUpStep);

/// What ran before the step, journaled before any change.
#[derive(Debug, Serialize, Deserialize)]
struct Before {
    /// The project's release then (`None`: nothing ran).
    previous: Option<Release>,
    /// Where on the host (relative to the project directory) the files were copied.
    backup: String,
    /// The files the step writes (relative to the project directory).
    names: Vec<String>,
}

const BEFORE: &str = "compose-before";
const RELEASE: &str = "compose-release";

/// How long containers may take to become healthy when the plan does not say.
pub(crate) const WAIT: Duration = Duration::from_secs(120);

/// The `Up` options of a project section.
pub(crate) fn up_options(p: &ComposeProject, force_recreate: bool) -> Up {
    Up {
        services: p.services.clone(),
        pull: p
            .pull
            .as_ref()
            .and_then(|x| Pull::parse(&x.value))
            .unwrap_or_default(),
        build: p.build,
        force_recreate,
        wait: Some(p.wait_timeout.unwrap_or(WAIT)),
    }
}

/// The gate policy of the plan's `checks` after the containers are healthy.
pub(crate) fn checks_policy(p: &ComposeProject) -> GatePolicy {
    GatePolicy {
        deadline: p.deadline.unwrap_or(Duration::from_secs(60)),
        interval: Duration::from_secs(1),
        retries: None,
    }
}

/// The plan's lines shared by `compose.up` and `compose.deploy`: uploads, env, the gate.
pub(crate) fn plan_lines(
    p: &ComposeProject,
    values: &Values<'_>,
    env_file: &str,
) -> Result<Vec<String>, EngineError> {
    let dir = super::show(&p.dir, values)?;
    let mut lines = Vec::new();
    if !p.upload.is_empty() {
        let names: Vec<&str> = p.upload.iter().map(|u| u.value.as_str()).collect();
        lines.push(format!(
            "upload {} from the plan's directory into {}:{dir}",
            names.join(", "),
            p.host.value
        ));
    }
    if !p.env.is_empty() {
        lines.push(format!(
            "write {dir}/{env_file} (mode 0600, through stdin): {}",
            show_env(&p.env, values)?
        ));
    }
    let o = up_options(p, false);
    let pull = match o.pull {
        Pull::Missing => "pulling missing images",
        Pull::Never => "never pulling: images must be on the host",
        Pull::Always => "pulling every image",
    };
    lines.push(format!(
        "validate the compose files, then `docker compose up --wait` {} ({pull}{}); containers must be healthy within {}",
        if p.services.is_empty() {
            "every service".to_string()
        } else {
            format!("services {}", p.services.join(", "))
        },
        if p.build { ", building" } else { "" },
        humantime::format_duration(p.wait_timeout.unwrap_or(WAIT))
    ));
    lines.extend(describe(values, &p.checks));
    Ok(lines)
}

/// The compose files of `project` as read on the host, and their digest.
pub(crate) async fn files_digest(ctx: &StepCtx<'_>, project: &Project) -> Result<String, Failed> {
    let names = files_of(ctx, project).await?;
    let mut files = Vec::new();
    for n in names {
        let path = if n.starts_with('/') {
            n.clone()
        } else {
            format!("{}/{n}", project.dir.trim_end_matches('/'))
        };
        let text = d::run(
            ctx,
            hostfiles::read(&project.host, &path),
            "read a compose file",
            QUICK,
        )
        .await?;
        files.push((n, text.into_bytes()));
    }
    Ok(cutover_data::docker::release::digest(&files))
}

/// The project's compose files: the plan's `files`, else those compose finds by default.
pub(crate) async fn files_of(ctx: &StepCtx<'_>, project: &Project) -> Result<Vec<String>, Failed> {
    if !project.files.is_empty() {
        return Ok(project.files.clone());
    }
    let out = d::run(
        ctx,
        compose::default_files(&project.host, &project.dir),
        "find the compose files",
        QUICK,
    )
    .await?;
    Ok(out
        .lines()
        .map(str::to_string)
        .filter(|l| !l.is_empty())
        .collect())
}

impl ComposeUp<'_> {
    fn section(&self) -> &ComposeProject {
        &self.0.project
    }

    /// What ran before: journaled on the first try, read back on later ones.
    async fn before(&self, ctx: &StepCtx<'_>, project: &Project) -> Result<Before, EngineError> {
        if let Some(b) = load_state::<Before>(ctx, ctx.id(), BEFORE)? {
            return Ok(b);
        }
        let previous = d::release(ctx, project)
            .await
            .map_err(|f| f.into_error(ctx))?;
        let mut names: Vec<String> = self
            .section()
            .upload
            .iter()
            .map(|u| u.value.clone())
            .collect();
        names.extend(
            files_of(ctx, project)
                .await
                .map_err(|f| f.into_error(ctx))?,
        );
        if !self.section().env.is_empty() {
            names.push(".env".into());
        }
        names.sort();
        names.dedup();
        let before = Before {
            previous,
            backup: format!(".cutover/{}-{}", ctx.run_id, ctx.id()),
            names,
        };
        d::run(
            ctx,
            hostfiles::backup(&project.host, &project.dir, &before.backup, &before.names),
            "back up the project's files",
            QUICK,
        )
        .await
        .map_err(|f| f.into_error(ctx))?;
        save_state(ctx, BEFORE, &before)?;
        Ok(before)
    }

    /// Puts back what ran before: the files, then the previous release pinned by image id,
    /// or nothing (the project down). Returns what it did.
    async fn restore(
        &self,
        ctx: &StepCtx<'_>,
        project: &Project,
        before: &Before,
    ) -> Result<String, EngineError> {
        d::run(
            ctx,
            hostfiles::restore(&project.host, &project.dir, &before.backup, &before.names),
            "restore the project's files",
            QUICK,
        )
        .await
        .map_err(|f| f.into_error(ctx))?;
        match &before.previous {
            None => {
                d::run(
                    ctx,
                    project.by_name().down(Duration::from_secs(10)),
                    "docker compose down",
                    QUICK,
                )
                .await
                .map_err(|f| f.into_error(ctx))?;
                Ok(format!(
                    "{} taken down (nothing ran before; volumes kept)",
                    project.name
                ))
            }
            Some(previous) => {
                let pin = format!("{}.pin.yaml", before.backup);
                let pin_path = format!("{}/{pin}", project.dir.trim_end_matches('/'));
                d::run(
                    ctx,
                    hostfiles::write_file(
                        &project.host,
                        &pin_path,
                        previous.pin_override().into_bytes(),
                        0o644,
                    ),
                    "write the rollback's pin",
                    QUICK,
                )
                .await
                .map_err(|f| f.into_error(ctx))?;
                let mut pinned = project.clone();
                pinned.files = files_of(ctx, project)
                    .await
                    .map_err(|f| f.into_error(ctx))?;
                pinned.files.push(pin);
                let o = Up {
                    pull: Pull::Never,
                    wait: Some(self.section().wait_timeout.unwrap_or(WAIT)),
                    ..Default::default()
                };
                d::up(ctx, &pinned, &o)
                    .await
                    .map_err(|f| f.into_error(ctx))?;
                Ok(format!("back on {}", previous.describe()))
            }
        }
    }

    /// Fails with `why` after putting back what ran before; says what was put back.
    async fn undo_failed(
        &self,
        ctx: &StepCtx<'_>,
        project: &Project,
        before: &Before,
        why: d::Why,
    ) -> EngineError {
        match self.restore(ctx, project, before).await {
            Ok(done) => why.with(ctx, &format!("nothing is left half up: {done}")),
            Err(e) => why.with(
                ctx,
                &format!("putting back what ran before failed too: {e}; run `cutover rollback`"),
            ),
        }
    }
}

#[async_trait]
impl StepRunner for ComposeUp<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let p = self.section();
        let mut lines = vec![format!(
            "Compose project {} in {}:{}",
            p.project
                .as_ref()
                .map_or("(named after its directory)", |n| n.value.as_str()),
            p.host.value,
            super::show(&p.dir, values)?
        )];
        lines.extend(plan_lines(p, values, ".env")?);
        lines.push("the release (image ids per service, the compose files' digest) is journaled; rollback brings back what ran before, or takes the project down".into());
        Ok(lines)
    }

    async fn verify(&self, _ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        // `up` of an unchanged project changes nothing: it is its own check.
        Ok(Verified::Unknown)
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let p = self.section();
        let project = d::project(ctx, p, None, None)?;
        let before = self.before(ctx, &project).await?;
        let result: Result<(), EngineError> = async {
            d::upload(ctx, p, &project).await?;
            if !p.env.is_empty() {
                let path = format!("{}/.env", project.dir.trim_end_matches('/'));
                d::write_env(ctx, &project.host, &path, &d::env_values(ctx, p)?).await?;
            }
            d::check_config(ctx, &project).await
        }
        .await;
        if let Err(e) = result {
            return Err(self
                .undo_failed(ctx, &project, &before, d::Why::of(e))
                .await);
        }
        if let Err(f) = d::up(ctx, &project, &up_options(p, false)).await {
            let why = d::Why::of(f.into_error(ctx));
            return Err(self.undo_failed(ctx, &project, &before, why).await);
        }
        if !p.checks.is_empty() {
            if let Err(e) = run_gate(ctx, &p.checks, checks_policy(p)).await {
                return Err(self
                    .undo_failed(ctx, &project, &before, d::Why::of(e))
                    .await);
            }
        }
        let mut release = d::release(ctx, &project)
            .await
            .map_err(|f| f.into_error(ctx))?
            .unwrap_or_else(|| Release {
                project: project.name.clone(),
                ..Default::default()
            });
        release.compose_digest = Some(
            files_digest(ctx, &project)
                .await
                .map_err(|f| f.into_error(ctx))?,
        );
        save_state(ctx, RELEASE, &release)?;
        let was = match &before.previous {
            Some(r) if r.services == release.services => " (unchanged)".to_string(),
            Some(r) => format!("; before: {}", r.describe()),
            None => String::new(),
        };
        Ok(Applied::Done {
            summary: format!("up and healthy: {}{was}", release.describe()),
        })
    }

    /// What ran before is journaled before any change: a failed try is undone too.
    fn undoes_failed(&self) -> bool {
        true
    }

    async fn rollback(&self, ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        let Some(before) = load_state::<Before>(ctx, ctx.id(), BEFORE)? else {
            return Ok(None);
        };
        let project = d::project(ctx, self.section(), None, None)?;
        self.restore(ctx, &project, &before).await.map(Some)
    }
}
