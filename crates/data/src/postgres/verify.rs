//! `verify`: the proof that a copy is whole. Each server computes its own row counts and
//! content checksums (see [`super::checksum`]) in parallel sessions that all read one exported
//! snapshot; only one line per table travels back. Then schema objects, sequences and
//! tables are compared and every difference is named.

use super::checksum::{common_class, large_objects_query, table_query, Chunk, HashClass, Hashed};
use super::compare::{self, TableTallies};
use super::definitions::Scope;
use super::endpoint::Endpoint;
use super::error::PgError;
use super::inventory::{self, Inventory, Relation};
use super::normalize::Normalizer;
use super::report::{Side, Tally, VerifyReport};
use super::session::{run_streaming, SnapshotHolder};
use super::sql::literal;
use super::tools;
use cutover_exec::Executor;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

/// How a verification runs.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Parallel sessions per server.
    pub jobs: usize,
    /// Tables larger than this are split into page ranges across sessions (PostgreSQL 14+).
    /// High by default: below it, PostgreSQL's own parallel query splits a table's scan
    /// at less cost (measured: 8 M rows in two tables verified in 1.9 s whole, 2.6-3 s in
    /// 256 MB ranges).
    pub split_bytes: u64,
    /// All sessions of a server read one exported snapshot (a consistent instant). The
    /// snapshot is held by one more session per server for the whole verification: run
    /// verifications through one executor one at a time (it opens at most 8 sessions per
    /// host, and many waiting snapshot holders could take them all).
    pub consistent: bool,
    /// Compare owners and privileges (grants) too. Off by default: copies are often made
    /// with `--no-owner`/`--no-privileges` on purpose.
    pub privileges: bool,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            jobs: 4,
            split_bytes: 8 << 30,
            consistent: true,
            privileges: false,
        }
    }
}

/// Progress lines while verifying.
pub type Progress<'a> = &'a (dyn Fn(String) + Send + Sync);

/// A server ready to be verified: its tools found, its version and inventory read.
pub struct Prepared {
    /// The endpoint, with `bin` set to the tools found.
    pub ep: Endpoint,
    /// `server_version_num`.
    pub version_num: u32,
    /// What it holds.
    pub inventory: Inventory,
}

/// Finds `psql` on the endpoint's host, reads the server's version and its inventory.
pub async fn prepare(exec: &Executor, ep: &Endpoint, scope: Scope) -> Result<Prepared, PgError> {
    let mut ep = ep.clone();
    if ep.bin.is_none() {
        ep.bin = Some(tools::select(exec, &ep, None, false, 0).await?.bin);
    }
    let version_num = tools::server_version(exec, &ep).await?;
    tools::check_supported(&ep, version_num)?;
    let inventory = inventory::read(exec, &ep, version_num, scope).await?;
    Ok(Prepared {
        ep,
        version_num,
        inventory,
    })
}

/// `160015` as `16.15`.
pub fn version_text(num: u32) -> String {
    format!(
        "{}.{}",
        tools::major_of(num),
        num % if num >= 100_000 { 10_000 } else { 100 }
    )
}

/// Verifies that `target` holds what `source` holds.
pub async fn verify(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    options: &VerifyOptions,
    progress: Progress<'_>,
) -> Result<VerifyReport, PgError> {
    let started = Instant::now();
    let scope = Scope {
        privileges: options.privileges,
    };
    let (s, t) = tokio::join!(prepare(exec, source, scope), prepare(exec, target, scope));
    let (s, t) = (s?, t?);
    progress(format!(
        "source: {} tables, {} objects; target: {} tables, {} objects",
        s.inventory.relations.len(),
        s.inventory.objects.len(),
        t.inventory.relations.len(),
        t.inventory.objects.len()
    ));
    let items = data_items(&s.inventory, &t.inventory);
    let (sr, tr) = tokio::join!(
        checksums(exec, &s, &items, Role::Source, options, progress),
        checksums(exec, &t, &items, Role::Target, options, progress)
    );
    let (sr, tr) = (sr?, tr?);
    Ok(build_report(&s, &t, items, &sr, &tr, started))
}

fn build_report(
    s: &Prepared,
    t: &Prepared,
    items: Vec<DataItem>,
    sr: &HashMap<usize, Tally>,
    tr: &HashMap<usize, Tally>,
    started: Instant,
) -> VerifyReport {
    let normalizer = normalizer(&s.inventory, &t.inventory);
    let (mut differences, objects) =
        compare::objects(&s.inventory.objects, &t.inventory.objects, &normalizer);
    let (sequences, seq_diffs) = compare::sequences(&s.inventory.sequences, &t.inventory.sequences);
    differences.extend(seq_diffs);
    let tallies = |side: &Option<bool>, results: &HashMap<usize, Tally>, tag: usize| match side {
        None => None,
        Some(false) => Some(None),
        Some(true) => Some(Some(
            results
                .get(&tag)
                .copied()
                .unwrap_or(Tally { rows: 0, sum: 0 }),
        )),
    };
    let rows = sr.values().map(|t| t.rows).sum();
    let table_items = items
        .into_iter()
        .enumerate()
        .map(|(tag, it)| TableTallies {
            source: tallies(&it.on_source, sr, tag),
            target: tallies(&it.on_target, tr, tag),
            schema: it.schema,
            name: it.name,
            kind: it.kind,
        })
        .collect();
    let (tables, table_diffs) = compare::tables(table_items);
    differences.extend(table_diffs);
    VerifyReport {
        source: Side {
            endpoint: s.ep.describe(),
            version: version_text(s.version_num),
        },
        target: Side {
            endpoint: t.ep.describe(),
            version: version_text(t.version_num),
        },
        tables,
        sequences,
        objects,
        differences,
        rows,
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// How the definitions of `s` and `t` are normalized before they are compared.
pub fn normalizer(s: &Inventory, t: &Inventory) -> Normalizer {
    let schemas = s
        .objects
        .iter()
        .chain(&t.objects)
        .filter(|o| o.kind == "schema")
        .map(|o| o.schema.as_str());
    Normalizer::new(s.major(), t.major(), schemas)
}

/// Something whose rows are counted and hashed on both sides.
struct DataItem {
    schema: String,
    name: String,
    kind: String,
    /// `None`: absent on that side; `Some(false)`: present but unreadable (unpopulated).
    on_source: Option<bool>,
    on_target: Option<bool>,
    /// Columns hashed on both sides, with the class both use.
    columns: Vec<(String, HashClass)>,
}

const LARGE_OBJECTS: &str = "(large objects)";

fn data_items(s: &Inventory, t: &Inventory) -> Vec<DataItem> {
    let mut names: Vec<(&str, &str)> = s
        .relations
        .iter()
        .chain(&t.relations)
        .filter(|r| r.holds_rows())
        .map(|r| (r.schema.as_str(), r.name.as_str()))
        .collect();
    names.sort();
    names.dedup();
    let readable = |r: Option<&Relation>| r.filter(|r| r.holds_rows()).map(|r| r.populated);
    let mut items: Vec<DataItem> = names
        .into_iter()
        .map(|(schema, name)| {
            let (a, b) = (s.relation(schema, name), t.relation(schema, name));
            let mut columns: Vec<(String, HashClass)> = match (a, b) {
                (Some(a), Some(b)) => a
                    .columns
                    .iter()
                    .filter_map(|ca| {
                        let cb = b.columns.iter().find(|c| c.name == ca.name)?;
                        Some((ca.name.clone(), common_class(ca, cb)))
                    })
                    .collect(),
                _ => Vec::new(),
            };
            columns.sort_by(|x, y| x.0.cmp(&y.0));
            let kind = match a.or(b).map(|r| r.relkind) {
                Some('m') => "materialized view",
                _ => "table",
            };
            DataItem {
                schema: schema.into(),
                name: name.into(),
                kind: kind.into(),
                on_source: readable(a),
                on_target: readable(b),
                columns,
            }
        })
        .collect();
    items.push(DataItem {
        schema: String::new(),
        name: LARGE_OBJECTS.into(),
        kind: "large objects".into(),
        on_source: Some(true),
        on_target: Some(true),
        columns: Vec::new(),
    });
    items
}

#[derive(Clone, Copy)]
enum Role {
    Source,
    Target,
}

/// One query of a worker's script, with its estimated cost (bytes read).
struct Unit {
    query: String,
    cost: u64,
}

async fn checksums(
    exec: &Executor,
    side: &Prepared,
    items: &[DataItem],
    role: Role,
    options: &VerifyOptions,
    progress: Progress<'_>,
) -> Result<HashMap<usize, Tally>, PgError> {
    let block = 8192u64;
    let split_ok = tools::major_of(side.version_num) >= 14;
    let mut units = Vec::new();
    for (tag, it) in items.iter().enumerate() {
        let present = match role {
            Role::Source => it.on_source,
            Role::Target => it.on_target,
        };
        if present != Some(true) {
            continue;
        }
        if it.name == LARGE_OBJECTS && it.schema.is_empty() {
            units.push(Unit {
                query: large_objects_query(tag),
                cost: 0,
            });
            continue;
        }
        let rel = side.inventory.relation(&it.schema, &it.name);
        let bytes = rel.map_or(0, |r| r.bytes);
        let columns: Vec<Hashed> = it
            .columns
            .iter()
            .map(|(name, class)| {
                let own = rel.and_then(|r| r.columns.iter().find(|c| &c.name == name));
                Hashed {
                    name: name.clone(),
                    class: *class,
                    builtin_type: own.and_then(|c| c.builtin_type.clone()),
                }
            })
            .collect();
        let parts = if split_ok && options.split_bytes > 0 {
            bytes.div_ceil(options.split_bytes).min(options.jobs as u64)
        } else {
            1
        };
        for chunk in Chunk::split(bytes / block + 1, parts) {
            units.push(Unit {
                query: table_query(tag, &it.schema, &it.name, &columns, chunk),
                cost: bytes / parts.max(1) + block,
            });
        }
    }
    let total = units.len();
    let buckets = schedule(units, options.jobs.max(1));
    let holder = if options.consistent && buckets.len() > 1 {
        Some(SnapshotHolder::open(exec, &side.ep).await?)
    } else {
        None
    };
    let begin = match &holder {
        Some(h) => format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSET TRANSACTION SNAPSHOT {};\n",
            literal(&h.id)
        ),
        None => "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\n".to_string(),
    };
    let label = match role {
        Role::Source => "source",
        Role::Target => "target",
    };
    let done = AtomicUsize::new(0);
    let results = std::sync::Mutex::new(HashMap::<usize, Tally>::new());
    let bad_line = std::sync::Mutex::new(None::<String>);
    let workers = buckets.into_iter().map(|bucket| {
        let script: String = std::iter::once(begin.clone())
            .chain(
                bucket
                    .iter()
                    .map(|u| format!("COPY ({}) TO STDOUT;\n", u.query)),
            )
            .chain(std::iter::once("COMMIT;\n".to_string()))
            .collect();
        let (done, results, bad_line) = (&done, &results, &bad_line);
        async move {
            let mut on_line = |line: &str| {
                match parse_tally(line) {
                    Some((tag, tally)) => {
                        let mut map = results.lock().unwrap_or_else(|p| p.into_inner());
                        let e = map.entry(tag).or_insert(Tally { rows: 0, sum: 0 });
                        e.rows += tally.rows;
                        e.sum += tally.sum;
                    }
                    None => {
                        *bad_line.lock().unwrap_or_else(|p| p.into_inner()) = Some(line.to_string())
                    }
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n == total || n.is_multiple_of(20) {
                    progress(format!("{label}: {n}/{total} checksums computed"));
                }
            };
            run_streaming(
                exec,
                &side.ep,
                &format!("checksum the {label}'s tables"),
                &script,
                &mut on_line,
            )
            .await
        }
    });
    let outcome = futures_util::future::join_all(workers).await;
    if let Some(h) = holder {
        h.close().await;
    }
    for r in outcome {
        r?;
    }
    if let Some(line) = bad_line.into_inner().unwrap_or_else(|p| p.into_inner()) {
        return Err(PgError::Protocol {
            what: format!("the {label}'s checksum queries"),
            host: side.ep.host.clone(),
            detail: format!("unreadable line `{line}`"),
        });
    }
    Ok(results.into_inner().unwrap_or_else(|p| p.into_inner()))
}

fn parse_tally(line: &str) -> Option<(usize, Tally)> {
    let mut f = line.split('\t');
    let tag = f.next()?.parse().ok()?;
    let rows = f.next()?.parse().ok()?;
    let sum = f.next()?.parse().ok()?;
    Some((tag, Tally { rows, sum }))
}

/// Longest-processing-time-first: the biggest units go first, each to the least loaded
/// worker, so sessions finish close together.
fn schedule(mut units: Vec<Unit>, workers: usize) -> Vec<Vec<Unit>> {
    units.sort_by_key(|u| std::cmp::Reverse(u.cost));
    let mut buckets: Vec<(u64, Vec<Unit>)> = (0..workers.min(units.len()).max(1))
        .map(|_| (0, Vec::new()))
        .collect();
    for u in units {
        if let Some(b) = buckets.iter_mut().min_by_key(|b| b.0) {
            b.0 += u.cost;
            b.1.push(u);
        }
    }
    buckets
        .into_iter()
        .map(|b| b.1)
        .filter(|b| !b.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_biggest_first_to_the_least_loaded() {
        let units = [10, 1, 7, 3, 3]
            .iter()
            .map(|c| Unit {
                query: c.to_string(),
                cost: *c,
            })
            .collect();
        let b = schedule(units, 2);
        let costs: Vec<u64> = b.iter().map(|b| b.iter().map(|u| u.cost).sum()).collect();
        assert_eq!(costs, vec![13, 11]);
    }

    #[test]
    fn reads_result_lines() {
        assert_eq!(
            parse_tally("3\t10\t-123456789012345678901"),
            Some((
                3,
                Tally {
                    rows: 10,
                    sum: -123456789012345678901
                }
            ))
        );
        assert_eq!(parse_tally("x"), None);
        assert_eq!(version_text(160015), "16.15");
        assert_eq!(version_text(180000), "18.0");
    }
}
