//! A lab with an executor over both hosts (and the controller as `local`), and the agent
//! binary to upload.

use cutover_data::agent::AgentBinary;
use cutover_data::files::{ManifestOptions, VerifyOptions};
use cutover_exec::{Executor, Redactor, SshTarget, Target};
use cutover_testbed::Lab;
use std::collections::HashMap;

pub fn agent() -> AgentBinary {
    AgentBinary {
        path: env!("CARGO_BIN_EXE_cutover-files-agent").into(),
        args: Vec::new(),
    }
}

pub fn executor(lab: &Lab) -> Executor {
    let mut targets: HashMap<String, Target> = ["old", "new"]
        .map(|h| {
            (
                h.to_string(),
                Target::Ssh(SshTarget {
                    name: h.into(),
                    destination: h.into(),
                    port: None,
                    user: None,
                    identity: None,
                    jump: None,
                    known_hosts: None,
                    config: Some(lab.ssh_config().to_path_buf()),
                    connect_timeout: 5,
                    control_dir: cutover_exec::control_dir_for(&lab.dir().display().to_string()),
                }),
            )
        })
        .into_iter()
        .collect();
    targets.insert("local".into(), Target::Local);
    Executor::new(targets, Redactor::default())
}

pub fn options() -> VerifyOptions {
    VerifyOptions {
        manifest: ManifestOptions {
            cache: true,
            ..ManifestOptions::default()
        },
        source_sudo: false,
        target_sudo: false,
        agent: agent(),
    }
}

/// A small app tree on `old` at `dir`: uploads in folders, a symlink, an empty dir, odd names.
pub fn seed(lab: &Lab, dir: &str) {
    lab.host("old")
        .exec_ok(&format!(
            "set -e; rm -rf {dir}; mkdir -p {dir}/media/a {dir}/media/b {dir}/empty {dir}/static
             for i in $(seq 1 30); do head -c $((4096 + i * 131)) /dev/urandom > {dir}/media/a/f$i.jpg; done
             for i in $(seq 1 10); do head -c $((70000 + i)) /dev/urandom > {dir}/media/b/g$i.bin; done
             printf 'body{{}}\\n' > {dir}/static/site.css; chmod 640 {dir}/static/site.css
             ln -s media/a {dir}/uploads
             printf x > \"{dir}/new
line.txt\"; printf y > {dir}/$(printf 'bad\\377\\376.bin')"
        ))
        .unwrap();
}

/// Copies `dir` from `old` to `new` the way an operator would (cp -a on the controller).
pub fn copy(lab: &Lab, dir: &str) {
    let to = lab.host("new").fs_path(dir);
    let _ = std::fs::remove_dir_all(&to);
    std::fs::create_dir_all(to.parent().unwrap()).unwrap();
    let out = std::process::Command::new("cp")
        .arg("-a")
        .arg(lab.host("old").fs_path(dir))
        .arg(&to)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
