//! Transactions on the log side (Kafka's `UnifiedLog` / `ProducerStateManager` /
//! `LogSegment.txnIndex` parts of KIP-98): writing a transaction marker for the coordinator,
//! the last stable offset (LSO), the aborted transactions a read_committed fetch reports, and
//! the rebuild of producer state, unstable transactions and aborted-transaction indexes from
//! the log (open, truncation).
//!
//! The LSO is `min(first offset of the oldest unstable transaction, high watermark)`, never
//! below the log start. A transaction is unstable while it is open and, once its marker is
//! written, until the high watermark passes the marker (until then a leader change may lose the
//! marker and reopen it). `State::txns` holds them by first offset, so the LSO is a walk over
//! its first entries (usually none); ended transactions are pruned from the front whenever the
//! high watermark moves. Non-transactional batches never touch it: they cost the append path
//! one test of the attribute bits.
//!
//! Wakeups: an appended marker lies at or above the high watermark, so the LSO moves only when
//! the high watermark moves (or at truncation); read_committed long polls wait on the high
//! watermark watch like everyone else.
//!
//! Aborted-transaction index: a marker that aborts an open transaction adds an entry to the
//! index of the segment it is written to (`Segment::append_aborted`), on the leader and on
//! followers alike (`write_at_end` is shared). Rebuild: the replay that rebuilds producer state
//! from the newest snapshot ≤ the log end first drops every index entry whose marker is at or
//! past the snapshot's offset, then re-adds the ones its markers produce, so the indexes agree
//! with the log after a torn tail, a truncation or a lost index write.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::{PartitionLog, State, Writer};
use crate::log::batch::{patch_for_append, BatchHeader};
use crate::log::control::{encode_marker, parse_marker, TxnMarker};
use crate::log::error::LogError;
use crate::log::producer_state::{CompletedTxn, ProducerStateManager, TxnEvent};
use crate::log::segment::Segment;
use crate::log::txn_index::AbortedTxn;
use crate::log::{lock, read_lock};

/// Marker offset of a transaction that is still open, in `State::txns`.
const OPEN: i64 = i64::MAX;

impl State {
    /// The last stable offset (module docs).
    pub(super) fn last_stable_offset(&self) -> i64 {
        match self.txns.iter().find(|&(_, &end)| end >= self.hw) {
            Some((&first, _)) => first.min(self.hw).max(self.log_start),
            None => self.hw,
        }
    }

    /// Forgets the ended transactions at the front whose marker the high watermark passed.
    pub(super) fn prune_stable_txns(&mut self) {
        while let Some((_, &end)) = self.txns.first_key_value() {
            if end >= self.hw {
                break;
            }
            self.txns.pop_first();
        }
    }

    /// Records what an appended batch did to the partition's transactions.
    pub(super) fn apply_txn_event(&mut self, ev: TxnEvent) {
        match ev {
            TxnEvent::Began(first) => {
                self.txns.insert(first, OPEN);
            }
            TxnEvent::Ended(done) => {
                self.txns.insert(done.first_offset, done.last_offset);
            }
        }
    }
}

/// The aborted-transaction index entry of a transaction that just ended aborted.
fn abort_entry(producers: &ProducerStateManager, done: &CompletedTxn) -> AbortedTxn {
    AbortedTxn {
        producer_id: done.producer_id,
        first_offset: done.first_offset,
        last_offset: done.last_offset,
        last_stable_offset: producers.stable_offset_after(done),
    }
}

/// Producer state and unstable transactions of a log whose segments are `segments` and end is
/// `leo`, with the aborted-transaction indexes brought in line (module docs): the newest
/// snapshot ≤ `leo` (snapshots above it, of a tail that was cut off, are deleted) plus a
/// replay of the batches after it. Used by `open` and by truncation. The transactions ended
/// during the replay are returned as unstable: the caller's high watermark prunes them.
pub(super) fn load_producers(
    dir: &Path,
    segments: &BTreeMap<i64, Arc<Segment>>,
    leo: i64,
) -> std::io::Result<(ProducerStateManager, BTreeMap<i64, i64>)> {
    let first_base = *segments.keys().next().unwrap_or(&0);
    let (snap, mut producers) = ProducerStateManager::load_latest(dir, leo)?;
    let from = snap.unwrap_or(first_base);
    let mut txns: BTreeMap<i64, i64> = producers
        .ongoing_first_offsets()
        .map(|f| (f, OPEN))
        .collect();
    let start_seg = segments
        .range(..=from)
        .next_back()
        .map_or(first_base, |(b, _)| *b);
    for seg in segments.range(start_seg..).map(|(_, s)| s) {
        seg.truncate_aborted(from)?;
    }
    if from < leo {
        for seg in segments.range(start_seg..).map(|(_, s)| s) {
            seg.for_each_header(from, |h, marker| {
                match producers.update(h, marker) {
                    Some(TxnEvent::Began(first)) => {
                        txns.insert(first, OPEN);
                    }
                    Some(TxnEvent::Ended(done)) => {
                        txns.insert(done.first_offset, done.last_offset);
                        if done.aborted {
                            seg.append_aborted(abort_entry(&producers, &done))?;
                        }
                    }
                    None => {}
                }
                Ok(())
            })?;
        }
    }
    Ok((producers, txns))
}

impl PartitionLog {
    /// The transaction part of `write_at_end`, for a transactional batch `fin` (data or
    /// marker; `bytes` is the whole batch) written to `active`: updates producer state and, for
    /// a marker that aborts an open transaction, appends to `active`'s aborted-transaction
    /// index. A failed index write is fail-stop (the batch is written but not published; the
    /// next open rebuilds the index from it). Call with the writer lock held.
    pub(super) fn apply_txn_batch(
        &self,
        w: &mut Writer,
        active: &Segment,
        bytes: &[u8],
        fin: &BatchHeader,
    ) -> Result<Option<TxnEvent>, LogError> {
        let marker = if fin.is_control() {
            parse_marker(bytes, fin)
        } else {
            None
        };
        let ev = w.producers.update(fin, marker);
        if let Some(TxnEvent::Ended(done)) = &ev {
            if done.aborted {
                active
                    .append_aborted(abort_entry(&w.producers, done))
                    .map_err(|e| self.fail("writing the transaction index", e))?;
            }
        }
        Ok(ev)
    }

    /// Writes a transaction marker (Kafka's `appendAsLeader` of
    /// `MemoryRecords.withEndTransactionMarker`, origin coordinator): one control batch
    /// (`control.rs`) for `producer_id` at `producer_epoch`, COMMIT if `commit` else ABORT,
    /// stamped with `coordinator_epoch`, the partition `leader_epoch` and timestamp `now_ms`.
    /// It ends the producer's open transaction on this partition (an ABORT goes into the
    /// aborted-transaction index). Returns the marker's offset.
    ///
    /// Errors: a producer epoch below the partition's → `InvalidProducerEpoch`; a coordinator
    /// epoch below the producer's last marker's → `CoordinatorFenced`; a negative producer id
    /// → `InvalidRequest`; storage errors as for any append. Only the leader calls this; the
    /// acknowledgement policy (replication) is the partition layer's
    /// (`ReplicaManager::write_txn_marker`).
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
        commit: bool,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<i64, LogError> {
        self.check_usable()?;
        if producer_id < 0 {
            return Err(LogError::InvalidRequest(format!(
                "a transaction marker needs a producer id, got {producer_id}"
            )));
        }
        let marker = TxnMarker {
            commit,
            coordinator_epoch,
        };
        let mut batch = encode_marker(producer_id, producer_epoch, marker, now_ms);
        let cfg = self.config();
        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        self.check_usable()?;
        self.finish_rewind(w)?;
        w.producers
            .check_marker(producer_id, producer_epoch, coordinator_epoch)?;
        let leo = read_lock(&self.state).leo;
        patch_for_append(&mut batch, leo, leader_epoch, None);
        let fin = BatchHeader::parse(&batch)?;
        self.write_at_end(w, &cfg, &batch, &fin)?;
        Ok(leo)
    }

    /// The last stable offset: read_committed consumers read below it. Equals the high
    /// watermark while no transaction is unstable.
    pub fn last_stable_offset(&self) -> i64 {
        read_lock(&self.state).last_stable_offset()
    }

    /// The aborted transactions a read_committed fetch of `[fetch_offset, upper)` must report
    /// (Kafka's `collectAbortedTransactions`): every one whose marker is at or after
    /// `fetch_offset` and whose first offset is below `upper`, including those that began
    /// before `fetch_offset`; sorted by first offset. Searches the in-memory indexes of the
    /// segment holding `fetch_offset` and the later ones, until an entry's last stable offset
    /// shows nothing further can overlap. No I/O.
    pub fn aborted_transactions(&self, fetch_offset: i64, upper: i64) -> Vec<AbortedTxn> {
        let mut out = Vec::new();
        {
            let s = read_lock(&self.state);
            let start = s
                .segments
                .range(..=fetch_offset)
                .next_back()
                .map_or(i64::MIN, |(b, _)| *b);
            for seg in s.segments.range(start..).map(|(_, x)| x) {
                if seg.collect_aborted(fetch_offset, upper, &mut out) {
                    break;
                }
            }
        }
        out.sort_unstable_by_key(|e| (e.first_offset, e.producer_id));
        out
    }
}
