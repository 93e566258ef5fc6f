//! Traffic steps end to end: `dns.lower_ttl`, `dns.switch` (refused until the old TTL has
//! expired everywhere), `dns.verify` and rollback, against a BIND primary + secondary with
//! TSIG on lab hosts.

use crate::fixture::{contains, Run};
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::Lab;
use std::process::Command;

fn dig(server: &str, name: &str) -> String {
    let out = Command::new("dig")
        .args([
            "+norec",
            "+noall",
            "+answer",
            &format!("@{server}"),
            name,
            "A",
        ])
        .output()
        .expect("dig");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dns_switch_waits_out_the_lowered_ttl_switches_both_servers_and_rolls_back() {
    let lab = Lab::builder()
        .host("old")
        .host("new")
        .host("dns")
        .host("dns2")
        .start()
        .unwrap();
    let key = TsigKey::generate("cutover").unwrap();
    let (old, new) = (lab.host("old").address(), lab.host("new").address());
    let zone = Zone::new("example.test", 300).record_ttl("www", "A", &old.to_string(), 2);
    let bind = BindPair::start(lab.host("dns"), Some(lab.host("dns2")), &[zone], &key).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    std::fs::write(
        &plan,
        format!(
            r#"name = "dns-test"
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
name = "switch"
[[stages.steps]]
id = "lower-ttl"
kind = "dns.lower_ttl"
provider = "lab"
records = [{{ name = "www.example.test", type = "A" }}]
ttl = "1s"
[[stages.steps]]
id = "flip"
kind = "dns.switch"
provider = "lab"
records = [{{ name = "www.example.test", type = "A", value = "{{{{ hosts.new.address }}}}" }}]
[[stages.steps]]
id = "propagated"
kind = "dns.verify"
provider = "lab"
records = [{{ name = "www.example.test", value = "{{{{ hosts.new.address }}}}" }}]
timeout = "10s"
"#,
            ssh = lab.ssh_config().display(),
            primary = bind.primary.address,
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Run(Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("-f")
            .arg(&plan)
            .args(args)
            .env("NO_COLOR", "1")
            .env("TEST_TSIG_SECRET", &key.secret)
            .output()
            .unwrap())
    };
    let shown = run(&["plan"]).expect(0).stdout();
    assert!(shown.contains("www.example.test A -> "), "{shown}");

    // The old TTL (2 s) has not expired right after lowering it: the switch refuses.
    let first = run(&["apply", "--yes"]).expect(5);
    let err = first.stderr() + &first.stdout();
    assert!(
        err.contains("have not expired everywhere yet") && err.contains("left"),
        "{err}"
    );
    assert!(dig(
        &bind.primary.socket().replace(":53", ""),
        "www.example.test"
    )
    .contains(&old.to_string()));

    std::thread::sleep(std::time::Duration::from_millis(2200));
    let done = run(&["apply", "--yes"]).expect(0);
    let out = done.stdout() + &done.stderr();
    assert!(out.contains("consistent"), "{out}");
    for s in bind.servers() {
        let answer = dig(&s.address.to_string(), "www.example.test");
        assert!(
            answer.contains(&new.to_string()) && answer.contains("\t1\tIN"),
            "{}: {answer}",
            s.address
        );
    }
    let journal = std::fs::read(dir.path().join("cutover.journal.db")).unwrap();
    assert!(
        !contains(&journal, &key.secret),
        "the TSIG secret reached the journal"
    );

    run(&["rollback", "--yes"]).expect(0);
    for s in bind.servers() {
        let mut answer = String::new();
        for _ in 0..50 {
            answer = dig(&s.address.to_string(), "www.example.test");
            if answer.contains(&old.to_string()) && answer.contains("\t2\tIN") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        assert!(
            answer.contains(&old.to_string()) && answer.contains("\t2\tIN"),
            "{}: {answer}",
            s.address
        );
    }
}

/// The plan's line (1-based) holding `needle`.
fn line_of(plan: &str, needle: &str) -> usize {
    plan.lines()
        .position(|l| l.contains(needle))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("`{needle}` not in the plan"))
}

#[test]
fn cutover_check_says_what_a_dns_provider_cannot_do_with_the_records_location_before_any_call() {
    use crate::fixture::Fixture;
    use cutover_testbed::cloudflare_fake::CloudflareFake;
    // A local fake of Cloudflare's API: the check must not call it at all.
    let fake = CloudflareFake::start("cf-token").unwrap();
    fake.zone("example.com", false);
    fake.record(
        "example.com",
        "A",
        "www.example.com",
        "192.0.2.1",
        300,
        false,
    );
    let body = |ttl: &str, apex_type: &str| {
        format!(
            r#"[secrets.cf]
env = "TEST_CF_TOKEN"
[secrets.tsig]
env = "TEST_TSIG_SECRET"
[dns.cf]
provider = "cloudflare"
api = "{api}"
api_token = "cf"
zones = ["example.com"]
[dns.bind]
provider = "rfc2136"
server = "192.0.2.53"
zones = ["example.org"]
tsig_key = "cutover"
tsig_secret = "tsig"

[[stages]]
name = "switch"
[[stages.steps]]
id = "lower"
kind = "dns.lower_ttl"
provider = "cf"
records = [{{ name = "www.example.com" }}]
ttl = "{ttl}"
[[stages.steps]]
id = "flip"
kind = "dns.switch"
provider = "bind"
records = [{{ name = "example.org", type = "{apex_type}", value = "192.0.2.7" }}]
"#,
            api = fake.api
        )
    };
    let f = Fixture::new(&body("30s", "CNAME"));
    let run = |args: &[&str]| {
        Run(f
            .command(args)
            .env("TEST_CF_TOKEN", "cf-token")
            .env("TEST_TSIG_SECRET", "c2VjcmV0")
            .output()
            .unwrap())
    };
    let plan = std::fs::read_to_string(f.plan_path()).unwrap();
    let checked = run(&["check"]);
    let out = checked.stdout();
    assert_eq!(checked.code(), 3, "a plan problem:\n{out}");
    // Offline too: the capabilities are known without calling anyone.
    let offline = run(&["check", "--offline"]);
    assert_eq!(offline.code(), 3, "{}", offline.stdout());
    assert!(
        offline.stdout().contains("provider `cloudflare` cannot"),
        "{}",
        offline.stdout()
    );
    let www = format!(
        "cutover.toml:{}:",
        line_of(&plan, "name = \"www.example.com\"")
    );
    let apex = format!("cutover.toml:{}:", line_of(&plan, "name = \"example.org\""));
    let lower = out
        .lines()
        .find(|l| l.contains("step lower") && l.contains("provider can"))
        .unwrap_or_else(|| panic!("no capability line for `lower`:\n{out}"));
    assert!(
        lower.contains('✗')
            && lower.contains(&www)
            && lower.contains("ttl 30")
            && lower.contains("provider `cloudflare` cannot"),
        "{lower}"
    );
    let flip = out
        .lines()
        .find(|l| l.contains("step flip"))
        .unwrap_or_else(|| panic!("no capability line for `flip`:\n{out}"));
    assert!(
        flip.contains(&apex) && flip.contains("apex") && flip.contains("rfc2136"),
        "{flip}"
    );
    // The same through --json.
    let json: serde_json::Value =
        serde_json::from_str(&run(&["check", "--json"]).stdout()).unwrap();
    let failed: Vec<&serde_json::Value> = json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["check"] == "provider can" && c["ok"] == false)
        .collect();
    assert_eq!(failed.len(), 2, "{json}");
    // And `apply` refuses the step the same way, still without calling the API.
    let applied = run(&["apply", "--yes"]);
    assert_ne!(applied.code(), 0);
    assert!(
        (applied.stdout() + &applied.stderr()).contains("cannot"),
        "{}",
        applied.stderr()
    );
    assert!(
        fake.requests().is_empty(),
        "the API was called: {:?}",
        fake.requests()
    );

    // A plan within the providers' means passes the capability lines.
    f.write_plan(&body("60s", "A"));
    let _ = std::fs::remove_file(f.journal_path());
    let out = run(&["check"]).stdout();
    for provider in ["dns cf", "dns bind"] {
        assert!(
            out.lines()
                .any(|l| l.contains(provider) && l.contains("provider can") && l.contains('✓')),
            "{provider}:\n{out}"
        );
    }
}

#[test]
fn a_dns_name_proxy_switch_moves_caddy_without_a_reload_and_rolls_back() {
    use cutover_testbed::{app, proxy};
    let lab = Lab::builder()
        .host("old")
        .host("new")
        .host("lb")
        .start()
        .unwrap();
    let _apps = [
        app::start_on(lab.host("old"), 8080).unwrap(),
        app::start_on(lab.host("new"), 8080).unwrap(),
    ];
    let (old, new) = (lab.host("old").address(), lab.host("new").address());
    let key = TsigKey::generate("cutover").unwrap();
    let zone = Zone::new("cutover.internal", 1).record_ttl("app", "A", &old.to_string(), 1);
    let bind = BindPair::start(lab.host("lb"), None, &[zone], &key).unwrap();
    let resolver = bind.primary.socket().parse().unwrap();
    let front = proxy::start_caddy_dynamic(
        lab.host("lb"),
        80,
        "app.cutover.internal",
        8080,
        resolver,
        std::time::Duration::from_millis(200),
    )
    .unwrap();
    let get = || {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "3",
                &format!("http://{}/", front.listen),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(get().contains("hello from old"));
    let dir = tempfile::tempdir().unwrap();
    let plan = dir.path().join("cutover.toml");
    std::fs::write(
        &plan,
        format!(
            r#"name = "proxy-by-dns"
[ssh]
config = "{ssh}"
[hosts.old]
ssh = "old"
address = "{old}"
[hosts.new]
ssh = "new"
address = "{new}"
[hosts.lb]
ssh = "lb"
[secrets.tsig]
env = "TEST_TSIG_SECRET"
[dns.internal]
provider = "rfc2136"
server = "{dns}"
zones = ["cutover.internal"]
tsig_key = "cutover"
tsig_secret = "tsig"
[proxies.front]
kind = "dns-name"
host = "lb"
dns = "internal"
record = "app.cutover.internal"
port = 8080
settle = "400ms"

[[stages]]
name = "switch"
[[stages.steps]]
id = "to-new"
kind = "proxy.switch"
proxy = "front"
to = "{{{{ hosts.new.address }}}}:8080"
health_path = "/healthz"
"#,
            ssh = lab.ssh_config().display(),
            dns = bind.primary.address,
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        Run(Command::new(env!("CARGO_BIN_EXE_cutover"))
            .arg("-f")
            .arg(&plan)
            .args(args)
            .env("NO_COLOR", "1")
            .env("TEST_TSIG_SECRET", &key.secret)
            .output()
            .unwrap())
    };
    let shown = run(&["plan"]).expect(0).stdout();
    assert!(
        shown.contains(&format!("app.cutover.internal A -> {new}")),
        "{shown}"
    );
    run(&["apply", "--yes"]).expect(0);
    // The switch returned after the proxy's re-resolve time: traffic is on new already.
    assert!(get().contains("hello from new"), "{}", get());
    run(&["rollback", "--yes"]).expect(0);
    assert!(get().contains("hello from old"), "{}", get());
}

#[test]
fn a_cloudflare_switch_through_the_api_fake_is_one_batch_idempotent_and_rolled_back() {
    use crate::fixture::Fixture;
    use cutover_testbed::cloudflare_fake::CloudflareFake;
    // A local FAKE of Cloudflare's v4 API (the real one cannot be reached from here).
    let fake = CloudflareFake::start("cf-token").unwrap();
    fake.zone("example.com", false);
    fake.record(
        "example.com",
        "A",
        "www.example.com",
        "192.0.2.1",
        300,
        false,
    );
    let f = Fixture::new(&format!(
        r#"[secrets.cf]
env = "TEST_CF_TOKEN"
[dns.cf]
provider = "cloudflare"
api = "{api}"
api_token = "cf"
zones = ["example.com"]

[[stages]]
name = "switch"
[[stages.steps]]
id = "flip"
kind = "dns.switch"
provider = "cf"
ttl = "120s"
records = [{{ name = "www.example.com", values = ["192.0.2.7", "192.0.2.8"], proxied = false }}]
"#,
        api = fake.api
    ));
    let run = |args: &[&str]| {
        Run(f
            .command(args)
            .env("TEST_CF_TOKEN", "cf-token")
            .output()
            .unwrap())
    };
    run(&["apply", "--yes"]).expect(0);
    let contents = |recs: Vec<cutover_testbed::cloudflare_fake::FakeRecord>| {
        recs.iter()
            .map(|r| (r.content.clone(), r.ttl))
            .collect::<Vec<_>>()
    };
    let www = || fake.records("example.com", "A", "www.example.com");
    assert_eq!(
        contents(www()),
        [
            ("192.0.2.7".to_string(), 120),
            ("192.0.2.8".to_string(), 120)
        ]
    );
    assert_eq!(fake.commits("example.com"), 1, "one batch");
    // A second apply of a finished run changes nothing at the API.
    run(&["apply", "--yes"]).expect(0);
    assert_eq!(fake.commits("example.com"), 1);
    run(&["rollback", "--yes"]).expect(0);
    assert_eq!(contents(www()), [("192.0.2.1".to_string(), 300)]);
    assert!(
        !contains(&f.journal_bytes(), "cf-token"),
        "the API token reached the journal"
    );
}
