//! A Compose project on a host and the `docker compose` commands cutover runs on it, as
//! command values (run by the caller, so each is journaled): every command runs in the
//! project's directory, so compose finds its files, its `.env` and relative paths exactly
//! as it does for the people who run it there by hand.

use cutover_exec::quote::{join, quote};
use cutover_exec::Command;
use std::time::Duration;

/// A Compose project: where its files are and what it is called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The plan host it runs on.
    pub host: String,
    /// Run `docker` through `sudo -n`.
    pub sudo: bool,
    /// The project directory on the host.
    pub dir: String,
    /// The project name (`-p`).
    pub name: String,
    /// Compose files (`-f`), relative to `dir` or absolute; empty: compose's own lookup.
    pub files: Vec<String>,
    /// An env file (`--env-file`) instead of the directory's `.env`.
    pub env_file: Option<String>,
}

/// How `up` pulls images.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Pull {
    /// Pull only images that are not on the host (compose's default).
    #[default]
    Missing,
    /// Never pull: a missing image is an error.
    Never,
    /// Always pull.
    Always,
}

impl Pull {
    /// The policy named `name` (`missing`, `never`, `always`).
    pub fn parse(name: &str) -> Option<Pull> {
        match name {
            "missing" => Some(Pull::Missing),
            "never" => Some(Pull::Never),
            "always" => Some(Pull::Always),
            _ => None,
        }
    }

    fn word(self) -> &'static str {
        match self {
            Pull::Missing => "missing",
            Pull::Never => "never",
            Pull::Always => "always",
        }
    }
}

/// How `up` runs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Up {
    /// Only these services (default: all).
    pub services: Vec<String>,
    /// The pull policy.
    pub pull: Pull,
    /// Build images that have a `build` section first.
    pub build: bool,
    /// Recreate every container even when its configuration did not change.
    pub force_recreate: bool,
    /// How long containers may take to become healthy (`--wait-timeout`).
    pub wait: Option<Duration>,
}

impl Project {
    /// `docker compose -p NAME [-f FILE]... [--env-file F] ARGS...` run in the directory.
    fn compose(&self, args: &[&str]) -> Command {
        let mut argv: Vec<String> = vec![
            "docker".into(),
            "compose".into(),
            "-p".into(),
            self.name.clone(),
        ];
        for f in &self.files {
            argv.push("-f".into());
            argv.push(f.clone());
        }
        if let Some(e) = &self.env_file {
            argv.push("--env-file".into());
            argv.push(e.clone());
        }
        argv.extend(args.iter().map(|a| a.to_string()));
        in_dir(&self.host, &self.dir, &argv).sudo(self.sudo)
    }

    /// The same project found by its name alone (compose's labels), not its files: for
    /// `down`, `ps` and `logs` when the files may be gone or broken.
    pub fn by_name(&self) -> Project {
        Project {
            dir: "/".into(),
            files: Vec::new(),
            env_file: None,
            ..self.clone()
        }
    }

    /// The compose files as compose resolves them, for messages.
    pub fn file_paths(&self) -> Vec<String> {
        if self.files.is_empty() {
            return vec![format!("{}/compose.yaml", self.dir.trim_end_matches('/'))];
        }
        self.files
            .iter()
            .map(|f| {
                if f.starts_with('/') {
                    f.clone()
                } else {
                    format!("{}/{f}", self.dir.trim_end_matches('/'))
                }
            })
            .collect()
    }

    /// Validates the files (`config --quiet`): a file that does not parse fails here with
    /// compose's own message.
    pub fn config(&self) -> Command {
        self.compose(&["config", "--quiet"])
    }

    /// The images the project's services use, one a line (`config --images`).
    pub fn images(&self) -> Command {
        self.compose(&["config", "--images"])
    }

    /// The project's services, one a line.
    pub fn services(&self) -> Command {
        self.compose(&["config", "--services"])
    }

    /// `up --detach --wait`: containers started and gated on their healthchecks.
    pub fn up(&self, o: &Up) -> Command {
        let mut args = vec!["up", "--detach", "--wait", "--pull", o.pull.word()];
        let wait = o.wait.map(|w| w.as_secs().max(1).to_string());
        if let Some(w) = &wait {
            args.extend(["--wait-timeout", w.as_str()]);
        }
        if o.build {
            args.push("--build");
        }
        if o.force_recreate {
            args.push("--force-recreate");
        }
        args.push("--remove-orphans");
        args.extend(o.services.iter().map(String::as_str));
        self.compose(&args)
    }

    /// The last `lines` lines of `services`' logs (all services when empty).
    pub fn logs_tail(&self, services: &[String], lines: u32) -> Command {
        let n = lines.to_string();
        let mut args = vec![
            "logs",
            "--no-color",
            "--no-log-prefix",
            "--tail",
            n.as_str(),
        ];
        args.extend(services.iter().map(String::as_str));
        self.compose(&args)
    }

    /// New lines of `service`'s logs as they come (`logs -f --tail 0`): the soak's log
    /// triggers read them.
    pub fn follow_logs(&self, service: &str) -> Command {
        self.compose(&[
            "logs",
            "--follow",
            "--no-color",
            "--no-log-prefix",
            "--tail",
            "0",
            service,
        ])
    }

    /// Stops and removes the project's containers and networks; volumes are kept.
    pub fn down(&self, timeout: Duration) -> Command {
        let t = timeout.as_secs().to_string();
        self.compose(&["down", "--timeout", t.as_str()])
    }

    /// Stops the project's containers, keeping them (so `start` brings them back).
    pub fn stop(&self, timeout: Duration) -> Command {
        let t = timeout.as_secs().to_string();
        self.compose(&["stop", "--timeout", t.as_str()])
    }

    /// Starts the project's stopped containers again.
    pub fn start(&self) -> Command {
        self.compose(&["start"])
    }

    /// The project's containers, running or not, as `docker inspect` JSON (`[]`-less empty
    /// output when it has none). Found by compose's project label, so it works without the
    /// project's files.
    pub fn inspect(&self) -> Command {
        containers_of(&self.host, &self.name).sudo(self.sudo)
    }
}

/// The files compose reads in `dir` when given none, one a line: the first of its default
/// names and the first default override (none when `dir` does not exist yet). Needed to add a file (a rollback's pin) without
/// changing which files are read.
pub fn default_files(host: &str, dir: &str) -> Command {
    Command::shell(
        host,
        format!(
            "cd {} 2>/dev/null || exit 0; for f in compose.yaml compose.yml docker-compose.yaml docker-compose.yml; do [ -e \"$f\" ] && {{ echo \"$f\"; break; }}; done; \
             for f in compose.override.yaml compose.override.yml docker-compose.override.yaml docker-compose.override.yml; do [ -e \"$f\" ] && {{ echo \"$f\"; break; }}; done; true",
            quote(dir)
        ),
    )
}

/// `docker inspect` of every container of compose project `name` on `host`.
pub fn containers_of(host: &str, name: &str) -> Command {
    let filter = format!("label=com.docker.compose.project={name}");
    Command::shell(
        host,
        format!(
            "ids=$(docker ps -aq --no-trunc --filter {}) || exit; [ -z \"$ids\" ] || exec docker inspect $ids",
            quote(&filter)
        ),
    )
}

/// `argv` run in directory `dir` on `host`.
fn in_dir(host: &str, dir: &str, argv: &[String]) -> Command {
    Command::shell(host, format!("cd {} && exec {}", quote(dir), join(argv)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> Project {
        Project {
            host: "new".into(),
            sudo: false,
            dir: "/srv/shop app".into(),
            name: "shop-green".into(),
            files: vec!["app.yaml".into()],
            env_file: Some(".cutover/green.env".into()),
        }
    }

    #[test]
    fn commands_run_in_the_project_directory() {
        let up = project().up(&Up {
            services: vec!["web".into()],
            pull: Pull::Never,
            force_recreate: true,
            wait: Some(Duration::from_secs(90)),
            ..Default::default()
        });
        assert_eq!(
            up.display_command(),
            "cd '/srv/shop app' && exec docker compose -p shop-green -f app.yaml --env-file .cutover/green.env up --detach --wait --pull never --wait-timeout 90 --force-recreate --remove-orphans web"
        );
        assert_eq!(
            project().follow_logs("web").display_command(),
            "cd '/srv/shop app' && exec docker compose -p shop-green -f app.yaml --env-file .cutover/green.env logs --follow --no-color --no-log-prefix --tail 0 web"
        );
        assert_eq!(project().file_paths(), ["/srv/shop app/app.yaml"]);
    }

    #[test]
    fn containers_are_found_by_the_project_label() {
        assert_eq!(
            containers_of("new", "shop").display_command(),
            "ids=$(docker ps -aq --no-trunc --filter label=com.docker.compose.project=shop) || exit; [ -z \"$ids\" ] || exec docker inspect $ids"
        );
    }
}
