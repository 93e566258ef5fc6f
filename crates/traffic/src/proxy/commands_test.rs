//! The switchers' commands without a proxy: what each sends, where plan values go (argv,
//! stdin, quoted script), and how each reads the proxy's answer. The nginx script is run for
//! real by `sh` against a shim `nginx` that records its arguments, so quoting is proven by
//! execution rather than by reading the string.

use super::caddy::Caddy;
use super::haproxy::Haproxy;
use super::nginx::Nginx;
use super::{ProxyError, Runner, Switcher};
use async_trait::async_trait;
use cutover_exec::{Command, Output, Stdin};
use std::sync::Mutex;
use std::time::Duration;

/// Answers every command with `answer` and records what it was given.
struct Recorder {
    answer: String,
    seen: Mutex<Vec<Command>>,
}

impl Recorder {
    fn answering(answer: &str) -> Self {
        Recorder {
            answer: answer.into(),
            seen: Mutex::new(Vec::new()),
        }
    }

    fn only(&self) -> Command {
        let seen = self.seen.lock().expect("lock");
        assert_eq!(seen.len(), 1, "{seen:#?}");
        seen[0].clone()
    }
}

#[async_trait]
impl Runner for Recorder {
    async fn run(&self, cmd: &Command) -> Result<Output, String> {
        self.seen.lock().expect("lock").push(cmd.clone());
        Ok(output(&cmd.host, 0, &self.answer))
    }
}

fn output(host: &str, code: i32, stdout: &str) -> Output {
    Output {
        host: host.into(),
        code: Some(code),
        stdout: stdout.into(),
        stderr: String::new(),
        duration: Duration::ZERO,
    }
}

fn stdin_text(cmd: &Command) -> String {
    match &cmd.stdin {
        Stdin::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("expected bytes on stdin, got {other:?}"),
    }
}

fn haproxy() -> Haproxy {
    Haproxy {
        host: "proxy".into(),
        socket: "/run/haproxy/admin.sock".into(),
        backend: "app".into(),
        server: "web".into(),
    }
}

#[tokio::test]
async fn haproxy_sends_one_runtime_api_line_on_stdin_and_nothing_in_argv() {
    let r = Recorder::answering("IP changed from '192.0.2.10' to '192.0.2.20'\n");
    haproxy()
        .switch(&r, "192.0.2.20:8080")
        .await
        .expect("switch");
    let cmd = r.only();
    assert_eq!(cmd.host, "proxy");
    assert_eq!(
        cmd.argv,
        [
            "socat",
            "-t5",
            "stdio",
            "UNIX-CONNECT:/run/haproxy/admin.sock"
        ]
    );
    assert_eq!(
        stdin_text(&cmd),
        "set server app/web addr 192.0.2.20 port 8080\n"
    );
}

#[tokio::test]
async fn haproxy_reads_a_refusal_from_the_answer_since_the_api_exits_zero() {
    let r = Recorder::answering("No such server.\n");
    let err = haproxy()
        .switch(&r, "192.0.2.20:8080")
        .await
        .expect_err("a refusal");
    assert_eq!(
        err.to_string(),
        "haproxy on proxy: the runtime API refused the change: No such server."
    );
}

#[tokio::test]
async fn haproxy_refuses_an_upstream_without_a_port_before_sending_anything() {
    let r = Recorder::answering("");
    let err = haproxy()
        .switch(&r, "192.0.2.20")
        .await
        .expect_err("no port");
    assert!(matches!(err, ProxyError::Failed { .. }));
    assert!(
        err.to_string().contains("`192.0.2.20` is not ADDRESS:PORT"),
        "{err}"
    );
    assert!(r.seen.lock().expect("lock").is_empty());
}

#[tokio::test]
async fn caddy_patches_the_handler_with_the_upstream_as_json_on_stdin() {
    let r = Recorder::answering("");
    let caddy = Caddy {
        host: "proxy".into(),
        admin: "127.0.0.1:2019".into(),
        id: "app".into(),
    };
    caddy.switch(&r, "192.0.2.20:8080").await.expect("switch");
    let cmd = r.only();
    assert_eq!(
        cmd.argv.last().map(String::as_str),
        Some("http://127.0.0.1:2019/id/app/upstreams")
    );
    assert!(cmd.argv.iter().any(|a| a == "@-"), "{:?}", cmd.argv);
    let body: serde_json::Value = serde_json::from_str(&stdin_text(&cmd)).expect("json");
    assert_eq!(body, serde_json::json!([{ "dial": "192.0.2.20:8080" }]));
}

/// Runs the nginx switch script for real with a shim `nginx` first in `PATH`; `test_exit` is
/// what the shim's `nginx -t` returns. Returns the script's exit code, the include's content
/// and the shim's log of arguments.
fn run_nginx_script(dir: &std::path::Path, test_exit: i32) -> (i32, String, String) {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("bin");
    let log = dir.join("nginx.log");
    let shim = format!(
        "#!/bin/sh\nfor a in \"$@\"; do printf '[%s]' \"$a\" >> '{}'; done; echo >> '{}'\n\
         case \" $* \" in *' -t '*) exit {test_exit};; esac\nexit 0\n",
        log.display(),
        log.display()
    );
    let shim_path = bin.join("nginx");
    std::fs::write(&shim_path, shim).expect("shim");
    std::process::Command::new("chmod")
        .args(["+x"])
        .arg(&shim_path)
        .status()
        .expect("chmod");
    // A hostile-looking include name: every character the script must keep quoted.
    let include = dir.join("up $(touch pwned) 'q'.conf");
    std::fs::write(&include, "server 192.0.2.10:8080;\n").expect("include");
    let nginx = Nginx {
        host: "proxy".into(),
        include: include.display().to_string(),
        args: vec!["-c".into(), dir.join("a b.conf").display().to_string()],
    };
    let cmd = nginx.switch_command("192.0.2.20:8080");
    assert_eq!(cmd.argv[..2], ["sh", "-c"]);
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let status = std::process::Command::new(&cmd.argv[0])
        .args(&cmd.argv[1..])
        .current_dir(dir)
        .env("PATH", path)
        .status()
        .expect("sh");
    assert!(!dir.join("pwned").exists(), "a plan value was executed");
    (
        status.code().unwrap_or(-1),
        std::fs::read_to_string(&include).unwrap_or_default(),
        std::fs::read_to_string(&log).unwrap_or_default(),
    )
}

#[test]
fn nginx_script_writes_the_include_tests_then_reloads_with_the_plans_arguments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, include, log) = run_nginx_script(dir.path(), 0);
    assert_eq!(code, 0);
    assert_eq!(include, "server 192.0.2.20:8080;\n");
    let conf = dir.path().join("a b.conf").display().to_string();
    assert_eq!(
        log,
        format!("[-c][{conf}][-t][-q]\n[-c][{conf}][-T]\n[-c][{conf}][-s][reload]\n")
    );
}

#[test]
fn nginx_script_puts_the_include_back_and_never_reloads_when_the_test_fails() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, include, log) = run_nginx_script(dir.path(), 1);
    assert_eq!(
        code, 3,
        "the script's own code for a failed configuration test"
    );
    assert_eq!(include, "server 192.0.2.10:8080;\n");
    assert!(!log.contains("reload"), "{log}");
}
