//! The starter plans of `cutover init`: each one parses cleanly, so they never drift from
//! the plan types.

use cutover_plan::steps::StepKind;
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

#[test]
fn the_postgres_starter_syncs_gates_switches_with_a_way_back_then_proves() {
    let pg = template("postgres").expect("a `postgres` starter");
    let plan = cutover_plan::parse(pg.text, "cutover.toml", "/plans".into()).expect("parses");
    let kinds: Vec<&str> = plan.steps().map(|(_, s)| s.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "run",
            "postgres.sync",
            "approve",
            "postgres.switch",
            "postgres.verify"
        ]
    );
    let reverse = plan.steps().any(|(_, s)| match &s.kind {
        StepKind::PostgresSwitch(switch) => switch.reverse,
        _ => false,
    });
    assert!(
        reverse,
        "the switch keeps a reverse subscription for rollback"
    );
}

/// The commented `postgres.copy` alternative at the end of the postgres starter, once
/// uncommented, is a step the plan types accept (so it cannot drift either).
#[test]
fn the_postgres_starters_commented_copy_step_parses() {
    let pg = template("postgres").expect("a `postgres` starter");
    let start = pg
        .text
        .rfind("# [[stages.steps]]")
        .expect("a commented step");
    let step: String = pg.text[start..]
        .lines()
        .map(|l| {
            l.strip_prefix("# ")
                .unwrap_or_else(|| panic!("not commented: {l}"))
        })
        .map(|l| format!("{l}\n"))
        .collect();
    assert!(step.contains("kind = \"postgres.copy\""), "{step}");
    let text = format!("{}\n{step}", pg.text);
    let plan = cutover_plan::parse(&text, "cutover.toml", "/plans".into()).unwrap_or_else(|e| {
        panic!(
            "the uncommented copy step does not parse:\n{}",
            e.plain_lines().join("\n")
        )
    });
    assert!(plan
        .steps()
        .any(|(_, s)| matches!(s.kind, StepKind::PostgresCopy(_))));
}

#[test]
fn the_mysql_starter_copies_syncs_gates_switches_with_a_way_back_then_proves() {
    let my = template("mysql").expect("a `mysql` starter");
    let plan = cutover_plan::parse(my.text, "cutover.toml", "/plans".into()).expect("parses");
    let kinds: Vec<&str> = plan.steps().map(|(_, s)| s.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "run",
            "mysql.copy",
            "mysql.sync",
            "approve",
            "mysql.switch",
            "mysql.verify"
        ]
    );
    let reverse = plan.steps().any(|(_, s)| match &s.kind {
        StepKind::MysqlSwitch(switch) => switch.reverse,
        _ => false,
    });
    assert!(reverse, "the switch keeps reverse replication for rollback");
}

#[test]
fn the_redis_starter_syncs_gates_switches_then_proves() {
    let redis = template("redis").expect("a `redis` starter");
    let plan = cutover_plan::parse(redis.text, "cutover.toml", "/plans".into()).expect("parses");
    let kinds: Vec<&str> = plan.steps().map(|(_, s)| s.kind.name()).collect();
    assert_eq!(
        kinds,
        [
            "check",
            "redis.sync",
            "approve",
            "redis.switch",
            "redis.verify"
        ]
    );
    let switch = plan
        .steps()
        .find_map(|(_, s)| match &s.kind {
            StepKind::RedisSwitch(sw) => Some(sw),
            _ => None,
        })
        .expect("a switch");
    assert!(switch.reverse(), "old follows new by default: the way back");
}

#[test]
fn the_compose_starters_use_the_compose_kinds() {
    for (name, expected) in [
        (
            "compose",
            &[
                "images.copy",
                "files.sync",
                "compose.up",
                "postgres.copy",
                "postgres.verify",
                "files.sync",
                "check",
                "proxy.switch",
                "soak",
            ][..],
        ),
        (
            "blue-green-compose",
            &["compose.deploy", "soak", "compose.retire"][..],
        ),
    ] {
        let t = template(name).unwrap_or_else(|| panic!("a `{name}` starter"));
        let plan = cutover_plan::parse(t.text, "cutover.toml", "/plans".into()).expect("parses");
        let kinds: Vec<&str> = plan.steps().map(|(_, s)| s.kind.name()).collect();
        assert_eq!(kinds, expected, "`{name}`");
    }
}
