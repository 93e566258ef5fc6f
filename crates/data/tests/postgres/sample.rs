//! The sample schema of the cross-major proof: MusicBrainz's, as the PyPI package `mbdata`
//! (MIT, MetaBrainz Foundation) ships it, which `scripts/install-deps.sh` unpacks into
//! `/opt/cutover/samples/musicbrainz` (`CUTOVER_SAMPLE_ROOT` overrides). It has hundreds of
//! tables in ten schemas, enums, a text search configuration, full-text (GIN) expression
//! indexes, partial and unique indexes, check and foreign-key constraints, deferrable
//! constraint triggers, hundreds of PL/pgSQL and SQL functions and triggers, and views.
//! `sample/extras.sql` (cutover's own) adds, on its tables, what MusicBrainz does not use:
//! partitions, domains, composite and range types, materialized views, generated full-text
//! and stored columns, identity columns, policies, a rule, SQL-standard function bodies, a
//! procedure and an aggregate.

use cutover_testbed::PgServer;

/// Where the sample's SQL files are.
pub fn dir() -> String {
    let root =
        std::env::var("CUTOVER_SAMPLE_ROOT").unwrap_or_else(|_| "/opt/cutover/samples".into());
    format!("{root}/musicbrainz")
}

/// MusicBrainz's schema files in the order its own `InitDb.pl` runs them, each with the
/// `search_path` it expects.
const FILES: &[(&str, &str)] = &[
    ("Extensions.sql", "musicbrainz, public"),
    ("CreateSearchConfiguration.sql", "musicbrainz, public"),
    ("CreateTypes.sql", "musicbrainz, public"),
    ("CreateTables.sql", "musicbrainz, public"),
    ("caa/CreateTables.sql", "musicbrainz, public"),
    ("eaa/CreateTables.sql", "musicbrainz, public"),
    (
        "documentation/CreateTables.sql",
        "documentation, musicbrainz, public",
    ),
    (
        "statistics/CreateTables.sql",
        "statistics, musicbrainz, public",
    ),
    ("wikidocs/CreateTables.sql", "wikidocs, musicbrainz, public"),
    ("report/CreateTables.sql", "report, musicbrainz, public"),
    ("sitemaps/CreateTables.sql", "sitemaps, musicbrainz, public"),
    (
        "json_dump/CreateTables.sql",
        "json_dump, musicbrainz, public",
    ),
    ("dbmirror2/dbmirror2.sql", "musicbrainz, public"),
    ("CreatePrimaryKeys.sql", "musicbrainz, public"),
    ("caa/CreatePrimaryKeys.sql", "musicbrainz, public"),
    ("eaa/CreatePrimaryKeys.sql", "musicbrainz, public"),
    ("documentation/CreatePrimaryKeys.sql", "musicbrainz, public"),
    ("statistics/CreatePrimaryKeys.sql", "musicbrainz, public"),
    ("wikidocs/CreatePrimaryKeys.sql", "musicbrainz, public"),
    ("json_dump/CreatePrimaryKeys.sql", "musicbrainz, public"),
    ("CreateFunctions.sql", "musicbrainz, public"),
    ("CreateMirrorOnlyFunctions.sql", "musicbrainz, public"),
    ("caa/CreateFunctions.sql", "musicbrainz, public"),
    ("eaa/CreateFunctions.sql", "musicbrainz, public"),
    ("CreateIndexes.sql", "musicbrainz, public"),
    ("caa/CreateIndexes.sql", "musicbrainz, public"),
    ("eaa/CreateIndexes.sql", "musicbrainz, public"),
    ("statistics/CreateIndexes.sql", "musicbrainz, public"),
    ("json_dump/CreateIndexes.sql", "musicbrainz, public"),
    ("sitemaps/CreateIndexes.sql", "musicbrainz, public"),
    ("CreateSearchIndexes.sql", "musicbrainz, public"),
    ("CreateFKConstraints.sql", "musicbrainz, public"),
    ("caa/CreateFKConstraints.sql", "musicbrainz, public"),
    ("eaa/CreateFKConstraints.sql", "musicbrainz, public"),
    (
        "documentation/CreateFKConstraints.sql",
        "musicbrainz, public",
    ),
    ("sitemaps/CreateFKConstraints.sql", "musicbrainz, public"),
    ("CreateConstraints.sql", "musicbrainz, public"),
    ("CreateViews.sql", "musicbrainz, public"),
    ("caa/CreateViews.sql", "musicbrainz, public"),
    ("eaa/CreateViews.sql", "musicbrainz, public"),
    ("CreateTriggers.sql", "musicbrainz, public"),
    ("caa/CreateTriggers.sql", "musicbrainz, public"),
    ("eaa/CreateTriggers.sql", "musicbrainz, public"),
    ("CreateReplicationTriggers2.sql", "musicbrainz, public"),
    ("InsertDefaultRows.sql", "musicbrainz, public"),
];

/// The schemas the files create objects in.
const SCHEMAS: &str = "musicbrainz, cover_art_archive, event_art_archive, documentation, statistics, wikidocs, report, sitemaps, json_dump, dbmirror2";

/// cutover's additions (see the module's documentation).
const EXTRAS: &str = include_str!("sample/extras.sql");

/// Creates database `db` on `pg` holding the sample schema, its extras and a few rows, with
/// owners and grants for role `reader` (which must exist).
pub fn load(pg: &PgServer, db: &str) {
    let dir = dir();
    assert!(
        std::path::Path::new(&format!("{dir}/CreateTables.sql")).exists(),
        "the sample schema is missing from {dir}: run scripts/install-deps.sh"
    );
    pg.psql("postgres", &format!("CREATE DATABASE {db}"))
        .expect("create the sample database");
    let schemas: String = SCHEMAS
        .split(", ")
        .map(|s| format!("CREATE SCHEMA {s};\n"))
        .collect();
    // MusicBrainz wants an ICU collation; the PyPI builds have no ICU, so a libc one of the
    // same name stands in (the columns and indexes that use it are unchanged).
    pg.psql(db, &format!("{schemas}CREATE COLLATION musicbrainz.musicbrainz (provider = libc, locale = 'C.UTF-8');"))
        .expect("schemas");
    for (file, path) in FILES {
        pg.shell(&format!(
            "PGOPTIONS='-c search_path={} -c client_min_messages=warning' psql -X -q -v ON_ERROR_STOP=1 -d {db} -f {dir}/{file} >/dev/null",
            path.replace(' ', "")
        ))
        .unwrap_or_else(|e| panic!("load {file}: {e}"));
    }
    pg.psql(db, EXTRAS).expect("the sample's extras");
    pg.psql(
        db,
        "GRANT USAGE ON SCHEMA musicbrainz TO reader;
         GRANT SELECT ON musicbrainz.listen, musicbrainz.recording TO reader;
         GRANT SELECT (id, body) ON musicbrainz.liner_note TO reader;
         GRANT EXECUTE ON FUNCTION musicbrainz.ms_to_text(integer) TO reader;
         REVOKE EXECUTE ON FUNCTION musicbrainz.listens_of(integer) FROM PUBLIC;
         ALTER TABLE musicbrainz.liner_note OWNER TO reader;
         ALTER DOMAIN musicbrainz.country_code OWNER TO reader;",
    )
    .expect("owners and grants");
}

/// Copies database `db` of `from` into a new database on `to` the way a major upgrade does:
/// `pg_dump -Fc` piped into `pg_restore`, both the target's major (run on `to`'s host).
pub fn dump_and_restore(from: &PgServer, to: &PgServer, db: &str) {
    to.psql("postgres", &format!("CREATE DATABASE {db}"))
        .expect("create the target database");
    to.shell(&format!(
        "PGPASSWORD='{pw}' pg_dump -h {addr} -p {port} -U postgres -Fc {db} | pg_restore --exit-on-error -d {db}",
        pw = PgServer::PASSWORD,
        addr = from.address(),
        port = from.port(),
    ))
    .expect("pg_dump -Fc | pg_restore");
}
