//! The proof: a faithful copy verifies clean across major versions, and each kind of damage
//! a copy can suffer is detected and named (the mutation suite of issue 3).

use super::fixture::{endpoint, executor, reference_copy, seed, servers};
use cutover_data::postgres::{verify, VerifyOptions, VerifyReport};
use std::collections::BTreeSet;

/// (object kind, object, kind of difference) of every failing difference.
fn named(report: &VerifyReport) -> BTreeSet<(String, String, String)> {
    report
        .failures()
        .map(|d| (d.object_kind.clone(), d.object.clone(), d.kind.clone()))
        .collect()
}

fn set(items: &[(&str, &str, &str)]) -> BTreeSet<(String, String, String)> {
    items
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

/// One damaged copy per mutation (databases cloned from one reference copy), all verified
/// against the source at once.
/// A damaging statement and the differences (object kind, name, finding) it must cause.
type Mutation<'a> = (&'a str, &'a [(&'a str, &'a str, &'a str)]);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_mutation_is_detected_and_named() {
    let (lab, old, new) = servers(16, 18, false);
    seed(&old, "app");
    reference_copy(&old, &new, "app");
    let mutations: &[Mutation] = &[
        (
            "UPDATE accounts SET name = name || '!' WHERE id = 7",
            &[("table", "accounts", "content differs")],
        ),
        (
            "DELETE FROM accounts WHERE id = 599",
            &[("table", "accounts", "row count differs")],
        ),
        (
            "INSERT INTO accounts (id, name) VALUES (10001, 'intruder')",
            &[("table", "accounts", "row count differs")],
        ),
        (
            "SELECT setval('accounts_id_seq', 5)",
            &[("sequence", "accounts_id_seq", "behind")],
        ),
        (
            "DROP INDEX accounts_created_idx",
            &[("index", "accounts_created_idx", "missing on target")],
        ),
        (
            "DROP TRIGGER events_audit ON events",
            &[("trigger", "events.events_audit", "missing on target")],
        ),
        (
            "ALTER TYPE mood RENAME VALUE 'ok' TO 'fine'",
            &[
                ("enum", "mood", "labels differ"),
                ("table", "accounts", "content differs"),
                ("materialized view", "mood_counts", "content differs"),
            ],
        ),
        (
            "UPDATE accounts SET note = '' WHERE id = 4 AND note IS NULL",
            &[("table", "accounts", "content differs")],
        ),
        (
            "UPDATE accounts SET avatar = set_byte(avatar, 5, (get_byte(avatar, 5) + 1) % 256) WHERE id = 3",
            &[("table", "accounts", "content differs")],
        ),
        (
            "UPDATE accounts SET data = jsonb_set(data, '{nested,x}', '42') WHERE id = 11",
            &[("table", "accounts", "content differs")],
        ),
    ];
    for (i, (sql, _)) in mutations.iter().enumerate() {
        new.psql("postgres", &format!("CREATE DATABASE m{i} TEMPLATE app"))
            .expect("clone the reference copy");
        new.psql(&format!("m{i}"), sql).expect(sql);
    }
    let ex = executor(&lab);
    let source = endpoint(&old, "app");
    let opts = VerifyOptions::default();
    let quiet = |_: String| {};
    let clean = verify(&ex, &source, &endpoint(&new, "app"), &opts, &quiet)
        .await
        .expect("verify the reference copy");
    assert!(clean.matches(), "{}", clean.render());
    assert!(clean.rows > 1800, "{}", clean.summary());
    // One at a time: each verification holds a snapshot session per server while its
    // workers run, and the executor opens at most 8 sessions per host.
    let mut reports = Vec::new();
    for i in 0..mutations.len() {
        let target = endpoint(&new, &format!("m{i}"));
        reports.push(verify(&ex, &source, &target, &opts, &quiet).await);
    }
    for ((sql, expected), report) in mutations.iter().zip(reports) {
        let report = report.expect("verify a damaged copy");
        assert!(
            !report.matches(),
            "not detected: {sql}\n{}",
            report.render()
        );
        assert_eq!(named(&report), set(expected), "{sql}\n{}", report.render());
    }
    ex.disconnect_all().await;
}
