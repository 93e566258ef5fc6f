//! Metadata carried by the sync stream (type, mode, owner by id and name, mtime, extended
//! attributes and ACLs) and its application on the receiving host.

use super::wire::{Get, Put};
use crate::files::entry::{Entry, Kind};
use crate::files::owners::Owners;
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What is applied to a created or updated entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits.
    pub mode: u32,
    /// Owner id on the source.
    pub uid: u32,
    /// Group id on the source.
    pub gid: u32,
    /// Owner name on the source (empty when none).
    pub user: Vec<u8>,
    /// Group name on the source (empty when none).
    pub group: Vec<u8>,
    /// Modification time (ns).
    pub mtime_ns: i64,
    /// Extended attributes (ACLs are `system.posix_acl_*` attributes).
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

impl Meta {
    /// The metadata of `e`.
    pub fn of(e: &Entry) -> Meta {
        Meta {
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            user: e.user.clone().unwrap_or_default().into_bytes(),
            group: e.group.clone().unwrap_or_default().into_bytes(),
            mtime_ns: e.mtime_ns,
            xattrs: Vec::new(),
        }
    }

    /// Writes it.
    pub fn put(&self, w: &mut impl Write) -> io::Result<()> {
        w.u32(self.mode)?;
        w.u32(self.uid)?;
        w.u32(self.gid)?;
        w.blob(&self.user)?;
        w.blob(&self.group)?;
        w.i64(self.mtime_ns)?;
        w.u32(self.xattrs.len() as u32)?;
        for (k, v) in &self.xattrs {
            w.blob(k)?;
            w.blob(v)?;
        }
        Ok(())
    }

    /// Reads it.
    pub fn get(r: &mut impl Read) -> io::Result<Meta> {
        let mut m = Meta {
            mode: r.u32()?,
            uid: r.u32()?,
            gid: r.u32()?,
            user: r.blob()?,
            group: r.blob()?,
            mtime_ns: r.i64()?,
            xattrs: Vec::new(),
        };
        let n = r.u32()?;
        for _ in 0..n {
            m.xattrs.push((r.blob()?, r.blob()?));
        }
        Ok(m)
    }
}

fn cpath(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other)
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The extended attributes of `path` (not following symlinks): ACLs when `acls`, the
/// others when `xattrs`.
pub fn read_xattrs(path: &Path, acls: bool, xattrs: bool) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if !acls && !xattrs {
        return Ok(Vec::new());
    }
    let c = cpath(path)?;
    let mut names = vec![0u8; 4096];
    // SAFETY: the buffer pointer and length describe `names`.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::ENOTSUP) => Ok(Vec::new()),
            _ => Err(e),
        };
    }
    names.truncate(n as usize);
    let mut out = Vec::new();
    for name in names.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let is_acl = name.starts_with(b"system.posix_acl_");
        if (is_acl && !acls) || (!is_acl && !xattrs) {
            continue;
        }
        let cname = CString::new(name).map_err(io::Error::other)?;
        let mut value = vec![0u8; 65536];
        // SAFETY: as above.
        let len = unsafe {
            libc::lgetxattr(
                c.as_ptr(),
                cname.as_ptr(),
                value.as_mut_ptr().cast(),
                value.len(),
            )
        };
        if len < 0 {
            continue; // removed meanwhile
        }
        value.truncate(len as usize);
        out.push((name.to_vec(), value));
    }
    Ok(out)
}

/// Who the receiver is and how it maps owners.
pub struct Apply {
    /// Change owners (root only).
    pub chown: bool,
    /// Map by id, not name.
    pub numeric_ids: bool,
    /// The receiving host's accounts.
    pub owners: Owners,
}

impl Apply {
    /// The local ids for `m`.
    fn ids(&self, m: &Meta) -> (u32, u32) {
        if self.numeric_ids {
            return (m.uid, m.gid);
        }
        let name = |b: &[u8]| {
            std::str::from_utf8(b)
                .ok()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
        };
        let uid = name(&m.user)
            .and_then(|n| self.owners.uid(&n))
            .unwrap_or(m.uid);
        let gid = name(&m.group)
            .and_then(|n| self.owners.gid(&n))
            .unwrap_or(m.gid);
        (uid, gid)
    }

    /// Applies owner, xattrs, mode and mtime to `path` of type `kind` (in that order: a
    /// chown clears setuid bits, so the mode comes after it).
    pub fn apply(&self, path: &Path, kind: Kind, m: &Meta) -> io::Result<()> {
        let c = cpath(path)?;
        if self.chown {
            let (uid, gid) = self.ids(m);
            // SAFETY: `c` is a valid path.
            check(unsafe { libc::lchown(c.as_ptr(), uid, gid) })?;
        }
        for (k, v) in &m.xattrs {
            let ck = CString::new(k.as_slice()).map_err(io::Error::other)?;
            // SAFETY: pointers and lengths describe live buffers.
            check(unsafe {
                libc::lsetxattr(c.as_ptr(), ck.as_ptr(), v.as_ptr().cast(), v.len(), 0)
            })?;
        }
        if kind != Kind::Symlink {
            // SAFETY: `c` is a valid path.
            check(unsafe { libc::chmod(c.as_ptr(), m.mode as libc::mode_t) })?;
        }
        let t = libc::timespec {
            tv_sec: m.mtime_ns.div_euclid(1_000_000_000) as libc::time_t,
            tv_nsec: m.mtime_ns.rem_euclid(1_000_000_000) as libc::c_long,
        };
        let times = [t, t];
        // SAFETY: `c` is a valid path and `times` two timespecs.
        check(unsafe {
            libc::utimensat(
                libc::AT_FDCWD,
                c.as_ptr(),
                times.as_ptr(),
                libc::AT_SYMLINK_NOFOLLOW,
            )
        })
    }
}
