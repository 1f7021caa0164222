//! Removing the head of a `PartitionLog`: DeleteRecords (an explicit new log start offset,
//! persisted in `log-start-offset`) and time/size retention, which also expires idle
//! producer state.
//!
//! Invariants: both run under the writer lock; only a prefix of sealed segments is removed,
//! never the active one; the log start offset only grows and never passes the high
//! watermark; segments are dropped from the state before their files are unlinked, and the
//! unlinks become durable with the next flush's directory fsync.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{PartitionLog, State};
use crate::log::checkpoint;
use crate::log::error::LogError;
use crate::log::files::is_retryable_write_error;
use crate::log::segment::Segment;
use crate::log::{lock, read_lock, write_lock};

/// Kafka's `producer.id.expiration.ms` default (1 day); applied by `enforce_retention`.
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 24 * 60 * 60 * 1000;

impl PartitionLog {
    /// DeleteRecords: advances the log start offset to `offset` (`-1` means the high
    /// watermark), which must be ≤ the high watermark, persists it in `log-start-offset` so it
    /// survives restart, and deletes segments wholly below it. Returns the new log start offset
    /// (unchanged if `offset` is not above it).
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        self.check_usable()?;
        let _w = lock(&self.writer);
        self.check_usable()?;
        let (log_start, hw) = {
            let s = read_lock(&self.state);
            (s.log_start, s.hw)
        };
        let offset = if offset == -1 { hw } else { offset };
        if offset < 0 || offset > hw {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start: log_start,
                end: hw,
            });
        }
        if offset <= log_start {
            return Ok(log_start);
        }
        if let Err(e) = checkpoint::write_log_start(&self.dir, offset) {
            // Nothing changed yet, so a full disk only refuses this request.
            if is_retryable_write_error(&e) {
                return Err(self.suspend("writing log-start-offset", &e));
            }
            return Err(self.fail("writing log-start-offset", e));
        }
        let removed = {
            let mut s = write_lock(&self.state);
            s.log_start = offset;
            Self::remove_prefix(&mut s, |seg, next_base, _| {
                let _ = seg;
                next_base <= offset
            })
        };
        self.delete_segment_files(&removed);
        Ok(offset)
    }

    /// Removes the longest prefix of sealed segments for which `pred(segment, next_base,
    /// bytes_remaining)` holds; returns them. Never removes the active segment.
    fn remove_prefix(
        s: &mut State,
        mut pred: impl FnMut(&Segment, i64, u64) -> bool,
    ) -> Vec<Arc<Segment>> {
        let mut total: u64 = s.segments.values().map(|x| x.size()).sum();
        let bases: Vec<i64> = s.segments.keys().copied().collect();
        let mut removed = Vec::new();
        for pair in bases.windows(2) {
            let seg = &s.segments[&pair[0]];
            if !pred(seg, pair[1], total) {
                break;
            }
            total -= seg.size();
            removed.push(pair[0]);
        }
        let removed: Vec<_> = removed
            .iter()
            .filter_map(|b| s.segments.remove(b))
            .collect();
        if let Some(&first) = s.segments.keys().next() {
            s.log_start = s.log_start.max(first);
        }
        removed
    }

    fn delete_segment_files(&self, segs: &[Arc<Segment>]) {
        if !segs.is_empty() {
            // The unlinks become durable with the next flush's directory fsync.
            self.dir_dirty.store(true, Ordering::Release);
        }
        for seg in segs {
            if let Err(e) = seg.delete_files() {
                tracing::warn!(dir = %self.dir.display(), base = seg.base_offset, error = %e,
                    "could not delete segment files");
            } else {
                tracing::info!(dir = %self.dir.display(), base = seg.base_offset, "deleted segment");
            }
        }
    }

    /// Retention: deletes the oldest sealed segments while any of these holds for the oldest
    /// one: it lies wholly below the log start offset; its largest timestamp is older than
    /// `now_ms - retention.ms` (when ≥ 0); the log minus this segment is still ≥
    /// `retention.bytes` (when ≥ 0); time and size apply under `cleanup.policy` `delete` and
    /// `compact,delete`, not `compact` alone. The active segment is never deleted (Kafka would roll an
    /// expired active segment first; we wait for the next roll). Also expires idle producer
    /// state (`PRODUCER_ID_EXPIRATION_MS`). Returns the number of segments deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        self.check_usable()?;
        let cfg = self.config();
        let mut w = lock(&self.writer);
        self.check_usable()?;
        w.producers
            .remove_expired(now_ms, PRODUCER_ID_EXPIRATION_MS);
        let removed = {
            let mut s = write_lock(&self.state);
            let (log_start, hw) = (s.log_start, s.hw);
            Self::remove_prefix(&mut s, |seg, next_base, total| {
                // Only segments wholly below the high watermark (Kafka's rule): retention
                // never removes what followers have not replicated yet.
                if next_base > hw {
                    return false;
                }
                let by_start = next_base <= log_start;
                // A compact-only topic is never deleted by time or size (Kafka applies
                // retention only with the `delete` policy): its records are the latest value
                // of each key, e.g. the committed offsets of `__consumer_offsets`.
                let deletes = cfg.cleanup_policy.deletes();
                let by_time = deletes
                    && cfg.retention_ms >= 0
                    && now_ms.saturating_sub(seg.meta().max_timestamp) > cfg.retention_ms;
                let by_size = deletes
                    && cfg.retention_bytes >= 0
                    && total.saturating_sub(seg.size()) >= cfg.retention_bytes as u64;
                by_start || by_time || by_size
            })
        };
        drop(w);
        self.delete_segment_files(&removed);
        Ok(removed.len())
    }
}
