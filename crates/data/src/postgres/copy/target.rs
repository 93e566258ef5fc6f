//! The target database before and after a copy: created when missing, refused when it already
//! holds objects cutover did not put there, and marked (a comment on the database) so that a
//! finished copy is recognised (applying twice changes nothing) and an interrupted one is
//! cleared and started again.

use super::super::endpoint::Endpoint;
use super::super::error::PgError;
use super::super::session::{copy_query, run_sql};
use super::super::sql::{ident, literal};
use cutover_exec::Executor;

/// The maintenance database cutover connects to for creating and dropping databases.
const MAINTENANCE_DB: &str = "postgres";

/// How far a copy into a database got, as recorded on the database itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Marker {
    /// No cutover copy was ever recorded here.
    None,
    /// A copy started and did not finish.
    InProgress {
        /// The database was created by that copy (so cutover may drop it).
        created: bool,
    },
    /// A copy finished.
    Complete {
        /// The database was created by that copy.
        created: bool,
    },
}

const PREFIX: &str = "cutover copy";

impl Marker {
    /// Reads a database comment written by [`Marker::text`].
    pub fn parse(comment: Option<&str>) -> Marker {
        let Some(c) = comment.filter(|c| c.starts_with(PREFIX)) else {
            return Marker::None;
        };
        let created = c.contains("created=yes");
        if c.contains("state=complete") {
            Marker::Complete { created }
        } else {
            Marker::InProgress { created }
        }
    }

    /// The comment recording this state, naming the source.
    pub fn text(&self, source: &str) -> String {
        let (state, created) = match self {
            Marker::None => ("none", false),
            Marker::InProgress { created } => ("in-progress", *created),
            Marker::Complete { created } => ("complete", *created),
        };
        format!(
            "{PREFIX} from {source}; state={state}; created={}",
            if created { "yes" } else { "no" }
        )
    }

    /// True when the database was created by cutover.
    pub fn created(&self) -> bool {
        matches!(
            self,
            Marker::InProgress { created: true } | Marker::Complete { created: true }
        )
    }
}

/// What the target database looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TargetState {
    /// The database exists.
    pub exists: bool,
    /// Its copy marker.
    pub marker: Marker,
    /// User objects in it (tables, views, sequences, functions, types, schemas besides
    /// `public`, extensions besides plpgsql).
    pub objects: u64,
    /// The database's comment, where cutover keeps its markers.
    pub comment: Option<String>,
}

/// Reads the state of `target`'s database.
pub async fn state(exec: &Executor, target: &Endpoint) -> Result<TargetState, PgError> {
    let maintenance = target.with_db(MAINTENANCE_DB);
    let rows = copy_query(
        exec,
        &maintenance,
        "look for the target database",
        &[format!(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = {}",
            literal(&target.db)
        )],
    )
    .await?;
    let Some(row) = rows.first() else {
        return Ok(TargetState {
            exists: false,
            marker: Marker::None,
            objects: 0,
            comment: None,
        });
    };
    let comment = row.first().cloned().flatten();
    let marker = Marker::parse(comment.as_deref());
    let count = "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%')
      + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%')
      + (SELECT count(*) FROM pg_namespace n WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'public') AND n.nspname NOT LIKE 'pg\\_%')
      + (SELECT count(*) FROM pg_extension WHERE extname <> 'plpgsql')";
    let rows = copy_query(exec, target, "count the target's objects", &[count.into()]).await?;
    let objects = rows
        .first()
        .and_then(|r| r.first().cloned().flatten())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(TargetState {
        exists: true,
        marker,
        objects,
        comment,
    })
}

/// Creates the target database (encoding as the source's) and records an in-progress copy.
pub async fn create(
    exec: &Executor,
    target: &Endpoint,
    encoding: &str,
    source: &str,
) -> Result<(), PgError> {
    let marker = Marker::InProgress { created: true }.text(source);
    create_marked(exec, target, encoding, &marker).await
}

/// Creates the target database (encoding as the source's) with `comment` as its marker.
pub async fn create_marked(
    exec: &Executor,
    target: &Endpoint,
    encoding: &str,
    comment: &str,
) -> Result<(), PgError> {
    let maintenance = target.with_db(MAINTENANCE_DB);
    run_sql(
        exec,
        &maintenance,
        "create the target database",
        &format!(
            "CREATE DATABASE {} TEMPLATE template0 ENCODING {};\n",
            ident(&target.db),
            literal(encoding)
        ),
    )
    .await?;
    set_comment(exec, target, comment).await
}

/// Drops the target database (cutover created it), ending other sessions on it.
pub async fn drop(exec: &Executor, target: &Endpoint) -> Result<(), PgError> {
    let maintenance = target.with_db(MAINTENANCE_DB);
    run_sql(
        exec,
        &maintenance,
        "drop the target database",
        &format!(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = {} AND pid <> pg_backend_pid();\nDROP DATABASE IF EXISTS {};\n",
            literal(&target.db),
            ident(&target.db)
        ),
    )
    .await
    .map(|_| ())
}

/// Records `marker` as the target database's comment.
pub async fn mark(
    exec: &Executor,
    target: &Endpoint,
    marker: &Marker,
    source: &str,
) -> Result<(), PgError> {
    set_comment(exec, target, &marker.text(source)).await
}

/// Sets the target database's comment (where cutover keeps its markers).
pub async fn set_comment(exec: &Executor, target: &Endpoint, text: &str) -> Result<(), PgError> {
    run_sql(
        exec,
        target,
        "mark the target database",
        &format!(
            "COMMENT ON DATABASE {} IS {};\n",
            ident(&target.db),
            literal(text)
        ),
    )
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_round_trip_through_the_comment() {
        for m in [
            Marker::InProgress { created: true },
            Marker::InProgress { created: false },
            Marker::Complete { created: true },
            Marker::Complete { created: false },
        ] {
            assert_eq!(Marker::parse(Some(&m.text("postgres@old:5432/app"))), m);
        }
        assert_eq!(Marker::parse(Some("the shop's database")), Marker::None);
        assert_eq!(Marker::parse(None), Marker::None);
    }
}
