//! The sending end of an image copy, on the source host: connects to the receiver, proves
//! it holds the key, and streams the archive `docker load` reads, built from the layer
//! store (configurations, missing layers, the manifest) or taken from `docker save`.

use super::layers::LayerStore;
use super::{tarball, Chunks, ImagesStats, SendImage, SendOptions, Source};
use crate::agent::host::{error, Out};
use crate::agent::protocol::Reply;
use crate::files::sync::send::Reporter;
use crate::files::sync::wire::{Direction, SealWriter, GREETING};
use crate::files::sync::Fail;
use std::collections::BTreeSet;
use std::io::{BufWriter, Read, Write};
use std::time::Instant;

/// Sends the images; the reply for the controller.
pub fn run(o: &SendOptions, out: &Out) -> Reply {
    match send(o, out) {
        Ok(stats) => Reply::ImagesDone { stats },
        Err(f) => error(f.message, f.code),
    }
}

fn send(o: &SendOptions, out: &Out) -> Result<ImagesStats, Fail> {
    let started = Instant::now();
    // Everything that can fail before a byte is sent is checked first: a layer store that
    // is not there makes the controller fall back, not the receiver load half an archive.
    let store = match o.source {
        Source::LayerStore => {
            Some(LayerStore::open(&o.root).map_err(|e| Fail::new(e.to_string(), "layer-store"))?)
        }
        Source::Save => None,
    };
    let plan = match &store {
        Some(s) => Some(Plan::new(s, &o.images)?),
        None => None,
    };
    let stream = crate::files::sync::send::connect(&o.connect)?;
    let _ = stream.set_nodelay(true);
    let stall = crate::files::sync::stall(o.stall_ms);
    stream
        .set_write_timeout(Some(stall))
        .map_err(Fail::io("connection"))?;
    let mut w = SealWriter::new(
        BufWriter::with_capacity(1 << 20, stream),
        &o.key,
        Direction::Forward,
    )
    .map_err(Fail::io("key"))?;
    w.write_all(GREETING).map_err(Fail::io("handshake"))?;
    let mut rep = Reporter {
        out,
        last: Instant::now(),
        files: 0,
        bytes: 0,
        total_files: 0,
        total_bytes: plan.as_ref().map_or(0, |p| p.bytes),
    };
    let mut stats = ImagesStats::default();
    let mut chunks = Chunks { inner: &mut w };
    match (&store, &plan) {
        (Some(s), Some(p)) => write_archive(s, p, o, &mut chunks, &mut rep, &mut stats)?,
        _ => save(o, &mut chunks, &mut rep, &mut stats)?,
    }
    chunks
        .finish()
        .map_err(Fail::io("sending to the receiver"))?;
    rep.tick(true).map_err(Fail::io("progress"))?;
    stats.wire_bytes = w.wire_bytes;
    stats.seconds = started.elapsed().as_secs_f64();
    Ok(stats)
}

/// What goes over from the layer store: each missing layer once, with its tar size.
struct Plan {
    layers: Vec<(String, String, u64)>,
    configs: Vec<(String, Vec<u8>)>,
    skipped: u64,
    bytes: u64,
}

impl Plan {
    fn new(store: &LayerStore, images: &[SendImage]) -> Result<Plan, Fail> {
        let damaged = |e: std::io::Error| Fail::new(e.to_string(), "layer-store");
        let mut seen = BTreeSet::new();
        let mut plan = Plan {
            layers: Vec::new(),
            configs: Vec::new(),
            skipped: 0,
            bytes: 0,
        };
        for image in images {
            plan.configs
                .push((image.id.clone(), store.config(&image.id).map_err(damaged)?));
            for l in &image.layers {
                if !l.send {
                    plan.skipped += 1;
                } else if seen.insert(l.diff_id.clone()) {
                    let size = store.tar_size(&l.chain_id).map_err(damaged)?;
                    plan.bytes += size;
                    plan.layers
                        .push((l.diff_id.clone(), l.chain_id.clone(), size));
                }
            }
        }
        Ok(plan)
    }
}

fn hex(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

fn write_archive(
    store: &LayerStore,
    plan: &Plan,
    o: &SendOptions,
    w: &mut dyn Write,
    rep: &mut Reporter<'_>,
    stats: &mut ImagesStats,
) -> Result<(), Fail> {
    let io = Fail::io("sending to the receiver");
    for (id, bytes) in &plan.configs {
        tarball::file(w, &format!("{}.json", hex(id)), bytes).map_err(&io)?;
    }
    let mut buf = vec![0u8; 256 * 1024];
    for (diff_id, chain, size) in &plan.layers {
        let dir = hex(diff_id);
        tarball::dir(w, dir).map_err(&io)?;
        w.write_all(&tarball::header(&format!("{dir}/layer.tar"), *size, false).map_err(&io)?)
            .map_err(&io)?;
        let mut progress = |n: u64| {
            rep.bytes += n;
            rep.tick(false)
        };
        let written = store
            .write_tar(chain, w, &mut buf, &mut progress)
            .map_err(|e| Fail::new(format!("reading layer {diff_id}: {e}"), "layer-store"))?;
        if written != *size {
            return Err(Fail::new(
                format!("layer {diff_id} came out {written} bytes long, not {size}: the layer store changed during the copy"),
                "layer-store",
            ));
        }
        w.write_all(&[0u8; 512][..tarball::padding(*size)])
            .map_err(&io)?;
        stats.layers_sent += 1;
        stats.bytes += size;
        rep.files += 1;
    }
    let manifest: Vec<serde_json::Value> = o
        .images
        .iter()
        .map(|i| {
            serde_json::json!({
                "Config": format!("{}.json", hex(&i.id)),
                "RepoTags": i.tags,
                "Layers": i.layers.iter().map(|l| format!("{}/layer.tar", hex(&l.diff_id))).collect::<Vec<_>>(),
            })
        })
        .collect();
    let text = serde_json::to_vec(&manifest).map_err(|e| Fail::new(e.to_string(), "protocol"))?;
    tarball::file(w, "manifest.json", &text).map_err(&io)?;
    tarball::end(w).map_err(&io)?;
    stats.layers_skipped = plan.skipped;
    Ok(())
}

/// Streams `docker save` of the images (by tag, so tags come along; by id without one).
fn save(
    o: &SendOptions,
    w: &mut dyn Write,
    rep: &mut Reporter<'_>,
    stats: &mut ImagesStats,
) -> Result<(), Fail> {
    let mut refs: Vec<String> = Vec::new();
    for i in &o.images {
        if i.tags.is_empty() {
            refs.push(i.id.clone());
        } else {
            refs.extend(i.tags.iter().cloned());
        }
    }
    let mut child = std::process::Command::new("docker")
        .arg("save")
        .args(&refs)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| Fail::new(format!("cannot run `docker save`: {e}"), "docker"))?;
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| Fail::new("docker save: no output".into(), "docker"))?;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = stdout
            .read(&mut buf)
            .map_err(Fail::io("reading docker save"))?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n])
            .map_err(Fail::io("sending to the receiver"))?;
        stats.bytes += n as u64;
        rep.bytes += n as u64;
        rep.tick(false).map_err(Fail::io("progress"))?;
    }
    let out = child.wait_with_output().map_err(Fail::io("docker save"))?;
    if !out.status.success() {
        return Err(Fail::new(
            format!(
                "`docker save` failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            "docker",
        ));
    }
    stats.layers_sent = o.images.iter().map(|i| i.layers.len() as u64).sum();
    Ok(())
}
