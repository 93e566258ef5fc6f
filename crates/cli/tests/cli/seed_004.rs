//! Seed 004 (examples/seeds/004-blue-green-compose): the runbook's blue/green release of the
//! recall API, run with `-e lab` on a lab host under a client writing orders through the
//! proxy. Yesterday's release goes live on blue; the next goes to green, is watched and
//! blue is retired, with no request failed and every acknowledged write in the database; a
//! third release fails `/readyz` after the switch and the watch puts traffic back on green
//! (the previous colour and image tag) by itself, nothing lost.

use crate::compose_fixture::DockerLab;
use crate::fixture::Run;
use cutover_testbed::load::{LoadOptions, WriteLoad};
use cutover_testbed::{images, LabHost, PgOptions, PgServer};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const SEED: &str = "004-blue-green-compose";
const REPO: &str = "ghcr.io/recall/recall/api";
const DB_PASSWORD: &str = "recall-db-pw";

/// The seed's plan copied into a directory of its own, made to fit this lab: the lab
/// environment's demo-lab paths and address become this slot's, and the runbook's waits
/// (durations are not `[vars]` values yet) are shortened. Every replaced text must be there.
fn seed_plan(dir: &Path, lab_dir: &Path, new: &LabHost, tag: &str) {
    let seed = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seeds")
        .join(SEED);
    let text = std::fs::read_to_string(seed.join("cutover.toml")).expect("read the seed plan");
    let pg_root = cutover_testbed::postgres::pg_bin(16);
    let replacements = [
        (
            "image_tag = \"sha-2222222\"",
            format!("image_tag = \"{tag}\""),
        ),
        ("/var/lib/cutover-lab/demo", lab_dir.display().to_string()),
        ("198.51.100.20", new.address().to_string()),
        ("/opt/cutover/pg/16/bin", pg_root.display().to_string()),
        ("duration = \"15m\"", "duration = \"3s\"".into()),
        ("drain = \"30s\"", "drain = \"1s\"".into()),
    ];
    let mut text = text;
    for (from, to) in replacements {
        assert!(text.contains(from), "the seed plan no longer has `{from}`");
        text = text.replace(from, &to);
    }
    std::fs::create_dir_all(dir.join("deploy")).expect("mkdir");
    std::fs::write(dir.join("cutover.toml"), text).expect("write plan");
    std::fs::copy(
        seed.join("deploy/docker-compose.yml"),
        dir.join("deploy/docker-compose.yml"),
    )
    .expect("copy the compose file");
}

/// The announcement webhook: answers 200 and keeps every body it got.
fn announce_receiver() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!(
        "http://{}/hooks/recall",
        listener.local_addr().expect("addr")
    );
    let got = Arc::new(Mutex::new(Vec::new()));
    let keep = got.clone();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while let Ok(n) = s.read(&mut chunk) {
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let len = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= len {
                        keep.lock().unwrap().push(body.to_string());
                        break;
                    }
                }
            }
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    (url, got)
}

/// HAProxy on `new` at port 80 with its admin socket at the plan's `/run/haproxy/admin.sock`
/// (bind-mounted from the host's private /tmp, so that only this host sees it), its one
/// server pointing at a port nothing serves yet: the first release finds no live colour.
fn start_proxy(new: &LabHost) -> Child {
    new.exec_ok(
        "mkdir -p /tmp/haproxy-run /run/haproxy && mount --bind /tmp/haproxy-run /run/haproxy",
    )
    .expect("private /run/haproxy");
    let a = new.address();
    let conf = format!(
        "global\n  stats socket /run/haproxy/admin.sock mode 600 level admin\n\
defaults\n  mode http\n  timeout connect 2s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\n\
frontend web\n  bind {a}:80\n  default_backend recall\n\
backend recall\n  server api {a}:8999\n"
    );
    std::fs::write(new.fs_path("/tmp/haproxy.cfg"), conf).expect("haproxy config");
    let child = new
        .spawn("exec haproxy -db -f /tmp/haproxy.cfg")
        .expect("haproxy");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect((a, 80)).is_err() {
        assert!(Instant::now() < deadline, "haproxy does not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn cutover(plan: &Path, args: &[&str], announce: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.arg("-e")
        .arg("lab")
        .arg("-f")
        .arg(plan)
        .args(args)
        .env("NO_COLOR", "1")
        .env("RECALL_DB_PASSWORD", DB_PASSWORD)
        .env("RECALL_ANNOUNCE_URL", announce);
    c
}

/// A figure the report measured for `step`.
fn measured(report: &serde_json::Value, step: &str, name: &str) -> f64 {
    fn find<'a>(v: &'a serde_json::Value, step: &str) -> Option<&'a serde_json::Value> {
        match v {
            serde_json::Value::Object(m) => {
                if m.get("id").and_then(|i| i.as_str()) == Some(step)
                    && m.contains_key("measurements")
                {
                    return Some(v);
                }
                m.values().find_map(|x| find(x, step))
            }
            serde_json::Value::Array(a) => a.iter().find_map(|x| find(x, step)),
            _ => None,
        }
    }
    let s = find(report, step).unwrap_or_else(|| panic!("no step {step} in the report: {report}"));
    s["measurements"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["name"] == name))
        .and_then(|m| m["value"].as_f64())
        .unwrap_or_else(|| panic!("no {name} for {step}: {s}"))
}

fn get(addr: &str, path: &str) -> (u16, String) {
    DockerLab::get(addr, path)
}

/// The order ids in the database.
fn orders(pg: &PgServer) -> Vec<i64> {
    pg.psql("recall", "SELECT id FROM orders")
        .expect("ids")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

#[test]
fn seed_004_blue_green_release_and_its_automatic_rollback() {
    let started = Instant::now();
    let d = DockerLab::start(&["new"]);
    let new = d.lab.host("new");
    let pg = PgServer::start(new, 16, 5432, PgOptions::default()).expect("pg16");
    pg.psql(
        "postgres",
        &format!("CREATE ROLE recall LOGIN PASSWORD '{DB_PASSWORD}'; CREATE DATABASE recall OWNER recall;"),
    )
    .expect("recall database");
    for tag in ["sha-1111111", "sha-2222222", "sha-3333333"] {
        images::app_named(
            new,
            d.docker("new"),
            &format!("{REPO}:{tag}"),
            "recall-api",
            tag,
        )
        .expect("image");
    }
    let mut proxy = start_proxy(new);
    let front = format!("{}:80", new.address());
    let (announce, announced) = announce_receiver();
    let dir = tempfile::tempdir().expect("tempdir");
    let plan: PathBuf = dir.path().join("cutover.toml");
    let run = |args: &[&str]| Run(cutover(&plan, args, &announce).output().expect("cutover"));

    // Yesterday's release, sha-1111111, goes live on blue (no colour served before).
    seed_plan(dir.path(), d.lab.dir(), new, "sha-1111111");
    let out = run(&["apply", "--yes"]).expect(0).stdout();
    assert!(
        out.contains("blue live: recall-blue: api ghcr.io/recall/recall/api:sha-1111111"),
        "{out}"
    );
    assert_eq!(
        get(&front, "/version"),
        (
            200,
            r#"{"service":"recall-api","version":"sha-1111111"}"#.into()
        )
    );

    // Users keep writing orders through the proxy from here on.
    let load = WriteLoad::start(&format!("http://{front}"), LoadOptions::default()).expect("load");
    load.wait_for_acknowledged(20, Duration::from_secs(20))
        .expect("writes through blue");

    // Today's release, sha-2222222: green, watched, blue retired.
    seed_plan(dir.path(), d.lab.dir(), new, "sha-2222222");
    let out = run(&["apply", "--yes", "--new-run"]).expect(0).stdout();
    assert!(
        out.contains("green live: recall-green: api ghcr.io/recall/recall/api:sha-2222222"),
        "{out}"
    );
    assert!(
        out.contains("retired recall-blue: api ghcr.io/recall/recall/api:sha-1111111"),
        "{out}"
    );
    assert_eq!(
        get(&front, "/version"),
        (
            200,
            r#"{"service":"recall-api","version":"sha-2222222"}"#.into()
        )
    );
    assert_eq!(get(&front, "/readyz").0, 200, "readyz through the proxy");
    assert_eq!(
        d.sh("new", "inspect -f '{{.State.Status}}' recall-blue-api-1"),
        "exited"
    );
    let report: serde_json::Value =
        serde_json::from_str(&run(&["report", "--format", "json"]).expect(0).stdout())
            .expect("report json");
    let steps = report["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 6, "{report}");
    for s in steps {
        assert_eq!(s["outcome"], "applied", "{s}");
    }
    assert_eq!(report["outcome"], "completed", "{}", report["outcome"]);
    let failed = measured(&report, "release", "downtime_failed");
    let probed = measured(&report, "release", "downtime_requests");
    assert_eq!(failed, 0.0, "the switch failed requests: {report}");
    assert!(probed >= 5.0, "the prober hardly ran: {report}");
    let backups = new.exec_ok("ls /srv/backups/recall").expect("backups");
    assert_eq!(
        backups.lines().count(),
        2,
        "one snapshot per run: {backups}"
    );
    let progress = load.progress();
    assert_eq!(
        progress.failed, 0,
        "writes failed during the release: {progress:?}"
    );
    eprintln!(
        "seed 004 release: {} prober requests, {failed} failed; {} writes acknowledged, 0 failed",
        probed, progress.acknowledged
    );

    // A bad release, sha-3333333, goes to blue and fails /readyz after the switch: the
    // watch puts traffic back on green by itself.
    seed_plan(dir.path(), d.lab.dir(), new, "sha-3333333");
    let apply = cutover(&plan, &["apply", "--yes", "--new-run"], &announce)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("apply");
    let deadline = Instant::now() + Duration::from_secs(90);
    while !get(&front, "/version").1.contains("sha-3333333") {
        assert!(Instant::now() < deadline, "the bad release never went live");
        std::thread::sleep(Duration::from_millis(100));
    }
    let blue = format!("{}:8000", new.address());
    post(&blue, "/_control/fail");
    let run3 = Run(apply.wait_with_output().expect("apply")).expect(5);
    let err = run3.stderr();
    // The failing app fails `/readyz` and `/version` alike: whichever check's trigger the
    // probe schedule reaches first fires.
    assert!(
        err.contains("trigger fired: readyz fails 3 times in a row")
            || err.contains("trigger fired: version fails 3 times in a row"),
        "{err}"
    );
    assert!(
        run3.stdout().contains("traffic back on the previous release green (recall-green: api ghcr.io/recall/recall/api:sha-2222222"),
        "{}",
        run3.stdout()
    );
    assert_eq!(
        get(&front, "/version"),
        (
            200,
            r#"{"service":"recall-api","version":"sha-2222222"}"#.into()
        )
    );
    assert_eq!(
        d.sh(
            "new",
            "ps -aq --filter label=com.docker.compose.project=recall-blue"
        ),
        ""
    );
    // Writes go through green again, then nothing acknowledged is missing.
    let before = load.progress().acknowledged;
    load.wait_for_acknowledged(before + 20, Duration::from_secs(20))
        .expect("writes after the rollback");
    let summary = load.stop();
    let missing = summary.missing_from(&orders(&pg));
    assert!(
        missing.is_empty(),
        "acknowledged orders missing: {missing:?}"
    );
    let texts = announced.lock().unwrap().join("\n");
    assert!(
        texts.contains("recall: releasing sha-2222222 (blue/green, no maintenance window)"),
        "{texts}"
    );
    assert!(
        texts.contains("recall: sha-2222222 is live and stable"),
        "{texts}"
    );
    assert!(texts.contains("\"event\":\"rollback\""), "{texts}");
    let _ = proxy.kill();
    let _ = proxy.wait();
    eprintln!(
        "seed 004: {} writes acknowledged, all in the database; test took {:?}",
        summary.acknowledged().len(),
        started.elapsed()
    );
}

fn post(addr: &str, path: &str) {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        panic!("cannot reach {addr}");
    };
    let _ = s.write_all(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    let mut sink = String::new();
    let _ = s.read_to_string(&mut sink);
}

#[test]
fn seed_004_plan_checks_offline_in_production_and_on_the_lab() {
    let plan = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/seeds")
        .join(SEED)
        .join("cutover.toml");
    for env in [&[][..], &["-e", "lab"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_cutover"))
            .args(env)
            .arg("-f")
            .arg(&plan)
            .args(["check", "--offline"])
            .env("NO_COLOR", "1")
            .output()
            .expect("cutover check");
        let run = Run(out).expect(0);
        assert_eq!(
            run.stdout(),
            format!("ok {} is valid\n", plan.display()),
            "{env:?}"
        );
    }
}
