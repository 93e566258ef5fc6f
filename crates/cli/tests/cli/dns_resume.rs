//! DNS steps killed at every journal write (`CUTOVER_TEST_CRASH_AFTER_EVENTS`): a
//! lower_ttl / switch / verify run against a BIND primary + secondary, resumed, ends with the
//! zone in the intended state after exactly one TTL update and one switch (two serials); and
//! `cutover rollback` after a crash restores the previous values and TTLs.

use crate::fixture::Run;
use cutover_testbed::dns::{BindPair, TsigKey, Zone};
use cutover_testbed::Lab;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const OLD_TTL: u32 = 2;

struct DnsRun {
    lab: Lab,
    key: TsigKey,
    bind: BindPair,
    dir: tempfile::TempDir,
}

impl DnsRun {
    fn start() -> DnsRun {
        let lab = Lab::builder()
            .host("old")
            .host("new")
            .host("dns")
            .host("dns2")
            .start()
            .expect("lab");
        let key = TsigKey::generate("cutover").expect("key");
        let old = lab.host("old").address().to_string();
        let zone = Zone::new("example.test", 300)
            .record_ttl("www", "A", &old, OLD_TTL)
            .record_ttl("api", "A", &old, OLD_TTL);
        let bind =
            BindPair::start(lab.host("dns"), Some(lab.host("dns2")), &[zone], &key).expect("bind");
        let dir = tempfile::tempdir().expect("tempdir");
        let r = DnsRun {
            lab,
            key,
            bind,
            dir,
        };
        std::fs::write(r.plan(), r.plan_text()).expect("plan");
        std::fs::write(
            r.dir.path().join("key.conf"),
            format!(
                "key \"{}\" {{ algorithm {}; secret \"{}\"; }};\n",
                r.key.name, r.key.algorithm, r.key.secret
            ),
        )
        .expect("key file");
        r
    }

    fn plan(&self) -> PathBuf {
        self.dir.path().join("cutover.toml")
    }

    fn addr(&self, host: &str) -> String {
        self.lab.host(host).address().to_string()
    }

    fn plan_text(&self) -> String {
        format!(
            r#"name = "dns-resume"
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
records = [{{ name = "www.example.test" }}, {{ name = "api.example.test" }}]
ttl = "1s"
[[stages.steps]]
id = "flip"
kind = "dns.switch"
provider = "lab"
records = [
  {{ name = "www.example.test", value = "{{{{ hosts.new.address }}}}" }},
  {{ name = "api.example.test", values = ["{{{{ hosts.new.address }}}}", "{{{{ hosts.old.address }}}}"] }},
]
[[stages.steps]]
id = "propagated"
kind = "dns.verify"
provider = "lab"
records = [
  {{ name = "www.example.test", value = "{{{{ hosts.new.address }}}}" }},
  {{ name = "api.example.test", values = ["{{{{ hosts.old.address }}}}", "{{{{ hosts.new.address }}}}"] }},
]
timeout = "10s"
"#,
            ssh = self.lab.ssh_config().display(),
            old = self.addr("old"),
            new = self.addr("new"),
            primary = self.bind.primary.address,
        )
    }

    fn cutover(&self, args: &[&str], crash_after: Option<u32>) -> Run {
        let mut c = Command::new(env!("CARGO_BIN_EXE_cutover"));
        c.arg("-f")
            .arg(self.plan())
            .args(args)
            .env("NO_COLOR", "1")
            .env("TEST_TSIG_SECRET", &self.key.secret)
            .env_remove("CUTOVER_TEST_CRASH_AFTER_EVENTS");
        if let Some(n) = crash_after {
            c.env("CUTOVER_TEST_CRASH_AFTER_EVENTS", n.to_string());
        }
        Run(c.output().expect("run cutover"))
    }

    /// Puts the zone back to www, api -> old with the old TTL, forgets the journal, and
    /// returns the primary's serial once both servers serve it.
    fn reset(&self) -> u32 {
        let script = format!(
            "server {p}\nzone example.test\nupdate delete www.example.test A\nupdate add www.example.test {OLD_TTL} A {old}\nupdate delete api.example.test A\nupdate add api.example.test {OLD_TTL} A {old}\nsend\n",
            p = self.bind.primary.address,
            old = self.addr("old")
        );
        let mut child = Command::new("nsupdate")
            .arg("-k")
            .arg(self.dir.path().join("key.conf"))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .expect("nsupdate");
        std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), script.as_bytes())
            .expect("write nsupdate");
        drop(child.stdin.take());
        assert!(child.wait().expect("nsupdate").success(), "nsupdate failed");
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", journal(self.dir.path()).display()));
        }
        let servers = self.servers();
        for _ in 0..200 {
            let serials: Vec<u32> = servers.iter().map(|s| serial(s)).collect();
            if serials.iter().all(|s| *s == serials[0]) {
                return serials[0];
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the secondary did not catch up with the reset");
    }

    fn servers(&self) -> Vec<String> {
        self.bind
            .servers()
            .iter()
            .map(|s| s.address.to_string())
            .collect()
    }

    /// Applies until the run completes, waiting out the TTL gate.
    fn finish(&self, context: &str) {
        for _ in 0..40 {
            let r = self.cutover(&["apply", "--yes"], None);
            match r.code() {
                0 => return,
                5 if (r.stdout() + &r.stderr()).contains("have not expired everywhere yet") => {
                    std::thread::sleep(Duration::from_millis(250))
                }
                _ => panic!(
                    "apply failed while resuming ({context}):\n{}\n{}",
                    r.stdout(),
                    r.stderr()
                ),
            }
        }
        panic!("the run did not complete ({context})");
    }

    /// Both servers answer `name` with exactly `values` and `ttl` (within a second: the
    /// secondary follows by NOTIFY).
    fn assert_zone(&self, name: &str, values: &[String], ttl: u32, context: &str) {
        for s in self.servers() {
            let mut seen = (Vec::new(), None);
            for _ in 0..100 {
                seen = answer(&s, name);
                if seen.0 == values && seen.1 == Some(ttl) {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            assert_eq!(
                (seen.0.as_slice(), seen.1),
                (values, Some(ttl)),
                "{s}: {name} after {context}"
            );
        }
    }

    fn assert_switched(&self, base: u32, context: &str) {
        let new = vec![self.addr("new")];
        let mut both = vec![self.addr("new"), self.addr("old")];
        both.sort();
        self.assert_zone("www.example.test", &new, 1, context);
        self.assert_zone("api.example.test", &both, 1, context);
        // Exactly one TTL update and one switch: two serials, whatever the crashes.
        let primary = self.bind.primary.address.to_string();
        assert_eq!(serial(&primary), base + 2, "zone updates after {context}");
    }

    fn assert_restored(&self, context: &str) {
        let old = vec![self.addr("old")];
        self.assert_zone("www.example.test", &old, OLD_TTL, context);
        self.assert_zone("api.example.test", &old, OLD_TTL, context);
    }

    /// Rolls back (a crash before the run existed leaves nothing to roll back).
    fn rollback(&self, context: &str) {
        let r = self.cutover(&["rollback", "--yes"], None);
        let out = r.stdout() + &r.stderr();
        assert!(
            r.code() == 0 || out.contains("nothing to roll back"),
            "rollback after {context} failed:\n{out}"
        );
    }
}

fn journal(dir: &Path) -> PathBuf {
    dir.join("cutover.journal.db")
}

fn dig(server: &str, args: &[&str]) -> String {
    let out = Command::new("dig")
        .args(["+norec", "+time=1", "+tries=2", &format!("@{server}")])
        .args(args)
        .output()
        .expect("dig");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn serial(server: &str) -> u32 {
    dig(server, &["+short", "example.test", "SOA"])
        .split_whitespace()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no SOA serial from {server}"))
}

/// The sorted A values of `name` and their TTL.
fn answer(server: &str, name: &str) -> (Vec<String>, Option<u32>) {
    let text = dig(server, &["+noall", "+answer", name, "A"]);
    let mut values = Vec::new();
    let mut ttl = None;
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() == 5 && f[3] == "A" {
            values.push(f[4].to_string());
            ttl = f[1].parse().ok();
        }
    }
    values.sort();
    (values, ttl)
}

/// After a crash at `context`: resume to the end (checking one switch), or roll back.
fn recover(r: &DnsRun, base: u32, n: u32, context: &str) {
    if n % 2 == 1 {
        r.finish(context);
        r.assert_switched(base, context);
    } else {
        r.rollback(context);
        r.assert_restored(context);
    }
}

#[test]
fn dns_steps_killed_at_every_journal_write_resume_to_one_switch_or_roll_back_to_the_old_records() {
    let r = DnsRun::start();
    let mut crashes = 0;
    // Phase 1: crashes in the first `apply`, which lowers the TTLs and stops at the switch's
    // TTL gate (exit 5) when it gets that far.
    for n in 1..=80 {
        let base = r.reset();
        let first = r.cutover(&["apply", "--yes"], Some(n));
        let context = format!("a crash after event {n} of the first apply");
        match first.code() {
            -1 => crashes += 1,
            5 => {
                // Reached the gate without crashing: phase 1 is covered.
                r.finish("the run without a crash");
                r.assert_switched(base, "the run without a crash");
                break;
            }
            c => panic!(
                "{context}: exit {c}\n{}\n{}",
                first.stdout(),
                first.stderr()
            ),
        }
        recover(&r, base, n, &context);
    }
    // Phase 2: crashes in the `apply` that switches and verifies, once the TTL has expired.
    for n in 1..=80 {
        let base = r.reset();
        let gate = r.cutover(&["apply", "--yes"], None);
        assert_eq!(gate.code(), 5, "{}\n{}", gate.stdout(), gate.stderr());
        std::thread::sleep(Duration::from_millis(u64::from(OLD_TTL) * 1000 + 200));
        let second = r.cutover(&["apply", "--yes"], Some(n));
        let context = format!("a crash after event {n} of the switching apply");
        match second.code() {
            -1 => crashes += 1,
            0 => {
                r.assert_switched(base, "the switching apply without a crash");
                break;
            }
            c => panic!(
                "{context}: exit {c}\n{}\n{}",
                second.stdout(),
                second.stderr()
            ),
        }
        recover(&r, base, n, &context);
    }
    eprintln!("{crashes} crash points exercised");
    assert!(crashes >= 20, "only {crashes} crash points were exercised");
}
