//! Booting a host: its private directories, its sshd config, and a boot script run inside the
//! host's network namespace and a fresh mount + UTS namespace. The script bind-mounts the private
//! directories, sets the hostname and execs sshd, so every process started over SSH (or by
//! `nsenter` on sshd's pid) sees the host's own `/srv`, `/tmp`, ... at the usual paths.

use crate::error::LabError;
use crate::layout::HostLayout;
use crate::run::sh_quote;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// Directories every host gets its own copy of, as real servers have: data, temp and home
/// directories of the servers tests run, the log and runtime dirs tests use, sshd's
/// privilege-separation dir (which nothing creates without systemd), and what a Docker daemon
/// writes (data root, exec root, and the shims' sockets under `/run/containerd`).
pub const DEFAULT_PRIVATE_DIRS: &[&str] = &[
    "/srv",
    "/tmp",
    "/var/tmp",
    "/root",
    "/var/lib/postgresql",
    "/var/lib/redis",
    "/var/lib/mysql",
    "/var/lib/docker",
    "/var/log/lab",
    "/run/lab",
    "/run/sshd",
    "/run/docker",
    "/run/containerd",
];

/// The socket of a host's Docker daemon ([`crate::docker`]): inside the host's private
/// `/run/docker`, announced to every SSH session as `DOCKER_HOST` (the default
/// `/var/run/docker.sock` is in the shared `/run`).
pub const DOCKER_SOCKET: &str = "/run/docker/docker.sock";

pub(crate) const SSHD: &str = "/usr/sbin/sshd";

/// A host's files under the lab directory.
#[derive(Debug, Clone)]
pub(crate) struct HostFiles {
    pub(crate) dir: PathBuf,
}

impl HostFiles {
    pub(crate) fn new(lab_dir: &Path, name: &str) -> Self {
        HostFiles {
            dir: lab_dir.join("hosts").join(name),
        }
    }
    /// Root of the host's private trees: `fs/srv` is the host's `/srv`.
    pub(crate) fn fs_root(&self) -> PathBuf {
        self.dir.join("fs")
    }
    pub(crate) fn host_key(&self) -> PathBuf {
        self.dir.join("ssh_host_ed25519_key")
    }
    pub(crate) fn host_key_pub(&self) -> PathBuf {
        self.dir.join("ssh_host_ed25519_key.pub")
    }
    pub(crate) fn config(&self) -> PathBuf {
        self.dir.join("sshd_config")
    }
    pub(crate) fn log(&self) -> PathBuf {
        self.dir.join("sshd.log")
    }
    fn boot_script(&self) -> PathBuf {
        self.dir.join("boot.sh")
    }
}

/// Creates each private directory twice: the mountpoint in the real root filesystem (if
/// missing) and the host's copy, with the mountpoint's owner and mode (so `/tmp` stays 1777,
/// `/root` 0700 and `/var/lib/postgresql` owned by postgres, as packages set them up).
pub(crate) fn prepare_dirs(files: &HostFiles, private: &[PathBuf]) -> Result<(), LabError> {
    for dir in private {
        fs::create_dir_all(dir).map_err(|e| LabError::io("create mountpoint", dir, e))?;
        let meta = fs::metadata(dir).map_err(|e| LabError::io("stat", dir, e))?;
        let copy = mirror_path(&files.fs_root(), dir);
        fs::create_dir_all(&copy).map_err(|e| LabError::io("create private dir", &copy, e))?;
        std::os::unix::fs::chown(&copy, Some(meta.uid()), Some(meta.gid()))
            .map_err(|e| LabError::io("chown private dir", &copy, e))?;
        let mode = fs::Permissions::from_mode(meta.mode() & 0o7777);
        fs::set_permissions(&copy, mode)
            .map_err(|e| LabError::io("chmod private dir", &copy, e))?;
    }
    Ok(())
}

/// Where the host's copy of absolute path `path` lives under `fs_root`.
pub(crate) fn mirror_path(fs_root: &Path, path: &Path) -> PathBuf {
    fs_root.join(path.strip_prefix("/").unwrap_or(path))
}

/// The sshd config of `host`, per LAB-NOTES: key-only root login, no PAM, files in the lab dir.
pub(crate) fn config_text(host: &HostLayout, files: &HostFiles, authorized_keys: &Path) -> String {
    format!(
        "# Written by cutover-testbed for lab host {name}.\n\
         ListenAddress {addr}:22\n\
         HostKey {key}\n\
         PidFile {pid}\n\
         AuthorizedKeysFile {auth}\n\
         PermitRootLogin prohibit-password\n\
         PasswordAuthentication no\n\
         KbdInteractiveAuthentication no\n\
         UsePAM no\n\
         StrictModes no\n\
         PrintMotd no\n\
         PrintLastLog no\n\
         Subsystem sftp internal-sftp\n\
         LogLevel VERBOSE\n\
         # Tests open many connections at once; sshd's default 10:30:100 drops some at random.\n\
         MaxStartups 100\n\
         MaxSessions 100\n\
         SetEnv DOCKER_HOST=unix://{docker}\n",
        name = host.name,
        addr = host.address,
        key = files.host_key().display(),
        pid = files.dir.join("sshd.pid").display(),
        auth = authorized_keys.display(),
        docker = DOCKER_SOCKET,
    )
}

/// The boot script: mounts the private dirs, names the host, becomes sshd.
pub(crate) fn boot_script_text(
    host: &HostLayout,
    files: &HostFiles,
    private: &[PathBuf],
) -> String {
    let mut out = format!(
        "#!/bin/sh\n# Boots lab host {name} inside its namespaces (written by cutover-testbed).\nset -e\n\
         echo {name} > /proc/sys/kernel/hostname\n",
        name = host.name
    );
    out.push_str(&cgroup_lines(&read_mountinfo()));
    for dir in private {
        let src = mirror_path(&files.fs_root(), dir);
        let (src, dir) = (src.to_string_lossy(), dir.to_string_lossy());
        out.push_str(&format!(
            "mount --bind {} {}\n",
            sh_quote(&src),
            sh_quote(&dir)
        ));
    }
    out.push_str(&format!(
        "exec {SSHD} -D -f {} -E {}\n",
        sh_quote(&files.config().to_string_lossy()),
        sh_quote(&files.log().to_string_lossy())
    ));
    out
}

/// The cgroup hierarchies of the controller's mount namespace, mounted again inside the host:
/// `ip netns exec` remounts `/sys` for the namespace, which leaves `/sys/fs/cgroup` empty, and
/// a Docker daemon refuses to start without them ("Devices cgroup isn't mounted"). Mounting a
/// hierarchy again attaches the same one, so the host sees the machine's cgroups. A failure
/// is only logged: hosts that run no daemon do not need them.
fn cgroup_lines(mountinfo: &str) -> String {
    let mut out = String::new();
    for line in mountinfo.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let point = left.split_whitespace().nth(4).unwrap_or_default();
        let mut right = right.split_whitespace();
        let (fstype, options) = match (right.next(), right.nth(1)) {
            (Some(t), Some(o)) => (t, o),
            _ => continue,
        };
        if !point.starts_with("/sys/fs/cgroup") || point.contains(['\'', '\\']) {
            continue;
        }
        let mount = match fstype {
            "tmpfs" if point == "/sys/fs/cgroup" => "mount -t tmpfs -o mode=755 cgroup-root".into(),
            "cgroup" => format!("mount -t cgroup -o {} cgroup", sh_quote(options)),
            "cgroup2" => "mount -t cgroup2 cgroup2".to_string(),
            _ => continue,
        };
        out.push_str(&format!(
            "mkdir -p {p} && {mount} {p} || echo 'cutover-testbed: cannot mount {p}' >&2\n",
            p = sh_quote(point)
        ));
    }
    out
}

fn read_mountinfo() -> String {
    fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
}

/// Writes the boot script and starts it inside the host. The child's pid becomes sshd's (ip,
/// unshare and sh all exec), which is the pid `nsenter` later targets. It runs in its own
/// process group so a Ctrl-C meant for `cutover-lab` or a test run does not reach it.
pub(crate) fn boot(
    host: &HostLayout,
    files: &HostFiles,
    private: &[PathBuf],
) -> Result<Child, LabError> {
    let script = files.boot_script();
    fs::write(&script, boot_script_text(host, files, private))
        .map_err(|e| LabError::io("write boot script", &script, e))?;
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(files.log())
        .map_err(|e| LabError::io("open sshd log", files.log(), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| LabError::io("open sshd log", files.log(), e))?;
    let mut cmd = Command::new("ip");
    cmd.args([
        "netns",
        "exec",
        &host.netns,
        "unshare",
        "--mount",
        "--uts",
        "--propagation",
        "private",
        "sh",
    ])
    .arg(&script)
    .stdin(Stdio::null())
    .stdout(log)
    .stderr(log2)
    .process_group(0);
    cmd.spawn().map_err(|e| LabError::Command {
        what: format!("boot host {}", host.name),
        command: crate::run::describe(&cmd),
        status: format!("could not run: {e}"),
        stderr: String::new(),
    })
}

/// Whether the process `pid` (sshd, in the host's network namespace) has a socket listening on
/// port 22. Read from `/proc/PID/net/tcp`, which shows the sockets of that process's namespace:
/// no probe connection, so no noise in the sshd log.
pub(crate) fn listening_on_22(pid: u32) -> bool {
    let Ok(table) = fs::read_to_string(format!("/proc/{pid}/net/tcp")) else {
        return false;
    };
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        matches!(fields.as_slice(), [_, local, _, "0A", ..] if local.ends_with(":0016"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn host() -> HostLayout {
        HostLayout {
            name: "old".into(),
            netns: "co1-old".into(),
            address: Ipv4Addr::new(198, 51, 100, 42),
            switch_port: "v-old".into(),
        }
    }

    #[test]
    fn boot_script_mounts_private_dirs_then_execs_sshd() {
        let files = HostFiles::new(Path::new("/lab dir"), "old");
        let script = boot_script_text(&host(), &files, &[PathBuf::from("/srv")]);
        assert!(
            script.contains("mount --bind '/lab dir/hosts/old/fs/srv' /srv\n"),
            "{script}"
        );
        assert!(script.ends_with("exec /usr/sbin/sshd -D -f '/lab dir/hosts/old/sshd_config' -E '/lab dir/hosts/old/sshd.log'\n"), "{script}");
    }

    #[test]
    fn boot_script_mounts_the_controller_cgroup_hierarchies_again() {
        let info = "\
25 1 0:22 / /sys rw,relatime shared:7 - sysfs sysfs rw
30 25 0:26 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:27 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
40 30 0:36 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
41 25 0:37 / /sys/kernel/debug rw - debugfs debugfs rw
";
        assert_eq!(
            cgroup_lines(info),
            "mkdir -p /sys/fs/cgroup && mount -t tmpfs -o mode=755 cgroup-root /sys/fs/cgroup || echo 'cutover-testbed: cannot mount /sys/fs/cgroup' >&2\n\
             mkdir -p /sys/fs/cgroup/cpu && mount -t cgroup -o rw,cpu cgroup /sys/fs/cgroup/cpu || echo 'cutover-testbed: cannot mount /sys/fs/cgroup/cpu' >&2\n\
             mkdir -p /sys/fs/cgroup/unified && mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified || echo 'cutover-testbed: cannot mount /sys/fs/cgroup/unified' >&2\n"
        );
    }

    #[test]
    fn config_listens_on_the_host_address_only() {
        let files = HostFiles::new(Path::new("/lab"), "old");
        let text = config_text(&host(), &files, Path::new("/lab/authorized_keys"));
        assert!(text.contains("ListenAddress 198.51.100.42:22\n"), "{text}");
        assert!(
            text.contains("AuthorizedKeysFile /lab/authorized_keys\n"),
            "{text}"
        );
    }
}
