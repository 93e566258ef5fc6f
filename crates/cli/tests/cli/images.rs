//! `images.copy` and named volumes end to end between two lab hosts' Docker engines: only
//! the layers the target lacks go over, the ids are proved equal, a second apply has
//! nothing to do; volumes are synced and verified by name.

use crate::compose_fixture::DockerLab;
use cutover_testbed::images;

fn copy_plan(images: &str) -> String {
    format!(
        r#"[[stages]]
name = "images"
[[stages.steps]]
id = "copy"
kind = "images.copy"
from = "old"
to = "new"
images = [{images}]
"#
    )
}

#[test]
fn images_copy_sends_only_missing_layers_and_proves_the_ids() {
    let d = DockerLab::start(&["old", "new"]);
    let old = d.lab.host("old");
    images::busybox(old, d.docker("old"), "base:1").unwrap();
    images::random_layers(old, d.docker("old"), "base:1", "big:1", 3, 4, "a").unwrap();
    images::random_layers(old, d.docker("old"), "big:1", "big:2", 1, 4, "b").unwrap();
    let id = |host: &str, tag: &str| d.sh(host, &format!("image inspect -f '{{{{.Id}}}}' {tag}"));
    let short = |full: &str| full["sha256:".len()..][..12].to_string();

    let first = d.plan(&copy_plan("\"big:1\""), &[]);
    let out = first.run(&["apply", "--yes"], &[]).expect(0).stdout();
    assert!(
        out.contains(&format!(
            "big:1 (sha256:{}) on new with the same ids as on old: 5 layer(s) sent",
            short(&id("old", "big:1"))
        )),
        "{out}"
    );
    assert!(
        out.contains("0 the target had skipped; read from the layer store"),
        "{out}"
    );
    assert_eq!(id("new", "big:1"), id("old", "big:1"));

    // The next release shares all but its top layer: only that one goes over.
    let second = d.plan(&copy_plan("\"big:2\""), &[]);
    let out = second.run(&["apply", "--yes"], &[]).expect(0).stdout();
    assert!(out.contains("1 layer(s) sent"), "{out}");
    assert!(out.contains("5 the target had skipped"), "{out}");
    assert_eq!(id("new", "big:2"), id("old", "big:2"));

    // Already there: the step is in place, nothing moves.
    let again = d.plan(&copy_plan("\"big:1\", \"big:2\""), &[]);
    let out = again.run(&["apply", "--yes"], &[]).expect(0).stdout();
    assert!(out.contains("already in place"), "{out}");

    // An image the source does not have: said before anything moves.
    let missing = d.plan(&copy_plan("\"nothere:1\""), &[]);
    let err = missing.run(&["apply", "--yes"], &[]).expect(5).stderr();
    assert_eq!(
        err.trim_end(),
        "error: step `copy` failed: image `nothere:1` is not on old: check its name with `docker image ls` there"
    );
}

#[test]
fn named_volumes_are_synced_and_verified_by_name() {
    let d = DockerLab::start(&["old", "new"]);
    d.sh("old", "volume create shop_media");
    let old = d.lab.host("old");
    let root = old.fs_path("/var/lib/docker/volumes/shop_media/_data");
    std::fs::create_dir_all(root.join("uploads")).unwrap();
    std::fs::write(root.join("uploads/a.jpg"), "picture").unwrap();
    std::fs::write(root.join("index"), "1").unwrap();
    let plan = d.plan(
        r#"[[stages]]
name = "media"
[[stages.steps]]
id = "copy-media"
kind = "files.sync"
from = { host = "old", volume = "shop_media" }
to = { host = "new", volume = "shop_media" }
[[stages.steps]]
id = "prove-media"
kind = "files.verify"
from = { host = "old", volume = "shop_media" }
to = { host = "new", volume = "shop_media" }
[[stages.steps]]
id = "prove-uploads"
kind = "files.verify"
from = { host = "old", volume = "shop_media", path = "uploads" }
to = { host = "new", volume = "shop_media", path = "uploads" }
"#,
        &[],
    );
    let out = plan.run(&["apply", "--yes"], &[]).expect(0).stdout();
    assert!(out.contains("identical: "), "{out}");
    let new = d.lab.host("new");
    assert_eq!(
        std::fs::read_to_string(
            new.fs_path("/var/lib/docker/volumes/shop_media/_data/uploads/a.jpg")
        )
        .unwrap(),
        "picture"
    );
    assert_eq!(d.sh("new", "volume ls -q"), "shop_media");
    let shown = plan.run(&["plan"], &[]).expect(0).stdout();
    assert!(
        shown.contains("old:volume shop_media -> new:volume shop_media"),
        "{shown}"
    );
    // A volume the source does not have is named, with the fix.
    let missing = d.plan(
        r#"[[stages]]
name = "media"
[[stages.steps]]
id = "prove"
kind = "files.verify"
from = { host = "old", volume = "media" }
to = { host = "new", volume = "shop_media" }
"#,
        &[],
    );
    let err = missing.run(&["apply", "--yes"], &[]).expect(5).stderr();
    assert_eq!(
        err.trim_end(),
        "error: step `prove` failed: volume `media` does not exist on old: check its name with `docker volume ls` (compose prefixes the project's name: PROJECT_media)"
    );
}
