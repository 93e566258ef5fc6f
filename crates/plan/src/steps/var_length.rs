//! A step's length given as `{{ vars.NAME }}` instead of a duration: the same plan waits
//! 48 h in production and a second in a lab environment that sets the var. The reference is
//! kept with its location; the value is read from the plan's vars at parse time and again
//! when an environment replaces them, and `check` judges the value of every environment.

use crate::bounded::read_duration;
use crate::limits::DurationRange;
use crate::problem::{did_you_mean, Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::validate::StepCheck;
use std::collections::BTreeMap;
use std::time::Duration;
use toml_span::value::{Value, ValueInner};

/// The var named by a whole-string reference `{{ vars.NAME }}`, if `text` is one.
pub(crate) fn var_name(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let name = inner.strip_prefix("vars.")?;
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    valid.then_some(name)
}

/// Reads `key` as a duration in `range`, or as a `{{ vars.NAME }}` reference (the duration
/// is then filled in by [`resolve`]).
pub(crate) fn read(
    f: &mut Fields<'_>,
    key: &str,
    range: &DurationRange,
    p: &mut Problems,
) -> (Option<Duration>, Option<Spanned<String>>) {
    let what = format!("`{key}` of {}", f.owner());
    let Some(mut value) = f.take_raw(key) else {
        return (None, None);
    };
    if let Some(name) = value.as_str().and_then(var_name) {
        let reference = Spanned {
            value: name.to_string(),
            span: value.span,
        };
        return (None, Some(reference));
    }
    (read_duration(&mut value, &what, range, p), None)
}

/// The length the var gives with `vars`, when it names one that holds a duration in range
/// (anything else is reported by [`check`]).
pub(crate) fn resolve(
    reference: &Spanned<String>,
    vars: &BTreeMap<String, String>,
    range: &DurationRange,
) -> Option<Duration> {
    let text = vars.get(&reference.value)?;
    let mut quiet = Problems::default();
    let mut value = Value::with_span(ValueInner::String(text.clone().into()), reference.span);
    read_duration(&mut value, "", range, &mut quiet)
}

/// Reports a reference to a var the plan does not define, and a value that is not a
/// duration in `range`, in the plan's vars and in each environment that replaces the var.
pub(crate) fn check(
    c: &StepCheck<'_>,
    key: &str,
    reference: &Spanned<String>,
    range: &DurationRange,
    p: &mut Problems,
) {
    let name = &reference.value;
    let owner = format!("`{key}` of step `{}`", c.id.value);
    let Some(base) = c.plan.vars.get(name) else {
        let mut problem = Problem::new(
            reference.span,
            format!("{owner} names var `{name}`, which `[vars]` does not define"),
            "no such var",
        );
        problem = match did_you_mean(name, c.plan.vars.keys().map(String::as_str)) {
            Some(near) => problem.help(format!("did you mean `{near}`?")),
            None => problem.help(format!(
                "add `{name} = \"48h\"` to `[vars]` (environments may replace it)"
            )),
        };
        p.push(problem);
        return;
    };
    let mut judge = |text: &str, whose: String| {
        let mut value =
            Value::with_span(ValueInner::String(text.to_string().into()), reference.span);
        read_duration(
            &mut value,
            &format!("{owner} (var `{name}`{whose})"),
            range,
            p,
        );
    };
    judge(base, String::new());
    for env in &c.plan.environments {
        if let Some(text) = env.vars.get(name) {
            judge(text, format!(" in environment `{}`", env.name.value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_whole_vars_reference_names_a_var() {
        assert_eq!(
            var_name("{{ vars.decommission_after }}"),
            Some("decommission_after")
        );
        assert_eq!(var_name("{{vars.wait-1}}"), Some("wait-1"));
        assert_eq!(var_name("48h"), None);
        assert_eq!(var_name("{{ secrets.x }}"), None);
        assert_eq!(var_name("{{ vars.a }} and more"), None);
        assert_eq!(var_name("{{ vars. }}"), None);
        assert_eq!(var_name("{{ vars.a b }}"), None);
    }
}
