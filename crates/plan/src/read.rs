//! Reading typed values out of a spanned TOML tree while collecting every problem.
//!
//! Serde stops at the first error; `cutover check` must report all of them, each at its
//! exact location, so plan types are read through these helpers instead.

use crate::problem::{did_you_mean, Problem, Problems, Span};
use std::collections::BTreeMap;
use toml_span::value::{Table, Value, ValueInner};

/// A type that can be read from a TOML value. `what` names the value in messages, for
/// example "`port` of host `old`". On failure the problem is recorded and `None` returned.
pub trait FromToml: Sized {
    /// Reads the value, recording problems instead of stopping at the first.
    fn read(value: &mut Value<'_>, what: &str, problems: &mut Problems) -> Option<Self>;
}

/// How a TOML value's type is named in messages.
pub fn type_name(v: &ValueInner<'_>) -> &'static str {
    match v {
        ValueInner::String(_) => "a string",
        ValueInner::Integer(_) => "an integer",
        ValueInner::Float(_) => "a float",
        ValueInner::Boolean(_) => "a boolean",
        ValueInner::Array(_) => "an array",
        ValueInner::Table(_) => "a table",
    }
}

/// Records "`what` must be `expected`, found ..." at the value.
pub fn wrong_type(
    span: Span,
    what: &str,
    expected: &str,
    found: &ValueInner<'_>,
    p: &mut Problems,
) {
    p.push(Problem::new(
        span,
        format!("{what} must be {expected}, found {}", type_name(found)),
        format!("expected {expected}"),
    ));
}

/// The fields of one table, read one by one; the leftovers are reported as unknown.
pub struct Fields<'de> {
    table: Table<'de>,
    span: Span,
    owner: String,
    known: &'static [&'static str],
    /// Fields every table of this sort accepts besides `known` (a step's `keep`), read before
    /// its kind was known.
    common: &'static [&'static str],
}

impl<'de> Fields<'de> {
    /// Starts reading `value` as a table named `owner` (e.g. "step `copy`") whose fields are
    /// exactly `known`.
    pub fn new(
        value: &mut Value<'de>,
        owner: impl Into<String>,
        known: &'static [&'static str],
        p: &mut Problems,
    ) -> Option<Self> {
        let owner = owner.into();
        match value.take() {
            ValueInner::Table(table) => Some(Fields {
                table,
                span: value.span,
                owner,
                known,
                common: &[],
            }),
            other => {
                wrong_type(value.span, &owner, "a table", &other, p);
                None
            }
        }
    }

    /// The table's own location (used for problems about the table as a whole).
    pub fn span(&self) -> Span {
        self.span
    }

    /// Changes the accepted fields once the table's kind is known (steps).
    pub fn set_known(&mut self, known: &'static [&'static str]) {
        self.known = known;
    }

    /// Changes the accepted fields once the table's kind is known, keeping the fields
    /// accepted until then as accepted too (a step's common fields, already read).
    pub fn set_kind_fields(&mut self, known: &'static [&'static str]) {
        self.common = self.known;
        self.known = known;
    }

    /// Renames the owner once its name is known (a step's id is read before the rest).
    pub fn set_owner(&mut self, owner: impl Into<String>) {
        self.owner = owner.into();
    }

    /// Who owns these fields, as named in messages.
    pub fn owner(&self) -> &str {
        &self.owner
    }

    /// True when the table has `key`.
    pub fn has(&self, key: &str) -> bool {
        self.table.contains_key(key)
    }

    /// Location of `key`'s value, when present.
    pub fn value_span(&self, key: &str) -> Option<Span> {
        self.table.get(key).map(|v| v.span)
    }

    /// Takes `key`'s value unread, to be read later with more context.
    pub fn take_raw(&mut self, key: &str) -> Option<Value<'de>> {
        debug_assert!(
            self.known.contains(&key),
            "{key} missing from the known fields"
        );
        self.table.remove_entry(key).map(|(_, v)| v)
    }

    /// Reads a field that must be present.
    pub fn required<T: FromToml>(&mut self, key: &str, p: &mut Problems) -> Option<T> {
        if !self.present(key, p) {
            return None;
        }
        self.optional(key, p)
    }

    /// True when `key` is there; otherwise records that it is missing.
    pub(crate) fn present(&self, key: &str, p: &mut Problems) -> bool {
        if !self.has(key) {
            p.push(
                Problem::new(
                    self.span,
                    format!("{} is missing the required field `{key}`", self.owner),
                    format!("`{key}` is missing here"),
                )
                .help(format!("add `{key} = ...` to {}", self.owner)),
            );
        }
        self.has(key)
    }

    /// Reads a field that may be absent.
    pub fn optional<T: FromToml>(&mut self, key: &str, p: &mut Problems) -> Option<T> {
        debug_assert!(
            self.known.contains(&key),
            "{key} missing from the known fields"
        );
        let (_, mut value) = self.table.remove_entry(key)?;
        T::read(&mut value, &format!("`{key}` of {}", self.owner), p)
    }

    /// Reports every field that was not read, with the closest known name.
    pub fn finish(self, p: &mut Problems) {
        for (key, _) in self.table {
            let mut problem = Problem::new(
                key.span,
                format!("unknown field `{}` in {}", key.name, self.owner),
                "unknown field",
            );
            let mut known: Vec<&str> = self.known.to_vec();
            known.extend(self.common.iter().filter(|c| !self.known.contains(c)));
            problem = match did_you_mean(&key.name, known.iter().copied()) {
                Some(near) => problem.help(format!("did you mean `{near}`?")),
                None => problem.help(format!("known fields: {}", known.join(", "))),
            };
            p.push(problem);
        }
    }
}

/// A value together with where it was written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it stands in the plan file.
    #[serde(skip)]
    pub span: Span,
}

impl<T: schemars::JsonSchema> schemars::JsonSchema for Spanned<T> {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        T::schema_name()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        T::json_schema(g)
    }
    fn inline_schema() -> bool {
        true
    }
}

impl<T: FromToml> FromToml for Spanned<T> {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        let span = value.span;
        T::read(value, what, p).map(|value| Spanned { value, span })
    }
}

impl FromToml for String {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        match value.take() {
            ValueInner::String(s) => Some(s.into_owned()),
            other => {
                wrong_type(value.span, what, "a string", &other, p);
                None
            }
        }
    }
}

impl FromToml for bool {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        match value.take() {
            ValueInner::Boolean(b) => Some(b),
            other => {
                wrong_type(value.span, what, "true or false", &other, p);
                None
            }
        }
    }
}

impl<T: FromToml> FromToml for Vec<T> {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        match value.take() {
            ValueInner::Array(items) => {
                let before = p.0.len();
                let out: Vec<T> = items
                    .into_iter()
                    .enumerate()
                    .filter_map(|(i, mut v)| {
                        T::read(&mut v, &format!("item {} of {what}", i + 1), p)
                    })
                    .collect();
                (p.0.len() == before).then_some(out)
            }
            other => {
                wrong_type(value.span, what, "an array", &other, p);
                None
            }
        }
    }
}

impl<T: FromToml> FromToml for BTreeMap<String, T> {
    fn read(value: &mut Value<'_>, what: &str, p: &mut Problems) -> Option<Self> {
        match value.take() {
            ValueInner::Table(table) => {
                let before = p.0.len();
                let mut out = BTreeMap::new();
                for (key, mut v) in table {
                    let item = format!("`{}` in {what}", key.name);
                    if let Some(t) = T::read(&mut v, &item, p) {
                        out.insert(key.name.into_owned(), t);
                    }
                }
                (p.0.len() == before).then_some(out)
            }
            other => {
                wrong_type(value.span, what, "a table", &other, p);
                None
            }
        }
    }
}

/// Reads a table of named entries (hosts, secrets) with `read_one(name, value, problems)`.
pub fn named_table<T>(
    value: &mut Value<'_>,
    what: &str,
    p: &mut Problems,
    mut read_one: impl FnMut(Spanned<String>, &mut Value<'_>, &mut Problems) -> Option<T>,
) -> Vec<T> {
    match value.take() {
        ValueInner::Table(table) => table
            .into_iter()
            .filter_map(|(key, mut v)| {
                let name = Spanned {
                    value: key.name.into_owned(),
                    span: key.span,
                };
                read_one(name, &mut v, p)
            })
            .collect(),
        other => {
            wrong_type(value.span, what, "a table", &other, p);
            Vec::new()
        }
    }
}
