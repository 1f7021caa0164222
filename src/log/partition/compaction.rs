//! What the log cleaner (`log/cleaner/`) needs from a `PartitionLog`: a consistent view of the
//! segments it may clean, the cleaner checkpoint, and installing a cleaned segment in place of
//! the one it was made from.
//!
//! Invariants: the view holds sealed segments only (never the active one); an install runs
//! under the writer lock, so it never races an append, a roll, retention or truncation, and it
//! installs only if the old segment is still the one in the log (same instance) and still
//! sealed — otherwise the cleaned copy is discarded. The old segment's `.log` handle is pinned
//! before its name is taken over, so readers holding it keep reading the old file. Once a
//! swap is committed on disk, any failure is fail-stop (a reopen finishes the swap).

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::PartitionLog;
use crate::log::cleaner::{checkpoint as cleaner_checkpoint, swap};
use crate::log::config::LogConfig;
use crate::log::error::LogError;
use crate::log::segment::Segment;
use crate::log::{lock, read_lock, write_lock};

/// A snapshot of what the cleaner may work on.
pub(crate) struct CleanView {
    /// Sealed segments in offset order, each with the next segment's base offset.
    pub sealed: Vec<(Arc<Segment>, i64)>,
    /// The last stable offset (the high watermark while no transaction is unstable): nothing
    /// at or above it is cleaned, as in Kafka — a record of an open transaction must not
    /// shadow an older value of its key before the transaction commits.
    pub hw: i64,
    /// First dirty offset, clamped into [log start, log end].
    pub first_dirty: i64,
    /// Last offset of every producer the partition tracks.
    pub producer_last: HashMap<i64, i64>,
    /// The topic's settings.
    pub config: LogConfig,
}

impl PartitionLog {
    /// A consistent view for one cleaning pass. Takes the writer lock briefly (producer state).
    pub(crate) fn clean_view(&self) -> Result<CleanView, LogError> {
        self.check_usable()?;
        let w = lock(&self.writer);
        self.check_usable()?;
        let producer_last = w.producers.last_offsets();
        let s = read_lock(&self.state);
        let bases: Vec<i64> = s.segments.keys().copied().collect();
        let sealed = bases
            .windows(2)
            .filter_map(|p| s.segments.get(&p[0]).map(|seg| (Arc::clone(seg), p[1])))
            .collect();
        let stored = self.cleaner_offset.load(Ordering::Acquire);
        let first_dirty = if stored < s.log_start || stored > s.leo {
            s.log_start
        } else {
            stored
        };
        Ok(CleanView {
            sealed,
            hw: s.last_stable_offset(),
            first_dirty,
            producer_last,
            config: self.config(),
        })
    }

    /// Records the cleaner's progress: `first_dirty` in memory and in `cleaner-offset`.
    pub(crate) fn set_cleaner_offset(&self, first_dirty: i64) -> Result<(), LogError> {
        let _w = lock(&self.writer);
        self.check_usable()?;
        let below = self.cleaned_below.load(Ordering::Acquire).max(first_dirty);
        self.write_progress(first_dirty, below)?;
        self.cleaner_offset.store(first_dirty, Ordering::Release);
        Ok(())
    }

    /// Before a pass installs segments below `end`: raises "cleaned below" on disk so that
    /// recovery accepts them ending short of the next segment (`cleaner/checkpoint.rs`).
    pub(crate) fn begin_cleaning_below(&self, end: i64) -> Result<(), LogError> {
        let _w = lock(&self.writer);
        self.check_usable()?;
        let below = self.cleaned_below.load(Ordering::Acquire);
        if end <= below {
            return Ok(());
        }
        self.write_progress(self.cleaner_offset.load(Ordering::Acquire), end)
    }

    fn write_progress(&self, first_dirty: i64, cleaned_below: i64) -> Result<(), LogError> {
        let p = cleaner_checkpoint::Progress {
            first_dirty,
            cleaned_below,
        };
        cleaner_checkpoint::write(&self.dir, p).map_err(|e| {
            LogError::io(
                format!("writing cleaner-offset in {}", self.dir.display()),
                e,
            )
        })?;
        self.cleaned_below.store(cleaned_below, Ordering::Release);
        Ok(())
    }

    /// The cleaner's first dirty offset as last recorded (not clamped).
    pub fn cleaner_offset(&self) -> i64 {
        self.cleaner_offset.load(Ordering::Acquire)
    }

    /// Installs the cleaned copy of `old` written and fsynced in `<base>.cleaned`
    /// (`cleaner/swap.rs` steps 2-4). Returns false, having discarded the copy, if `old` is
    /// no longer a sealed segment of this log.
    pub(crate) fn install_cleaned(&self, old: &Arc<Segment>) -> Result<bool, LogError> {
        let base = old.base_offset;
        let ioe = |what: &str, e| LogError::io(format!("{what} in {}", self.dir.display()), e);
        self.check_usable()?;
        let _w = lock(&self.writer);
        if let Err(e) = self.check_usable() {
            let _ = swap::discard(&self.dir, base);
            return Err(e);
        }
        let current = {
            let s = read_lock(&self.state);
            s.segments.get(&base).is_some_and(|c| Arc::ptr_eq(c, old))
                && s.active().base_offset != base
        };
        if !current {
            swap::discard(&self.dir, base).map_err(|e| ioe("discarding a cleaned segment", e))?;
            return Ok(false);
        }
        // Before the name is taken over: readers of `old` keep the old file.
        if let Err(e) = old.pin() {
            let _ = swap::discard(&self.dir, base);
            return Err(ioe("opening the segment being replaced", e));
        }
        swap::commit(&self.dir, base).map_err(|e| self.fail("committing a cleaned segment", e))?;
        swap::finish(&self.dir, base).map_err(|e| self.fail("installing a cleaned segment", e))?;
        let (seg, ok) = Segment::open(&self.dir, base, &self.files, false)
            .map_err(|e| self.fail("opening a cleaned segment", e))?;
        if !ok {
            seg.recover(self.config().index_interval_bytes, false)
                .map_err(|e| self.fail("indexing a cleaned segment", e))?;
        }
        write_lock(&self.state).segments.insert(base, Arc::new(seg));
        Ok(true)
    }
}
