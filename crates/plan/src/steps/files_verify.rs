//! `kind = "files.verify"`: the proof that the target tree holds what the source tree
//! holds, byte for byte; any difference fails the step (exit code 9) before traffic moves.

use super::files_sync::TreeRef;
use crate::problem::Problems;
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::validate::StepCheck;

/// Builds a manifest of each tree on its own host, in parallel (path, type, size, mode,
/// owner, mtime, symlink target, content hash), and compares them on the controller. The
/// step fails naming every difference: missing, extra, content, size, mode, owner, symlink
/// target, type, and files that could not be read or kept changing. The report journals
/// counts, bytes and both manifest digests.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct FilesVerifyStep {
    /// The source tree.
    pub from: TreeRef,
    /// The target tree.
    pub to: TreeRef,
    /// Globs to leave out of both manifests (same syntax as `files.sync`).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Content hash: "blake3" (default, multi-threaded) or "sha256".
    pub algorithm: Option<Spanned<HashAlgorithm>>,
    /// Compare permission bits (default true).
    pub mode: Option<bool>,
    /// Compare owners: "names" (default; numbers where a host has no name), "numeric" or
    /// "ignore".
    pub owner: Option<Spanned<OwnerCheck>>,
    /// Compare modification times of files and symlinks (default false).
    #[serde(default)]
    pub mtime: bool,
    /// Reuse hashes cached on each host for files whose inode, size, mtime and ctime are
    /// unchanged (default true); false rehashes every byte.
    pub cache: Option<bool>,
}

crate::named::named_enum! {
    /// A content hash a `files.verify` step may use.
    pub enum HashAlgorithm {
        /// BLAKE3 (default): multi-threaded, the fastest.
        Blake3 = "blake3",
        /// SHA-256, for rules that name it.
        Sha256 = "sha256",
    }
}

crate::named::named_enum! {
    /// How a `files.verify` step compares owners.
    pub enum OwnerCheck {
        /// By name where a host has one, else by number.
        Names = "names",
        /// By numeric uid and gid.
        Numeric = "numeric",
        /// Not at all.
        Ignore = "ignore",
    }
}

impl FilesVerifyStep {
    /// The fields a `files.verify` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "from",
        "to",
        "exclude",
        "algorithm",
        "mode",
        "owner",
        "mtime",
        "cache",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let from = f.required("from", p);
        let to = f.required("to", p);
        let exclude = f.optional("exclude", p).unwrap_or_default();
        let algorithm = f.optional("algorithm", p);
        let mode = f.optional("mode", p);
        let owner_check = f.optional("owner", p);
        let mtime = f.optional("mtime", p).unwrap_or(false);
        let cache = f.optional("cache", p);
        Some(FilesVerifyStep {
            from: from?,
            to: to?,
            exclude,
            algorithm,
            mode,
            owner: owner_check,
            mtime,
            cache,
        })
    }
}

impl Validate for FilesVerifyStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        for t in [&self.from, &self.to] {
            c.host(&t.host, p);
            if let Some(path) = &t.path {
                c.command("path", path, p);
            }
        }
    }
}
