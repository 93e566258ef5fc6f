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

/// Points the plan at an SSH config made of the lab's with `additions` (see
/// `Lab::write_ssh_config_with`), and gives host `new` the plan's `jump` when set.
fn use_ssh_config(f: &Fixture, additions: &[(&str, &str)], jump: Option<&str>) {
    let config = f.dir.path().join("ssh_config");
    f.lab.write_ssh_config_with(&config, additions);
    let plan = std::fs::read_to_string(f.plan_path()).unwrap();
    let mut plan = plan.replacen(
        &f.lab.ssh_config().display().to_string(),
        &config.display().to_string(),
        1,
    );
    if let Some(jump) = jump {
        plan = plan.replacen(
            "ssh = \"new\"",
            &format!("ssh = \"new\"\njump = \"{jump}\""),
            1,
        );
    }
    std::fs::write(f.plan_path(), plan).unwrap();
}

/// `check`'s lines for host old when all is well.
const OLD_OK: &str = "✓ host old         reached          old\n✓ host old         host key known   matches known_hosts\n✓ host old         authenticated    key accepted\n";

#[test]
fn a_known_hosts_command_in_the_ssh_config_cannot_vouch_for_a_changed_key() {
    let f = Fixture::new(ONE_STEP);
    use_ssh_config(
        &f,
        &[("old", "  KnownHostsCommand /bin/echo %H %t %K")],
        None,
    );
    f.lab.forge_known_host("old", "new");
    let check = f.run(&["check"]).expect(4).stdout();
    assert_eq!(
        check,
        format!(
            "ok {} is valid\n\
             ✓ host new         reached          new\n\
             ✓ host new         host key known   matches known_hosts\n\
             ✓ host new         authenticated    key accepted\n\
             ✓ host old         reached          old\n\
             ✗ host old         host key known   HOST KEY MISMATCH: the host presents a different key\n  \
             hint: {}\n",
            f.plan_path().display(),
            cutover_exec::ConnectFailure::HostKeyChanged.hint()
        )
    );
    f.run(&["apply", "--yes"]).expect(4);
    assert!(!f.lab.host("old").fs_path("/srv/ran").exists());
}

#[test]
fn a_jump_host_gets_the_same_host_key_checks_whatever_the_ssh_config_says() {
    let f = Fixture::new(ONE_STEP);
    use_ssh_config(
        &f,
        &[(
            "old",
            "  UserKnownHostsFile /dev/null\n  StrictHostKeyChecking no",
        )],
        Some("old"),
    );
    // Before, `ssh -J` checked old's key as the config said (not at all) and new passed.
    let check = f.run(&["check"]).expect(4).stdout();
    assert_eq!(
        check,
        format!(
            "ok {} is valid\n\
             ✗ host new         host key known   no key recorded for this host or for jump host `old`: No ED25519 host key is known for {} and you have requested strict checking.\n  \
             hint: record the missing key in known_hosts by hand (ssh-keyscan run where that host is reachable, its fingerprint compared out of band): `--pin-host-keys` cannot scan through a jump host\n\
             ✓ host old         reached          old\n\
             ✗ host old         host key known   no key recorded for this host\n  \
             hint: {}\n",
            f.plan_path().display(),
            f.lab.host("old").address(),
            cutover_exec::ConnectFailure::HostKeyUnknown.hint()
        )
    );
}

#[test]
fn check_names_the_jump_host_it_checked_and_the_proxy_command_it_cannot() {
    let f = Fixture::new(ONE_STEP);
    use_ssh_config(&f, &[], Some("old"));
    let check = f.run(&["check"]).expect(0).stdout();
    assert_eq!(
        check,
        format!(
            "ok {} is valid\n\
             ✓ host new         reached          new\n\
             ✓ host new         host key known   matches known_hosts, as does that of jump host `old`\n\
             ✓ host new         authenticated    key accepted\n{OLD_OK}",
            f.plan_path().display(),
        )
    );
    let proxy = format!("ssh -F {} -W %h:%p old", f.lab.ssh_config().display());
    f.write_plan(ONE_STEP);
    use_ssh_config(&f, &[("new", &format!("  ProxyCommand {proxy}"))], None);
    let check = f.run(&["check"]).expect(0).stdout();
    assert_eq!(
        check,
        format!(
            "ok {} is valid\n\
             ✓ host new         reached          new\n\
             ✓ host new         host key known   matches known_hosts; not checked by cutover: the hosts on the way through the SSH config's `ProxyCommand {proxy}`\n\
             ✓ host new         authenticated    key accepted\n{OLD_OK}",
            f.plan_path().display(),
        )
    );
}
