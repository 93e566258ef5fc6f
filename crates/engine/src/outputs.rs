//! Values steps captured from their output (`outputs`), as the run knows them: read back from
//! the journal for every step, so that a resumed run and a rollback see the values the first
//! attempt captured.
//!
//! A secret output is journaled sealed (XChaCha20-Poly1305) with a key derived from the
//! run's id and the plan's secret values, never stored. Capturing it again instead was
//! rejected: the value is often what the step itself then changes (the previous token, the
//! old password), so a second capture would return the new one and the undo would restore
//! the wrong thing. Deriving rather than keeping the key only in memory lets a controller
//! that crashed resume and roll back; the price is that the plan's secrets must be the same
//! when it does, which unsealing checks (the seal is authenticated) and says so.

use crate::error::EngineError;
use crate::secrets::Secrets;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::XChaCha20Poly1305;
use cutover_exec::{Redactor, SecretValue};
use cutover_journal::Event;
use cutover_journal::{OutputValue, RunState};
use cutover_plan::Template;
use std::collections::BTreeMap;

/// The key secret outputs of one run are sealed with.
pub struct SealKey([u8; 32]);

impl SealKey {
    /// The key of run `run_id` given the plan's `secrets`.
    pub fn derive(run_id: &str, secrets: &Secrets) -> Self {
        let mut hasher =
            blake3::Hasher::new_derive_key("cutover 2026-12 sealed step outputs of one run");
        let mut field = |bytes: &[u8]| {
            hasher.update(&(bytes.len() as u64).to_le_bytes());
            hasher.update(bytes);
        };
        field(run_id.as_bytes());
        for (name, value) in secrets.iter() {
            field(name.as_bytes());
            field(value.expose().as_bytes());
        }
        SealKey(*hasher.finalize().as_bytes())
    }

    /// `value` sealed for output `name` of step `step` (bound to both, so that a sealed
    /// value cannot be moved to another output).
    pub fn seal(&self, step: &str, name: &str, value: &str) -> Result<OutputValue, String> {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = format!("{step}\0{name}");
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: value.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| "cannot seal the value".to_string())?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&sealed);
        Ok(OutputValue::Sealed {
            sealed: hex::encode(bytes),
        })
    }

    fn unseal(&self, step: &str, name: &str, sealed: &str) -> Result<String, String> {
        let stale = || {
            format!(
                "the journaled value of secret output `steps.{step}.{name}` cannot be unsealed: the plan's secrets are not the ones it was captured with (its key is derived from them); run with the same secret values, or apply step `{step}` again in a new run"
            )
        };
        let bytes = hex::decode(sealed).map_err(|_| stale())?;
        if bytes.len() < 24 {
            return Err(stale());
        }
        let (nonce, body) = bytes.split_at(24);
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let aad = format!("{step}\0{name}");
        let plain = cipher
            .decrypt(
                nonce.into(),
                Payload {
                    msg: body,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| stale())?;
        String::from_utf8(plain).map_err(|_| stale())
    }
}

/// One captured value.
#[derive(Clone)]
enum Value {
    Plain(String),
    Secret(SecretValue),
    /// Journaled but not readable now; why, for whoever uses it.
    Unreadable(String),
}

/// The outputs captured so far in a run, by (step, name).
#[derive(Default, Clone)]
pub struct Outputs {
    values: BTreeMap<(String, String), Value>,
    /// Secret values seen again but not kept (a step that ran again in the run keeps its
    /// first capture): redacted all the same.
    shadows: Vec<(String, SecretValue)>,
}

impl Outputs {
    /// The outputs `state` journaled, secret ones unsealed with `key`.
    pub fn from_state(state: &RunState, key: &SealKey) -> Self {
        let mut values = BTreeMap::new();
        for step in &state.steps {
            for (name, value) in &step.outputs {
                let v = match value {
                    OutputValue::Plain { value } => Value::Plain(value.clone()),
                    OutputValue::Sealed { sealed } => match key.unseal(&step.id, name, sealed) {
                        Ok(v) => Value::Secret(SecretValue::new(v)),
                        Err(why) => Value::Unreadable(why),
                    },
                };
                values.insert((step.id.clone(), name.clone()), v);
            }
        }
        Outputs {
            values,
            shadows: Vec::new(),
        }
    }

    /// True when output `name` of step `step` is known (journaled earlier in the run).
    pub fn has(&self, step: &str, name: &str) -> bool {
        self.values
            .contains_key(&(step.to_string(), name.to_string()))
    }

    /// A secret value read again but not kept: only redacted.
    pub fn shadow(&mut self, step: &str, name: &str, value: String) {
        self.shadows
            .push((format!("steps.{step}.{name}"), SecretValue::new(value)));
    }

    /// Adds a value captured just now (so that the rest of the step, its health checks, sees
    /// it too).
    pub fn insert(&mut self, step: &str, name: &str, value: String, secret: bool) {
        let v = if secret {
            Value::Secret(SecretValue::new(value))
        } else {
            Value::Plain(value)
        };
        self.values.insert((step.to_string(), name.to_string()), v);
    }

    /// The value of output `name` of step `step`; `reveal` false masks a secret one.
    pub fn get(&self, step: &str, name: &str, reveal: bool) -> Result<String, String> {
        match self.values.get(&(step.to_string(), name.to_string())) {
            Some(Value::Plain(v)) => Ok(v.clone()),
            Some(Value::Secret(v)) if reveal => Ok(v.expose().to_string()),
            Some(Value::Secret(_)) => Ok("***".into()),
            Some(Value::Unreadable(why)) => Err(why.clone()),
            None => Err(format!(
                "step `{step}` has not captured `{name}` in this run (it was skipped because its `check` passed, or has not run); run it, or capture the value in a step that always runs"
            )),
        }
    }

    /// Replaces every secret value captured so far with `[redacted:steps.STEP.NAME]`.
    pub fn redactor(&self) -> Redactor {
        let names: Vec<(String, &SecretValue)> = self
            .values
            .iter()
            .filter_map(|((step, name), v)| match v {
                Value::Secret(s) => Some((format!("steps.{step}.{name}"), s)),
                _ => None,
            })
            .chain(self.shadows.iter().map(|(n, v)| (n.clone(), v)))
            .collect();
        Redactor::new(names.iter().map(|(n, v)| (n.as_str(), *v)))
    }
}

/// Capturing and using outputs, for the step kinds that print.
impl crate::context::StepCtx<'_> {
    /// The outputs captured so far, as they stand now.
    pub fn outputs_now(&self) -> Outputs {
        self.outputs.read().map(|o| o.clone()).unwrap_or_default()
    }

    /// True when `t` names a secret or a secret output.
    pub fn uses_secrets(&self, t: &Template) -> bool {
        t.uses_secrets_in(&|step, name| self.plan.is_secret_output(step, name))
    }

    /// Captures this step's `outputs` from `stdout` (of a command that succeeded) and makes
    /// them known to the rest of the step; returns the names captured anew. An output this
    /// step already captured in the run (it ran again: resumed or retried) keeps its first
    /// value, what the step read before it changed anything. Every value found is kept even
    /// when another is not, so that a secret one is still redacted from the output of the
    /// failed step.
    pub(crate) fn capture(
        &self,
        outputs: &BTreeMap<String, cutover_plan::steps::Output>,
        stdout: &str,
    ) -> Result<Vec<String>, EngineError> {
        let mut known = self
            .outputs
            .write()
            .map_err(|_| self.failed("outputs lock poisoned"))?;
        let mut first_error = None;
        let mut fresh = Vec::new();
        for (name, output) in outputs {
            match output.extract(stdout) {
                Ok(value) if known.has(self.id(), name) => {
                    if output.secret {
                        known.shadow(self.id(), name, value);
                    }
                }
                Ok(value) => {
                    known.insert(self.id(), name, value, output.secret);
                    fresh.push(name.clone());
                }
                Err(why) => {
                    first_error.get_or_insert(crate::outputs::capture_failed(
                        self.id(),
                        name,
                        &why,
                    ));
                }
            }
        }
        first_error.map_or(Ok(fresh), Err)
    }

    /// Journals what [`capture`](Self::capture) found anew, `fresh` (after the command's own
    /// record).
    pub(crate) fn record_captures(
        &self,
        outputs: &BTreeMap<String, cutover_plan::steps::Output>,
        fresh: &[String],
    ) -> Result<(), EngineError> {
        for (name, output) in outputs {
            if !fresh.contains(name) {
                self.detail(format!(
                    "steps.{}.{name}: kept from this run's first capture",
                    self.id()
                ));
                continue;
            }
            let value = {
                let known = self
                    .outputs
                    .read()
                    .map_err(|_| self.failed("outputs lock poisoned"))?;
                known.get(self.id(), name, true)
            }
            .map_err(|why| crate::outputs::capture_failed(self.id(), name, &why))?;
            let value = if output.secret {
                self.seal_key
                    .seal(self.id(), name, &value)
                    .map_err(|why| crate::outputs::capture_failed(self.id(), name, &why))?
            } else {
                cutover_journal::OutputValue::Plain { value }
            };
            self.record(Event::OutputCaptured {
                step: self.id().to_string(),
                name: name.clone(),
                value,
            })?;
            if !output.secret {
                if let Ok(v) = self.outputs.read().map(|o| o.get(self.id(), name, false)) {
                    self.detail(format!(
                        "steps.{}.{name} = {}",
                        self.id(),
                        v.unwrap_or_default()
                    ));
                }
            } else {
                self.detail(format!("steps.{}.{name} captured (secret)", self.id()));
            }
        }
        Ok(())
    }

    /// Secret outputs known so far removed from `text`.
    pub(crate) fn redact_outputs(&self, text: &str) -> String {
        match self.outputs.read() {
            Ok(o) => o.redactor().redact(text),
            // Nothing known is safer shown as nothing.
            Err(_) => String::new(),
        }
    }
}

/// Why capturing failed, for the step's error.
pub fn capture_failed(step: &str, name: &str, why: &str) -> EngineError {
    EngineError::StepFailed {
        step: step.to_string(),
        message: format!("cannot capture output `{name}`: {why}"),
        class: cutover_exec::FailureClass::Failed,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_only_with_the_same_run_secrets_and_output() {
        let secrets = Secrets::from_values([("pw", "hunter2-canary")]);
        let key = SealKey::derive("run-1", &secrets);
        let OutputValue::Sealed { sealed } = key.seal("a", "token", "tok-canary").unwrap() else {
            panic!("not sealed")
        };
        assert!(!sealed.contains("tok-canary"));
        assert_eq!(key.unseal("a", "token", &sealed).unwrap(), "tok-canary");
        assert!(
            key.unseal("a", "other", &sealed).is_err(),
            "moved to another output"
        );
        let other = SealKey::derive("run-1", &Secrets::from_values([("pw", "changed")]));
        assert!(other
            .unseal("a", "token", &sealed)
            .unwrap_err()
            .contains("the plan's secrets are not the ones it was captured with"));
        let other_run = SealKey::derive("run-2", &secrets);
        assert!(other_run.unseal("a", "token", &sealed).is_err());
    }
}
