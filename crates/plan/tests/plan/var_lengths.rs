//! A `wait` or `soak` step's length given as `{{ vars.NAME }}`: read from the plan's vars, and from an
//! environment's when it replaces the var (a 48 h decommission gate that lasts a second on
//! the lab).

use cutover_plan::steps::StepKind;
use std::time::Duration;

const PLAN: &str = r#"name = "m"
[hosts.old]
ssh = "old"
[vars]
decommission_after = "48h"
settle = "30s"
monitor_for = "30m"
[environments.lab.vars]
decommission_after = "1s"
monitor_for = "6s"
[checks.up]
kind = "tcp"
address = "192.0.2.1:80"
[[stages]]
name = "s"
[[stages.steps]]
id = "switch"
kind = "approve"
[[stages.steps]]
id = "settle"
kind = "wait"
duration = "{{ vars.settle }}"
[[stages.steps]]
id = "watch"
kind = "soak"
checks = "up"
duration = "{{ vars.monitor_for }}"
[[stages.steps]]
id = "decommission"
kind = "wait"
after = "switch"
delay = "{{vars.decommission_after}}"
"#;

/// (duration, delay) of wait step `id`.
fn lengths(plan: &cutover_plan::Plan, id: &str) -> (Option<Duration>, Option<Duration>) {
    match &plan.step(id).expect("step").kind {
        StepKind::Wait(w) => (w.duration, w.delay),
        other => panic!("{id} is not a wait: {other:?}"),
    }
}

#[test]
fn a_wait_length_comes_from_the_vars_of_the_plan_or_of_its_environment() {
    let plan = cutover_plan::parse(PLAN, "cutover.toml", "/plans".into()).expect("valid");
    assert_eq!(
        lengths(&plan, "settle"),
        (Some(Duration::from_secs(30)), None)
    );
    assert_eq!(
        lengths(&plan, "decommission"),
        (None, Some(Duration::from_secs(48 * 3600)))
    );
    let lab = plan.in_environment("lab").expect("lab");
    assert_eq!(
        lengths(&lab, "settle"),
        (Some(Duration::from_secs(30)), None)
    );
    assert_eq!(
        lengths(&lab, "decommission"),
        (None, Some(Duration::from_secs(1)))
    );
}
