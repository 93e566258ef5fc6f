//! What a test sees of the hosts: real SSH with pinned keys, private files, the lab network.

use crate::{ssh, ssh_ok};
use cutover_testbed::{Lab, LabError};
use std::path::Path;
use std::process::Command;

#[test]
fn both_hosts_answer_ssh_by_name_and_address_with_the_generated_config() -> Result<(), LabError> {
    let lab = Lab::start()?;
    for name in ["old", "new"] {
        let host = lab.host(name);
        assert_eq!(ssh_ok(&lab, name, "hostname").trim(), name);
        assert_eq!(
            ssh_ok(&lab, &host.address().to_string(), "id -un").trim(),
            "root"
        );
        let argv = host.ssh_argv("echo via argv");
        let out = Command::new(&argv[0])
            .args(&argv[1..])
            .output()
            .expect("ssh runs");
        assert_eq!(String::from_utf8_lossy(&out.stdout), "via argv\n");
        assert!(host.host_key_fingerprint().starts_with("SHA256:"));
    }
    assert_ne!(
        lab.host("old").host_key_fingerprint(),
        lab.host("new").host_key_fingerprint()
    );
    let config = std::fs::read_to_string(lab.ssh_config()).expect("ssh_config readable");
    assert!(!config.contains("HostKeyAlias"), "{config}");
    assert!(lab.identity().exists() && lab.known_hosts().exists());
    Ok(())
}

#[test]
fn each_host_sees_its_own_srv_at_the_same_path() -> Result<(), LabError> {
    let lab = Lab::start()?;
    let (old, new) = (lab.host("old"), lab.host("new"));
    ssh_ok(
        &lab,
        "old",
        "mkdir -p /srv/app && echo from-old > /srv/app/marker",
    );
    assert_eq!(
        new.exec_ok("test -e /srv/app/marker && echo visible || echo absent")?
            .trim(),
        "absent"
    );
    assert_eq!(old.exec_ok("cat /srv/app/marker")?, "from-old\n");
    let on_controller = old.fs_path("/srv/app/marker");
    assert_eq!(
        std::fs::read_to_string(&on_controller).expect("visible at fs_path"),
        "from-old\n"
    );
    assert!(!new.fs_path("/srv/app/marker").exists());
    assert!(
        !Path::new("/srv/app/marker").exists(),
        "leaked into the real /srv"
    );
    // Shared paths map to themselves; /tmp keeps its sticky world-writable mode.
    assert_eq!(old.fs_path("/etc/hostname"), Path::new("/etc/hostname"));
    assert_eq!(new.exec_ok("stat -c %a /tmp /root")?, "1777\n700\n");
    // exec lands where an ssh login would: the host's own /root, under the host's name.
    assert_eq!(new.exec_ok("pwd; hostname")?, "/root\nnew\n");
    Ok(())
}

#[test]
fn old_reaches_new_sshd_over_the_lab_network() -> Result<(), LabError> {
    let lab = Lab::start()?;
    let new_addr = lab.host("new").address();
    let banner = lab.host("old").exec_ok(&format!(
        "timeout 3 bash -c 'exec 3<>/dev/tcp/{new_addr}/22; head -c 7 <&3'"
    ))?;
    assert_eq!(banner, "SSH-2.0");
    lab.host("old")
        .exec_ok(&format!("ping -c 1 -W 2 {new_addr}"))?;
    let route = lab
        .host("new")
        .exec_ok(&format!("ip -4 route get {}", lab.controller_address()))?;
    assert!(route.contains("dev eth0"), "{route}");
    Ok(())
}

#[test]
fn a_changed_host_key_is_refused_by_ssh() -> Result<(), LabError> {
    let lab = Lab::start()?;
    let known = std::fs::read_to_string(lab.known_hosts()).expect("known_hosts");
    let lines: Vec<&str> = known.lines().collect();
    let new_key = lines[1]
        .split_once(' ')
        .map(|(_, key)| key)
        .expect("key field");
    let forged = format!(
        "old,{} {new_key}\n{}\n",
        lab.host("old").address(),
        lines[1]
    );
    std::fs::write(lab.known_hosts(), forged).expect("rewrite known_hosts");
    let out = ssh(&lab, "old", "true");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("REMOTE HOST IDENTIFICATION HAS CHANGED")
            && stderr.contains("Host key verification failed"),
        "{stderr}"
    );
    Ok(())
}

#[test]
fn a_third_host_gets_address_30_and_answers_ssh() -> Result<(), LabError> {
    let lab = Lab::builder().host("old").host("new").host("dns").start()?;
    let dns = lab.host("dns");
    assert_eq!(dns.address().octets()[3] % 32, 30);
    assert_eq!(ssh_ok(&lab, "dns", "hostname").trim(), "dns");
    assert!(matches!(
        lab.try_host("web"),
        Err(LabError::UnknownHost { .. })
    ));
    Ok(())
}

#[test]
fn failing_commands_and_failure_reports_carry_the_evidence() -> Result<(), LabError> {
    let lab = Lab::start()?;
    let err = lab
        .host("new")
        .exec_ok("echo boom >&2; exit 4")
        .expect_err("exit 4 fails");
    let text = err.to_string();
    assert!(
        text.contains("exited with 4") && text.contains("| boom"),
        "{text}"
    );
    let log = lab.host("new").fs_path("/var/log/lab/app.log");
    lab.host("new")
        .exec_ok("echo app started > /var/log/lab/app.log")?;
    lab.add_log("new: app", &log);
    let report = lab.failure_report();
    assert!(
        report.contains("----- new: app (") && report.contains("| app started"),
        "{report}"
    );
    assert!(report.contains("Server listening on"), "{report}");
    Ok(())
}

#[test]
fn the_test_app_serves_health_and_fails_on_demand() {
    let lab = cutover_testbed::Lab::start().unwrap();
    let _app = cutover_testbed::app::start_on(lab.host("new"), 8080).unwrap();
    let addr = lab.host("new").address();
    let get = |path: &str| {
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-w",
                " %{http_code}",
                &format!("http://{addr}:8080{path}"),
            ])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(get("/healthz").contains("\"status\":\"ok\"") && get("/healthz").ends_with(" 200"));
    assert_eq!(get("/"), "hello from new\n 200");
    std::process::Command::new("curl")
        .args([
            "-s",
            "-X",
            "POST",
            &format!("http://{addr}:8080/_control/fail"),
        ])
        .output()
        .unwrap();
    assert!(get("/healthz").ends_with(" 503"));
    assert!(get("/metrics").contains("app_requests_total{code=\"503\"}"));
}
