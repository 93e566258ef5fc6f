//! What `compose.up` and `compose.deploy` share: the Compose project on a host, the files
//! the plan uploads into its directory, the `.env` values, how images are pulled and what
//! gates the containers.
//!
//! ```toml
//! host = "new"
//! dir = "/srv/shop"                     # the project directory on the host
//! project = "shop"                      # compose's project name (default: the directory's name)
//! files = ["compose.yaml"]              # compose files in `dir` (default: compose's own lookup)
//! upload = ["compose.yaml"]             # files or directories of the plan's directory, copied into `dir` first
//! env = { APP_VERSION = "{{ vars.version }}", DB_PASSWORD = "{{ secrets.db }}" }   # the .env file (0600)
//! ```

use crate::checks::Names;
use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::template::{read_env, Template};
use std::collections::BTreeMap;
use std::time::Duration;

/// Pull policies `pull` accepts.
pub const PULL_POLICIES: &[&str] = &["missing", "never", "always"];

/// A Compose project on a host and how to bring it up.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct ComposeProject {
    /// The host the project runs on (a name from `[hosts]`).
    pub host: Spanned<String>,
    /// The project directory on the host (compose runs there: it finds its files, `.env`
    /// and relative paths as when run by hand).
    pub dir: Template,
    /// The project name (`docker compose -p`; lowercase letters, digits, `-`, `_`). Default:
    /// compose's own, the directory's name. A `compose.deploy` runs its colours as
    /// `PROJECT-blue` and `PROJECT-green`.
    pub project: Option<Spanned<String>>,
    /// Compose files in `dir`, in order (`-f`); default: compose's own lookup
    /// (`compose.yaml`, `docker-compose.yml`...).
    #[serde(default)]
    pub files: Vec<String>,
    /// Files or directories of the plan's directory copied into `dir` (same relative paths)
    /// before anything runs; without it the files must be on the host already.
    #[serde(default)]
    pub upload: Vec<Spanned<String>>,
    /// Values written to the project's `.env` (mode 0600; a `compose.deploy` writes one env
    /// file per colour): plain values and `{{ secrets.NAME }}`. They travel on the SSH
    /// channel's standard input, never on a command line.
    #[serde(default)]
    pub env: BTreeMap<String, Template>,
    /// Only these services (default: every service of the files).
    #[serde(default)]
    pub services: Vec<String>,
    /// When images are pulled: "missing" (default, compose's own), "never" (an image that is
    /// not on the host fails the step: copy it with `images.copy`), "always".
    pub pull: Option<Spanned<String>>,
    /// Build the images that have a `build` section first (`--build`).
    #[serde(default)]
    pub build: bool,
    /// Checks (names from `[checks]`) that must pass once the containers are healthy.
    #[serde(default)]
    pub checks: Vec<Spanned<String>>,
    /// How long containers may take to become healthy (default "2m").
    #[schemars(with = "Option<String>")]
    pub wait_timeout: Option<Duration>,
    /// How long `checks` may take to pass (default "60s").
    #[schemars(with = "Option<String>")]
    pub deadline: Option<Duration>,
}

impl ComposeProject {
    /// The fields of a project.
    pub const FIELDS: &'static [&'static str] = &[
        "host",
        "dir",
        "project",
        "files",
        "upload",
        "env",
        "services",
        "pull",
        "build",
        "checks",
        "wait_timeout",
        "deadline",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let host = f.required("host", p);
        let dir = f.required("dir", p);
        let project: Option<Spanned<String>> = f.optional("project", p);
        let files = f.optional("files", p).unwrap_or_default();
        let upload: Vec<Spanned<String>> = f.optional("upload", p).unwrap_or_default();
        let env = read_env(f, p);
        let services = f.optional("services", p).unwrap_or_default();
        let pull: Option<Spanned<String>> = f.optional("pull", p);
        let build = f.optional("build", p).unwrap_or(false);
        let checks = f.optional::<Names>("checks", p).unwrap_or_default().0;
        let wait_timeout = f.duration("wait_timeout", &limits::STEP_TIMEOUT, p);
        let deadline = f.duration("deadline", &limits::STEP_TIMEOUT, p);
        let owner = f.owner().to_string();
        let mut ok = true;
        if let Some(name) = &project {
            if !valid_project(&name.value) {
                ok = false;
                p.push(
                    Problem::new(
                        name.span,
                        format!("`project` of {owner} is `{}`, which compose does not accept as a project name", name.value),
                        "invalid project name",
                    )
                    .help("use lowercase letters, digits, `-` and `_`, starting with a letter or digit"),
                );
            }
        }
        if let Some(policy) = &pull {
            if !PULL_POLICIES.contains(&policy.value.as_str()) {
                ok = false;
                p.push(
                    Problem::new(
                        policy.span,
                        format!(
                            "`pull` of {owner} is `{}`, which is not known",
                            policy.value
                        ),
                        "unknown value",
                    )
                    .help(format!("use one of: {}", PULL_POLICIES.join(", "))),
                );
            }
        }
        for u in &upload {
            if u.value.starts_with('/')
                || u.value.split('/').any(|c| c == "..")
                || u.value.is_empty()
            {
                ok = false;
                p.push(
                    Problem::new(
                        u.span,
                        format!("`upload` of {owner} names `{}`, which is not inside the plan's directory", u.value),
                        "not a relative path",
                    )
                    .help("name files or directories relative to the plan file's directory, without `..`"),
                );
            }
        }
        if !ok {
            return None;
        }
        Some(ComposeProject {
            host: host?,
            dir: dir?,
            project,
            files,
            upload,
            env,
            services,
            pull,
            build,
            checks,
            wait_timeout,
            deadline,
        })
    }

    /// Cross-reference checks: the host, templates, check names.
    pub(crate) fn validate(&self, check: &crate::validate::Checker<'_>, p: &mut Problems) {
        check.host(&self.host, p);
        check.command("dir", &self.dir, p);
        check.env(&self.env, p);
        crate::checks::validate::names(check.plan, &self.checks, check.owner, p);
    }
}

/// True for a Compose project name (`[a-z0-9][a-z0-9_-]*`).
pub fn valid_project(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_-".contains(c))
}
