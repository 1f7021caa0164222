//! Producer state of one partition (Kafka's `ProducerStateManager`): for each producer id, its
//! epoch, the sequence/offset ranges of its last 5 batches (what Kafka keeps, matching the
//! client's `max.in.flight.requests.per.connection` ≤ 5), the coordinator epoch of its last
//! transaction marker and the first offset of its open transaction on this partition. Used to
//! answer retries of one of those batches with the original offsets, to reject sequence gaps
//! and stale epochs, and to know which transactions are open (the last stable offset) and how
//! each one ended (the aborted-transaction index, `txn_index.rs`).
//!
//! Rules for data batches (Kafka's `ProducerAppendInfo`, current behaviour):
//! - epoch below the recorded one → INVALID_PRODUCER_EPOCH (transactional or not);
//! - epoch above the recorded one → the batch must start at sequence 0, else
//!   OUT_OF_ORDER_SEQUENCE_NUMBER; the old epoch's batches are forgotten;
//! - same epoch: a batch whose first and last sequences equal one of the last 5 is a duplicate;
//!   otherwise its first sequence must follow the last one (wrapping `i32::MAX` → 0);
//! - a producer the partition knows nothing about (new, or its state expired) is accepted at any
//!   sequence, as Kafka does since KIP-360 — UNKNOWN_PRODUCER_ID is never returned;
//! - a non-transactional batch while the producer's transaction is open → INVALID_TXN_STATE;
//! - the first transactional batch while none is open opens a transaction at its base offset.
//!
//! Rules for transaction markers (control batches, `control.rs`; TV0/1 semantics): a marker
//! epoch below the producer's → INVALID_PRODUCER_EPOCH; a coordinator epoch below the one of the
//! producer's last marker → TRANSACTION_COORDINATOR_FENCED. Markers take no sequence number and
//! are not remembered as batches; a marker records its epoch (a new epoch forgets the batches,
//! so the next one starts at sequence 0) and coordinator epoch, and closes the open transaction
//! (`TxnEvent::Ended`). A marker with no open transaction closes nothing. Followers and replay
//! apply the same updates without the checks.
//!
//! Invariant: `ongoing` holds exactly the `(current_txn_first_offset, producer id)` pairs of the
//! producers with an open transaction, so the oldest open transaction is its first key.
//!
//! Snapshot file `<20-digit offset>.snapshot`: the state after applying every batch below
//! `offset`. Written at segment roll and at close; at open the newest snapshot ≤ the recovered
//! log end is loaded and the batches after it are replayed. Framed as in `checkpoint.rs`. The
//! current format has magic `RNP2`; files with the first format's magic `RNPS` still load
//! (coordinator epoch -1, no open transaction). Payload of `RNP2`:
//! ```text
//! offset size field
//!  0     4    producer count u32
//!  per producer:
//!  +0    8    producer id i64
//!  +8    2    epoch i16
//! +10    8    last timestamp i64        MaxTimestamp of its last batch (for expiry)
//! +18    4    coordinator epoch i32     of its last marker, -1 if none
//! +22    8    open txn first offset i64 -1 if no transaction is open
//! +30    1    batch count u8            ≤ 5
//! +31    24×n batches: first seq i32, last seq i32, first offset i64, last offset i64
//! ```
//! `RNPS` payloads are the same without the two fields at +18 and +22 (batch count at +18).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;

use super::batch::BatchHeader;
use super::checkpoint::{read_framed, write_framed, Reader};
use super::control::TxnMarker;
use super::error::LogError;

/// Batches remembered per producer.
pub const MAX_BATCHES_PER_PRODUCER: usize = 5;
/// Magic of snapshot files (current format).
pub const SNAPSHOT_MAGIC: u32 = u32::from_be_bytes(*b"RNP2");
/// Magic of first-format snapshot files (no transaction fields), still loaded.
pub const SNAPSHOT_MAGIC_V1: u32 = u32::from_be_bytes(*b"RNPS");
/// Extension of snapshot files.
pub const SNAPSHOT_SUFFIX: &str = "snapshot";
/// Snapshots kept on disk (the newest ones).
const SNAPSHOTS_KEPT: usize = 2;

/// Sequence and offset range of one appended batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchMeta {
    /// First sequence.
    pub first_seq: i32,
    /// Last sequence.
    pub last_seq: i32,
    /// Offset of the first record.
    pub first_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
}

/// One producer the partition tracks, as DescribeProducers reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ActiveProducer {
    pub producer_id: i64,
    pub epoch: i16,
    /// Last sequence of its newest batch (−1 if none is remembered).
    pub last_sequence: i32,
    /// MaxTimestamp of its newest batch (−1 if unknown).
    pub last_timestamp: i64,
    /// Coordinator epoch of its last transaction marker (−1 if none).
    pub coordinator_epoch: i32,
    /// First offset of its open transaction on this partition (−1 if none).
    pub current_txn_first_offset: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    last_timestamp: i64,
    coordinator_epoch: i32,
    current_txn_first_offset: Option<i64>,
    batches: VecDeque<BatchMeta>,
}

/// A transaction that ended on this partition (Kafka's `CompletedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CompletedTxn {
    pub producer_id: i64,
    /// Offset of its first batch.
    pub first_offset: i64,
    /// Offset of its marker.
    pub last_offset: i64,
    /// Ended by an ABORT marker.
    pub aborted: bool,
}

/// What an applied batch did to the partition's transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TxnEvent {
    /// A transactional batch opened a transaction at this offset.
    Began(i64),
    /// A marker closed a transaction.
    Ended(CompletedTxn),
}

/// Outcome of [`ProducerStateManager::check`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SeqCheck {
    /// Append it.
    Append,
    /// Retry of an appended batch: answer with its offsets, do not write.
    Duplicate(BatchMeta),
}

/// All producers of one partition.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProducerStateManager {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset → producer id (see the module invariant).
    ongoing: BTreeMap<i64, i64>,
}

fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (last == i32::MAX && next == 0)
}

impl ProducerStateManager {
    /// Checks an incoming data batch against the producer's state (see module docs).
    pub(crate) fn check(&self, h: &BatchHeader) -> Result<SeqCheck, LogError> {
        if h.producer_id < 0 {
            return Ok(SeqCheck::Append);
        }
        let Some(e) = self.producers.get(&h.producer_id) else {
            return Ok(SeqCheck::Append);
        };
        if h.producer_epoch < e.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                current: e.epoch,
                got: h.producer_epoch,
            });
        }
        if !h.is_transactional() {
            if let Some(first) = e.current_txn_first_offset {
                return Err(LogError::InvalidTxnState(format!(
                    "producer {} sent a non-transactional batch while its transaction opened \
                     at offset {first} is not ended",
                    h.producer_id
                )));
            }
        }
        if h.producer_epoch > e.epoch {
            if h.base_sequence != 0 {
                return Err(LogError::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected: 0,
                    got: h.base_sequence,
                });
            }
            return Ok(SeqCheck::Append);
        }
        let last_seq = h.last_sequence();
        if let Some(b) = e
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq)
        {
            return Ok(SeqCheck::Duplicate(*b));
        }
        match e.batches.back() {
            Some(b) if !in_sequence(b.last_seq, h.base_sequence) => {
                Err(LogError::OutOfOrderSequence {
                    producer_id: h.producer_id,
                    expected: b.last_seq.wrapping_add(1).max(0),
                    got: h.base_sequence,
                })
            }
            _ => Ok(SeqCheck::Append),
        }
    }

    /// Checks a transaction marker the leader is about to write (see module docs).
    pub(crate) fn check_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        coordinator_epoch: i32,
    ) -> Result<(), LogError> {
        let Some(e) = self.producers.get(&producer_id) else {
            return Ok(());
        };
        if producer_epoch < e.epoch {
            return Err(LogError::InvalidProducerEpoch {
                producer_id,
                current: e.epoch,
                got: producer_epoch,
            });
        }
        if coordinator_epoch < e.coordinator_epoch {
            return Err(LogError::CoordinatorFenced {
                producer_id,
                current: e.coordinator_epoch,
                got: coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Records an appended batch (`h` carries its final offsets; `marker` is what a control
    /// batch says, `control::parse_marker`). Also used by followers and replay. A control batch
    /// that is not a transaction marker changes nothing.
    pub(crate) fn update(
        &mut self,
        h: &BatchHeader,
        marker: Option<TxnMarker>,
    ) -> Option<TxnEvent> {
        if h.producer_id < 0 {
            return None;
        }
        if h.is_control() {
            return marker.and_then(|m| self.end_txn(h, m));
        }
        let e = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| new_entry(h.producer_epoch));
        if h.producer_epoch != e.epoch {
            e.epoch = h.producer_epoch;
            e.batches.clear();
        }
        e.last_timestamp = e.last_timestamp.max(h.max_timestamp);
        e.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: h.last_sequence(),
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
        while e.batches.len() > MAX_BATCHES_PER_PRODUCER {
            e.batches.pop_front();
        }
        if h.is_transactional() && e.current_txn_first_offset.is_none() {
            e.current_txn_first_offset = Some(h.base_offset);
            self.ongoing.insert(h.base_offset, h.producer_id);
            return Some(TxnEvent::Began(h.base_offset));
        }
        None
    }

    fn end_txn(&mut self, h: &BatchHeader, m: TxnMarker) -> Option<TxnEvent> {
        let e = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| new_entry(h.producer_epoch));
        if h.producer_epoch != e.epoch {
            e.epoch = h.producer_epoch;
            e.batches.clear();
        }
        e.coordinator_epoch = m.coordinator_epoch;
        e.last_timestamp = e.last_timestamp.max(h.max_timestamp);
        let first_offset = e.current_txn_first_offset.take()?;
        self.ongoing.remove(&first_offset);
        Some(TxnEvent::Ended(CompletedTxn {
            producer_id: h.producer_id,
            first_offset,
            last_offset: h.base_offset,
            aborted: !m.commit,
        }))
    }

    /// First offset of the oldest open transaction, if any.
    pub(crate) fn first_ongoing(&self) -> Option<i64> {
        self.ongoing.keys().next().copied()
    }

    /// First offsets of the open transactions, ascending.
    pub(crate) fn ongoing_first_offsets(&self) -> impl Iterator<Item = i64> + '_ {
        self.ongoing.keys().copied()
    }

    /// Kafka's `lastStableOffset(completedTxn)`, recorded with an aborted transaction in the
    /// index: the oldest transaction still open once `done` ended, else just past its marker.
    pub(crate) fn stable_offset_after(&self, done: &CompletedTxn) -> i64 {
        self.first_ongoing().unwrap_or(done.last_offset + 1)
    }

    /// Forgets producers whose last batch timestamp is older than `now - expiration_ms`
    /// (Kafka's `producer.id.expiration.ms`), except those with an open transaction. Returns
    /// how many were removed.
    pub(crate) fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.current_txn_first_offset.is_some()
                || now_ms.saturating_sub(e.last_timestamp) <= expiration_ms
        });
        before - self.producers.len()
    }

    /// Offset of the last batch of every tracked producer: the batch the log cleaner keeps
    /// (empty if need be) so that producer state rebuilt from the log still knows it.
    pub(crate) fn last_offsets(&self) -> HashMap<i64, i64> {
        self.producers
            .iter()
            .filter_map(|(&id, e)| e.batches.back().map(|b| (id, b.last_offset)))
            .collect()
    }

    /// Every tracked producer, by producer id.
    pub(crate) fn active(&self) -> Vec<ActiveProducer> {
        let mut v: Vec<ActiveProducer> = self
            .producers
            .iter()
            .map(|(&producer_id, e)| ActiveProducer {
                producer_id,
                epoch: e.epoch,
                last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                last_timestamp: e.last_timestamp,
                coordinator_epoch: e.coordinator_epoch,
                current_txn_first_offset: e.current_txn_first_offset.unwrap_or(-1),
            })
            .collect();
        v.sort_unstable_by_key(|p| p.producer_id);
        v
    }

    /// Number of producers tracked.
    pub(crate) fn len(&self) -> usize {
        self.producers.len()
    }

    fn encode(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(4 + self.producers.len() * 64);
        p.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        let mut ids: Vec<_> = self.producers.keys().copied().collect();
        ids.sort_unstable();
        for id in ids {
            let e = &self.producers[&id];
            p.extend_from_slice(&id.to_be_bytes());
            p.extend_from_slice(&e.epoch.to_be_bytes());
            p.extend_from_slice(&e.last_timestamp.to_be_bytes());
            p.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
            p.extend_from_slice(&e.current_txn_first_offset.unwrap_or(-1).to_be_bytes());
            p.push(e.batches.len() as u8);
            for b in &e.batches {
                p.extend_from_slice(&b.first_seq.to_be_bytes());
                p.extend_from_slice(&b.last_seq.to_be_bytes());
                p.extend_from_slice(&b.first_offset.to_be_bytes());
                p.extend_from_slice(&b.last_offset.to_be_bytes());
            }
        }
        p
    }

    /// Decodes a payload of the current format (`txn_fields`) or of the first one.
    fn decode(payload: &[u8], txn_fields: bool) -> Option<Self> {
        let mut r = Reader::new(payload);
        let n = r.u32()?;
        let mut s = ProducerStateManager::default();
        for _ in 0..n {
            let id = r.i64()?;
            let epoch = r.i16()?;
            let last_timestamp = r.i64()?;
            let (coordinator_epoch, txn_first) = if txn_fields {
                (r.i32()?, r.i64()?)
            } else {
                (-1, -1)
            };
            let nb = r.u8()? as usize;
            if nb > MAX_BATCHES_PER_PRODUCER {
                return None;
            }
            let mut batches = VecDeque::with_capacity(MAX_BATCHES_PER_PRODUCER);
            for _ in 0..nb {
                batches.push_back(BatchMeta {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                });
            }
            let current_txn_first_offset = (txn_first >= 0).then_some(txn_first);
            if let Some(f) = current_txn_first_offset {
                if s.ongoing.insert(f, id).is_some() {
                    return None;
                }
            }
            s.producers.insert(
                id,
                ProducerEntry {
                    epoch,
                    last_timestamp,
                    coordinator_epoch,
                    current_txn_first_offset,
                    batches,
                },
            );
        }
        r.is_empty().then_some(s)
    }

    /// Durably writes `<offset>.snapshot` and prunes older snapshots.
    pub(crate) fn write_snapshot(&self, dir: &Path, offset: i64) -> io::Result<()> {
        write_framed(dir, &snapshot_name(offset), SNAPSHOT_MAGIC, &self.encode())?;
        let snaps = list_snapshots(dir)?;
        if snaps.len() > SNAPSHOTS_KEPT {
            for o in &snaps[..snaps.len() - SNAPSHOTS_KEPT] {
                let _ = fs::remove_file(dir.join(snapshot_name(*o)));
            }
        }
        Ok(())
    }

    /// Reads one snapshot file in either format; `None` if absent or invalid.
    fn read_snapshot(path: &Path) -> io::Result<Option<Self>> {
        if let Some(p) = read_framed_quiet(path, SNAPSHOT_MAGIC)? {
            return Ok(Self::decode(&p, true));
        }
        Ok(read_framed(path, SNAPSHOT_MAGIC_V1)?.and_then(|p| Self::decode(&p, false)))
    }

    /// Loads the newest valid snapshot at or below `max_offset`, deleting snapshots above it
    /// (they describe a tail that recovery cut off). Returns `(offset, state)`; with no usable
    /// snapshot, `(None, empty)` and the caller replays from the start of the log.
    pub(crate) fn load_latest(dir: &Path, max_offset: i64) -> io::Result<(Option<i64>, Self)> {
        let snaps = list_snapshots(dir)?;
        for &o in snaps.iter().rev() {
            let path = dir.join(snapshot_name(o));
            if o > max_offset {
                let _ = fs::remove_file(&path);
                continue;
            }
            if let Some(s) = Self::read_snapshot(&path)? {
                return Ok((Some(o), s));
            }
            tracing::warn!(file = %path.display(), "ignoring invalid producer state snapshot");
        }
        Ok((None, Self::default()))
    }
}

fn new_entry(epoch: i16) -> ProducerEntry {
    ProducerEntry {
        epoch,
        last_timestamp: -1,
        coordinator_epoch: -1,
        current_txn_first_offset: None,
        batches: VecDeque::with_capacity(MAX_BATCHES_PER_PRODUCER),
    }
}

/// `read_framed` for the current magic without its warning: a first-format file is expected
/// to fail this check and is then read with its own magic.
fn read_framed_quiet(path: &Path, magic: u32) -> io::Result<Option<Vec<u8>>> {
    let buf = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if buf.get(..4) != Some(&magic.to_be_bytes()[..]) {
        return Ok(None);
    }
    read_framed(path, magic)
}

/// `<20-digit offset>.snapshot`
pub fn snapshot_name(offset: i64) -> String {
    format!("{offset:020}.{SNAPSHOT_SUFFIX}")
}

/// Offsets of the snapshot files in `dir`, ascending.
pub(crate) fn list_snapshots(dir: &Path) -> io::Result<Vec<i64>> {
    let mut v = Vec::new();
    for ent in fs::read_dir(dir)? {
        let name = ent?.file_name();
        let name = name.to_string_lossy();
        if let Some(stem) = name.strip_suffix(".snapshot") {
            if let Ok(o) = stem.parse::<i64>() {
                v.push(o);
            }
        }
    }
    v.sort_unstable();
    Ok(v)
}

/// Path of a snapshot file.
#[cfg(test)]
pub(crate) fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(snapshot_name(offset))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::testutil::BatchBuilder;

    fn hdr(pid: i64, epoch: i16, seq: i32, n: usize, base: i64) -> BatchHeader {
        let mut b = BatchBuilder::new()
            .records(n)
            .producer(pid, epoch, seq)
            .build();
        b[..8].copy_from_slice(&base.to_be_bytes());
        BatchHeader::parse(&b).unwrap()
    }

    #[test]
    fn sequence_rules() {
        let mut s = ProducerStateManager::default();
        // Unknown producer: any sequence accepted (KIP-360).
        assert_eq!(s.check(&hdr(1, 0, 7, 2, 0)).unwrap(), SeqCheck::Append);
        s.update(&hdr(1, 0, 0, 2, 0), None);
        assert_eq!(s.check(&hdr(1, 0, 2, 1, 2)).unwrap(), SeqCheck::Append);
        assert!(
            matches!(s.check(&hdr(1, 0, 0, 2, 9)).unwrap(), SeqCheck::Duplicate(b) if b.first_offset == 0)
        );
        assert_eq!(s.check(&hdr(1, 0, 3, 1, 2)).unwrap_err().kafka_code(), 45);
        assert_eq!(s.check(&hdr(1, 1, 5, 1, 2)).unwrap_err().kafka_code(), 45);
        assert_eq!(s.check(&hdr(1, 1, 0, 1, 2)).unwrap(), SeqCheck::Append);
        s.update(&hdr(1, 1, 0, 1, 2), None);
        assert_eq!(s.check(&hdr(1, 0, 2, 1, 3)).unwrap_err().kafka_code(), 47);
        // Only the last 5 batches are remembered.
        for i in 1..=6 {
            s.update(&hdr(1, 1, i, 1, 2 + i64::from(i)), None);
        }
        assert_eq!(s.check(&hdr(1, 1, 1, 1, 0)).unwrap_err().kafka_code(), 45);
        assert!(matches!(
            s.check(&hdr(1, 1, 2, 1, 0)).unwrap(),
            SeqCheck::Duplicate(_)
        ));
    }

    #[test]
    fn snapshot_roundtrip_and_expiry() {
        let d = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::default();
        s.update(&hdr(1, 0, 0, 2, 0), None);
        s.update(&hdr(2, 3, 0, 1, 2), None);
        for o in [3, 5, 9] {
            s.write_snapshot(d.path(), o).unwrap();
        }
        assert_eq!(list_snapshots(d.path()).unwrap(), vec![5, 9]);
        let (o, l) = ProducerStateManager::load_latest(d.path(), 6).unwrap();
        assert_eq!(o, Some(5));
        assert_eq!(l, s);
        assert!(!snapshot_path(d.path(), 9).exists());
        assert_eq!(s.remove_expired(1_000 + 10, 5), 2);
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn active_producers_report_epoch_and_last_sequence() {
        let mut s = ProducerStateManager::default();
        assert!(s.active().is_empty());
        s.update(&hdr(7, 2, 0, 3, 0), None);
        s.update(&hdr(7, 2, 3, 2, 3), None);
        s.update(&hdr(4, 0, 0, 1, 5), None);
        let a = s.active();
        assert_eq!(a.len(), 2);
        assert_eq!(
            (a[0].producer_id, a[0].epoch, a[0].last_sequence),
            (4, 0, 0)
        );
        assert_eq!(
            (a[1].producer_id, a[1].epoch, a[1].last_sequence),
            (7, 2, 4)
        );
        assert!(a[1].last_timestamp >= 0);
    }

    fn txn_hdr(pid: i64, epoch: i16, seq: i32, n: usize, base: i64) -> BatchHeader {
        let mut b = BatchBuilder::new()
            .records(n)
            .producer(pid, epoch, seq)
            .attributes(crate::log::batch::ATTR_TRANSACTIONAL)
            .build();
        b[..8].copy_from_slice(&base.to_be_bytes());
        BatchHeader::parse(&b).unwrap()
    }

    fn marker_hdr(pid: i64, epoch: i16, base: i64) -> BatchHeader {
        let m = TxnMarker {
            commit: false,
            coordinator_epoch: 0,
        };
        let mut b = crate::log::control::encode_marker(pid, epoch, m, 0);
        b[..8].copy_from_slice(&base.to_be_bytes());
        BatchHeader::parse(&b).unwrap()
    }

    #[test]
    fn transactions_open_and_end() {
        let mut s = ProducerStateManager::default();
        assert_eq!(
            s.update(&txn_hdr(1, 0, 0, 2, 10), None),
            Some(TxnEvent::Began(10))
        );
        assert_eq!(
            s.update(&txn_hdr(2, 0, 0, 1, 12), None),
            Some(TxnEvent::Began(12))
        );
        assert_eq!(s.update(&txn_hdr(1, 0, 2, 1, 13), None), None);
        assert_eq!(s.first_ongoing(), Some(10));
        let m = TxnMarker {
            commit: false,
            coordinator_epoch: 3,
        };
        let done = CompletedTxn {
            producer_id: 1,
            first_offset: 10,
            last_offset: 14,
            aborted: true,
        };
        assert_eq!(
            s.update(&marker_hdr(1, 0, 14), Some(m)),
            Some(TxnEvent::Ended(done))
        );
        assert_eq!(s.stable_offset_after(&done), 12);
        assert_eq!(s.first_ongoing(), Some(12));
        // A second marker ends nothing; a control batch that is no marker changes nothing.
        assert_eq!(s.update(&marker_hdr(1, 0, 15), Some(m)), None);
        let before = s.clone();
        assert_eq!(s.update(&marker_hdr(2, 0, 16), None), None);
        assert_eq!(s, before);
        assert_eq!(s.check_marker(1, 0, 2).unwrap_err().kafka_code(), 52);
        assert_eq!(s.check_marker(2, 0, 0).map_err(|e| e.kafka_code()), Ok(()));
        // Producers with an open transaction never expire.
        assert_eq!(s.remove_expired(i64::MAX, 0), 1);
        assert_eq!(s.first_ongoing(), Some(12));
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn snapshot_keeps_open_transactions_and_coordinator_epochs() {
        let d = tempfile::tempdir().unwrap();
        let mut s = ProducerStateManager::default();
        s.update(&txn_hdr(1, 0, 0, 2, 0), None);
        s.update(&txn_hdr(2, 4, 0, 1, 2), None);
        let m = TxnMarker {
            commit: true,
            coordinator_epoch: 9,
        };
        s.update(&marker_hdr(2, 4, 3), Some(m));
        s.write_snapshot(d.path(), 4).unwrap();
        let (o, l) = ProducerStateManager::load_latest(d.path(), 4).unwrap();
        assert_eq!(o, Some(4));
        assert_eq!(l, s);
        assert_eq!(l.first_ongoing(), Some(0));
        let a = l.active();
        assert_eq!(
            (a[0].current_txn_first_offset, a[0].coordinator_epoch),
            (0, -1)
        );
        assert_eq!(
            (a[1].current_txn_first_offset, a[1].coordinator_epoch),
            (-1, 9)
        );
    }

    #[test]
    fn first_format_snapshots_still_load() {
        let d = tempfile::tempdir().unwrap();
        // RNPS payload: one producer, id 7, epoch 1, last timestamp 55, one batch.
        let mut p = Vec::new();
        p.extend_from_slice(&1u32.to_be_bytes());
        p.extend_from_slice(&7i64.to_be_bytes());
        p.extend_from_slice(&1i16.to_be_bytes());
        p.extend_from_slice(&55i64.to_be_bytes());
        p.push(1);
        for v in [0i32, 2] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        for v in [10i64, 12] {
            p.extend_from_slice(&v.to_be_bytes());
        }
        write_framed(d.path(), &snapshot_name(13), SNAPSHOT_MAGIC_V1, &p).unwrap();
        let (o, l) = ProducerStateManager::load_latest(d.path(), 20).unwrap();
        assert_eq!(o, Some(13));
        let a = l.active();
        assert_eq!(
            a,
            vec![ActiveProducer {
                producer_id: 7,
                epoch: 1,
                last_sequence: 2,
                last_timestamp: 55,
                coordinator_epoch: -1,
                current_txn_first_offset: -1,
            }]
        );
        assert_eq!(l.first_ongoing(), None);
        let mut expected = ProducerStateManager::default();
        expected.update(&hdr(7, 1, 0, 3, 10), None);
        assert_eq!(expected.last_offsets(), l.last_offsets());
    }
}
