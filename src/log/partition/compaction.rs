//! What the log cleaner (`log/cleaner/`) needs from a `PartitionLog`: a consistent view of the
//! segments it may clean, the cleaner checkpoint (with the time its kept tombstones become
//! removable), and installing a cleaned segment in place of the group of consecutive old
//! segments it was made from.
//!
//! Invariants: the view holds sealed segments only (never the active one); an install runs
//! under the writer lock, so it never races an append, a roll, retention or truncation, and it
//! installs only if every old segment of the group is still in the log (same instances),
//! consecutive and sealed — otherwise the cleaned copy is discarded. Every old segment's
//! `.log` handle is pinned before its name is taken over or deleted, so readers holding one
//! keep reading the old file. The segment map loses the group and gains the new segment in
//! one update of the state lock, so a reader sees either. Once a swap is committed on disk,
//! any failure is fail-stop (a reopen finishes the swap).

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
    /// When tombstones kept by the last pass become removable (ms, `i64::MAX`: none known).
    pub tombstones_due_ms: i64,
    /// Aborted transactions of the sealed segments, by producer id: (first offset, offset of
    /// the ABORT marker). Their records are never the latest of a key and are removed.
    pub aborted: HashMap<i64, Vec<(i64, i64)>>,
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
        let sealed_end = bases.last().copied().unwrap_or(s.log_start);
        let stored = self.cleaner_offset.load(Ordering::Acquire);
        let first_dirty = if stored < s.log_start || stored > s.leo {
            s.log_start
        } else {
            stored
        };
        let log_start = s.log_start;
        let hw = s.last_stable_offset();
        drop(s);
        drop(w);
        let mut aborted: HashMap<i64, Vec<(i64, i64)>> = HashMap::new();
        for t in self.aborted_transactions(log_start, sealed_end) {
            aborted
                .entry(t.producer_id)
                .or_default()
                .push((t.first_offset, t.last_offset));
        }
        Ok(CleanView {
            sealed,
            hw,
            first_dirty,
            producer_last,
            tombstones_due_ms: self.tombstones_due.load(Ordering::Acquire),
            aborted,
            config: self.config(),
        })
    }

    /// Records the cleaner's progress: `first_dirty` and `tombstones_due_ms` (when the
    /// tombstones the pass kept become removable, `i64::MAX` if it kept none) in memory and in
    /// `cleaner-offset`.
    pub(crate) fn set_cleaner_offset(
        &self,
        first_dirty: i64,
        tombstones_due_ms: i64,
    ) -> Result<(), LogError> {
        let _w = lock(&self.writer);
        self.check_usable()?;
        let below = self.cleaned_below.load(Ordering::Acquire).max(first_dirty);
        self.write_progress(first_dirty, below, tombstones_due_ms)?;
        self.cleaner_offset.store(first_dirty, Ordering::Release);
        self.tombstones_due
            .store(tombstones_due_ms, Ordering::Release);
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
        self.write_progress(
            self.cleaner_offset.load(Ordering::Acquire),
            end,
            self.tombstones_due.load(Ordering::Acquire),
        )
    }

    fn write_progress(
        &self,
        first_dirty: i64,
        cleaned_below: i64,
        tombstones_due_ms: i64,
    ) -> Result<(), LogError> {
        let p = cleaner_checkpoint::Progress {
            first_dirty,
            cleaned_below,
            tombstones_due_ms,
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

    /// Installs the cleaned segment written and fsynced in `<first>.cleaned` (with its
    /// manifest) in place of `group`, the consecutive old segments it was made from, first
    /// one first (`cleaner/swap.rs` steps 2-5). Returns false, having discarded the copy, if
    /// the group is no longer a run of consecutive sealed segments of this log.
    pub(crate) fn install_cleaned(&self, group: &[Arc<Segment>]) -> Result<bool, LogError> {
        let (Some(first), Some(last)) = (group.first(), group.last()) else {
            return Ok(false);
        };
        let base = first.base_offset;
        let ioe = |what: &str, e| LogError::io(format!("{what} in {}", self.dir.display()), e);
        self.check_usable()?;
        let _w = lock(&self.writer);
        if let Err(e) = self.check_usable() {
            let _ = swap::discard(&self.dir, base);
            return Err(e);
        }
        let current = {
            let s = read_lock(&self.state);
            let in_log: Vec<&Arc<Segment>> = s
                .segments
                .range(base..=last.base_offset)
                .map(|(_, seg)| seg)
                .collect();
            in_log.len() == group.len()
                && in_log.iter().zip(group).all(|(a, b)| Arc::ptr_eq(a, b))
                && s.active().base_offset > last.base_offset
        };
        if !current {
            swap::discard(&self.dir, base).map_err(|e| ioe("discarding a cleaned segment", e))?;
            return Ok(false);
        }
        // Before the names are taken over or deleted: readers of the old segments keep the
        // old files.
        if let Some(e) = group.iter().find_map(|seg| seg.pin().err()) {
            for seg in group {
                seg.unpin();
            }
            let _ = swap::discard(&self.dir, base);
            return Err(ioe("opening a segment being replaced", e));
        }
        swap::commit(&self.dir, base).map_err(|e| self.fail("committing a cleaned segment", e))?;
        swap::finish(&self.dir, base).map_err(|e| self.fail("installing a cleaned segment", e))?;
        let (seg, ok) = Segment::open(&self.dir, base, &self.files, false)
            .map_err(|e| self.fail("opening a cleaned segment", e))?;
        if !ok {
            seg.recover(self.config().index_interval_bytes, false)
                .map_err(|e| self.fail("indexing a cleaned segment", e))?;
        }
        let mut s = write_lock(&self.state);
        for old in group {
            s.segments.remove(&old.base_offset);
        }
        s.segments.insert(base, Arc::new(seg));
        Ok(true)
    }
}
