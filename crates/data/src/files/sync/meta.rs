//! Metadata carried by the sync stream (type, mode, owner by id and name, mtime, extended
//! attributes and ACLs) and its application on the receiving host.

use super::wire::{Get, Put};
use crate::files::beneath::{proc_at, proc_fd};
use crate::files::entry::{Entry, Kind};
use crate::files::owners::Owners;
use rustix::fs as rfs;
use std::ffi::{CString, OsStr};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::ffi::OsStrExt;

/// The most extended attributes one entry may carry on the wire.
pub const MAX_XATTRS: usize = 1024;

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

    /// Reads it, within the limits a real file system has (names of 256 bytes, at most
    /// [`MAX_XATTRS`] attributes of 64 KiB each): whatever a sender claims is bounded.
    pub fn get(r: &mut impl Read) -> io::Result<Meta> {
        let mut m = Meta {
            mode: r.u32()? & 0o7777,
            uid: r.u32()?,
            gid: r.u32()?,
            user: r.blob_max(256)?,
            group: r.blob_max(256)?,
            mtime_ns: r.i64()?,
            xattrs: Vec::new(),
        };
        let n = r.u32()? as usize;
        if n > MAX_XATTRS {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{n} extended attributes on one entry (at most {MAX_XATTRS})"),
            ));
        }
        for _ in 0..n {
            m.xattrs.push((r.blob_max(255)?, r.blob_max(65536)?));
        }
        Ok(m)
    }
}

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// The extended attributes at path `c` (a symlink's own, never its target's; callers pass
/// a [`proc_at`] path so that no symlink on the way is followed): ACLs when `acls`, the
/// others when `xattrs`.
pub fn read_xattrs(c: &CString, acls: bool, xattrs: bool) -> io::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    if !acls && !xattrs {
        return Ok(Vec::new());
    }
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

fn timestamps(m: &Meta) -> rfs::Timestamps {
    let t = rfs::Timespec {
        tv_sec: m.mtime_ns.div_euclid(1_000_000_000),
        tv_nsec: m.mtime_ns.rem_euclid(1_000_000_000) as _,
    };
    rfs::Timestamps {
        last_access: t,
        last_modification: t,
    }
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

    /// The owner to set. `u32::MAX` is no id on Linux but chown's "leave it as it is", so a
    /// record carrying it (only a broken or hostile sender sends one) keeps the receiver's
    /// own id rather than reaching rustix, which asserts against it.
    fn owner(&self, m: &Meta) -> (Option<rfs::Uid>, Option<rfs::Gid>) {
        let (uid, gid) = self.ids(m);
        (
            (uid != u32::MAX).then(|| rfs::Uid::from_raw(uid)),
            (gid != u32::MAX).then(|| rfs::Gid::from_raw(gid)),
        )
    }

    /// Applies owner, xattrs, mode and mtime through `fd`, an open (not `O_PATH`) handle of
    /// a regular file or directory (in that order: a chown clears setuid bits, so the mode
    /// comes after it).
    pub fn apply_fd(&self, fd: BorrowedFd<'_>, m: &Meta) -> io::Result<()> {
        if self.chown {
            let (u, g) = self.owner(m);
            rfs::fchown(fd, u, g)?;
        }
        for (k, v) in &m.xattrs {
            rfs::fsetxattr(fd, k.as_slice(), v, rfs::XattrFlags::empty())?;
        }
        rfs::fchmod(fd, rfs::Mode::from_raw_mode(m.mode as _))?;
        rfs::futimens(fd, &timestamps(m))?;
        Ok(())
    }

    /// Applies the same to `name` in the directory `dir` when no open handle can be had (a
    /// symlink, a FIFO or device that must not be opened, a file the receiver cannot read):
    /// every call acts on that name without following a symlink there, and the mode is set
    /// only once a handle shows the object is of the expected `kind`.
    pub fn apply_at(
        &self,
        dir: BorrowedFd<'_>,
        name: &[u8],
        kind: Kind,
        m: &Meta,
    ) -> io::Result<()> {
        let os = OsStr::from_bytes(name);
        if self.chown {
            let (u, g) = self.owner(m);
            rfs::chownat(dir, os, u, g, rfs::AtFlags::SYMLINK_NOFOLLOW)?;
        }
        if !m.xattrs.is_empty() {
            let c = proc_at(dir, name)?;
            for (k, v) in &m.xattrs {
                let ck = CString::new(k.as_slice()).map_err(io::Error::other)?;
                // SAFETY: pointers and lengths describe live buffers.
                check(unsafe {
                    libc::lsetxattr(c.as_ptr(), ck.as_ptr(), v.as_ptr().cast(), v.len(), 0)
                })?;
            }
        }
        if kind != Kind::Symlink {
            let node = rfs::openat(
                dir,
                os,
                rfs::OFlags::PATH | rfs::OFlags::NOFOLLOW | rfs::OFlags::CLOEXEC,
                rfs::Mode::empty(),
            )?;
            let st = rfs::fstat(&node)?;
            if Kind::from_mode(st.st_mode) != kind {
                return Err(io::Error::other(format!(
                    "it is a {} now, not a {}: changed meanwhile",
                    Kind::from_mode(st.st_mode).name(),
                    kind.name()
                )));
            }
            // Not a symlink (checked above): the magic link leads to this very inode.
            let c = proc_fd(node.as_fd());
            // SAFETY: `c` is a valid path.
            check(unsafe { libc::chmod(c.as_ptr(), m.mode as libc::mode_t) })?;
        }
        rfs::utimensat(dir, os, &timestamps(m), rfs::AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_of_minus_one_leaves_the_owner_as_it_is() {
        let apply = Apply {
            chown: true,
            numeric_ids: true,
            owners: Owners::default(),
        };
        let hostile = Meta {
            uid: u32::MAX,
            gid: u32::MAX,
            ..Meta::default()
        };
        assert_eq!(apply.owner(&hostile), (None, None));
        let plain = Meta {
            uid: 1000,
            gid: 33,
            ..Meta::default()
        };
        let (u, g) = apply.owner(&plain);
        assert_eq!(u.map(|u| u.as_raw()), Some(1000));
        assert_eq!(g.map(|g| g.as_raw()), Some(33));
    }
}
