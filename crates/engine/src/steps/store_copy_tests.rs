//! The copy runner with a fake store: what it journals for a copy, and that a journaling
//! error met while the copy ran fails the step.

use super::*;
use crate::step_harness::Harness;
use cutover_data::proof::Figure;
use cutover_journal::Event;

struct FakeSide(&'static str);

impl Place for FakeSide {
    fn host(&self) -> &str {
        self.0
    }
    fn describe(&self) -> String {
        format!("db on {}", self.0)
    }
}

struct FakeReport;

impl Copied for FakeReport {
    fn tables(&self) -> Vec<TableCopied> {
        vec![table("s.a", 3), table("s.b", 4)]
    }
    fn totals(&self) -> (u64, u64, f64) {
        (7, 2_000_000, 1.5)
    }
    fn figures(&self) -> Vec<Figure> {
        vec![Figure::new("lock_ms", 12.0, "ms")]
    }
    fn notes(&self) -> Vec<String> {
        vec!["one thing left out".into()]
    }
    fn summary(&self) -> String {
        "copied 2 tables".into()
    }
}

fn table(name: &str, rows: u64) -> TableCopied {
    TableCopied {
        name: name.into(),
        rows,
        bytes: 1_000_000,
        seconds: 0.5,
    }
}

/// Reports its tables as it copies; `fail_journal` makes one journaling step fail.
struct FakeStore {
    fail_journal: bool,
}

#[async_trait]
impl Copier for FakeStore {
    type Report = FakeReport;
    type Side = FakeSide;

    fn plan(&self, _: &Values<'_>) -> Result<Vec<String>, EngineError> {
        Ok(vec![])
    }
    async fn in_place(&self, _: &StepCtx<'_>) -> Result<bool, EngineError> {
        Ok(false)
    }
    async fn sides(&self, _: &StepCtx<'_>) -> Result<[FakeSide; 2], EngineError> {
        Ok([FakeSide("old"), FakeSide("new")])
    }
    async fn copy(
        &self,
        ctx: &StepCtx<'_>,
        _: &[FakeSide; 2],
        journal: &CopyJournal,
    ) -> Result<FakeReport, EngineError> {
        for t in FakeReport.tables() {
            journal.table(ctx, &t);
        }
        if self.fail_journal {
            journal.keep(Err(ctx.failed("the journal is full")));
        }
        Ok(FakeReport)
    }
    async fn undo(&self, _: &StepCtx<'_>) -> Result<String, EngineError> {
        Ok(String::new())
    }
}

#[tokio::test]
async fn a_copy_is_journaled_as_a_command_with_its_tables_totals_and_figures() {
    let h = Harness::new();
    let applied = StoreCopy(FakeStore {
        fail_journal: false,
    })
    .apply(&h.ctx())
    .await
    .expect("applied");
    let Applied::Done { summary } = applied;
    assert_eq!(summary, "copied 2 tables");
    assert_eq!(
        h.shown(),
        vec![
            "s.a: 3 rows, 1.0 MB in 0.5s",
            "s.b: 4 rows, 1.0 MB in 0.5s",
            "note: one thing left out"
        ]
    );
    let journaled: Vec<String> = h
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::CommandStarted { host, command, .. } => Some(format!("{host}: {command}")),
            Event::CommandFinished { stdout, .. } => Some(format!("output: {stdout}")),
            Event::Measured { name, value, .. } => Some(format!("{name}={value}")),
            _ => None,
        })
        .collect();
    assert_eq!(
        journaled,
        vec![
            "old -> new: copy db on old into db on new",
            "rows s.a=3",
            "bytes s.a=1000000",
            "rows s.b=4",
            "bytes s.b=1000000",
            "output: s.a\t3 rows\t1.0 MB\t0.5s\ns.b\t4 rows\t1.0 MB\t0.5s",
            "tables=2",
            "rows=7",
            "bytes=2000000",
            "lock_ms=12",
            "seconds=1.5",
        ]
    );
}

#[tokio::test]
async fn a_journaling_error_during_the_copy_fails_the_step() {
    let h = Harness::new();
    let failed = StoreCopy(FakeStore { fail_journal: true })
        .apply(&h.ctx())
        .await;
    let error = failed.expect_err("the step fails").to_string();
    assert!(error.contains("the journal is full"), "{error}");
    assert!(
        !h.events()
            .iter()
            .any(|e| matches!(e, Event::CommandFinished { .. })),
        "a copy whose journal failed was journaled as finished"
    );
}
