//! Malformed plans and the exact problems `cutover check` reports for them: the tables are in
//! `cases_file.rs` (TOML syntax, top level, hosts, secrets), `cases_steps.rs` (stages, steps)
//! and `cases_refs.rs` (waits, references); this file runs them all and holds the
//! many-problems-at-once tests.

use cutover_plan::PlanErrors;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// One malformed plan and every problem it must produce, in file order.
pub struct Case {
    /// What the case is about (named when it fails).
    pub name: &'static str,
    /// The plan file's text.
    pub plan: &'static str,
    /// Each problem as its `file:line:col: message` line and, when given, its exact help.
    pub expect: &'static [(&'static str, Option<&'static str>)],
}

/// Parses `src` as `cutover.toml`, expecting it to be rejected.
pub fn problems(src: &str) -> Result<PlanErrors, String> {
    match cutover_plan::parse(src, "cutover.toml", "/plans".into()) {
        Ok(_) => Err("the plan was accepted".into()),
        Err(e) => Ok(e),
    }
}

/// What differs between `case` and what `parse` reports, or `None` when they agree.
fn mismatch(case: &Case) -> Option<String> {
    let errors = match catch_unwind(AssertUnwindSafe(|| problems(case.plan))) {
        Ok(Ok(errors)) => errors,
        Ok(Err(why)) => return Some(why),
        Err(_) => return Some("parse panicked".into()),
    };
    let lines = errors.plain_lines();
    let want: Vec<&str> = case.expect.iter().map(|(line, _)| *line).collect();
    if lines != want {
        return Some(format!(
            "problems differ\n  want: {want:#?}\n  got:  {lines:#?}\n  helps: {:#?}",
            errors.problems.iter().map(|p| &p.help).collect::<Vec<_>>()
        ));
    }
    for ((line, help), problem) in case.expect.iter().zip(&errors.problems) {
        if let Some(help) = help {
            if problem.help.as_deref() != Some(*help) {
                return Some(format!(
                    "help of `{line}` differs\n  want: {help:?}\n  got:  {:?}",
                    problem.help
                ));
            }
        }
        // Every problem is written the same way: a label to underline with, no full stop.
        if problem.label.is_empty() || problem.message.ends_with('.') {
            return Some(format!("`{line}` has an empty label or ends with a period"));
        }
    }
    None
}

#[test]
fn every_malformed_plan_reports_its_exact_problems() {
    let cases: Vec<&Case> = crate::cases_file::CASES
        .iter()
        .chain(crate::cases_steps::CASES)
        .chain(crate::cases_refs::CASES)
        .chain(crate::cases_traffic::CASES)
        .chain(crate::cases_files::CASES)
        .chain(crate::cases_limits::CASES)
        .chain(crate::cases_mysql::CASES)
        .chain(crate::cases_outputs::CASES)
        .chain(crate::cases_file_put::CASES)
        .chain(crate::cases_notify::CASES)
        .chain(crate::cases_compose::CASES)
        .collect();
    assert!(cases.len() >= 35, "only {} cases", cases.len());
    let mut names = std::collections::BTreeSet::new();
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            assert!(names.insert(case.name), "two cases named {:?}", case.name);
            mismatch(case).map(|why| format!("case {:?}: {why}", case.name))
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n\n")
    );
}

/// One plan with a problem in nearly every section, in its syntax-free reading and in its
/// cross-references alike: all of them come back from one call, in file order.
pub const MANY: &str = r#"name = 42
descripton = "typo"

[hosts.old]
ssh = "old"
port = 70000

[hosts.new]
user = "deploy"

[secrets.pw]

[[stages]]
name = "copy"

[[stages.steps]]
id = "dump"
kind = "pipe"
from = { host = "old", command = "pg_dump -W {{ secrets.pw }}" }
to = { host = "newer", command = "psql" }

[[stages.steps]]
id = "dump"
kind = "sleep"

[[stages]]
name = "copy"

[[stages.steps]]
id = "pause"
kind = "wait"
duration = 30
"#;

#[test]
fn many_problems_are_reported_at_once_in_file_order() {
    let errors = problems(MANY).expect("rejected");
    assert_eq!(
        errors.plain_lines(),
        [
            "cutover.toml:1:8: `name` of the plan must be a string, found an integer",
            "cutover.toml:2:1: unknown field `descripton` in the plan",
            "cutover.toml:6:8: `port` of host `old` must be an integer from 1 to 65535, found 70000",
            "cutover.toml:8:8: host `new` has neither `ssh` nor `local = true`",
            "cutover.toml:11:10: secret `pw` has no source",
            "cutover.toml:19:46: `command` of step `dump` uses secret `pw` on a command line, where `ps` would show it",
            "cutover.toml:20:16: unknown host `newer`",
            "cutover.toml:24:9: unknown step kind `sleep` in step `dump`",
            "cutover.toml:27:9: duplicate stage name `copy`",
            "cutover.toml:32:12: `duration` of step `pause` must be a duration such as \"30s\", \"5m\" or \"48h\", found an integer",
        ]
    );
    assert_eq!(errors.to_string(), "cutover.toml has 10 problems");
    assert_eq!(errors.diagnostics().len(), 10);
}

/// Once the plan reads cleanly, the cross-reference problems are all reported together.
pub const MANY_REFERENCES: &str = r#"name = "m"

[hosts.old]
ssh = "old"

[secrets.pw]
env = "PW"

[[stages]]
name = "copy"

[[stages.steps]]
id = "dump"
kind = "pipe"
from = { host = "old", command = "pg_dump -W {{ secrets.pw }}" }
to = { host = "newer", command = "psql {{ vars.db }}" }

[[stages.steps]]
id = "dump"
kind = "approve"

[[stages]]
name = "copy"

[[stages.steps]]
id = "later"
kind = "wait"
after = "dumb"
delay = "1h"
"#;

#[test]
fn many_reference_problems_are_reported_at_once_in_file_order() {
    let errors = problems(MANY_REFERENCES).expect("rejected");
    assert_eq!(
        errors.plain_lines(),
        [
            "cutover.toml:15:46: `command` of step `dump` uses secret `pw` on a command line, where `ps` would show it",
            "cutover.toml:16:16: unknown host `newer`",
            "cutover.toml:16:40: unknown var `db`",
            "cutover.toml:19:7: duplicate step id `dump`",
            "cutover.toml:23:9: duplicate stage name `copy`",
            "cutover.toml:28:10: step `later` waits after `dumb`, which is not an earlier step",
        ]
    );
    let helps: Vec<Option<&str>> = errors.problems.iter().map(|p| p.help.as_deref()).collect();
    assert_eq!(helps[1], Some("define it in `[hosts]`, or use one of: old"));
    assert_eq!(helps[5], Some("did you mean `dump`?"));
}

#[test]
fn problems_render_as_miette_diagnostics_with_location_label_and_help() {
    use miette::Diagnostic;
    let errors =
        problems("name = \"m\"\n[hosts.old]\nssh = \"old\"\nprot = 22\n").expect("rejected");
    let d = errors.diagnostics().nth(1).expect("a second problem");
    assert_eq!(d.location(), "cutover.toml:4:1");
    assert_eq!(d.to_string(), "unknown field `prot` in host `old`");
    assert_eq!(
        d.help().map(|h| h.to_string()),
        Some("did you mean `port`?".into())
    );
    let labels: Vec<_> = d.labels().expect("labels").collect();
    assert_eq!(labels.len(), 1);
    assert_eq!(labels[0].label(), Some("unknown field"));
    assert_eq!((labels[0].offset(), labels[0].len()), (35, 4));
}

/// Hints that list every known name follow the registries (new kinds and sections join them).
#[test]
fn hints_list_the_registered_fields_and_kinds() {
    use cutover_plan::steps::KINDS;
    let help = |src: &str| problems(src).expect("rejected").problems[0].help.clone();
    let top = "name = \"m\"\nowner = \"ops\"\n[hosts.old]\nssh = \"old\"\n";
    let fields = cutover_plan::Plan::FIELDS.join(", ");
    let errors = problems(top).expect("rejected");
    let owner = errors
        .problems
        .iter()
        .find(|p| p.message.contains("`owner`"));
    assert_eq!(
        owner.and_then(|p| p.help.clone()),
        Some(format!("known fields: {fields}"))
    );
    let step = |kind: &str| {
        format!("name = \"m\"\n[hosts.old]\nssh = \"old\"\n[[stages]]\nname = \"s\"\n[[stages.steps]]\nid = \"a\"\n{kind}")
    };
    let kinds = KINDS.join(", ");
    assert_eq!(
        help(&step("")),
        Some(format!("add `kind = \"run\"`; step kinds are: {kinds}"))
    );
    assert_eq!(
        help(&step("kind = \"kubernetes\"\n")),
        Some(format!("step kinds are: {kinds}"))
    );
}

/// Latin-1 text and a truncated sequence: each undecodable part is located by line and
/// column (of the text up to it) and by byte offset, and renders with an excerpt.
#[test]
fn a_plan_that_is_not_utf8_is_located_at_each_bad_byte() {
    let src = b"name = \"caf\xE9\"\n[hosts.old]\nssh = \"old\"\n# \xE2\x82 \xF0\n";
    let errors = match cutover_plan::parse_bytes(src, "cutover.toml", "/plans".into()) {
        Ok(_) => panic!("a plan that is not UTF-8 was accepted"),
        Err(e) => e,
    };
    assert_eq!(
        errors.plain_lines(),
        [
            "cutover.toml:1:12: the file is not valid UTF-8: byte 0xE9 at byte offset 11",
            "cutover.toml:4:3: the file is not valid UTF-8: bytes 0xE2 0x82 at byte offset 40",
            "cutover.toml:4:5: the file is not valid UTF-8: byte 0xF0 at byte offset 43",
        ]
    );
    assert_eq!(
        errors.problems[0].help.as_deref(),
        Some("save the file as UTF-8 (from Latin-1: `iconv -f LATIN1 -t UTF-8`); the rest of the plan is checked once it reads as text")
    );
    assert_eq!(errors.to_string(), "cutover.toml has 3 problems");
    // The excerpt shows each bad part as one replacement character, underlined.
    assert_eq!(&errors.src[11..14], "\u{FFFD}");
    assert_eq!(
        (errors.problems[0].span.start, errors.problems[0].span.end),
        (11, 14)
    );
}
