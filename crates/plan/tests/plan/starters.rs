//! The starter plans of `cutover init`: each one parses cleanly, so they never drift from
//! the plan types.

use cutover_plan::templates::{template, TEMPLATES};

#[test]
fn every_starter_plan_parses() {
    assert!(!TEMPLATES.is_empty());
    for starter in TEMPLATES {
        let file = format!("{}.toml", starter.name);
        let plan = cutover_plan::parse(starter.text, &file, "/plans".into()).unwrap_or_else(|e| {
            panic!(
                "starter `{}` does not parse:\n{}",
                starter.name,
                e.plain_lines().join("\n")
            )
        });
        assert!(
            !plan.stages.is_empty(),
            "starter `{}` has no stages",
            starter.name
        );
        assert!(
            !starter.summary.is_empty(),
            "starter `{}` has no summary",
            starter.name
        );
        let found = template(starter.name).map(|t| t.text);
        assert_eq!(
            found,
            Some(starter.text),
            "`{}` is found by name",
            starter.name
        );
    }
}

#[test]
fn the_basic_starter_uses_every_kind_it_documents() {
    let basic = template("basic").expect("a `basic` starter");
    let plan = cutover_plan::parse(basic.text, "cutover.toml", "/plans".into()).expect("parses");
    let kinds: Vec<&str> = plan.steps().map(|(_, s)| s.kind.name()).collect();
    for kind in ["run", "pipe", "approve", "wait"] {
        assert!(
            kinds.contains(&kind),
            "`basic` has no `{kind}` step: {kinds:?}"
        );
    }
}
