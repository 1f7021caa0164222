//! The append path of a `PartitionLog`: batch-level checks (size, CreateTime bounds),
//! idempotent-producer sequencing, offset assignment, then `write_at_end` — segment rolling,
//! index entries, the leader epoch cache, producer state (with open transactions and the
//! aborted-transaction index, `txn.rs`) and publication of the new log end (and high
//! watermark) — which the follower's `append_replica` (`replica.rs`) and the transaction
//! marker writer (`txn.rs`) share — and the idle roll the log cleaner asks of a quiet
//! compacted partition (`roll_if_idle`).
//!
//! Invariants: appends run one at a time under the writer lock; each batch's base offset is
//! the previous log end offset (offsets dense and monotonic); nothing of an append is visible
//! to readers before its bytes are in the page cache (the state lock is taken for writing only
//! to publish). A write that fails for lack of space or descriptors is cut back to the last
//! good position (`write_error`, `Segment::rewind`; retried by `finish_rewind` before the next
//! write if the cut itself failed) and refused without failing the partition; any other write
//! error is fail-stop (`health.rs`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{AppendOutcome, PartitionLog, Writer};
use crate::log::batch::{patch_for_append, BatchHeader};
use crate::log::config::{LogConfig, TimestampType};
use crate::log::error::LogError;
use crate::log::files::is_retryable_write_error;
use crate::log::producer_state::SeqCheck;
use crate::log::segment::Segment;
use crate::log::{lock, read_lock, write_lock};

impl PartitionLog {
    /// A write-path error. Fail-stop, unless it is one after which nothing durable was lost
    /// (full disk or quota, no descriptor): then the active segment is cut back to `write_pos`
    /// and the index `mark`, and the append is refused without failing the partition. Call
    /// with the writer lock held, before anything of the append was published.
    fn write_error(
        &self,
        w: &mut Writer,
        active: &Segment,
        mark: (usize, usize),
        what: &str,
        err: std::io::Error,
    ) -> LogError {
        if !is_retryable_write_error(&err) {
            return self.fail(what, err);
        }
        if let Err(e) = active.rewind(w.write_pos, mark) {
            if !is_retryable_write_error(&e) {
                return self.fail("cutting off a failed write", e);
            }
            w.rewind_pending = true;
        }
        self.suspend(what, &err)
    }

    /// Retries cutting off an earlier failed write before anything else is written.
    pub(super) fn finish_rewind(&self, w: &mut Writer) -> Result<(), LogError> {
        if !w.rewind_pending {
            return Ok(());
        }
        let active = Arc::clone(read_lock(&self.state).active());
        match active.rewind(w.write_pos, active.index_mark()) {
            Ok(()) => {
                w.rewind_pending = false;
                Ok(())
            }
            Err(e) if is_retryable_write_error(&e) => {
                Err(self.suspend("cutting off a failed write", &e))
            }
            Err(e) => Err(self.fail("cutting off a failed write", e)),
        }
    }

    /// Appends one client batch that already passed [`crate::log::validate_produce_batch`] (bytes
    /// exactly as the client sent them). Assigns offsets by patching BaseOffset and
    /// PartitionLeaderEpoch in a reused private copy; for LogAppendTime also sets MaxTimestamp
    /// and attribute bit 3 and recomputes the CRC (BaseTimestamp is left as sent, like Kafka).
    /// For CreateTime, checks `message.timestamp.before/after.max.ms` at batch level (base and
    /// max timestamp, not every record).
    ///
    /// Idempotence (producer id ≥ 0): see `producer_state.rs` — a retry of one of the last 5
    /// batches returns `Duplicate` with the original offsets; gaps, stale epochs and a new
    /// epoch not starting at 0 are rejected; unknown producers are accepted at any sequence
    /// (Kafka's current, KIP-360 behaviour).
    ///
    /// Rolls the segment first if the batch would overflow `segment.bytes`, the segment is older
    /// than `segment.ms` (for a compacted topic: or `max.compaction.lag.ms`, see
    /// `LogConfig::roll_ms`), or its index is full. Then advances the high watermark and wakes
    /// `subscribe` receivers. A new `leader_epoch` (≥ 0, above the latest) is recorded in the
    /// epoch cache. Does not fsync (see `flush` / `LogManager::flush_if_needed`).
    pub fn append(
        &self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendOutcome, LogError> {
        self.check_usable()?;
        let h = BatchHeader::parse(batch)?;
        if h.batch_size() != batch.len() {
            return Err(LogError::InvalidRecord(format!(
                "append expects exactly one whole batch: header says {} bytes, got {}",
                h.batch_size(),
                batch.len()
            )));
        }
        let cfg = self.config();
        if batch.len() > cfg.max_message_bytes {
            return Err(LogError::MessageTooLarge {
                size: batch.len(),
                max: cfg.max_message_bytes,
            });
        }
        let log_append_time = match cfg.message_timestamp_type {
            TimestampType::LogAppendTime => Some(now_ms),
            TimestampType::CreateTime => {
                if now_ms.saturating_sub(h.base_timestamp) > cfg.message_timestamp_before_max_ms {
                    return Err(LogError::InvalidTimestamp {
                        timestamp: h.base_timestamp,
                        now: now_ms,
                    });
                }
                if h.max_timestamp.saturating_sub(now_ms) > cfg.message_timestamp_after_max_ms {
                    return Err(LogError::InvalidTimestamp {
                        timestamp: h.max_timestamp,
                        now: now_ms,
                    });
                }
                None
            }
        };

        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        self.check_usable()?;
        self.finish_rewind(w)?;
        if let SeqCheck::Duplicate(b) = w.producers.check(&h)? {
            return Ok(AppendOutcome::Duplicate {
                base_offset: b.first_offset,
                last_offset: b.last_offset,
                log_start_offset: self.log_start_offset(),
            });
        }

        let leo = read_lock(&self.state).leo;
        let fin = BatchHeader {
            base_offset: leo,
            partition_leader_epoch: leader_epoch,
            max_timestamp: log_append_time.unwrap_or(h.max_timestamp),
            ..h
        };
        let mut scratch = std::mem::take(&mut w.scratch);
        scratch.clear();
        scratch.extend_from_slice(batch);
        patch_for_append(&mut scratch, leo, leader_epoch, log_append_time);
        let written = self.write_at_end(w, &cfg, &scratch, &fin);
        w.scratch = scratch;
        let log_start = written?;
        Ok(AppendOutcome::Appended {
            base_offset: leo,
            last_offset: fin.last_offset(),
            log_append_time: log_append_time.unwrap_or(-1),
            log_start_offset: log_start,
        })
    }

    /// Writes one finished batch — `bytes`, whose header `fin` already carries its final base
    /// offset (the log end offset), leader epoch and timestamps — at the log end: rolls the
    /// segment if needed, writes it, adds index entries, records a new leader epoch, updates
    /// producer state and publishes the new log end (and the high watermark while it follows
    /// the log end). Shared by the leader's `append` and the follower's `append_replica`.
    /// Returns the log start offset. Call with the writer lock held.
    pub(super) fn write_at_end(
        &self,
        w: &mut Writer,
        cfg: &LogConfig,
        bytes: &[u8],
        fin: &BatchHeader,
    ) -> Result<i64, LogError> {
        let (leo, mut active) = {
            let s = read_lock(&self.state);
            (s.leo, Arc::clone(s.active()))
        };
        debug_assert_eq!(fin.base_offset, leo, "a batch is written at the log end");
        let size = bytes.len() as u64;
        let meta = active.meta();
        let need_roll = w.write_pos > 0
            && (w.write_pos + size > cfg.effective_segment_bytes()
                // Kafka's segment.ms rule: the incoming batch's timestamp against the first
                // batch's, so producers with old CreateTime timestamps do not roll every batch.
                // For a compacted topic also max.compaction.lag.ms (`LogConfig::roll_ms`).
                || (meta.rolling_timestamp >= 0
                    && fin.max_timestamp.saturating_sub(meta.rolling_timestamp) > cfg.roll_ms())
                || active.index_entries() >= cfg.max_index_entries()
                || fin.last_offset() - active.base_offset > i64::from(i32::MAX));
        if need_roll {
            active = self.roll(w, leo)?;
        }

        let pos = w.write_pos;
        let mark = active.index_mark();
        let since = w.bytes_since_index;
        if let Err(e) = active.write_at(bytes, pos) {
            return Err(self.write_error(w, &active, mark, "writing batch", e));
        }
        if let Err(e) = active.index_batch(
            pos,
            leo,
            size,
            &mut w.bytes_since_index,
            cfg.index_interval_bytes,
        ) {
            w.bytes_since_index = since;
            return Err(self.write_error(w, &active, mark, "writing index", e));
        }
        {
            let mut ep = write_lock(&self.epochs);
            if ep.assign(fin.partition_leader_epoch, leo) {
                if let Err(e) = ep.persist(&self.dir) {
                    // Undo the assignment: the epoch starts at `leo`, nothing else does.
                    ep.truncate_from_end(leo);
                    drop(ep);
                    w.bytes_since_index = since;
                    return Err(self.write_error(
                        w,
                        &active,
                        mark,
                        "writing leader-epoch-checkpoint",
                        e,
                    ));
                }
            }
        }
        // The one test non-transactional batches pay for transactions (`txn.rs`).
        let txn_event = if fin.is_transactional() {
            self.apply_txn_batch(w, &active, bytes, fin)?
        } else {
            w.producers.update(fin, None);
            None
        };
        w.write_pos += size;
        let new_leo = fin.last_offset() + 1;
        let follows = self.hw_follows_leo.load(Ordering::Acquire);
        let log_start = {
            let mut s = write_lock(&self.state);
            active.observe(leo, fin.max_timestamp);
            active.set_size(w.write_pos);
            s.leo = new_leo;
            s.leo_pos = w.write_pos;
            if let Some(ev) = txn_event {
                s.apply_txn_event(ev);
            }
            if follows {
                s.hw = new_leo;
                s.prune_stable_txns();
            }
            s.log_start
        };
        self.messages_appended
            .fetch_add(i64::from(fin.records_count.max(0)), Ordering::AcqRel);
        self.leo_tx.send_replace(new_leo);
        if follows {
            self.hw_tx.send_replace(new_leo);
        }
        if self.write_suspended.swap(false, Ordering::AcqRel) {
            tracing::info!(dir = %self.dir.display(), "partition accepts writes again");
        }
        Ok(log_start)
    }

    /// Rolls the active segment of a compacted partition that stopped receiving records, so the
    /// cleaner gets to compact them (it never touches the active segment). Called by the
    /// cleaner's pick loop (`manager/cleaner.rs`) with its clock. Rolls, under the writer lock
    /// and by the same path as an append's roll, when all of these hold:
    /// - `cleanup.policy` compacts. Delete-only partitions are left as they were: their
    ///   retention deletes sealed segments only and an idle active segment waits for the next
    ///   append's roll (`retention.rs`);
    /// - the active segment is non-empty and wholly below the high watermark (log end = high
    ///   watermark), so no replica can still truncate it;
    /// - its age exceeds [`LogConfig::roll_ms`]: `now_ms` minus its first batch's max timestamp
    ///   (the append rule's rolling timestamp), or if that is unknown (timestamps of -1) minus
    ///   the first call that saw it non-empty (Kafka counts from the segment's creation, which
    ///   also restarts at a reopen).
    ///
    /// Returns whether it rolled. A failure leaves the old segment active (`roll`) and is
    /// returned for the caller to log; the next call tries again.
    pub fn roll_if_idle(&self, now_ms: i64) -> Result<bool, LogError> {
        let cfg = self.config();
        if !cfg.cleanup_policy.compacts() {
            return Ok(false);
        }
        self.check_usable()?;
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        self.check_usable()?;
        if w.rewind_pending || w.write_pos == 0 {
            return Ok(false);
        }
        let (leo, hw, active) = {
            let s = read_lock(&self.state);
            (s.leo, s.hw, Arc::clone(s.active()))
        };
        if leo != hw {
            return Ok(false);
        }
        let rolling = active.meta().rolling_timestamp;
        let since = if rolling >= 0 {
            rolling
        } else {
            match w.idle_since {
                Some((base, at)) if base == active.base_offset => at,
                _ => {
                    w.idle_since = Some((active.base_offset, now_ms));
                    now_ms
                }
            }
        };
        if now_ms.saturating_sub(since) <= cfg.roll_ms() {
            return Ok(false);
        }
        self.roll(w, leo)?;
        tracing::info!(dir = %self.dir.display(), base_offset = leo,
            "rolled an idle active segment so the cleaner can compact it");
        Ok(true)
    }

    /// Seals the active segment, snapshots producer state at `leo` and starts a new segment.
    /// A full disk at any step leaves the old segment active (cut back to its last good
    /// position) and refuses the append; the next append rolls again.
    fn roll(&self, w: &mut Writer, leo: i64) -> Result<Arc<Segment>, LogError> {
        let old = Arc::clone(read_lock(&self.state).active());
        let mark = old.index_mark();
        if let Err(e) = old.seal() {
            return Err(self.write_error(w, &old, mark, "sealing segment", e));
        }
        if let Err(e) = w.producers.write_snapshot(&self.dir, leo) {
            return Err(self.write_error(
                w,
                &old,
                old.index_mark(),
                "writing producer snapshot",
                e,
            ));
        }
        let seg = match Segment::create(&self.dir, leo, &self.files) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                return Err(self.write_error(w, &old, old.index_mark(), "creating segment", e))
            }
        };
        // Marked before the segment becomes visible: a flush that sees the new segment (and
        // may put the recovery point in it) also fsyncs the directory entry.
        self.dir_dirty.store(true, Ordering::Release);
        {
            let mut s = write_lock(&self.state);
            s.segments.insert(leo, Arc::clone(&seg));
            s.leo_pos = 0;
        }
        // Sealed: its descriptor goes back to the cache's budget (reads reopen it on demand).
        old.unpin();
        w.write_pos = 0;
        w.bytes_since_index = 0;
        tracing::debug!(dir = %self.dir.display(), base_offset = leo, "rolled segment");
        Ok(seg)
    }
}
