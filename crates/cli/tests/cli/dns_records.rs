//! `dns.record` end to end against a BIND primary + secondary with TSIG on lab hosts: test
//! subdomains created before a go-live and removed by rollback; an old name's records deleted
//! at decommission and created again by rollback.

use crate::fixture::Run;
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::Lab;
use std::process::Command;

fn dig(server: &str, name: &str, rtype: &str) -> String {
    let out = Command::new("dig")
        .args([
            "+norec",
            "+noall",
            "+answer",
            &format!("@{server}"),
            name,
            rtype,
        ])
        .output()
        .expect("dig");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dig` on every server until `ok` holds (the secondary follows by NOTIFY), or panics.
fn settles(bind: &BindPair, name: &str, rtype: &str, ok: impl Fn(&str) -> bool) {
    for s in bind.servers() {
        let mut answer = String::new();
        for _ in 0..100 {
            answer = dig(&s.address.to_string(), name, rtype);
            if ok(&answer) {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(ok(&answer), "{} {name} {rtype}: {answer}", s.address);
    }
}

fn plan_text(lab: &Lab, primary: &str, steps: &str) -> String {
    format!(
        r#"name = "dns-records"
[ssh]
config = "{ssh}"
[hosts.old]
ssh = "old"
address = "{old}"
[hosts.new]
ssh = "new"
address = "{new}"
[secrets.tsig]
env = "TEST_TSIG_SECRET"
[dns.lab]
provider = "rfc2136"
server = "{primary}"
zones = ["example.test"]
tsig_key = "cutover"
tsig_secret = "tsig"
[[stages]]
name = "dns"
{steps}"#,
        ssh = lab.ssh_config().display(),
        old = lab.host("old").address(),
        new = lab.host("new").address(),
    )
}

#[test]
fn test_subdomains_are_created_then_removed_by_rollback_and_a_deleted_name_comes_back() {
    let lab = Lab::builder()
        .host("old")
        .host("new")
        .host("dns")
        .host("dns2")
        .start()
        .unwrap();
    let key = TsigKey::generate("cutover").unwrap();
    let old = lab.host("old").address().to_string();
    let zone = Zone::new("example.test", 300)
        .record("www", "A", &old)
        .record("legacy", "A", &old)
        .record("legacy", "TXT", "\"owner=ops\"");
    let bind = BindPair::start(lab.host("dns"), Some(lab.host("dns2")), &[zone], &key).unwrap();
    let primary = bind.primary.address.to_string();
    let dir = tempfile::tempdir().unwrap();
    let run = |plan: &std::path::Path, args: &[&str]| {
        Run(Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("-f")
            .arg(plan)
            .args(args)
            .env("NO_COLOR", "1")
            .env("TEST_TSIG_SECRET", &key.secret)
            .output()
            .unwrap())
    };

    // Test subdomains pointing at the new host, with a verification TXT.
    let create = dir.path().join("create.toml");
    std::fs::write(
        &create,
        plan_text(
            &lab,
            &primary,
            r#"[[stages.steps]]
id = "test-subdomains"
kind = "dns.record"
provider = "lab"
ttl = "60s"
records = [
  { name = "test-app.example.test", type = "A", value = "{{ hosts.new.address }}" },
  { name = "test-api.example.test", type = "CNAME", value = "test-app.example.test" },
  { name = "_check.example.test", type = "TXT", value = "cutover test subdomains" },
]
"#,
        ),
    )
    .unwrap();
    let shown = run(&create, &["plan"]).expect(0).stdout();
    assert!(
        shown.contains("test-app.example.test A = ") && shown.contains("(TTL 60 s)"),
        "{shown}"
    );
    let out = run(&create, &["apply", "--yes"]).expect(0);
    assert!(
        out.stdout().contains("3 record set(s) written"),
        "{}",
        out.stdout()
    );
    let new = lab.host("new").address().to_string();
    settles(&bind, "test-app.example.test", "A", |a| {
        a.contains(&new) && a.contains("\t60\tIN")
    });
    settles(&bind, "test-api.example.test", "CNAME", |a| {
        a.contains("test-app.example.test.")
    });
    settles(&bind, "_check.example.test", "TXT", |a| {
        a.contains("\"cutover test subdomains\"")
    });
    // Applied again: already in place, nothing written.
    let again = run(&create, &["apply", "--yes"]).expect(0);
    assert!(
        !again.stdout().contains("record set(s) written"),
        "{}",
        again.stdout()
    );

    let back = run(&create, &["rollback", "--yes"]).expect(0);
    assert!(
        back.stdout().contains("created ones deleted"),
        "{}",
        back.stdout()
    );
    for (name, rtype) in [
        ("test-app.example.test", "A"),
        ("test-api.example.test", "CNAME"),
        ("_check.example.test", "TXT"),
    ] {
        settles(&bind, name, rtype, |a| a.trim().is_empty());
    }

    // Decommission: the old name deleted, then created again as it was by rollback.
    let delete = dir.path().join("delete.toml");
    std::fs::write(
        &delete,
        plan_text(
            &lab,
            &primary,
            r#"[[stages.steps]]
id = "drop-legacy"
kind = "dns.record"
provider = "lab"
state = "absent"
records = [
  { name = "legacy.example.test", type = "A" },
  { name = "legacy.example.test", type = "TXT" },
]
"#,
        ),
    )
    .unwrap();
    run(&delete, &["apply", "--yes"]).expect(0);
    settles(&bind, "legacy.example.test", "A", |a| a.trim().is_empty());
    settles(&bind, "legacy.example.test", "TXT", |a| a.trim().is_empty());
    run(&delete, &["rollback", "--yes"]).expect(0);
    settles(&bind, "legacy.example.test", "A", |a| {
        a.contains(&old) && a.contains("\t300\tIN")
    });
    settles(&bind, "legacy.example.test", "TXT", |a| {
        a.contains("\"owner=ops\"")
    });
}
