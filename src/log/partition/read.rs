//! The read path of a `PartitionLog` and the reader-visible offsets: `read` picks the segment
//! under a brief read lock on the state, then locates and bounds whole batches in the file
//! without holding any lock; the bytes are sent from the file (`FileSlice`).
//!
//! Invariants: a consumer read (`read`) never returns a batch at or past the high watermark
//! published when it started, a read_committed one (`read_committed`) none at or past the last
//! stable offset (a batch boundary: a transaction's first batch or the high watermark), a
//! follower read (`read_to_end`) never one past the log end, and
//! neither returns a partial batch (the high watermark lies on a batch boundary, so the batch
//! walk is bounded by offset as well as by bytes, without per-record work); below that bound
//! the batch holding the requested offset is found intact or the read fails with
//! `CorruptMessage`, never an empty result; readers never take the writer lock (only
//! `active_producers` does, for its copy).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::watch;

use super::{PartitionLog, ReadResult};
use crate::log::error::LogError;
use crate::log::producer_state::ActiveProducer;
use crate::log::segment::Segment;
use crate::log::slice::FileSlice;
use crate::log::verify::Fault;
use crate::log::{lock, read_lock};

/// Which published end a read stops at.
#[derive(Clone, Copy)]
enum Bound {
    /// Consumers: batches starting below the high watermark.
    HighWatermark,
    /// read_committed consumers: batches starting below the last stable offset.
    Stable,
    /// Followers: everything up to the log end offset.
    LogEnd,
}

impl PartitionLog {
    /// Reads whole batches starting with the batch that contains `offset`, never reaching the
    /// high watermark (what a consumer may see), from one segment. At most `max_bytes`, except
    /// that with `min_one` the first batch is returned even if it is larger (Kafka's fetch
    /// semantics). `offset` below the log start or above the log end → `OffsetOutOfRange`;
    /// `offset` in [high watermark, log end] → empty. Below the high watermark the batch
    /// holding `offset` (or, in a compacted range, the next batch) must be found intact (header,
    /// length, increasing offsets, index entry;
    /// `verify.rs`): damage is `CorruptMessage`, never an empty read that would stall the
    /// consumer. The bytes come straight from the file with one `pread` (two if the first batch
    /// exceeds `max_bytes`), without holding the writer lock.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, LogError> {
        self.read_below(offset, max_bytes, min_one, Bound::HighWatermark)
    }

    /// [`PartitionLog::read`] bounded by the last stable offset instead of the high watermark:
    /// what a read_committed consumer reads (no batch of an unstable transaction, nor anything
    /// after one). `offset` in [last stable offset, log end] → empty. The records of aborted
    /// transactions below it are returned too; the client skips them with the help of
    /// [`PartitionLog::aborted_transactions`].
    pub fn read_committed(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, LogError> {
        self.read_below(offset, max_bytes, min_one, Bound::Stable)
    }

    /// [`PartitionLog::read`] bounded by the log end offset instead of the high watermark:
    /// what a follower's fetch reads. `ReadResult::high_watermark` is still the high watermark.
    pub fn read_to_end(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, LogError> {
        self.read_below(offset, max_bytes, min_one, Bound::LogEnd)
    }

    fn read_below(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
        bound: Bound,
    ) -> Result<ReadResult, LogError> {
        self.check_usable()?;
        let (seg, end_pos, end, hw, lso, log_start) = {
            let s = read_lock(&self.state);
            if offset < s.log_start || offset > s.leo {
                return Err(LogError::OffsetOutOfRange {
                    requested: offset,
                    start: s.log_start,
                    end: s.leo,
                });
            }
            let lso = s.last_stable_offset();
            let end = match bound {
                Bound::HighWatermark => s.hw,
                Bound::Stable => lso,
                Bound::LogEnd => s.leo,
            };
            if offset >= end {
                return Ok(ReadResult {
                    records: FileSlice::default(),
                    high_watermark: s.hw,
                    last_stable_offset: lso,
                    log_start_offset: s.log_start,
                });
            }
            let Some((_, seg)) = s.segments.range(..=offset).next_back() else {
                return Err(LogError::OffsetOutOfRange {
                    requested: offset,
                    start: s.log_start,
                    end: s.leo,
                });
            };
            (Arc::clone(seg), s.end_pos(seg), end, s.hw, lso, s.log_start)
        };
        let rerr = |e| LogError::io(format!("reading {}", self.dir.display()), e);
        let empty = ReadResult {
            records: FileSlice::default(),
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: log_start,
        };
        // `offset` is below the published end, so this segment holds it, or — where the log
        // cleaner removed the segment's last records — a later one holds the next batch
        // (Kafka reads on from the next segment).
        let (mut seg, mut end_pos) = (seg, end_pos);
        let (pos, h) = loop {
            match seg.locate(offset, end_pos) {
                Ok(Some(found)) => break found,
                Ok(None) => {
                    let next = {
                        let s = read_lock(&self.state);
                        s.segments
                            .range(seg.base_offset + 1..)
                            .next()
                            .map(|(_, n)| (Arc::clone(n), s.end_pos(n)))
                    };
                    match next {
                        Some((n, e)) if n.base_offset < end => (seg, end_pos) = (n, e),
                        // A cleaned segment whose last records — or all of them — were
                        // compacted away, up to the readable end: nothing to read yet.
                        Some((n, _))
                            if seg.base_offset < self.cleaned_below.load(Ordering::Acquire)
                                && n.base_offset >= end =>
                        {
                            return Ok(empty);
                        }
                        _ => {
                            return Err(LogError::CorruptMessage(format!(
                                "offset {offset} is below the readable end {end} but {} ends before it",
                                seg.log_path().display()
                            )));
                        }
                    }
                }
                Err(Fault::Io(e)) => return Err(rerr(e)),
                Err(Fault::Corrupt(why)) => return Err(LogError::CorruptMessage(why)),
            }
        };
        if h.base_offset >= end {
            // The gap left by compaction reaches the readable end.
            return Ok(empty);
        }
        let file = seg.log_file().map_err(rerr)?;
        let first = h.batch_size();
        let (stop, next) = if first > max_bytes {
            if !min_one {
                return Ok(empty);
            }
            (pos + first as u64, h.last_offset() + 1)
        } else {
            let limit = pos + (max_bytes as u64).min(end_pos - pos);
            seg.whole_batches_end(&file, pos, &h, limit, end)
                .map_err(rerr)?
        };
        Ok(ReadResult {
            records: FileSlice::new(file, pos, (stop - pos) as usize, h.base_offset, next),
            high_watermark: hw,
            last_stable_offset: lso,
            log_start_offset: log_start,
        })
    }

    /// First offset of the log (advanced by retention and DeleteRecords).
    pub fn log_start_offset(&self) -> i64 {
        read_lock(&self.state).log_start
    }

    /// Offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        read_lock(&self.state).leo
    }

    /// High watermark: consumers read below it. Equals the log end offset unless the
    /// partition is replicated (`set_hw_follows_leo(false)`).
    pub fn high_watermark(&self) -> i64 {
        read_lock(&self.state).hw
    }

    /// Total bytes of all segment `.log` files.
    pub fn size_bytes(&self) -> u64 {
        read_lock(&self.state)
            .segments
            .values()
            .map(|s| s.size())
            .sum()
    }

    /// The sealed (immutable) segments, oldest first: what the scrubber checks.
    pub(crate) fn sealed_segments(&self) -> Vec<Arc<Segment>> {
        let s = read_lock(&self.state);
        let n = s.segments.len().saturating_sub(1);
        s.segments.values().take(n).cloned().collect()
    }

    /// The idempotent producers this partition tracks (DescribeProducers), by producer id.
    /// Takes the writer lock for the copy only.
    pub fn active_producers(&self) -> Result<Vec<ActiveProducer>, LogError> {
        self.check_usable()?;
        Ok(lock(&self.writer).producers.active())
    }

    /// Number of segments (including the active one).
    pub fn segment_count(&self) -> usize {
        read_lock(&self.state).segments.len()
    }

    /// A `watch` receiver of the high watermark, for consumer long polls.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.hw_tx.subscribe()
    }

    /// A `watch` receiver of the log end offset, woken by every append: for follower long
    /// polls (`read_to_end`).
    pub fn subscribe_end(&self) -> watch::Receiver<i64> {
        self.leo_tx.subscribe()
    }
}
