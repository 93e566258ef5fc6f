//! The lab's network: one namespace per host and a switch namespace with a bridge, joined to the
//! root namespace by one veth, following the LAB-NOTES recipe. Every veth is created directly in
//! its namespace (`ip -n SW link add ... peer ... netns HOST`) so that labs built at the same time
//! never race for an interface name in the root namespace.

use crate::error::LabError;
use crate::layout::{Layout, PREFIX_LEN};
use crate::run::ip;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;

const NETNS_DIR: &str = "/run/netns";

/// Creates the lab's namespaces, bridge, links and addresses.
pub(crate) fn create(layout: &Layout) -> Result<(), LabError> {
    let sw = layout.switch_netns();
    ip(
        &["netns", "add", &sw],
        &format!("create switch namespace {sw}"),
    )?;
    for h in &layout.hosts {
        ip(
            &["netns", "add", &h.netns],
            &format!("create namespace of host {}", h.name),
        )?;
    }
    let what = format!("create bridge in {sw}");
    ip(&["-n", &sw, "link", "add", "br0", "type", "bridge"], &what)?;
    ip(&["-n", &sw, "link", "set", "br0", "up"], &what)?;
    for h in &layout.hosts {
        let what = format!("wire host {} to the bridge", h.name);
        let (ns, port) = (h.netns.as_str(), h.switch_port.as_str());
        ip(
            &[
                "-n", &sw, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns,
            ],
            &what,
        )?;
        ip(
            &["-n", &sw, "link", "set", port, "master", "br0", "up"],
            &what,
        )?;
        ip(&["-n", ns, "link", "set", "lo", "up"], &what)?;
        let cidr = format!("{}/{PREFIX_LEN}", h.address);
        ip(&["-n", ns, "addr", "add", &cidr, "dev", "eth0"], &what)?;
        ip(&["-n", ns, "link", "set", "eth0", "up"], &what)?;
    }
    let root = layout.root_veth();
    let what = format!("wire the controller ({root}) to the bridge");
    ip(
        &[
            "link", "add", &root, "type", "veth", "peer", "name", "v-root", "netns", &sw,
        ],
        &what,
    )?;
    ip(
        &["-n", &sw, "link", "set", "v-root", "master", "br0", "up"],
        &what,
    )?;
    let cidr = format!("{}/{PREFIX_LEN}", layout.controller());
    ip(&["addr", "add", &cidr, "dev", &root], &what)?;
    ip(&["link", "set", &root, "up"], &what)
}

/// Removes the root-side veth, kills every process in `namespaces` and deletes them. Best
/// effort: it goes on past failures and returns them as messages, because it runs from `Drop`
/// and on leftovers that may be half gone.
pub(crate) fn destroy(namespaces: &[String], root_veth: &str) -> Vec<String> {
    let mut problems = Vec::new();
    // Deleting the switch namespace frees the veth only "a moment later"; deleting it now means
    // the next holder of the slot never finds it still there.
    if Path::new("/sys/class/net").join(root_veth).exists() {
        if let Err(e) = ip(&["link", "del", root_veth], "delete the controller veth") {
            problems.push(e.to_string());
        }
    }
    for ns in namespaces {
        // Containers live in network namespaces of their own: found by their cgroups.
        crate::docker::kill_cgroup(ns);
    }
    for ns in namespaces.iter().filter(|ns| exists(ns)) {
        problems.extend(kill_all(ns));
        if let Err(e) = ip(&["netns", "del", ns], &format!("delete namespace {ns}")) {
            problems.push(e.to_string());
        }
    }
    problems
}

/// Whether network namespace `ns` exists.
pub(crate) fn exists(ns: &str) -> bool {
    Path::new(NETNS_DIR).join(ns).exists()
}

/// The existing namespaces whose names start with `prefix`.
pub(crate) fn with_prefix(prefix: &str) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|name| name.starts_with(prefix))
        .collect();
    found.sort();
    found
}

/// The processes living in namespace `ns`, found as `ip netns pids` does: by comparing each
/// process's `/proc/PID/ns/net` with the namespace file.
pub(crate) fn pids_in(ns: &str) -> Vec<u32> {
    let Ok(target) = std::fs::metadata(Path::new(NETNS_DIR).join(ns)) else {
        return Vec::new();
    };
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| is_in(*pid, &target))
        .collect()
}

/// Whether process `pid` lives in namespace `ns`.
pub(crate) fn pid_is_in(pid: u32, ns: &str) -> bool {
    std::fs::metadata(Path::new(NETNS_DIR).join(ns)).is_ok_and(|target| is_in(pid, &target))
}

fn is_in(pid: u32, target: &std::fs::Metadata) -> bool {
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .is_ok_and(|m| m.ino() == target.ino() && m.dev() == target.dev())
}

/// SIGKILLs every process in `ns`; returns problems as messages. `kill` exits non-zero when a
/// process ended between listing and killing, which is fine, so only a failure to run it counts.
fn kill_all(ns: &str) -> Vec<String> {
    let pids = pids_in(ns);
    if pids.is_empty() {
        return Vec::new();
    }
    let mut kill = Command::new("kill");
    kill.arg("-KILL").args(pids.iter().map(u32::to_string));
    match crate::run::output(&mut kill, &format!("kill the processes of {ns}")) {
        Ok(_) => Vec::new(),
        Err(e) => vec![e.to_string()],
    }
}
