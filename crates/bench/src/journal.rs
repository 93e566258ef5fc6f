//! The shared journal: PostgreSQL (on a lab host, fsync on, reached over the lab network)
//! against the SQLite file on the controller, in the same rounds: the latency of one event
//! written durably, a demo-like `cutover apply` with each journal, and the time a second
//! controller takes to resume a run whose controller was killed with SIGKILL.

use crate::files::tools::cutover_bin;
use crate::report::{Row, Section, Target};
use crate::rounds::{self, Cache, Contender, Samples};
use crate::Options;
use cutover_journal::{Event, Journal, PgJournal, PgTarget, PgTls, SqliteJournal};
use cutover_testbed::{Lab, PgOptions, PgServer};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const PASSWORD: &str = "bench-journal-pw";

/// Runs the journal benchmark.
pub fn run(options: &Options) -> anyhow::Result<Section> {
    let lab = Lab::start()?;
    let durable = PgOptions {
        durable: true,
        ..PgOptions::default()
    };
    let pg = PgServer::start(lab.host("new"), 16, 5433, durable)?;
    pg.psql(
        "postgres",
        &format!("CREATE ROLE cutover LOGIN PASSWORD '{PASSWORD}';\nCREATE DATABASE journal OWNER cutover;"),
    )?;
    let dir = tempfile::tempdir_in(lab.dir())?;
    let target = PgTarget {
        host: pg.address().to_string(),
        port: pg.port(),
        user: "cutover".into(),
        dbname: "journal".into(),
        password: Some(PASSWORD.into()),
        tls: PgTls::Disable,
    };
    let url = format!(
        "postgres://cutover:{{{{ secrets.journal_pw }}}}@{}:{}/journal?sslmode=disable",
        pg.address(),
        pg.port()
    );
    let appends = options.scaled(300, 50) as usize;
    let (mut pg_round, mut file_round) = (0, 0);
    let mut latency = [
        Contender::new("postgres", || {
            pg_round += 1;
            let j = PgJournal::open(&target, &format!("append-{pg_round}"))?;
            append_median_ms(&j, appends)
        }),
        Contender::new("sqlite", || {
            file_round += 1;
            let path = dir.path().join(format!("append-{file_round}.db"));
            let j = SqliteJournal::open(&path)?;
            let ms = append_median_ms(&j, appends);
            let _ = std::fs::remove_file(&path);
            ms
        }),
    ];
    let latency = rounds::run(
        options.rounds,
        &Cache::NotRelevant,
        &mut latency,
        |_| Ok(()),
    )?;
    let (mut pg_round, mut file_round) = (0, 0);
    let mut applies = [
        Contender::new("postgres journal", || {
            pg_round += 1;
            demo_apply(&lab, dir.path(), &format!("pg-{pg_round}"), Some(&url))
        }),
        Contender::new("sqlite journal", || {
            file_round += 1;
            demo_apply(&lab, dir.path(), &format!("file-{file_round}"), None)
        }),
    ];
    let applies = rounds::run(
        options.rounds,
        &Cache::NotRelevant,
        &mut applies,
        |_| Ok(()),
    )?;
    let mut failover = Samples::default();
    for round in 0..options.rounds {
        let s = takeover(&lab, dir.path(), &target, &url, round)?;
        eprintln!("     round {}: takeover {s:.3} s", round + 1);
        failover.0.push(s);
    }
    let ratio = Samples(
        applies[0]
            .0
            .iter()
            .zip(&applies[1].0)
            .map(|(pg, file)| pg / file)
            .collect(),
    );
    let pg_latency = latency[0].clone();
    Ok(Section {
        name: "journal",
        setup: format!("`scripts/bench.sh journal`: PostgreSQL 16 on lab host `new` (fsync and synchronous commit on) reached over the lab network, against the SQLite file (synchronous=FULL) on the controller; {appends} events per round for the latency."),
        rounds: options.rounds,
        rows: vec![
            Row {
                what: "one event appended durably (hash-chained), median of a round".into(),
                cache: "-",
                unit: "ms",
                ours: latency[0].clone(),
                baseline: "the SQLite journal file".into(),
                theirs: latency[1].clone(),
                paired: true,
            },
            Row {
                what: "demo-like `cutover apply` (10 run steps on both hosts, a gate-free run)".into(),
                cache: "-",
                unit: "s",
                ours: applies[0].clone(),
                baseline: "the same apply, SQLite journal".into(),
                theirs: applies[1].clone(),
                paired: true,
            },
        ],
        targets: vec![
            Target {
                what: "journal append latency with PostgreSQL, median".into(),
                bound: 5.0,
                unit: "ms",
                measured: pg_latency,
                own: None,
            },
            Target {
                what: "demo-like apply, PostgreSQL journal / SQLite journal".into(),
                bound: 1.10,
                unit: "x",
                measured: ratio,
                own: None,
            },
            Target {
                what: "failover: SIGKILL of the controller mid-step to the second controller's `apply_started` in the journal (started at once, on another lab host)".into(),
                bound: 5.0,
                unit: "s",
                measured: failover,
                own: None,
            },
        ],
        tables: Vec::new(),
        notes: vec!["The lock is released by the server when the killed controller's session ends (the kernel closes its socket); the takeover includes the second `cutover`'s start, its connection and its lock.".into()],
    })
}

/// Appends `n` events of a typical size and returns the median latency in ms.
fn append_median_ms(j: &dyn Journal, n: usize) -> anyhow::Result<f64> {
    let run = j.create_run("bench")?;
    let mut ms = Samples::default();
    for i in 0..n {
        let event = Event::CommandFinished {
            step: format!("step-{}", i % 10),
            host: "new".into(),
            code: Some(0),
            duration_ms: 12,
            stdout: "x".repeat(400),
            stderr: String::new(),
        };
        let t = Instant::now();
        j.append(&run.id, &event)?;
        ms.0.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    Ok(ms.median())
}

fn plan_text(lab: &Lab, name: &str, url: Option<&str>, steps: &str) -> String {
    let journal = url
        .map(|u| format!("journal = \"{u}\"\n"))
        .unwrap_or_default();
    format!(
        "{journal}name = \"{name}\"\n[ssh]\nconfig = \"{}\"\n[hosts.old]\nssh = \"old\"\n[hosts.new]\nssh = \"new\"\n[secrets.journal_pw]\nenv = \"CUTOVER_BENCH_JOURNAL_PW\"\n{steps}",
        lab.ssh_config().display()
    )
}

fn cutover(plan: &Path, args: &[&str]) -> anyhow::Result<Command> {
    let mut c = Command::new(cutover_bin()?);
    c.arg("-f")
        .arg(plan)
        .args(args)
        .env("NO_COLOR", "1")
        .env("CUTOVER_BENCH_JOURNAL_PW", PASSWORD)
        .env_remove("CUTOVER_JOURNAL")
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    Ok(c)
}

/// One `cutover apply` of ten run steps alternating between the hosts; seconds.
fn demo_apply(lab: &Lab, dir: &Path, name: &str, url: Option<&str>) -> anyhow::Result<f64> {
    let mut steps = String::from("[[stages]]\nname = \"move\"\n");
    for i in 0..10 {
        let host = ["old", "new"][i % 2];
        steps.push_str(&format!(
            "[[stages.steps]]\nid = \"s{i}\"\nkind = \"run\"\nhosts = [\"{host}\"]\ncommand = \"echo s{i} > /dev/null\"\n"
        ));
    }
    let plan = dir.join(format!("{name}.toml"));
    std::fs::write(&plan, plan_text(lab, name, url, &steps))?;
    let t = Instant::now();
    let out = cutover(&plan, &["apply", "--yes"])?.output()?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(
        out.status.success(),
        "apply of {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(secs)
}

/// Kills an `apply` inside a 3 s step, starts a second one at once inside host `old`, and
/// returns the seconds from the kill to the second one's `apply_started`.
fn takeover(
    lab: &Lab,
    dir: &Path,
    target: &PgTarget,
    url: &str,
    round: usize,
) -> anyhow::Result<f64> {
    let name = format!("failover-{round}");
    let marker = format!("/srv/failover-{round}");
    let steps = format!(
        "[[stages]]\nname = \"move\"\n[[stages.steps]]\nid = \"slow\"\nkind = \"run\"\nhosts = [\"new\"]\ncommand = \"touch {marker}; sleep 3\"\n"
    );
    let plan = dir.join(format!("{name}.toml"));
    std::fs::write(&plan, plan_text(lab, &name, Some(url), &steps))?;
    let mut first = cutover(&plan, &["apply", "--yes"])?.spawn()?;
    let started = lab.host("new").fs_path(&marker);
    let deadline = Instant::now() + Duration::from_secs(30);
    while !started.exists() {
        anyhow::ensure!(Instant::now() < deadline, "the slow step never started");
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill()?;
    first.wait()?;
    let killed_ms = cutover_journal::now_ms();
    let line = format!(
        "CUTOVER_BENCH_JOURNAL_PW={PASSWORD} NO_COLOR=1 exec {} -f {} apply --yes >/dev/null 2>&1",
        cutover_bin()?.display(),
        plan.display()
    );
    let second = lab.host("old").command(&line).status()?;
    anyhow::ensure!(second.success(), "the second controller failed: {second}");
    let j = PgJournal::open_read_only(target, &name)?;
    let run = j.latest_run()?.ok_or_else(|| anyhow::anyhow!("no run"))?;
    let resumed = j
        .events(&run.id)?
        .into_iter()
        .filter(|r| matches!(r.event, Event::ApplyStarted { .. }))
        .map(|r| r.at_ms)
        .next_back()
        .ok_or_else(|| anyhow::anyhow!("no apply_started"))?;
    Ok((resumed - killed_ms) as f64 / 1000.0)
}
