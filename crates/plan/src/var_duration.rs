//! Time gates and soak windows whose length is a var: `duration = "{{ vars.confidence_window }}"`
//! in a `wait` step (also its `delay`) or a `soak` step. A runbook's 48 h decommission delay
//! stays the plan's value while an `[environments.lab]` rehearsal sets the same var to a few
//! seconds. The var is resolved when the plan is read, and again when `cutover -e NAME`
//! replaces it; every environment's value is judged at read time too, at the environment, so
//! `cutover check` finds a bad one before any run.

use crate::bounded::parse_in_range;
use crate::limits;
use crate::problem::{did_you_mean, Problem, Problems};
use crate::read::{Fields, Spanned};
use crate::steps::StepKind;
use crate::Plan;
use std::collections::BTreeMap;
use std::time::Duration;

/// The var named by `text` when it is exactly one reference `{{ vars.NAME }}`.
pub fn var_reference(text: &str) -> Option<&str> {
    let inner = text.trim().strip_prefix("{{")?.strip_suffix("}}")?.trim();
    let name = inner.strip_prefix("vars.")?;
    (!name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
    .then_some(name)
}

impl Fields<'_> {
    /// Reads an optional time-gate duration (range [`limits::WAIT`]), which may also be
    /// written `"{{ vars.NAME }}"`: then the duration is a placeholder (zero) until
    /// [`Plan::resolve_duration_vars`] sets it, and the var is returned with its location.
    pub fn wait_duration(
        &mut self,
        key: &str,
        p: &mut Problems,
    ) -> (Option<Duration>, Option<Spanned<String>>) {
        let var = self.value_span(key).zip(
            self.peek_str(key)
                .and_then(var_reference)
                .map(str::to_string),
        );
        match var {
            Some((span, name)) => {
                let _ = self.take_raw(key);
                (Some(Duration::ZERO), Some(Spanned { value: name, span }))
            }
            None => (self.duration(key, &limits::WAIT, p), None),
        }
    }
}

/// The duration fields of one step that name a var: (field, var, the field to set).
fn bound_fields(kind: &mut StepKind) -> Vec<(&'static str, &Spanned<String>, &mut Duration)> {
    let mut out = Vec::new();
    match kind {
        StepKind::Wait(w) => {
            if let (Some(var), Some(d)) = (&w.duration_var, w.duration.as_mut()) {
                out.push(("duration", var, d));
            }
            if let (Some(var), Some(d)) = (&w.delay_var, w.delay.as_mut()) {
                out.push(("delay", var, d));
            }
        }
        StepKind::Soak(s) => {
            if let Some(var) = &s.duration_var {
                out.push(("duration", var, &mut s.duration));
            }
        }
        _ => {}
    }
    out
}

impl Plan {
    /// Sets every duration written as `{{ vars.NAME }}` from `vars`; each var missing or
    /// not a duration in range is a problem at the reference.
    pub(crate) fn resolve_duration_vars(&mut self, p: &mut Problems) {
        let vars = self.vars.clone();
        for stage in &mut self.stages {
            for step in &mut stage.steps {
                let owner = format!("`{{}}` of step `{}`", step.id.value);
                for (field, var, slot) in bound_fields(&mut step.kind) {
                    let what = owner.replace("{}", field);
                    match lookup(&vars, var, &what, p) {
                        Some(text) => match parse_in_range(
                            text,
                            &format!("var `{}` (the {what})", var.value),
                            &limits::WAIT,
                        ) {
                            Ok(d) => *slot = d,
                            Err((message, label, help)) => {
                                p.push(Problem::new(var.span, message, label).help(help))
                            }
                        },
                        None => continue,
                    }
                }
            }
        }
    }

    /// Judges every environment's value of a var that a duration names, at the environment.
    pub(crate) fn check_environment_duration_vars(&mut self, p: &mut Problems) {
        let mut used: Vec<(String, String)> = Vec::new();
        for stage in &mut self.stages {
            for step in &mut stage.steps {
                for (field, var, _) in bound_fields(&mut step.kind) {
                    used.push((
                        var.value.clone(),
                        format!("`{field}` of step `{}`", step.id.value),
                    ));
                }
            }
        }
        for env in &self.environments {
            for (var, what) in &used {
                let Some(text) = env.vars.get(var) else {
                    continue;
                };
                let owner = format!(
                    "var `{var}` of environment `{}` (the {what})",
                    env.name.value
                );
                if let Err((message, label, help)) = parse_in_range(text, &owner, &limits::WAIT) {
                    p.push(Problem::new(env.name.span, message, label).help(help));
                }
            }
        }
    }
}

fn lookup<'v>(
    vars: &'v BTreeMap<String, String>,
    var: &Spanned<String>,
    what: &str,
    p: &mut Problems,
) -> Option<&'v str> {
    if let Some(v) = vars.get(&var.value) {
        return Some(v);
    }
    let problem = Problem::new(
        var.span,
        format!(
            "the {what} names var `{}`, which `[vars]` does not define",
            var.value
        ),
        "unknown var",
    );
    p.push(
        match did_you_mean(&var.value, vars.keys().map(String::as_str)) {
            Some(near) => problem.help(format!("did you mean `{near}`?")),
            None => problem.help(format!(
                "define it in `[vars]`, e.g. `{} = \"48h\"`, or write the duration itself",
                var.value
            )),
        },
    );
    None
}

#[cfg(test)]
mod tests {
    use super::var_reference;

    #[test]
    fn only_a_whole_var_reference_names_a_var() {
        assert_eq!(var_reference("{{ vars.window }}"), Some("window"));
        assert_eq!(var_reference("{{vars.soak_window}}"), Some("soak_window"));
        assert_eq!(var_reference("48h"), None);
        assert_eq!(var_reference("{{ vars.a }}s"), None);
        assert_eq!(var_reference("{{ secrets.a }}"), None);
        assert_eq!(var_reference("{{ vars. }}"), None);
    }
}
