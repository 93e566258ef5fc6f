//! A plan file that is not UTF-8: every undecodable byte sequence becomes a problem located
//! like any other, in a lossy copy of the text where it shows as `�`.

use crate::problem::{PlanErrors, Problem, Span};

/// The problems of `bytes`, which are not valid UTF-8, as the file `file`.
pub(crate) fn not_utf8(bytes: &[u8], file: &str) -> PlanErrors {
    let mut text = String::with_capacity(bytes.len());
    let mut problems = Vec::new();
    let mut offset = 0;
    for chunk in bytes.utf8_chunks() {
        text.push_str(chunk.valid());
        offset += chunk.valid().len();
        let bad = chunk.invalid();
        if bad.is_empty() {
            continue;
        }
        let start = text.len();
        text.push(char::REPLACEMENT_CHARACTER);
        let shown: Vec<String> = bad.iter().map(|b| format!("0x{b:02X}")).collect();
        let noun = if bad.len() == 1 { "byte" } else { "bytes" };
        problems.push(
            Problem::new(
                Span::new(start, text.len()),
                format!(
                    "the file is not valid UTF-8: {noun} {} at byte offset {offset}",
                    shown.join(" ")
                ),
                "not UTF-8",
            )
            .help("save the file as UTF-8 (from Latin-1: `iconv -f LATIN1 -t UTF-8`); the rest of the plan is checked once it reads as text"),
        );
        offset += bad.len();
    }
    PlanErrors::new(file, text.into(), problems)
}
