//! The moment a coordinated move back may release its held requests. A data switch undone
//! inside the hold says when its source takes writes again, which can come well before its
//! undo ends (PostgreSQL re-creates the forward sync after the source's thaw): the mover
//! releases the requests then, instead of holding them for the undo's tail.

use std::collections::HashSet;
use std::sync::Mutex;
use tokio::sync::Notify;

/// The data steps of one move back whose source does not take writes yet.
pub struct WritableAgain {
    pending: Mutex<HashSet<String>>,
    changed: Notify,
}

impl WritableAgain {
    /// Every step of `ids` pending.
    pub fn new(ids: &[String]) -> Self {
        WritableAgain {
            pending: Mutex::new(ids.iter().cloned().collect()),
            changed: Notify::new(),
        }
    }

    /// Step `id`'s source takes writes (or the step has nothing more to give back).
    pub fn mark(&self, id: &str) {
        if let Ok(mut p) = self.pending.lock() {
            p.remove(id);
        }
        self.changed.notify_waiters();
    }

    /// Every step pending at once is settled (those left over when an undo ends).
    pub fn mark_all(&self) {
        if let Ok(mut p) = self.pending.lock() {
            p.clear();
        }
        self.changed.notify_waiters();
    }

    fn settled(&self) -> bool {
        self.pending.lock().map_or(true, |p| p.is_empty())
    }

    /// Returns once every step's source takes writes.
    pub async fn all(&self) {
        loop {
            // Registered before the check, so a mark between the two is not missed.
            let changed = self.changed.notified();
            if self.settled() {
                return;
            }
            changed.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn waits_for_every_step_and_no_longer() {
        let w = WritableAgain::new(&["a".into(), "b".into()]);
        w.mark("a");
        let early = tokio::time::timeout(Duration::from_millis(50), w.all()).await;
        assert!(early.is_err(), "released with step b still frozen");
        let (done, ()) = tokio::join!(
            tokio::time::timeout(Duration::from_secs(5), w.all()),
            async { w.mark("b") }
        );
        assert!(done.is_ok(), "not released once every step was writable");
    }

    #[tokio::test]
    async fn an_undo_that_ends_settles_what_it_left() {
        let w = WritableAgain::new(&["a".into()]);
        w.mark_all();
        assert!(tokio::time::timeout(Duration::from_millis(50), w.all())
            .await
            .is_ok());
    }
}
