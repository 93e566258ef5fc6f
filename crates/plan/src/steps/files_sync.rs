//! `kind = "files.sync"`: a tree copied from one host to another by cutover's agents,
//! directly host to host; run again, it sends only what changed (the final sync at the
//! switch), deleting what the source no longer has when `delete = true`.

use crate::limits;
use crate::problem::{Problem, Problems};
use crate::read::{Fields, FromToml, Spanned};
use crate::steps::kind::Validate;
use crate::template::Template;
use crate::validate::StepCheck;
use toml_span::value::Value;

/// A tree on a host: `{ host = "old", path = "/srv/app/media" }`, or a Docker named volume
/// `{ host = "old", volume = "shop_media" }` (its mount point on that host; with `path`, a
/// directory inside the volume).
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct TreeRef {
    /// The host (a name from `[hosts]`).
    pub host: Spanned<String>,
    /// The tree's path on that host (a directory, or a single file); with `volume`, a path
    /// relative to the volume's root.
    pub path: Option<Template>,
    /// A Docker named volume (as `docker volume ls` names it, e.g. `shop_media` for the
    /// `media` volume of compose project `shop`): the tree is its mount point, found with
    /// `docker volume inspect`. A sync's target volume is created when missing.
    pub volume: Option<Spanned<String>>,
}

impl TreeRef {
    /// The fields `from` and `to` accept.
    pub const FIELDS: &'static [&'static str] = &["host", "path", "volume"];
}

impl FromToml for TreeRef {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        let mut f = Fields::new(value, what.to_string(), Self::FIELDS, p)?;
        let host = f.required("host", p);
        let path: Option<Template> = f.optional("path", p);
        let volume: Option<Spanned<String>> = f.optional("volume", p);
        f.finish(p);
        match (&path, &volume) {
            (None, None) => {
                p.push(
                    Problem::new(span, format!("{what} is missing the required field `path`"), "`path` is missing here")
                        .help("add `path = \"/srv/app/media\"`, or `volume = \"NAME\"` for a Docker named volume"),
                );
                return None;
            }
            (_, Some(v)) if !valid_volume(&v.value) => {
                p.push(
                    Problem::new(
                        v.span,
                        format!(
                            "`volume` of {what} is `{}`, which is not a Docker volume name",
                            v.value
                        ),
                        "invalid volume name",
                    )
                    .help("use letters, digits, `_`, `.` and `-`, starting with a letter or digit"),
                );
                return None;
            }
            (Some(t), Some(_)) if t.raw.starts_with('/') || t.raw.split('/').any(|c| c == "..") => {
                p.push(
                    Problem::new(t.span, format!("`path` of {what} must be relative to the volume, without `..`"), "not inside the volume")
                        .help("write the directory inside the volume, e.g. `path = \"uploads\"`, or leave `path` out for the whole volume"),
                );
                return None;
            }
            _ => {}
        }
        Some(TreeRef {
            host: host?,
            path,
            volume,
        })
    }
}

/// True for a name Docker accepts for a volume (`[a-zA-Z0-9][a-zA-Z0-9_.-]*`).
pub fn valid_volume(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Copies the tree `from` into `to` (contents to contents, like `rsync -a from/ to/`): only
/// files whose size or mtime differ (or content, with `checksum`) are sent, written under a
/// temporary name and renamed into place, so nothing is ever left half-written; an
/// interrupted run resumes, large files from where they stopped. Data flows directly from
/// the `from` host to the `to` host, encrypted with a one-time key; the controller sees only
/// progress (files, bytes, rate, ETA), which is shown and journaled.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct FilesSyncStep {
    /// The source tree.
    pub from: TreeRef,
    /// The target tree (created if missing).
    pub to: TreeRef,
    /// Delete files on the target that the source does not have (default false).
    #[serde(default)]
    pub delete: bool,
    /// Globs to leave out (rsync's meaning: `*.tmp` at any depth, `/cache/` from the root,
    /// a trailing `/` for directories only); excluded paths are never deleted either.
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Decide what to send by content hash (BLAKE3, cached on each host) instead of size and
    /// mtime; catches files changed without a new size or mtime.
    #[serde(default)]
    pub checksum: bool,
    /// Preserve owners and groups (default true; needs root on the target).
    pub owner: Option<bool>,
    /// Map owners by numeric id instead of by user and group name.
    #[serde(default)]
    pub numeric_ids: bool,
    /// Keep hard links within the tree as hard links.
    #[serde(default)]
    pub hard_links: bool,
    /// Copy POSIX ACLs.
    #[serde(default)]
    pub acls: bool,
    /// Copy extended attributes.
    #[serde(default)]
    pub xattrs: bool,
    /// Keep holes in sparse files as holes.
    #[serde(default)]
    pub sparse: bool,
    /// Create device nodes (character and block devices) found in the source on the target.
    /// Off by default: the target's agent runs as root, and a device node in a web app's
    /// tree is more likely an attack than data.
    #[serde(default)]
    pub devices: bool,
    /// The address the `from` host reaches the `to` host's agent at (default: the `to`
    /// host's `address`).
    pub address: Option<Template>,
    /// TCP port the receiving agent listens on (default: any free port; set one your
    /// firewall allows between the hosts).
    pub port: Option<u16>,
    /// Stream the data through the controller's SSH connections instead of host to host
    /// (for hosts that cannot reach each other).
    #[serde(default)]
    pub relay: bool,
    /// Give up after this long (default 24h).
    #[schemars(with = "Option<String>")]
    pub timeout: Option<std::time::Duration>,
    /// How long the connection between the hosts may carry nothing before the sync stops
    /// as stalled (default "60s"): a link cut between them is then an error that names it,
    /// not a wait for TCP's own timeouts; the next run resumes.
    #[schemars(with = "Option<String>")]
    pub stall_timeout: Option<std::time::Duration>,
}

impl FilesSyncStep {
    /// The fields a `files.sync` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "from",
        "to",
        "delete",
        "exclude",
        "checksum",
        "owner",
        "numeric_ids",
        "hard_links",
        "acls",
        "xattrs",
        "sparse",
        "devices",
        "address",
        "port",
        "relay",
        "timeout",
        "stall_timeout",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        // Every field is read before giving up, so that one bad field does not leave the
        // others reported as unknown.
        let from = f.required("from", p);
        let to = f.required("to", p);
        let delete = f.optional("delete", p).unwrap_or(false);
        let exclude = f.optional("exclude", p).unwrap_or_default();
        let checksum = f.optional("checksum", p).unwrap_or(false);
        let owner = f.optional("owner", p);
        let numeric_ids = f.optional("numeric_ids", p).unwrap_or(false);
        let hard_links = f.optional("hard_links", p).unwrap_or(false);
        let acls = f.optional("acls", p).unwrap_or(false);
        let xattrs = f.optional("xattrs", p).unwrap_or(false);
        let sparse = f.optional("sparse", p).unwrap_or(false);
        let devices = f.optional("devices", p).unwrap_or(false);
        let address = f.optional("address", p);
        let port = f.int("port", &limits::PORT, p);
        let relay = f.optional("relay", p).unwrap_or(false);
        let timeout = f.duration("timeout", &limits::STEP_TIMEOUT, p);
        let stall_timeout = f.duration("stall_timeout", &limits::REQUEST_TIMEOUT, p);
        Some(FilesSyncStep {
            from: from?,
            to: to?,
            delete,
            exclude,
            checksum,
            owner,
            numeric_ids,
            hard_links,
            acls,
            xattrs,
            sparse,
            devices,
            address,
            port,
            relay,
            timeout,
            stall_timeout,
        })
    }
}

impl Validate for FilesSyncStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        for t in [&self.from, &self.to] {
            c.host(&t.host, p);
            if let Some(path) = &t.path {
                c.command("path", path, p);
            }
        }
        if let Some(a) = &self.address {
            c.command("address", a, p);
        }
    }
}
