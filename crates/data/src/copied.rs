//! What every store's finished copy reports (`postgres.copy`, `mysql.copy`), so that one
//! runner journals every copy the same way: each table's line, the totals as measures, the
//! store's own figures and notes, and one summary line.

use crate::proof::Figure;

/// One table a copy loaded.
#[derive(Debug, Clone, PartialEq)]
pub struct TableCopied {
    /// `schema.table` or `database.table`.
    pub name: String,
    /// Rows loaded.
    pub rows: u64,
    /// Bytes streamed.
    pub bytes: u64,
    /// Seconds from its first rows to its last index.
    pub seconds: f64,
}

/// What a store's copy reports once finished.
pub trait Copied: Send + Sync {
    /// The tables this attempt loaded.
    fn tables(&self) -> Vec<TableCopied>;

    /// Rows, bytes and seconds in all.
    fn totals(&self) -> (u64, u64, f64);

    /// The store's own figures, journaled after the totals (`lock_ms`...).
    fn figures(&self) -> Vec<Figure> {
        Vec::new()
    }

    /// What the user should know that did not fail the copy (shown after "note: ").
    fn notes(&self) -> Vec<String> {
        Vec::new()
    }

    /// The step's summary.
    fn summary(&self) -> String;
}

/// `12.3 MB`.
pub fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

impl Copied for crate::postgres::copy::CopyReport {
    fn tables(&self) -> Vec<TableCopied> {
        self.tables
            .iter()
            .map(|t| TableCopied {
                name: format!("{}.{}", t.schema, t.name),
                rows: t.rows,
                bytes: t.bytes,
                seconds: t.seconds,
            })
            .collect()
    }
    fn totals(&self) -> (u64, u64, f64) {
        (self.rows, self.bytes, self.seconds)
    }
    fn summary(&self) -> String {
        format!(
            "copied {} tables, {} rows ({}), {} large objects, {} sequences, PostgreSQL {} -> {} ({}) in {:.1}s",
            self.tables.len(),
            self.rows,
            mb(self.bytes),
            self.large_objects,
            self.sequences,
            self.source_version,
            self.target_version,
            self.route,
            self.seconds
        )
    }
}

impl Copied for crate::mysql::copy::CopyReport {
    fn tables(&self) -> Vec<TableCopied> {
        self.tables
            .iter()
            .map(|t| TableCopied {
                name: format!("{}.{}", t.db, t.name),
                rows: t.rows,
                bytes: t.bytes,
                seconds: t.seconds,
            })
            .collect()
    }
    fn totals(&self) -> (u64, u64, f64) {
        (self.rows, self.bytes, self.seconds)
    }
    fn figures(&self) -> Vec<Figure> {
        vec![Figure::new("lock_ms", self.lock_ms as f64, "ms")]
    }
    fn notes(&self) -> Vec<String> {
        self.objects
            .skipped_grants
            .iter()
            .map(|g| format!("grant left out (on a database not copied): {g}"))
            .collect()
    }
    fn summary(&self) -> String {
        format!(
            "copied {} table(s){}, {} rows ({}), {} other object(s), {} account(s), {} -> {} in {:.1}s; snapshot at {}",
            self.tables.len(),
            if self.resumed > 0 {
                format!(" ({} kept from the interrupted attempt)", self.resumed)
            } else {
                String::new()
            },
            self.rows,
            mb(self.bytes),
            self.objects.objects,
            self.objects.accounts,
            self.source_version,
            self.target_version,
            self.seconds,
            self.position
                .as_ref()
                .map_or("the earlier attempt's position".into(), |p| p.describe())
        )
    }
}
