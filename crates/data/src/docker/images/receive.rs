//! The receiving end of an image copy, on the target host: checks the engine has room,
//! listens, takes the one connection that presents the key, and feeds the archive to
//! `docker load`. The stream is untrusted: `docker load` is the judge of what it holds
//! (every layer is checked against its digest), and the controller compares image ids
//! afterwards.

use super::{ImagesStats, ReceiveOptions};
use crate::agent::host::{error, statvfs, Out};
use crate::agent::protocol::Reply;
use crate::files::sync::wire::Get;
use crate::files::sync::Fail;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Receives images into the engine; the reply for the controller.
pub fn run(o: &ReceiveOptions, out: &Out) -> Reply {
    match receive(o, out) {
        Ok(stats) => Reply::ImagesDone { stats },
        Err(f) => error(f.message, f.code),
    }
}

fn receive(o: &ReceiveOptions, out: &Out) -> Result<ImagesStats, Fail> {
    let started = Instant::now();
    check_space(o)?;
    let listen_opts = crate::files::sync::ReceiveOptions {
        key: o.key.clone(),
        listen: o.listen.clone(),
        port: o.port,
        ..Default::default()
    };
    let listener = crate::files::sync::receive::listen(&listen_opts)?;
    let port = listener.local_addr().map_err(Fail::io("listen"))?.port();
    out.reply(&Reply::Listening { port })
        .map_err(Fail::io("reply"))?;
    let (mut r, socket) =
        crate::files::sync::receive::accept(&listener, &o.key, Duration::from_secs(60))?;
    let stall = crate::files::sync::stall(o.stall_ms);
    socket
        .set_read_timeout(Some(stall))
        .map_err(Fail::io("connection"))?;
    let mut load = Command::new("docker")
        .arg("load")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Fail::new(format!("cannot run `docker load`: {e}"), "docker"))?;
    let mut stdin = load
        .stdin
        .take()
        .ok_or_else(|| Fail::new("docker load: no input".into(), "docker"))?;
    let mut stats = ImagesStats::default();
    let mut buf = vec![0u8; 1 << 20];
    let copied: Result<(), Fail> = (|| loop {
        let n = r.u32().map_err(Fail::io("receiving from the sender"))? as usize;
        if n == 0 {
            return Ok(());
        }
        if n > buf.len() {
            return Err(Fail::new(
                format!("the sender sent a chunk of {n} bytes, more than allowed"),
                "protocol",
            ));
        }
        r.read_exact(&mut buf[..n])
            .map_err(Fail::io("receiving from the sender"))?;
        stdin
            .write_all(&buf[..n])
            .map_err(|e| Fail::new(format!("docker load stopped reading: {e}"), "docker"))?;
        stats.bytes += n as u64;
    })();
    drop(stdin);
    if copied.is_err() {
        // The archive is incomplete: docker load must not take half of it.
        let _ = load.kill();
    }
    let result = load.wait_with_output().map_err(Fail::io("docker load"))?;
    let said = |b: &[u8]| {
        crate::docker::failure::clean(&String::from_utf8_lossy(b))
            .trim()
            .to_string()
    };
    if let Err(f) = copied {
        let err = said(&result.stderr);
        return Err(if err.is_empty() || f.code != "docker" {
            f
        } else {
            Fail::new(format!("`docker load` failed: {err}"), "docker")
        });
    }
    if !result.status.success() {
        return Err(Fail::new(
            format!("`docker load` failed: {}", said(&result.stderr)),
            "docker",
        ));
    }
    stats.loaded = said(&result.stdout);
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

/// `docker load` unpacks the archive under the data root, then the layers: twice the bytes
/// must be free there, or nothing starts.
fn check_space(o: &ReceiveOptions) -> Result<(), Fail> {
    if o.bytes == 0 || o.root.is_empty() {
        return Ok(());
    }
    let (available, _) = statvfs(std::path::Path::new(&o.root)).map_err(|e| {
        Fail::new(
            format!("cannot measure free space at {}: {e}", o.root),
            "space",
        )
    })?;
    let need = o.bytes.saturating_mul(2);
    if available < need {
        use crate::files::verify::human_bytes;
        return Err(Fail::new(
            format!(
                "not enough space for the images under {}: {} free, {} needed (docker load unpacks {} twice); nothing was loaded",
                o.root,
                human_bytes(available),
                human_bytes(need),
                human_bytes(o.bytes)
            ),
            "no-space",
        ));
    }
    Ok(())
}
