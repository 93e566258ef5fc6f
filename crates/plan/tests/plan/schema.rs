//! The JSON Schema for editors against the reader: every field the reader accepts is in the
//! schema and nothing else, and every field is described (from its doc comment).

use cutover_plan::steps::{
    ApproveStep, PipeEnd, PipeStep, RunStep, WaitStep, COMMON_FIELDS, KINDS,
};
use cutover_plan::{Host, JournalConfig, Plan, Secret, SshConfig, Stage};
use serde_json::Value;
use std::collections::BTreeSet;

/// The fields the reader accepts in a step of `kind`, as it lists them when it meets an
/// unknown one: asking the reader itself covers every registered kind, new ones included.
fn reader_fields(kind: &str) -> BTreeSet<String> {
    let src = format!(
        "name = \"m\"\n[hosts.old]\nssh = \"old\"\n[[stages]]\nname = \"s\"\n\
         [[stages.steps]]\nid = \"a\"\nkind = \"{kind}\"\nqqqqqqqqqqqq = 1\n"
    );
    let errors = crate::malformed::problems(&src).expect("an unknown field is rejected");
    let unknown = errors
        .problems
        .iter()
        .find(|p| p.message.starts_with("unknown field `qqqqqqqqqqqq`"))
        .unwrap_or_else(|| panic!("no unknown-field problem for kind `{kind}`"));
    let help = unknown.help.as_deref().unwrap_or_default();
    let list = help
        .strip_prefix("known fields: ")
        .unwrap_or_else(|| panic!("unexpected help {help:?}"));
    list.split(", ").map(str::to_string).collect()
}

fn schema() -> Value {
    serde_json::from_str(&cutover_plan::schema::json_schema()).expect("the schema is JSON")
}

/// The definition `name` in `$defs` (the plan itself for "Plan").
fn def<'a>(schema: &'a Value, name: &str) -> &'a Value {
    if name == "Plan" {
        return schema;
    }
    schema["$defs"]
        .get(name)
        .unwrap_or_else(|| panic!("no `{name}` in the schema's $defs"))
}

/// The property names of a schema object, including those of its `oneOf` variants.
fn properties(schema: &Value) -> BTreeSet<String> {
    let own = schema["properties"]
        .as_object()
        .into_iter()
        .flat_map(|p| p.keys().cloned());
    let variants = schema["oneOf"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|v| {
            v["properties"]
                .as_object()
                .into_iter()
                .flat_map(|p| p.keys().cloned())
        });
    own.chain(variants).collect()
}

fn set(fields: &[&str]) -> BTreeSet<String> {
    fields.iter().map(|f| f.to_string()).collect()
}

#[test]
fn schema_names_exactly_the_fields_the_reader_accepts() {
    let schema = schema();
    let tables: &[(&str, &[&str])] = &[
        ("Plan", Plan::FIELDS),
        ("JournalConfig", JournalConfig::FIELDS),
        ("SshConfig", SshConfig::FIELDS),
        ("Host", Host::FIELDS),
        ("Secret", Secret::FIELDS),
        ("Stage", Stage::FIELDS),
        ("PipeEnd", PipeEnd::FIELDS),
    ];
    for (name, fields) in tables {
        assert_eq!(
            properties(def(&schema, name)),
            set(fields),
            "fields of {name}"
        );
    }
    // A step's schema is the common fields, `kind` in each variant, and the kind's own.
    let step = def(&schema, "Step");
    assert_eq!(
        properties(step),
        set(COMMON_FIELDS),
        "fields common to every step"
    );
    let variants = step["oneOf"]
        .as_array()
        .expect("steps are one of the kinds");
    let kinds: Vec<&str> = variants
        .iter()
        .map(|v| {
            v["properties"]["kind"]["const"]
                .as_str()
                .expect("a kind name")
        })
        .collect();
    assert_eq!(kinds, KINDS, "kinds in the schema and in the registry");
    for (variant, kind) in variants.iter().zip(&kinds) {
        let reference = variant["$ref"]
            .as_str()
            .expect("a $ref to the kind's fields");
        let own = def(&schema, reference.trim_start_matches("#/$defs/"));
        let mut in_schema = properties(own);
        in_schema.extend(set(COMMON_FIELDS));
        assert_eq!(
            in_schema,
            reader_fields(kind),
            "fields of step kind `{kind}`"
        );
    }
}

#[test]
fn the_reader_accepts_exactly_each_kinds_fields_const() {
    let consts: &[(&str, &[&str])] = &[
        ("run", RunStep::FIELDS),
        ("pipe", PipeStep::FIELDS),
        ("approve", ApproveStep::FIELDS),
        ("wait", WaitStep::FIELDS),
    ];
    for (kind, fields) in consts {
        let mut fields = set(fields);
        fields.extend(set(COMMON_FIELDS));
        assert_eq!(reader_fields(kind), fields, "fields of `{kind}`");
    }
}

/// Every property anywhere in the schema, with the path it was found at.
fn all_properties<'a>(value: &'a Value, path: String, out: &mut Vec<(String, &'a Value)>) {
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                if key == "properties" {
                    for (name, field) in v.as_object().into_iter().flatten() {
                        out.push((format!("{path}.{name}"), field));
                    }
                }
                all_properties(v, format!("{path}/{key}"), out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                all_properties(v, format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

#[test]
fn every_field_and_definition_in_the_schema_is_described() {
    let schema = schema();
    let mut fields = Vec::new();
    all_properties(&schema, String::new(), &mut fields);
    assert!(fields.len() > 50, "only {} fields found", fields.len());
    let described = |v: &Value| {
        v["description"]
            .as_str()
            .is_some_and(|d| !d.trim().is_empty())
    };
    let missing: Vec<&str> = fields
        .iter()
        .filter(|(_, f)| !described(f))
        .map(|(path, _)| path.as_str())
        .collect();
    assert!(
        missing.is_empty(),
        "fields without a description: {missing:#?}"
    );
    for (name, d) in schema["$defs"].as_object().expect("definitions") {
        assert!(described(d), "definition `{name}` has no description");
    }
}
