//! The copy across major versions, proven by the verifier: every kind of object arrives,
//! through the controller or with both ends on one host, and the preflight refuses what
//! would fail halfway.

use super::fixture::{endpoint, executor, seed, servers};
use cutover_data::postgres::copy::{self, CopyEvent};
use cutover_data::postgres::{verify, CopyOptions, PgError, VerifyOptions};
use std::sync::Mutex;

fn quiet(_: CopyEvent) {}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_16_to_18_through_the_controller_and_the_copy_verifies() {
    let (lab, old, new) = servers(16, 18, false);
    seed(&old, "app");
    let ex = executor(&lab);
    let (source, target) = (endpoint(&old, "app"), endpoint(&new, "app"));
    let tables = Mutex::new(Vec::new());
    let on_event = |e: CopyEvent| {
        if let CopyEvent::TableDone(t) = e {
            tables.lock().unwrap().push(t);
        }
    };
    // Small split threshold: the accounts table is copied in several page ranges at once.
    let options = CopyOptions {
        split_bytes: 32 << 10,
        ..CopyOptions::default()
    };
    let report = copy::copy(&ex, &source, &target, &options, &on_event)
        .await
        .expect("copy");
    assert_eq!(report.tables.len(), 7, "{report:?}");
    assert!(report.rows >= 2700 && report.bytes > 100_000, "{report:?}");
    assert_eq!(report.large_objects, 1);
    let accounts = tables
        .lock()
        .unwrap()
        .iter()
        .find(|t| t.name == "accounts")
        .cloned()
        .expect("accounts reported");
    assert_eq!(accounts.rows, 600);
    let proof = verify(&ex, &source, &target, &VerifyOptions::default(), &|_| {})
        .await
        .expect("verify");
    assert!(proof.matches(), "{}", proof.render());
    // Applying again changes nothing: the finished copy is recognised and refused.
    assert!(copy::is_complete(&ex, &target).await.expect("state"));
    let again = copy::copy(&ex, &source, &target, &options, &quiet).await;
    assert!(
        matches!(&again, Err(PgError::Precondition { problem, .. }) if problem.contains("finished copy")),
        "{again:?}"
    );
    // Rollback drops the database the copy created.
    let undone = copy::undo(&ex, &target).await.expect("undo");
    assert!(undone.contains("dropped"), "{undone}");
    assert!(!new
        .psql("postgres", "SELECT datname FROM pg_database")
        .expect("list")
        .contains("app"));
    ex.disconnect_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn copies_15_to_18_with_both_ends_on_the_new_host() {
    let (lab, old, new) = servers(15, 18, false);
    seed(&old, "app");
    let ex = executor(&lab);
    // The new host's PostgreSQL 18 tools dump the old server over the network.
    let mut source = endpoint(&old, "app");
    source.host = "new".into();
    source.address = old.address().to_string();
    let target = endpoint(&new, "app");
    let report = copy::copy(&ex, &source, &target, &CopyOptions::default(), &quiet)
        .await
        .expect("copy");
    assert!(report.route.contains("on host `new`"), "{}", report.route);
    assert!(report.tools.contains("18."), "{}", report.tools);
    let proof = verify(
        &ex,
        &endpoint(&old, "app"),
        &target,
        &VerifyOptions::default(),
        &|_| {},
    )
    .await
    .expect("verify");
    assert!(proof.matches(), "{}", proof.render());
    ex.disconnect_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn preflight_refuses_a_foreign_target_and_missing_roles_and_resumes_an_interrupted_copy() {
    let (lab, old, new) = servers(16, 18, false);
    seed(&old, "app");
    old.psql(
        "app",
        "CREATE ROLE shop_owner; ALTER TABLE accounts OWNER TO shop_owner; GRANT SELECT ON events TO PUBLIC;",
    )
    .expect("owner");
    let ex = executor(&lab);
    let source = endpoint(&old, "app");
    let target = endpoint(&new, "app");
    let opts = CopyOptions::default();

    let err = copy::copy(&ex, &source, &target, &opts, &quiet)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("shop_owner") && text.contains("no_owner"),
        "{text}"
    );

    new.psql("postgres", "CREATE DATABASE app").expect("db");
    new.psql("app", "CREATE TABLE precious (id int)")
        .expect("table");
    let no_owner = CopyOptions {
        no_owner: true,
        ..CopyOptions::default()
    };
    let err = copy::copy(&ex, &source, &target, &no_owner, &quiet)
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("not empty") && text.contains("not created by cutover"),
        "{text}"
    );
    assert!(
        new.psql("app", "SELECT count(*) FROM precious").is_ok(),
        "left untouched"
    );

    // A copy interrupted halfway (its database created by cutover) is dropped and redone.
    new.psql("postgres", "DROP DATABASE app").expect("drop");
    copy::target::create(&ex, &tools_set(&ex, &target).await, "UTF8", "test")
        .await
        .expect("create as an interrupted copy would");
    new.psql("app", "CREATE TABLE accounts (half_copied int)")
        .expect("partial");
    copy::copy(&ex, &source, &target, &no_owner, &quiet)
        .await
        .expect("copy again");
    let proof = verify(&ex, &source, &target, &VerifyOptions::default(), &|_| {})
        .await
        .expect("verify");
    // Owners differ by design with no_owner; the data and schema match.
    assert!(proof.matches(), "{}", proof.render());
    assert_eq!(
        new.psql(
            "app",
            "SELECT tableowner FROM pg_tables WHERE tablename = 'accounts'"
        )
        .expect("owner")
        .trim(),
        "postgres"
    );
    ex.disconnect_all().await;
}

async fn tools_set(
    ex: &cutover_exec::Executor,
    ep: &cutover_data::postgres::Endpoint,
) -> cutover_data::postgres::Endpoint {
    let mut e = ep.clone();
    e.bin = Some(
        cutover_data::postgres::tools::select(ex, ep, None, false, 0)
            .await
            .expect("tools")
            .bin,
    );
    e
}
