//! The plan reader on arbitrary bytes, as `cutover check` runs it: reading, validation, and
//! every problem rendered (excerpt, `file:line:col`, JSON location) must never panic, and
//! every problem must point inside the text, on character boundaries.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let errors = match cutover_plan::parse_bytes(bytes, "cutover.toml", "/plans".into()) {
        Ok(plan) => {
            // `cutover plan --json` and the report serialize the plan.
            serde_json::to_string(&plan).expect("a plan serializes");
            return;
        }
        Err(errors) => errors,
    };
    assert!(!errors.problems.is_empty(), "rejected without a problem");
    for p in &errors.problems {
        let (start, end) = (p.span.start, p.span.end);
        assert!(
            start <= end && end <= errors.src.len(),
            "span {start}..{end} outside the text"
        );
        assert!(
            errors.src.is_char_boundary(start) && errors.src.is_char_boundary(end),
            "span {start}..{end} splits a character"
        );
        errors.line_col(p);
    }
    errors.plain_lines();
    // Only the first problem is rendered in full: miette's rendering (and its line wrapping)
    // took nine tenths of every run; the span checks above are what it relies on, and the
    // plan crate's mutation test renders every problem of its damaged plans.
    let handler =
        miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
            .with_context_lines(1);
    for (i, d) in errors.diagnostics().enumerate() {
        use miette::Diagnostic;
        assert!(
            d.labels().is_some_and(|mut l| l.next().is_some()),
            "a problem without a label"
        );
        if i == 0 {
            let mut out = String::new();
            handler
                .render_report(&mut out, &d)
                .expect("a problem renders");
        }
    }
});
