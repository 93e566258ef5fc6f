//! The lab's own integration tests: its Docker daemons.

use cutover_testbed::docker::DockerDaemon;
use cutover_testbed::{images, Lab};
use std::path::Path;
use std::time::Duration;

/// A daemon per host, an image built offline, a Compose project whose published port
/// answers from the controller; after teardown no container process or cgroup is left.
#[test]
fn docker_daemon_per_host_runs_compose_and_leaves_nothing() {
    let lab = Lab::start().expect("lab");
    let new = lab.host("new");
    let old = lab.host("old");
    let docker = DockerDaemon::start(new).expect("dockerd on new");
    let other = DockerDaemon::start(old).expect("dockerd on old");
    let id = images::app(new, &docker, "app:1", "1").expect("app image");
    assert!(id.starts_with("sha256:"), "{id}");
    // Each host has its own daemon: old has no images.
    assert_eq!(other.docker("image ls -q").unwrap().trim(), "");
    std::fs::create_dir_all(new.fs_path("/srv/shop")).unwrap();
    std::fs::write(
        new.fs_path("/srv/shop/compose.yaml"),
        "services:\n  web:\n    image: app:1\n    ports: [\"18080:8080\"]\n",
    )
    .unwrap();
    let out = new
        .ssh("cd /srv/shop && docker compose -p shop up -d --wait")
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let addr = std::net::SocketAddr::from((new.address(), 18080));
    let mut stream = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).unwrap();
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut reply = String::new();
    stream.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with("ready app 1\n"), "{reply}");
    let netns = new.netns().to_string();
    drop(docker);
    drop(other);
    drop(lab);
    for h in std::fs::read_dir("/sys/fs/cgroup").unwrap().flatten() {
        let dir = h.path().join("cutover-lab").join(&netns);
        assert!(!Path::new(&dir).exists(), "{} is left", dir.display());
    }
}
