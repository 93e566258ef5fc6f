//! Schema drift during a sync. Logical replication carries rows, not DDL: a column added, a
//! function replaced or an index created on the source while the sync runs never reaches
//! the target. The sync records the source's schema fingerprint when it starts; the switch
//! (and `cutover status`) reads it again, and when it changed compares the source's schema
//! with the target's to name every object that differs, before anything is frozen.

use super::super::compare;
use super::super::definitions::Scope;
use super::super::endpoint::Endpoint;
use super::super::error::PgError;
use super::super::inventory::{self, Object};
use super::super::report::Difference;
use super::super::tools;
use super::super::verify::normalizer;
use cutover_exec::Executor;

/// A schema's fingerprint: a digest of every object's definition, and how many there are.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SchemaPrint {
    /// BLAKE3 of the sorted definitions, hex.
    pub digest: String,
    /// Schema objects covered.
    pub objects: usize,
}

impl SchemaPrint {
    /// The fingerprint of `objects` (sorted by kind, schema and name, as read).
    pub fn of(objects: &[Object]) -> Self {
        let mut h = blake3::Hasher::new();
        for o in objects {
            for part in [&o.kind, &o.schema, &o.name] {
                h.update(part.as_bytes());
                h.update(b"\0");
            }
            for (facet, value) in &o.facets {
                h.update(facet.as_bytes());
                h.update(b"\x01");
                h.update(value.as_bytes());
                h.update(b"\x02");
            }
            h.update(b"\n");
        }
        SchemaPrint {
            digest: h.finalize().to_hex().to_string(),
            objects: objects.len(),
        }
    }
}

/// What a drift check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Drift {
    /// The source's schema is the one recorded.
    None,
    /// The source's schema changed, and the target has the same changes (the DDL was
    /// applied on both): nothing stands in the way.
    Matched,
    /// The source's schema changed and the target lacks the changes: each object that
    /// differs, with both definitions.
    Changed(Vec<Difference>),
}

async fn read(exec: &Executor, ep: &Endpoint) -> Result<(u32, inventory::Inventory), PgError> {
    let mut ep = ep.clone();
    if ep.bin.is_none() {
        ep.bin = Some(tools::select(exec, &ep, None, false, 0).await?.bin);
    }
    let version = tools::server_version(exec, &ep).await?;
    let inv = inventory::read(exec, &ep, version, Scope::default()).await?;
    Ok((version, inv))
}

/// The source's schema fingerprint now (`source` with its tools found).
pub async fn fingerprint(exec: &Executor, source: &Endpoint) -> Result<SchemaPrint, PgError> {
    let (_, inv) = read(exec, source).await?;
    Ok(SchemaPrint::of(&inv.objects))
}

/// Compares the source's schema now with `recorded` (when the sync started; `None`: not
/// known, so the target is always compared) and, when it changed, with the target's.
pub async fn check(
    exec: &Executor,
    source: &Endpoint,
    target: &Endpoint,
    recorded: Option<&SchemaPrint>,
) -> Result<Drift, PgError> {
    // Both read at once when the target is needed anyway (nothing recorded to go by).
    let (src, tgt) = match recorded {
        Some(r) => {
            let (_, src) = read(exec, source).await?;
            if *r == SchemaPrint::of(&src.objects) {
                return Ok(Drift::None);
            }
            (src, read(exec, target).await?.1)
        }
        None => {
            let (s, t) = tokio::join!(read(exec, source), read(exec, target));
            (s?.1, t?.1)
        }
    };
    let (differences, _) = compare::objects(&src.objects, &tgt.objects, &normalizer(&src, &tgt));
    let changed: Vec<Difference> = differences.into_iter().filter(|d| d.fatal).collect();
    Ok(match (changed.is_empty(), recorded) {
        (true, None) => Drift::None,
        (true, Some(_)) => Drift::Matched,
        (false, _) => Drift::Changed(changed),
    })
}

/// The lines naming each changed object (at most `limit`, then a count of the rest).
pub fn describe(changed: &[Difference], limit: usize) -> Vec<String> {
    let mut lines: Vec<String> = changed
        .iter()
        .take(limit)
        .map(|d| format!("  {d}"))
        .collect();
    if changed.len() > limit {
        lines.push(format!("  … and {} more", changed.len() - limit));
    }
    lines
}

/// The switch's refusal: every changed object named, and what to do.
pub fn refusal(changed: &[Difference]) -> PgError {
    PgError::precondition(
        format!(
            "the source's schema changed since the sync started, and logical replication does not carry DDL: {} object(s) differ on the target:\n{}",
            changed.len(),
            describe(changed, 50).join("\n")
        ),
        "apply the same DDL on the target (nothing was frozen or switched), then run the switch again",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(name: &str, body: &str) -> Object {
        Object {
            kind: "function".into(),
            schema: "public".into(),
            name: name.into(),
            facets: vec![("body".into(), body.into())],
        }
    }

    #[test]
    fn a_fingerprint_changes_with_any_definition_and_only_then() {
        let a = SchemaPrint::of(&[obj("f()", "SELECT 1"), obj("g()", "SELECT 2")]);
        assert_eq!(
            a,
            SchemaPrint::of(&[obj("f()", "SELECT 1"), obj("g()", "SELECT 2")])
        );
        assert_ne!(
            a,
            SchemaPrint::of(&[obj("f()", "SELECT 1"), obj("g()", "SELECT 3")])
        );
        // Fields cannot run into each other.
        assert_ne!(
            SchemaPrint::of(&[obj("f()", "SELECT 1")]).digest,
            SchemaPrint::of(&[obj("f(", ")SELECT 1")]).digest
        );
        assert_eq!(a.objects, 2);
    }
}
