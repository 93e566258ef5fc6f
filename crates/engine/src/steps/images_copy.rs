//! `images.copy`: Docker images from one host's engine to another's through cutover's
//! agents (see `cutover_data::docker::images`). The controller inspects both engines first:
//! the images on the source (a missing one fails here, before anything moves), the layers
//! the target has (by chain id, as `docker load` reuses them) and the source's storage
//! (its layer store is read directly when it is overlay2). Afterwards every image must
//! have the same id on the target as on the source: the proof, since the id is the digest
//! of the image's configuration, which names every layer's digest.

use super::docker::{self as d, Failed, QUICK};
use super::files_verify::agent;
use crate::context::{StepCtx, Values};
use crate::error::EngineError;
use crate::step::{Applied, StepRunner, Verified};
use async_trait::async_trait;
use cutover_data::docker::images::{
    self, layers::chain_ids, CopyOptions, SendImage, SendLayer, Source,
};
use cutover_data::docker::inspect::{self, short_id, Image};
use cutover_data::docker::{engine, DockerFailure};
use cutover_data::files::verify::human_bytes;
use cutover_plan::steps::ImagesCopyStep;
use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

pub(crate) struct ImagesCopy<'a>(pub &'a ImagesCopyStep);

/// An engine's storage, from `docker info`.
#[derive(serde::Deserialize)]
struct Storage {
    driver: String,
    root: String,
    #[serde(default)]
    status: Option<Vec<Vec<String>>>,
}

impl Storage {
    /// The layer store can be read directly: overlay2 without the containerd image store.
    fn layer_store(&self) -> bool {
        let containerd = self
            .status
            .iter()
            .flatten()
            .flatten()
            .any(|v| v.contains("containerd.snapshotter"));
        self.driver == "overlay2" && !containerd
    }
}

/// The images the step names as the source has them: (reference, image), in order.
type Named = Vec<(String, Image)>;

impl ImagesCopy<'_> {
    fn refs(&self, ctx: &StepCtx<'_>) -> Result<Vec<String>, EngineError> {
        self.0.images.iter().map(|t| ctx.render(t)).collect()
    }

    /// `docker image inspect` of `refs` on `host`, one image per reference.
    async fn inspect(ctx: &StepCtx<'_>, host: &str, refs: &[String]) -> Result<Named, EngineError> {
        let json = match d::run(
            ctx,
            engine::image_inspect(host, refs),
            "docker image inspect",
            QUICK,
        )
        .await
        {
            Ok(json) => json,
            Err(Failed::Docker(DockerFailure::ImageMissing { host, image })) => {
                return Err(ctx.failed(format!(
                    "image `{image}` is not on {host}: check its name with `docker image ls` there"
                )))
            }
            Err(f) => return Err(f.into_error(ctx)),
        };
        let found = inspect::images(&json).map_err(|e| ctx.failed(e))?;
        if found.len() != refs.len() {
            return Err(ctx.failed(format!(
                "`docker image inspect` on {host} answered {} images for {} references",
                found.len(),
                refs.len()
            )));
        }
        Ok(refs.iter().cloned().zip(found).collect())
    }

    async fn storage(ctx: &StepCtx<'_>, host: &str) -> Result<Storage, EngineError> {
        let out = d::run(ctx, engine::storage(host), "docker info", QUICK)
            .await
            .map_err(|f| f.into_error(ctx))?;
        serde_json::from_str(out.trim())
            .map_err(|e| ctx.failed(format!("unexpected `docker info` output on {host}: {e}")))
    }

    /// The target's images (all of them).
    async fn target_images(ctx: &StepCtx<'_>, host: &str) -> Result<Vec<Image>, EngineError> {
        let json = d::run(ctx, engine::all_images(host), "docker image inspect", QUICK)
            .await
            .map_err(|f| f.into_error(ctx))?;
        inspect::images(&json).map_err(|e| ctx.failed(e))
    }
}

/// What goes over: each source image once, with the tags the step named for it.
fn send_list(named: &Named, target: &[Image]) -> Vec<SendImage> {
    let have: BTreeSet<String> = target.iter().flat_map(|i| chain_ids(&i.layers)).collect();
    let mut out: Vec<SendImage> = Vec::new();
    for (reference, image) in named {
        let tag = (!reference.starts_with("sha256:") && !is_short_id(reference, &image.id))
            .then(|| reference.clone());
        if let Some(existing) = out.iter_mut().find(|s| s.id == image.id) {
            existing.tags.extend(tag);
            continue;
        }
        let layers = image
            .layers
            .iter()
            .zip(chain_ids(&image.layers))
            .map(|(diff, chain)| SendLayer {
                diff_id: diff.clone(),
                send: !have.contains(&chain),
                chain_id: chain,
            })
            .collect();
        out.push(SendImage {
            id: image.id.clone(),
            tags: tag.into_iter().collect(),
            layers,
        });
    }
    out
}

/// `reference` is a prefix of `id`'s hex (an image named by its short id).
fn is_short_id(reference: &str, id: &str) -> bool {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    reference.len() >= 4 && hex.starts_with(reference)
}

/// True when the target has every image with its tags already.
fn already_there(list: &[SendImage], target: &[Image]) -> bool {
    let by_id: BTreeMap<&str, &Image> = target.iter().map(|i| (i.id.as_str(), i)).collect();
    list.iter().all(|s| {
        by_id
            .get(s.id.as_str())
            .is_some_and(|t| s.tags.iter().all(|tag| t.tags.contains(tag)))
    })
}

#[async_trait]
impl StepRunner for ImagesCopy<'_> {
    fn plan(&self, values: &Values<'_>) -> Result<Vec<String>, EngineError> {
        let s = self.0;
        let refs: Vec<String> = s
            .images
            .iter()
            .map(|t| super::show(t, values))
            .collect::<Result<_, _>>()?;
        let address = match &s.address {
            Some(a) => super::show(a, values)?,
            None => values
                .plan
                .host(&s.to.value)
                .map(|h| h.address())
                .unwrap_or_default(),
        };
        Ok(vec![
            format!(
                "copy {} from {}'s engine to {}'s, host to host ({} connects to {address}:{}): only the layers {} lacks, read from the layer store when it is overlay2 (else `docker save`), loaded with `docker load`",
                refs.join(", "),
                s.from.value,
                s.to.value,
                s.from.value,
                s.port.map_or("any port".to_string(), |p| p.to_string()),
                s.to.value
            ),
            "verified: every image has the same id (the digest naming all its layers) on both hosts".into(),
        ])
    }

    async fn verify(&self, ctx: &StepCtx<'_>) -> Result<Verified, EngineError> {
        let refs = self.refs(ctx)?;
        let named = Self::inspect(ctx, &self.0.from.value, &refs).await?;
        let target = Self::target_images(ctx, &self.0.to.value).await?;
        Ok(if already_there(&send_list(&named, &target), &target) {
            Verified::InPlace
        } else {
            Verified::NotInPlace
        })
    }

    async fn apply(&self, ctx: &StepCtx<'_>) -> Result<Applied, EngineError> {
        let s = self.0;
        let (from, to) = (s.from.value.as_str(), s.to.value.as_str());
        let refs = self.refs(ctx)?;
        let named = Self::inspect(ctx, from, &refs).await?;
        let target = Self::target_images(ctx, to).await?;
        let list = send_list(&named, &target);
        let shown: Vec<String> = named
            .iter()
            .map(|(r, i)| format!("{r} ({})", short_id(&i.id)))
            .collect();
        if already_there(&list, &target) {
            return Ok(Applied::Done {
                summary: format!("already on {to} with the same ids: {}", shown.join(", ")),
            });
        }
        let (source, target_storage) =
            tokio::join!(Self::storage(ctx, from), Self::storage(ctx, to));
        let (source, target_storage) = (source?, target_storage?);
        let mode = if source.layer_store() {
            Source::LayerStore
        } else {
            Source::Save
        };
        let address = match &s.address {
            Some(a) => ctx.render(a)?,
            None => ctx.reach_address(to).await?,
        };
        let bytes = match mode {
            Source::Save => named.iter().map(|(_, i)| i.size).sum(),
            Source::LayerStore => 0,
        };
        let opts = CopyOptions {
            address,
            port: s.port.unwrap_or(0),
            source_sudo: d::sudo(ctx, from),
            target_sudo: d::sudo(ctx, to),
            agent: agent(ctx)?,
            stall: s.stall_timeout,
            source: mode,
            source_root: source.root.clone(),
            target_root: target_storage.root.clone(),
        };
        ctx.command_started(
            &format!("{from} -> {to}"),
            format!("cutover agent: images {}", refs.join(" ")),
        )?;
        let mut shown_at = Instant::now();
        let mut progress = |p: &cutover_data::files::sync::SyncProgress| {
            if shown_at.elapsed() >= Duration::from_secs(2) {
                shown_at = Instant::now();
                ctx.detail(format!(
                    "{} of {}, {}/s",
                    human_bytes(p.bytes),
                    human_bytes(p.total_bytes),
                    human_bytes(p.rate() as u64)
                ));
            }
        };
        let timeout = s.timeout.unwrap_or(Duration::from_secs(2 * 3600));
        let report = match tokio::time::timeout(
            timeout,
            images::copy(ctx.exec, from, to, list, bytes, &opts, &mut progress),
        )
        .await
        {
            Ok(r) => r.map_err(|e| super::files_verify::files_failed(ctx, e))?,
            Err(_) => {
                return Err(ctx.failed(format!(
                    "the copy did not finish within {}s",
                    timeout.as_secs()
                )))
            }
        };
        // The proof: the same id on both hosts for every reference.
        let after = Self::inspect(ctx, to, &refs).await?;
        let wrong: Vec<String> = named
            .iter()
            .zip(&after)
            .filter(|((_, a), (_, b))| a.id != b.id)
            .map(|((r, a), (_, b))| format!("{r}: {} on {to}, {} on {from}", b.id, a.id))
            .collect();
        if !wrong.is_empty() {
            return Err(ctx.verify_failed(format!(
                "images differ after the copy:\n{}",
                wrong.join("\n")
            )));
        }
        let r = &report.sent;
        ctx.measure("bytes_sent", r.bytes as f64, "bytes")?;
        ctx.measure("layers_sent", r.layers_sent as f64, "layers")?;
        ctx.measure("layers_skipped", r.layers_skipped as f64, "layers")?;
        ctx.measure("seconds", report.seconds, "s")?;
        ctx.command_finished(
            &format!("{from} -> {to}"),
            0,
            (report.seconds * 1000.0) as u64,
            report.received.loaded.clone(),
        )?;
        Ok(Applied::Done {
            summary: format!(
                "{} on {to} with the same ids as on {from}: {} layer(s) sent ({} in {:.2}s, {}/s), {} the target had skipped; read from {}",
                shown.join(", "),
                r.layers_sent,
                human_bytes(r.bytes),
                report.seconds,
                human_bytes((r.bytes as f64 / report.seconds.max(1e-3)) as u64),
                r.layers_skipped,
                match mode {
                    Source::LayerStore => "the layer store",
                    Source::Save => "`docker save`",
                }
            ),
        })
    }

    async fn rollback(&self, _ctx: &StepCtx<'_>) -> Result<Option<String>, EngineError> {
        // Images on the target harm nothing and may be shared with what ran before.
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(id: &str, layers: &[&str], tags: &[&str]) -> Image {
        Image {
            id: id.into(),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            layers: layers.iter().map(|l| l.to_string()).collect(),
            size: 0,
        }
    }

    #[test]
    fn only_layers_whose_chain_the_target_lacks_are_sent() {
        let base = ["sha256:a", "sha256:b"];
        let named = vec![
            (
                "shop/web:2".to_string(),
                image("sha256:web2", &["sha256:a", "sha256:b", "sha256:c"], &[]),
            ),
            (
                "shop/web:latest".to_string(),
                image("sha256:web2", &["sha256:a", "sha256:b", "sha256:c"], &[]),
            ),
            ("other:1".to_string(), image("sha256:o", &["sha256:b"], &[])),
        ];
        let target = vec![image("sha256:web1", &base, &["shop/web:1"])];
        let list = send_list(&named, &target);
        assert_eq!(list.len(), 2, "one entry per image id");
        assert_eq!(list[0].tags, ["shop/web:2", "shop/web:latest"]);
        let sends: Vec<bool> = list[0].layers.iter().map(|l| l.send).collect();
        assert_eq!(sends, [false, false, true]);
        // `b` alone is another chain than `a b`: the target lacks it.
        assert!(list[1].layers[0].send);
        assert!(!already_there(&list, &target));
        let done = vec![
            image(
                "sha256:web2",
                &["sha256:a", "sha256:b", "sha256:c"],
                &["shop/web:2", "shop/web:latest"],
            ),
            image("sha256:o", &["sha256:b"], &["other:1"]),
        ];
        assert!(already_there(&list, &done));
    }
}
