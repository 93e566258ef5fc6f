//! Reading secret values from their sources on the controller, once per command.

use crate::error::EngineError;
use cutover_exec::{Redactor, SecretValue};
use cutover_plan::{Plan, SecretSource};
use std::collections::BTreeMap;

/// The plan's secret values, by name.
#[derive(Default, Clone)]
pub struct Secrets(BTreeMap<String, SecretValue>);

impl Secrets {
    /// Reads every secret of `plan`; the first that cannot be read is an error naming it.
    pub fn resolve(plan: &Plan) -> Result<Self, EngineError> {
        let mut values = BTreeMap::new();
        for secret in &plan.secrets {
            let name = secret.name.value.clone();
            let value =
                read_source(plan, &secret.source).map_err(|reason| EngineError::Secret {
                    name: name.clone(),
                    reason,
                })?;
            values.insert(name, SecretValue::new(value));
        }
        Ok(Secrets(values))
    }

    /// The value of secret `name`.
    pub fn get(&self, name: &str) -> Option<&SecretValue> {
        self.0.get(name)
    }

    /// Every secret, by name in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// Secrets with the given values (for tests and tools).
    pub fn from_values<'a>(values: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Secrets(
            values
                .into_iter()
                .map(|(k, v)| (k.to_string(), SecretValue::new(v.to_string())))
                .collect(),
        )
    }

    /// A redactor for every value.
    pub fn redactor(&self) -> Redactor {
        Redactor::new(self.0.iter().map(|(k, v)| (k.as_str(), v)))
    }
}

/// Reads one source; the error says what to do.
pub fn read_source(plan: &Plan, source: &SecretSource) -> Result<String, String> {
    let value = match source {
        SecretSource::Env(var) => std::env::var(var).map_err(|_| {
            format!("environment variable {var} is not set; export it before running cutover")
        })?,
        SecretSource::File(path) => {
            let path = plan.dir.join(path);
            std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        }
        SecretSource::Command(cmd) => {
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .current_dir(&plan.dir)
                .stderr(std::process::Stdio::inherit())
                .output()
                .map_err(|e| format!("cannot run `{cmd}`: {e}"))?;
            if !out.status.success() {
                return Err(format!("`{cmd}` exited with {}", out.status));
            }
            String::from_utf8(out.stdout)
                .map_err(|_| format!("`{cmd}` printed something that is not UTF-8"))?
        }
    };
    let value = value.strip_suffix('\n').unwrap_or(&value);
    let value = value.strip_suffix('\r').unwrap_or(value);
    if value.is_empty() {
        return Err("the value is empty".into());
    }
    Ok(value.to_string())
}
