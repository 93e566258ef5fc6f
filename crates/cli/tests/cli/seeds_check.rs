//! Every seed runbook's plan (`examples/seeds/*/cutover.toml`) passes `cutover check
//! --offline`, and again in its `lab` environment when it has one. The directories are found
//! at run time, so a seed added later is covered without touching this test.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// `examples/seeds` of this checkout.
fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/seeds")
}

/// Every `cutover.toml` one level below `dir`, sorted so that failures read the same way
/// on every machine.
fn seed_plans(dir: &Path) -> Vec<PathBuf> {
    let entries = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot list the seed plans in {}: {e}", dir.display()));
    let mut plans: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.path().join("cutover.toml"))
        .filter(|plan| plan.is_file())
        .collect();
    plans.sort();
    plans
}

/// Whether the plan declares `[environments.lab]` (as a table header or a dotted key).
fn has_lab_environment(plan: &Path) -> bool {
    let text = std::fs::read_to_string(plan)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", plan.display()));
    text.lines().any(|line| {
        let line = line.trim_start();
        line.starts_with("[environments.lab]") || line.starts_with("[environments.lab.")
    })
}

/// `cutover [-e ENV] check --offline` on `plan`: `None` when it passes, else what it said.
fn offline_check(plan: &Path, environment: Option<&str>) -> Option<String> {
    let mut command = Command::new(env!("CARGO_BIN_EXE_cutover"));
    if let Some(name) = environment {
        command.args(["-e", name]);
    }
    let out = command
        .args(["check", "--offline"])
        .arg(plan)
        .env("NO_COLOR", "1")
        .env_remove("CUTOVER_PLAN")
        .env_remove("CUTOVER_ENVIRONMENT")
        .stdin(Stdio::null())
        .output()
        .expect("run cutover");
    if out.status.success() {
        return None;
    }
    Some(format!(
        "exit {}\n{}{}",
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    ))
}

#[test]
fn every_seed_plan_passes_the_offline_check_with_and_without_its_lab_environment() {
    let dir = seeds_dir();
    let plans = seed_plans(&dir);
    assert!(
        !plans.is_empty(),
        "no seed plan found: expected examples/seeds/NNN-name/cutover.toml under {}",
        dir.display()
    );
    let mut failures = Vec::new();
    for plan in &plans {
        let name = plan
            .strip_prefix(&dir)
            .unwrap_or(plan)
            .display()
            .to_string();
        let mut environments = vec![None];
        if has_lab_environment(plan) {
            environments.push(Some("lab"));
        }
        for environment in environments {
            if let Some(said) = offline_check(plan, environment) {
                let how = environment.map_or(String::new(), |e| format!("-e {e} "));
                failures.push(format!(
                    "examples/seeds/{name}: `cutover {how}check --offline` failed: {said}"
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} seed plan check(s) failed:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn the_seed_plan_finder_needs_a_plan_in_each_directory_and_sees_the_lab_environment() {
    let dir = tempfile::tempdir().unwrap();
    assert!(seed_plans(dir.path()).is_empty(), "an empty directory");
    std::fs::create_dir(dir.path().join("009-notes-only")).unwrap();
    std::fs::write(dir.path().join("009-notes-only/README.md"), "no plan\n").unwrap();
    std::fs::create_dir(dir.path().join("008-plan")).unwrap();
    let plan = dir.path().join("008-plan/cutover.toml");
    std::fs::write(&plan, "name = \"x\"\n[environments.lab.hosts.old]\n").unwrap();
    assert_eq!(seed_plans(dir.path()), std::slice::from_ref(&plan));
    assert!(has_lab_environment(&plan));
    std::fs::write(&plan, "name = \"x\"\n# [environments.labs]\n").unwrap();
    assert!(!has_lab_environment(&plan));
    // A failing plan is reported with what cutover said.
    std::fs::write(&plan, "name = \"x\"\nstages = 3\n").unwrap();
    let said = offline_check(&plan, None).expect("a broken plan fails");
    assert!(said.starts_with("exit 3\n"), "{said}");
}
