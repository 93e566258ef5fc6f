//! `compose.up` with `build = true`: the image is built on the host from the project's own
//! files (uploaded from the plan's directory), journaled by id like a pulled one, and a
//! rollback brings back the previous build by that id though the tag has moved.

use crate::compose_fixture::DockerLab;
use cutover_testbed::images;

const COMPOSE: &str =
    "services:\n  web:\n    build: ./web\n    image: shop-web:built\n    ports: [\"18080:8080\"]\n";

const DOCKERFILE: &str = "FROM base:1\n\
COPY index.html /www/index.html\n\
HEALTHCHECK --interval=1s --timeout=2s --retries=3 CMD wget -q -O /dev/null http://127.0.0.1:8080/index.html || exit 1\n\
CMD [\"httpd\", \"-f\", \"-p\", \"8080\", \"-h\", \"/www\"]\n";

const PLAN: &str = r#"[[stages]]
name = "deploy"
[[stages.steps]]
id = "stack"
kind = "compose.up"
host = "new"
dir = "/srv/shop"
project = "shop"
upload = ["compose.yaml", "web"]
build = true
wait_timeout = "30s"
"#;

#[test]
fn compose_up_builds_the_projects_image_on_the_host_and_rolls_back_to_the_previous_build() {
    let d = DockerLab::start(&["new"]);
    images::busybox(d.lab.host("new"), d.docker("new"), "base:1").expect("base image");
    let page = |text: &str| {
        d.plan(
            PLAN,
            &[
                ("compose.yaml", COMPOSE),
                ("web/Dockerfile", DOCKERFILE),
                ("web/index.html", text),
            ],
        )
    };
    let served = || {
        let addr = format!("{}:18080", d.lab.host("new").address());
        DockerLab::get(&addr, "/index.html")
    };
    let first = page("release 1\n");
    let out = first.run(&["apply", "--yes"], &[]).expect(0).stdout();
    let id1 = d.sh("new", "image inspect -f '{{.Id}}' shop-web:built");
    let short1 = &id1["sha256:".len()..][..12];
    assert!(
        out.contains(&format!(
            "up and healthy: shop: web shop-web:built (sha256:{short1})"
        )),
        "{out}"
    );
    assert_eq!(served(), (200, "release 1\n".to_string()));
    // A new build from changed files: the tag moves to a new image.
    let second = page("release 2\n");
    let out = second.run(&["apply", "--yes"], &[]).expect(0).stdout();
    let id2 = d.sh("new", "image inspect -f '{{.Id}}' shop-web:built");
    assert_ne!(id1, id2, "the changed file did not make a new image");
    assert!(out.contains(&id2["sha256:".len()..][..12]), "{out}");
    assert_eq!(served(), (200, "release 2\n".to_string()));
    // Rolling the second run back brings back the first build, by its id.
    let rb = second.run(&["rollback", "--yes"], &[]).expect(0).stdout();
    assert!(rb.contains(&format!("sha256:{short1}")), "{rb}");
    assert_eq!(served(), (200, "release 1\n".to_string()));
    // And the project's files as they were, the uploaded directory included.
    let index = d.lab.host("new").fs_path("/srv/shop/web/index.html");
    assert_eq!(std::fs::read_to_string(index).unwrap(), "release 1\n");
}
