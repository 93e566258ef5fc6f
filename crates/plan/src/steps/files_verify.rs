//! `kind = "files.verify"`: the proof that the target tree holds what the source tree
//! holds, byte for byte; any difference fails the step (exit code 9) before traffic moves.

use super::files_sync::TreeRef;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};

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
    pub algorithm: Option<Spanned<String>>,
    /// Compare permission bits (default true).
    pub mode: Option<bool>,
    /// Compare owners: "names" (default; numbers where a host has no name), "numeric" or
    /// "ignore".
    pub owner: Option<Spanned<String>>,
    /// Compare modification times of files and symlinks (default false).
    #[serde(default)]
    pub mtime: bool,
    /// Reuse hashes cached on each host for files whose inode, size, mtime and ctime are
    /// unchanged (default true); false rehashes every byte.
    pub cache: Option<bool>,
}

/// Values `algorithm` accepts.
pub const ALGORITHMS: &[&str] = &["blake3", "sha256"];
/// Values `owner` accepts.
pub const OWNER_CHECKS: &[&str] = &["names", "numeric", "ignore"];

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
        let step = FilesVerifyStep {
            from: from?,
            to: to?,
            exclude,
            algorithm,
            mode,
            owner: owner_check,
            mtime,
            cache,
        };
        let owner = f.owner().to_string();
        let mut ok = true;
        for (field, value, allowed) in [
            ("algorithm", &step.algorithm, ALGORITHMS),
            ("owner", &step.owner, OWNER_CHECKS),
        ] {
            if let Some(v) = value {
                if !allowed.contains(&v.value.as_str()) {
                    p.push(
                        Problem::new(
                            v.span,
                            format!("`{field}` of {owner} is `{}`, which is not known", v.value),
                            "unknown value",
                        )
                        .help(format!("use one of: {}", allowed.join(", "))),
                    );
                    ok = false;
                }
            }
        }
        ok.then_some(step)
    }
}
