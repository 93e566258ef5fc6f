//! Applying the sync stream to the target tree: deletions, directories (their modes and
//! mtimes set last), symlinks, hard links, special files, and files written under a
//! temporary name and renamed into place once whole.

use super::meta::{Apply, Meta};
use super::plan::RESUME_MIN;
use super::receive::part_path;
use super::wire::Get;
use super::{Fail, SyncStats};
use crate::files::entry::{display, Kind};
use crate::files::manifest::full_path;
use std::ffi::OsStr;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

/// The state of one receiving run.
pub(crate) struct Receiver<'a> {
    pub(crate) rep: super::send::Reporter<'a>,
    pub(crate) root: PathBuf,
    pub(crate) apply: Apply,
    pub(crate) dirs: Vec<(PathBuf, Meta)>,
    pub(crate) stats: SyncStats,
    pub(crate) buf: Vec<u8>,
    pub(crate) partials: Vec<Vec<u8>>,
}

impl Receiver<'_> {
    pub(crate) fn records(&mut self, r: &mut impl Read) -> Result<(), Fail> {
        let io = |what: &'static str| Fail::io(what);
        loop {
            self.rep.files = self.stats.files_sent;
            self.rep.bytes = self.stats.bytes_sent;
            self.rep.tick(false).map_err(io("progress"))?;
            let tag = r.u8().map_err(io("the sync stream (the sender stopped)"))?;
            match tag {
                b'E' => return Ok(()),
                b'X' => {
                    let path = r.blob().map_err(io("stream"))?;
                    self.delete(&path)?;
                }
                b'D' | b'M' | b'L' | b'S' => {
                    let path = r.blob().map_err(io("stream"))?;
                    let kind = kind_of(r.u8().map_err(io("stream"))?);
                    let meta = Meta::get(r).map_err(io("stream"))?;
                    let extra = match tag {
                        b'L' => r.blob().map_err(io("stream"))?,
                        b'S' => r.u64().map_err(io("stream"))?.to_le_bytes().to_vec(),
                        _ => Vec::new(),
                    };
                    self.entry(tag, &path, kind, meta, &extra)?;
                }
                b'K' => {
                    let path = r.blob().map_err(io("stream"))?;
                    let to = r.blob().map_err(io("stream"))?;
                    let full = full_path(&self.root, &path);
                    let tmp = part_path(&full);
                    let _ = std::fs::remove_file(&tmp);
                    std::fs::hard_link(full_path(&self.root, &to), &tmp)
                        .and_then(|_| std::fs::rename(&tmp, &full))
                        .map_err(|e| self.fail_at(&path, "link", e))?;
                    self.stats.links_created += 1;
                }
                b'F' => self.file(r)?,
                t => {
                    return Err(Fail::new(
                        format!("bad record {t} in the sync stream"),
                        "protocol",
                    ))
                }
            }
        }
    }

    fn fail_at(&self, path: &[u8], what: &str, e: std::io::Error) -> Fail {
        let code = if e.raw_os_error() == Some(libc::ENOSPC) {
            "no-space"
        } else {
            "write"
        };
        Fail::new(
            format!(
                "cannot {what} {} on the target: {e}",
                full_path(&self.root, path).display()
            ),
            code,
        )
    }

    fn delete(&mut self, path: &[u8]) -> Result<(), Fail> {
        let full = full_path(&self.root, path);
        let r = match std::fs::symlink_metadata(&full) {
            Ok(m) if m.is_dir() => std::fs::remove_dir_all(&full),
            Ok(_) => std::fs::remove_file(&full),
            Err(_) => Ok(()),
        };
        r.map_err(|e| self.fail_at(path, "delete", e))?;
        self.stats.deleted += 1;
        Ok(())
    }

    fn entry(
        &mut self,
        tag: u8,
        path: &[u8],
        kind: Kind,
        meta: Meta,
        extra: &[u8],
    ) -> Result<(), Fail> {
        let full = full_path(&self.root, path);
        match tag {
            b'D' => {
                if !full.is_dir() {
                    std::fs::create_dir_all(&full)
                        .map_err(|e| self.fail_at(path, "create directory", e))?;
                    self.stats.dirs_created += 1;
                }
                // Modes and mtimes of directories are set last, once their content is in.
                self.dirs.push((full, meta));
            }
            b'M' if kind == Kind::Dir => {
                self.dirs.push((full, meta));
                self.stats.meta_updated += 1;
            }
            b'M' => {
                self.apply
                    .apply(&full, kind, &meta)
                    .map_err(|e| self.fail_at(path, "update", e))?;
                self.stats.meta_updated += 1;
            }
            b'L' => {
                let tmp = part_path(&full);
                let _ = std::fs::remove_file(&tmp);
                std::os::unix::fs::symlink(OsStr::from_bytes(extra), &tmp)
                    .and_then(|_| self.apply.apply(&tmp, Kind::Symlink, &meta))
                    .and_then(|_| std::fs::rename(&tmp, &full))
                    .map_err(|e| self.fail_at(path, "create symlink", e))?;
                self.stats.links_created += 1;
            }
            _ => {
                let rdev = u64::from_le_bytes(extra.try_into().unwrap_or([0; 8]));
                let tmp = part_path(&full);
                let _ = std::fs::remove_file(&tmp);
                let c = std::ffi::CString::new(tmp.as_os_str().as_bytes())
                    .map_err(|e| Fail::new(e.to_string(), "write"))?;
                let fmt = match kind {
                    Kind::Fifo => libc::S_IFIFO,
                    Kind::CharDevice => libc::S_IFCHR,
                    Kind::BlockDevice => libc::S_IFBLK,
                    _ => libc::S_IFSOCK,
                };
                // SAFETY: `c` is a valid path.
                let rc = unsafe { libc::mknod(c.as_ptr(), fmt | 0o600, rdev as libc::dev_t) };
                let r = if rc == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                };
                r.and_then(|_| self.apply.apply(&tmp, kind, &meta))
                    .and_then(|_| std::fs::rename(&tmp, &full))
                    .map_err(|e| self.fail_at(path, "create special file", e))?;
                self.stats.links_created += 1;
            }
        }
        Ok(())
    }

    fn file(&mut self, r: &mut impl Read) -> Result<(), Fail> {
        let io = |what: &'static str| Fail::io(what);
        let path = r.blob().map_err(io("stream"))?;
        let meta = Meta::get(r).map_err(io("stream"))?;
        let size = r.u64().map_err(io("stream"))?;
        let offset = r.u64().map_err(io("stream"))?;
        let full = full_path(&self.root, &path);
        let tmp = part_path(&full);
        self.partials.retain(|p| *p != path);
        let opened = if offset > 0 {
            File::options()
                .write(true)
                .custom_flags(libc::O_NOFOLLOW)
                .open(&tmp)
        } else {
            let _ = std::fs::remove_file(&tmp);
            File::options()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
        };
        let mut file = match opened {
            Ok(f) => f,
            Err(e) => {
                // Drain the record so the stream stays in step, then stop with the cause.
                let _ = drain(r, &mut self.buf, None);
                return Err(self.fail_at(&path, "create", e));
            }
        };
        let written = match file.seek(SeekFrom::Start(offset)) {
            Ok(_) => drain(r, &mut self.buf, Some(&mut file)),
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
                    let _ = std::fs::remove_file(&tmp);
                }
                return Err(self.fail_at(&path, "write", e));
            }
        };
        let status = r.u8().map_err(io("stream"))?;
        if status != 0 {
            let _ = std::fs::remove_file(&tmp);
            self.stats.errors.push(format!(
                "{}: changed or unreadable on the source; not written",
                display(&path)
            ));
            return Ok(());
        }
        let done = file
            .set_len(size)
            .and_then(|_| {
                drop(file);
                self.apply.apply(&tmp, Kind::File, &meta)
            })
            .and_then(|_| std::fs::rename(&tmp, &full));
        if let Err(e) = done {
            let _ = std::fs::remove_file(&tmp);
            return Err(self.fail_at(&path, "write", e));
        }
        self.stats.files_sent += 1;
        self.stats.bytes_sent += written;
        self.stats.bytes_resumed += offset;
        Ok(())
    }

    pub(crate) fn finish(&mut self) {
        for (dir, meta) in self.dirs.iter().rev() {
            if let Err(e) = self.apply.apply(dir, Kind::Dir, meta) {
                self.stats.errors.push(format!("{}: {e}", dir.display()));
            }
        }
        // Partial copies nobody resumed are stale.
        for p in &self.partials {
            let _ = std::fs::remove_file(part_path(&full_path(&self.root, p)));
        }
    }
}

/// Reads data and hole chunks up to the end chunk, writing them to `file` when given;
/// returns the data bytes, or the error and whether it came from the target's file system
/// (true) rather than the stream.
fn drain(
    r: &mut impl Read,
    buf: &mut Vec<u8>,
    mut file: Option<&mut File>,
) -> Result<u64, (std::io::Error, bool)> {
    let stream = |e| (e, false);
    let target = |e| (e, true);
    let mut n = 0;
    loop {
        match r.u8().map_err(stream)? {
            0 => {
                let len = r.u32().map_err(stream)? as usize;
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

fn kind_of(b: u8) -> Kind {
    match b {
        x if x == Kind::Dir as u8 => Kind::Dir,
        x if x == Kind::Symlink as u8 => Kind::Symlink,
        x if x == Kind::Fifo as u8 => Kind::Fifo,
        x if x == Kind::Socket as u8 => Kind::Socket,
        x if x == Kind::CharDevice as u8 => Kind::CharDevice,
        x if x == Kind::BlockDevice as u8 => Kind::BlockDevice,
        _ => Kind::File,
    }
}
