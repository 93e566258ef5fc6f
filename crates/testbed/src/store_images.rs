//! Database server images built offline inside a lab host's Docker daemon, like
//! [`crate::images`]: what a Compose stack's `redis` service is, for tests of the steps that
//! reach a server in a container.

use crate::docker::DockerDaemon;
use crate::error::LabError;
use crate::host::LabHost;
use crate::images::{build, context, libraries, BUSYBOX};
use std::path::{Path, PathBuf};

/// Port the Redis server listens on inside its container.
pub const REDIS_PORT: u16 = 6379;

/// A Redis 7.0 server image (Debian's `redis-server` and `redis-cli` with the libraries
/// they link, on busybox). The server listens on [`REDIS_PORT`] on every address, keeps no
/// snapshot, starts a full sync at once (`repl-diskless-sync-delay 0`), and requires the
/// password in `$REDIS_PASSWORD` when it is set; its healthcheck is `redis-cli PING`.
pub fn redis(host: &LabHost, docker: &DockerDaemon, tag: &str) -> Result<String, LabError> {
    let server = crate::redis::RedisVersion::Redis70.server();
    let cli = server.with_file_name("redis-cli");
    let cli = if cli.exists() {
        cli
    } else {
        PathBuf::from("/usr/bin/redis-cli")
    };
    let mut files: Vec<(String, PathBuf)> = vec![
        ("busybox".into(), PathBuf::from(BUSYBOX)),
        ("redis-server".into(), server.clone()),
        ("redis-cli".into(), cli.clone()),
    ];
    for bin in [&server, &cli] {
        for lib in libraries(bin)? {
            let name = format!("rootfs{}", lib.display());
            if !files.iter().any(|(n, _)| *n == name) {
                files.push((name, lib));
            }
        }
    }
    let refs: Vec<(&str, &Path)> = files
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_path()))
        .collect();
    let dockerfile = format!(
        "FROM scratch
         COPY busybox /bin/busybox
         RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]
         COPY rootfs/ /
         COPY redis-server redis-cli /usr/local/bin/
         RUN mkdir -p /data /tmp && chmod 1777 /tmp
         ENV PATH=/usr/local/bin:/bin
         EXPOSE {REDIS_PORT}
         HEALTHCHECK --interval=1s --timeout=2s --retries=30 CMD sh -c 'REDISCLI_AUTH=\"$REDIS_PASSWORD\" redis-cli -p {REDIS_PORT} PING | grep -q PONG'
         CMD [\"sh\", \"-c\", \"exec redis-server --port {REDIS_PORT} --bind 0.0.0.0 --protected-mode no --dir /data --save '' --appendonly no --repl-diskless-sync-delay 0 ${{REDIS_PASSWORD:+--requirepass \\\"$REDIS_PASSWORD\\\"}}\"]
"
    );
    let dir = context(host, "redis-7.0", &refs, &dockerfile)?;
    build(docker, &dir, tag, &[])
}

/// A MariaDB 10.11 server image (Debian's `mariadbd` with the libraries it links, its
/// messages and character sets, on busybox). It has no entry point of its own: a test runs
/// `mariadbd` with the data directory of a [`crate::MariaServer`] it stopped, mounted at the
/// same path (so its binary log index and its socket keep their paths), as that server's
/// own user.
pub fn mariadb(host: &LabHost, docker: &DockerDaemon, tag: &str) -> Result<String, LabError> {
    let server = PathBuf::from("/usr/sbin/mariadbd");
    let mut files: Vec<(String, PathBuf)> = vec![
        ("busybox".into(), PathBuf::from(BUSYBOX)),
        ("mariadbd".into(), server.clone()),
        (
            "rootfs/usr/share/mysql/english/errmsg.sys".into(),
            PathBuf::from("/usr/share/mysql/english/errmsg.sys"),
        ),
    ];
    let charsets = Path::new("/usr/share/mysql/charsets");
    let entries = std::fs::read_dir(charsets).map_err(|e| LabError::io("read", charsets, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| LabError::io("read", charsets, e))?;
        let name = format!(
            "rootfs/usr/share/mysql/charsets/{}",
            entry.file_name().to_string_lossy()
        );
        files.push((name, entry.path()));
    }
    for lib in libraries(&server)? {
        files.push((format!("rootfs{}", lib.display()), lib));
    }
    let refs: Vec<(&str, &Path)> = files
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_path()))
        .collect();
    let dockerfile = "FROM scratch
         COPY busybox /bin/busybox
         RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]
         COPY rootfs/ /
         COPY mariadbd /usr/sbin/mariadbd
         RUN mkdir -p /tmp && chmod 1777 /tmp
         ENV PATH=/usr/sbin:/bin
";
    let dir = context(host, "mariadb-10.11", &refs, dockerfile)?;
    build(docker, &dir, tag, &[])
}
