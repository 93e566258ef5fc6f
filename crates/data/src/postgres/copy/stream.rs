//! One COPY stream: `COPY ... TO STDOUT` on the source (inside the copy's exported snapshot)
//! feeding `COPY ... FROM STDIN` on the target. Between two hosts the bytes go through the
//! controller's memory ([`Executor::pipe`]); when both sides' tools run on one host, the two
//! `psql` run there as one shell pipeline and the data never leaves that host's network path.

use super::super::checksum::Chunk;
use super::super::endpoint::Endpoint;
use super::super::error::PgError;
use super::super::session::{tool_error, SESSION_SETUP};
use super::super::sql::{ident, literal, qualified};
use cutover_exec::{quote, Command, EnvValue, Executor};
use std::time::{Duration, Instant};

/// A piece of a table to copy.
#[derive(Debug, Clone)]
pub struct DataUnit {
    /// Index of the table in the copy's table list.
    pub table: usize,
    /// Schema.
    pub schema: String,
    /// Table.
    pub name: String,
    /// Columns copied (stored ones, in attribute order).
    pub columns: Vec<String>,
    /// Which rows.
    pub chunk: Chunk,
    /// Estimated bytes (for scheduling).
    pub cost: u64,
    /// Stream in COPY's binary format (see [`binary_safe`]).
    pub binary: bool,
}

/// Built-in types whose binary form names server-local objects (OIDs) or that have none.
const NOT_BINARY: &[&str] = &[
    "regclass",
    "regtype",
    "regproc",
    "regprocedure",
    "regoper",
    "regoperator",
    "regconfig",
    "regdictionary",
    "regnamespace",
    "regrole",
    "regcollation",
    "aclitem",
];

/// True when a column can travel in COPY's binary format between major versions: a
/// built-in type (or a domain over one, or an array of one) whose binary form carries no
/// server-local identifiers. Binary is ~30% cheaper to produce and parse than text (no
/// number and timestamp formatting); every other type goes as text, as pg_dump sends it.
pub fn binary_safe(c: &super::super::inventory::Column) -> bool {
    let ok = |t: &str| !NOT_BINARY.contains(&t) && !t.starts_with("pg_");
    match (&c.builtin_type, &c.builtin_element) {
        (_, Some(e)) => ok(e),
        (Some(t), None) => ok(t) && !t.starts_with('_'),
        (None, None) => false,
    }
}

impl DataUnit {
    fn column_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| ident(c))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The source `psql` arguments: settings, the snapshot, `COPY ... TO STDOUT`.
    pub fn source_args(&self, snapshot: &str) -> Vec<String> {
        let table = qualified(&self.schema, &self.name);
        let format = if self.binary { " (FORMAT binary)" } else { "" };
        let copy = match self.chunk {
            Chunk::Whole => format!("COPY {table} ({}) TO STDOUT{format}", self.column_list()),
            chunk => format!(
                "COPY (SELECT {} FROM ONLY {table}{}) TO STDOUT{format}",
                if self.columns.is_empty() {
                    String::new()
                } else {
                    self.column_list()
                },
                chunk.filter()
            ),
        };
        let mut a = base_args(true);
        for c in [
            SESSION_SETUP.replace('\n', " "),
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".into(),
            format!("SET TRANSACTION SNAPSHOT {}", literal(snapshot)),
            copy,
        ] {
            a.push("-c".into());
            a.push(c);
        }
        a
    }

    /// The target `psql` arguments: a whole table is truncated and loaded with `FREEZE` in
    /// one transaction (no later hint-bit or freeze rewrite, and a retry starts clean);
    /// a chunk appends.
    pub fn target_args(&self) -> Vec<String> {
        let table = qualified(&self.schema, &self.name);
        let cols = if self.columns.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.column_list())
        };
        let mut commands = vec![format!(
            "{} SET synchronous_commit = off;",
            SESSION_SETUP.replace('\n', " ")
        )];
        let format = if self.binary {
            "FORMAT binary"
        } else {
            "FORMAT text"
        };
        match self.chunk {
            Chunk::Whole => commands.extend([
                "BEGIN".to_string(),
                format!("TRUNCATE ONLY {table}"),
                format!("COPY {table}{cols} FROM STDIN ({format}, FREEZE)"),
                "COMMIT".into(),
            ]),
            _ => commands.push(format!("COPY {table}{cols} FROM STDIN ({format})")),
        }
        let mut a = base_args(false);
        for c in commands {
            a.push("-c".into());
            a.push(c);
        }
        a
    }
}

fn base_args(quiet: bool) -> Vec<String> {
    let mut a: Vec<String> = vec!["-X".into(), "-v".into(), "ON_ERROR_STOP=1".into()];
    if quiet {
        a.push("-q".into());
    }
    a
}

/// What a finished stream moved.
#[derive(Debug, Clone, Copy, Default)]
pub struct Moved {
    /// Rows loaded (from the target's `COPY n`).
    pub rows: u64,
    /// Bytes streamed (0 when both ends ran on one host: they are not counted there).
    pub bytes: u64,
    /// Wall-clock time.
    pub duration: Duration,
}

fn rows_from(stdout: &str) -> u64 {
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("COPY "))
        .filter_map(|n| n.trim().parse::<u64>().ok())
        .sum()
}

/// Runs one stream from `source` to `target`; `progress` gets the running byte count.
pub async fn run(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    unit: &DataUnit,
    snapshot: &str,
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Moved, PgError> {
    let what = format!("copy {}.{}", unit.schema, unit.name);
    pipe(
        exec,
        &what,
        (source, "psql", unit.source_args(snapshot)),
        (target, "psql", unit.target_args()),
        progress,
    )
    .await
}

/// Streams `tool args` on the source side into `tool args` on the target side: through
/// the controller between two hosts, as one pipeline when both run on one host.
pub async fn pipe(
    exec: &Executor,
    what: &str,
    (source, src_tool, src_args): (&Endpoint, &str, Vec<String>),
    (target, dst_tool, dst_args): (&Endpoint, &str, Vec<String>),
    progress: &mut (dyn FnMut(u64) + Send),
) -> Result<Moved, PgError> {
    if source.host == target.host {
        let cmd = local_pipeline((source, src_tool, src_args), (target, dst_tool, dst_args));
        let out = exec.run(&cmd).await?;
        if out.code == Some(SOURCE_FAILED) {
            return Err(tool_error(what, source, &out));
        }
        if !out.success() {
            return Err(tool_error(what, target, &out));
        }
        return Ok(Moved {
            rows: rows_from(&out.stdout),
            bytes: 0,
            duration: out.duration,
        });
    }
    let from = source.command(src_tool, &as_refs(&src_args));
    let to = target.command(dst_tool, &as_refs(&dst_args));
    let started = Instant::now();
    let report = exec.pipe(&from, &to, progress).await?;
    // The target's failure usually causes the source's broken pipe: report it first.
    if !report.to.success() {
        return Err(tool_error(what, target, &report.to));
    }
    if !report.from.success() {
        return Err(tool_error(what, source, &report.from));
    }
    Ok(Moved {
        rows: rows_from(&report.to.stdout),
        bytes: report.bytes,
        duration: started.elapsed(),
    })
}

fn as_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Exit status of the one-host pipeline when the source side failed (and the target not).
const SOURCE_FAILED: i32 = 90;

/// Both tools on one host, each with its own connection environment (passed in prefixed
/// variables, so both passwords stay off the command line).
pub fn local_pipeline(
    (source, src_tool, src_args): (&Endpoint, &str, Vec<String>),
    (target, dst_tool, dst_args): (&Endpoint, &str, Vec<String>),
) -> Command {
    let mut env: Vec<(String, EnvValue)> = Vec::new();
    let mut side = |prefix: &str, ep: &Endpoint, tool: &str, args: Vec<String>| -> String {
        let mut words = Vec::new();
        for (k, v) in ep.env() {
            words.push(format!("{k}=\"${prefix}{k}\""));
            env.push((format!("{prefix}{k}"), v));
        }
        let mut argv = vec![ep.tool(tool)];
        argv.extend(args);
        if let Some(container) = &ep.container {
            // The variables set for `docker exec` reach the container by name.
            let mut exec = vec!["docker".to_string(), "exec".into(), "-i".into()];
            for (k, _) in ep.env() {
                exec.push("-e".into());
                exec.push(k);
            }
            exec.push(container.clone());
            exec.append(&mut argv);
            argv = exec;
        }
        format!("{} {}", words.join(" "), quote::join(&argv))
    };
    let src = side("CUTOVER_S_", source, src_tool, src_args);
    let dst = side("CUTOVER_T_", target, dst_tool, dst_args);
    // `s` is the source's status (through fd 5), `$?` the target's.
    let script = format!(
        "exec 3>&1 4>&2; s=$( {{ {{ {src} 2>&4; echo $? >&5; }} | {dst} >&3 2>&4; }} 5>&1 ); t=$?; \
         if [ \"$t\" != 0 ]; then exit \"$t\"; fi; \
         if [ \"$s\" != 0 ]; then echo \"cutover: the source side of the stream failed (exit $s)\" >&2; exit {SOURCE_FAILED}; fi"
    );
    let mut c = Command::shell(&source.host, script).sudo(source.sudo);
    c.env = env;
    c
}

#[cfg(test)]
mod tests {
    use super::*;
    use cutover_exec::SecretValue;

    fn unit(chunk: Chunk) -> DataUnit {
        DataUnit {
            table: 0,
            schema: "public".into(),
            name: "Accounts".into(),
            columns: vec!["id".into(), "name".into()],
            chunk,
            cost: 0,
            binary: false,
        }
    }

    #[test]
    fn whole_tables_are_frozen_and_chunks_appended() {
        let whole = unit(Chunk::Whole);
        let t = whole.target_args().join(" ");
        assert!(t.contains("TRUNCATE ONLY \"public\".\"Accounts\""), "{t}");
        assert!(
            t.contains(
                "COPY \"public\".\"Accounts\" (\"id\", \"name\") FROM STDIN (FORMAT text, FREEZE)"
            ),
            "{t}"
        );
        let s = whole.source_args("00000003-1").join(" ");
        assert!(s.contains("SET TRANSACTION SNAPSHOT '00000003-1'"), "{s}");
        assert!(
            s.contains("COPY \"public\".\"Accounts\" (\"id\", \"name\") TO STDOUT"),
            "{s}"
        );
        let part = unit(Chunk::Pages {
            from: 10,
            to: Some(20),
        });
        let s = part.source_args("x").join(" ");
        assert!(s.contains("FROM ONLY \"public\".\"Accounts\" WHERE ctid >= '(10,0)'::tid AND ctid < '(20,0)'::tid"), "{s}");
        let t = part.target_args().join(" ");
        assert!(!t.contains("TRUNCATE") && !t.contains("FREEZE"), "{t}");
        let binary = DataUnit {
            binary: true,
            ..unit(Chunk::Whole)
        };
        assert!(binary
            .source_args("x")
            .join(" ")
            .ends_with("TO STDOUT (FORMAT binary)"));
        assert!(binary
            .target_args()
            .join(" ")
            .contains("FROM STDIN (FORMAT binary, FREEZE)"));
    }

    #[test]
    fn one_host_pipelines_keep_both_passwords_off_the_command_line() {
        let mut s = Endpoint::new("new", "198.51.100.10", "app");
        s.password = Some(SecretValue::new("old-secret".into()));
        let mut t = Endpoint::new("new", "127.0.0.1", "app");
        t.password = Some(SecretValue::new("new-secret".into()));
        let u = unit(Chunk::Whole);
        let cmd = local_pipeline(
            (&s, "psql", u.source_args("snap")),
            (&t, "psql", u.target_args()),
        );
        let r = cutover_exec::render::render(&cmd).unwrap();
        assert!(!r.line.contains("old-secret") && !r.line.contains("new-secret"));
        assert!(
            r.line.contains("PGPASSWORD=\"$CUTOVER_S_PGPASSWORD\""),
            "{}",
            r.line
        );
        assert!(
            r.line.contains("PGHOST=\"$CUTOVER_T_PGHOST\""),
            "{}",
            r.line
        );
        let prelude = String::from_utf8_lossy(&r.prelude);
        assert!(prelude.contains("old-secret") && prelude.contains("new-secret"));
    }

    #[test]
    fn a_container_side_runs_its_tool_through_docker_exec_by_variable_name() {
        let s = Endpoint::new("new", "198.51.100.10", "app");
        let mut t = Endpoint::new("new", "localhost", "app");
        t.password = Some(SecretValue::new("new-secret".into()));
        t.container = Some("shop-db-1".into());
        let u = unit(Chunk::Whole);
        let cmd = local_pipeline(
            (&s, "psql", u.source_args("snap")),
            (&t, "psql", u.target_args()),
        );
        let r = cutover_exec::render::render(&cmd).unwrap();
        assert!(!r.line.contains("new-secret"), "{}", r.line);
        assert!(
            r.line.contains("PGPASSWORD=\"$CUTOVER_T_PGPASSWORD\" docker exec -i -e PGHOST -e PGPORT -e PGDATABASE -e PGUSER -e PGAPPNAME -e PGCONNECT_TIMEOUT -e PGPASSWORD shop-db-1 psql"),
            "{}",
            r.line
        );
    }

    #[test]
    fn counts_rows_from_copy_tags() {
        assert_eq!(
            rows_from("BEGIN\nTRUNCATE TABLE\nCOPY 1234\nCOMMIT\n"),
            1234
        );
    }
}
