//! Redaction of secret values from anything cutover stores or prints.

use aho_corasick::AhoCorasick;
use std::fmt;

/// A secret's value. Its `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(String);

impl SecretValue {
    /// Wraps a value read from a secret source.
    pub fn new(value: String) -> Self {
        SecretValue(value)
    }

    /// The value itself, for the few places that must hand it to a process.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretValue(***)")
    }
}

/// Replaces every known secret value with `[redacted:NAME]`.
#[derive(Clone, Default)]
pub struct Redactor {
    /// (name, value), longest value first.
    secrets: Vec<(String, SecretValue)>,
    matcher: Option<AhoCorasick>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redactor")
            .field(
                "secrets",
                &self.secrets.iter().map(|(n, _)| n).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Redactor {
    /// A redactor for `secrets` (name, value). Empty values are ignored.
    pub fn new<'a>(secrets: impl IntoIterator<Item = (&'a str, &'a SecretValue)>) -> Self {
        let mut pairs: Vec<(String, String)> = secrets
            .into_iter()
            .filter(|(_, v)| !v.0.is_empty())
            .map(|(n, v)| (n.to_string(), v.0.clone()))
            .collect();
        // Longest first, so that a secret containing another is replaced whole.
        pairs.sort_by_key(|(_, v)| std::cmp::Reverse(v.len()));
        let matcher = AhoCorasick::builder()
            .match_kind(aho_corasick::MatchKind::LeftmostLongest)
            .build(pairs.iter().map(|(_, v)| v.as_str()))
            .ok()
            .filter(|_| !pairs.is_empty());
        Redactor {
            secrets: pairs
                .into_iter()
                .map(|(n, v)| (n, SecretValue(v)))
                .collect(),
            matcher,
        }
    }

    /// `text` with every secret value replaced.
    pub fn redact(&self, text: &str) -> String {
        match &self.matcher {
            None => text.to_string(),
            Some(m) => {
                let replacements: Vec<String> = self
                    .secrets
                    .iter()
                    .map(|(n, _)| format!("[redacted:{n}]"))
                    .collect();
                m.replace_all(text, &replacements)
            }
        }
    }

    /// The secrets (name, value) whose values occur in any of `texts`, longest first: the
    /// ones a command given `texts` (its secret environment) could print.
    pub fn found_in<'a>(
        &self,
        texts: impl IntoIterator<Item = &'a str> + Clone,
    ) -> Vec<(String, SecretValue)> {
        self.secrets
            .iter()
            .filter(|(_, v)| texts.clone().into_iter().any(|t| t.contains(v.expose())))
            .cloned()
            .collect()
    }

    /// Bytes (process output) redacted and decoded lossily as UTF-8.
    pub fn redact_bytes(&self, bytes: &[u8]) -> String {
        self.redact(&String::from_utf8_lossy(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_every_secret_longest_first() {
        let a = SecretValue::new("hunter2".into());
        let b = SecretValue::new("hunter2-extra".into());
        let r = Redactor::new([("short", &a), ("long", &b)]);
        assert_eq!(
            r.redact("x hunter2-extra y hunter2 z"),
            "x [redacted:long] y [redacted:short] z"
        );
    }

    #[test]
    fn finds_the_secrets_a_text_holds() {
        let a = SecretValue::new("hunter2".into());
        let b = SecretValue::new("swordfish".into());
        let r = Redactor::new([("a", &a), ("b", &b)]);
        let found = r.found_in(["postgres://u:hunter2@db/app", "plain"]);
        assert_eq!(found, vec![("a".to_string(), a)]);
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[test]
    fn debug_never_shows_the_value() {
        let s = SecretValue::new("hunter2".into());
        assert!(!format!("{s:?}").contains("hunter2"));
    }
}
