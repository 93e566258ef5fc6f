//! A synthesised run: a plan of many steps and a journal spread over hours, written through
//! the journal's own API (redacted and hash-chained like a real run's).

use cutover_journal::{Event, Journal, SqliteJournal};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Text no page may show raw: markup, a bidirectional override and a secret-looking value.
pub const HOSTILE: &str = "<script>alert(1)</script> \u{202E}gpj.exe & \"quoted\"";

/// The shape of a synthesised run.
pub struct Shape {
    pub stages: usize,
    pub steps_per_stage: usize,
    pub soaks: usize,
    pub samples_per_soak: usize,
}

fn step_toml(id: &str, kind: &str) -> String {
    let fields = match kind {
        "soak" => "checks = [\"users\", \"api\"]\nduration = \"10m\"\ninterval = \"1s\"\ntriggers = [{ p95 = \"500ms\", over = \"1m\" }, { error_rate = \"5%\", check = \"users\" }, { consecutive_failures = 3 }]".to_string(),
        "approve" => "message = \"go?\"".to_string(),
        "files.verify" => "from = { host = \"old\", path = \"/srv/app\" }\nto = { host = \"new\", path = \"/srv/app\" }".to_string(),
        "postgres.verify" => "source = { host = \"old\", address = \"127.0.0.1\", db = \"shop\" }\ntarget = { host = \"new\", address = \"127.0.0.1\", db = \"shop\" }".to_string(),
        _ => "hosts = [\"old\"]\ncommand = \"true\"".to_string(),
    };
    format!("[[stages.steps]]\nid = \"{id}\"\nkind = \"{kind}\"\n{fields}\n")
}

/// The plan's steps: (stage, id, kind); soaks spread over the stages, one gate, two proofs.
pub fn steps(shape: &Shape) -> Vec<(String, String, &'static str)> {
    let mut out = Vec::new();
    let mut soaks = 0;
    for s in 0..shape.stages {
        for i in 0..shape.steps_per_stage {
            let kind = if s == 0 && i == 1 {
                "approve"
            } else if s == 0 && i == 2 {
                "files.verify"
            } else if s == 0 && i == 3 {
                "postgres.verify"
            } else if i == shape.steps_per_stage - 1 && soaks < shape.soaks {
                soaks += 1;
                "soak"
            } else {
                "run"
            };
            out.push((format!("stage-{s}"), format!("s{s}-{i}"), kind));
        }
    }
    out
}

pub fn plan_text(shape: &Shape) -> String {
    let mut t = String::from(
        "name = \"big-run\"\n[hosts.old]\nssh = \"old\"\naddress = \"127.0.0.1\"\n[hosts.new]\nssh = \"new\"\naddress = \"127.0.0.2\"\n\
         [checks.users]\nkind = \"http\"\nurl = \"http://127.0.0.1:1/\"\n\
         [checks.api]\nkind = \"http\"\nurl = \"http://127.0.0.1:1/api\"\n",
    );
    let mut stage = String::new();
    for (st, id, kind) in steps(shape) {
        if st != stage {
            t += &format!("[[stages]]\nname = \"{st}\"\n");
            stage = st;
        }
        t += &step_toml(&id, kind);
    }
    t
}

fn files_proof() -> String {
    serde_json::json!({
        "algorithm": "blake3",
        "source": {"host": "old", "summary": {"root": "/srv/app", "entries": 204, "files": 201, "dirs": 3, "symlinks": 1, "bytes": 20_912_345u64, "problems": 0, "digest": "ab12cd34"}},
        "target": {"host": "new", "summary": {"root": "/srv/app", "entries": 203, "files": 200, "dirs": 3, "symlinks": 1, "bytes": 20_900_000u64, "problems": 0, "digest": "ff00ee11"}},
        "differences": {"counts": {"missing": 1}, "total": 1, "bytes": 12345, "listed": [
            {"kind": "missing", "path": format!("media/{HOSTILE}.jpg"), "source": "12345 bytes", "target": null}
        ]},
        "seconds": 0.8
    })
    .to_string()
}

fn postgres_proof() -> String {
    serde_json::json!({
        "source": {"endpoint": "postgres@127.0.0.1:5432/shop", "version": "16.4"},
        "target": {"endpoint": "postgres@127.0.0.1:5432/shop", "version": "18.1"},
        "tables": [
            {"schema": "public", "name": "orders", "source": {"rows": 1000, "sum": "123456789"}, "target": {"rows": 1000, "sum": "123456789"}, "status": "ok"},
            {"schema": "public", "name": "items", "source": {"rows": 50, "sum": "42"}, "target": {"rows": 49, "sum": "41"}, "status": "differs"}
        ],
        "sequences": [{"schema": "public", "name": "orders_id_seq", "source_next": 1001, "target_next": 1001, "status": "ok"}],
        "objects": [{"kind": "index", "source": 3, "target": 3}],
        "differences": [{"schema": "public", "object": "items", "object_kind": "table", "kind": "row count", "detail": "50 on source, 49 on target", "fatal": true}],
        "rows": 1050, "seconds": 1.2
    })
    .to_string()
}

/// Writes the plan into `dir` and journals a whole run of it: every step applied (one
/// retried), the gate approved, proofs, soak samples, a downtime window and a rollback.
pub fn write_run(dir: &Path, shape: &Shape) -> PathBuf {
    let plan = dir.join("cutover.toml");
    std::fs::write(&plan, plan_text(shape)).unwrap();
    let j = SqliteJournal::open(&dir.join("cutover.journal.db")).unwrap();
    let run = j.create_run("big-run").unwrap();
    let mut t = run.started_ms;
    let mut at = |j: &SqliteJournal, e: Event, dt: i64| {
        t += dt;
        j.append_at(&run.id, &e, t).unwrap();
    };
    at(
        &j,
        Event::RunStarted {
            plan: "big-run".into(),
            plan_digest: "d".into(),
            operator: "ops@box".into(),
            version: "0.1.0".into(),
        },
        0,
    );
    let mut stage = String::new();
    for (st, id, kind) in steps(shape) {
        if st != stage {
            at(&j, Event::StageStarted { stage: st.clone() }, 10);
            stage = st.clone();
        }
        let started = |attempt| Event::StepStarted {
            stage: st.clone(),
            step: id.clone(),
            kind: kind.into(),
            attempt,
        };
        at(&j, started(1), 5);
        if id == "s0-0" {
            at(
                &j,
                Event::StepFailed {
                    step: id.clone(),
                    error: "exit 1".into(),
                },
                2000,
            );
            at(&j, started(2), 5000);
        }
        at(
            &j,
            Event::CommandStarted {
                step: id.clone(),
                host: "old".into(),
                command: "true".into(),
                invocation: None,
            },
            5,
        );
        at(
            &j,
            Event::CommandFinished {
                step: id.clone(),
                host: "old".into(),
                code: Some(0),
                duration_ms: 800,
                stdout: String::new(),
                stderr: String::new(),
            },
            800,
        );
        match kind {
            "approve" => {
                at(
                    &j,
                    Event::StepWaiting {
                        step: id.clone(),
                        reason: "approval".into(),
                        until_ms: None,
                    },
                    5,
                );
                at(
                    &j,
                    Event::Approved {
                        step: id.clone(),
                        by: format!("alice {HOSTILE}"),
                        comment: Some(HOSTILE.into()),
                    },
                    60_000,
                );
            }
            "files.verify" => at(
                &j,
                Event::ProofRecorded {
                    step: id.clone(),
                    hosts: "old + new".into(),
                    matches: false,
                    text: format!("DIFFERENT {HOSTILE}"),
                    data: files_proof(),
                },
                100,
            ),
            "postgres.verify" => at(
                &j,
                Event::ProofRecorded {
                    step: id.clone(),
                    hosts: "old".into(),
                    matches: false,
                    text: "1 difference".into(),
                    data: postgres_proof(),
                },
                100,
            ),
            "soak" => {
                for k in 0..shape.samples_per_soak {
                    for check in ["users", "api"] {
                        let n = k as f64;
                        let figures = BTreeMap::from([
                            ("probes".to_string(), n * 2.0),
                            ("failed".to_string(), (n / 50.0).floor()),
                            ("error_rate".to_string(), 0.01),
                            ("p50_ms".to_string(), 20.0 + n % 7.0),
                            ("p95_ms".to_string(), 80.0 + n % 13.0),
                            ("p99_ms".to_string(), 120.0 + n % 17.0),
                        ]);
                        at(
                            &j,
                            Event::Sampled {
                                step: id.clone(),
                                subject: check.into(),
                                figures,
                            },
                            1000,
                        );
                    }
                }
            }
            _ => {}
        }
        at(
            &j,
            Event::Measured {
                step: id.clone(),
                name: "bytes".into(),
                value: 1234.5678,
                unit: "bytes".into(),
            },
            5,
        );
        if id == "s1-0" {
            at(
                &j,
                Event::Measured {
                    step: id.clone(),
                    name: "downtime_unavailable".into(),
                    value: 0.64,
                    unit: "s".into(),
                },
                5,
            );
            at(
                &j,
                Event::Measured {
                    step: id.clone(),
                    name: "downtime_requests".into(),
                    value: 120.0,
                    unit: "requests".into(),
                },
                5,
            );
            at(
                &j,
                Event::Measured {
                    step: id.clone(),
                    name: "downtime_failed".into(),
                    value: 7.0,
                    unit: "requests".into(),
                },
                5,
            );
            // A freeze of 0.25 s, a second into the run.
            let frozen = run.started_ms + 1000;
            at(
                &j,
                Event::Outage {
                    step: id.clone(),
                    what: "writes frozen".into(),
                    from_ms: frozen,
                    to_ms: frozen + 250,
                },
                5,
            );
        }
        at(
            &j,
            Event::StepApplied {
                step: id.clone(),
                duration_ms: 900,
                summary: format!("did {id} {HOSTILE}"),
            },
            100,
        );
    }
    at(&j, Event::RollbackStarted { reason: format!("soak `s1-9`: trigger fired: users p95 latency over 1m above 500ms\nevidence: p95 900ms {HOSTILE}") }, 100);
    at(
        &j,
        Event::StepRolledBack {
            step: "s1-0".into(),
            summary: None,
        },
        300,
    );
    at(
        &j,
        Event::RollbackFinished {
            undone: vec!["s1-0".into()],
        },
        10,
    );
    at(
        &j,
        Event::RunFinished {
            outcome: "completed".into(),
        },
        10,
    );
    plan
}
