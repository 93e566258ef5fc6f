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
