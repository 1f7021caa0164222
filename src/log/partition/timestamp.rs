//! ListOffsets by timestamp on a `PartitionLog`: the batch-level lookup (segment max
//! timestamps, then the time index, then a header scan in one segment) and its refinement to
//! the exact record by walking the batch's records under a decompression budget.
//!
//! Invariants: answers lie at or after the log start offset and below the high watermark; the
//! exact answer is never later than the batch-level one, which stands whenever the walk is
//! not possible (budget spent, batch unreadable); LogAppendTime and control batches are never
//! walked.

use std::sync::Arc;

use super::PartitionLog;
use crate::log::batch::{BatchHeader, BatchTimestampType, Compression};
use crate::log::error::LogError;
use crate::log::read_lock;
use crate::log::records;

impl PartitionLog {
    /// ListOffsets by timestamp: the first batch (at or after the log start) whose MaxTimestamp
    /// is ≥ `ts`, found via segment max timestamps, the time index, then a header scan within
    /// one segment. Batch-level approximation: returns `(batch base offset (clamped to the log
    /// start), batch MaxTimestamp)`, not the exact record — records before the matching one in
    /// the same batch may be older than `ts`. `None` if no batch qualifies.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.check_usable()?;
        let (segs, log_start, hw) = {
            let s = read_lock(&self.state);
            let v: Vec<_> = s
                .segments
                .values()
                .map(|seg| (Arc::clone(seg), s.end_pos(seg)))
                .collect();
            (v, s.log_start, s.hw)
        };
        for (seg, end) in segs {
            if seg.meta().max_timestamp < ts {
                continue;
            }
            let found = seg
                .find_timestamp(ts, log_start, end)
                .map_err(|e| LogError::io(format!("reading {}", self.dir.display()), e))?;
            if let Some(h) = found {
                // Like Kafka, a batch at or above the high watermark is no answer (yet).
                return Ok(
                    (h.base_offset < hw).then_some((h.base_offset.max(log_start), h.max_timestamp))
                );
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP (-3): `(offset, timestamp)` of the batch with the largest
    /// MaxTimestamp (the earliest such batch on ties). Batch-level approximation: the offset is
    /// that batch's base offset (clamped to the log start), not the exact record's. For sealed
    /// segments without time index entries the file mtime stands in, as in Kafka.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        self.check_usable()?;
        let s = read_lock(&self.state);
        let mut best: Option<(i64, i64)> = None;
        for seg in s.segments.values() {
            let m = seg.meta();
            if m.max_timestamp >= 0 && best.is_none_or(|(_, t)| m.max_timestamp > t) {
                best = Some((m.offset_of_max_timestamp.max(s.log_start), m.max_timestamp));
            }
        }
        // Like Kafka, an answer at or above the high watermark is no answer (yet).
        Ok(best.filter(|&(offset, _)| offset < s.hw))
    }

    /// ListOffsets by timestamp, exact: the first record (at or after the log start) whose
    /// timestamp is ≥ `ts`, as `(offset, timestamp)`, like Kafka. The batch comes from
    /// [`Self::offset_for_timestamp`]; its records are then walked as a stream and the walk stops
    /// at the first match (see [`Self::refine_to_record`]). Blocking: reads a file and may
    /// decompress; call from a blocking thread.
    pub fn offset_for_timestamp_exact(
        &self,
        ts: i64,
        budget: &mut usize,
    ) -> Result<Option<(i64, i64)>, LogError> {
        Ok(self
            .offset_for_timestamp(ts)?
            .map(|found| self.refine_to_record(found, |t| t >= ts, budget)))
    }

    /// ListOffsets MAX_TIMESTAMP, exact: the first record carrying the largest timestamp, found
    /// like [`Self::offset_for_timestamp_exact`]. Blocking.
    pub fn max_timestamp_exact(&self, budget: &mut usize) -> Result<Option<(i64, i64)>, LogError> {
        Ok(self
            .max_timestamp()?
            .map(|found| self.refine_to_record(found, |t| t >= found.1, budget)))
    }

    /// Turns a batch-level answer `(offset in the batch, batch MaxTimestamp)` into the first
    /// record at or after that offset whose timestamp satisfies `hit`. LogAppendTime batches
    /// need no walk (every record has the batch's timestamp). A compressed batch inflates at
    /// most `*budget` bytes, which is charged (an uncompressed one its size); when the budget is spent, or the batch cannot be
    /// read or walked, the batch-level answer stands (it is never later than the exact one).
    pub fn refine_to_record(
        &self,
        (offset, batch_ts): (i64, i64),
        hit: impl Fn(i64) -> bool,
        budget: &mut usize,
    ) -> (i64, i64) {
        let fallback = (offset, batch_ts);
        let Ok(batch) = self.read(offset, 1, true).and_then(|r| {
            r.records
                .to_bytes()
                .map_err(|e| LogError::io(format!("reading {}", self.dir.display()), e))
        }) else {
            return fallback;
        };
        let Ok(h) = BatchHeader::parse(&batch) else {
            return fallback;
        };
        if h.is_control() || h.timestamp_type() == BatchTimestampType::LogAppendTime {
            return fallback;
        }
        if *budget == 0 {
            return fallback;
        }
        let limit = (*budget).min(records::MAX_INFLATED);
        match records::first_record_at_or_after(&batch, &h, offset, limit, hit) {
            Ok((found, inflated)) => {
                // An uncompressed walk costs its batch; a compressed one what it inflated.
                let cost = match h.compression() {
                    Compression::None => batch.len(),
                    _ => inflated,
                };
                *budget = budget.saturating_sub(cost);
                found.unwrap_or(fallback)
            }
            Err(e) => {
                *budget = budget.saturating_sub(limit);
                tracing::debug!(dir = %self.dir.display(), offset, error = %e,
                    "exact timestamp lookup fell back to the batch");
                fallback
            }
        }
    }
}
