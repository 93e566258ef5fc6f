//! `[[stages]]`: the plan's ordered stages, each a list of steps.

use crate::problem::{Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::{valid_id, Step};
use toml_span::value::{Value, ValueInner};

/// A named group of steps; stages run in order and `apply --until STAGE` stops after one.
#[derive(Debug, Clone, PartialEq, serde::Serialize, schemars::JsonSchema)]
pub struct Stage {
    /// The stage's name (e.g. "preflight", "copy", "switch"), unique in the plan.
    pub name: Spanned<String>,
    /// What the stage is for.
    pub description: Option<String>,
    /// The steps, run in order.
    pub steps: Vec<Step>,
}

impl Stage {
    /// The fields `[[stages]]` accepts.
    pub const FIELDS: &'static [&'static str] = &["name", "description", "steps"];

    /// Reads stage number `index` (0-based).
    pub fn read(index: usize, value: &mut Value<'_>, p: &mut Problems) -> Option<Self> {
        let mut f = Fields::new(value, format!("stage {}", index + 1), Self::FIELDS, p)?;
        let name: Option<Spanned<String>> = f.required("name", p);
        if let Some(n) = &name {
            if !valid_id(&n.value) {
                p.push(
                    Problem::new(
                        n.span,
                        format!("stage name `{}` is not valid", n.value),
                        "invalid name",
                    )
                    .help("use 1 to 64 letters, digits, `-` or `_`"),
                );
            }
            f.set_owner(format!("stage `{}`", n.value));
        }
        // "stage `copy`", or "stage 2" when it has no name.
        let owner = f.owner().to_string();
        let description = f.optional("description", p);
        let steps_span = f.span();
        let steps = match take_array(&mut f, "steps", p) {
            Some(items) => items
                .into_iter()
                .enumerate()
                .filter_map(|(i, mut v)| Step::read(&owner, i, &mut v, p))
                .collect(),
            None => {
                p.push(
                    Problem::new(steps_span, format!("{owner} has no steps"), "empty stage")
                        .help("add steps with `[[stages.steps]]` after this stage"),
                );
                Vec::new()
            }
        };
        f.finish(p);
        Some(Stage {
            name: name?,
            description,
            steps,
        })
    }
}

/// Takes `key` as an array of raw values (to read each item with its own context).
fn take_array<'de>(f: &mut Fields<'de>, key: &str, p: &mut Problems) -> Option<Vec<Value<'de>>> {
    let mut raw = f.take_raw(key)?;
    match raw.take() {
        ValueInner::Array(items) => Some(items),
        other => {
            crate::read::wrong_type(
                raw.span,
                &format!("`{key}` of {}", f.owner()),
                "an array of tables",
                &other,
                p,
            );
            None
        }
    }
}
