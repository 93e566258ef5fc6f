//! An image's layers read straight from the engine's layer store (the graph-driver store
//! with `overlay2`: `image/overlay2/layerdb/sha256/CHAIN/{cache-id,tar-split.json.gz}` and
//! the driver's `overlay2/CACHE-ID/diff`). Each layer tar is reassembled byte for byte from
//! its tar-split record (the headers and padding Docker kept when the layer was made) and
//! the files of its diff directory, exactly as `docker save` does, but without writing the
//! image to a temporary directory first. The layer's digest (its diff id) is checked by
//! `docker load` on the other side, and the image id names every diff id, so a layer that
//! did not come out byte for byte fails the copy rather than loading.

use base64::Engine as _;
use serde::Deserialize;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Component, Path, PathBuf};

/// The chain id of each layer of an image with `diff_ids` (bottom first): the first layer's
/// is its diff id, each next one `sha256(chain_below + " " + diff_id)`.
pub fn chain_ids(diff_ids: &[String]) -> Vec<String> {
    use sha2::{Digest, Sha256};
    let mut out: Vec<String> = Vec::with_capacity(diff_ids.len());
    for d in diff_ids {
        let next = match out.last() {
            None => d.clone(),
            Some(below) => format!(
                "sha256:{}",
                crate::files::entry::hex(&Sha256::digest(format!("{below} {d}").as_bytes()))
            ),
        };
        out.push(next);
    }
    out
}

/// The layer store of an engine with data root `root`.
#[derive(Debug, Clone)]
pub struct LayerStore {
    root: PathBuf,
}

/// One record of a tar-split file.
#[derive(Deserialize)]
struct Record {
    #[serde(rename = "type")]
    kind: u8,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    name_raw: Option<String>,
    #[serde(default)]
    size: u64,
    #[serde(default)]
    payload: Option<String>,
}

const FILE: u8 = 1;
const SEGMENT: u8 = 2;

impl LayerStore {
    /// The store under data root `root` (`/var/lib/docker`), if it has the overlay2
    /// graph-driver layout.
    pub fn open(root: &str) -> io::Result<LayerStore> {
        let store = LayerStore {
            root: PathBuf::from(root),
        };
        for dir in [store.layerdb(), store.imagedb()] {
            if !dir.is_dir() {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{} is not there: the engine does not keep images in the overlay2 layer store", dir.display()),
                ));
            }
        }
        Ok(store)
    }

    fn layerdb(&self) -> PathBuf {
        self.root.join("image/overlay2/layerdb/sha256")
    }

    fn imagedb(&self) -> PathBuf {
        self.root.join("image/overlay2/imagedb/content/sha256")
    }

    /// The image configuration of image `id` (`sha256:HEX`), checked against its id.
    pub fn config(&self, id: &str) -> io::Result<Vec<u8>> {
        let hex = hex_of(id)?;
        let bytes = std::fs::read(self.imagedb().join(hex))?;
        use sha2::{Digest, Sha256};
        let got = format!(
            "sha256:{}",
            crate::files::entry::hex(&Sha256::digest(&bytes))
        );
        if got != id {
            return Err(io::Error::other(format!(
                "the stored configuration of image {id} hashes to {got}: the engine's image store is damaged"
            )));
        }
        Ok(bytes)
    }

    fn records(&self, chain: &str) -> io::Result<impl Iterator<Item = io::Result<Record>>> {
        let path = self
            .layerdb()
            .join(hex_of(chain)?)
            .join("tar-split.json.gz");
        let file = File::open(&path)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        let lines = BufReader::new(flate2::read::GzDecoder::new(file)).lines();
        Ok(lines.map(|l| {
            let l = l?;
            serde_json::from_str::<Record>(&l)
                .map_err(|e| io::Error::other(format!("tar-split record: {e}")))
        }))
    }

    /// The layer's diff directory (the files of the layer).
    fn diff_dir(&self, chain: &str) -> io::Result<PathBuf> {
        let cache = std::fs::read_to_string(self.layerdb().join(hex_of(chain)?).join("cache-id"))?;
        let cache = cache.trim();
        if cache.is_empty() || !cache.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(io::Error::other(format!(
                "layer {chain} has an unexpected cache id `{cache}`"
            )));
        }
        Ok(self.root.join("overlay2").join(cache).join("diff"))
    }

    /// The size of layer `chain`'s tar, from its tar-split record.
    pub fn tar_size(&self, chain: &str) -> io::Result<u64> {
        let mut total = 0u64;
        for r in self.records(chain)? {
            let r = r?;
            total += match r.kind {
                SEGMENT => payload(&r)?.len() as u64,
                FILE => r.size,
                _ => 0,
            };
        }
        Ok(total)
    }

    /// Writes layer `chain`'s tar to `w` (exactly [`LayerStore::tar_size`] bytes); `buf` is
    /// the copy buffer, `progress` is told every chunk's size.
    pub fn write_tar(
        &self,
        chain: &str,
        w: &mut dyn Write,
        buf: &mut [u8],
        progress: &mut dyn FnMut(u64) -> io::Result<()>,
    ) -> io::Result<u64> {
        let dir = self.diff_dir(chain)?;
        let mut written = 0u64;
        for r in self.records(chain)? {
            let r = r?;
            match r.kind {
                SEGMENT => {
                    let bytes = payload(&r)?;
                    w.write_all(&bytes)?;
                    written += bytes.len() as u64;
                    progress(bytes.len() as u64)?;
                }
                FILE if r.size > 0 => {
                    let path = dir.join(relative(&name(&r)?)?);
                    let mut f = File::open(&path).map_err(|e| {
                        io::Error::new(e.kind(), format!("layer {chain}: {}: {e}", path.display()))
                    })?;
                    let mut left = r.size;
                    while left > 0 {
                        let want = buf.len().min(left as usize);
                        let n = f.read(&mut buf[..want])?;
                        if n == 0 {
                            return Err(io::Error::other(format!(
                                "layer {chain}: {} is shorter than the layer says ({} bytes missing): the layer store is damaged",
                                path.display(),
                                left
                            )));
                        }
                        w.write_all(&buf[..n])?;
                        left -= n as u64;
                        written += n as u64;
                        progress(n as u64)?;
                    }
                }
                _ => {}
            }
        }
        Ok(written)
    }
}

fn payload(r: &Record) -> io::Result<Vec<u8>> {
    match &r.payload {
        Some(p) => base64::engine::general_purpose::STANDARD
            .decode(p)
            .map_err(|e| io::Error::other(format!("tar-split payload: {e}"))),
        None => Ok(Vec::new()),
    }
}

fn name(r: &Record) -> io::Result<Vec<u8>> {
    if let Some(raw) = &r.name_raw {
        return base64::engine::general_purpose::STANDARD
            .decode(raw)
            .map_err(|e| io::Error::other(format!("tar-split name: {e}")));
    }
    Ok(r.name.clone().unwrap_or_default().into_bytes())
}

/// A layer entry's name as a path inside its diff directory: relative, no `..`.
fn relative(name: &[u8]) -> io::Result<PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    let p = Path::new(std::ffi::OsStr::from_bytes(name));
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir | Component::RootDir => {}
            _ => {
                return Err(io::Error::other(format!(
                    "a layer names `{}`, outside its directory",
                    String::from_utf8_lossy(name)
                )))
            }
        }
    }
    Ok(out)
}

fn hex_of(id: &str) -> io::Result<&str> {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(io::Error::other(format!("`{id}` is not a sha256 digest")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chain_ids_follow_dockers_rule() {
        let d = vec!["sha256:aaaa".to_string(), "sha256:bbbb".to_string()];
        let c = chain_ids(&d);
        assert_eq!(c[0], "sha256:aaaa");
        use sha2::{Digest, Sha256};
        assert_eq!(
            c[1],
            format!(
                "sha256:{}",
                crate::files::entry::hex(&Sha256::digest(b"sha256:aaaa sha256:bbbb"))
            )
        );
    }

    #[test]
    fn names_stay_inside_the_layer() {
        assert_eq!(
            relative(b"./usr/bin/x").unwrap(),
            PathBuf::from("usr/bin/x")
        );
        assert!(relative(b"../../etc/shadow").is_err());
    }

    /// A tar-split record set reassembles into its segments and the files' bytes.
    #[test]
    fn reassembles_a_layer_from_its_record() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path();
        let chain = format!("sha256:{}", "ab".repeat(32));
        let db = root
            .join("image/overlay2/layerdb/sha256")
            .join("ab".repeat(32));
        std::fs::create_dir_all(&db).unwrap();
        std::fs::create_dir_all(root.join("image/overlay2/imagedb/content/sha256")).unwrap();
        std::fs::write(db.join("cache-id"), "c0ffee\n").unwrap();
        let diff = root.join("overlay2/c0ffee/diff/data");
        std::fs::create_dir_all(&diff).unwrap();
        std::fs::write(diff.join("f"), b"0123456789").unwrap();
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let lines = format!(
            "{{\"type\":2,\"payload\":\"{}\",\"position\":0}}\n{{\"type\":1,\"name\":\"data/f\",\"size\":10,\"payload\":\"AAAAAAAAAAA=\",\"position\":1}}\n{{\"type\":2,\"payload\":\"{}\",\"position\":2}}\n",
            b64(b"HEADER"),
            b64(b"PAD")
        );
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(lines.as_bytes()).unwrap();
        std::fs::write(db.join("tar-split.json.gz"), gz.finish().unwrap()).unwrap();
        let store = LayerStore::open(root.to_str().unwrap()).unwrap();
        assert_eq!(store.tar_size(&chain).unwrap(), 19);
        let mut out = Vec::new();
        let mut buf = vec![0u8; 4];
        let mut seen = 0;
        store
            .write_tar(&chain, &mut out, &mut buf, &mut |n| {
                seen += n;
                Ok(())
            })
            .unwrap();
        assert_eq!(out, b"HEADER0123456789PAD");
        assert_eq!(seen, 19);
    }
}
