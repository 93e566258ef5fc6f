//! `cutover -e NAME`: the same plan in another environment, its vars and hosts replaced and
//! its journal its own. A local host is enough: no lab.

use crate::fixture::Run;
use std::process::{Command, Stdio};

const PLAN: &str = r#"name = "envs"

[vars]
greeting = "production"

[hosts.app]
local = true

[environments.staging]
vars = { greeting = "staging" }

[[stages]]
name = "s"

[[stages.steps]]
id = "hello"
kind = "run"
hosts = ["app"]
command = "echo {{ vars.greeting }} >> effects"
"#;

fn cutover(dir: &std::path::Path, args: &[&str]) -> Run {
    Run(Command::new(env!("CARGO_BIN_EXE_cutover"))
        .current_dir(dir)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("CUTOVER_PLAN")
        .env_remove("CUTOVER_ENVIRONMENT")
        .stdin(Stdio::null())
        .output()
        .expect("run cutover"))
}

fn files(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn an_environment_replaces_vars_and_keeps_its_own_journal() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let effects = d.join("effects").display().to_string();
    std::fs::write(d.join("cutover.toml"), PLAN.replace("effects", &effects)).unwrap();
    let staging = cutover(d, &["-e", "staging", "plan"]).expect(0).stdout();
    assert!(
        staging.contains(&format!("app$ echo staging >> {effects}\n")),
        "{staging}"
    );
    cutover(d, &["-e", "staging", "apply", "--yes"]).expect(0);
    assert_eq!(std::fs::read_to_string(&effects).unwrap(), "staging\n");
    assert_eq!(
        files(d),
        [
            "cutover.staging.journal.db",
            "cutover.staging.journal.db.lock",
            "cutover.toml",
            "effects"
        ]
    );
    // Production has not started: its run is its own.
    assert_eq!(
        cutover(d, &["status"]).expect(0).stdout(),
        "plan envs: not started\n  s            hello                run      pending\n"
    );
    cutover(d, &["apply", "--yes"]).expect(0);
    assert_eq!(
        std::fs::read_to_string(&effects).unwrap(),
        "staging\nproduction\n"
    );
    assert!(cutover(d, &["-e", "staging", "apply", "--yes"])
        .expect(0)
        .stdout()
        .ends_with(
            "is already complete: nothing to do (`cutover apply --new-run` starts another)\n"
        ));
    assert_eq!(
        cutover(d, &["-e", "prod", "plan"]).expect(3).stderr(),
        "error: cutover.toml: the plan has no environment `prod`: it defines staging\n"
    );
}

#[test]
fn an_environment_naming_what_the_plan_lacks_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let plan = PLAN.replace(
        "vars = { greeting = \"staging\" }\n",
        "vars = { greting = \"staging\" }\n[environments.staging.hosts.ap]\nlocal = true\n",
    );
    std::fs::write(dir.path().join("cutover.toml"), plan).unwrap();
    let run = cutover(dir.path(), &["check", "--offline", "--json"]).expect(3);
    let json: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let problems: Vec<String> = json["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}:{}: {} ({})",
                p["line"],
                p["column"],
                p["message"].as_str().unwrap(),
                p["help"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            "10:10: environment `staging` replaces var `greting`, which the plan does not define (did you mean `greeting`?)",
            "11:29: environment `staging` replaces host `ap`, which the plan does not define (did you mean `app`?)",
        ]
    );
}
