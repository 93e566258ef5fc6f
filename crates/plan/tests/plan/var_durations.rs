//! Time gates and soak windows written as a var (`duration = "{{ vars.window }}"`): the
//! plan's value is used, an environment's replaces it, and a var that is missing or not a
//! duration is a problem at its place, also when only an environment's value is wrong.

const PLAN: &str = r#"name = "m"
[hosts.old]
ssh = "old"
[vars]
window = "48h"
soak = "2h"
[checks.up]
kind = "tcp"
address = "127.0.0.1:80"
[[stages]]
name = "s"
[[stages.steps]]
id = "watch"
kind = "soak"
checks = "up"
duration = "{{ vars.soak }}"
[[stages.steps]]
id = "gate"
kind = "wait"
after = "watch"
delay = "{{ vars.window }}"
"#;

fn parse(extra: &str) -> Result<cutover_plan::Plan, cutover_plan::PlanErrors> {
    cutover_plan::parse(&format!("{PLAN}{extra}"), "cutover.toml", "/plans".into())
}

/// (soak duration, wait delay) of the plan.
fn durations(plan: &cutover_plan::Plan) -> (std::time::Duration, std::time::Duration) {
    let soak = match &plan.step("watch").expect("soak").kind {
        cutover_plan::StepKind::Soak(s) => s.duration,
        other => panic!("not a soak: {other:?}"),
    };
    let delay = match &plan.step("gate").expect("wait").kind {
        cutover_plan::StepKind::Wait(w) => w.delay.expect("a delay"),
        other => panic!("not a wait: {other:?}"),
    };
    (soak, delay)
}

#[test]
fn durations_written_as_vars_take_the_plan_s_values_and_an_environment_s() {
    let s = std::time::Duration::from_secs;
    let plan = parse("[environments.lab]\nvars = { window = \"2s\", soak = \"500ms\" }\n")
        .expect("a valid plan");
    assert_eq!(durations(&plan), (s(2 * 3600), s(48 * 3600)));
    let lab = plan.in_environment("lab").expect("the lab environment");
    assert_eq!(
        durations(&lab),
        (std::time::Duration::from_millis(500), s(2))
    );
}

#[test]
fn a_missing_var_or_a_value_that_is_no_duration_is_a_located_problem() {
    let errors = parse("[environments.lab]\nvars = { window = \"soon\" }\n")
        .expect_err("the lab's window is no duration");
    assert_eq!(
        errors.plain_lines(),
        ["cutover.toml:22:15: var `window` of environment `lab` (the `delay` of step `gate`) is not a valid duration: expected number at 0"]
    );
    let errors = cutover_plan::parse(
        &PLAN
            .replace("{{ vars.soak }}", "{{ vars.soakk }}")
            .replace("window = \"48h\"", "window = \"400d\""),
        "cutover.toml",
        "/plans".into(),
    )
    .expect_err("refused");
    assert_eq!(
        errors.plain_lines(),
        [
            "cutover.toml:16:13: the `duration` of step `watch` names var `soakk`, which `[vars]` does not define",
            "cutover.toml:21:10: var `window` (the `delay` of step `gate`) must be a duration from 0s to 365d, found \"400d\"",
        ]
    );
}
