//! Numbers and durations, read only within the range `limits.rs` gives each field: there is
//! no unbounded reader for them, so a new field cannot skip its range.

use crate::limits::{self, DurationRange, IntRange};
use crate::problem::{Problem, Problems};
use crate::read::{type_name, wrong_type, Fields, Spanned};
use std::fmt;
use std::time::Duration;
use toml_span::value::{Value, ValueInner};

impl Fields<'_> {
    /// Reads an optional duration that must lie in `range`.
    pub fn duration(
        &mut self,
        key: &str,
        range: &DurationRange,
        p: &mut Problems,
    ) -> Option<Duration> {
        let mut value = self.take_raw(key)?;
        read_duration(
            &mut value,
            &format!("`{key}` of {}", self.owner()),
            range,
            p,
        )
    }

    /// Reads a duration that must be present and lie in `range`.
    pub fn required_duration(
        &mut self,
        key: &str,
        range: &DurationRange,
        p: &mut Problems,
    ) -> Option<Duration> {
        if !self.present(key, p) {
            return None;
        }
        self.duration(key, range, p)
    }

    /// Reads an optional integer that must lie in `range`.
    pub fn int<T>(&mut self, key: &str, range: &IntRange<T>, p: &mut Problems) -> Option<T>
    where
        T: Copy + Into<i128> + TryFrom<i128> + fmt::Display,
    {
        self.spanned_int(key, range, p).map(|v| v.value)
    }

    /// Reads an optional integer that must lie in `range`, with its location.
    pub fn spanned_int<T>(
        &mut self,
        key: &str,
        range: &IntRange<T>,
        p: &mut Problems,
    ) -> Option<Spanned<T>>
    where
        T: Copy + Into<i128> + TryFrom<i128> + fmt::Display,
    {
        let mut value = self.take_raw(key)?;
        let span = value.span;
        read_int(
            &mut value,
            &format!("`{key}` of {}", self.owner()),
            range,
            p,
        )
        .map(|value| Spanned { value, span })
    }
}

/// Reads an integer that must lie in `range`.
pub fn read_int<T>(
    value: &mut Value<'_>,
    what: &str,
    range: &IntRange<T>,
    p: &mut Problems,
) -> Option<T>
where
    T: Copy + Into<i128> + TryFrom<i128> + fmt::Display,
{
    let expected = format!("an integer from {} to {}", range.min, range.max);
    match value.take() {
        ValueInner::Integer(i) => {
            let wide = i128::from(i);
            match T::try_from(wide) {
                Ok(v) if (range.min.into()..=range.max.into()).contains(&wide) => Some(v),
                _ => {
                    p.push(
                        Problem::new(
                            value.span,
                            format!("{what} must be {expected}, found {i}"),
                            "out of range",
                        )
                        .help(range.why),
                    );
                    None
                }
            }
        }
        other => {
            wrong_type(value.span, what, &expected, &other, p);
            None
        }
    }
}

/// Reads a duration written with its unit ("30s") that must lie in `range`.
pub fn read_duration(
    value: &mut Value<'_>,
    what: &str,
    range: &DurationRange,
    p: &mut Problems,
) -> Option<Duration> {
    let expected = "a duration such as \"30s\", \"5m\" or \"48h\"";
    let text = match value.take() {
        ValueInner::String(s) => s,
        other => {
            let mut problem = Problem::new(
                value.span,
                format!("{what} must be {expected}, found {}", type_name(&other)),
                format!("expected {expected}"),
            );
            if let ValueInner::Integer(i) = other {
                problem = problem.help(format!("durations carry a unit: write \"{i}s\""));
            }
            p.push(problem);
            return None;
        }
    };
    let d = match humantime::parse_duration(&text) {
        Ok(d) => d,
        Err(e) => {
            p.push(
                Problem::new(
                    value.span,
                    format!("{what} is not a valid duration: {e}"),
                    "invalid duration",
                )
                .help("write a number with a unit: \"500ms\", \"30s\", \"5m\", \"2h\", \"7d\""),
            );
            return None;
        }
    };
    let problem = if d < range.min || d > range.max {
        Problem::new(
            value.span,
            format!(
                "{what} must be a duration from {} to {}, found \"{text}\"",
                limits::show(range.min),
                limits::show(range.max)
            ),
            "out of range",
        )
    } else if range.whole_seconds && d.subsec_nanos() != 0 {
        Problem::new(
            value.span,
            format!("{what} must be a whole number of seconds, found \"{text}\""),
            "not whole seconds",
        )
    } else {
        return Some(d);
    };
    p.push(problem.help(range.why));
    None
}
