//! Writing the archive `docker load` reads: ustar entries (configs, layer tars, the
//! manifest) whose sizes are known before their data, so the archive is streamed without a
//! file anywhere. Sizes past the octal field's 8 GiB use the base-256 form Go's reader
//! (which Docker uses) understands.

use std::io::{self, Write};

const BLOCK: usize = 512;

/// A header for a regular file (`dir == false`) or directory named `name` of `size` bytes.
pub fn header(name: &str, size: u64, dir: bool) -> io::Result<[u8; BLOCK]> {
    let mut h = [0u8; BLOCK];
    let bytes = name.as_bytes();
    if bytes.len() > 100 {
        return Err(io::Error::other(format!("archive name too long: {name}")));
    }
    h[..bytes.len()].copy_from_slice(bytes);
    octal(&mut h[100..108], if dir { 0o755 } else { 0o644 });
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    if size < (1u64 << 33) {
        octal(&mut h[124..136], size);
    } else {
        h[124] = 0x80;
        h[128..136].copy_from_slice(&size.to_be_bytes());
    }
    octal(&mut h[136..148], 0);
    h[156] = if dir { b'5' } else { b'0' };
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field as spaces.
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|&b| u32::from(b)).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    Ok(h)
}

/// Zero-terminated octal in `field` (all but its last byte used for digits).
fn octal(field: &mut [u8], value: u64) {
    let width = field.len() - 1;
    let text = format!("{value:0width$o}");
    field[..width].copy_from_slice(&text.as_bytes()[text.len() - width..]);
    field[width] = 0;
}

/// The zero bytes that pad `size` bytes of data to a whole block.
pub fn padding(size: u64) -> usize {
    (BLOCK - (size % BLOCK as u64) as usize) % BLOCK
}

/// Writes a whole small file entry.
pub fn file(w: &mut dyn Write, name: &str, data: &[u8]) -> io::Result<()> {
    w.write_all(&header(name, data.len() as u64, false)?)?;
    w.write_all(data)?;
    w.write_all(&[0u8; BLOCK][..padding(data.len() as u64)])
}

/// Writes a directory entry.
pub fn dir(w: &mut dyn Write, name: &str) -> io::Result<()> {
    w.write_all(&header(
        &format!("{}/", name.trim_end_matches('/')),
        0,
        true,
    )?)
}

/// Ends the archive (two zero blocks).
pub fn end(w: &mut dyn Write) -> io::Result<()> {
    w.write_all(&[0u8; 2 * BLOCK])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GNU tar reads back what we write: names, sizes, contents.
    #[test]
    fn gnu_tar_reads_the_archive() {
        let mut out = Vec::new();
        dir(&mut out, "abc").unwrap();
        file(&mut out, "abc/layer.tar", b"hello").unwrap();
        file(&mut out, "manifest.json", b"[]").unwrap();
        end(&mut out).unwrap();
        let t = tempfile::tempdir().unwrap();
        let tar = t.path().join("a.tar");
        std::fs::write(&tar, &out).unwrap();
        let list = std::process::Command::new("tar")
            .arg("-tvf")
            .arg(&tar)
            .output()
            .unwrap();
        assert!(
            list.status.success(),
            "{}",
            String::from_utf8_lossy(&list.stderr)
        );
        let text = String::from_utf8_lossy(&list.stdout);
        assert!(
            text.contains(" 5 ") && text.contains("abc/layer.tar"),
            "{text}"
        );
        let got = std::process::Command::new("tar")
            .arg("-xOf")
            .arg(&tar)
            .arg("abc/layer.tar")
            .output()
            .unwrap();
        assert_eq!(got.stdout, b"hello");
    }

    #[test]
    fn large_sizes_use_base_256() {
        let h = header("big", 10 << 30, false).unwrap();
        assert_eq!(h[124], 0x80);
        assert_eq!(
            u64::from_be_bytes(h[128..136].try_into().unwrap()),
            10 << 30
        );
        assert_eq!(padding(512), 0);
        assert_eq!(padding(5), 507);
    }
}
