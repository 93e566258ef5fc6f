//! MariaDB and MySQL: the same protocol, different statements for replication and freezing.
//! Everything that differs is decided here, from the server's version text. MariaDB 10.11 is
//! what cutover is tested with; the MySQL statements follow MySQL 8.0's documentation and are
//! not tested (no MySQL server package is installable where cutover is tested).

use serde::{Deserialize, Serialize};

/// Which server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Flavor {
    /// MariaDB (`VERSION()` says so).
    MariaDb,
    /// MySQL or a compatible server that is not MariaDB.
    MySql,
}

impl Flavor {
    /// The flavor of a server whose `SELECT VERSION()` is `version`.
    pub fn of(version: &str) -> Flavor {
        if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::MariaDb
        } else {
            Flavor::MySql
        }
    }

    /// "MariaDB" or "MySQL".
    pub fn name(self) -> &'static str {
        match self {
            Flavor::MariaDb => "MariaDB",
            Flavor::MySql => "MySQL",
        }
    }
}

/// `(major, minor)` of a version text such as `10.11.19-MariaDB-0+deb12u1-log`.
pub fn version_number(version: &str) -> Option<(u32, u32)> {
    let mut parts = version.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tells_the_flavors_apart() {
        assert_eq!(
            Flavor::of("10.11.19-MariaDB-0+deb12u1-log"),
            Flavor::MariaDb
        );
        assert_eq!(Flavor::of("8.0.36"), Flavor::MySql);
        assert_eq!(version_number("10.11.19-MariaDB"), Some((10, 11)));
        assert_eq!(version_number("8.0.36-0ubuntu"), Some((8, 0)));
        assert_eq!(version_number("x"), None);
    }
}
