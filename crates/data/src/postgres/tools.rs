//! Finding the PostgreSQL client tools on a host and the servers' versions: the preflight of
//! every PostgreSQL step. Copies use the tools of the target's major version, and `pg_dump`
//! must be at least as new as the source server.

use super::endpoint::Endpoint;
use super::error::PgError;
use super::session::run_sql;
use cutover_exec::{Command, Executor};

/// Majors looked for in the usual install locations, newest first.
const MAJORS: &[u32] = &[18, 17, 16, 15, 14, 13, 12, 11];

/// Where client tools of `major` are usually installed (Debian/Ubuntu, cutover's own
/// toolsets, RHEL's PGDG packages).
fn candidates(major: u32) -> [String; 3] {
    [
        format!("/usr/lib/postgresql/{major}/bin"),
        format!("/opt/cutover/pg/{major}/bin"),
        format!("/usr/pgsql-{major}/bin"),
    ]
}

/// A set of client tools found on a host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolSet {
    /// Their directory.
    pub bin: String,
    /// Their major version (from `psql --version`).
    pub major: u32,
    /// The full version text.
    pub version: String,
    /// `pg_dump` and `pg_restore` are there too (not only `psql`).
    pub dump: bool,
}

/// Prints `DIR<TAB>HAS_DUMP<TAB>psql --version` for every directory given that holds psql,
/// then for the psql on PATH.
const FIND_SCRIPT: &str = r#"for d in "$@"; do
  if [ -x "$d/psql" ]; then
    dump=0; [ -x "$d/pg_dump" ] && [ -x "$d/pg_restore" ] && dump=1
    printf '%s\t%s\t%s\n' "$d" "$dump" "$("$d/psql" --version 2>/dev/null | head -n 1)"
  fi
done
if p=$(command -v psql 2>/dev/null); then
  d=$(dirname "$p"); dump=0; [ -x "$d/pg_dump" ] && [ -x "$d/pg_restore" ] && dump=1
  printf '%s\t%s\t%s\n' "$d" "$dump" "$(psql --version 2>/dev/null | head -n 1)"
fi
exit 0"#;

/// Every toolset on `host` (inside `container` when given): `bin` alone when given, else
/// the usual locations and `PATH`.
pub async fn find(
    exec: &Executor,
    host: &str,
    bin: Option<&str>,
    container: Option<&str>,
) -> Result<Vec<ToolSet>, PgError> {
    let dirs: Vec<String> = match bin {
        Some(b) => vec![b.trim_end_matches('/').to_string()],
        None => MAJORS.iter().flat_map(|m| candidates(*m)).collect(),
    };
    let mut argv = vec![
        "sh".to_string(),
        "-c".into(),
        FIND_SCRIPT.into(),
        "sh".into(),
    ];
    argv.extend(dirs);
    let mut cmd = Command::new(host, argv);
    if let Some(c) = container {
        cmd = cmd.in_container(c);
    }
    let out = exec.run(&cmd).await?;
    let mut found: Vec<ToolSet> = Vec::new();
    for line in out.stdout.lines() {
        let mut parts = line.splitn(3, '\t');
        let (Some(dir), Some(dump), Some(version)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        // With `bin` given, the PATH entry the script adds is not wanted.
        let wanted = bin.is_none_or(|b| b.trim_end_matches('/') == dir);
        let seen = found.iter().any(|t| t.bin == dir);
        if let (true, false, Some(major)) = (wanted, seen, parse_major(version)) {
            found.push(ToolSet {
                bin: dir.to_string(),
                major,
                version: version.to_string(),
                dump: dump == "1",
            });
        }
    }
    Ok(found)
}

/// The major version in `psql (PostgreSQL) 18.6` or `pg_dump (PostgreSQL) 9.6.24`.
pub fn parse_major(version: &str) -> Option<u32> {
    let number = version
        .split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))?;
    let mut parts = number.split(|c: char| !c.is_ascii_digit());
    let first: u32 = parts.next()?.parse().ok()?;
    Some(first)
}

/// Picks the tools for `ep`: the ones in `ep.bin` if set, else those of major `want` (the
/// target's), else (with `want` unset) the newest. `dump` requires pg_dump and pg_restore;
/// `min_major` (the source server's major) is the oldest acceptable pg_dump.
pub async fn select(
    exec: &Executor,
    ep: &Endpoint,
    want: Option<u32>,
    dump: bool,
    min_major: u32,
) -> Result<ToolSet, PgError> {
    let found = find(exec, &ep.host, ep.bin.as_deref(), ep.container.as_deref()).await?;
    choose(&found, ep, want, dump, min_major)
}

/// [`select`] among toolsets `found` on `ep`'s host (by [`find`] with `ep`'s `bin`), for a
/// caller that picks more than once from one search.
pub fn choose(
    found: &[ToolSet],
    ep: &Endpoint,
    want: Option<u32>,
    dump: bool,
    min_major: u32,
) -> Result<ToolSet, PgError> {
    let usable: Vec<&ToolSet> = found.iter().filter(|t| !dump || t.dump).collect();
    let looked = || match &ep.bin {
        Some(b) => b.clone(),
        None => format!(
            "/usr/lib/postgresql/N/bin, /opt/cutover/pg/N/bin, /usr/pgsql-N/bin, PATH; found: {}",
            if found.is_empty() {
                "none".to_string()
            } else {
                found
                    .iter()
                    .map(|t| format!("{} ({})", t.bin, t.major))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        ),
    };
    let chosen = match (ep.bin.is_some(), want) {
        (true, _) => usable.first().copied(),
        (false, Some(w)) => usable.iter().copied().find(|t| t.major == w),
        (false, None) => usable.iter().copied().max_by_key(|t| t.major),
    };
    let Some(chosen) = chosen else {
        return Err(PgError::ToolsMissing {
            host: ep.host.clone(),
            want: want.unwrap_or(min_major),
            looked: looked(),
        });
    };
    if dump && chosen.major < min_major {
        return Err(PgError::ToolsTooOld {
            host: ep.host.clone(),
            tools: chosen.major,
            server: min_major,
        });
    }
    Ok(chosen.clone())
}

/// The server's version number (`server_version_num`, e.g. 180006).
pub async fn server_version(exec: &Executor, ep: &Endpoint) -> Result<u32, PgError> {
    let out = run_sql(
        exec,
        ep,
        "read the server version",
        "SHOW server_version_num;\n",
    )
    .await?;
    out.trim().parse().map_err(|_| PgError::Protocol {
        what: "SHOW server_version_num".into(),
        host: ep.host.clone(),
        detail: format!("`{}` is not a number", out.trim()),
    })
}

/// The major version of a `server_version_num`.
pub fn major_of(version_num: u32) -> u32 {
    // 160015 is 16.15; before 10, 90624 was 9.6.24 (reported here as 9).
    version_num / 10_000
}

/// Oldest source server the verifier and copier support: the extended hash functions the
/// checksums use appeared in PostgreSQL 11.
pub const OLDEST_SUPPORTED: u32 = 11;

/// Refuses servers older than [`OLDEST_SUPPORTED`].
pub fn check_supported(ep: &Endpoint, version_num: u32) -> Result<(), PgError> {
    let major = major_of(version_num);
    if major < OLDEST_SUPPORTED {
        return Err(PgError::precondition(
            format!("the server at {} runs PostgreSQL {major}, older than cutover supports ({OLDEST_SUPPORTED})", ep.describe()),
            "upgrade it in place to a supported major first (pg_upgrade), then migrate",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_major_versions() {
        assert_eq!(parse_major("psql (PostgreSQL) 18.6"), Some(18));
        assert_eq!(
            parse_major("psql (PostgreSQL) 15.14 (Debian 15.14-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_major("pg_dump (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major("garbage"), None);
        assert_eq!(major_of(160_015), 16);
        assert_eq!(major_of(90_624), 9);
    }
}
