//! `verify` between the lab's hosts: identical trees, every kind of difference (the
//! mutation suite), and the bad inputs of the issue.

use super::fixture::{copy, executor, options, seed};
use cutover_data::agent::AgentError;
use cutover_data::files::{verify, Algorithm, DiffKind, FilesError, Side};
use cutover_testbed::Lab;
use std::time::Duration;

fn side(host: &str, path: &str) -> Side {
    Side {
        host: host.into(),
        path: path.into(),
    }
}

#[tokio::test]
async fn identical_trees_match_with_equal_digests_and_the_cache_skips_unchanged_files() {
    let lab = Lab::start().unwrap();
    seed(&lab, "/srv/app");
    copy(&lab, "/srv/app");
    let ex = executor(&lab);
    let mut seen = 0;
    let r = verify(
        &ex,
        &side("old", "/srv/app"),
        &side("new", "/srv/app"),
        &options(),
        &mut |_, e, _| seen = seen.max(e),
    )
    .await
    .unwrap();
    assert!(r.matches(), "{}", r.text(50));
    assert_eq!(r.source.summary.digest, r.target.summary.digest);
    assert_eq!(r.source.summary.files, 43);
    assert!(r.source.summary.hashed_files >= 43);
    // The agent was uploaded once and is reused: the file is named by its hash.
    let bins = lab.host("old").exec_ok("ls ~/.cache/cutover/bin").unwrap();
    assert_eq!(bins.lines().count(), 1, "{bins}");

    // Files settle (ctime older than 2 s) before their hashes are cached.
    std::thread::sleep(Duration::from_millis(2100));
    verify(
        &ex,
        &side("old", "/srv/app"),
        &side("new", "/srv/app"),
        &options(),
        &mut |_, _, _| {},
    )
    .await
    .unwrap();
    lab.host("new")
        .exec_ok("printf changed > /srv/app/media/a/f1.jpg")
        .unwrap();
    let r = verify(
        &ex,
        &side("old", "/srv/app"),
        &side("new", "/srv/app"),
        &options(),
        &mut |_, _, _| {},
    )
    .await
    .unwrap();
    assert_eq!(r.source.summary.hashed_files, 0, "{}", r.text(5));
    assert_eq!(r.target.summary.hashed_files, 1, "{}", r.text(5));
    assert_eq!(r.target.summary.cached_files, 42);
    assert_eq!(r.differences.counts.get(&DiffKind::Size), Some(&1));
    assert!(
        r.text(5).contains("size differs: media/a/f1.jpg"),
        "{}",
        r.text(5)
    );
    ex.disconnect_all().await;
}

/// Every kind of difference is found and named, including the one rsync's quick check
/// misses: same size and same mtime, different content.
#[tokio::test]
async fn the_mutation_suite_names_every_difference() {
    let lab = Lab::start().unwrap();
    seed(&lab, "/srv/app");
    copy(&lab, "/srv/app");
    lab.host("new")
        .exec_ok(
            "set -e; cd /srv/app
             t=$(stat -c %y media/a/f2.jpg); printf 'Z' | dd of=media/a/f2.jpg bs=1 seek=10 conv=notrunc 2>/dev/null; touch -d \"$t\" media/a/f2.jpg
             rm media/a/f3.jpg
             echo extra > media/a/extra.txt
             truncate -s 10 media/a/f4.jpg
             chmod 600 media/a/f5.jpg
             chown 33:33 media/a/f6.jpg
             ln -sfn media/b uploads
             rm media/a/f7.jpg && mkdir media/a/f7.jpg
             printf z > \"$(printf 'bad\\377\\376.bin')\"",
        )
        .unwrap();
    let ex = executor(&lab);
    let r = verify(
        &ex,
        &side("old", "/srv/app"),
        &side("new", "/srv/app"),
        &options(),
        &mut |_, _, _| {},
    )
    .await
    .unwrap();
    let text = r.text(100);
    assert!(!r.matches());
    let expect = [
        (DiffKind::Content, "media/a/f2.jpg"),
        (DiffKind::Missing, "media/a/f3.jpg"),
        (DiffKind::Extra, "media/a/extra.txt"),
        (DiffKind::Size, "media/a/f4.jpg"),
        (DiffKind::Mode, "media/a/f5.jpg"),
        (DiffKind::Owner, "media/a/f6.jpg"),
        (DiffKind::Target, "uploads"),
        (DiffKind::Type, "media/a/f7.jpg"),
        (DiffKind::Content, "bad\\xff\\xfe.bin"),
    ];
    for (kind, path) in expect {
        assert!(
            r.differences
                .listed
                .iter()
                .any(|d| d.kind == kind && d.path == path),
            "{kind:?} {path} not reported:\n{text}"
        );
    }
    assert_eq!(r.differences.total, expect.len() as u64, "{text}");
    assert_ne!(r.source.summary.digest, r.target.summary.digest);
    ex.disconnect_all().await;
}

#[tokio::test]
async fn bad_inputs_are_reported_not_skipped() {
    let lab = Lab::start().unwrap();
    let ex = executor(&lab);
    // A path that does not exist: a clear error naming host and path.
    lab.host("new").exec_ok("mkdir -p /srv/app").unwrap();
    let e = verify(
        &ex,
        &side("old", "/srv/nope"),
        &side("new", "/srv/app"),
        &options(),
        &mut |_, _, _| {},
    )
    .await
    .unwrap_err();
    match &e {
        FilesError::Agent(AgentError::Reported {
            host,
            message,
            code,
        }) => {
            assert_eq!((host.as_str(), code.as_str()), ("old", "missing"));
            assert!(message.contains("/srv/nope"), "{message}");
        }
        other => panic!("unexpected {other}"),
    }

    // A file that changes while it is hashed is reported as unstable.
    let old = lab.host("old");
    old.exec_ok(
        "mkdir -p /srv/live && head -c 300000000 /dev/zero > /srv/live/log && mkdir -p /srv/empty",
    )
    .unwrap();
    let mut writer = old
        .spawn("while :; do echo line >> /srv/live/log; done")
        .unwrap();
    copy(&lab, "/srv/live");
    let r = verify(
        &ex,
        &side("old", "/srv/live"),
        &side("new", "/srv/live"),
        &options(),
        &mut |_, _, _| {},
    )
    .await
    .unwrap();
    let _ = writer.kill();
    let _ = writer.wait();
    assert!(
        r.differences
            .listed
            .iter()
            .any(|d| d.kind == DiffKind::Unstable && d.path == "log"),
        "{}",
        r.text(10)
    );
    assert!(!r.matches());
    ex.disconnect_all().await;
}

/// An unreadable file (the agent runs as `nobody` here) is a reported difference, never a
/// silent skip; SHA-256 gives the same hashes as sha256sum.
#[tokio::test]
async fn unreadable_files_are_reported_and_sha256_matches_sha256sum() {
    use cutover_data::files::manifest::{build, ManifestOptions};
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("tree");
    std::fs::create_dir(&root).unwrap();
    std::fs::write(root.join("open.txt"), b"hello\n").unwrap();
    std::fs::write(root.join("secret.txt"), b"s").unwrap();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "chmod 755 {d} {r} && chmod 600 {r}/secret.txt && runuser -u nobody -- {bin} --expect none 2>&1 </dev/null | head -1",
            d = dir.path().display(),
            r = root.display(),
            bin = env!("CARGO_BIN_EXE_cutover-files-agent"),
        ))
        .output()
        .unwrap();
    // The agent refuses to serve under a hash it does not have: the stale-binary check.
    assert!(String::from_utf8_lossy(&out.stdout).contains("stale-binary"));
    let request = format!(
        "{{\"op\":\"manifest\",\"root\":\"{}\",\"options\":{{\"algorithm\":\"sha256\",\"cache\":false,\"compare\":{{\"mode\":true,\"owner\":\"names\",\"mtime\":false}}}}}}\n{{\"op\":\"entries\"}}\n{{\"op\":\"bye\"}}\n",
        root.display()
    );
    let mut child = std::process::Command::new("runuser")
        .args([
            "-u",
            "nobody",
            "--",
            env!("CARGO_BIN_EXE_cutover-files-agent"),
            "serve",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(request.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("\"problems\":1"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.contains("secret.txt") && l.contains("unreadable") && l.contains("denied")),
        "{text}"
    );
    let m = build(
        &root,
        &ManifestOptions {
            algorithm: Algorithm::Sha256,
            ..Default::default()
        },
        &|_, _| {},
    )
    .unwrap();
    let open = m.entries.iter().find(|e| e.path == b"open.txt").unwrap();
    assert_eq!(
        cutover_data::files::entry::hex(&open.hash.unwrap()),
        "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03"
    );
}
