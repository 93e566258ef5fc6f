//! What a new user trips over first, each with the exact text they see: a literal `{{` in
//! a command, vars in an approval message, the plan file named as an argument, the old
//! `health` of a `proxy.switch` step, and every command's output piped into `head`. A local
//! host is enough: no lab.

use crate::fixture::Run;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const PLAN: &str = r#"name = "friction"

[vars]
owner = "the on-call DBA"

[hosts.ctl]
local = true

[[stages]]
name = "s"

[[stages.steps]]
id = "inspect"
kind = "run"
hosts = ["ctl"]
command = "printf '%s\n' '{{{{ .State.Health.Status }}}} on {{ hosts.ctl.name }}' >> effects"
undo = "echo undone >> effects"

[[stages.steps]]
id = "go-live"
kind = "approve"
message = "{{ vars.owner }} confirms {{ plan.name }} may go live"
"#;

/// A temp dir holding `cutover.toml`.
struct Dir(tempfile::TempDir);

impl Dir {
    fn new(plan: &str) -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let effects = dir.path().join("effects");
        let plan = plan.replace("effects", &effects.display().to_string());
        std::fs::write(dir.path().join("cutover.toml"), plan).expect("write plan");
        Dir(dir)
    }

    fn path(&self) -> &Path {
        self.0.path()
    }

    fn plan(&self) -> PathBuf {
        self.path().join("cutover.toml")
    }

    /// `cutover ARGS` run in the plan's directory (messages name the file as given).
    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.current_dir(self.path())
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("CUTOVER_PLAN")
            .stdin(Stdio::null());
        c
    }

    fn run(&self, args: &[&str]) -> Run {
        Run(self.command(args).output().expect("run cutover"))
    }

    /// `cutover ARGS` with its standard output closed before it writes anything, as
    /// `cutover ARGS | head -0` leaves it: its exit code and standard error.
    fn run_into_closed_pipe(&self, args: &[&str]) -> (Option<i32>, String) {
        let mut child = self
            .command(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start cutover");
        drop(child.stdout.take());
        let out = child.wait_with_output().expect("wait for cutover");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn effects(&self) -> String {
        std::fs::read_to_string(self.path().join("effects")).unwrap_or_default()
    }
}

#[test]
fn doubled_braces_reach_the_command_as_literal_braces() {
    let d = Dir::new(PLAN);
    let plan = d.run(&["plan"]).expect(0).stdout();
    assert!(
        plan.contains("ctl$ printf '%s\n' '{{ .State.Health.Status }} on ctl' >> "),
        "{plan}"
    );
    d.run(&["apply", "--yes", "--no-wait"]).expect(7);
    assert_eq!(d.effects(), "{{ .State.Health.Status }} on ctl\n");
    let help = d.run(&["--help"]).expect(0).stdout();
    assert!(
        help.contains("A literal {{ is written {{{{ and }} is written }}}} (docker inspect -f '{{{{ .State.Health.Status }}}}')."),
        "{help}"
    );
}

#[test]
fn an_approval_message_shows_its_vars_everywhere_it_is_shown() {
    let d = Dir::new(PLAN);
    let expanded = "the on-call DBA confirms friction may go live";
    let plan = d.run(&["plan"]).expect(0).stdout();
    assert!(
        plan.contains(&format!(
            "  +  go-live (approve)\n       wait for `cutover approve ID --by NAME`: {expanded}\n"
        )),
        "{plan}"
    );
    let apply = d.run(&["apply", "--yes", "--no-wait"]).expect(7).stdout();
    let waiting = format!(
        "   waiting go-live: approval: run `cutover approve go-live --by NAME [--comment TEXT]` ({expanded})\n"
    );
    assert!(apply.contains(&waiting), "{apply}");
    let status = d.run(&["status"]).expect(0).stdout();
    assert!(status.contains(expanded), "{status}");
    assert!(!status.contains("{{"), "{status}");
}

#[test]
fn a_secret_in_an_approval_message_is_refused() {
    let d = Dir::new(
        &format!("{PLAN}\n[secrets.pw]\nenv = \"PW\"\n")
            .replace("{{ vars.owner }} confirms", "{{ secrets.pw }} confirms"),
    );
    let run = d.run(&["check", "--offline"]).expect(3);
    assert!(
        run.stderr().contains(
            "`message` of step `go-live` shows secret `pw`, which would be printed and journaled"
        ),
        "{}",
        run.stderr()
    );
}

#[test]
fn check_and_plan_take_the_plan_file_as_an_argument() {
    let d = Dir::new(PLAN);
    std::fs::rename(d.plan(), d.path().join("release.toml")).unwrap();
    assert_eq!(
        d.run(&["check", "--offline", "release.toml"])
            .expect(0)
            .stdout(),
        "ok release.toml is valid\n"
    );
    assert_eq!(
        d.run(&["check", "release.toml"]).expect(0).stdout(),
        "ok release.toml is valid\n✓ host ctl         reached          local\n"
    );
    assert!(d
        .run(&["plan", "release.toml"])
        .expect(0)
        .stdout()
        .starts_with("plan friction (a new run)\n"));
    // Without it, the default file is still looked for.
    assert_eq!(
        d.run(&["check"]).expect(3).stderr(),
        "error: cannot read plan file cutover.toml: No such file or directory (os error 2)\n"
    );
}

#[test]
fn the_old_health_of_a_proxy_switch_is_read_with_a_warning() {
    let d = Dir::new(
        r#"name = "p"
[hosts.lb]
local = true
[proxies.front]
kind = "haproxy"
host = "lb"
socket = "/run/haproxy/admin.sock"
backend = "app"
server = "web"
[[stages]]
name = "s"
[[stages.steps]]
id = "switch"
kind = "proxy.switch"
proxy = "front"
to = "127.0.0.1:8080"
health = "/healthz"
"#,
    );
    let run = d.run(&["check", "--offline"]).expect(0);
    assert_eq!(run.stdout(), "ok cutover.toml is valid\n");
    assert_eq!(
        run.stderr(),
        "warning: cutover.toml:17:11: `health` of step `switch` is deprecated: it is named `health_path` in `proxy.switch` steps\n  help: write `health_path = \"/healthz\"`; `health` names checks from `[checks]`, as in `run` steps\n"
    );
}

#[test]
fn every_command_ends_quietly_when_its_output_is_closed() {
    let d = Dir::new(PLAN);
    let tree = d.path().join("tree");
    std::fs::create_dir(&tree).unwrap();
    std::fs::write(tree.join("a"), "a").unwrap();
    let tree = tree.display().to_string();
    // In an order that gives each command something to print: a run stopped at its gate,
    // approved, completed, reported and rolled back.
    let commands: &[(&[&str], i32)] = &[
        (&["--help"], 0),
        (&["init", "--list"], 0),
        (&["-f", "other.toml", "init"], 0),
        (&["schema"], 0),
        (&["check"], 0),
        (&["check", "--offline"], 0),
        (&["check", "--json"], 0),
        (&["plan"], 0),
        (&["plan", "--json"], 0),
        (&["apply", "--yes", "--no-wait"], 7),
        (&["status"], 0),
        (&["status", "--json"], 0),
        (&["approve", "go-live", "--by", "alice"], 0),
        (&["apply", "--yes"], 0),
        (&["apply", "--yes"], 0),
        (&["report"], 0),
        (&["report", "--format", "json"], 0),
        (&["rollback", "--yes"], 0),
        (&["verify", "files", &tree, &tree], 0),
        (&["verify", "files", "--json", &tree, &tree], 0),
    ];
    for (args, code) in commands {
        let (exit, stderr) = d.run_into_closed_pipe(args);
        assert_eq!(exit, Some(*code), "cutover {args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("Broken pipe"),
            "cutover {args:?}: {stderr}"
        );
    }
    // The run still did its work with no one reading its output.
    assert_eq!(d.effects(), "{{ .State.Health.Status }} on ctl\nundone\n");
}

#[test]
fn check_reads_every_scenario_the_plan_names_before_anything_runs() {
    let d = Dir::new(
        r#"name = "smoke"
[hosts.ctl]
local = true
[checks.good]
kind = "smoke"
file = "good.hurl"
[checks.gone]
kind = "smoke"
file = "missing.hurl"
[checks.cookies]
kind = "smoke"
file = "cookies.hurl"
[[stages]]
name = "s"
[[stages.steps]]
id = "gate"
kind = "check"
checks = ["good", "gone", "cookies"]
"#,
    );
    std::fs::write(
        d.path().join("good.hurl"),
        "GET http://app.example/healthz\nHTTP 200\n[Asserts]\njsonpath \"$.status\" == \"ok\"\n",
    )
    .unwrap();
    std::fs::write(
        d.path().join("cookies.hurl"),
        "GET http://app.example/\nHTTP 200\n  [Cookies]\n",
    )
    .unwrap();
    let run = d.run(&["check", "--offline"]).expect(3);
    assert_eq!(
        run.stdout(),
        "ok cutover.toml is valid\n\
         ✗ check cookies    scenario reads   cookies.hurl:3:3: section [Cookies] is not supported; supported: [QueryStringParams], [BasicAuth], [MultipartFormData], [Options], [Captures], [Asserts]\n  \
         hint: change the scenario to the supported subset (see the README's smoke scenarios)\n\
         ✗ check gone       scenario reads   cutover.toml:9:9: missing.hurl: cannot read: No such file or directory (os error 2)\n  \
         hint: fix `file` (relative to the plan's directory) or add the scenario\n\
         ✓ check good       scenario reads   good.hurl: 1 requests, 1 asserts\n"
    );
}
