//! Host keys are always verified: a changed key is refused, an unknown one is pinned only on
//! request and only when it matches the plan's fingerprint.

use crate::fixture::Fixture;

const ONE_STEP: &str = r#"
[[stages]]
name = "s"

[[stages.steps]]
id = "touch"
kind = "run"
hosts = ["old"]
command = "touch /srv/ran"
"#;

fn rewrite_known_hosts(f: &Fixture, edit: impl Fn(&str) -> Option<String>) {
    let text = std::fs::read_to_string(f.lab.known_hosts()).unwrap();
    let lines: Vec<String> = text.lines().filter_map(&edit).collect();
    std::fs::write(f.lab.known_hosts(), lines.join("\n") + "\n").unwrap();
}

#[test]
fn a_changed_host_key_is_refused_and_nothing_runs() {
    let f = Fixture::new(ONE_STEP);
    let text = std::fs::read_to_string(f.lab.known_hosts()).unwrap();
    let new_key = text
        .lines()
        .find(|l| l.starts_with("new"))
        .unwrap()
        .split_once(' ')
        .unwrap()
        .1
        .to_string();
    rewrite_known_hosts(&f, |l| {
        Some(if l.starts_with("old") {
            format!("{} {new_key}", l.split_once(' ').unwrap().0)
        } else {
            l.to_string()
        })
    });
    let check = f.run(&["check"]).expect(4).stdout();
    assert!(
        check.contains("✗ host old         host key known   HOST KEY MISMATCH"),
        "{check}"
    );
    let apply = f.run(&["apply", "--yes"]).expect(4);
    assert!(
        apply.stderr().contains("HOST KEY MISMATCH"),
        "{}",
        apply.stderr()
    );
    assert!(!f.lab.host("old").fs_path("/srv/ran").exists());
}

#[test]
fn an_unknown_host_key_is_pinned_only_on_request() {
    let f = Fixture::new(ONE_STEP);
    rewrite_known_hosts(&f, |l| (!l.starts_with("old")).then(|| l.to_string()));
    let check = f.run(&["check"]).expect(4).stdout();
    assert!(
        check.contains("host key known   no key recorded for this host"),
        "{check}"
    );
    assert!(check.contains("cutover check --pin-host-keys"), "{check}");
    let pinned = f.run(&["check", "--pin-host-keys"]).expect(0).stdout();
    assert!(
        pinned.contains(f.lab.host("old").host_key_fingerprint()),
        "{pinned}"
    );
    f.run(&["check"]).expect(0);
    f.run(&["apply", "--yes"]).expect(0);
    assert!(f.lab.host("old").fs_path("/srv/ran").exists());
}

#[test]
fn pinning_refuses_a_key_that_differs_from_the_plans_fingerprint() {
    let f = Fixture::new(ONE_STEP);
    let wrong = f.lab.host("new").host_key_fingerprint().to_string();
    let plan = std::fs::read_to_string(f.plan_path()).unwrap();
    let plan = plan.replacen(
        "ssh = \"old\"",
        &format!("ssh = \"old\"\nhost_key = \"{wrong}\""),
        1,
    );
    std::fs::write(f.plan_path(), plan).unwrap();
    rewrite_known_hosts(&f, |l| (!l.starts_with("old")).then(|| l.to_string()));
    let out = f.run(&["check", "--pin-host-keys"]).expect(4).stdout();
    assert!(out.contains("HOST KEY MISMATCH"), "{out}");
    assert!(out.contains("nothing was recorded"), "{out}");
    f.run(&["check"]).expect(4);
}
