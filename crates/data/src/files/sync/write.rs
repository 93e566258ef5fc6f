//! Applying the sync stream to the target tree: deletions, directories (their modes and
//! mtimes set last), symlinks, hard links, special files, and files written under a
//! temporary name and renamed into place once whole.
//!
//! The stream is untrusted. Every path in it is checked (relative, normal) and resolved
//! beneath the tree's root with no symlink followed ([`Tree`]); every change is made through a
//! directory handle and a single name (`mkdirat`, `openat(O_EXCL)`, `renameat`, `linkat`
//! without following, `mknodat`), and metadata through handles. Hard links must point inside
//! the tree at a regular file, device nodes need the plan's `devices`, extended attributes
//! its `acls`/`xattrs`, and a file's data may not exceed what its record announced.

use super::meta::{Apply, Meta};
use super::plan::RESUME_MIN;
use super::receive::Target;
use super::staging::Staging;
use super::wire::Get;
use super::{Fail, Preserve, SyncStats};
use crate::files::beneath::{check_relative, remove_all, split_last, Tree, MAX_PATH};
use crate::files::entry::{display, Kind};
use rustix::fs::{self as rfs, AtFlags, Mode, OFlags};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

/// The largest data chunk a sender may send (it sends 256 KiB).
const MAX_CHUNK: usize = 1 << 20;

/// The state of one receiving run.
pub(crate) struct Receiver<'a> {
    rep: super::send::Reporter<'a>,
    tree: Tree,
    staging: Staging,
    apply: Apply,
    allow: Preserve,
    dirs: Vec<(Vec<u8>, Meta)>,
    stats: SyncStats,
    buf: Vec<u8>,
    /// Partial copies offered for resuming and not yet resumed: real path -> temporary path.
    partials: HashMap<Vec<u8>, Vec<u8>>,
    /// Temporary files of earlier, cut-off runs.
    litter: Vec<Vec<u8>>,
    /// File bytes received so far, against the header's announced total.
    announced: u64,
}

fn io(what: &'static str) -> impl Fn(std::io::Error) -> Fail {
    Fail::io(what)
}

fn refused(message: String) -> Fail {
    Fail::new(
        format!("the sync stream was refused: {message}"),
        "protocol",
    )
}

impl<'a> Receiver<'a> {
    pub(crate) fn new(
        rep: super::send::Reporter<'a>,
        tree: Tree,
        staging: Staging,
        apply: Apply,
        allow: Preserve,
        found: Target,
    ) -> Self {
        let announced = rep.total_bytes;
        Receiver {
            rep,
            tree,
            staging,
            apply,
            allow,
            dirs: Vec::new(),
            stats: SyncStats::default(),
            buf: vec![0u8; 256 * 1024],
            partials: found
                .partials
                .into_iter()
                .map(|(real, temp, _, _)| (real, temp))
                .collect(),
            litter: found.litter,
            announced,
        }
    }

    pub(crate) fn records(&mut self, r: &mut impl Read) -> Result<(), Fail> {
        loop {
            self.rep.files = self.stats.files_sent;
            self.rep.bytes = self.stats.bytes_sent;
            self.rep.tick(false).map_err(io("progress"))?;
            let tag = r.u8().map_err(io("the sync stream (the sender stopped)"))?;
            match tag {
                b'E' => return Ok(()),
                b'X' => {
                    let path = path(r)?;
                    self.delete(&path)?;
                }
                b'D' | b'M' | b'L' | b'S' => {
                    let path = path(r)?;
                    let kind = kind_of(r.u8().map_err(io("stream"))?)?;
                    let meta = Meta::get(r).map_err(io("stream"))?;
                    self.check_xattrs(&path, &meta)?;
                    match tag {
                        b'D' => self.dir(&path, meta)?,
                        b'M' => self.meta(&path, kind, meta)?,
                        b'L' => {
                            let target = r.blob_max(MAX_PATH).map_err(io("stream"))?;
                            self.symlink(&path, &target, &meta)?;
                        }
                        _ => {
                            let rdev = r.u64().map_err(io("stream"))?;
                            self.special(&path, kind, rdev, &meta)?;
                        }
                    }
                }
                b'K' => {
                    let path = path(r)?;
                    let to = path_of(r, "hard link target")?;
                    self.hard_link(&path, &to)?;
                }
                b'F' => self.file(r)?,
                t => return Err(refused(format!("unknown record {t}"))),
            }
        }
    }

    fn fail_at(&self, path: &[u8], what: &str, e: std::io::Error) -> Fail {
        if matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            // The stream stalled (a socket timeout), not the target's disk.
            return Fail::io("receiving the sync stream")(e);
        }
        let code = if e.raw_os_error() == Some(libc::ENOSPC) {
            "no-space"
        } else {
            "write"
        };
        Fail::new(
            format!(
                "cannot {what} {} on the target: {e}",
                self.tree.shown(path).display()
            ),
            code,
        )
    }

    /// The plan decides which extended attributes may be written, not the sender.
    fn check_xattrs(&self, path: &[u8], m: &Meta) -> Result<(), Fail> {
        for (k, _) in &m.xattrs {
            let acl = k.starts_with(b"system.posix_acl_");
            if (acl && !self.allow.acls) || (!acl && !self.allow.xattrs) {
                return Err(refused(format!(
                    "`{}` carries the extended attribute `{}`, which this sync does not preserve",
                    display(path),
                    display(k)
                )));
            }
        }
        Ok(())
    }

    fn parent<'p>(&self, path: &'p [u8], what: &str) -> Result<(OwnedFd, &'p [u8]), Fail> {
        self.tree
            .parent(path)
            .map_err(|e| self.fail_at(path, what, e))
    }

    fn delete(&mut self, path: &[u8]) -> Result<(), Fail> {
        if path.is_empty() {
            return Err(refused("a deletion of the tree's root".into()));
        }
        let (dir, name) = self.parent(path, "delete")?;
        remove_all(dir.as_fd(), name).map_err(|e| self.fail_at(path, "delete", e))?;
        self.stats.deleted += 1;
        Ok(())
    }

    fn dir(&mut self, path: &[u8], meta: Meta) -> Result<(), Fail> {
        if !path.is_empty() {
            let (dir, name) = self.parent(path, "create directory")?;
            let os = OsStr::from_bytes(name);
            let is_dir = match rfs::statat(&dir, os, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => true,
                // Something else by that name (a file, a symlink): the directory replaces it.
                Ok(_) => {
                    rfs::unlinkat(&dir, os, AtFlags::empty())
                        .map_err(|e| self.fail_at(path, "replace", e.into()))?;
                    false
                }
                Err(_) => false,
            };
            if !is_dir {
                // Private until its own mode is applied, once its content is in.
                rfs::mkdirat(&dir, os, Mode::from_raw_mode(0o700))
                    .map_err(|e| self.fail_at(path, "create directory", e.into()))?;
                self.stats.dirs_created += 1;
            }
        }
        // Modes and mtimes of directories are set last, once their content is in.
        self.dirs.push((path.to_vec(), meta));
        Ok(())
    }

    fn meta(&mut self, path: &[u8], kind: Kind, meta: Meta) -> Result<(), Fail> {
        self.stats.meta_updated += 1;
        if kind == Kind::Dir {
            self.dirs.push((path.to_vec(), meta));
            return Ok(());
        }
        if kind == Kind::File {
            let opened = self
                .tree
                .open_at(path, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty());
            if let Ok(fd) = opened {
                let st = rfs::fstat(&fd).map_err(|e| self.fail_at(path, "update", e.into()))?;
                if Kind::from_mode(st.st_mode) != Kind::File {
                    return Err(self.fail_at(
                        path,
                        "update",
                        std::io::Error::other("it is no longer a regular file"),
                    ));
                }
                return self
                    .apply
                    .apply_fd(fd.as_fd(), &meta)
                    .map_err(|e| self.fail_at(path, "update", e));
            }
        }
        let (dir, name) = self.parent(path, "update")?;
        self.apply
            .apply_at(dir.as_fd(), name, kind, &meta)
            .map_err(|e| self.fail_at(path, "update", e))
    }

    /// Creates an entry under a temporary name with `make`, applies its metadata without
    /// following it, and renames it into place.
    fn place(
        &mut self,
        path: &[u8],
        kind: Kind,
        meta: &Meta,
        what: &str,
        make: impl FnOnce(BorrowedFd<'_>, &OsStr) -> rustix::io::Result<()>,
    ) -> Result<(), Fail> {
        let (dir, name) = self.parent(path, what)?;
        let temp = self.staging.temp_name(name);
        let temp = OsStr::from_bytes(&temp);
        let _ = rfs::unlinkat(&dir, temp, AtFlags::empty());
        let done = make(dir.as_fd(), temp)
            .map_err(std::io::Error::from)
            .and_then(|_| {
                self.apply
                    .apply_at(dir.as_fd(), temp.as_bytes(), kind, meta)
            })
            .and_then(|_| Ok(rfs::renameat(&dir, temp, &dir, OsStr::from_bytes(name))?));
        if let Err(e) = done {
            let _ = rfs::unlinkat(&dir, temp, AtFlags::empty());
            return Err(self.fail_at(path, what, e));
        }
        self.stats.links_created += 1;
        Ok(())
    }

    fn symlink(&mut self, path: &[u8], target: &[u8], meta: &Meta) -> Result<(), Fail> {
        if target.is_empty() || target.contains(&0) {
            return Err(refused(format!(
                "an empty or NUL-holding symlink target for `{}`",
                display(path)
            )));
        }
        // The link is created, never followed: where it points is the source's business.
        self.place(path, Kind::Symlink, meta, "create symlink", |dir, temp| {
            rfs::symlinkat(OsStr::from_bytes(target), dir, temp)
        })
    }

    fn special(&mut self, path: &[u8], kind: Kind, rdev: u64, meta: &Meta) -> Result<(), Fail> {
        let format = match kind {
            Kind::Fifo => rfs::FileType::Fifo,
            Kind::Socket => rfs::FileType::Socket,
            Kind::CharDevice | Kind::BlockDevice if !self.allow.devices => {
                return Err(refused(format!(
                    "`{}` is a device node, and this sync does not allow them (`devices = true` does)",
                    display(path)
                )))
            }
            Kind::CharDevice => rfs::FileType::CharacterDevice,
            Kind::BlockDevice => rfs::FileType::BlockDevice,
            _ => return Err(refused(format!("a special-file record for `{}` of type {}", display(path), kind.name()))),
        };
        let rdev = if matches!(kind, Kind::CharDevice | Kind::BlockDevice) {
            rdev
        } else {
            0
        };
        self.place(path, kind, meta, "create special file", |dir, temp| {
            rfs::mknodat(
                dir,
                temp,
                format,
                Mode::from_raw_mode(0o600),
                rdev as rfs::Dev,
            )
        })
    }

    fn hard_link(&mut self, path: &[u8], to: &[u8]) -> Result<(), Fail> {
        if !self.allow.hard_links {
            return Err(refused(format!(
                "a hard link `{}`, and this sync does not preserve them",
                display(path)
            )));
        }
        if to.is_empty() {
            return Err(refused(format!(
                "a hard link from `{}` to the tree's root",
                display(path)
            )));
        }
        let (src_dir, src_name) = self.parent(to, "link")?;
        let src = OsStr::from_bytes(src_name);
        match rfs::statat(&src_dir, src, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFREG => {}
            _ => {
                return Err(refused(format!(
                    "a hard link `{}` to `{}`, which is not a regular file in the tree",
                    display(path),
                    display(to)
                )))
            }
        }
        let (dir, name) = self.parent(path, "link")?;
        let temp = self.staging.temp_name(name);
        let temp = OsStr::from_bytes(&temp);
        let _ = rfs::unlinkat(&dir, temp, AtFlags::empty());
        // linkat without AT_SYMLINK_FOLLOW links the name itself, never what it points to.
        let done = rfs::linkat(&src_dir, src, &dir, temp, AtFlags::empty())
            .and_then(|_| rfs::renameat(&dir, temp, &dir, OsStr::from_bytes(name)));
        if let Err(e) = done {
            let _ = rfs::unlinkat(&dir, temp, AtFlags::empty());
            return Err(self.fail_at(path, "link", e.into()));
        }
        self.stats.links_created += 1;
        Ok(())
    }

    /// Opens the file a record's data goes to: a kept partial copy to resume, or a new
    /// temporary file (recorded first when it is large enough to be resumed later).
    fn open_target(
        &mut self,
        path: &[u8],
        size: u64,
        offset: u64,
    ) -> Result<(OwnedFd, Vec<u8>, File), Fail> {
        let (dir, name) = self.parent(path, "create")?;
        let kept = self.partials.remove(path);
        if offset > 0 {
            let Some(temp) = kept else {
                return Err(refused(format!(
                    "a resumption of `{}`, of which this host keeps no partial copy",
                    display(path)
                )));
            };
            let fd = self
                .tree
                .open_at(&temp, OFlags::WRONLY, Mode::empty())
                .map_err(|e| self.fail_at(path, "resume", e))?;
            let st = rfs::fstat(&fd).map_err(|e| self.fail_at(path, "resume", e.into()))?;
            if st.st_mode & libc::S_IFMT != libc::S_IFREG || (st.st_size as u64) < offset {
                return Err(refused(format!(
                    "a resumption of `{}` past its partial copy",
                    display(path)
                )));
            }
            let temp_name = split_last(&temp).1.to_vec();
            return Ok((dir, temp_name, File::from(fd)));
        }
        if let Some(temp) = kept {
            // The sender starts over: the old partial copy goes.
            if let Ok((d, n)) = self.tree.parent(&temp) {
                let _ = rfs::unlinkat(&d, OsStr::from_bytes(n), AtFlags::empty());
            }
            self.staging.forget_partial(path);
        }
        let temp = self.staging.temp_name(name);
        if size >= RESUME_MIN {
            let mut rel = split_last(path).0.to_vec();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(&temp);
            self.staging.keep(path, &rel)?;
        }
        let _ = rfs::unlinkat(&dir, OsStr::from_bytes(&temp), AtFlags::empty());
        let fd = rfs::openat(
            &dir,
            OsStr::from_bytes(&temp),
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o600),
        )
        .map_err(|e| self.fail_at(path, "create", e.into()))?;
        Ok((dir, temp, File::from(fd)))
    }

    fn file(&mut self, r: &mut impl Read) -> Result<(), Fail> {
        let path = path(r)?;
        let meta = Meta::get(r).map_err(io("stream"))?;
        self.check_xattrs(&path, &meta)?;
        let size = r.u64().map_err(io("stream"))?;
        let offset = r.u64().map_err(io("stream"))?;
        if path.is_empty() || offset > size {
            return Err(refused(format!(
                "a file record for `{}` of {size} bytes from {offset}",
                display(&path)
            )));
        }
        let (dir, temp, mut file) = match self.open_target(&path, size, offset) {
            Ok(t) => t,
            Err(f) => {
                // Drain the record so the stream stays in step, then stop with the cause.
                let _ = drain(r, &mut self.buf, None, size - offset);
                return Err(f);
            }
        };
        let remove = |dir: &OwnedFd| {
            let _ = rfs::unlinkat(dir, OsStr::from_bytes(&temp), AtFlags::empty());
        };
        let written = match file.seek(SeekFrom::Start(offset)) {
            Ok(_) => drain(r, &mut self.buf, Some(&mut file), size - offset),
            Err(e) => Err((e, true)),
        };
        let written = match written {
            Ok(n) => n,
            Err((e, on_target)) => {
                let kept = file.stream_position().unwrap_or(0);
                if on_target || kept < RESUME_MIN {
                    // Never leave a half-written file behind (a full disk needs the space
                    // back), unless it is a large one cut off by the stream, which the next
                    // run resumes: it stays under its temporary name only.
                    remove(&dir);
                    self.staging.forget_partial(&path);
                }
                return Err(self.fail_at(&path, "write", e));
            }
        };
        if written > self.announced {
            remove(&dir);
            return Err(refused("more file data than its header announced".into()));
        }
        self.announced -= written;
        let status = r.u8().map_err(io("stream"))?;
        if status != 0 {
            remove(&dir);
            self.staging.forget_partial(&path);
            self.stats.errors.push(format!(
                "{}: changed or unreadable on the source; not written",
                display(&path)
            ));
            return Ok(());
        }
        let name = split_last(&path).1;
        let done = file
            .set_len(size)
            .and_then(|_| self.apply.apply_fd(file.as_fd(), &meta))
            .and_then(|_| {
                drop(file);
                Ok(rfs::renameat(
                    &dir,
                    OsStr::from_bytes(&temp),
                    &dir,
                    OsStr::from_bytes(name),
                )?)
            });
        self.staging.forget_partial(&path);
        if let Err(e) = done {
            remove(&dir);
            return Err(self.fail_at(&path, "write", e));
        }
        self.stats.files_sent += 1;
        self.stats.bytes_sent += written;
        self.stats.bytes_resumed += offset;
        Ok(())
    }

    /// Directories' modes and times, then the partial copies nobody resumed and the litter
    /// of cut-off runs; the staging record is cleared once all of that is gone.
    pub(crate) fn finish(mut self) -> Result<SyncStats, Fail> {
        for (path, meta) in self.dirs.iter().rev() {
            let done = self
                .tree
                .open_at(path, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())
                .and_then(|fd| self.apply.apply_fd(fd.as_fd(), meta));
            if let Err(e) = done {
                self.stats.errors.push(format!("{}: {e}", display(path)));
            }
        }
        let stale = self.partials.values().chain(self.litter.iter());
        for temp in stale {
            if let Ok((dir, name)) = self.tree.parent(temp) {
                let _ = rfs::unlinkat(&dir, OsStr::from_bytes(name), AtFlags::empty());
            }
        }
        self.staging.finished()?;
        Ok(self.stats)
    }
}

/// A path from the stream, checked before anything uses it.
fn path(r: &mut impl Read) -> Result<Vec<u8>, Fail> {
    path_of(r, "path")
}

fn path_of(r: &mut impl Read, what: &str) -> Result<Vec<u8>, Fail> {
    let p = r.blob_max(MAX_PATH).map_err(io("stream"))?;
    check_relative(&p).map_err(|e| refused(format!("a {what}: {e}")))?;
    Ok(p)
}

/// Reads data and hole chunks up to the end chunk, writing them to `file` when given, at
/// most `limit` bytes in all (data and holes); returns the data bytes, or the error and
/// whether it came from the target's file system (true) rather than the stream.
fn drain(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
    mut file: Option<&mut File>,
    limit: u64,
) -> Result<u64, (std::io::Error, bool)> {
    let stream = |e| (e, false);
    let target = |e| (e, true);
    let over = || {
        (
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "the sender sent more than the file's announced size",
            ),
            false,
        )
    };
    let mut n = 0;
    let mut pos = 0u64;
    loop {
        match r.u8().map_err(stream)? {
            0 => {
                let len = r.u32().map_err(stream)? as usize;
                if len > MAX_CHUNK {
                    return Err(over());
                }
                pos += len as u64;
                if pos > limit {
                    return Err(over());
                }
                if len > buf.len() {
                    buf.resize(len, 0);
                }
                r.read_exact(&mut buf[..len]).map_err(stream)?;
                if let Some(f) = file.as_deref_mut() {
                    f.write_all(&buf[..len]).map_err(target)?;
                }
                n += len as u64;
            }
            1 => {
                let hole = r.u64().map_err(stream)?;
                pos = pos.checked_add(hole).ok_or_else(over)?;
                if pos > limit {
                    return Err(over());
                }
                if let Some(f) = file.as_deref_mut() {
                    f.seek(SeekFrom::Current(hole as i64)).map_err(target)?;
                }
            }
            3 => return Ok(n),
            t => {
                return Err((
                    std::io::Error::new(std::io::ErrorKind::InvalidData, format!("bad chunk {t}")),
                    false,
                ))
            }
        }
    }
}

fn kind_of(b: u8) -> Result<Kind, Fail> {
    Ok(match b {
        x if x == Kind::File as u8 => Kind::File,
        x if x == Kind::Dir as u8 => Kind::Dir,
        x if x == Kind::Symlink as u8 => Kind::Symlink,
        x if x == Kind::Fifo as u8 => Kind::Fifo,
        x if x == Kind::Socket as u8 => Kind::Socket,
        x if x == Kind::CharDevice as u8 => Kind::CharDevice,
        x if x == Kind::BlockDevice as u8 => Kind::BlockDevice,
        t => return Err(refused(format!("unknown entry type {t}"))),
    })
}
