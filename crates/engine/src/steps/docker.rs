//! What the Docker steps share: running `docker` commands through the step context (so each
//! is journaled) with their failures read into `DockerFailure`s, a project of the plan as
//! a `Project` value, the files a project's directory gets, waiting for containers, and
//! named volumes resolved to their mount points for the file steps.

use crate::context::StepCtx;
use crate::error::EngineError;
use cutover_data::docker::{
    self, compose::Up, hostfiles, inspect, Container, DockerFailure, Project, Release,
};
use cutover_exec::{Command, FailureClass};
use cutover_plan::steps::ComposeProject;
use std::time::{Duration, Instant};

/// A Docker command that failed: Docker's reason, or the engine's (connection, journal).
pub(crate) enum Failed {
    /// Docker said why.
    Docker(DockerFailure),
    /// Anything else.
    Engine(EngineError),
}

impl Failed {
    /// As a step failure.
    pub(crate) fn into_error(self, ctx: &StepCtx<'_>) -> EngineError {
        match self {
            Failed::Docker(f) => ctx.failed_as(f.class(), f.to_string()),
            Failed::Engine(e) => e,
        }
    }
}

impl From<EngineError> for Failed {
    fn from(e: EngineError) -> Self {
        Failed::Engine(e)
    }
}

/// Why a step failed, without its `step X failed:` frame, to wrap in another: its class
/// stays (it chooses the exit code).
pub(crate) struct Why {
    /// What kind of failure.
    pub(crate) class: FailureClass,
    /// Its words.
    pub(crate) message: String,
}

impl Why {
    /// Unframes `e`.
    pub(crate) fn of(e: EngineError) -> Why {
        match e {
            EngineError::StepFailed { message, class, .. } => Why { class, message },
            other => Why {
                class: FailureClass::Failed,
                message: other.to_string(),
            },
        }
    }

    /// A failure of step `ctx` with these words followed by `more` (on its own line).
    pub(crate) fn with(self, ctx: &StepCtx<'_>, more: &str) -> EngineError {
        ctx.failed_as(self.class, format!("{}\n{more}", self.message))
    }
}

/// Whether `host` runs commands through sudo.
pub(crate) fn sudo(ctx: &StepCtx<'_>, host: &str) -> bool {
    ctx.plan.host(host).is_some_and(|h| h.sudo)
}

/// Runs `cmd` (with the host's sudo and a timeout); its stdout when it exits 0.
pub(crate) async fn run(
    ctx: &StepCtx<'_>,
    cmd: Command,
    doing: &str,
    timeout: Duration,
) -> Result<String, Failed> {
    let sudo = sudo(ctx, &cmd.host);
    let cmd = cmd.sudo(sudo).timeout(Some(timeout));
    let host = cmd.host.clone();
    let out = ctx.run(&cmd).await?;
    if out.success() {
        return Ok(out.stdout);
    }
    let text = if out.stderr.trim().is_empty() {
        &out.stdout
    } else {
        &out.stderr
    };
    let text = if out.code.is_none() {
        format!("{text}\n(killed after {}s)", timeout.as_secs())
    } else {
        text.to_string()
    };
    Err(Failed::Docker(DockerFailure::classify(&host, doing, &text)))
}

/// How long plain Docker commands may take.
pub(crate) const QUICK: Duration = Duration::from_secs(120);

/// The project of a plan section: named `name` (default: the plan's `project`, else the
/// directory's name, as compose names it).
pub(crate) fn project(
    ctx: &StepCtx<'_>,
    p: &ComposeProject,
    name: Option<String>,
    env_file: Option<String>,
) -> Result<Project, EngineError> {
    let dir = ctx.render(&p.dir)?;
    let name = match name {
        Some(n) => n,
        None => base_name(p, &dir),
    };
    Ok(Project {
        host: p.host.value.clone(),
        sudo: sudo(ctx, &p.host.value),
        dir,
        name,
        files: p.files.clone(),
        env_file,
    })
}

/// The project's base name: `project`, else compose's default (the directory's name,
/// lowercased, with what compose drops removed).
pub(crate) fn base_name(p: &ComposeProject, dir: &str) -> String {
    if let Some(n) = &p.project {
        return n.value.clone();
    }
    let last = dir
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default();
    last.to_ascii_lowercase()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Uploads the plan's `upload` files into the project's directory (each through a
/// temporary name); returns their paths relative to the directory.
pub(crate) async fn upload(
    ctx: &StepCtx<'_>,
    p: &ComposeProject,
    project: &Project,
) -> Result<Vec<String>, EngineError> {
    let mut names = Vec::new();
    for (name, bytes) in local_files(ctx, p)? {
        let path = format!("{}/{name}", project.dir.trim_end_matches('/'));
        run(
            ctx,
            hostfiles::write_file(&project.host, &path, bytes, 0o644),
            "upload",
            QUICK,
        )
        .await
        .map_err(|f| f.into_error(ctx))?;
        names.push(name);
    }
    Ok(names)
}

/// Most a step uploads (compose files and what they read are small; images are copied by
/// `images.copy`, data by `files.sync`).
const UPLOAD_LIMIT: u64 = 16 << 20;

/// The files `upload` names (directories walked), relative path and bytes; symlinks and
/// special files are refused, so nothing outside the plan's directory is read.
pub(crate) fn local_files(
    ctx: &StepCtx<'_>,
    p: &ComposeProject,
) -> Result<Vec<(String, Vec<u8>)>, EngineError> {
    let root = &ctx.plan.dir;
    let mut out = Vec::new();
    let mut total = 0u64;
    let mut todo: Vec<String> = p
        .upload
        .iter()
        .map(|u| u.value.trim_end_matches('/').to_string())
        .collect();
    while let Some(rel) = todo.pop() {
        let path = root.join(&rel);
        let meta = std::fs::symlink_metadata(&path)
            .map_err(|e| ctx.failed(format!("cannot upload {}: {e}", path.display())))?;
        if meta.is_dir() {
            let entries = std::fs::read_dir(&path)
                .map_err(|e| ctx.failed(format!("cannot read {}: {e}", path.display())))?;
            for entry in entries {
                let entry = entry
                    .map_err(|e| ctx.failed(format!("cannot read {}: {e}", path.display())))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                todo.push(format!("{rel}/{name}"));
            }
        } else if meta.is_file() {
            total += meta.len();
            if total > UPLOAD_LIMIT {
                return Err(ctx.failed(format!(
                    "`upload` holds more than {} MiB: upload compose files and configs; copy data with files.sync and images with images.copy",
                    UPLOAD_LIMIT >> 20
                )));
            }
            let bytes = std::fs::read(&path)
                .map_err(|e| ctx.failed(format!("cannot read {}: {e}", path.display())))?;
            out.push((rel, bytes));
        } else {
            return Err(ctx.failed(format!(
                "cannot upload {}: not a regular file or directory (symlinks are not followed)",
                path.display()
            )));
        }
    }
    out.sort();
    Ok(out)
}

/// The rendered `env` as (name, value), secrets included (they go to a 0600 file through
/// standard input only).
pub(crate) fn env_values(
    ctx: &StepCtx<'_>,
    p: &ComposeProject,
) -> Result<Vec<(String, String)>, EngineError> {
    p.env
        .iter()
        .map(|(k, t)| Ok((k.clone(), ctx.render(t)?)))
        .collect()
}

/// Writes an env file `path` (mode 0600) with `vars` on `host`.
pub(crate) async fn write_env(
    ctx: &StepCtx<'_>,
    host: &str,
    path: &str,
    vars: &[(String, String)],
) -> Result<(), EngineError> {
    let text = hostfiles::env_text(vars).map_err(|e| ctx.failed(format!("`env`: {e}")))?;
    run(
        ctx,
        hostfiles::write_file(host, path, text.into_bytes(), 0o600),
        "write the env file",
        QUICK,
    )
    .await
    .map(drop)
    .map_err(|f| f.into_error(ctx))
}

/// Validates the project's files with `docker compose config`: a file that does not parse
/// is named, with compose's own message.
pub(crate) async fn check_config(ctx: &StepCtx<'_>, project: &Project) -> Result<(), EngineError> {
    match run(ctx, project.config(), "docker compose config", QUICK).await {
        Ok(_) => Ok(()),
        Err(Failed::Docker(DockerFailure::Other { detail, .. })) => Err(ctx.failed(
            DockerFailure::InvalidConfig {
                host: project.host.clone(),
                files: project.file_paths(),
                detail: docker::failure::clean(&detail).trim().to_string(),
            }
            .to_string(),
        )),
        Err(f) => Err(f.into_error(ctx)),
    }
}

/// The project's containers.
pub(crate) async fn containers(
    ctx: &StepCtx<'_>,
    project: &Project,
) -> Result<Vec<Container>, Failed> {
    let json = run(ctx, project.inspect(), "docker inspect", QUICK).await?;
    inspect::containers(&json).map_err(|e| Failed::Engine(ctx.failed(e)))
}

/// What the project runs now (`None`: nothing).
pub(crate) async fn release(
    ctx: &StepCtx<'_>,
    project: &Project,
) -> Result<Option<Release>, Failed> {
    Ok(Release::of(&project.name, &containers(ctx, project).await?))
}

/// `up` with its failure completed: an unhealthy or exited container comes with its last
/// log lines.
pub(crate) async fn up(ctx: &StepCtx<'_>, project: &Project, o: &Up) -> Result<(), Failed> {
    let timeout = o.wait.unwrap_or(Duration::from_secs(120)) + Duration::from_secs(300);
    match run(ctx, project.up(o), "docker compose up", timeout).await {
        Err(Failed::Docker(DockerFailure::Unhealthy { host, what, .. })) => {
            let service = service_of(ctx, project, &what).await;
            let logs = match run(
                ctx,
                project.logs_tail(&service, 20),
                "docker compose logs",
                QUICK,
            )
            .await
            {
                Ok(text) => docker::failure::clean(&text),
                Err(_) => String::new(),
            };
            Err(Failed::Docker(DockerFailure::Unhealthy {
                host,
                what,
                logs,
            }))
        }
        other => other.map(drop),
    }
}

/// The service of the container named first in `what` (for its logs).
async fn service_of(ctx: &StepCtx<'_>, project: &Project, what: &str) -> Vec<String> {
    let name = what.split_whitespace().next().unwrap_or_default();
    match containers(ctx, project).await {
        Ok(list) => list
            .into_iter()
            .filter(|c| c.name == name)
            .filter_map(|c| c.service)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Waits until every container of the project runs and is healthy (after `start`).
pub(crate) async fn wait_ready(
    ctx: &StepCtx<'_>,
    project: &Project,
    within: Duration,
) -> Result<(), Failed> {
    let started = Instant::now();
    loop {
        let list = containers(ctx, project).await?;
        let waiting: Vec<String> = list
            .iter()
            .filter(|c| !c.ready())
            .map(|c| format!("{} {}", c.name, c.condition()))
            .collect();
        if waiting.is_empty() {
            return Ok(());
        }
        if started.elapsed() > within || list.iter().any(|c| c.state == "exited") {
            return Err(Failed::Docker(DockerFailure::Unhealthy {
                host: project.host.clone(),
                what: format!(
                    "{} after {}s",
                    waiting.join(", "),
                    started.elapsed().as_secs()
                ),
                logs: String::new(),
            }));
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The mount point of volume `name` on `host`; created first when `create` (a sync's
/// target), else a missing volume fails with Docker's message.
pub(crate) async fn volume_path(
    ctx: &StepCtx<'_>,
    host: &str,
    name: &str,
    create: bool,
) -> Result<String, EngineError> {
    let cmd = if create {
        docker::engine::volume_ensure(host, name)
    } else {
        docker::engine::volume_mountpoint(host, name)
    };
    match run(ctx, cmd, "docker volume inspect", QUICK).await {
        Ok(out) => {
            let path = out.trim().to_string();
            if !path.starts_with('/') {
                return Err(ctx.failed(format!(
                    "volume `{name}` on {host} has no local mount point (`{path}`): only volumes of the local driver can be synced"
                )));
            }
            Ok(path)
        }
        Err(Failed::Docker(DockerFailure::Other { detail, .. })) if detail.contains("no such volume") => Err(ctx.failed(format!(
            "volume `{name}` does not exist on {host}: check its name with `docker volume ls` (compose prefixes the project's name: PROJECT_{name})"
        ))),
        Err(f) => Err(f.into_error(ctx)),
    }
}
