//! Which part of a partition a cleaning pass may touch, and whether it is due (Kafka's
//! `LogCleanerManager.cleanableOffsets` and `grabFilthiestCompactedLog`).
//!
//! - Clean range: segments wholly below the first dirty offset (the cleaner checkpoint).
//! - Dirty range: from the first dirty offset up to the first uncleanable offset, the
//!   smallest of: the active segment's base offset (the active segment is never cleaned); the
//!   base of the first segment not wholly below the high watermark (a replica never compacts
//!   what may still be truncated); the base of the first dirty segment whose newest record
//!   is younger than `min.compaction.lag.ms`.
//! - Dirty ratio = dirty bytes / (clean + dirty bytes), counted per segment (a segment that
//!   holds the first dirty offset counts as dirty). A partition is due when the ratio is at
//!   least `min.cleanable.dirty.ratio`, or when its oldest dirty segment's first record is older
//!   than `max.compaction.lag.ms` (then it is cleaned whatever the ratio), or when tombstones
//!   kept by the last pass have become removable (`delete.retention.ms` after their segment's
//!   cleaning, recorded by the pass as "tombstones due"), so a log that no longer receives
//!   records still loses its expired tombstones (KIP-534's goal; Kafka ≥ 3.1 gets there by
//!   a delete horizon stored in each batch).
//!
//! Pure: reads segment sizes and timestamps already in memory, no I/O.

use crate::log::partition::CleanView;

/// The ranges of one partition as of a [`CleanView`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Plan {
    /// First offset not known to be clean.
    pub first_dirty: i64,
    /// Nothing at or above this offset is cleaned in this pass.
    pub first_uncleanable: i64,
    /// Bytes of segments wholly below `first_dirty`.
    pub clean_bytes: u64,
    /// Bytes of segments in the dirty range.
    pub dirty_bytes: u64,
    /// The oldest dirty record is older than `max.compaction.lag.ms`.
    pub overdue: bool,
    /// Tombstones kept by the last pass may be removed now.
    pub tombstones_due: bool,
}

impl Plan {
    /// dirty / (clean + dirty), 0 for an empty range.
    pub fn dirty_ratio(&self) -> f64 {
        let total = self.clean_bytes + self.dirty_bytes;
        if total == 0 {
            0.0
        } else {
            self.dirty_bytes as f64 / total as f64
        }
    }

    /// Whether a pass is due under `min_ratio_ppm` (parts per million).
    pub fn is_due(&self, min_ratio_ppm: u32) -> bool {
        self.tombstones_due
            || (self.dirty_bytes > 0
                && (self.overdue || self.dirty_ratio() * 1e6 >= f64::from(min_ratio_ppm)))
    }
}

/// The plan of `view` at `now_ms`.
pub(crate) fn plan(view: &CleanView, now_ms: i64) -> Plan {
    let cfg = &view.config;
    let first_dirty = view.first_dirty;
    let mut first_uncleanable = view
        .sealed
        .last()
        .map_or(first_dirty, |(_, next)| *next)
        .min(view.hw.max(first_dirty));
    for (seg, next) in &view.sealed {
        let dirty = *next > first_dirty;
        let too_young = cfg.min_compaction_lag_ms > 0
            && seg.meta().max_timestamp > now_ms.saturating_sub(cfg.min_compaction_lag_ms);
        if *next > view.hw || (dirty && too_young) {
            first_uncleanable = first_uncleanable.min(seg.base_offset);
            break;
        }
    }
    let first_uncleanable = first_uncleanable.max(first_dirty);
    let mut p = Plan {
        first_dirty,
        first_uncleanable,
        clean_bytes: 0,
        dirty_bytes: 0,
        overdue: false,
        tombstones_due: view.tombstones_due_ms <= now_ms,
    };
    let mut oldest_dirty = None;
    for (seg, next) in &view.sealed {
        if *next <= first_dirty {
            p.clean_bytes += seg.size();
        } else if seg.base_offset < first_uncleanable {
            p.dirty_bytes += seg.size();
            if oldest_dirty.is_none() {
                let m = seg.meta();
                oldest_dirty = Some(if m.rolling_timestamp >= 0 {
                    m.rolling_timestamp
                } else {
                    m.max_timestamp
                });
            }
        }
    }
    p.overdue = cfg.max_compaction_lag_ms < i64::MAX
        && oldest_dirty.is_some_and(|ts| now_ms.saturating_sub(ts) > cfg.max_compaction_lag_ms);
    p
}
