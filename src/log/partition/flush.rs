//! Durability of a `PartitionLog`: `flush` fsyncs the segments written since the last flush
//! (and the directory when segments were created or deleted), then publishes the flushed
//! offset and, about once per roll, a new `recovery-point`.
//!
//! Invariants: a flush takes neither the writer lock nor the state lock during fsync (it works
//! on a snapshot), so appends go on meanwhile; the flushed offset and the recovery point only
//! grow, and each covers only bytes an fsync made durable; an fsync error fails the partition
//! (never retried), while failing to open a file to fsync loses nothing and is retried by the
//! next flush.

use std::sync::atomic::Ordering;

use super::{now_wall_ms, PartitionLog, DELETED};
use crate::log::checkpoint;
use crate::log::error::LogError;
use crate::log::segment::SyncError;
use crate::log::{lock, read_lock};

impl PartitionLog {
    /// fsync of every segment written since the last flush (normally only the active one and a
    /// just-sealed one), their indexes, and the directory if segments were created or deleted.
    /// Does not block appends. Returns the offset up to which the log is durable. Blocking: call
    /// from a blocking thread. An fsync error fails the partition (never retried).
    pub fn flush(&self) -> Result<i64, LogError> {
        self.flush_at(now_wall_ms())
    }

    /// [`PartitionLog::flush`] started at `now_ms` (the caller's clock), which becomes
    /// [`PartitionLog::last_flush_ms`]: everything appended before `now_ms` is durable once it
    /// returns, so the `flush.ms` schedule is measured from the start of a flush, not its end.
    pub fn flush_at(&self, now_ms: i64) -> Result<i64, LogError> {
        self.check_usable()?;
        self.flush_inner(now_ms)
    }

    pub(super) fn flush_inner(&self, started_ms: i64) -> Result<i64, LogError> {
        let appended = self.messages_appended.load(Ordering::Acquire);
        let (segs, leo) = {
            let s = read_lock(&self.state);
            (s.segments.values().cloned().collect::<Vec<_>>(), s.leo)
        };
        for seg in &segs {
            match seg.sync() {
                Ok(()) => {}
                // Nothing was fsynced and nothing lost: the next flush tries again.
                Err(SyncError::Open(e)) => {
                    if self.status.load(Ordering::Acquire) == DELETED {
                        return Err(LogError::Deleted);
                    }
                    return Err(LogError::io(
                        format!("opening a segment file to fsync in {}", self.dir.display()),
                        e,
                    ));
                }
                Err(SyncError::Fsync(e)) => {
                    return Err(self.fail_unless_deleted("fsync of segment", e))
                }
            }
        }
        if self.dir_dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = checkpoint::sync_dir(&self.dir) {
                self.dir_dirty.store(true, Ordering::Release);
                return Err(self.fail_unless_deleted("fsync of partition directory", e));
            }
        }
        if let Some(active) = segs.last() {
            self.advance_recovery_point(active.base_offset, leo)?;
        }
        self.flushed_offset.fetch_max(leo, Ordering::AcqRel);
        self.messages_flushed.fetch_max(appended, Ordering::AcqRel);
        self.last_flush_ms.store(started_ms, Ordering::Release);
        Ok(self.flushed_offset.load(Ordering::Acquire))
    }

    /// A flush made everything below `flushed` durable; `active_base` is the base of the
    /// newest segment it covered. Rewrites `recovery-point` only if the recorded point lies in
    /// an older segment (recovery works segment by segment, so a point inside the active
    /// segment is as good as any later one): about once per roll, not once per flush.
    fn advance_recovery_point(&self, active_base: i64, flushed: i64) -> Result<(), LogError> {
        let mut rp = lock(&self.recovery_point);
        if *rp >= active_base || flushed <= *rp {
            return Ok(());
        }
        if let Err(e) = checkpoint::write_recovery_point(&self.dir, flushed) {
            return Err(self.fail_unless_deleted("writing recovery-point", e));
        }
        *rp = flushed;
        Ok(())
    }

    /// The recovery point last written to disk (`i64::MIN` if none yet).
    pub fn recovery_point(&self) -> i64 {
        *lock(&self.recovery_point)
    }

    /// Offset below which everything is fsynced (as of the last flush).
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset.load(Ordering::Acquire)
    }

    /// Records appended since the last flush.
    pub fn unflushed_messages(&self) -> i64 {
        self.messages_appended.load(Ordering::Acquire)
            - self.messages_flushed.load(Ordering::Acquire)
    }

    /// Wall-clock time of the last successful flush (open time before the first one).
    pub fn last_flush_ms(&self) -> i64 {
        self.last_flush_ms.load(Ordering::Acquire)
    }
}
