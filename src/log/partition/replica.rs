//! Replication on the log side (Kafka's `UnifiedLog` follower and leader-change paths): the
//! high watermark as its own offset, verbatim appends of batches fetched from the leader,
//! the start of a leader epoch, truncation of a diverged tail, and a restart at the leader's
//! log start.
//!
//! Invariants: every mutation here runs under the writer lock, like an append; the high
//! watermark never exceeds the log end offset and, outside truncation, never goes down; it is
//! sent to its watch while the state lock is held so the watch sees changes in state order.
//! Truncation and restart publish the shorter log to readers first, then change the files,
//! and keep the directory a valid log at every step: later segments are unlinked newest
//! first, then the segment holding the cut is cut (so a crash leaves a prefix of the old
//! log, which `open` recovers), and the directory is fsynced. Any I/O error in them is
//! fail-stop (the next open recovers a valid prefix).

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::txn::load_producers;
use super::{PartitionLog, Writer};
use crate::log::batch::{compute_crc, BatchHeader, HEADER_SIZE};
use crate::log::checkpoint;
use crate::log::epoch_cache::LeaderEpochCache;
use crate::log::error::LogError;
use crate::log::files::is_retryable_write_error;
use crate::log::producer_state::{list_snapshots, snapshot_name, ProducerStateManager};
use crate::log::segment::{Segment, SyncError};
use crate::log::verify::Fault;
use crate::log::{lock, read_lock, write_lock};

impl PartitionLog {
    /// On (the default, a single replica): every append publishes high watermark = log end
    /// offset. Off (a replicated partition): the high watermark moves only by
    /// [`PartitionLog::advance_high_watermark`] and truncation. Turning it on sets the high
    /// watermark to the log end offset.
    pub fn set_hw_follows_leo(&self, on: bool) {
        let _w = lock(&self.writer);
        self.hw_follows_leo.store(on, Ordering::Release);
        if on {
            let mut s = write_lock(&self.state);
            if s.hw != s.leo {
                s.hw = s.leo;
                self.hw_tx.send_replace(s.hw);
            }
        }
    }

    /// Sets the high watermark to a value read back from the replica manager's checkpoint
    /// after a restart (Kafka's `replication-offset-checkpoint`): `open` starts with it at the
    /// log end offset, which may cover records never committed. Clamped to [log start, log
    /// end]; unlike `advance_high_watermark` it may move down. Wakes `subscribe` receivers if
    /// it changed.
    pub fn restore_high_watermark(&self, hw: i64) {
        let mut s = write_lock(&self.state);
        let hw = hw.clamp(s.log_start, s.leo);
        if hw != s.hw {
            s.hw = hw;
            self.hw_tx.send_replace(hw);
        }
    }

    /// Moves the high watermark up to `hw`, clamped to the log end offset; a value at or below
    /// the current one is ignored. Wakes [`PartitionLog::subscribe`] receivers. Returns
    /// whether it moved. The caller passes a batch boundary (a follower's log end offset).
    pub fn advance_high_watermark(&self, hw: i64) -> bool {
        let mut s = write_lock(&self.state);
        let new = hw.min(s.leo);
        if new <= s.hw {
            return false;
        }
        s.hw = new;
        s.prune_stable_txns();
        self.hw_tx.send_replace(new);
        true
    }

    /// Appends batches fetched from the partition leader verbatim: offsets, leader epochs and
    /// timestamps as the leader wrote them, no idempotence check. `records` is a Fetch
    /// response's records field: whole magic-2 batches, possibly followed by a partial one
    /// (ignored). Each batch must pass its CRC check (else `CorruptMessage`) and start at the
    /// log end offset (else `InvalidRecord`); batches before a bad one stay appended. Each
    /// batch's leader epoch goes into the epoch cache and its producer into producer state,
    /// exactly as the leader's append does (`write_at_end`). Returns the new log end offset.
    pub fn append_replica(&self, records: &[u8]) -> Result<i64, LogError> {
        self.check_usable()?;
        let cfg = self.config();
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        self.check_usable()?;
        self.finish_rewind(w)?;
        let mut rest = records;
        while rest.len() >= HEADER_SIZE {
            let h = BatchHeader::parse(rest)?;
            let size = h.batch_size();
            let Some(batch) = rest.get(..size) else {
                break; // a partial trailing batch: the leader's fetch size cut it
            };
            let crc = compute_crc(batch);
            if crc != h.crc {
                return Err(LogError::CorruptMessage(format!(
                    "replicated batch at offset {} fails its CRC check: stored {:#010x}, \
                     computed {crc:#010x}",
                    h.base_offset, h.crc
                )));
            }
            if h.last_offset_delta < 0 {
                return Err(LogError::InvalidRecord(format!(
                    "replicated batch at offset {} has a negative last offset delta {}",
                    h.base_offset, h.last_offset_delta
                )));
            }
            let leo = read_lock(&self.state).leo;
            // The leader's log may have gaps where its cleaner removed records.
            if h.base_offset < leo {
                return Err(LogError::InvalidRecord(format!(
                    "replicated batch starts at offset {} but the log ends at offset {leo}",
                    h.base_offset
                )));
            }
            self.write_at_end(w, &cfg, batch, &h)?;
            rest = &rest[size..];
        }
        Ok(read_lock(&self.state).leo)
    }

    /// Kafka's makeLeader: if `epoch` is above the latest cached epoch, records that it starts
    /// at the log end offset and persists the cache, so OffsetForLeaderEpoch answers for it
    /// before its first append.
    pub fn begin_leader_epoch(&self, epoch: i32) -> Result<(), LogError> {
        self.check_usable()?;
        let _w = lock(&self.writer);
        self.check_usable()?;
        let leo = read_lock(&self.state).leo;
        let mut ep = write_lock(&self.epochs);
        let before = ep.clone();
        if ep.assign(epoch, leo) {
            if let Err(e) = ep.persist(&self.dir) {
                *ep = before;
                drop(ep);
                // Nothing changed on disk: a full disk only refuses this call.
                if is_retryable_write_error(&e) {
                    return Err(self.suspend("writing leader-epoch-checkpoint", &e));
                }
                return Err(self.fail("writing leader-epoch-checkpoint", e));
            }
        }
        Ok(())
    }

    /// Removes every record at offset ≥ `offset` (a follower's diverged tail); if `offset`
    /// falls inside a batch, that whole batch goes. No-op if `offset` ≥ the log end offset;
    /// below the log start it is [`PartitionLog::truncate_fully_and_start_at`]. Segments
    /// after the one holding `offset` are deleted, that one is cut and becomes the active
    /// segment again; producer state, open transactions and aborted-transaction indexes are
    /// rebuilt (snapshot ≤ the new end plus replay, `txn.rs`) — a transaction whose marker was
    /// cut off is open again —, the epoch cache loses the epochs starting at or after the new
    /// end, and the high watermark, flushed offset and recovery point are clamped to it. Both
    /// watches are woken.
    pub fn truncate_to(&self, offset: i64) -> Result<(), LogError> {
        self.check_usable()?;
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        self.check_usable()?;
        self.finish_rewind(w)?;
        let (log_start, leo) = {
            let s = read_lock(&self.state);
            (s.log_start, s.leo)
        };
        if offset >= leo {
            // Nothing to cut, but an epoch this replica began as leader without appending
            // anything (`begin_leader_epoch`) may sit at the log end and contradict the new
            // leader: drop it, or the follower would diverge on it forever (Kafka does the same).
            let mut ep = write_lock(&self.epochs);
            if ep.truncate_from_end(leo) {
                if let Err(e) = ep.persist(&self.dir) {
                    return Err(self.fail("writing leader-epoch-checkpoint", e));
                }
            }
            return Ok(());
        }
        if offset < log_start {
            return self.start_at(w, offset);
        }
        let (seg, end_pos, later) = {
            let s = read_lock(&self.state);
            let Some((_, seg)) = s.segments.range(..=offset).next_back() else {
                return Err(LogError::OffsetOutOfRange {
                    requested: offset,
                    start: s.log_start,
                    end: s.leo,
                });
            };
            let later: Vec<Arc<Segment>> = s
                .segments
                .range(seg.base_offset + 1..)
                .map(|(_, x)| Arc::clone(x))
                .collect();
            (Arc::clone(seg), s.end_pos(seg), later)
        };
        let (pos, new_leo) = match seg.locate(offset, end_pos) {
            Ok(Some((pos, h))) => (pos, h.base_offset),
            Ok(None) => {
                return Err(LogError::CorruptMessage(format!(
                    "offset {offset} is below the log end {leo} but {} ends before it",
                    seg.log_path().display()
                )))
            }
            Err(Fault::Io(e)) => return Err(self.fail("locating the truncation point", e)),
            Err(Fault::Corrupt(why)) => return Err(LogError::CorruptMessage(why)),
        };

        // Readers first: from here on nothing at or past the cut is handed out.
        {
            let mut s = write_lock(&self.state);
            for x in &later {
                s.segments.remove(&x.base_offset);
            }
            s.leo = new_leo;
            s.leo_pos = pos;
            s.hw = s.hw.min(new_leo);
            s.log_start = s.log_start.min(new_leo);
        }
        // Newest first, so a crash in between leaves a prefix of the old log.
        for x in later.iter().rev() {
            x.delete_files()
                .map_err(|e| self.fail("deleting a truncated segment", e))?;
        }
        seg.rewind(pos, (0, 0))
            .map_err(|e| self.fail("cutting the truncated segment", e))?;
        let r = seg
            .recover(self.config().index_interval_bytes, true)
            .map_err(|e| self.fail("re-indexing the truncated segment", e))?;
        if r.next_offset != new_leo {
            return Err(self.fail(
                "truncating the log",
                std::io::Error::other(format!(
                    "the cut segment {} ends at offset {} instead of {new_leo}",
                    seg.log_path().display(),
                    r.next_offset
                )),
            ));
        }
        if !later.is_empty() {
            // It was sealed; as the active segment it pins its handle again.
            seg.pin()
                .map_err(|e| self.fail("opening the new active segment", e))?;
        }
        seg.sync().map_err(|e| match e {
            SyncError::Open(e) | SyncError::Fsync(e) => {
                self.fail("fsync of the truncated segment", e)
            }
        })?;
        let segments = read_lock(&self.state).segments.clone();
        let (producers, txns) = load_producers(&self.dir, &segments, new_leo)
            .map_err(|e| self.fail("rebuilding producer state", e))?;
        w.producers = producers;
        write_lock(&self.state).txns = txns;
        checkpoint::sync_dir(&self.dir)
            .map_err(|e| self.fail("fsync of partition directory", e))?;
        {
            let mut ep = write_lock(&self.epochs);
            if ep.truncate_from_end(new_leo) {
                ep.persist(&self.dir)
                    .map_err(|e| self.fail("writing leader-epoch-checkpoint", e))?;
            }
        }
        w.write_pos = pos;
        w.bytes_since_index = r.bytes_since_index;
        w.rewind_pending = false;
        self.clamp_durable_marks(new_leo)?;
        self.cleaner_offset.fetch_min(new_leo, Ordering::AcqRel);
        self.publish_truncation(new_leo);
        tracing::info!(dir = %self.dir.display(), from = leo, to = new_leo, "truncated log");
        Ok(())
    }

    /// Deletes every segment and restarts the log empty at `offset`: log start = log end =
    /// high watermark = `offset` (persisted in `log-start-offset`); producer state, its
    /// snapshots and the epoch cache are cleared. For a follower whose log lies behind the
    /// leader's log start (or diverges below its own).
    pub fn truncate_fully_and_start_at(&self, offset: i64) -> Result<(), LogError> {
        self.check_usable()?;
        let mut guard = lock(&self.writer);
        self.check_usable()?;
        self.finish_rewind(&mut guard)?;
        self.start_at(&mut guard, offset)
    }

    fn start_at(&self, w: &mut Writer, offset: i64) -> Result<(), LogError> {
        if offset < 0 {
            let s = read_lock(&self.state);
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start: s.log_start,
                end: s.leo,
            });
        }
        let old_leo = read_lock(&self.state).leo;
        checkpoint::write_log_start(&self.dir, offset)
            .map_err(|e| self.fail("writing log-start-offset", e))?;
        let snaps =
            list_snapshots(&self.dir).map_err(|e| self.fail("listing producer snapshots", e))?;
        for o in snaps {
            match std::fs::remove_file(self.dir.join(snapshot_name(o))) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(self.fail("deleting a producer snapshot", e))
                }
                _ => {}
            }
        }
        {
            let mut ep = write_lock(&self.epochs);
            *ep = LeaderEpochCache::default();
            ep.persist(&self.dir)
                .map_err(|e| self.fail("writing leader-epoch-checkpoint", e))?;
        }
        {
            // Under the state lock: no reader picks a segment whose files are going away.
            let mut s = write_lock(&self.state);
            for seg in s.segments.values().rev() {
                seg.delete_files()
                    .map_err(|e| self.fail("deleting a segment", e))?;
            }
            let seg = Segment::create(&self.dir, offset, &self.files)
                .map_err(|e| self.fail("creating segment", e))?;
            s.segments = BTreeMap::from([(offset, Arc::new(seg))]);
            s.log_start = offset;
            s.leo = offset;
            s.hw = offset;
            s.leo_pos = 0;
            s.txns.clear();
        }
        checkpoint::sync_dir(&self.dir)
            .map_err(|e| self.fail("fsync of partition directory", e))?;
        w.producers = ProducerStateManager::default();
        w.write_pos = 0;
        w.bytes_since_index = 0;
        w.rewind_pending = false;
        {
            let mut rp = lock(&self.recovery_point);
            checkpoint::write_recovery_point(&self.dir, offset)
                .map_err(|e| self.fail("writing recovery-point", e))?;
            *rp = offset;
        }
        self.flushed_offset.store(offset, Ordering::Release);
        self.cleaner_offset.store(offset, Ordering::Release);
        self.publish_truncation(offset);
        tracing::info!(dir = %self.dir.display(), from = old_leo, start = offset,
            "restarted log at a new start offset");
        Ok(())
    }

    /// Clamps the flushed offset and the recovery point to a new, lower log end.
    fn clamp_durable_marks(&self, leo: i64) -> Result<(), LogError> {
        self.flushed_offset.fetch_min(leo, Ordering::AcqRel);
        let mut rp = lock(&self.recovery_point);
        if *rp > leo {
            checkpoint::write_recovery_point(&self.dir, leo)
                .map_err(|e| self.fail("writing recovery-point", e))?;
            *rp = leo;
        }
        Ok(())
    }

    /// Wakes both watches after the log end moved down.
    fn publish_truncation(&self, leo: i64) {
        {
            let s = write_lock(&self.state);
            self.hw_tx.send_replace(s.hw);
        }
        self.leo_tx.send_replace(leo);
    }
}
