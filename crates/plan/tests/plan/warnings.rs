//! Old spellings still read, with a warning naming the new one: `health` of a
//! `proxy.switch` step (a URL path) became `health_path`, so that `health` names checks
//! from `[checks]` wherever it appears.

const PROXY_PLAN: &str = r#"name = "m"
[hosts.old]
ssh = "old"
[hosts.new]
ssh = "new"
[proxies.front]
kind = "haproxy"
host = "old"
socket = "/run/haproxy/admin.sock"
backend = "app"
server = "web"
[[stages]]
name = "s"
[[stages.steps]]
id = "switch"
kind = "proxy.switch"
proxy = "front"
to = "{{ hosts.new.address }}:8080"
"#;

fn parse(extra: &str) -> Result<cutover_plan::Plan, cutover_plan::PlanErrors> {
    cutover_plan::parse(
        &format!("{PROXY_PLAN}{extra}"),
        "cutover.toml",
        "/plans".into(),
    )
}

fn health_path(plan: &cutover_plan::Plan) -> Option<String> {
    match &plan.step("switch").expect("the step").kind {
        cutover_plan::StepKind::ProxySwitch(s) => s.health_path.clone(),
        other => panic!("not a proxy.switch: {other:?}"),
    }
}

#[test]
fn health_of_a_proxy_switch_is_read_as_health_path_with_a_warning() {
    let plan = parse("health = \"/healthz\"\n").expect("still a valid plan");
    assert_eq!(health_path(&plan).as_deref(), Some("/healthz"));
    assert_eq!(
        plan.warnings,
        ["cutover.toml:19:11: `health` of step `switch` is deprecated: it is named `health_path` in `proxy.switch` steps\n  help: write `health_path = \"/healthz\"`; `health` names checks from `[checks]`, as in `run` steps"]
    );
}

#[test]
fn health_path_reads_without_a_warning() {
    let plan = parse("health_path = \"/healthz\"\n").expect("valid");
    assert_eq!(health_path(&plan).as_deref(), Some("/healthz"));
    assert!(plan.warnings.is_empty(), "{:?}", plan.warnings);
}

#[test]
fn health_and_health_path_together_are_a_problem() {
    let errors = parse("health_path = \"/a\"\nhealth = \"/b\"\n").expect_err("refused");
    assert_eq!(
        errors.plain_lines(),
        ["cutover.toml:20:11: step `switch` sets both `health_path` and `health`"]
    );
}
