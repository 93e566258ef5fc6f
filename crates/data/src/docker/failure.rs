//! What went wrong in a `docker` or `docker compose` command, read from its standard error
//! once, here, into a typed failure whose message says what to do. Docker's own words stay
//! in every message (framed), so nothing is lost by the classification.

use std::fmt;

/// Why a Docker command failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerFailure {
    /// The daemon does not answer on the host.
    DaemonDown {
        /// The host.
        host: String,
        /// Docker's message.
        detail: String,
    },
    /// A compose file does not parse or is not valid.
    InvalidConfig {
        /// The host.
        host: String,
        /// The compose files, as given to compose.
        files: Vec<String>,
        /// `docker compose config`'s own message.
        detail: String,
    },
    /// An image the project needs is not on the host (and was not to be pulled).
    ImageMissing {
        /// The host.
        host: String,
        /// The image reference.
        image: String,
    },
    /// An image could not be pulled (no registry reachable, unknown image...).
    PullFailed {
        /// The host.
        host: String,
        /// Docker's message.
        detail: String,
    },
    /// A published port is taken by another container or process.
    PortTaken {
        /// The host.
        host: String,
        /// `address:port` as Docker names it.
        port: String,
    },
    /// A container exited or never became healthy.
    Unhealthy {
        /// The host.
        host: String,
        /// The container and how it ended ("shop-web-1 is unhealthy").
        what: String,
        /// The last lines of its log.
        logs: String,
    },
    /// Anything else: the command and Docker's message.
    Other {
        /// The host.
        host: String,
        /// What was being done.
        doing: String,
        /// Docker's message.
        detail: String,
    },
}

impl DockerFailure {
    /// Classifies the failed command `doing` on `host` from its standard error.
    pub fn classify(host: &str, doing: &str, stderr: &str) -> DockerFailure {
        let text = clean(stderr);
        let host = host.to_string();
        if text.contains("Cannot connect to the Docker daemon")
            || text.contains("Is the docker daemon running")
        {
            return DockerFailure::DaemonDown {
                host,
                detail: last_line(&text),
            };
        }
        if let Some(port) = taken_port(&text) {
            return DockerFailure::PortTaken { host, port };
        }
        if let Some(image) = missing_image(&text) {
            return DockerFailure::ImageMissing { host, image };
        }
        if text.contains(" Pulling") || text.contains("pull access denied") {
            return DockerFailure::PullFailed {
                host,
                detail: last_line(&text),
            };
        }
        if let Some(what) = unhealthy(&text) {
            return DockerFailure::Unhealthy {
                host,
                what,
                logs: String::new(),
            };
        }
        DockerFailure::Other {
            host,
            doing: doing.to_string(),
            detail: text.trim().to_string(),
        }
    }

    /// What kind of failure this is (it chooses the exit code): a daemon that does not
    /// answer is an access problem, a container that never gets healthy a failed health
    /// gate, a missing image a missing object, an invalid file or a taken port a condition
    /// the project needs.
    pub fn class(&self) -> cutover_exec::FailureClass {
        use cutover_exec::FailureClass as C;
        match self {
            DockerFailure::DaemonDown { .. } => C::Unreachable,
            DockerFailure::InvalidConfig { .. } | DockerFailure::PortTaken { .. } => {
                C::Precondition
            }
            DockerFailure::ImageMissing { .. } => C::MissingObject,
            DockerFailure::Unhealthy { .. } => C::VerificationFailed,
            DockerFailure::PullFailed { .. } | DockerFailure::Other { .. } => C::Failed,
        }
    }

    /// The container named in an `Unhealthy` failure (for fetching its logs).
    pub fn container(&self) -> Option<&str> {
        match self {
            DockerFailure::Unhealthy { what, .. } => what.split_whitespace().next(),
            _ => None,
        }
    }
}

impl fmt::Display for DockerFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerFailure::DaemonDown { host, detail } => write!(
                f,
                "the Docker daemon on {host} does not answer ({detail}): start it (`systemctl start docker`) and run the step again"
            ),
            DockerFailure::InvalidConfig {
                host,
                files,
                detail,
            } => write!(
                f,
                "the compose file{} {} on {host} {}: {detail}",
                if files.len() == 1 { "" } else { "s" },
                files.join(", "),
                if files.len() == 1 { "is not valid" } else { "are not valid" }
            ),
            DockerFailure::ImageMissing { host, image } => write!(
                f,
                "image `{image}` is not on {host}: copy it there first (an `images.copy` step, or `docker load`), or set `pull = \"missing\"` to pull it"
            ),
            DockerFailure::PullFailed { host, detail } => write!(
                f,
                "an image could not be pulled on {host}: {detail}; copy it there with an `images.copy` step (no registry needed)"
            ),
            DockerFailure::PortTaken { host, port } => write!(
                f,
                "port {port} on {host} is already taken (by another container or process): free it or publish another port"
            ),
            DockerFailure::Unhealthy { host, what, logs } => {
                write!(f, "container {what} on {host}")?;
                if logs.trim().is_empty() {
                    write!(f, " (it logged nothing)")
                } else {
                    write!(f, "; its last log lines:\n{}", frame(logs))
                }
            }
            DockerFailure::Other {
                host,
                doing,
                detail,
            } => write!(f, "{doing} failed on {host}:\n{}", frame(detail)),
        }
    }
}

/// Docker output without terminal control sequences (compose writes `ESC[2K` even with
/// `--no-color`) or carriage returns.
pub fn clean(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => {
                if chars.peek() == Some(&'[') {
                    chars.next();
                    for c in chars.by_ref() {
                        if c.is_ascii_alphabetic() {
                            break;
                        }
                    }
                }
            }
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// Text indented by two spaces, one line each, for inclusion in a message.
pub fn frame(text: &str) -> String {
    text.trim_end()
        .lines()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn last_line(text: &str) -> String {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .trim()
        .to_string()
}

/// `Bind for 0.0.0.0:18080 failed: port is already allocated`, or `listen tcp4
/// 0.0.0.0:18080: bind: address already in use`.
fn taken_port(text: &str) -> Option<String> {
    for line in text.lines() {
        if line.contains("port is already allocated") {
            if let Some(rest) = line.split("Bind for ").nth(1) {
                return rest.split_whitespace().next().map(str::to_string);
            }
            return Some("?".into());
        }
        if line.contains("address already in use") {
            let word = line.split_whitespace().find(|w| {
                w.contains(':')
                    && w.rsplit(':')
                        .next()
                        .is_some_and(|p| p.trim_end_matches(':').parse::<u16>().is_ok())
            });
            return Some(word.unwrap_or("?").trim_end_matches(':').to_string());
        }
    }
    None
}

/// `Error response from daemon: no such image: nothere:9: No such image: nothere:9`.
fn missing_image(text: &str) -> Option<String> {
    let line = text
        .lines()
        .find(|l| l.to_ascii_lowercase().contains("no such image:"))?;
    let lower = line.to_ascii_lowercase();
    let at = lower.rfind("no such image:")? + "no such image:".len();
    Some(line[at..].trim().to_string())
}

/// `container shop-web-1 is unhealthy`, `container shop-web-1 exited (1)`.
fn unhealthy(text: &str) -> Option<String> {
    text.lines().find_map(|l| {
        let rest = l.trim().strip_prefix("container ")?;
        (rest.ends_with("is unhealthy") || rest.contains(" exited (")).then(|| rest.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_dockers_words_into_failures() {
        let f = DockerFailure::classify(
            "new",
            "docker compose up",
            " Container other-worker-1  Started\nError response from daemon: driver failed programming external connectivity on endpoint other-web-1 (5f26): Bind for 0.0.0.0:18080 failed: port is already allocated\n",
        );
        assert_eq!(
            f.to_string(),
            "port 0.0.0.0:18080 on new is already taken (by another container or process): free it or publish another port"
        );
        let f = DockerFailure::classify(
            "new",
            "docker compose up",
            " Container m-web-1  Creating\nError response from daemon: no such image: nothere:9: No such image: nothere:9\n",
        );
        assert_eq!(
            f,
            DockerFailure::ImageMissing {
                host: "new".into(),
                image: "nothere:9".into()
            }
        );
        let f = DockerFailure::classify(
            "new",
            "docker compose ps",
            "Cannot connect to the Docker daemon at unix:///run/docker/docker.sock. Is the docker daemon running?\n",
        );
        assert_eq!(f.to_string(), "the Docker daemon on new does not answer (Cannot connect to the Docker daemon at unix:///run/docker/docker.sock. Is the docker daemon running?): start it (`systemctl start docker`) and run the step again");
        let f = DockerFailure::classify(
            "new",
            "docker compose up",
            " Container sick-web-1  Waiting\ncontainer sick-web-1 is unhealthy\n",
        );
        assert_eq!(f.container(), Some("sick-web-1"));
        let f = DockerFailure::classify(
            "new",
            "docker compose up",
            " web Pulling \n web Error Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io: network is unreachable\nError response from daemon: Get \"https://registry-1.docker.io/v2/\": network is unreachable\n",
        );
        assert!(matches!(f, DockerFailure::PullFailed { .. }), "{f:?}");
    }

    #[test]
    fn strips_terminal_codes() {
        assert_eq!(clean("\u{1b}[2Kweb-1  | up\r\n"), "web-1  | up\n");
    }
}
