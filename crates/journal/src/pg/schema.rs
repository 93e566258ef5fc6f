//! The journal's tables in the `cutover` schema of the shared database: created and migrated
//! by cutover, versioned in `cutover.schema_version`.
//!
//! Events and runs are append-only, and the server enforces it: triggers raise on UPDATE,
//! DELETE and TRUNCATE whoever asks (the owner included), and those privileges are revoked
//! from PUBLIC. Checkpoints (each long step's latest working state) and the lock holders
//! are the mutable part, as in the SQLite journal.

use postgres::{Client, GenericClient};

/// The version this cutover writes; a newer one is refused.
pub(crate) const SCHEMA_VERSION: i32 = 1;

/// Serializes schema creation and migration between controllers starting at once.
const MIGRATION_LOCK: i64 = 0x4355_544A_0000_0001;

/// Version 1, whole.
const VERSION_1: &str = r#"
CREATE SCHEMA IF NOT EXISTS cutover;
CREATE TABLE cutover.schema_version (version integer NOT NULL);
CREATE TABLE cutover.runs (
    id text PRIMARY KEY,
    plan_key text NOT NULL,
    plan text NOT NULL,
    started_ms bigint NOT NULL
);
CREATE INDEX runs_plan ON cutover.runs (plan_key, started_ms);
CREATE TABLE cutover.events (
    seq bigserial PRIMARY KEY,
    plan_key text NOT NULL,
    run text NOT NULL REFERENCES cutover.runs(id),
    at_ms bigint NOT NULL,
    kind text NOT NULL,
    step text,
    body text NOT NULL,
    hash text NOT NULL
);
CREATE INDEX events_run ON cutover.events (run, seq);
CREATE INDEX events_plan ON cutover.events (plan_key, seq);
CREATE TABLE cutover.checkpoints (
    run text NOT NULL REFERENCES cutover.runs(id),
    step text NOT NULL,
    at_ms bigint NOT NULL,
    body text NOT NULL,
    PRIMARY KEY (run, step)
);
CREATE TABLE cutover.holders (
    plan_key text PRIMARY KEY,
    backend_pid integer NOT NULL,
    pid bigint NOT NULL,
    operator text NOT NULL,
    command text NOT NULL,
    since_ms bigint NOT NULL
);
CREATE FUNCTION cutover.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'cutover journal: % of %.% refused: the journal is append-only',
        TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER events_append_only BEFORE UPDATE OR DELETE ON cutover.events
    FOR EACH ROW EXECUTE FUNCTION cutover.refuse_change();
CREATE TRIGGER events_no_truncate BEFORE TRUNCATE ON cutover.events
    FOR EACH STATEMENT EXECUTE FUNCTION cutover.refuse_change();
CREATE TRIGGER runs_append_only BEFORE UPDATE OR DELETE ON cutover.runs
    FOR EACH ROW EXECUTE FUNCTION cutover.refuse_change();
CREATE TRIGGER runs_no_truncate BEFORE TRUNCATE ON cutover.runs
    FOR EACH STATEMENT EXECUTE FUNCTION cutover.refuse_change();
REVOKE UPDATE, DELETE, TRUNCATE ON cutover.events, cutover.runs FROM PUBLIC;
INSERT INTO cutover.schema_version (version) VALUES (1);
"#;

/// What the database holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Found {
    /// No journal yet.
    Nothing,
    /// A journal of this version.
    Version(i32),
}

/// The journal's version in the database, without changing anything.
pub(crate) fn find(client: &mut impl GenericClient) -> Result<Found, postgres::Error> {
    let table: Option<String> = client
        .query_one("SELECT to_regclass('cutover.schema_version')::text", &[])?
        .get(0);
    if table.is_none() {
        return Ok(Found::Nothing);
    }
    let version: Option<i32> = client
        .query_one("SELECT max(version) FROM cutover.schema_version", &[])?
        .get(0);
    Ok(version.map(Found::Version).unwrap_or(Found::Nothing))
}

/// Creates the journal, or migrates it to [`SCHEMA_VERSION`], in one transaction under a
/// lock, so two controllers starting at once create it once. Returns the version found
/// first; a newer one than ours is the caller's to refuse.
pub(crate) fn create_or_migrate(client: &mut Client) -> Result<Found, postgres::Error> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])?;
    let found = find(&mut tx)?;
    match found {
        Found::Nothing => tx.batch_execute(VERSION_1)?,
        // Migrations from older versions go here, one per version, in order.
        Found::Version(_) => {}
    }
    tx.commit()?;
    Ok(found)
}
