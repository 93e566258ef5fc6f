//! Benchmarks, separate from the tests: each measures cutover against the baseline a runbook
//! would use (rsync, sha256sum, pg_dump | pg_restore, pgcopydb...) in the same run, on the
//! lab hosts, and prints both figures and their ratio. Run with `scripts/bench.sh [NAME]`.

mod checks;
mod files;
mod postgres;
mod redis;
mod redis_switch;
mod table;
mod traffic;

type Bench = fn() -> anyhow::Result<Vec<table::Row>>;

/// The registry: name, what it measures, the function.
const BENCHES: &[(&str, &str, Bench)] = &[
    (
        "checks",
        "probe engine throughput on loopback (vs a curl loop), prober/soak CPU at 10 probes/s, soak detection + automatic proxy rollback on the lab",
        checks::run,
    ),
    (
        "files",
        "sync (vs rsync -a over ssh) and verification (vs sha256sum lists) of 20k files + 1 GiB; controller memory for 1M files",
        files::run,
    ),
    (
        "traffic",
        "DNS switch until every authoritative server answers; proxy switch + back x10 under load",
        traffic::run,
    ),
    (
        "postgres",
        "PG16 -> PG18, 1.2 GB: copy (vs pg_dump | pg_restore and pgcopydb), verify (vs pg_dump | sha256sum), 10 switches under pgbench load",
        postgres::run,
    ),
    (
        "redis",
        "Redis 7.0 -> 7.0, 1M mixed keys: sync-ready (vs REPLICAOF and --rdb + copy + restart), verify (vs --scan + DUMP + sha256sum), 10 switches under writes, mutation suite",
        redis::run,
    ),
];

fn main() -> anyhow::Result<()> {
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    if wanted.iter().any(|w| w == "--list") {
        for (name, what, _) in BENCHES {
            println!("{name:<12} {what}");
        }
        return Ok(());
    }
    let mut rows = Vec::new();
    for (name, what, bench) in BENCHES {
        if wanted.is_empty() || wanted.iter().any(|w| w == name) {
            eprintln!("== {name}: {what}");
            rows.extend(bench()?);
        }
    }
    table::print(&rows);
    Ok(())
}
