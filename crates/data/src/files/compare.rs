//! Comparing two manifests on the controller: a streaming merge of two path-sorted entry
//! streams, so memory stays flat however many files there are. Every difference is named
//! (missing, extra, type, size, content, mode, owner, symlink target, mtime, and entries
//! that could not be read or kept changing); the first [`Differences::LIMIT`] are kept in
//! full, all are counted.

use super::entry::{display, Entry, Kind, Problem};
use super::manifest::{Compare, OwnerCheck};
use serde::{Deserialize, Serialize};
use std::cmp::Ordering;
use std::collections::BTreeMap;

/// What differs about one path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// On the source, not on the target.
    Missing,
    /// On the target, not on the source.
    Extra,
    /// Not the same type (file, directory, symlink...).
    Type,
    /// Files of different sizes.
    Size,
    /// Files of the same size whose content differs.
    Content,
    /// Permission bits.
    Mode,
    /// Owner or group.
    Owner,
    /// Symlinks pointing elsewhere.
    Target,
    /// Device nodes with another major or minor number.
    Device,
    /// Modification times (only when compared).
    Mtime,
    /// Could not be read on one side: nothing is proven about it.
    Unreadable,
    /// Kept changing while it was hashed on one side.
    Unstable,
}

impl DiffKind {
    /// How the kind is named in reports.
    pub fn name(self) -> &'static str {
        match self {
            DiffKind::Missing => "missing",
            DiffKind::Extra => "extra",
            DiffKind::Type => "type differs",
            DiffKind::Size => "size differs",
            DiffKind::Content => "content differs",
            DiffKind::Mode => "mode differs",
            DiffKind::Owner => "owner differs",
            DiffKind::Target => "symlink target differs",
            DiffKind::Device => "device number differs",
            DiffKind::Mtime => "mtime differs",
            DiffKind::Unreadable => "unreadable",
            DiffKind::Unstable => "unstable (changed while hashed)",
        }
    }
}

/// One difference.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Difference {
    /// What differs.
    pub kind: DiffKind,
    /// The path, relative to both roots, escaped for display (see [`display`]).
    pub path: String,
    /// The source's side of it, when it has one.
    pub source: Option<String>,
    /// The target's side of it, when it has one.
    pub target: Option<String>,
}

impl std::fmt::Display for Difference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.path)?;
        match (&self.source, &self.target) {
            (Some(a), Some(b)) => write!(f, " (source {a}, target {b})"),
            (Some(a), None) => write!(f, " (source: {a})"),
            (None, Some(b)) => write!(f, " (target: {b})"),
            (None, None) => Ok(()),
        }
    }
}

/// Every difference found: counts by kind, and the first ones in full.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Differences {
    /// How many of each kind.
    pub counts: BTreeMap<DiffKind, u64>,
    /// All differences.
    pub total: u64,
    /// Bytes of source files missing or differing on the target.
    pub bytes: u64,
    /// The first [`Differences::LIMIT`] differences.
    pub listed: Vec<Difference>,
}

impl Differences {
    /// How many differences are kept in full.
    pub const LIMIT: usize = 1000;

    fn add(&mut self, kind: DiffKind, path: &[u8], source: Option<String>, target: Option<String>) {
        *self.counts.entry(kind).or_default() += 1;
        self.total += 1;
        if self.listed.len() < Self::LIMIT {
            self.listed.push(Difference {
                kind,
                path: display(path),
                source,
                target,
            });
        }
    }

    /// One line per kind: "3 missing, 1 content differs".
    pub fn counts_line(&self) -> String {
        self.counts
            .iter()
            .map(|(k, n)| format!("{n} {}", k.name()))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The owner as compared: names where the host has them, else `#id`.
pub fn owner_key(e: &Entry, how: OwnerCheck) -> String {
    let name = |n: &Option<String>, id: u32| match (how, n) {
        (OwnerCheck::Names, Some(n)) => n.clone(),
        _ => format!("#{id}"),
    };
    format!("{}:{}", name(&e.user, e.uid), name(&e.group, e.gid))
}

/// The bytes of `e` that the manifest digest covers, given what is compared.
pub fn canonical(e: &Entry, c: &Compare, out: &mut Vec<u8>) {
    out.extend_from_slice(&(e.path.len() as u64).to_le_bytes());
    out.extend_from_slice(&e.path);
    out.push(e.kind.name().as_bytes()[0]);
    out.push(e.kind as u8);
    if e.kind == Kind::File {
        out.extend_from_slice(&e.size.to_le_bytes());
    }
    if c.mode {
        out.extend_from_slice(&e.mode.to_le_bytes());
    }
    if c.owner != OwnerCheck::Ignore {
        let o = owner_key(e, c.owner);
        out.extend_from_slice(&(o.len() as u64).to_le_bytes());
        out.extend_from_slice(o.as_bytes());
    }
    if c.mtime && matches!(e.kind, Kind::File | Kind::Symlink) {
        out.extend_from_slice(&e.mtime_ns.to_le_bytes());
    }
    if matches!(e.kind, Kind::CharDevice | Kind::BlockDevice) {
        out.extend_from_slice(&e.rdev.to_le_bytes());
    }
    if let Some(t) = &e.target {
        out.extend_from_slice(&(t.len() as u64).to_le_bytes());
        out.extend_from_slice(t);
    }
    if let Some(h) = &e.hash {
        out.extend_from_slice(h);
    }
    match &e.problem {
        None => out.push(0),
        Some(Problem::Unreadable(_)) => out.push(1),
        Some(Problem::Unstable) => out.push(2),
    }
}

/// `MAJOR:MINOR` of a device number.
pub fn device_number(rdev: u64) -> String {
    format!(
        "{}:{}",
        rustix::fs::major(rdev as rustix::fs::Dev),
        rustix::fs::minor(rdev as rustix::fs::Dev)
    )
}

fn describe(e: &Entry) -> String {
    match e.kind {
        Kind::File => format!("file, {} bytes", e.size),
        k => k.name().to_string(),
    }
}

/// Compares one path present on both sides.
pub fn compare_entry(a: &Entry, b: &Entry, c: &Compare, d: &mut Differences) {
    let p = &a.path;
    for (side, e) in [("source", a), ("target", b)] {
        match &e.problem {
            Some(Problem::Unreadable(why)) => {
                let text = Some(why.clone());
                let (s, t) = if side == "source" {
                    (text, None)
                } else {
                    (None, text)
                };
                d.add(DiffKind::Unreadable, p, s, t);
            }
            Some(Problem::Unstable) => {
                let text = Some("changed while being hashed, twice".to_string());
                let (s, t) = if side == "source" {
                    (text, None)
                } else {
                    (None, text)
                };
                d.add(DiffKind::Unstable, p, s, t);
            }
            None => {}
        }
    }
    if a.problem.is_some() || b.problem.is_some() {
        return;
    }
    if a.kind != b.kind {
        d.add(
            DiffKind::Type,
            p,
            Some(a.kind.name().into()),
            Some(b.kind.name().into()),
        );
        if a.kind == Kind::File {
            d.bytes += a.size;
        }
        return;
    }
    if a.kind == Kind::File {
        if a.size != b.size {
            d.bytes += a.size;
            d.add(
                DiffKind::Size,
                p,
                Some(a.size.to_string()),
                Some(b.size.to_string()),
            );
        } else if a.hash != b.hash {
            d.bytes += a.size;
            let h = |e: &Entry| e.hash.map(|h| super::entry::hex(&h[..8]));
            d.add(DiffKind::Content, p, h(a), h(b));
        }
    }
    if a.target != b.target {
        let t = |e: &Entry| e.target.as_deref().map(display);
        d.add(DiffKind::Target, p, t(a), t(b));
    }
    if matches!(a.kind, Kind::CharDevice | Kind::BlockDevice) && a.rdev != b.rdev {
        d.add(
            DiffKind::Device,
            p,
            Some(device_number(a.rdev)),
            Some(device_number(b.rdev)),
        );
    }
    if c.mode && a.mode != b.mode {
        d.add(
            DiffKind::Mode,
            p,
            Some(format!("{:04o}", a.mode)),
            Some(format!("{:04o}", b.mode)),
        );
    }
    if c.owner != OwnerCheck::Ignore {
        let (x, y) = (owner_key(a, c.owner), owner_key(b, c.owner));
        if x != y {
            d.add(DiffKind::Owner, p, Some(x), Some(y));
        }
    }
    if c.mtime && matches!(a.kind, Kind::File | Kind::Symlink) && a.mtime_ns != b.mtime_ns {
        d.add(
            DiffKind::Mtime,
            p,
            Some(a.mtime_ns.to_string()),
            Some(b.mtime_ns.to_string()),
        );
    }
}

/// Which stream(s) a merge step consumed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Advance {
    /// The source's entry.
    Source,
    /// The target's entry.
    Target,
    /// Both.
    Both,
    /// Neither: both streams are done.
    Done,
}

/// One step of the merge of two path-sorted streams: compares their current heads, records
/// what differs, and says which head(s) to replace with the stream's next entry.
pub fn merge_step(
    a: Option<&Entry>,
    b: Option<&Entry>,
    c: &Compare,
    d: &mut Differences,
) -> Advance {
    match (a, b) {
        (None, None) => Advance::Done,
        (Some(x), None) => {
            missing(x, d);
            Advance::Source
        }
        (None, Some(y)) => {
            d.add(DiffKind::Extra, &y.path, None, Some(describe(y)));
            Advance::Target
        }
        (Some(x), Some(y)) => match x.path.cmp(&y.path) {
            Ordering::Less => {
                missing(x, d);
                Advance::Source
            }
            Ordering::Greater => {
                d.add(DiffKind::Extra, &y.path, None, Some(describe(y)));
                Advance::Target
            }
            Ordering::Equal => {
                compare_entry(x, y, c, d);
                Advance::Both
            }
        },
    }
}

/// Merges two path-sorted entry streams and records every difference.
pub fn merge(
    mut source: impl Iterator<Item = Entry>,
    mut target: impl Iterator<Item = Entry>,
    c: &Compare,
) -> Differences {
    let mut d = Differences::default();
    let (mut a, mut b) = (source.next(), target.next());
    loop {
        match merge_step(a.as_ref(), b.as_ref(), c, &mut d) {
            Advance::Done => return d,
            Advance::Source => a = source.next(),
            Advance::Target => b = target.next(),
            Advance::Both => {
                a = source.next();
                b = target.next();
            }
        }
    }
}

fn missing(x: &Entry, d: &mut Differences) {
    if x.kind == Kind::File {
        d.bytes += x.size;
    }
    d.add(DiffKind::Missing, &x.path, Some(describe(x)), None);
    // An unreadable source entry is reported as such too: it could not be copied either.
    match &x.problem {
        Some(Problem::Unreadable(why)) => {
            d.add(DiffKind::Unreadable, &x.path, Some(why.clone()), None)
        }
        Some(Problem::Unstable) => d.add(
            DiffKind::Unstable,
            &x.path,
            Some("changed while being hashed, twice".into()),
            None,
        ),
        None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(rdev: u64) -> Entry {
        Entry {
            path: b"dev/sda".to_vec(),
            kind: Kind::BlockDevice,
            size: 0,
            mode: 0o660,
            uid: 0,
            gid: 6,
            user: Some("root".into()),
            group: Some("disk".into()),
            mtime_ns: 0,
            rdev,
            target: None,
            hash: None,
            problem: None,
        }
    }

    #[test]
    fn device_nodes_with_other_numbers_differ_and_their_digests_too() {
        let (a, b) = (
            device(rustix::fs::makedev(8, 0)),
            device(rustix::fs::makedev(8, 1)),
        );
        let mut d = Differences::default();
        compare_entry(&a, &b, &Compare::default(), &mut d);
        assert_eq!(d.listed.len(), 1, "{d:?}");
        assert_eq!(
            d.listed[0].to_string(),
            "device number differs: dev/sda (source 8:0, target 8:1)"
        );
        let (mut x, mut y) = (Vec::new(), Vec::new());
        canonical(&a, &Compare::default(), &mut x);
        canonical(&b, &Compare::default(), &mut y);
        assert_ne!(x, y, "the manifest digest covers the device number");
    }
}
