//! Paths confined to a tree. A relative path that comes from another host (the sync stream,
//! a receiver's index) or that names something inside a tree other users can write into is
//! resolved here and nowhere else: checked to be relative and normal, then opened beneath the
//! tree's root directory handle with no symlink followed anywhere on the way
//! (`openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`; on kernels before 5.6, a walk of one
//! `openat(O_NOFOLLOW)` per component, which confines the same way). Whoever swaps a
//! directory for a symlink in the middle of a sync gets an error, never a write elsewhere;
//! metadata is then applied through the handles (see `sync::meta`).

use rustix::fs::{self as rfs, AtFlags, Mode, OFlags, ResolveFlags};
use std::ffi::{CString, OsStr};
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// The longest relative path accepted from the wire (Linux's `PATH_MAX`).
pub const MAX_PATH: usize = 4096;
/// The longest name of one component (Linux's `NAME_MAX`).
pub const MAX_NAME: usize = 255;

/// Set once `openat2` turned out to be missing (old kernel, or a seccomp filter).
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

/// A tree: its root directory, held open, under which every path is resolved.
pub struct Tree {
    root: OwnedFd,
    path: PathBuf,
    is_dir: bool,
}

/// Checks that `rel` is a path cutover may resolve under a root: relative, no empty, `.` or
/// `..` component, no NUL byte, within the length limits. The empty path is the root.
pub fn check_relative(rel: &[u8]) -> io::Result<()> {
    if rel.is_empty() {
        return Ok(());
    }
    let why = if rel.len() > MAX_PATH {
        Some("longer than 4096 bytes")
    } else if rel[0] == b'/' {
        Some("absolute")
    } else if rel.contains(&0) {
        Some("holds a NUL byte")
    } else {
        rel.split(|b| *b == b'/').find_map(|c| match c {
            b"" => Some("has an empty component"),
            b"." | b".." => Some("has a `.` or `..` component"),
            c if c.len() > MAX_NAME => Some("has a name longer than 255 bytes"),
            _ => None,
        })
    };
    match why {
        None => Ok(()),
        Some(why) => Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "the path `{}` is refused: it {why}",
                super::entry::display(rel)
            ),
        )),
    }
}

/// `(directory part, last name)` of a checked, non-empty relative path.
pub fn split_last(rel: &[u8]) -> (&[u8], &[u8]) {
    match rel.iter().rposition(|b| *b == b'/') {
        Some(i) => (&rel[..i], &rel[i + 1..]),
        None => (&rel[..0], rel),
    }
}

fn cstring(bytes: &[u8]) -> io::Result<CString> {
    CString::new(bytes).map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "NUL in a path"))
}

/// `/proc/self/fd/N`: the object a handle refers to, for the calls that have no handle form
/// (`chmod`, extended attributes). Safe only for objects that are not symlinks: a magic link
/// leads to the very inode the handle holds, never along a path someone can change.
pub fn proc_fd(fd: BorrowedFd<'_>) -> CString {
    CString::new(format!("/proc/self/fd/{}", fd.as_raw_fd())).unwrap_or_default()
}

/// `/proc/self/fd/N/NAME`: `name` inside the directory a handle holds, for the `l*` calls
/// (which do not follow a symlink in the last component) that have no `*at` form.
pub fn proc_at(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<CString> {
    let mut p = format!("/proc/self/fd/{}/", dir.as_raw_fd()).into_bytes();
    p.extend_from_slice(name);
    cstring(&p)
}

impl Tree {
    /// Opens the tree at `root` (the root itself is the operator's: a symlink there is
    /// followed). A root that is a single file is a tree of one entry.
    pub fn open(root: &Path) -> io::Result<Tree> {
        let root_fd = rfs::open(root, OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?;
        let is_dir = rfs::fstat(&root_fd)?.st_mode & libc::S_IFMT == libc::S_IFDIR;
        Ok(Tree {
            root: root_fd,
            path: root.to_path_buf(),
            is_dir,
        })
    }

    /// `lstat` of the root (after following a symlink at the root itself).
    pub fn root_stat(&self) -> io::Result<rfs::Stat> {
        Ok(rfs::fstat(&self.root)?)
    }

    /// The root's handle.
    pub fn root(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// The root's path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The full path of `rel`, for messages only: never open it.
    pub fn shown(&self, rel: &[u8]) -> PathBuf {
        if rel.is_empty() {
            self.path.clone()
        } else {
            self.path.join(OsStr::from_bytes(rel))
        }
    }

    /// Opens `rel` (checked first) with `flags`, beneath the root, following no symlink; a
    /// symlink as the last component is opened itself only with `O_PATH | O_NOFOLLOW`.
    pub fn open_at(&self, rel: &[u8], flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        check_relative(rel)?;
        if rel.is_empty() && !self.is_dir {
            // A single-file tree: its root path is the operator's own.
            return Ok(rfs::open(&self.path, flags | OFlags::CLOEXEC, mode)?);
        }
        let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let rel = if rel.is_empty() { &b"."[..] } else { rel };
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            let how =
                ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
            for _ in 0..8 {
                match rfs::openat2(&self.root, OsStr::from_bytes(rel), flags, mode, how) {
                    Ok(fd) => return Ok(fd),
                    // A rename elsewhere in the tree raced the lookup: try again.
                    Err(rustix::io::Errno::AGAIN) => continue,
                    Err(rustix::io::Errno::NOSYS) | Err(rustix::io::Errno::PERM) => {
                        NO_OPENAT2.store(true, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => return Err(self.explain(rel, e.into())),
                }
            }
        }
        self.walk_open(rel, flags, mode)
            .map_err(|e| self.explain(rel, e))
    }

    /// The same confinement one component at a time (kernels without `openat2`).
    fn walk_open(&self, rel: &[u8], flags: OFlags, mode: Mode) -> io::Result<OwnedFd> {
        let (dir, name) = split_last(rel);
        let mut cur: Option<OwnedFd> = None;
        if !dir.is_empty() {
            for comp in dir.split(|b| *b == b'/') {
                let at = cur.as_ref().map_or(self.root.as_fd(), |f| f.as_fd());
                let next = rfs::openat(
                    at,
                    OsStr::from_bytes(comp),
                    OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                cur = Some(next);
            }
        }
        let at = cur.as_ref().map_or(self.root.as_fd(), |f| f.as_fd());
        Ok(rfs::openat(at, OsStr::from_bytes(name), flags, mode)?)
    }

    /// A symlink in the way or an escape attempt, said in words.
    fn explain(&self, rel: &[u8], e: io::Error) -> io::Error {
        let why = match e.raw_os_error() {
            Some(libc::ELOOP) => "a symlink stands in its way (cutover never follows one inside the tree; was the tree changed meanwhile?)",
            Some(libc::EXDEV) => "it leads out of the tree",
            _ => return e,
        };
        io::Error::new(e.kind(), format!("`{}`: {why}", self.shown(rel).display()))
    }

    /// The directory that holds `rel` (a non-empty checked path), as an `O_PATH` handle for
    /// `*at` calls, and the last name.
    pub fn parent<'r>(&self, rel: &'r [u8]) -> io::Result<(OwnedFd, &'r [u8])> {
        check_relative(rel)?;
        if rel.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the root has no parent inside the tree",
            ));
        }
        let (dir, name) = split_last(rel);
        // Opened as whatever it is, then checked: a symlink as the directory's own last
        // component is said to be one rather than "not a directory".
        let fd = self.open_at(dir, OFlags::PATH, Mode::empty())?;
        match rfs::fstat(&fd)?.st_mode & libc::S_IFMT {
            libc::S_IFDIR => Ok((fd, name)),
            libc::S_IFLNK => Err(self.explain(dir, io::Error::from_raw_os_error(libc::ELOOP))),
            _ => Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("`{}` is not a directory", self.shown(dir).display()),
            )),
        }
    }

    /// `lstat` of `rel`, or `None` when nothing is there.
    pub fn stat(&self, rel: &[u8]) -> io::Result<Option<rfs::Stat>> {
        match self.open_at(rel, OFlags::PATH, Mode::empty()) {
            Ok(fd) => Ok(Some(rfs::fstat(&fd)?)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Opens the regular file `rel` for reading; anything else there (a FIFO put in its
    /// place, a device) is refused without blocking.
    pub fn open_regular(&self, rel: &[u8]) -> io::Result<std::fs::File> {
        let fd = self.open_at(
            rel,
            OFlags::RDONLY | OFlags::NONBLOCK | noatime(),
            Mode::empty(),
        )?;
        let st = rfs::fstat(&fd)?;
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "`{}` is no longer a regular file; not read",
                    self.shown(rel).display()
                ),
            ));
        }
        // Reads of a regular file never block; clear O_NONBLOCK for the file systems
        // (FUSE, NFS) that would honour it anyway.
        rfs::fcntl_setfl(&fd, OFlags::RDONLY | noatime())?;
        Ok(std::fs::File::from(fd))
    }

    /// The target of the symlink `rel`.
    pub fn read_link(&self, rel: &[u8]) -> io::Result<Vec<u8>> {
        let (dir, name) = self.parent(rel)?;
        Ok(rfs::readlinkat(&dir, OsStr::from_bytes(name), Vec::new())?.into_bytes())
    }
}

/// `O_NOATIME` where it is allowed (root), so reading leaves access times alone on file
/// systems mounted with `strictatime`; for others the kernel refuses it on files they do
/// not own, so it is not asked for.
pub fn noatime() -> OFlags {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        OFlags::NOATIME
    } else {
        OFlags::empty()
    }
}

/// Removes `name` in `dir` and, for a directory, everything under it, following no symlink
/// (each level is opened with `O_NOFOLLOW` from the one above).
pub fn remove_all(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let st = match rfs::statat(dir, OsStr::from_bytes(name), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
        return Ok(rfs::unlinkat(
            dir,
            OsStr::from_bytes(name),
            AtFlags::empty(),
        )?);
    }
    let sub = rfs::openat(
        dir,
        OsStr::from_bytes(name),
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let mut names = Vec::new();
    for item in rfs::Dir::read_from(&sub)? {
        let item = item?;
        let n = item.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    for n in names {
        remove_all(sub.as_fd(), &n)?;
    }
    Ok(rfs::unlinkat(
        dir,
        OsStr::from_bytes(name),
        AtFlags::REMOVEDIR,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_the_wire_must_be_relative_and_normal() {
        for ok in [
            &b""[..],
            b"a",
            b"a/b/c",
            b".hidden",
            b"a/..b",
            b"...",
            b"x\xff",
        ] {
            assert!(check_relative(ok).is_ok(), "{ok:?}");
        }
        for bad in [
            &b"/etc/passwd"[..],
            b"..",
            b"a/../../etc",
            b"a/./b",
            b"a//b",
            b"a/",
            b"a\0b",
        ] {
            assert!(check_relative(bad).is_err(), "{bad:?}");
        }
        assert!(check_relative(&vec![b'a'; 256]).is_err());
        assert!(check_relative(&[b"a/".repeat(2100), b"a".to_vec()].concat()).is_err());
    }

    #[test]
    fn nothing_is_opened_through_a_symlink_or_out_of_the_tree() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("d")).unwrap();
        std::fs::write(t.path().join("d/f"), "f").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("link")).unwrap();
        std::os::unix::fs::symlink("secret", t.path().join("d/rel")).unwrap();
        let tree = Tree::open(t.path()).unwrap();
        assert!(tree.open_regular(b"d/f").is_ok());
        let e = tree.open_regular(b"link/secret").unwrap_err();
        assert!(e.to_string().contains("a symlink stands in its way"), "{e}");
        assert!(tree.open_regular(b"d/rel").is_err());
        assert!(tree.open_regular(b"../x").is_err());
        NO_OPENAT2.store(true, Ordering::Relaxed);
        let walked = tree.open_regular(b"link/secret");
        NO_OPENAT2.store(false, Ordering::Relaxed);
        assert!(walked.is_err(), "the fallback walk confines too");
        assert_eq!(tree.read_link(b"d/rel").unwrap(), b"secret");
    }

    #[test]
    fn a_fifo_in_place_of_a_file_is_refused_at_once() {
        let t = tempfile::tempdir().unwrap();
        let c = CString::new(t.path().join("p").as_os_str().as_bytes()).unwrap();
        // SAFETY: a valid path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let tree = Tree::open(t.path()).unwrap();
        let e = tree.open_regular(b"p").unwrap_err();
        assert!(e.to_string().contains("no longer a regular file"), "{e}");
    }

    #[test]
    fn remove_all_never_leaves_the_tree() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("keep"), "k").unwrap();
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("d/e")).unwrap();
        std::fs::write(t.path().join("d/e/f"), "f").unwrap();
        std::os::unix::fs::symlink(outside.path(), t.path().join("d/out")).unwrap();
        let tree = Tree::open(t.path()).unwrap();
        remove_all(tree.root(), b"d").unwrap();
        assert!(!t.path().join("d").exists());
        assert!(outside.path().join("keep").exists());
    }
}
