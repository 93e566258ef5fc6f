//! `kind = "file.put"`: a file on a host written from a template (vars, secrets, step
//! outputs), replaced atomically; the previous content is kept on the host so that undo
//! restores it (or removes the file when there was none).

use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::kind::Validate;
use crate::template::Template;
use crate::validate::StepCheck;

/// Writes `content` to `path` on `host`, through a temporary file in the same directory
/// renamed over it; never follows a symbolic link at `path`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct FilePutStep {
    /// The host to write on (a name from `[hosts]`).
    pub host: Spanned<String>,
    /// Absolute path of the file (its directory must exist). No secrets.
    pub path: Template,
    /// The file's content; may use `{{ secrets.NAME }}` and secret step outputs: it travels
    /// on the SSH channel's standard input, never on a command line.
    pub content: Template,
    /// Permission bits in octal (e.g. "0640"); default "0600" when `content` uses a secret,
    /// else "0644".
    pub mode: Option<Spanned<String>>,
    /// Owner as `user` or `user:group` (default: whoever runs the command).
    pub owner: Option<Spanned<String>>,
    /// Run through `sudo -n`, overriding the host's `sudo` setting.
    pub sudo: Option<bool>,
}

impl FilePutStep {
    /// The fields a `file.put` step accepts.
    pub const FIELDS: &'static [&'static str] = &[
        "id",
        "kind",
        "description",
        "host",
        "path",
        "content",
        "mode",
        "owner",
        "sudo",
    ];

    pub(crate) fn read(f: &mut Fields<'_>, p: &mut Problems) -> Option<Self> {
        let host = f.required("host", p);
        let path = f.required("path", p);
        let content = f.required("content", p);
        let mode: Option<Spanned<String>> = f.optional("mode", p);
        let owner: Option<Spanned<String>> = f.optional("owner", p);
        let sudo = f.optional("sudo", p);
        if let Some(m) = &mode {
            if parse_mode(&m.value).is_none() {
                p.push(
                    Problem::new(
                        m.span,
                        format!(
                            "`mode` of {} is `{}`, which is not an octal mode",
                            f.owner(),
                            m.value
                        ),
                        "not an octal mode",
                    )
                    .help("write the permission bits in octal, such as \"0640\""),
                );
            }
        }
        if let Some(o) = &owner {
            if !valid_owner(&o.value) {
                p.push(
                    Problem::new(
                        o.span,
                        format!(
                            "`owner` of {} is `{}`, which is not `user` or `user:group`",
                            f.owner(),
                            o.value
                        ),
                        "not an owner",
                    )
                    .help("write a user name, or user and group as \"app:app\""),
                );
            }
        }
        Some(FilePutStep {
            host: host?,
            path: path?,
            content: content?,
            mode,
            owner,
            sudo,
        })
    }

    /// The mode to give the file, given whether its content holds a secret.
    pub fn mode_bits(&self, secret: bool) -> u32 {
        match self.mode.as_ref().and_then(|m| parse_mode(&m.value)) {
            Some(bits) => bits,
            None if secret => 0o600,
            None => 0o644,
        }
    }
}

/// Permission bits written in octal ("640", "0640", "1777").
pub fn parse_mode(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 4 {
        return None;
    }
    u32::from_str_radix(text, 8).ok().filter(|m| *m <= 0o7777)
}

fn valid_owner(text: &str) -> bool {
    let name = |s: &str| {
        !s.is_empty()
            && s.len() <= 32
            && s.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    match text.split_once(':') {
        Some((user, group)) => name(user) && name(group),
        None => name(text),
    }
}

impl Validate for FilePutStep {
    fn validate(&self, c: &StepCheck<'_>, p: &mut Problems) {
        c.host(&self.host, p);
        c.command("path", &self.path, p);
        if self.path.parts.first().is_some_and(
            |part| matches!(part, crate::template::Part::Text(t) if !t.starts_with('/')),
        ) {
            p.push(
                Problem::new(
                    self.path.span,
                    format!("`path` of {} is not absolute", c.owner),
                    "not absolute",
                )
                .help("write the full path on the host, such as \"/srv/app/.env\""),
            );
        }
        // Content travels on standard input: secrets are fine there.
        c.references(&self.content, p);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_and_owners() {
        assert_eq!(parse_mode("0640"), Some(0o640));
        assert_eq!(parse_mode("755"), Some(0o755));
        assert_eq!(parse_mode("0888"), None);
        assert_eq!(parse_mode("77777"), None);
        assert!(valid_owner("app") && valid_owner("app:www-data"));
        assert!(!valid_owner("app:") && !valid_owner("a b") && !valid_owner("-x"));
    }
}
