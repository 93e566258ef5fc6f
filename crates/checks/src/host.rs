//! Probes that run a command on a host through the executor: a plain command, and the
//! database clients (`psql -tAc`, `mariadb -N -B -e`, `redis-cli`) so that no driver crate is
//! linked and the check runs where the application runs (same network, same credentials).

use crate::eval;
use crate::outcome::{short, Outcome};
use cutover_exec::{Command, EnvValue, Executor};
use cutover_plan::checks::assert::Predicate;
use std::time::Instant;

/// A command whose exit status and output are judged.
#[derive(Debug, Clone)]
pub struct HostProbe {
    /// "command", "postgres", "mysql" or "redis".
    pub kind: &'static str,
    /// What runs.
    pub command: Command,
    /// The exit status that passes.
    pub exit: i32,
    /// A predicate on the trimmed standard output.
    pub expect: Option<Predicate>,
}

impl HostProbe {
    /// `sh -c script` on `host`.
    pub fn shell(host: &str, script: &str, env: Vec<(String, EnvValue)>) -> Self {
        let mut command = Command::shell(host, script);
        command.env = env;
        HostProbe {
            kind: "command",
            command,
            exit: 0,
            expect: None,
        }
    }

    /// `psql` running `query` on `host` (`args` for the connection; password in PGPASSWORD).
    pub fn postgres(
        host: &str,
        client: Option<&str>,
        args: &[String],
        query: &str,
        env: Vec<(String, EnvValue)>,
    ) -> Self {
        let mut argv = vec![client.unwrap_or("psql").to_string()];
        // -X: no ~/.psqlrc; -w: never prompt; -tA: bare values; ON_ERROR_STOP: errors exit 1.
        argv.extend(["-X", "-w", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"].map(String::from));
        argv.extend(args.iter().cloned());
        argv.extend(["-c".to_string(), query.to_string()]);
        Self::client("postgres", host, argv, env)
    }

    /// `mariadb` (or `mysql`) running `query` on `host` (password in MYSQL_PWD).
    pub fn mysql(
        host: &str,
        client: Option<&str>,
        args: &[String],
        query: &str,
        env: Vec<(String, EnvValue)>,
    ) -> Self {
        let mut argv = vec![
            client.unwrap_or("mariadb").to_string(),
            "-N".into(),
            "-B".into(),
        ];
        argv.extend(args.iter().cloned());
        argv.extend(["-e".to_string(), query.to_string()]);
        Self::client("mysql", host, argv, env)
    }

    /// `redis-cli` sending `command` (split on spaces) on `host` (password in REDISCLI_AUTH).
    pub fn redis(
        host: &str,
        client: Option<&str>,
        args: &[String],
        command: &str,
        env: Vec<(String, EnvValue)>,
    ) -> Self {
        let mut argv = vec![client.unwrap_or("redis-cli").to_string()];
        argv.extend(args.iter().cloned());
        argv.extend(command.split_whitespace().map(String::from));
        Self::client("redis", host, argv, env)
    }

    fn client(
        kind: &'static str,
        host: &str,
        argv: Vec<String>,
        env: Vec<(String, EnvValue)>,
    ) -> Self {
        let mut command = Command::new(host, argv);
        command.env = env;
        HostProbe {
            kind,
            command,
            exit: 0,
            expect: None,
        }
    }

    /// Runs the command and judges it.
    pub async fn run(&self, exec: Option<&Executor>) -> Outcome {
        let started = Instant::now();
        let Some(exec) = exec else {
            return Outcome::fail(
                started.elapsed(),
                "",
                "this probe runs a command on a host and has no executor (use it from a plan)",
            );
        };
        let out = match exec.run(&self.command).await {
            Ok(o) => o,
            Err(e) => {
                return Outcome::fail(started.elapsed(), "", format!("{}: {e}", self.command))
            }
        };
        let latency = started.elapsed();
        let value = out.stdout.trim();
        let shown_value = if value.chars().count() > 80 {
            format!("{}…", value.chars().take(80).collect::<String>())
        } else {
            value.to_string()
        };
        let summary = format!(
            "`{}` on {} exited {} in {}: {shown_value:?}",
            self.command.display_command(),
            out.host,
            out.code.map_or("by a signal".into(), |c| c.to_string()),
            short(latency)
        );
        let mut failures = Vec::new();
        if out.code != Some(self.exit) {
            let err = out.stderr.trim();
            let err = if err.is_empty() { value } else { err };
            failures.push(format!(
                "exit status {} (expected {}): {}",
                out.code.map_or("none".into(), |c| c.to_string()),
                self.exit,
                last_lines(err)
            ));
        } else if self.kind == "redis" && is_redis_error(value) {
            failures.push(format!("Redis answered an error: {}", last_lines(value)));
        }
        if let (true, Some(p)) = (failures.is_empty(), &self.expect) {
            if let Err(why) = eval::text(value, p) {
                failures.push(format!("output {}: {why}", p.text));
            }
        }
        Outcome::judged(latency, summary, failures)
    }
}

/// redis-cli exits 0 on error replies when not on a terminal.
fn is_redis_error(out: &str) -> bool {
    [
        "ERR",
        "WRONGPASS",
        "NOAUTH",
        "NOPERM",
        "WRONGTYPE",
        "(error)",
    ]
    .iter()
    .any(|p| out.starts_with(p))
}

fn last_lines(text: &str) -> String {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let start = lines.len().saturating_sub(3);
    lines[start..].join(" | ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_argv_keep_queries_as_one_argument() {
        let p = HostProbe::postgres(
            "new",
            None,
            &["-h".into(), "127.0.0.1".into()],
            "select count(*) from t",
            vec![],
        );
        assert_eq!(
            p.command.argv.last().map(String::as_str),
            Some("select count(*) from t")
        );
        assert_eq!(p.command.argv[0], "psql");
        assert!(p.command.argv.contains(&"ON_ERROR_STOP=1".to_string()));
        let r = HostProbe::redis(
            "new",
            None,
            &["-p".into(), "6379".into()],
            "GET  key",
            vec![],
        );
        assert_eq!(r.command.argv, ["redis-cli", "-p", "6379", "GET", "key"]);
        let m = HostProbe::mysql("new", Some("mysql"), &[], "select 1", vec![]);
        assert_eq!(m.command.argv, ["mysql", "-N", "-B", "-e", "select 1"]);
    }
}
