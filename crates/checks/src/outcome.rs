//! What one run of a probe found.

use std::time::Duration;

/// The outcome of one probe run: pass or fail, how long it took, one line on what was seen,
/// and every expectation that failed.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Outcome {
    /// Every expectation held.
    pub ok: bool,
    /// How long the probe took.
    #[serde(serialize_with = "millis")]
    pub latency: Duration,
    /// What was seen, e.g. "200 in 12 ms from 198.51.100.20:443, TLSv1.3, certificate for
    /// app.example.test (Test CA) valid 89 more days".
    pub summary: String,
    /// What did not hold, one line each.
    pub failures: Vec<String>,
}

impl Outcome {
    /// A passing outcome.
    pub fn pass(latency: Duration, summary: impl Into<String>) -> Self {
        Outcome {
            ok: true,
            latency,
            summary: summary.into(),
            failures: Vec::new(),
        }
    }

    /// A failed outcome with one reason.
    pub fn fail(latency: Duration, summary: impl Into<String>, why: impl Into<String>) -> Self {
        Outcome {
            ok: false,
            latency,
            summary: summary.into(),
            failures: vec![why.into()],
        }
    }

    /// An outcome from a summary and the list of failed expectations (empty: pass).
    pub fn judged(latency: Duration, summary: impl Into<String>, failures: Vec<String>) -> Self {
        Outcome {
            ok: failures.is_empty(),
            latency,
            summary: summary.into(),
            failures,
        }
    }

    /// One line: the summary, then the failures.
    pub fn line(&self) -> String {
        if self.failures.is_empty() {
            self.summary.clone()
        } else if self.summary.is_empty() {
            self.failures.join("; ")
        } else {
            format!("{}; {}", self.summary, self.failures.join("; "))
        }
    }
}

fn millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// A duration for people: "850 µs", "12 ms", "1.4 s".
pub fn short(d: Duration) -> String {
    let us = d.as_micros();
    if us < 1000 {
        format!("{us} µs")
    } else if us < 10_000_000 {
        format!("{} ms", us / 1000)
    } else {
        format!("{:.1} s", d.as_secs_f64())
    }
}
