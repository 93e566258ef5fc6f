//! The sync runner with a fake store: what it shows, journals and concludes, and that it
//! closes what the store opened on every path.

use super::*;
use crate::step_harness::Harness;
use cutover_journal::Event;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Clone, Debug, PartialEq)]
struct FakeLag(u64);

impl SyncLag for FakeLag {
    fn sample(&self) -> Vec<(&'static str, f64)> {
        vec![("bytes", self.0 as f64)]
    }
    fn line(&self) -> String {
        format!("{} bytes", self.0)
    }
    fn behind(&self, other: &Self) -> bool {
        self.0 > other.0
    }
    fn figures(&self) -> Vec<Figure> {
        vec![Figure::new("lag_bytes", self.0 as f64, "bytes")]
    }
}

struct FakeReport;

impl Synced for FakeReport {
    type Lag = FakeLag;
    fn lag(&self) -> FakeLag {
        FakeLag(2)
    }
    fn notes(&self) -> Vec<String> {
        vec!["t: changed for the sync".into()]
    }
    fn figures(&self) -> Vec<Figure> {
        vec![Figure::new("keys", 10.0, "keys")]
    }
    fn summary(&self, worst: &FakeLag) -> String {
        format!("10 keys; {} bytes behind", worst.0)
    }
}

/// Reads its lags from a list (`Err` for a reading that fails).
struct FakeStore {
    readings: Mutex<VecDeque<Result<Option<FakeLag>, String>>>,
    watch: Option<Duration>,
    closed: AtomicUsize,
}

impl FakeStore {
    fn new(watch: Option<Duration>, readings: Vec<Result<Option<FakeLag>, String>>) -> Self {
        FakeStore {
            readings: Mutex::new(readings.into()),
            watch,
            closed: AtomicUsize::new(0),
        }
    }
}

#[async_trait]
impl Syncer for &FakeStore {
    type Report = FakeReport;
    type Watch = Self;
    const LAG_UNKNOWN: &'static str = "not readable now";

    fn plan(&self, _: &Values<'_>) -> Result<Vec<String>, EngineError> {
        Ok(vec![])
    }
    async fn running(&self, _: &StepCtx<'_>) -> Result<bool, EngineError> {
        Ok(false)
    }
    async fn start(&self, _: &StepCtx<'_>) -> Result<(Self, FakeReport), EngineError> {
        Ok((*self, FakeReport))
    }
    async fn lag(&self, ctx: &StepCtx<'_>, _: &mut Self) -> Result<Option<FakeLag>, EngineError> {
        let next = self.readings.lock().unwrap().pop_front();
        next.unwrap_or(Ok(Some(FakeLag(0))))
            .map_err(|e| ctx.failed(e))
    }
    async fn close(watch: Self) {
        watch.closed.fetch_add(1, Ordering::SeqCst);
    }
    fn watch(&self) -> Option<Duration> {
        self.watch
    }
    async fn undo(&self, _: &StepCtx<'_>) -> Result<String, EngineError> {
        Ok(String::new())
    }
}

/// `name=value` for each measure, `lag:bytes=value` for each lag sample, in order.
fn journaled(h: &Harness) -> Vec<String> {
    h.events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Measured { name, value, .. } => Some(format!("{name}={value}")),
            Event::Sampled {
                subject, figures, ..
            } => Some(format!("{subject}:bytes={}", figures["bytes"])),
            _ => None,
        })
        .collect()
}

#[tokio::test]
async fn a_watched_sync_shows_each_lag_and_journals_the_worst() {
    let store = FakeStore::new(
        Some(Duration::from_millis(2500)),
        vec![Ok(Some(FakeLag(7))), Ok(None), Ok(Some(FakeLag(3)))],
    );
    let h = Harness::new();
    let applied = StoreSync(&store).apply(&h.ctx()).await.expect("applied");
    let Applied::Done { summary } = applied;
    assert_eq!(summary, "10 keys; 7 bytes behind");
    assert_eq!(
        h.shown(),
        vec![
            "t: changed for the sync",
            "lag: 7 bytes",
            "lag: not readable now",
            "lag: 3 bytes"
        ]
    );
    assert_eq!(
        journaled(&h),
        vec![
            "keys=10",
            "lag:bytes=2",
            "lag:bytes=7",
            "lag:bytes=3",
            "lag_bytes=7"
        ]
    );
    assert_eq!(store.closed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_unwatched_sync_concludes_with_its_lag_when_caught_up() {
    let store = FakeStore::new(None, vec![Ok(Some(FakeLag(99)))]);
    let h = Harness::new();
    StoreSync(&store).apply(&h.ctx()).await.expect("applied");
    assert_eq!(journaled(&h), vec!["keys=10", "lag:bytes=2", "lag_bytes=2"]);
    assert_eq!(store.closed.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_lag_that_cannot_be_read_fails_the_step_and_still_closes_the_store() {
    let store = FakeStore::new(
        Some(Duration::from_secs(5)),
        vec![Err("replication broke".into())],
    );
    let h = Harness::new();
    let failed = StoreSync(&store).apply(&h.ctx()).await;
    let error = failed.expect_err("the step fails").to_string();
    assert!(error.contains("replication broke"), "{error}");
    assert_eq!(store.closed.load(Ordering::SeqCst), 1);
    assert!(
        !journaled(&h).iter().any(|m| m.starts_with("lag_bytes")),
        "a failed sync journaled a final lag"
    );
}
