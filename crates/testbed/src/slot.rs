//! Slot allocation: slot N belongs to whoever holds an exclusive `flock` on
//! `/run/cutover-lab/slot-N.lock`. The kernel drops the lock when its holder dies, however it
//! dies, so a killed test never keeps a slot; and `flock` locks belong to open file
//! descriptions, so two threads of one process (cargo test) that open the file separately
//! exclude each other just as two processes (cargo nextest) do.

use crate::error::LabError;
use crate::layout::LAST_SLOT;
use std::fs::{File, OpenOptions, TryLockError};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Where slot locks live: under /run, so a reboot forgets them.
pub const LOCK_DIR: &str = "/run/cutover-lab";
/// How long [`acquire_test_slot`] waits for a free slot.
const SLOT_WAIT: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_millis(50);

/// A held slot; dropping it releases the lock.
#[derive(Debug)]
pub(crate) struct SlotLock {
    pub(crate) slot: u8,
    _file: File,
}

/// Takes the first free test slot (1..=15), waiting while all are busy.
pub(crate) fn acquire_test_slot() -> Result<SlotLock, LabError> {
    let started = Instant::now();
    loop {
        for slot in 1..=LAST_SLOT {
            if let Some(lock) = try_lock(slot)? {
                return Ok(lock);
            }
        }
        if started.elapsed() > SLOT_WAIT {
            return Err(LabError::SlotsBusy {
                last: LAST_SLOT,
                waited: started.elapsed(),
            });
        }
        std::thread::sleep(POLL);
    }
}

/// Takes `slot`, waiting for its holder to let go. The canonical lab holds its slot only while
/// `cutover-lab up` or `down` runs, so two of them never build or tear down at once.
pub(crate) fn lock_blocking(slot: u8) -> Result<SlotLock, LabError> {
    let (file, path) = open(slot)?;
    file.lock().map_err(|e| LabError::io("lock", path, e))?;
    Ok(SlotLock { slot, _file: file })
}

/// Takes `slot` if nobody holds it.
pub(crate) fn try_lock(slot: u8) -> Result<Option<SlotLock>, LabError> {
    let (file, path) = open(slot)?;
    match file.try_lock() {
        Ok(()) => Ok(Some(SlotLock { slot, _file: file })),
        Err(TryLockError::WouldBlock) => Ok(None),
        Err(TryLockError::Error(e)) => Err(LabError::io("lock", path, e)),
    }
}

fn open(slot: u8) -> Result<(File, PathBuf), LabError> {
    std::fs::create_dir_all(LOCK_DIR).map_err(|e| LabError::io("create", LOCK_DIR, e))?;
    let path = PathBuf::from(format!("{LOCK_DIR}/slot-{slot}.lock"));
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| LabError::io("open", &path, e))?;
    Ok((file, path))
}
