//! The JSON Schema of plan files, generated from the plan types and their doc comments, for
//! editors (`cutover schema > cutover.schema.json`, e.g. with taplo or Even Better TOML).

/// The plan's JSON Schema as pretty-printed JSON.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(crate::Plan);
    serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Copies each `oneOf` variant's doc comment onto the fields it introduces (a secret's
/// `env`/`file`/`command`, a step's `kind`), which serde's enum layout leaves undocumented and
/// which editors would otherwise show without a description.
pub fn describe_variant_fields(schema: &mut schemars::Schema) {
    let Some(variants) = schema.get_mut("oneOf").and_then(|v| v.as_array_mut()) else {
        return;
    };
    for variant in variants {
        let Some(description) = variant.get("description").cloned() else {
            continue;
        };
        let fields = variant
            .get_mut("properties")
            .and_then(|p| p.as_object_mut());
        for field in fields.into_iter().flat_map(|f| f.values_mut()) {
            if let Some(field) = field.as_object_mut() {
                field
                    .entry("description")
                    .or_insert_with(|| description.clone());
            }
        }
    }
}

/// How the schema shows a field written either as one value or as a list of them
/// (`resolve = "10.0.0.2"` or `resolve = ["a.example:443:10.0.0.2", ...]`); the reader
/// accepts both.
#[derive(schemars::JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)] // only its schema is used
pub(crate) enum OneOrMany<T> {
    /// One value.
    One(T),
    /// Several values.
    Many(Vec<T>),
}

/// How the schema shows a share: a percentage ("1%") or a fraction (0.01).
#[derive(schemars::JsonSchema)]
#[schemars(untagged)]
#[allow(dead_code)] // only its schema is used
pub(crate) enum Share {
    /// A percentage such as "1%" or "0.5%".
    Percent(String),
    /// A fraction such as 0.01.
    Fraction(f64),
}

/// The record type `dns.*` steps assume when a record names none.
pub(crate) fn default_record_type() -> crate::read::Spanned<String> {
    crate::read::Spanned {
        value: "A".into(),
        span: Default::default(),
    }
}
