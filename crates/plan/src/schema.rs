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
