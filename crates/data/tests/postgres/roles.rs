//! Roles the schema needs (issue 19: the schema copy failed with `role "miniflux" does not
//! exist` and no hint): without `roles` the copy and the sync refuse first, naming each
//! missing role and the fix; with it they create the roles from the source's definitions,
//! attributes and memberships, never a password.

use super::fixture::{endpoint, executor, servers};
use cutover_data::postgres::copy::{self, CopyEvent};
use cutover_data::postgres::replication::{self, SyncOptions};
use cutover_data::postgres::CopyOptions;
use std::time::Duration;

fn quiet(_: CopyEvent) {}

const REFUSAL: &str = "\nhint: set `roles = true` on the step to create them from the source's definitions (without passwords), or create them on the target yourself, or set no_owner / no_privileges";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn missing_roles_are_refused_by_name_or_created_without_passwords() {
    let (lab, old, new) = servers(16, 18, true);
    old.psql(
        "postgres",
        "CREATE ROLE miniflux LOGIN CREATEDB PASSWORD 'app-secret' CONNECTION LIMIT 7; CREATE ROLE readers NOLOGIN; GRANT readers TO miniflux; CREATE ROLE auditor NOLOGIN; CREATE DATABASE app OWNER miniflux;",
    )
    .expect("roles");
    old.psql(
        "app",
        "CREATE TABLE feeds (id int PRIMARY KEY, url text); ALTER TABLE feeds OWNER TO miniflux; GRANT SELECT ON feeds TO readers;",
    )
    .expect("schema");
    let ex = executor(&lab);
    let source = endpoint(&old, "app");

    // The copy: refused before anything is created, then done with `roles`.
    let target = endpoint(&new, "copied");
    let refused = copy::copy(&ex, &source, &target, &CopyOptions::default(), &quiet)
        .await
        .expect_err("missing roles are refused");
    assert_eq!(
        refused.to_string(),
        format!("role(s) owning or granted objects on the source do not exist on the target: miniflux, readers{REFUSAL}")
    );
    assert_eq!(
        new.psql(
            "postgres",
            "SELECT count(*) FROM pg_database WHERE datname = 'copied'"
        )
        .expect("dbs")
        .trim(),
        "0",
        "nothing was created"
    );
    let with_roles = CopyOptions {
        roles: true,
        ..CopyOptions::default()
    };
    copy::copy(&ex, &source, &target, &with_roles, &quiet)
        .await
        .expect("copy with roles");
    assert_eq!(
        new.psql(
            "postgres",
            "SELECT rolname, rolcanlogin, rolcreatedb, rolconnlimit, rolpassword IS NULL FROM pg_authid WHERE rolname IN ('miniflux', 'readers', 'auditor') ORDER BY 1",
        )
        .expect("roles on new")
        .trim(),
        "miniflux|t|t|7|t\nreaders|f|f|-1|t",
        "the roles the schema needs, as defined on old, without a password; auditor is not needed"
    );
    assert_eq!(
        new.psql(
            "postgres",
            "SELECT pg_has_role('miniflux', 'readers', 'MEMBER')"
        )
        .expect("membership")
        .trim(),
        "t"
    );
    assert_eq!(
        new.psql(
            "copied",
            "SELECT tableowner FROM pg_tables WHERE tablename = 'feeds'"
        )
        .expect("owner")
        .trim(),
        "miniflux"
    );

    // The sync (where the issue met it): a role granted since is refused, then created.
    old.psql("app", "GRANT SELECT ON feeds TO auditor;")
        .expect("grant");
    let target = endpoint(&new, "app");
    let mut options = SyncOptions {
        source_address: old.address().to_string(),
        timeout: Duration::from_secs(120),
        ..SyncOptions::default()
    };
    let refused = replication::sync(&ex, &source, &target, &options, &|_| {})
        .await
        .expect_err("missing roles are refused");
    assert_eq!(
        refused.to_string(),
        format!("role(s) owning or granted objects on the source do not exist on the target: auditor{REFUSAL}")
    );
    options.roles = true;
    replication::sync(&ex, &source, &target, &options, &|_| {})
        .await
        .expect("sync with roles");
    assert_eq!(
        new.psql(
            "app",
            "SELECT has_table_privilege('auditor', 'feeds', 'SELECT')"
        )
        .expect("grant on new")
        .trim(),
        "t"
    );
    replication::undo_sync(&ex, &source, &target, &options)
        .await
        .expect("undo");
    ex.disconnect_all().await;
}
