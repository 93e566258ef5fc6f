//! The files benchmark's data sets, generated once per size and kept in the bench data dir:
//! small files of 4-64 KiB in 100 folders plus one big file, and two trees of tiny files that
//! differ in one file.

use crate::rounds::sh;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Where generated data sets are kept between runs.
const DATA_DIR: &str = "/var/lib/cutover-bench/files";
/// Folders of the main tree.
pub const FOLDERS: usize = 100;

/// A fast deterministic generator (xorshift64*) for file sizes and contents.
pub struct Rng(pub u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Fills `buf` with pseudo-random bytes.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// The sizes of one run.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Small files (a multiple of [`FOLDERS`]).
    pub files: usize,
    /// Bytes of the big file (a multiple of 4 MiB).
    pub big: u64,
    /// Files of each tree of the memory measure (a multiple of 1,000).
    pub tiny: usize,
}

impl Sizes {
    /// The sizes at `options`' scale.
    pub fn new(options: &crate::Options) -> Sizes {
        let round = |v: u64, to: u64| v / to * to;
        Sizes {
            files: round(options.scaled(20_000, 200), FOLDERS as u64) as usize,
            big: round(options.scaled(1 << 30, 4 << 20), 4 << 20),
            tiny: round(options.scaled(1_000_000, 2_000), 1000) as usize,
        }
    }

    /// "20,000 files of 4-64 KiB + a 1 GiB file".
    pub fn describe(&self) -> String {
        format!(
            "{} files of 4-64 KiB in {FOLDERS} folders + one {} file",
            thousands(self.files),
            if self.big >= 1 << 30 {
                format!("{} GiB", self.big >> 30)
            } else {
                format!("{} MiB", self.big >> 20)
            }
        )
    }
}

/// 20000 as "20,000".
pub fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The main data set, generated once per size.
pub fn tree(sizes: Sizes) -> anyhow::Result<PathBuf> {
    let name = format!("tree-{}-{}m", sizes.files, sizes.big >> 20);
    let dir = Path::new(DATA_DIR).join(&name);
    let done = Path::new(DATA_DIR).join(format!("{name}.complete"));
    if done.exists() {
        return Ok(dir);
    }
    eprintln!("   generating {} (once)", sizes.describe());
    let _ = std::fs::remove_dir_all(&dir);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut buf = vec![0u8; 64 << 10];
    for f in 0..FOLDERS {
        let folder = dir.join(format!("d{f:03}"));
        std::fs::create_dir_all(&folder)?;
        for i in 0..sizes.files / FOLDERS {
            let size = 4096 + (rng.next() % (60 << 10)) as usize;
            rng.fill(&mut buf[..size]);
            std::fs::write(folder.join(format!("f{i:04}.bin")), &buf[..size])?;
        }
    }
    let mut big = std::fs::File::create(dir.join("big.bin"))?;
    let mut chunk = vec![0u8; 4 << 20];
    for _ in 0..sizes.big / chunk.len() as u64 {
        rng.fill(&mut chunk);
        big.write_all(&chunk)?;
    }
    std::fs::write(&done, "")?;
    Ok(dir)
}

/// Two trees of `n` tiny files differing in one file, generated once per size.
pub fn tiny_trees(n: usize) -> anyhow::Result<(PathBuf, PathBuf)> {
    let a = Path::new(DATA_DIR).join(format!("tiny-{n}-a"));
    let b = Path::new(DATA_DIR).join(format!("tiny-{n}-b"));
    let done = Path::new(DATA_DIR).join(format!("tiny-{n}.complete"));
    if !done.exists() {
        eprintln!(
            "   generating 2 x {} files (once; the second tree hard-links the first)",
            thousands(n)
        );
        for d in [&a, &b] {
            let _ = std::fs::remove_dir_all(d);
        }
        for f in 0..1000 {
            let folder = a.join(format!("d{f:03}"));
            std::fs::create_dir_all(&folder)?;
            for i in 0..n / 1000 {
                std::fs::write(
                    folder.join(format!("file-{i:04}.txt")),
                    format!("{f}/{i}\n"),
                )?;
            }
        }
        sh(&format!("cp -al {} {}", a.display(), b.display()))?;
        // One difference, written through a rename so that the link to `a` is broken.
        let changed = b.join("d500/file-0000.txt");
        std::fs::write(changed.with_extension("tmp"), "changed\n")?;
        std::fs::rename(changed.with_extension("tmp"), &changed)?;
        std::fs::write(&done, "")?;
    }
    Ok((a, b))
}

#[cfg(test)]
mod tests {
    #[test]
    fn thousands_are_grouped() {
        assert_eq!(super::thousands(20_000), "20,000");
        assert_eq!(super::thousands(1_000_000), "1,000,000");
        assert_eq!(super::thousands(200), "200");
    }
}
