//! Images between lab hosts' Docker engines: layers reassembled from the layer store are
//! byte for byte the layers Docker made (their digests match), and the `docker save` path
//! copies an image whole.

use crate::files::fixture::{agent, executor};
use cutover_data::docker::images::layers::{chain_ids, LayerStore};
use cutover_data::docker::images::{copy, CopyOptions, SendImage, SendLayer, Source};
use cutover_data::docker::inspect;
use cutover_testbed::docker::DockerDaemon;
use cutover_testbed::{images, Lab};
use sha2::{Digest, Sha256};

struct Hasher(Sha256);

impl std::io::Write for Hasher {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.update(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn image(docker: &DockerDaemon, tag: &str) -> inspect::Image {
    let json = docker.docker(&format!("image inspect {tag}")).unwrap();
    inspect::images(&json).unwrap().remove(0)
}

#[test]
fn layers_reassembled_from_the_layer_store_have_their_digests() {
    let lab = Lab::start().unwrap();
    let old = lab.host("old");
    let docker = DockerDaemon::start(old).unwrap();
    images::app(old, &docker, "app:1", "1").unwrap();
    let img = image(&docker, "app:1");
    assert!(img.layers.len() >= 3, "{img:?}");
    let store = LayerStore::open(&old.fs_path("/var/lib/docker").display().to_string()).unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    for (diff, chain) in img.layers.iter().zip(chain_ids(&img.layers)) {
        let size = store.tar_size(&chain).unwrap();
        let mut h = Hasher(Sha256::new());
        let written = store
            .write_tar(&chain, &mut h, &mut buf, &mut |_| Ok(()))
            .unwrap();
        assert_eq!(written, size);
        let got = format!(
            "sha256:{}",
            cutover_data::files::entry::hex(&h.0.finalize())
        );
        assert_eq!(
            &got, diff,
            "layer {chain} does not come out as Docker made it"
        );
    }
    let config = store.config(&img.id).unwrap();
    assert!(String::from_utf8_lossy(&config).contains("org.cutover.test.version"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn docker_save_path_copies_an_image_whole() {
    let lab = Lab::start().unwrap();
    let (old, new) = (lab.host("old"), lab.host("new"));
    let (d_old, d_new) = (
        DockerDaemon::start(old).unwrap(),
        DockerDaemon::start(new).unwrap(),
    );
    images::busybox(old, &d_old, "bb:1").unwrap();
    let img = image(&d_old, "bb:1");
    let list = vec![SendImage {
        id: img.id.clone(),
        tags: vec!["bb:1".into()],
        layers: img
            .layers
            .iter()
            .zip(chain_ids(&img.layers))
            .map(|(d, c)| SendLayer {
                diff_id: d.clone(),
                chain_id: c,
                send: true,
            })
            .collect(),
    }];
    let opts = CopyOptions {
        address: new.address().to_string(),
        port: 0,
        source_sudo: false,
        target_sudo: false,
        agent: agent(),
        stall: None,
        source: Source::Save,
        source_root: "/var/lib/docker".into(),
        target_root: "/var/lib/docker".into(),
    };
    let exec = executor(&lab);
    let report = copy(&exec, "old", "new", list, img.size, &opts, &mut |_| {})
        .await
        .unwrap();
    assert!(
        report.received.loaded.contains("Loaded image: bb:1"),
        "{report:?}"
    );
    assert_eq!(image(&d_new, "bb:1").id, img.id);
}
