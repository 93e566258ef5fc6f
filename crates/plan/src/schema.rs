//! The JSON Schema of plan files, generated from the plan types and their doc comments, for
//! editors (`cutover schema > cutover.schema.json`, e.g. with taplo or Even Better TOML).

/// The plan's JSON Schema as pretty-printed JSON.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(crate::Plan);
    serde_json::to_string_pretty(&schema).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}
