//! Soak triggers against real sources: Prometheus (Debian's) scraping the test app every
//! second, a log file on a lab host tailed over SSH; and probes run on a host through the
//! executor (a command, Redis through redis-cli), and DNS answers from BIND.

use crate::support::{control, executor, wait_port};
use cutover_checks::host::HostProbe;
use cutover_checks::soak::{self, LogSource, LogSpec, SoakEnd, SoakSpec, SoakState};
use cutover_checks::trigger::{Condition, TriggerSpec};
use cutover_checks::{dns::DnsProbe, http::HttpProbe, NamedProbe, Probe, ProbeEnv};
use cutover_plan::checks::assert::parse_predicate;
use cutover_testbed::Lab;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn spec(probes: Vec<NamedProbe>, triggers: Vec<TriggerSpec>, secs: u64) -> SoakSpec {
    SoakSpec {
        probes,
        interval: Duration::from_millis(250),
        ends_at_ms: now_ms() + secs as i64 * 1000,
        triggers,
        prometheus: None,
        logs: Vec::new(),
    }
}

#[tokio::test]
async fn a_prometheus_expression_fires_when_the_scraped_app_goes_down() {
    let lab = Lab::start().unwrap();
    let (old, new) = (lab.host("old"), lab.host("new"));
    let app = cutover_testbed::app::start_on(new, 8080).unwrap();
    let dir = "/srv/prometheus";
    std::fs::create_dir_all(old.fs_path(dir)).unwrap();
    std::fs::write(
        old.fs_path(format!("{dir}/prometheus.yml")),
        format!("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ['{}']\n", app.addr),
    )
    .unwrap();
    let prom = SocketAddr::from((old.address(), 19090));
    let mut child = old
        .spawn(&format!("exec prometheus --config.file={dir}/prometheus.yml --storage.tsdb.path={dir}/data --web.listen-address={prom}"))
        .unwrap();
    wait_port(prom);
    let base = format!("http://{prom}");
    let client = cutover_checks::http::Client::default();
    // Wait for the first scrape: `app_up` is 1.
    let started = Instant::now();
    loop {
        // Prometheus answers 503 until its storage is ready.
        let s = cutover_checks::prom::query(&client, &base, "app_up").await;
        if s.as_ref().is_ok_and(|s| s.iter().any(|s| s.value == 1.0)) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "Prometheus never scraped the app: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let health = NamedProbe::new(
        "health",
        Probe::Http(HttpProbe::get(
            format!("http://{}/", app.addr).parse().unwrap(),
        )),
    );
    let trigger = TriggerSpec {
        check: None,
        condition: Condition::Prometheus("app_up == 0".into()),
    };
    let mut s = spec(vec![health], vec![trigger], 30);
    s.prometheus = Some(base.clone());
    control(app.addr, "fail");
    let broke = Instant::now();
    let mut state = SoakState::default();
    let end = soak::run(&s, &ProbeEnv::default(), &mut state, |_| {})
        .await
        .unwrap();
    let SoakEnd::Fired(f) = end else {
        panic!("the soak ended without firing after {} ticks", state.ticks)
    };
    assert_eq!(f.trigger, "Prometheus `app_up == 0` returns a result");
    assert!(
        f.evidence.contains("__name__=\"app_up\"") && f.evidence.contains("= 0"),
        "{}",
        f.evidence
    );
    assert!(
        broke.elapsed() < Duration::from_secs(5),
        "{:?}",
        broke.elapsed()
    );

    // A bad expression is a clear error, not a trigger.
    let err = cutover_checks::prom::query(&client, &base, "app_up ==")
        .await
        .unwrap_err();
    assert!(err.starts_with("Prometheus rejected `app_up ==`"), "{err}");
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn host_probes_and_log_triggers_run_over_ssh() {
    let lab = Lab::start().unwrap();
    let new = lab.host("new");
    let redis = SocketAddr::from((new.address(), 6379));
    let mut child = new.spawn(&format!("exec redis-server --port 6379 --bind {} --save '' --appendonly no --requirepass pw-77c1", new.address())).unwrap();
    wait_port(redis);
    let exec = executor(&lab);
    let env = ProbeEnv {
        client: Default::default(),
        exec: Some(exec.clone()),
    };
    let auth = vec![(
        "REDISCLI_AUTH".to_string(),
        cutover_exec::EnvValue::Secret(cutover_exec::SecretValue::new("pw-77c1".into())),
    )];
    let args = ["-h".to_string(), new.address().to_string()];
    let ping = NamedProbe::new(
        "redis",
        Probe::Host(HostProbe::redis("new", None, &args, "PING", auth.clone())),
    );
    let o = ping.run(&env).await;
    assert!(o.ok, "{o:?}");
    assert!(o.summary.contains("\"PONG\""), "{}", o.summary);
    // Without the password Redis answers an error, with exit status 0: still a failure.
    let o = NamedProbe::new(
        "redis",
        Probe::Host(HostProbe::redis("new", None, &args, "PING", vec![])),
    )
    .run(&env)
    .await;
    assert!(
        !o.ok && o.failures[0].starts_with("Redis answered an error: NOAUTH"),
        "{o:?}"
    );
    let mut count = HostProbe::redis("new", None, &args, "DBSIZE", auth);
    count.expect = Some(parse_predicate(">= 1").unwrap());
    let o = NamedProbe::new("keys", Probe::Host(count)).run(&env).await;
    assert!(!o.ok && o.failures[0] == "output >= 1: found 0", "{o:?}");

    let mut cmd = HostProbe::shell("new", "hostname", vec![]);
    cmd.expect = Some(parse_predicate("== \"new\"").unwrap());
    assert!(NamedProbe::new("cmd", Probe::Host(cmd)).run(&env).await.ok);
    let o = NamedProbe::new(
        "cmd",
        Probe::Host(HostProbe::shell("new", "echo broken >&2; exit 3", vec![])),
    )
    .run(&env)
    .await;
    assert_eq!(
        o.failures,
        vec!["exit status 3 (expected 0): broken".to_string()]
    );

    // A log trigger: 2 ERROR lines within a minute end the soak with the line as evidence.
    // The log's name is this test's own, so that its follower can be looked for afterwards.
    let log_path = format!("/srv/app/app-{}.log", std::process::id());
    new.exec_ok(&format!("mkdir -p /srv/app && : > {log_path}"))
        .unwrap();
    let mut s = spec(
        vec![],
        vec![TriggerSpec {
            check: None,
            condition: Condition::LogMatches {
                count: 2,
                over: Duration::from_secs(60),
            },
        }],
        20,
    );
    s.logs = vec![LogSpec {
        host: "new".into(),
        source: LogSource::File(log_path.clone()),
        patterns: vec!["ERROR".into()],
        sudo: false,
    }];
    let writer = tokio::spawn({
        let log = new.fs_path(&log_path);
        async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            for line in [
                "INFO fine",
                "ERROR db timeout",
                "INFO fine",
                "ERROR db timeout again",
            ] {
                use std::io::Write;
                let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
                writeln!(f, "{line}").unwrap();
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    let mut state = SoakState::default();
    let end = soak::run(&s, &env, &mut state, |_| {}).await.unwrap();
    writer.await.unwrap();
    let SoakEnd::Fired(f) = end else {
        panic!("no log trigger")
    };
    assert!(
        f.evidence.starts_with(&format!(
            "2 matching line(s) in the last 1m; last: new:{log_path}: ERROR db timeout again"
        )),
        "{}",
        f.evidence
    );
    // The soak is over: its follower on the host ends too (no terminal tells it so by itself).
    let follower = format!("tail -n0 -F {log_path}");
    let mut left = true;
    for _ in 0..50 {
        let found = std::process::Command::new("pgrep")
            .args(["-f", &follower])
            .output()
            .unwrap();
        left = found.status.success();
        if !left {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!left, "`{follower}` still runs on the host after the soak");

    // A log fed by a command (as `journalctl -fu app` would be): its output is the log, and
    // a command that ends is started again, so this one's single ERROR line counts twice.
    s.logs = vec![LogSpec {
        host: "new".into(),
        source: LogSource::Command("echo INFO starting; echo ERROR from the command".into()),
        patterns: vec!["ERROR".into()],
        sudo: false,
    }];
    let mut state = SoakState::default();
    let end = soak::run(&s, &env, &mut state, |_| {}).await.unwrap();
    let SoakEnd::Fired(f) = end else {
        panic!("no log trigger from the command")
    };
    assert!(
        f.evidence.starts_with(
            "2 matching line(s) in the last 1m; last: new$ echo INFO starting; echo ERROR from the command: ERROR from the command"
        ),
        "{}",
        f.evidence
    );
    exec.disconnect_all().await;
    let _ = child.kill();
    let _ = child.wait();
}

#[tokio::test]
async fn dns_answers_from_a_chosen_server() {
    use cutover_testbed::dns::{BindPair, TsigKey, Zone};
    let lab = Lab::start().unwrap();
    let key = TsigKey::generate("k").unwrap();
    let zone = Zone::new("example.test", 300).record_ttl("www", "A", "198.51.100.20", 60);
    let bind = BindPair::start(lab.host("old"), None, &[zone], &key).unwrap();
    let server = bind.primary.socket();
    let o = DnsProbe::new(
        "www.example.test",
        "A",
        &server,
        vec!["198.51.100.20".into()],
        Some(60),
    )
    .unwrap()
    .run()
    .await;
    assert!(o.ok, "{o:?}");
    assert!(
        o.summary.contains("NOERROR [198.51.100.20] TTL 60"),
        "{}",
        o.summary
    );
    let o = DnsProbe::new(
        "www.example.test",
        "A",
        &server,
        vec!["198.51.100.30".into()],
        Some(30),
    )
    .unwrap()
    .run()
    .await;
    assert_eq!(
        o.failures,
        vec![
            "expected [198.51.100.30], got [198.51.100.20]".to_string(),
            "TTL 60 s is above 30 s".to_string()
        ]
    );
    let o = DnsProbe::new("nope.example.test", "A", &server, vec![], None)
        .unwrap()
        .run()
        .await;
    assert_eq!(o.failures, vec!["the server answered NXDOMAIN".to_string()]);
}

#[tokio::test]
async fn a_postgres_query_value_through_psql_on_the_host() {
    let lab = Lab::start().unwrap();
    let pg =
        cutover_testbed::PgServer::start(lab.host("new"), 16, 25432, Default::default()).unwrap();
    pg.psql(
        "postgres",
        "create table users(id int); insert into users select generate_series(1, 42);",
    )
    .unwrap();
    let exec = executor(&lab);
    let env = ProbeEnv {
        client: Default::default(),
        exec: Some(exec.clone()),
    };
    let password = vec![(
        "PGPASSWORD".to_string(),
        cutover_exec::EnvValue::Secret(cutover_exec::SecretValue::new(
            cutover_testbed::PgServer::PASSWORD.into(),
        )),
    )];
    let psql = pg.bin().join("psql").display().to_string();
    let args = [
        "-h".to_string(),
        "127.0.0.1".into(),
        "-p".into(),
        "25432".into(),
        "-U".into(),
        "postgres".into(),
        "-d".into(),
        "postgres".into(),
    ];
    let mut count = HostProbe::postgres(
        "new",
        Some(&psql),
        &args,
        "select count(*) from users",
        password.clone(),
    );
    count.expect = Some(parse_predicate(">= 40").unwrap());
    let o = NamedProbe::new("rows", Probe::Host(count.clone()))
        .run(&env)
        .await;
    assert!(o.ok, "{o:?}");
    assert!(o.summary.ends_with(": \"42\""), "{}", o.summary);
    count.expect = Some(parse_predicate("== 43").unwrap());
    let o = NamedProbe::new("rows", Probe::Host(count)).run(&env).await;
    assert_eq!(o.failures, vec!["output == 43: found 42".to_string()]);
    // A query error is a failure with psql's message.
    let o = NamedProbe::new(
        "bad",
        Probe::Host(HostProbe::postgres(
            "new",
            Some(&psql),
            &args,
            "select nope",
            password,
        )),
    )
    .run(&env)
    .await;
    assert!(
        !o.ok && o.failures[0].contains("column \"nope\" does not exist"),
        "{o:?}"
    );
    exec.disconnect_all().await;
}

#[tokio::test]
async fn a_mariadb_query_value_through_the_client_on_the_host() {
    let lab = Lab::start().unwrap();
    let new = lab.host("new");
    let d = "/var/lib/mysql/probe";
    new.exec_ok(&format!(
        "mkdir -p {d} && chown mysql:mysql {d} && su -s /bin/sh mysql -c 'mariadb-install-db --no-defaults --datadir={d}/data --auth-root-authentication-method=normal --skip-test-db' >/dev/null"
    ))
    .unwrap();
    let mut child = new
        .spawn(&format!(
            "exec su -s /bin/sh mysql -c 'exec mariadbd --no-defaults --datadir={d}/data --port=23306 --bind-address=127.0.0.1 --socket={d}/sock --pid-file={d}/pid --log-error={d}/err --innodb-buffer-pool-size=64M --skip-log-bin'"
        ))
        .unwrap();
    let started = Instant::now();
    while new
        .exec(&format!("test -S {d}/sock"))
        .map(|o| !o.status.success())
        .unwrap_or(true)
    {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "mariadbd did not start"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let exec = executor(&lab);
    let env = ProbeEnv {
        client: Default::default(),
        exec: Some(exec.clone()),
    };
    let args = [
        "-S".to_string(),
        format!("{d}/sock"),
        "-u".into(),
        "root".into(),
    ];
    let mut q = HostProbe::mysql(
        "new",
        None,
        &args,
        "select count(*) from mysql.user where user = 'root'",
        vec![],
    );
    q.expect = Some(parse_predicate(">= 1").unwrap());
    let o = NamedProbe::new("mysql", Probe::Host(q)).run(&env).await;
    assert!(o.ok, "{o:?}");
    let o = NamedProbe::new(
        "mysql",
        Probe::Host(HostProbe::mysql(
            "new",
            None,
            &args,
            "select * from nowhere.t",
            vec![],
        )),
    )
    .run(&env)
    .await;
    assert!(
        !o.ok
            && o.failures[0]
                .contains("ERROR 1146 (42S02) at line 1: Table 'nowhere.t' doesn't exist"),
        "{o:?}"
    );
    exec.disconnect_all().await;
    let _ = child.kill();
    let _ = child.wait();
}
