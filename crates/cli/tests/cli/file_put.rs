//! `file.put` on the lab: a file written from a template with a var, a secret and a step
//! output, atomically and with its mode; `cutover plan` shows the content with the secret
//! masked; the previous content is kept on the host (0600), never in the journal; rollback
//! restores it, and removes a file that did not exist; a symbolic link is not written
//! through.

use crate::fixture::{contains, Fixture};

const CANARY: &str = "canary-put-73d0a4e1";

fn plan() -> &'static str {
    r#"
[vars]
port = "8080"

[secrets.db]
env = "CUTOVER_TEST_DB"

[[stages]]
name = "s"

[[stages.steps]]
id = "release"
kind = "run"
hosts = ["new"]
command = "echo release=r42"
outputs = { id = { regex = 'release=(\S+)' } }

[[stages.steps]]
id = "env"
kind = "file.put"
host = "new"
path = "/srv/app/.env"
content = """
PORT={{ vars.port }}
RELEASE={{ steps.release.id }}
DB_PASSWORD={{ secrets.db }}
"""

[[stages.steps]]
id = "fresh"
kind = "file.put"
host = "new"
path = "/srv/app/fresh.conf"
content = "listen {{ vars.port }}\n"
mode = "0640"
"#
}

fn stat(f: &Fixture, path: &str) -> String {
    f.lab
        .host("new")
        .exec_ok(&format!("stat -c '%a %U' {path}"))
        .unwrap_or_default()
        .trim()
        .to_string()
}

#[test]
fn file_put_writes_from_a_template_and_rollback_restores_the_previous_file() {
    let f = Fixture::new(plan());
    let new = f.lab.host("new");
    new.exec_ok(
        "mkdir -p /srv/app && printf 'OLD=1\\n' > /srv/app/.env && chmod 0640 /srv/app/.env",
    )
    .expect("old file");

    let shown = f.run(&["plan"]).expect(0).stdout();
    let env_lines = [
        "  env (file.put)",
        "       new: write /srv/app/.env (mode 0600), atomically; the previous file is kept on the host for undo",
        "       --- /srv/app/.env (as it is on the host)",
        "       +++ /srv/app/.env",
        "       +PORT=8080",
        "       +RELEASE={{ steps.release.id }}",
        "       +DB_PASSWORD=***",
        "",
    ]
    .join("\n");
    assert!(shown.contains(&env_lines), "{shown}");

    let apply = f
        .command(&["apply", "--yes"])
        .env("CUTOVER_TEST_DB", CANARY)
        .output()
        .expect("apply");
    assert_eq!(
        apply.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&apply.stdout),
        String::from_utf8_lossy(&apply.stderr)
    );
    assert!(!contains(&apply.stdout, CANARY) && !contains(&apply.stderr, CANARY));
    assert_eq!(
        f.host_file("new", "/srv/app/.env"),
        format!("PORT=8080\nRELEASE=r42\nDB_PASSWORD={CANARY}\n")
    );
    // A secret makes the default mode 0600; the given mode is kept.
    assert_eq!(stat(&f, "/srv/app/.env"), "600 root");
    assert_eq!(f.host_file("new", "/srv/app/fresh.conf"), "listen 8080\n");
    assert_eq!(stat(&f, "/srv/app/fresh.conf"), "640 root");
    // No temporary file is left beside it.
    let listing = new.exec_ok("ls -A /srv/app").expect("ls");
    assert_eq!(listing, ".env\nfresh.conf\n");
    // The previous content is kept on the host, readable by its owner only.
    let kept = new
        .exec_ok(
            "stat -c '%a' ~/.cache/cutover/files/*/env.prev; cat ~/.cache/cutover/files/*/env.prev",
        )
        .expect("kept");
    assert_eq!(kept, "600\nOLD=1\n");
    assert!(
        !contains(&f.journal_bytes(), CANARY),
        "canary in the journal"
    );
    for args in [
        &["report"][..],
        &["report", "--json"],
        &["status", "--json"],
        &["plan"],
    ] {
        let r = f.run(args);
        assert!(
            !contains(&r.0.stdout, CANARY) && !contains(&r.0.stderr, CANARY),
            "canary in `cutover {args:?}`"
        );
    }

    let rollback = f
        .command(&["rollback", "--yes"])
        .env("CUTOVER_TEST_DB", CANARY)
        .output()
        .expect("rollback");
    let text = String::from_utf8_lossy(&rollback.stdout);
    assert_eq!(rollback.status.code(), Some(0), "{text}");
    assert!(
        text.contains("/srv/app/fresh.conf on new: removed (there was no file before)"),
        "{text}"
    );
    assert!(
        text.contains("/srv/app/.env on new: restored the previous content (mode 640)"),
        "{text}"
    );
    assert_eq!(f.host_file("new", "/srv/app/.env"), "OLD=1\n");
    assert_eq!(stat(&f, "/srv/app/.env"), "640 root");
    assert_eq!(new.exec_ok("ls -A /srv/app").expect("ls"), ".env\n");
    let left = new
        .exec_ok("ls ~/.cache/cutover/files/*/ 2>/dev/null | wc -l")
        .expect("kept");
    assert_eq!(
        left.trim(),
        "0",
        "the kept copies are removed once restored"
    );
}

#[test]
fn file_put_does_not_write_through_a_symbolic_link() {
    let f = Fixture::new(
        r#"
[[stages]]
name = "s"

[[stages.steps]]
id = "conf"
kind = "file.put"
host = "new"
path = "/srv/link/app.conf"
content = "new\n"
"#,
    );
    let new = f.lab.host("new");
    new.exec_ok("mkdir -p /srv/link && printf 'target\\n' > /srv/link/target && ln -s /srv/link/target /srv/link/app.conf")
        .expect("link");
    let out = f.run(&["apply", "--yes"]);
    assert_eq!(out.code(), 5, "{}\n{}", out.stdout(), out.stderr());
    assert!(
        out.stdout().contains("cutover: /srv/link/app.conf is a symbolic link; file.put does not write through links: remove it, or name its target"),
        "{}",
        out.stdout()
    );
    assert_eq!(f.host_file("new", "/srv/link/target"), "target\n");
}

/// A file that already has the content, mode and owner is not written again (the step is
/// skipped, nothing is kept); one whose mode differs is.
#[test]
fn file_put_in_place_is_skipped_and_a_wrong_mode_is_not() {
    let f = Fixture::new(
        r#"
[[stages]]
name = "s"

[[stages.steps]]
id = "same"
kind = "file.put"
host = "new"
path = "/srv/same.conf"
content = "listen 80\n"

[[stages.steps]]
id = "mode"
kind = "file.put"
host = "new"
path = "/srv/mode.conf"
content = "listen 80\n"
mode = "0640"
"#,
    );
    f.lab
        .host("new")
        .exec_ok("printf 'listen 80\\n' | tee /srv/same.conf > /srv/mode.conf; chmod 644 /srv/same.conf /srv/mode.conf")
        .expect("files");
    let out = f.run(&["apply", "--yes"]).expect(0).stdout();
    assert!(
        out.contains("skip same: already in place (its check passed)"),
        "{out}"
    );
    assert!(!out.contains("skip mode"), "{out}");
    assert_eq!(stat(&f, "/srv/mode.conf"), "640 root");
    let kept = f
        .lab
        .host("new")
        .exec_ok("ls ~/.cache/cutover/files/*/")
        .expect("kept");
    assert_eq!(kept, "mode.prev\nmode.state\n");
}
