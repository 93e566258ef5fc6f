//! Every starter plan of `cutover init` is valid against `cutover schema`: an editor using
//! the schema never flags a plan the tool wrote itself.

use cutover_plan::templates::TEMPLATES;

/// The errors an editor would show for `text` against the plan's JSON Schema, one line each
/// (`/instance/path: message`).
fn schema_errors(validator: &jsonschema::Validator, text: &str) -> Vec<String> {
    let toml = toml_span::parse(text).expect("the starter is TOML");
    let json = serde_json::to_value(&toml).expect("TOML converts to JSON");
    validator
        .iter_errors(&json)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn every_starter_plan_is_valid_against_the_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(&cutover_plan::schema::json_schema()).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let failures: Vec<String> = TEMPLATES
        .iter()
        .flat_map(|t| {
            schema_errors(&validator, t.text)
                .into_iter()
                .map(move |e| format!("{}.toml {e}", t.name))
        })
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn the_schema_check_reports_what_an_editor_would_flag() {
    let schema: serde_json::Value =
        serde_json::from_str(&cutover_plan::schema::json_schema()).expect("the schema is JSON");
    let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
    let errors = schema_errors(
        &validator,
        "name = 3\nstages = []\n[hosts.old]\nssh = \"old\"\n",
    );
    assert_eq!(errors, ["/name: 3 is not of type \"string\""]);
}
