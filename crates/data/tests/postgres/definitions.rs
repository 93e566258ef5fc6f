//! The proof of definitions (issue 10): a real schema dumped from PostgreSQL 15 or 16 and
//! restored on 18 with 18's tools verifies clean, owners and grants included; a change to
//! any definition is named with both sides' normalized text; and the schema half of the
//! proof stays fast on a thousand objects.

use super::fixture::{endpoint, executor, reference_copy, seed, servers};
use super::sample;
use cutover_data::postgres::replication::drift::{self, Drift};
use cutover_data::postgres::{verify, VerifyOptions, VerifyReport};
use std::time::Instant;

fn with_privileges() -> VerifyOptions {
    VerifyOptions {
        privileges: true,
        ..VerifyOptions::default()
    }
}

/// Every difference of `report`, failing or not, as the user reads it.
fn lines(report: &VerifyReport) -> Vec<String> {
    report.differences.iter().map(|d| d.to_string()).collect()
}

/// MusicBrainz's schema and cutover's extras on `old_major`, dumped and restored on 18 with
/// 18's tools, verified with owners and grants: no failing difference; then one definition
/// changed on the target is found (the proof is not blind on this schema).
async fn the_sample_verifies_clean_on_18_from(old_major: u32) {
    let (lab, old, new) = servers(old_major, 18, false);
    for pg in [&old, &new] {
        pg.psql("postgres", "CREATE ROLE reader").expect("role");
    }
    sample::load(&old, "mb");
    sample::dump_and_restore(&old, &new, "mb");
    let ex = executor(&lab);
    let (source, target) = (endpoint(&old, "mb"), endpoint(&new, "mb"));
    let report = verify(&ex, &source, &target, &with_privileges(), &|_| {})
        .await
        .expect("verify the sample");
    assert!(report.matches(), "{}", report.render());
    // Only a newer extension version may be noted (15's earthdistance is 1.1, 18's 1.2).
    for d in &report.differences {
        assert!(
            d.object_kind == "extension" && d.kind == "version differs",
            "{d}"
        );
    }
    let count = |kind: &str| {
        report
            .objects
            .iter()
            .find(|o| o.kind == kind)
            .map_or(0, |o| o.source)
    };
    let total: usize = report.objects.iter().map(|o| o.source).sum();
    assert!(total > 8000, "only {total} objects compared");
    for (kind, at_least) in [
        ("table", 500),
        ("view", 10),
        ("materialized view", 1),
        ("function", 150),
        ("procedure", 1),
        ("aggregate", 1),
        ("trigger", 700),
        ("index", 900),
        ("constraint", 1000),
        ("enum", 5),
        ("domain", 2),
        ("range type", 1),
        ("type", 1),
        ("policy", 2),
        ("rule", 1),
        ("collation", 1),
        ("text search configuration", 1),
    ] {
        assert!(count(kind) >= at_least, "{kind}: {}", count(kind));
    }
    assert!(report.rows > 2000, "{}", report.summary());

    new.psql(
        "mb",
        "CREATE OR REPLACE VIEW musicbrainz.release_event AS
           SELECT release, date_year, date_month, date_day, country FROM musicbrainz.release_country",
    )
    .expect("change a view on the target");
    let changed = verify(&ex, &source, &target, &with_privileges(), &|_| {})
        .await
        .expect("verify again");
    let failing: Vec<String> = changed.failures().map(|d| d.to_string()).collect();
    assert_eq!(failing.len(), 1, "{}", changed.render());
    assert!(
        failing[0].starts_with("view musicbrainz.release_event: query differs (source: "),
        "{}",
        failing[0]
    );
    ex.disconnect_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sample_schema_dumped_from_15_verifies_clean_on_18() {
    the_sample_verifies_clean_on_18_from(15).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_sample_schema_dumped_from_16_verifies_clean_on_18() {
    the_sample_verifies_clean_on_18_from(16).await;
}

/// A damaging statement run on a copy of the fixture, and every difference the proof must
/// then report, exactly as the user reads it.
type Mutation<'a> = (&'a str, &'a [&'a str]);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_definition_mutation_is_named_with_both_definitions() {
    let (lab, old, new) = servers(16, 18, false);
    seed(&old, "app");
    reference_copy(&old, &new, "app");
    let mutations: &[Mutation] = &[
        (
            "CREATE OR REPLACE VIEW active_accounts AS SELECT id, name FROM accounts WHERE NOT active",
            &[
                "extension citext: version differs (source: 1.6; target: 1.8)",
                "view public.active_accounts: query differs (source: SELECT id, name FROM public.accounts WHERE active;; target: SELECT id, name FROM public.accounts WHERE NOT active;)",
            ],
        ),
        (
            "CREATE OR REPLACE FUNCTION audit_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RETURN NEW; END $$",
            &[
                "extension citext: version differs (source: 1.6; target: 1.8)",
                "function public.audit_event(): body differs (source: BEGIN INSERT INTO audit VALUES (NEW.id, NEW.at); RETURN NEW; END; target: BEGIN RETURN NEW; END)",
            ],
        ),
        (
            "CREATE OR REPLACE TRIGGER events_audit AFTER INSERT ON events FOR EACH ROW WHEN (NEW.kind <> 'noise') EXECUTE FUNCTION audit_event()",
            &[
                "extension citext: version differs (source: 1.6; target: 1.8)",
                "trigger public.events.events_audit: definition differs (source: …INSERT ON public.events FOR EACH ROW EXECUTE FUNCTION public.audit_event(); target: …INSERT ON public.events FOR EACH ROW WHEN (new.kind <> 'noise'::text) EXECUTE FUNCTION public.audit_…)",
            ],
        ),
        (
            "ALTER TABLE events DROP CONSTRAINT events_kind_check, ADD CONSTRAINT events_kind_check CHECK (length(kind) > 1)",
            &[
                "constraint public.events.events_kind_check: definition differs (source: CHECK (kind <> ''::text); target: CHECK (length(kind) > 1))",
                "extension citext: version differs (source: 1.6; target: 1.8)",
            ],
        ),
        (
            "ALTER TABLE events DROP CONSTRAINT events_account_id_fkey, ADD CONSTRAINT events_account_id_fkey FOREIGN KEY (account_id) REFERENCES accounts (id) ON DELETE CASCADE",
            &[
                "constraint public.events.events_account_id_fkey: definition differs (source: FOREIGN KEY (account_id) REFERENCES public.accounts(id) ON DELETE SET NULL; target: FOREIGN KEY (account_id) REFERENCES public.accounts(id) ON DELETE CASCADE)",
                "extension citext: version differs (source: 1.6; target: 1.8)",
            ],
        ),
        ("ALTER TABLE events ALTER COLUMN at SET DEFAULT now()", &[
                "column public.events.at: default differs (source: '2024-01-01 00:00:00+00'::timestamp with time zone; target: now())",
                "extension citext: version differs (source: 1.6; target: 1.8)",
            ]),
        (
            "DROP INDEX accounts_created_idx; CREATE INDEX accounts_created_idx ON accounts (born)",
            &[
                "extension citext: version differs (source: 1.6; target: 1.8)",
                "index public.accounts_created_idx: definition differs (source: USING btree (created); target: USING btree (born))",
            ],
        ),
        (
            "DROP INDEX accounts_created_idx; CREATE INDEX accounts_created_idx ON accounts (created) WHERE active",
            &[
                "extension citext: version differs (source: 1.6; target: 1.8)",
                "index public.accounts_created_idx: definition differs (source: USING btree (created); target: USING btree (created) WHERE active)",
            ],
        ),
        (
            "ALTER DOMAIN posint DROP CONSTRAINT posint_check; ALTER DOMAIN posint ADD CONSTRAINT posint_check CHECK (VALUE >= 0)",
            &[
                "constraint public.posint.posint_check: definition differs (source: CHECK (VALUE > 0); target: CHECK (VALUE >= 0))",
                "extension citext: version differs (source: 1.6; target: 1.8)",
            ],
        ),
        (
            "ALTER POLICY audit_recent ON audit USING (seen > '2024-06-01 00:00:00+00')",
            &[
                "extension citext: version differs (source: 1.6; target: 1.8)",
                "policy public.audit.audit_recent: using differs (source: seen > '2020-01-01 00:00:00+00'::timestamp with time zone; target: seen > '2024-06-01 00:00:00+00'::timestamp with time zone)",
            ],
        ),
        ("ALTER FUNCTION audit_event() SECURITY DEFINER SET work_mem = '8MB'", &[
                "extension citext: version differs (source: 1.6; target: 1.8)",
                "function public.audit_event(): security differs (source: (none); target: definer)",
                "function public.audit_event(): settings differs (source: (none); target: work_mem=8MB)",
            ]),
        ("ALTER TABLE events ALTER COLUMN id SET GENERATED BY DEFAULT", &[
                "column public.events.id: identity differs (source: generated always; target: generated by default)",
                "extension citext: version differs (source: 1.6; target: 1.8)",
            ]),
        ("ALTER TABLE accounts ALTER COLUMN code TYPE char(4) COLLATE \"C\"", &[
                "column public.accounts.code: collation differs (source: (none); target: pg_catalog.\"C\")",
                "extension citext: version differs (source: 1.6; target: 1.8)",
            ]),
        ("GRANT SELECT ON accounts TO PUBLIC", &[
                "extension citext: version differs (source: 1.6; target: 1.8)",
                "table public.accounts: privileges differs (source: postgres=arwdDxt/postgres; target: =r/postgres postgres=arwdDxt/postgres)",
            ]),
    ];
    for (i, (sql, _)) in mutations.iter().enumerate() {
        new.psql("postgres", &format!("CREATE DATABASE m{i} TEMPLATE app"))
            .expect("clone the reference copy");
        new.psql(&format!("m{i}"), sql).expect(sql);
    }
    let ex = executor(&lab);
    let source = endpoint(&old, "app");
    let clean = verify(
        &ex,
        &source,
        &endpoint(&new, "app"),
        &with_privileges(),
        &|_| {},
    )
    .await
    .expect("verify the reference copy");
    assert!(clean.matches(), "{}", clean.render());
    let mut seen = Vec::new();
    for i in 0..mutations.len() {
        let target = endpoint(&new, &format!("m{i}"));
        let report = verify(&ex, &source, &target, &with_privileges(), &|_| {})
            .await
            .expect("verify a changed copy");
        seen.push(lines(&report));
    }
    for ((sql, expected), got) in mutations.iter().zip(&seen) {
        assert_eq!(got, expected, "{sql}");
    }
    ex.disconnect_all().await;
}

/// A schema of a thousand objects and more (tables with columns, keys, checks, indexes,
/// views, functions and triggers) compared between a 16 and its copy on 18: the schema half
/// of the proof (both catalogs read, every definition normalized and compared) under 1 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_object_schema_compares_in_under_a_second() {
    let (lab, old, new) = servers(16, 18, false);
    old.psql("postgres", "CREATE DATABASE many").expect("db");
    old.psql(
        "many",
        "DO $$ BEGIN FOR i IN 1..80 LOOP
           EXECUTE format('CREATE TABLE t%s (id int PRIMARY KEY, name text NOT NULL DEFAULT ''n'' CHECK (name <> ''''), at timestamptz DEFAULT now())', i);
           EXECUTE format('CREATE INDEX t%s_name_idx ON t%s (lower(name)) WHERE id > 0', i, i);
           EXECUTE format('CREATE VIEW v%s AS SELECT id, upper(name) AS name FROM t%s WHERE id > 10', i, i);
           EXECUTE format('CREATE FUNCTION f%s() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN NEW.at := now(); RETURN NEW; END $f$', i);
           EXECUTE format('CREATE TRIGGER t%s_touch BEFORE UPDATE ON t%s FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION f%s()', i, i, i);
         END LOOP; END $$",
    )
    .expect("a thousand objects");
    reference_copy(&old, &new, "many");
    let ex = executor(&lab);
    // With their tools known, as the switch has them.
    let (mut source, mut target) = (endpoint(&old, "many"), endpoint(&new, "many"));
    source.bin = Some(old.bin().display().to_string());
    target.bin = Some(new.bin().display().to_string());
    // Once to open the SSH connections, then timed.
    assert_eq!(
        drift::check(&ex, &source, &target, None)
            .await
            .expect("compare"),
        Drift::None
    );
    let started = Instant::now();
    let outcome = drift::check(&ex, &source, &target, None)
        .await
        .expect("compare");
    let took = started.elapsed();
    assert_eq!(outcome, Drift::None);
    let report = verify(&ex, &source, &target, &VerifyOptions::default(), &|_| {})
        .await
        .expect("verify");
    let objects: usize = report.objects.iter().map(|o| o.source).sum();
    assert!(objects >= 1000, "{objects} objects");
    assert!(
        took.as_secs_f64() < 1.0,
        "{objects} objects compared in {took:?}"
    );
    eprintln!("{objects} objects compared in {took:?}");
    ex.disconnect_all().await;
}
