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

#[test]
#[ignore]
fn scratch_measure_save_load() {
    let lab = Lab::start().expect("lab");
    let new = lab.host("new");
    let old = lab.host("old");
    let dn = DockerDaemon::start(new).expect("dockerd on new");
    let d = DockerDaemon::start(old).expect("dockerd on old");
    images::busybox(old, &d, "bb:1").unwrap();
    let t = std::time::Instant::now();
    images::random_layers(old, &d, "bb:1", "big:1", 5, 100, "a").unwrap();
    eprintln!("build {:?}", t.elapsed());
    let ssh = lab.ssh_config().display().to_string();
    std::fs::write(
        old.fs_path("/root/ssh_config"),
        std::fs::read(&ssh).unwrap(),
    )
    .unwrap();
    let _ = dn;
    for round in 0..2 {
        let t = std::time::Instant::now();
        d.shell("docker save big:1 > /dev/null").unwrap();
        eprintln!("save to null {:?}", t.elapsed());
        let t = std::time::Instant::now();
        let out = old
            .exec(&format!("docker save big:1 | ssh -F {ssh} new docker load"))
            .unwrap();
        eprintln!(
            "save|ssh load {:?} {}",
            t.elapsed(),
            String::from_utf8_lossy(&out.stderr)
        );
        let t = std::time::Instant::now();
        old.exec(&format!(
            "head -c 500M /dev/zero | ssh -F {ssh} new 'cat > /dev/null'"
        ))
        .unwrap();
        eprintln!("ssh 500M {:?}", t.elapsed());
        dn.docker("rmi big:1").unwrap();
        let _ = round;
    }
}

#[test]
#[ignore]
fn scratch_compose_behaviour() {
    let lab = Lab::start().expect("lab");
    let new = lab.host("new");
    let d = DockerDaemon::start(new).expect("dockerd on new");
    images::app(new, &d, "app:1", "1").unwrap();
    images::app(new, &d, "app:2", "2").unwrap();
    std::fs::create_dir_all(new.fs_path("/srv/shop")).unwrap();
    let w = |name: &str, text: &str| {
        std::fs::write(new.fs_path(&format!("/srv/shop/{name}")), text).unwrap()
    };
    let run = |cmd: &str| {
        let out = new.ssh(&format!("cd /srv/shop && {cmd}")).unwrap();
        eprintln!(
            "$ {cmd}\n[exit {:?}]\n--stdout--\n{}\n--stderr--\n{}\n",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    w(
        "bad.yaml",
        "services:\n  web:\n    image: app:1\n    ports: [\"18080:8080\"\n",
    );
    run("docker compose -f bad.yaml config");
    w("bad2.yaml", "services:\n  web:\n    imag: app:1\n");
    run("docker compose -f bad2.yaml config");
    w("ok.yaml", "services:\n  web:\n    image: app:1\n    ports: [\"${PORT:-18080}:8080\"]\n  worker:\n    image: app:1\n    command: [\"/app\", \"--listen\", \"0.0.0.0:9000\"]\n    healthcheck:\n      test: [\"CMD\", \"true\"]\n");
    run("docker compose -f ok.yaml config --images; docker compose -f ok.yaml config --services; docker compose -f ok.yaml config --format json | head -c 600");
    run("docker compose -p shop -f ok.yaml up -d --wait --wait-timeout 20");
    run("docker compose -p shop ps -a --format json");
    run("docker compose -p shop ps -a -q | xargs docker inspect --format '{{.Name}} {{.Image}} {{.Config.Image}} {{json .State.Health}} {{index .Config.Labels \"com.docker.compose.service\"}}'");
    run("docker compose -p shop logs --tail 3 --no-color web");
    // port taken
    run("PORT=18080 docker compose -p other -f ok.yaml up -d --wait --wait-timeout 20");
    // missing image
    w("missing.yaml", "services:\n  web:\n    image: nothere:9\n");
    run("docker compose -p m -f missing.yaml up -d --wait --pull never");
    run("docker compose -p m -f missing.yaml up -d --wait --pull missing");
    // unhealthy
    w("sick.yaml", "services:\n  web:\n    image: app:1\n    healthcheck:\n      test: [\"CMD\", \"false\"]\n      interval: 1s\n      retries: 2\n");
    run("docker compose -p sick -f sick.yaml up -d --wait --wait-timeout 15");
    run("docker compose -p sick logs --tail 5 --no-color");
    // pin by id
    let id2 = d.docker("image inspect -f '{{.Id}}' app:2").unwrap();
    w(
        "pin.yaml",
        &format!("services:\n  web:\n    image: {}\n", id2.trim()),
    );
    run(
        "docker compose -p shop -f ok.yaml -f pin.yaml up -d --wait --wait-timeout 20 --pull never",
    );
    run("docker compose -p shop ps -a -q | xargs docker inspect --format '{{.Name}} {{.Image}} {{.Config.Image}}'");
    run("docker compose -p shop down -t 1");
    run("docker volume create vv && docker volume inspect --format '{{.Mountpoint}}' vv; docker volume inspect nope");
    run("docker info --format '{{.Driver}} {{.DockerRootDir}} {{json .DriverStatus}}'");
    drop(d);
    run("docker compose -p shop ps");
}
