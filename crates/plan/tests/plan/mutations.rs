//! Property test: randomly damaged starter plans never make the reader panic, and every
//! problem it reports points inside the file, on character boundaries, and renders.

use cutover_plan::templates::TEMPLATES;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// How many damaged plans are tried (each with 1 to 3 mutations).
const VARIANTS: usize = 2000;

/// splitmix64: a tiny deterministic generator, so a failure reproduces from its variant number.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (`n` > 0).
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// Text that tends to upset a TOML reader or a plan: quotes, brackets, references, a
/// multi-byte character, values of every type.
const SNIPPETS: &[&str] = &[
    "\"",
    "'",
    "[",
    "]",
    "{",
    "}",
    "=",
    ".",
    ",",
    "\n",
    "\\",
    "é",
    "😀",
    "{{",
    "}}",
    "#",
    "\"\"\"",
    "[[",
    "]]",
    " = ",
    "{{ secrets.db_password }}",
    "{{ hosts.",
    "0x",
    "1e999",
];
const VALUES: &[&str] = &[
    "1",
    "-1",
    "70000",
    "true",
    "[]",
    "{}",
    "\"\"",
    "\"x\"",
    "[1, \"a\"]",
    "{ a = 1 }",
    "\"{{\"",
    "\"{{ vars.nope }}\"",
    "2026-12-01",
    "\"30 parsecs\"",
    "\"é\\u00e9\"",
    "3.5",
];

/// One random edit of `src`.
fn mutate(src: &str, rng: &mut Rng) -> String {
    let lines: Vec<&str> = src.split_inclusive('\n').collect();
    let line = rng
        .below(lines.len().max(1))
        .min(lines.len().saturating_sub(1));
    let boundaries: Vec<usize> = src
        .char_indices()
        .map(|(i, _)| i)
        .chain([src.len()])
        .collect();
    let at = rng.pick(&boundaries);
    match rng.below(7) {
        // Delete one character.
        0 => {
            let mut s = src.to_string();
            if at < s.len() {
                s.remove(at);
            }
            s
        }
        // Delete a line.
        1 => lines
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != line)
            .map(|(_, l)| *l)
            .collect(),
        // Duplicate a line.
        2 => {
            let mut out: Vec<&str> = lines.clone();
            if let Some(l) = lines.get(line) {
                out.insert(line, l);
            }
            out.concat()
        }
        // Swap the values of two `key = value` lines.
        3 => {
            let assignments: Vec<usize> = (0..lines.len())
                .filter(|i| !lines[*i].starts_with('#') && lines[*i].contains(" = "))
                .collect();
            if assignments.len() < 2 {
                return src.to_string();
            }
            let (a, b) = (rng.pick(&assignments), rng.pick(&assignments));
            let split = |l: &str| {
                let (k, v) = l.split_once(" = ").unwrap_or((l, ""));
                (k.to_string(), v.to_string())
            };
            let ((ka, va), (kb, vb)) = (split(lines[a]), split(lines[b]));
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            out[a] = format!("{ka} = {vb}");
            out[b] = format!("{kb} = {va}");
            out.concat()
        }
        // Replace a value with one of another type.
        4 => {
            let mut out: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            if let Some((k, _)) = lines.get(line).and_then(|l| l.split_once(" = ")) {
                out[line] = format!("{k} = {}\n", rng.pick(VALUES));
            }
            out.concat()
        }
        // Insert a troublesome snippet.
        5 => {
            let mut s = src.to_string();
            s.insert_str(at, rng.pick(SNIPPETS));
            s
        }
        // Cut the file short.
        _ => src[..at].to_string(),
    }
}

/// Checks what `parse` says about `src`; `Err` says what is wrong with the report.
fn check(src: &str) -> Result<bool, String> {
    let errors = match catch_unwind(AssertUnwindSafe(|| {
        cutover_plan::parse(src, "cutover.toml", "/plans".into())
    })) {
        Err(_) => return Err("parse panicked".into()),
        Ok(Ok(_)) => return Ok(false),
        Ok(Err(errors)) => errors,
    };
    if errors.problems.is_empty() {
        return Err("rejected without a problem".into());
    }
    for p in &errors.problems {
        let s = p.span;
        if s.start > s.end || s.end > src.len() {
            return Err(format!(
                "span {}..{} outside 0..{}: {}",
                s.start,
                s.end,
                src.len(),
                p.message
            ));
        }
        if !src.is_char_boundary(s.start) || !src.is_char_boundary(s.end) {
            return Err(format!(
                "span {}..{} not on char boundaries: {}",
                s.start, s.end, p.message
            ));
        }
        if p.message.is_empty() || p.label.is_empty() {
            return Err(format!("empty message or label at {}..{}", s.start, s.end));
        }
    }
    if !errors
        .problems
        .windows(2)
        .all(|w| w[0].span.start <= w[1].span.start)
    {
        return Err("problems are not in file order".into());
    }
    // The renderers must cope with every span too.
    let lines = errors.plain_lines();
    let handler = miette::NarratableReportHandler::new();
    for d in errors.diagnostics() {
        let mut out = String::new();
        match catch_unwind(AssertUnwindSafe(|| handler.render_report(&mut out, &d))) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(format!("rendering `{d}` failed: {e}")),
            Err(_) => return Err(format!("rendering `{d}` panicked")),
        }
    }
    assert_eq!(lines.len(), errors.problems.len());
    Ok(true)
}

#[test]
fn damaged_starter_plans_never_panic_and_spans_stay_in_the_file() {
    let mut rng = Rng(0x00C0_FFEE);
    let mut failures = Vec::new();
    let mut rejected = 0;
    for variant in 0..VARIANTS {
        let starter = &TEMPLATES[rng.below(TEMPLATES.len())];
        let mut src = starter.text.to_string();
        for _ in 0..=rng.below(3) {
            src = mutate(&src, &mut rng);
        }
        match check(&src) {
            Ok(was_rejected) => rejected += usize::from(was_rejected),
            Err(why) if failures.len() < 5 => failures.push(format!(
                "variant {variant} of `{}`: {why}\n---\n{src}---",
                starter.name
            )),
            Err(_) => failures.push(format!("variant {variant}")),
        }
    }
    assert!(
        failures.is_empty(),
        "{} variants failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The mutations must actually damage most plans, or this test proves little.
    assert!(
        rejected > VARIANTS / 2,
        "only {rejected} of {VARIANTS} variants were rejected"
    );
}
