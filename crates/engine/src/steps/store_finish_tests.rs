//! The finish runner with a fake store: its plan's frame, the begin journaled after the
//! store's reads and before its changes, the summary, and the refusal of every rollback.

use super::*;
use crate::step_harness::Harness;
use cutover_journal::Event;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// A store whose reads may fail and which records whether the begin was journaled when it
/// was asked to change something.
#[derive(Default)]
struct FakeStore {
    ready_fails: bool,
    asked_finished: AtomicUsize,
    begun_when_changed: Mutex<Option<bool>>,
}

#[async_trait]
impl Finisher for &FakeStore {
    type Ready = &'static str;

    fn switch(&self) -> &str {
        "promote"
    }
    fn ends(&self) -> &'static str {
        "the source stops following"
    }
    fn leaves(&self) -> Vec<String> {
        vec!["leave the source read-only".into()]
    }
    async fn is_finished(&self, _: &StepCtx<'_>) -> Result<bool, EngineError> {
        self.asked_finished.fetch_add(1, Ordering::SeqCst);
        Ok(true)
    }
    async fn ready(&self, ctx: &StepCtx<'_>) -> Result<&'static str, EngineError> {
        if self.ready_fails {
            return Err(ctx.failed("the source is out of reach"));
        }
        Ok("servers")
    }
    async fn finish(
        &self,
        ctx: &StepCtx<'_>,
        ready: &'static str,
    ) -> Result<Vec<String>, EngineError> {
        assert_eq!(ready, "servers");
        let begun = load_state::<bool>(ctx, ctx.id(), FINISHING)?.is_some();
        *self.begun_when_changed.lock().unwrap() = Some(begun);
        Ok(vec![
            "old no longer follows new".into(),
            "old left read-only".into(),
        ])
    }
}

/// A store that marks the begin on its servers, not in the journal.
struct MarksOnServers(FakeStore);

#[async_trait]
impl Finisher for &MarksOnServers {
    type Ready = &'static str;
    const JOURNALS_BEGIN: bool = false;
    const NEW_SIDE: &'static str = "database";

    fn switch(&self) -> &str {
        "promote"
    }
    fn ends(&self) -> &'static str {
        ""
    }
    fn leaves(&self) -> Vec<String> {
        vec![]
    }
    async fn is_finished(&self, ctx: &StepCtx<'_>) -> Result<bool, EngineError> {
        (&self.0).is_finished(ctx).await
    }
    async fn ready(&self, ctx: &StepCtx<'_>) -> Result<&'static str, EngineError> {
        (&self.0).ready(ctx).await
    }
    async fn finish(&self, ctx: &StepCtx<'_>, r: &'static str) -> Result<Vec<String>, EngineError> {
        (&self.0).finish(ctx, r).await
    }
}

fn states(h: &Harness) -> Vec<String> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::StateRecorded { label, .. } => Some(label),
            _ => None,
        })
        .collect()
}

#[test]
fn the_plan_frames_what_the_store_ends_and_leaves() {
    let store = FakeStore::default();
    let h = Harness::new();
    let values = h.values();
    assert_eq!(
        StoreFinish(&store).plan(&values).expect("plan"),
        vec![
            "end the reverse replication `promote` left running: the source stops following",
            "leave the source read-only",
            "afterwards `promote` cannot be rolled back: writes made on the target no longer flow back",
        ]
    );
}

#[tokio::test]
async fn a_finish_journals_its_begin_before_the_store_changes_anything() {
    let store = FakeStore::default();
    let h = Harness::new();
    let Applied::Done { summary } = StoreFinish(&store).apply(&h.ctx()).await.expect("applied");
    assert_eq!(
        summary,
        "reverse replication of `promote` ended: old no longer follows new, old left read-only"
    );
    assert_eq!(*store.begun_when_changed.lock().unwrap(), Some(true));
    assert_eq!(states(&h), vec![FINISHING]);
}

#[tokio::test]
async fn a_finish_whose_reads_fail_journals_no_begin_so_its_switch_stays_undoable() {
    let store = FakeStore {
        ready_fails: true,
        ..FakeStore::default()
    };
    let h = Harness::new();
    let error = StoreFinish(&store)
        .apply(&h.ctx())
        .await
        .expect_err("failed");
    assert!(error.to_string().contains("out of reach"), "{error}");
    assert_eq!(*store.begun_when_changed.lock().unwrap(), None);
    assert!(states(&h).is_empty(), "{:?}", states(&h));
}

#[tokio::test]
async fn a_store_that_marks_its_servers_journals_no_begin() {
    let store = MarksOnServers(FakeStore::default());
    let h = Harness::new();
    StoreFinish(&store).apply(&h.ctx()).await.expect("applied");
    assert_eq!(*store.0.begun_when_changed.lock().unwrap(), Some(false));
    assert!(states(&h).is_empty());
}

#[tokio::test]
async fn a_finish_not_begun_is_not_in_place_without_asking_the_servers() {
    let store = FakeStore::default();
    let h = Harness::new();
    let found = StoreFinish(&store)
        .verify(&h.ctx())
        .await
        .expect("verified");
    assert_eq!(found, Verified::NotInPlace);
    assert_eq!(store.asked_finished.load(Ordering::SeqCst), 0);
    // Without a journaled begin, the servers are asked.
    let marks = MarksOnServers(FakeStore::default());
    let found = StoreFinish(&marks)
        .verify(&h.ctx())
        .await
        .expect("verified");
    assert_eq!(found, Verified::InPlace);
    assert_eq!(marks.0.asked_finished.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn every_rollback_over_a_finish_is_refused_naming_it_and_its_switch() {
    let h = Harness::new();
    let store = FakeStore::default();
    let refused = StoreFinish(&store)
        .rollback(&h.ctx())
        .await
        .expect_err("refused");
    assert_eq!(
        refused.to_string(),
        "step `the-step` failed: `the-step` (run) ended the reverse replication of `promote`: writes made on the new server since then can no longer go back to the old one, so the run cannot be rolled back past `the-step`. Nothing was changed. To go back, migrate again in the other direction (a plan with old and new swapped)"
    );
    let marks = MarksOnServers(FakeStore::default());
    let refused = StoreFinish(&marks)
        .rollback(&h.ctx())
        .await
        .expect_err("refused");
    assert!(
        refused
            .to_string()
            .contains("writes made on the new database since then"),
        "{refused}"
    );
}
