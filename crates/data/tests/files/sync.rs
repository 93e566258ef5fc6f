//! `sync` between the lab's hosts, host to host: initial and incremental runs (proved by
//! `verify`), preservation options, a full target disk, and resuming an interrupted copy.

use super::fixture::{agent, executor, options, seed};
use cutover_data::agent::AgentError;
use cutover_data::files::sync::{sync, Preserve, SyncOptions, SyncReport};
use cutover_data::files::{verify, FilesError, Side};
use cutover_exec::Executor;
use cutover_testbed::Lab;

fn side(host: &str, path: &str) -> Side {
    Side {
        host: host.into(),
        path: path.into(),
    }
}

fn sync_options(lab: &Lab) -> SyncOptions {
    SyncOptions {
        delete: false,
        exclude: Vec::new(),
        checksum: false,
        preserve: Preserve {
            owner: true,
            ..Preserve::default()
        },
        address: lab.host("new").address().to_string(),
        port: 0,
        relay: false,
        source_sudo: false,
        target_sudo: false,
        agent: agent(),
        stall: None,
    }
}

async fn run(
    ex: &Executor,
    o: &SyncOptions,
    from: &str,
    to: &str,
) -> Result<SyncReport, FilesError> {
    let mut last = None;
    let r = sync(ex, &side("old", from), &side("new", to), o, &mut |p| {
        last = Some(p.clone())
    })
    .await;
    if let Ok(r) = &r {
        if r.sent.files_sent > 0 {
            let p = last.expect("progress was reported");
            assert_eq!(p.total_files, r.sent.files_sent);
        }
    }
    r
}

async fn assert_identical(ex: &Executor, from: &str, to: &str) {
    let mut o = options();
    o.manifest.compare.mtime = true;
    let r = verify(
        ex,
        &side("old", from),
        &side("new", to),
        &o,
        &mut |_, _, _| {},
    )
    .await
    .unwrap();
    assert!(r.matches(), "{}", r.text(20));
}

#[tokio::test]
async fn initial_then_incremental_sync_sends_only_what_changed() {
    let lab = Lab::start().unwrap();
    seed(&lab, "/srv/app");
    lab.host("old")
        .exec_ok("chown -R 33:33 /srv/app/media/b && chmod 2750 /srv/app/media")
        .unwrap();
    let ex = executor(&lab);
    let mut o = sync_options(&lab);
    let r = run(&ex, &o, "/srv/app", "/srv/app").await.unwrap();
    assert_eq!(r.sent.files_sent, 43, "{}", r.line());
    assert_eq!(r.received.files_sent, 43);
    assert!(
        r.sent.errors.is_empty() && r.received.errors.is_empty(),
        "{r:?}"
    );
    assert_identical(&ex, "/srv/app", "/srv/app").await;
    // Nothing changed: nothing is sent (applying twice changes nothing).
    let r = run(&ex, &o, "/srv/app", "/srv/app").await.unwrap();
    assert_eq!(
        (r.sent.files_sent, r.received.meta_updated),
        (0, 0),
        "{}",
        r.line()
    );
    // The final sync: two changed, one new, one removed; deletions only when asked.
    lab.host("old")
        .exec_ok("cd /srv/app && printf new > media/a/f1.jpg && echo more >> media/b/g2.bin && echo n > static/new.css && rm media/a/f9.jpg && chmod 600 media/a/f10.jpg")
        .unwrap();
    lab.host("new")
        .exec_ok("echo stray > /srv/app/static/stray.txt")
        .unwrap();
    let r = run(&ex, &o, "/srv/app", "/srv/app").await.unwrap();
    assert_eq!(r.sent.files_sent, 3, "{}", r.line());
    assert_eq!(r.received.deleted, 0);
    assert!(lab.host("new").fs_path("/srv/app/media/a/f9.jpg").exists());
    o.delete = true;
    o.exclude = vec!["*.tmp".into()];
    lab.host("new")
        .exec_ok("echo keep > /srv/app/cache.tmp")
        .unwrap();
    let r = run(&ex, &o, "/srv/app", "/srv/app").await.unwrap();
    assert_eq!(
        (r.sent.files_sent, r.received.deleted),
        (0, 2),
        "{}",
        r.line()
    );
    assert!(!lab.host("new").fs_path("/srv/app/media/a/f9.jpg").exists());
    assert!(
        lab.host("new").fs_path("/srv/app/cache.tmp").exists(),
        "excluded paths are never deleted"
    );
    lab.host("new").exec_ok("rm /srv/app/cache.tmp").unwrap();
    assert_identical(&ex, "/srv/app", "/srv/app").await;
    ex.disconnect_all().await;
}

#[tokio::test]
async fn hard_links_sparse_files_acls_and_xattrs_are_preserved_when_asked() {
    let lab = Lab::start().unwrap();
    lab.host("old")
        .exec_ok(
            "set -e; mkdir -p /srv/p && cd /srv/p && echo data > a && ln a b
             truncate -s 64M sparse && printf x | dd of=sparse bs=1 seek=1000000 conv=notrunc 2>/dev/null
             echo acl > acl.txt && setfacl -m u:33:rw acl.txt && setfattr -n user.origin -v old acl.txt",
        )
        .unwrap();
    let ex = executor(&lab);
    let mut o = sync_options(&lab);
    o.preserve = Preserve {
        owner: true,
        numeric_ids: true,
        hard_links: true,
        acls: true,
        xattrs: true,
        sparse: true,
        devices: true,
    };
    let r = run(&ex, &o, "/srv/p", "/srv/p").await.unwrap();
    assert!(r.sent.errors.is_empty(), "{r:?}");
    let new = lab.host("new");
    let inodes = new.exec_ok("stat -c %i /srv/p/a /srv/p/b").unwrap();
    let lines: Vec<&str> = inodes.lines().collect();
    assert_eq!(lines[0], lines[1], "hard link kept");
    let used: u64 = new
        .exec_ok("du -k /srv/p/sparse | cut -f1")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(used < 1024, "sparse file takes {used} KiB");
    assert_eq!(
        new.exec_ok("stat -c %s /srv/p/sparse").unwrap().trim(),
        "67108864"
    );
    assert!(new
        .exec_ok("getfacl -pn /srv/p/acl.txt")
        .unwrap()
        .contains("user:33:rw-"));
    assert!(new
        .exec_ok("getfattr -d /srv/p/acl.txt")
        .unwrap()
        .contains("user.origin=\"old\""));
    assert_identical(&ex, "/srv/p", "/srv/p").await;
    ex.disconnect_all().await;
}

#[tokio::test]
async fn a_full_target_disk_stops_the_sync_before_anything_is_written() {
    let lab = Lab::start().unwrap();
    lab.host("old")
        .exec_ok("mkdir -p /srv/big && for i in 1 2 3 4; do head -c 3000000 /dev/urandom > /srv/big/f$i; done")
        .unwrap();
    lab.host("new")
        .exec_ok("mkdir -p /srv/small && mount -t tmpfs -o size=4m tmpfs /srv/small")
        .unwrap();
    let ex = executor(&lab);
    let e = run(&ex, &sync_options(&lab), "/srv/big", "/srv/small/big")
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("not enough space") && text.contains("nothing was written"),
        "{text}"
    );
    assert!(
        matches!(&e, FilesError::Agent(AgentError::Reported { code, .. }) if code == "no-space"),
        "{e:?}"
    );
    let left = lab.host("new").exec_ok("ls -A /srv/small").unwrap();
    assert_eq!(left.trim(), "", "nothing written");
    // Space that runs out mid-way (here a smaller file system mounted inside the target,
    // which the estimate for the target's own file system cannot see): the error names the
    // file and the disk, the file being written is removed, every file in place is whole.
    lab.host("old")
        .exec_ok("mkdir -p /srv/nest/media && echo top > /srv/nest/a.txt && for i in 1 2 3; do head -c 600000 /dev/urandom > /srv/nest/media/m$i; done")
        .unwrap();
    lab.host("new")
        .exec_ok("mkdir -p /srv/nest/media && mount -t tmpfs -o size=1m tmpfs /srv/nest/media")
        .unwrap();
    let e = run(&ex, &sync_options(&lab), "/srv/nest", "/srv/nest")
        .await
        .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("No space left") && text.contains("/srv/nest/media/m"),
        "{text}"
    );
    assert!(
        matches!(&e, FilesError::Agent(AgentError::Reported { code, .. }) if code == "no-space"),
        "{e:?}"
    );
    let left = lab
        .host("new")
        .exec_ok("cd /srv/nest && find . -type f -printf '%p %s\\n'")
        .unwrap();
    assert!(!left.contains("cutover-part"), "{left}");
    for line in left.lines().filter(|l| l.contains("/m")) {
        assert!(line.ends_with(" 600000"), "a partial file was left: {left}");
    }
    ex.disconnect_all().await;
}

#[tokio::test]
async fn an_interrupted_sync_resumes_a_large_file_where_it_stopped() {
    let lab = Lab::start().unwrap();
    lab.host("old")
        .exec_ok("mkdir -p /srv/r && head -c 400000000 /dev/urandom > /srv/r/video.mp4")
        .unwrap();
    let ex = executor(&lab);
    let o = sync_options(&lab);
    let dir = lab.host("new").fs_path("/srv/r");
    // `.video.mp4.TOKEN.cutover-part`: the token is the receiving run's own.
    let find_part = || {
        std::fs::read_dir(&dir).ok()?.find_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            (name.starts_with(".video.mp4.") && name.ends_with(".cutover-part"))
                .then(|| dir.join(name))
        })
    };
    let part;
    {
        let first = run(&ex, &o, "/srv/r", "/srv/r");
        tokio::pin!(first);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        loop {
            tokio::select! {
                r = &mut first => panic!("the sync finished before it could be interrupted: {r:?}"),
                _ = tokio::time::sleep(std::time::Duration::from_millis(20)) => {}
            }
            if let Some(p) =
                find_part().filter(|p| p.metadata().map(|m| m.len()).unwrap_or(0) > 50_000_000)
            {
                part = p;
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no partial file appeared"
            );
        }
        // Dropping the future kills both agents' SSH sessions mid-transfer.
    }
    // The agents notice the controller is gone at their next progress report (every
    // 250 ms) and the transfer runs on until then: wait for the partial copy to stop
    // growing, or a slow machine's second run would race the first one's receiver.
    let kept = settled_len(&part).await;
    assert!(
        !lab.host("new").fs_path("/srv/r/video.mp4").exists(),
        "never under its real name"
    );
    assert!(kept > 8_000_000, "partial kept: {kept}");
    let r = run(&ex, &o, "/srv/r", "/srv/r").await.unwrap();
    assert!(r.sent.bytes_resumed >= 8_000_000, "{}", r.line());
    assert!(r.sent.bytes_sent < 400_000_000);
    assert!(!part.exists());
    assert_identical(&ex, "/srv/r", "/srv/r").await;
    ex.disconnect_all().await;
}

/// A user's files named like cutover's temporary files (the old `.NAME.cutover-part` form
/// and the current one with a token) are ordinary files: synced, kept, never deleted as
/// stale partial copies on the next run.
#[tokio::test]
async fn names_that_look_like_temporary_files_are_synced_and_kept() {
    let lab = Lab::start().unwrap();
    lab.host("old")
        .exec_ok(
            "mkdir -p /srv/t && cd /srv/t && echo a > x && echo b > .x.cutover-part \
             && echo c > .y.0123456789abcdef.cutover-part",
        )
        .unwrap();
    let ex = executor(&lab);
    let o = sync_options(&lab);
    for round in 0..3 {
        let r = run(&ex, &o, "/srv/t", "/srv/t").await.unwrap();
        assert!(r.received.errors.is_empty(), "{r:?}");
        assert_eq!(
            r.sent.files_sent,
            if round == 0 { 3 } else { 0 },
            "round {round}"
        );
        assert_identical(&ex, "/srv/t", "/srv/t").await;
    }
    ex.disconnect_all().await;
}

/// The length of `path` once it has not changed for a second (0 if it is gone).
async fn settled_len(path: &std::path::Path) -> u64 {
    let len = || path.metadata().map(|m| m.len()).unwrap_or(0);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let (mut last, mut since) = (len(), std::time::Instant::now());
    while since.elapsed() < std::time::Duration::from_secs(1) {
        assert!(
            std::time::Instant::now() < deadline,
            "{path:?} kept growing"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        if len() != last {
            (last, since) = (len(), std::time::Instant::now());
        }
    }
    last
}

/// With `relay`, hosts that cannot reach each other still sync: the sealed stream passes
/// through the controller's SSH channels.
#[tokio::test]
async fn relay_streams_through_the_controller_when_asked() {
    let lab = Lab::start().unwrap();
    seed(&lab, "/srv/app");
    lab.host("old")
        .exec_ok("head -c 3000000 /dev/urandom > /srv/app/media/big.bin")
        .unwrap();
    let ex = executor(&lab);
    let mut o = sync_options(&lab);
    o.relay = true;
    // An address nobody answers at: never used with relay.
    o.address = "192.0.2.1".into();
    let r = run(&ex, &o, "/srv/app", "/srv/app").await.unwrap();
    assert_eq!(r.sent.files_sent, 44, "{}", r.line());
    assert_identical(&ex, "/srv/app", "/srv/app").await;
    let r = run(&ex, &o, "/srv/app", "/srv/app").await.unwrap();
    assert_eq!(r.sent.files_sent, 0, "{}", r.line());
    ex.disconnect_all().await;
}
