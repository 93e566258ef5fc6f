//! `files.sync` and `files.verify` steps, and `cutover verify files`, through the binary on
//! the lab (the binary uploads itself to the hosts as the agent).

use super::fixture::Fixture;

fn seed(f: &Fixture) {
    f.lab
        .host("old")
        .exec_ok(
            "set -e; mkdir -p /srv/app/media/up /srv/app/static
             for i in $(seq 1 50); do head -c $((4096 + i * 97)) /dev/urandom > /srv/app/media/up/img-$i.jpg; done
             echo v1 > /srv/app/VERSION; ln -s media/up /srv/app/uploads",
        )
        .unwrap();
}

fn plan(f: &Fixture, verify_only: bool) -> String {
    let addr = f.lab.host("new").address();
    let sync = format!(
        "[[stages]]\nname = \"copy\"\n\n[[stages.steps]]\nid = \"sync\"\nkind = \"files.sync\"\nfrom = {{ host = \"old\", path = \"/srv/app\" }}\nto = {{ host = \"new\", path = \"/srv/app\" }}\naddress = \"{addr}\"\ndelete = true\n\n"
    );
    let verify = "[[stages]]\nname = \"verify\"\n\n[[stages.steps]]\nid = \"proof\"\nkind = \"files.verify\"\nfrom = { host = \"old\", path = \"/srv/app\" }\nto = { host = \"new\", path = \"/srv/app\" }\nmtime = true\n";
    if verify_only {
        verify.to_string()
    } else {
        format!("{sync}{verify}")
    }
}

#[test]
fn a_sync_then_verify_plan_copies_host_to_host_and_journals_the_proof() {
    let f = Fixture::new("");
    f.write_plan(&plan(&f, false));
    seed(&f);
    let preview = f.run(&["plan"]).expect(0).stdout();
    assert!(
        preview.contains("sync old:/srv/app -> new:/srv/app host to host"),
        "{preview}"
    );
    assert!(
        preview.contains("prove old:/srv/app == new:/srv/app"),
        "{preview}"
    );
    let out = f.run(&["apply", "--yes"]).expect(0).stdout();
    assert!(out.contains("51 files"), "{out}");
    assert!(out.contains("identical"), "{out}");
    assert_eq!(f.host_file("new", "/srv/app/VERSION"), "v1\n");
    let report = f.run(&["report", "--format", "json"]).expect(0).stdout();
    for figure in ["files_sent", "bytes_sent", "source_bytes", "differences"] {
        assert!(report.contains(figure), "{figure} not journaled: {report}");
    }
    assert!(report.contains("blake3 digests: source "), "{report}");
    // The report's proof: both sides' figures and full digests, side by side, equal.
    let markdown = f.run(&["report"]).expect(0).stdout();
    let proof = super::fixture::proof_section(&markdown, "proof (old + new)");
    let digests: Vec<&str> = proof
        .lines()
        .skip_while(|l| !l.starts_with("blake3 digest"))
        .take(2)
        .map(|l| l.split_whitespace().last().unwrap_or(""))
        .collect();
    assert!(
        digests.len() == 2 && digests[0].len() == 64 && digests[0] == digests[1],
        "{proof}"
    );
    assert!(proof.contains("regular files"), "{proof}");
    assert!(proof.contains("result: identical"), "{proof}");
}

#[test]
fn a_difference_fails_files_verify_with_exit_9_naming_it() {
    let f = Fixture::new("");
    f.write_plan(&plan(&f, true));
    seed(&f);
    let src = f.lab.host("old").fs_path("/srv/app");
    let dst = f.lab.host("new").fs_path("/srv/app");
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&dst)
        .status()
        .unwrap();
    assert!(cp.success());
    // Same size, same mtime, different content: what rsync's quick check misses.
    f.lab
        .host("new")
        .exec_ok("cd /srv/app/media/up && t=$(stat -c %y img-7.jpg) && printf Z | dd of=img-7.jpg bs=1 seek=5 conv=notrunc 2>/dev/null && touch -d \"$t\" img-7.jpg")
        .unwrap();
    let run = f.run(&["apply", "--yes"]).expect(9);
    let text = format!("{}{}", run.stdout(), run.stderr());
    assert!(
        text.contains("content differs: media/up/img-7.jpg"),
        "{text}"
    );
    let markdown = f.run(&["report"]).expect(0).stdout();
    let proof = super::fixture::proof_section(&markdown, "proof (old + new)");
    assert!(
        proof.contains("result: different") && proof.contains("media/up/img-7.jpg"),
        "{proof}"
    );
}

#[test]
fn verify_files_works_on_plan_hosts_and_plain_ssh_destinations() {
    let f = Fixture::new("");
    f.write_plan(&plan(&f, true));
    seed(&f);
    let cp = std::process::Command::new("cp")
        .arg("-a")
        .arg(f.lab.host("old").fs_path("/srv/app"))
        .arg(f.lab.host("new").fs_path("/srv/app"))
        .status()
        .unwrap();
    assert!(cp.success());
    // Hosts of the plan file.
    let out = f
        .run(&["verify", "files", "old:/srv/app", "new:/srv/app"])
        .expect(0)
        .stdout();
    assert!(out.starts_with("identical: 56 entries"), "{out}");
    // No plan: SSH destinations through an SSH config, and JSON.
    let config = f.lab.ssh_config().display().to_string();
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_cutover"));
    c.args([
        "-f",
        "/nonexistent/cutover.toml",
        "verify",
        "files",
        "old:/srv/app",
        "new:/srv/app/",
        "--json",
        "--ssh-config",
        &config,
    ]);
    f.lab.host("new").exec_ok("rm /srv/app/VERSION").unwrap();
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(9),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["differences"]["total"], 1);
    assert_eq!(json["differences"]["listed"][0]["kind"], "missing");
    assert_eq!(json["differences"]["listed"][0]["path"], "VERSION");
    // A missing path is a clear error naming it.
    let run = f.run(&["verify", "files", "old:/srv/nope", "new:/srv/app"]);
    assert_ne!(run.code(), 0);
    assert!(
        run.stderr().contains("/srv/nope") && run.stderr().contains("does not exist"),
        "{}",
        run.stderr()
    );
}
