//! One side of a comparison or sync: a tree on a host.

use std::fmt;

/// A tree on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Side {
    /// The host's name (a plan host, an SSH destination, or `local`).
    pub host: String,
    /// The tree's path on that host.
    pub path: String,
}

/// The host name used for this machine.
pub const LOCAL: &str = "local";

impl Side {
    /// Parses `HOST:PATH` or a local `PATH` (anything with a `/` before the first `:` or
    /// no `:` at all is a local path, as with scp and rsync).
    pub fn parse(text: &str) -> Result<Side, String> {
        if text.is_empty() {
            return Err("an empty path".into());
        }
        match text.split_once(':') {
            Some((host, path)) if !host.is_empty() && !host.contains('/') => {
                if path.is_empty() {
                    return Err(format!(
                        "`{text}` names no path on {host}: write {host}:/path/to/tree"
                    ));
                }
                Ok(Side {
                    host: host.to_string(),
                    path: path.to_string(),
                })
            }
            _ => Ok(Side {
                host: LOCAL.to_string(),
                path: text.to_string(),
            }),
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_like_scp() {
        assert_eq!(Side::parse("old:/srv/app").unwrap().host, "old");
        assert_eq!(
            Side::parse("root@10.0.0.1:/srv").unwrap().host,
            "root@10.0.0.1"
        );
        assert_eq!(Side::parse("/srv/a:b").unwrap().host, LOCAL);
        assert_eq!(Side::parse("./x").unwrap().path, "./x");
        assert!(Side::parse("old:").is_err());
    }
}
