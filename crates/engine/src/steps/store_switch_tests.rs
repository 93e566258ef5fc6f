//! The switch runner with a fake store: what it journals of a switch and of a resumed one,
//! and that what the store made ready ahead of a move reaches its switch and its undo.

use super::*;
use crate::step_harness::Harness;
use cutover_data::proof::Figure;
use cutover_journal::Event;
use std::sync::Mutex;

struct FakeReport {
    resumed: bool,
}

impl Switched for FakeReport {
    fn resumed(&self) -> bool {
        self.resumed
    }
    fn window(&self) -> (i64, f64) {
        (1_000_000, 0.25)
    }
    fn catch_up(&self) -> f64 {
        0.125
    }
    fn figures(&self) -> Vec<Figure> {
        vec![Figure::new("sequences", 3.0, "sequences")]
    }
    fn summary(&self) -> String {
        if self.resumed {
            "switched by the interrupted attempt".into()
        } else {
            "writes frozen 0.250s".into()
        }
    }
    fn notes(&self) -> Vec<String> {
        vec!["the source was paused already".into()]
    }
}

/// Records what the runner handed it.
#[derive(Default)]
struct FakeStore {
    resumed: bool,
    switched_with: Mutex<Option<Option<&'static str>>>,
    undone_with: Mutex<Option<Option<u32>>>,
}

#[async_trait]
impl Switcher for &FakeStore {
    type Report = FakeReport;
    type Ready = &'static str;
    type ReadyUndo = u32;

    fn plan(&self, _: &Values<'_>) -> Result<Vec<String>, EngineError> {
        Ok(vec!["freeze".into()])
    }
    async fn is_switched(&self, _: &StepCtx<'_>) -> Result<bool, EngineError> {
        Ok(true)
    }
    async fn prepare(&self, _: &StepCtx<'_>) -> Result<Option<&'static str>, EngineError> {
        Ok(Some("checked ahead"))
    }
    async fn switch(
        &self,
        _: &StepCtx<'_>,
        ready: Option<&'static str>,
    ) -> Result<FakeReport, EngineError> {
        *self.switched_with.lock().unwrap() = Some(ready);
        Ok(FakeReport {
            resumed: self.resumed,
        })
    }
    async fn prepare_undo(&self, _: &StepCtx<'_>) -> Result<Option<u32>, EngineError> {
        Ok(Some(7))
    }
    async fn undo(
        &self,
        _: &StepCtx<'_>,
        ready: Option<u32>,
    ) -> Result<Option<String>, EngineError> {
        *self.undone_with.lock().unwrap() = Some(ready);
        Ok(Some("source writable again".into()))
    }
}

/// `name=value` for each measure, `outage what from..to` for each outage, in order.
fn journaled(h: &Harness) -> Vec<String> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Measured { name, value, .. } => Some(format!("{name}={value}")),
            Event::Outage {
                what,
                from_ms,
                to_ms,
                ..
            } => Some(format!("outage {what} {from_ms}..{to_ms}")),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_switch_journals_its_window_as_a_measure_and_an_outage() {
    let store = FakeStore::default();
    let h = Harness::new();
    let Applied::Done { summary } = StoreSwitch(&store).apply(&h.ctx()).await.expect("applied");
    assert_eq!(summary, "target is the primary: writes frozen 0.250s");
    assert_eq!(h.shown(), vec!["note: the source was paused already"]);
    assert_eq!(
        journaled(&h),
        vec![
            "freeze_window=0.25",
            "outage writes frozen 1000000..1000250",
            "catch_up=0.125",
            "sequences=3",
        ]
    );
}

#[tokio::test]
async fn a_switch_a_resumed_attempt_finished_measures_nothing() {
    let store = FakeStore {
        resumed: true,
        ..FakeStore::default()
    };
    let h = Harness::new();
    let Applied::Done { summary } = StoreSwitch(&store).apply(&h.ctx()).await.expect("applied");
    assert_eq!(
        summary,
        "target is the primary: switched by the interrupted attempt"
    );
    assert!(journaled(&h).is_empty(), "{:?}", journaled(&h));
}

#[tokio::test]
async fn what_the_store_made_ready_ahead_of_a_move_reaches_its_switch() {
    let store = FakeStore::default();
    let h = Harness::new();
    let ctx = h.ctx();
    let runner = StoreSwitch(&store);
    *ctx.prepared.lock().unwrap() = runner.prepare(&ctx).await.expect("prepared");
    runner.apply(&ctx).await.expect("applied");
    assert_eq!(
        *store.switched_with.lock().unwrap(),
        Some(Some("checked ahead"))
    );
    // Without a move, the store does all its work in the switch.
    let h = Harness::new();
    runner.apply(&h.ctx()).await.expect("applied");
    assert_eq!(*store.switched_with.lock().unwrap(), Some(None));
}

#[tokio::test]
async fn what_the_store_made_ready_ahead_of_a_move_back_reaches_its_undo() {
    let store = FakeStore::default();
    let h = Harness::new();
    let ctx = h.ctx();
    let runner = StoreSwitch(&store);
    *ctx.prepared.lock().unwrap() = runner.prepare_undo(&ctx).await.expect("prepared");
    let undone = runner.rollback(&ctx).await.expect("undone");
    assert_eq!(undone.as_deref(), Some("source writable again"));
    assert_eq!(*store.undone_with.lock().unwrap(), Some(Some(7)));
}

#[test]
fn every_switch_is_applied_again_when_resumed_and_undone_when_it_failed() {
    let store = FakeStore::default();
    let runner = StoreSwitch(&store);
    assert!(runner.reattaches());
    assert!(runner.undoes_failed());
}
