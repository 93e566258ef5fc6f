//! One line of a manifest: a path and what is known about it (type, size, mode, owner,
//! mtime, symlink target, content hash), or the problem that kept it from being known.
//!
//! Paths are raw bytes relative to the root (the root itself is the empty path), because
//! Unix names may hold newlines or bytes that are not UTF-8; on the JSON wire a valid UTF-8
//! path travels as a string (`p`) and any other as hex (`px`), so nothing is lost.

use serde::{Deserialize, Serialize};

/// The type of a file-system object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// A regular file.
    #[serde(rename = "f")]
    File,
    /// A directory.
    #[serde(rename = "d")]
    Dir,
    /// A symbolic link.
    #[serde(rename = "l")]
    Symlink,
    /// A named pipe.
    #[serde(rename = "p")]
    Fifo,
    /// A socket.
    #[serde(rename = "s")]
    Socket,
    /// A character device.
    #[serde(rename = "c")]
    CharDevice,
    /// A block device.
    #[serde(rename = "b")]
    BlockDevice,
}

impl Kind {
    /// The type of an `lstat` mode.
    pub fn from_mode(mode: u32) -> Kind {
        match mode & libc::S_IFMT {
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFLNK => Kind::Symlink,
            libc::S_IFIFO => Kind::Fifo,
            libc::S_IFSOCK => Kind::Socket,
            libc::S_IFCHR => Kind::CharDevice,
            libc::S_IFBLK => Kind::BlockDevice,
            _ => Kind::File,
        }
    }

    /// How the type is named in messages.
    pub fn name(self) -> &'static str {
        match self {
            Kind::File => "file",
            Kind::Dir => "directory",
            Kind::Symlink => "symlink",
            Kind::Fifo => "fifo",
            Kind::Socket => "socket",
            Kind::CharDevice => "char device",
            Kind::BlockDevice => "block device",
        }
    }
}

/// Why an entry's content could not be established.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Problem {
    /// It could not be read (permissions, I/O error): the message says why.
    #[serde(rename = "unreadable")]
    Unreadable(String),
    /// It changed while it was being hashed, twice in a row.
    #[serde(rename = "unstable")]
    Unstable,
}

/// What a manifest records about one path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path relative to the root, raw bytes (empty for the root itself).
    pub path: Vec<u8>,
    /// Type.
    pub kind: Kind,
    /// Size in bytes (files and symlinks; 0 for directories, whose size is the file
    /// system's business).
    pub size: u64,
    /// Permission bits, including setuid, setgid and sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner's numeric id.
    pub uid: u32,
    /// Group's numeric id.
    pub gid: u32,
    /// Owner's name on its host, when it has one.
    pub user: Option<String>,
    /// Group's name on its host, when it has one.
    pub group: Option<String>,
    /// Modification time, nanoseconds since the epoch.
    pub mtime_ns: i64,
    /// A device's number (major and minor; 0 for anything but devices).
    pub rdev: u64,
    /// A symlink's target, raw bytes.
    pub target: Option<Vec<u8>>,
    /// Content hash of a regular file (32 bytes: BLAKE3 or SHA-256).
    pub hash: Option<[u8; 32]>,
    /// Why the content is unknown.
    pub problem: Option<Problem>,
}

/// How an entry travels as one JSON line.
#[derive(Serialize, Deserialize)]
struct Wire {
    #[serde(skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    px: Option<String>,
    k: Kind,
    #[serde(default)]
    s: u64,
    m: u32,
    u: u32,
    g: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    un: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    gn: Option<String>,
    t: i64,
    #[serde(default, skip_serializing_if = "is_zero")]
    r: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lx: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    h: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    e: Option<Problem>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn split(bytes: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (Some(s.to_string()), None),
        Err(_) => (None, Some(hex(bytes))),
    }
}

fn join(text: Option<String>, hexed: Option<String>) -> Option<Vec<u8>> {
    match (text, hexed) {
        (Some(s), _) => Some(s.into_bytes()),
        (None, Some(h)) => unhex(&h),
        (None, None) => None,
    }
}

impl Serialize for Entry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (p, px) = split(&self.path);
        let (l, lx) = match &self.target {
            Some(t) => split(t),
            None => (None, None),
        };
        Wire {
            p,
            px,
            k: self.kind,
            s: self.size,
            m: self.mode,
            u: self.uid,
            g: self.gid,
            un: self.user.clone(),
            gn: self.group.clone(),
            t: self.mtime_ns,
            r: self.rdev,
            l,
            lx,
            h: self.hash.map(|h| hex(&h)),
            e: self.problem.clone(),
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let w = Wire::deserialize(d)?;
        let path = join(w.p, w.px).ok_or_else(|| D::Error::custom("entry without a path"))?;
        let target = match (w.l, w.lx) {
            (None, None) => None,
            (l, lx) => Some(join(l, lx).ok_or_else(|| D::Error::custom("bad link target"))?),
        };
        let hash = match w.h {
            Some(h) => Some(
                unhex(&h)
                    .and_then(|v| <[u8; 32]>::try_from(v).ok())
                    .ok_or_else(|| D::Error::custom("bad hash"))?,
            ),
            None => None,
        };
        Ok(Entry {
            path,
            kind: w.k,
            size: w.s,
            mode: w.m,
            uid: w.u,
            gid: w.g,
            user: w.un,
            group: w.gn,
            mtime_ns: w.t,
            rdev: w.r,
            target,
            hash,
            problem: w.e,
        })
    }
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// The bytes of lower- or upper-case hex, or `None`.
pub fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A path for messages: `.` for the root, UTF-8 as it is, newlines, control characters and
/// bytes that are not UTF-8 escaped (`\n`, `\x0b`, `\xff`), so one difference is one line;
/// bidirectional formatting characters escaped too (`\u{202E}`), so a name cannot make a
/// terminal or a report show its text reordered.
pub fn display(path: &[u8]) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let mut out = String::new();
    for chunk in path.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\n' => out.push_str("\\n"),
                '\\' => out.push_str("\\\\"),
                c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
                c if is_bidi(c) => out.push_str(&format!("\\u{{{:04X}}}", c as u32)),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The characters that reorder the text around them (Unicode's bidirectional formatting
/// characters: embeddings, overrides, isolates and marks).
pub fn is_bidi(c: char) -> bool {
    matches!(c, '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &[u8]) -> Entry {
        Entry {
            path: path.to_vec(),
            kind: Kind::Symlink,
            size: 3,
            mode: 0o777,
            uid: 0,
            gid: 0,
            user: Some("root".into()),
            group: None,
            mtime_ns: 1_700_000_000_123_456_789,
            rdev: 0,
            target: Some(b"t\xffx".to_vec()),
            hash: None,
            problem: None,
        }
    }

    #[test]
    fn paths_that_are_not_utf8_or_hold_newlines_survive_the_wire() {
        for path in [&b"plain/name.txt"[..], b"new\nline", b"bad\xff\xfe", b""] {
            let e = entry(path);
            let line = serde_json::to_string(&e).unwrap();
            assert!(!line.contains('\n'), "{line}");
            let back: Entry = serde_json::from_str(&line).unwrap();
            assert_eq!(back, e);
        }
    }

    #[test]
    fn display_keeps_one_difference_on_one_line() {
        assert_eq!(display(b"a\nb\xff"), "a\\nb\\xff");
        assert_eq!(display(b""), ".");
        assert_eq!(
            display("invoice\u{202e}fdp.exe".as_bytes()),
            "invoice\\u{202E}fdp.exe"
        );
    }
}
