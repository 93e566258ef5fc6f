//! `compose.up` end to end on lab hosts with their own Docker daemons: the release journaled,
//! `.env` from vars and secrets (0600, never in the journal), rollback to what ran before
//! (pinned by image id), and the faults users meet, each with its exact message and
//! nothing left half up.

use crate::compose_fixture::{app_compose, DockerLab};
use crate::fixture::contains;

const SECRET: &str = "pa$$ word#1";

fn up_plan(dir: &str, project: &str, extra: &str) -> String {
    format!(
        r#"[secrets.db]
env = "TEST_DB_PASSWORD"
[[stages]]
name = "deploy"
[[stages.steps]]
id = "stack"
kind = "compose.up"
host = "new"
dir = "{dir}"
project = "{project}"
upload = ["compose.yaml"]
env = {{ APP_VERSION = "1", DB_PASSWORD = "{{{{ secrets.db }}}}" }}
{wait}
{extra}
"#,
        wait = if extra.contains("wait_timeout") {
            ""
        } else {
            "wait_timeout = \"30s\""
        }
    )
}

#[test]
fn compose_up_journals_the_release_writes_env_0600_and_rollback_takes_it_down() {
    let d = DockerLab::start(&["new"]);
    let id1 = d.app_image("new", "app:1", "1");
    let plan = d.plan(
        &up_plan("/srv/shop", "shop", ""),
        &[("compose.yaml", &app_compose("18080"))],
    );
    let env = [("TEST_DB_PASSWORD", SECRET)];
    let out = plan.run(&["apply", "--yes"], &env).expect(0).stdout();
    let short = &id1["sha256:".len()..][..12];
    assert!(
        out.contains(&format!("up and healthy: shop: web app:1 (sha256:{short})")),
        "{out}"
    );
    let new = d.lab.host("new");
    let (status, body) = DockerLab::get(&format!("{}:18080", new.address()), "/readyz");
    assert_eq!((status, body.as_str()), (200, "ready web 1\n"));
    // .env: 0600, the secret read back exactly by compose, never in the journal.
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(new.fs_path("/srv/shop/.env")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        d.sh("new", "exec shop-web-1 sh -c 'printf %s \"$DB_PASSWORD\"'"),
        SECRET
    );
    assert!(
        !contains(&plan.journal_bytes(), "word#1"),
        "the secret is in the journal"
    );
    // Applying again changes nothing.
    let again = plan.run(&["apply", "--yes"], &env).expect(0).stdout();
    assert!(again.contains("already complete"), "{again}");
    // Rollback: nothing ran before, so the project goes and the uploaded files with it.
    let rb = plan.run(&["rollback", "--yes"], &env).expect(0).stdout();
    assert!(
        rb.contains("shop taken down (nothing ran before; volumes kept)"),
        "{rb}"
    );
    assert_eq!(d.sh("new", "ps -aq"), "");
    assert!(!new.fs_path("/srv/shop/compose.yaml").exists());
    assert!(!new.fs_path("/srv/shop/.env").exists());
}

#[test]
fn compose_up_rollback_brings_back_the_previous_images_by_id_though_the_tag_moved() {
    let d = DockerLab::start(&["new"]);
    let id1 = d.app_image("new", "app:1", "1");
    let id2 = d.app_image("new", "app:2", "2");
    d.sh("new", "tag app:1 app:live");
    let compose = app_compose("18080").replace("app:${APP_VERSION}", "app:live");
    let first = d.plan(
        &up_plan("/srv/shop", "shop", ""),
        &[("compose.yaml", &compose)],
    );
    let env = [("TEST_DB_PASSWORD", SECRET)];
    first.run(&["apply", "--yes"], &env).expect(0);
    // The release moves the tag, as a CI pipeline would, and deploys it.
    d.sh("new", "tag app:2 app:live");
    let second = d.plan(
        &up_plan("/srv/shop", "shop", "").replace("APP_VERSION = \"1\"", "APP_VERSION = \"2\""),
        &[("compose.yaml", &compose)],
    );
    let out = second.run(&["apply", "--yes"], &env).expect(0).stdout();
    assert!(out.contains("; before: shop: web app:live"), "{out}");
    assert_eq!(d.sh("new", "inspect -f '{{.Image}}' shop-web-1"), id2);
    let rb = second.run(&["rollback", "--yes"], &env).expect(0).stdout();
    let short = &id1["sha256:".len()..][..12];
    assert!(
        rb.contains(&format!("back on shop: web app:live (sha256:{short})")),
        "{rb}"
    );
    assert_eq!(d.sh("new", "inspect -f '{{.Image}}' shop-web-1"), id1);
    let new = d.lab.host("new");
    let (status, body) = DockerLab::get(&format!("{}:18080", new.address()), "/readyz");
    assert_eq!((status, body.as_str()), (200, "ready web 1\n"));
    assert!(
        std::fs::read_to_string(new.fs_path("/srv/shop/.env"))
            .unwrap()
            .contains("APP_VERSION='1'"),
        "the .env of the first release is back"
    );
    // A release whose container never gets healthy is put back on the running release's
    // images by itself, named in the error and in the report (the running release is the
    // rollback's, pinned by image id: that is the name it runs under).
    let sick = d.plan(
        &up_plan("/srv/shop", "shop", "wait_timeout = \"8s\"")
            .replace("APP_VERSION = \"1\"", "APP_VERSION = \"3\""),
        &[(
            "compose.yaml",
            &format!(
                "{compose}    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 1s\n      retries: 2\n"
            ),
        )],
    );
    let failed = sick.run(&["apply", "--yes"], &env).expect(9).stderr();
    let back = format!("back on shop: web sha256:{short}");
    assert_eq!(
        failed.trim_end(),
        format!(
            "error: step `stack` failed: container shop-web-1 is unhealthy on new; its last log lines:\n  | cutover-testapp web listening on 0.0.0.0:8080\n\
             nothing is left half up: {back}"
        )
    );
    assert_eq!(d.sh("new", "inspect -f '{{.Image}}' shop-web-1"), id1);
    let (status, body) = DockerLab::get(&format!("{}:18080", new.address()), "/readyz");
    assert_eq!((status, body.as_str()), (200, "ready web 1\n"));
    let report = sick.run(&["report"], &env).expect(0).stdout();
    assert!(
        report
            .lines()
            .any(|l| l.contains("stack") && l.contains(&back)),
        "the report does not name the release put back:\n{report}"
    );
}

/// The faults users meet, one plan each on one lab: every one is a clear error with
/// Docker's own words and the exit code of its class (4: the daemon cannot be reached, 9: a
/// failed health gate, 5: the rest), and nothing is left half up.
#[test]
fn compose_up_faults_are_clear_and_leave_nothing_half_up() {
    let mut d = DockerLab::start(&["new"]);
    d.app_image("new", "app:1", "1");
    let env = [("TEST_DB_PASSWORD", SECRET)];
    let error_of = |run: crate::fixture::Run, code: i32| -> String {
        let err = run.expect(code).stderr();
        err.strip_prefix("error: step `stack` failed: ")
            .unwrap_or(&err)
            .trim_end()
            .to_string()
    };

    // A compose file that does not parse: named, with compose's own message.
    let bad = d.plan(
        &up_plan("/srv/bad", "bad", ""),
        &[(
            "compose.yaml",
            "services:\n  web:\n    image: app:1\n    ports: [\"18080:8080\"\n",
        )],
    );
    assert_eq!(
        error_of(bad.run(&["apply", "--yes"], &env), 5),
        "the compose file /srv/bad/compose.yaml on new is not valid: yaml: line 3: did not find expected ',' or ']'\n\
         nothing is left half up: bad taken down (nothing ran before; volumes kept)"
    );
    assert!(!d.lab.host("new").fs_path("/srv/bad/compose.yaml").exists());

    // An image that is not on the host, with pulling off.
    let missing = d.plan(
        &up_plan("/srv/missing", "missing", "pull = \"never\""),
        &[(
            "compose.yaml",
            &app_compose("18080").replace("app:${APP_VERSION}", "nothere:9"),
        )],
    );
    assert_eq!(
        error_of(missing.run(&["apply", "--yes"], &env), 5),
        "image `nothere:9` is not on new: copy it there first (an `images.copy` step, or `docker load`), or set `pull = \"missing\"` to pull it\n\
         nothing is left half up: missing taken down (nothing ran before; volumes kept)"
    );

    // A container that never gets healthy: its last log lines are shown.
    let sick = d.plan(
        &up_plan("/srv/sick", "sick", "wait_timeout = \"8s\""),
        &[(
            "compose.yaml",
            &format!(
                "{}    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 1s\n      retries: 2\n",
                app_compose("18081")
            ),
        )],
    );
    assert_eq!(
        error_of(sick.run(&["apply", "--yes"], &env), 9),
        "container sick-web-1 is unhealthy on new; its last log lines:\n  | cutover-testapp web listening on 0.0.0.0:8080\n\
         nothing is left half up: sick taken down (nothing ran before; volumes kept)"
    );

    // A port another project holds: that project is left alone.
    let other = d.plan(
        &up_plan("/srv/other", "other", ""),
        &[("compose.yaml", &app_compose("18082"))],
    );
    other.run(&["apply", "--yes"], &env).expect(0);
    let clash = d.plan(
        &up_plan("/srv/clash", "clash", ""),
        &[("compose.yaml", &app_compose("18082"))],
    );
    assert_eq!(
        error_of(clash.run(&["apply", "--yes"], &env), 5),
        "port 0.0.0.0:18082 on new is already taken (by another container or process): free it or publish another port\n\
         nothing is left half up: clash taken down (nothing ran before; volumes kept)"
    );
    assert_eq!(
        d.sh(
            "new",
            "ps -q --filter label=com.docker.compose.project=clash"
        ),
        ""
    );
    assert_eq!(
        d.sh("new", "inspect -f '{{.State.Status}}' other-web-1"),
        "running"
    );

    // The daemon down: said before anything changes.
    d.docker_mut("new").stop().unwrap();
    let down = d.plan(
        &up_plan("/srv/down", "down", ""),
        &[("compose.yaml", &app_compose("18083"))],
    );
    assert_eq!(
        error_of(down.run(&["apply", "--yes"], &env), 4),
        "the Docker daemon on new does not answer (Cannot connect to the Docker daemon at unix:///run/docker/docker.sock. Is the docker daemon running?): start it (`systemctl start docker`) and run the step again"
    );
    assert!(!d.lab.host("new").fs_path("/srv/down").exists());
}

/// A database in a Compose stack: `compose.up` starts it, `postgres.copy` fills it from the
/// old host's server with the container's own tools (`docker exec`, the password passed by
/// name), `postgres.verify` proves it, and a `postgres` check probes it in its container.
#[test]
fn a_database_in_a_container_is_copied_verified_and_probed_through_docker_exec() {
    use cutover_testbed::{PgOptions, PgServer};
    let d = DockerLab::start(&["new"]);
    cutover_testbed::images::postgres(d.lab.host("new"), d.docker("new"), "pg:16", 16).unwrap();
    let pg = PgServer::start(d.lab.host("old"), 16, 5432, PgOptions::default()).unwrap();
    pg.psql("postgres", "CREATE DATABASE app").unwrap();
    pg.psql(
        "app",
        "CREATE TABLE items (id int PRIMARY KEY, name text); INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 1000) g;",
    )
    .unwrap();
    let compose = "services:\n  db:\n    image: pg:16\n";
    let plan = d.plan(
        r#"[secrets.pg]
env = "TEST_PG_PASSWORD"
[checks.db]
kind = "postgres"
host = "new"
container = "shop-db-1"
args = ["-U", "postgres", "-d", "app"]
query = "select count(*) from items"
expect = '== "1000"'
env = { PGPASSWORD = "{{ secrets.pg }}" }
[[stages]]
name = "db"
[[stages.steps]]
id = "stack"
kind = "compose.up"
host = "new"
dir = "/srv/shop"
project = "shop"
upload = ["compose.yaml"]
wait_timeout = "60s"
[[stages.steps]]
id = "copy"
kind = "postgres.copy"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.pg }}" }
target = { host = "new", container = "shop-db-1", db = "app", password = "{{ secrets.pg }}" }
[[stages.steps]]
id = "proof"
kind = "postgres.verify"
source = { host = "old", address = "127.0.0.1", db = "app", password = "{{ secrets.pg }}" }
target = { host = "new", container = "shop-db-1", db = "app", password = "{{ secrets.pg }}" }
[[stages.steps]]
id = "probe"
kind = "check"
checks = ["db"]
"#,
        &[("compose.yaml", compose)],
    );
    let env = [("TEST_PG_PASSWORD", PgServer::PASSWORD)];
    let shown = plan.run(&["plan"], &env).expect(0).stdout();
    assert!(
        shown.contains("(tools on container shop-db-1 on new)"),
        "{shown}"
    );
    let out = plan.run(&["apply", "--yes"], &env).expect(0).stdout();
    assert!(out.contains("ok proof"), "{out}");
    assert!(out.contains("1 check(s) passed: db"), "{out}");
    assert_eq!(
        d.sh(
            "new",
            "exec shop-db-1 psql -U postgres -d app -tAc 'select count(*) from items'"
        ),
        "1000"
    );
    assert!(!contains(&plan.journal_bytes(), PgServer::PASSWORD));
}

/// A soak's log trigger fed by `docker compose logs -f SERVICE`: a line the service prints
/// during the soak fires it, with the line as evidence.
#[test]
fn a_soak_log_trigger_reads_a_compose_services_logs() {
    let d = DockerLab::start(&["new"]);
    d.app_image("new", "app:1", "1");
    let soak = r#"[checks.web]
kind = "tcp"
address = "{{ hosts.new.address }}:18080"
[[stages.steps]]
id = "watch"
kind = "soak"
checks = ["web"]
duration = "60s"
interval = "500ms"
on_failure = "stop"
triggers = [{ log_matches = 1, over = "1m" }]
logs = [{ host = "new", service = "web", project = "shop", patterns = ["panic"] }]"#;
    let plan = d.plan(
        &up_plan("/srv/shop", "shop", soak),
        &[("compose.yaml", &app_compose("18080"))],
    );
    let apply = plan.run_spawned(&["apply", "--yes"], &[("TEST_DB_PASSWORD", SECRET)]);
    let addr = format!("{}:18080", d.lab.host("new").address());
    let started = std::time::Instant::now();
    let mut apply = apply;
    let status = loop {
        if let Some(status) = apply.try_wait().unwrap() {
            break status;
        }
        assert!(started.elapsed().as_secs() < 90, "the soak never fired");
        if DockerLab::get(&addr, "/readyz").0 == 200 {
            // What the app prints goes to its container's log.
            let _ = d
                .docker("new")
                .docker("exec shop-web-1 sh -c 'echo \"panic: boom\" > /proc/1/fd/1'");
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    };
    let out = apply.wait_with_output().unwrap();
    assert_eq!(status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("trigger fired: 1 matching log line(s) within 1m"),
        "{err}"
    );
    assert!(err.contains("panic: boom"), "{err}");
}
