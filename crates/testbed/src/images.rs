//! Test images built offline inside a lab host's Docker daemon (no registry is reachable):
//! `FROM scratch` with Debian's static busybox (a shell, `wget` for healthchecks, `httpd`),
//! the lab's test web app with the few libraries it links, and large images of random layers
//! for the image-copy tests and benchmarks.

use crate::docker::DockerDaemon;
use crate::error::LabError;
use crate::host::LabHost;
use std::path::{Path, PathBuf};

/// Where build contexts go on the host (its private `/tmp`).
const CONTEXTS: &str = "/tmp/cutover-images";
/// Debian's static busybox (package `busybox-static`).
pub(crate) const BUSYBOX: &str = "/bin/busybox";
/// Port the app listens on inside its container.
pub const APP_PORT: u16 = 8080;

/// A build context on `host`: `files` (name, controller-side source) copied in, `Dockerfile`
/// written; returns the directory as the host sees it.
pub(crate) fn context(
    host: &LabHost,
    name: &str,
    files: &[(&str, &Path)],
    dockerfile: &str,
) -> Result<String, LabError> {
    let dir = format!("{CONTEXTS}/{name}");
    let real = host.fs_path(&dir);
    std::fs::create_dir_all(&real).map_err(|e| LabError::io("create build context", &real, e))?;
    for (file, source) in files {
        let to = real.join(file);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent).map_err(|e| LabError::io("create", parent, e))?;
        }
        std::fs::copy(source, &to).map_err(|e| LabError::io("copy into build context", &to, e))?;
    }
    let df = real.join("Dockerfile");
    std::fs::write(&df, dockerfile).map_err(|e| LabError::io("write Dockerfile", &df, e))?;
    Ok(dir)
}

/// Builds `tag` from the context directory `dir` on the daemon's host; returns the image id.
pub(crate) fn build(
    docker: &DockerDaemon,
    dir: &str,
    tag: &str,
    args: &[(&str, &str)],
) -> Result<String, LabError> {
    let mut line = format!("docker build -q -t {}", crate::docker::quote(tag));
    for (k, v) in args {
        line.push_str(&format!(
            " --build-arg {}",
            crate::docker::quote(&format!("{k}={v}"))
        ));
    }
    line.push(' ');
    line.push_str(&crate::docker::quote(dir));
    Ok(docker.shell(&line)?.trim().to_string())
}

/// `FROM scratch` + busybox with its applets linked into `/bin`: a base with a shell.
pub fn busybox(host: &LabHost, docker: &DockerDaemon, tag: &str) -> Result<String, LabError> {
    let dir = context(
        host,
        "busybox",
        &[("busybox", Path::new(BUSYBOX))],
        "FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n",
    )?;
    build(docker, &dir, tag, &[])
}

/// The test web app (`/app`, see [`crate::app`]) on busybox, listening on [`APP_PORT`], its
/// healthcheck `wget` of `/readyz`. `version` goes into a label and `/VERSION`, so every
/// version is its own image id. The app's dynamic libraries come along (ldd), which keeps
/// the image self-contained without a second, static build of the app.
pub fn app(
    host: &LabHost,
    docker: &DockerDaemon,
    tag: &str,
    version: &str,
) -> Result<String, LabError> {
    app_named(host, docker, tag, "app", version)
}

/// [`app`] naming itself `name` (its `/version` says `{"service": NAME, ...}`), for a
/// compose file that, like a real app's, leaves the image's own command alone.
pub fn app_named(
    host: &LabHost,
    docker: &DockerDaemon,
    tag: &str,
    name: &str,
    version: &str,
) -> Result<String, LabError> {
    let bin = crate::app::binary()?;
    let mut files: Vec<(String, PathBuf)> = vec![
        ("busybox".into(), PathBuf::from(BUSYBOX)),
        ("app".into(), bin.clone()),
    ];
    for lib in libraries(&bin)? {
        let name = format!("rootfs{}", lib.display());
        files.push((name, lib));
    }
    let refs: Vec<(&str, &Path)> = files
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_path()))
        .collect();
    let dockerfile = format!(
        "FROM scratch\n\
         COPY busybox /bin/busybox\n\
         RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n\
         COPY rootfs/ /\n\
         COPY app /app\n\
         ARG VERSION\n\
         RUN echo \"$VERSION\" > /VERSION\n\
         LABEL org.cutover.test.version=\"$VERSION\"\n\
         EXPOSE {APP_PORT}\n\
         HEALTHCHECK --interval=1s --timeout=2s --retries=3 CMD wget -q -O /dev/null http://127.0.0.1:{APP_PORT}/readyz || exit 1\n\
         CMD [\"/app\", \"--listen\", \"0.0.0.0:{APP_PORT}\", \"--name\", \"{name}\", \"--version\", \"{version}\"]\n"
    );
    let dir = context(host, &format!("{name}-{version}"), &refs, &dockerfile)?;
    build(docker, &dir, tag, &[("VERSION", version)])
}

/// An image of `layers` layers of `layer_mb` MiB of random data each (incompressible), on
/// top of `base`: the large images of the image-copy tests and benchmark. `seed` makes the
/// layers of two images differ (same seed, same files: the layers are shared).
pub fn random_layers(
    host: &LabHost,
    docker: &DockerDaemon,
    base: &str,
    tag: &str,
    layers: u32,
    layer_mb: u32,
    seed: &str,
) -> Result<String, LabError> {
    let name = format!("random-{seed}-{layers}x{layer_mb}");
    let dir = format!("{CONTEXTS}/{name}");
    let real = host.fs_path(&dir);
    std::fs::create_dir_all(&real).map_err(|e| LabError::io("create build context", &real, e))?;
    let mut dockerfile = format!("FROM {base}\n");
    for i in 0..layers {
        let blob = real.join(format!("blob{i}"));
        if !blob.exists() {
            crate::run::run_ok(
                std::process::Command::new("sh").arg("-c").arg(format!(
                    "head -c {}M /dev/urandom > {}",
                    layer_mb,
                    crate::docker::quote(&blob.to_string_lossy())
                )),
                "write a random layer file",
            )?;
        }
        dockerfile.push_str(&format!("COPY blob{i} /data/{seed}/{i}\n"));
    }
    let df = real.join("Dockerfile");
    std::fs::write(&df, dockerfile).map_err(|e| LabError::io("write Dockerfile", &df, e))?;
    build(docker, &dir, tag, &[])
}

/// A PostgreSQL server image of `major` (the toolset of `scripts/install-deps.sh` with the
/// libraries it links, on busybox): the server runs as uid 70 with its data in
/// `/var/lib/postgresql/data` (made at first start, `trust` auth), its tools on `PATH`, and
/// a `pg_isready` healthcheck. What a Compose stack's `db` service is, built offline.
pub fn postgres(
    host: &LabHost,
    docker: &DockerDaemon,
    tag: &str,
    major: u32,
) -> Result<String, LabError> {
    let bin = crate::postgres::pg_bin(major);
    let tree = bin.parent().map(Path::to_path_buf).unwrap_or_default();
    let name = format!("postgres-{major}");
    let dir = format!("{CONTEXTS}/{name}");
    let real = host.fs_path(&dir);
    if !real.join("pg").exists() {
        std::fs::create_dir_all(real.join("zoneinfo-root/usr/share"))
            .map_err(|e| LabError::io("create build context", &real, e))?;
        crate::run::run_ok(
            std::process::Command::new("cp")
                .arg("-a")
                .arg(&tree)
                .arg(real.join("pg")),
            "copy the PostgreSQL toolset into a build context",
        )?;
        // The toolset reads the system's time zone data (--with-system-tzdata).
        crate::run::run_ok(
            std::process::Command::new("cp")
                .arg("-a")
                .arg("/usr/share/zoneinfo")
                .arg(real.join("zoneinfo-root/usr/share/zoneinfo")),
            "copy the time zone data into a build context",
        )?;
    }
    let mut files: Vec<(String, PathBuf)> = vec![("busybox".into(), PathBuf::from(BUSYBOX))];
    for tool in [
        "postgres",
        "initdb",
        "psql",
        "pg_dump",
        "pg_restore",
        "pg_isready",
    ] {
        for lib in libraries(&bin.join(tool))? {
            if !lib.starts_with(&tree) {
                let name = format!("rootfs{}", lib.display());
                if !files.iter().any(|(n, _)| *n == name) {
                    files.push((name, lib));
                }
            }
        }
    }
    let refs: Vec<(&str, &Path)> = files
        .iter()
        .map(|(n, p)| (n.as_str(), p.as_path()))
        .collect();
    let data = "/var/lib/postgresql/data";
    let dockerfile = format!(
        "FROM scratch
         COPY busybox /bin/busybox
         RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]
         COPY rootfs/ /
         COPY pg/ /opt/pg/
         COPY zoneinfo-root/ /
         RUN mkdir -p /etc /tmp /var/lib/postgresql /var/run/postgresql && chmod 1777 /tmp \\
          && echo 'root:x:0:0::/root:/bin/sh' > /etc/passwd && echo 'postgres:x:70:70::/var/lib/postgresql:/bin/sh' >> /etc/passwd \\
          && echo 'root:x:0:' > /etc/group && echo 'postgres:x:70:' >> /etc/group \\
          && chown 70:70 /var/lib/postgresql /var/run/postgresql
         ENV PATH=/opt/pg/bin:/bin
         USER 70
         HEALTHCHECK --interval=1s --timeout=3s --retries=30 CMD pg_isready -q -h 127.0.0.1 -U postgres || exit 1
         CMD [\"sh\", \"-c\", \"[ -f {data}/PG_VERSION ] || initdb -D {data} -U postgres -A trust --no-sync -E UTF8 --locale=C >/dev/null && exec postgres -D {data} -c listen_addresses='*' -c fsync=off -k /var/run/postgresql,/tmp\"]
"
    );
    let dir = context(host, &name, &refs, &dockerfile)?;
    build(docker, &dir, tag, &[])
}

/// The shared libraries `bin` loads (absolute paths from `ldd`), the loader included.
pub(crate) fn libraries(bin: &Path) -> Result<Vec<PathBuf>, LabError> {
    let out = crate::run::run_ok(
        std::process::Command::new("ldd").arg(bin),
        "list the app's libraries",
    )?;
    let text = String::from_utf8_lossy(&out.stdout);
    let mut libs = Vec::new();
    for line in text.lines() {
        let path = match line.split_once("=>") {
            Some((_, right)) => right.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(p) = path.filter(|p| p.starts_with('/')) {
            libs.push(PathBuf::from(p));
        }
    }
    Ok(libs)
}
