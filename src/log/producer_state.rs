//! Idempotent producer state of one partition: for each producer id, its epoch and the
//! sequence/offset ranges of its last 5 batches (what Kafka keeps, matching the client's
//! `max.in.flight.requests.per.connection` ≤ 5). Used to answer retries of one of those batches
//! with the original offsets and to reject sequence gaps.
//!
//! Rules (Kafka's `ProducerAppendInfo`, current behaviour):
//! - epoch below the recorded one → INVALID_PRODUCER_EPOCH;
//! - epoch above the recorded one → the batch must start at sequence 0, else
//!   OUT_OF_ORDER_SEQUENCE_NUMBER; the old epoch's batches are forgotten;
//! - same epoch: a batch whose first and last sequences equal one of the last 5 is a duplicate;
//!   otherwise its first sequence must follow the last one (wrapping `i32::MAX` → 0);
//! - a producer the partition knows nothing about (new, or its state expired) is accepted at any
//!   sequence, as Kafka does since KIP-360 — UNKNOWN_PRODUCER_ID is never returned.
//!
//! Snapshot file `<20-digit offset>.snapshot`: the state after applying every batch below
//! `offset`. Written at segment roll and at close; at open the newest snapshot ≤ the recovered
//! log end is loaded and the batch headers after it are replayed. Framed as in `checkpoint.rs`
//! with magic `RNPS`; payload:
//! ```text
//! offset size field
//!  0     4    producer count u32
//!  per producer:
//!  +0    8    producer id i64
//!  +8    2    epoch i16
//! +10    8    last timestamp i64        MaxTimestamp of its last batch (for expiry)
//! +18    1    batch count u8            ≤ 5
//! +19    24×n batches: first seq i32, last seq i32, first offset i64, last offset i64
//! ```

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io;
use std::path::Path;
#[cfg(test)]
use std::path::PathBuf;

use super::batch::BatchHeader;
use super::checkpoint::{read_framed, write_framed, Reader};
use super::error::LogError;

/// Batches remembered per producer.
pub const MAX_BATCHES_PER_PRODUCER: usize = 5;
/// Magic of snapshot files.
pub const SNAPSHOT_MAGIC: u32 = u32::from_be_bytes(*b"RNPS");
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
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct ProducerEntry {
    epoch: i16,
    last_timestamp: i64,
    batches: VecDeque<BatchMeta>,
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
}

fn in_sequence(last: i32, next: i32) -> bool {
    next == last.wrapping_add(1) || (last == i32::MAX && next == 0)
}

impl ProducerStateManager {
    /// Checks an incoming batch against the producer's state (see module docs).
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

    /// Records an appended batch (`h` carries its final offsets). Also used for replay.
    pub(crate) fn update(&mut self, h: &BatchHeader) {
        if h.producer_id < 0 {
            return;
        }
        let e = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: h.producer_epoch,
                last_timestamp: -1,
                batches: VecDeque::with_capacity(MAX_BATCHES_PER_PRODUCER),
            });
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
    }

    /// Forgets producers whose last batch timestamp is older than `now - expiration_ms`
    /// (Kafka's `producer.id.expiration.ms`). Returns how many were removed.
    pub(crate) fn remove_expired(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers
            .retain(|_, e| now_ms.saturating_sub(e.last_timestamp) <= expiration_ms);
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

    fn decode(payload: &[u8]) -> Option<Self> {
        let mut r = Reader::new(payload);
        let n = r.u32()?;
        let mut producers = HashMap::new();
        for _ in 0..n {
            let id = r.i64()?;
            let epoch = r.i16()?;
            let last_timestamp = r.i64()?;
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
            producers.insert(
                id,
                ProducerEntry {
                    epoch,
                    last_timestamp,
                    batches,
                },
            );
        }
        r.is_empty().then_some(ProducerStateManager { producers })
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
            if let Some(s) = read_framed(&path, SNAPSHOT_MAGIC)?.and_then(|p| Self::decode(&p)) {
                return Ok((Some(o), s));
            }
            tracing::warn!(file = %path.display(), "ignoring invalid producer state snapshot");
        }
        Ok((None, Self::default()))
    }
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
        s.update(&hdr(1, 0, 0, 2, 0));
        assert_eq!(s.check(&hdr(1, 0, 2, 1, 2)).unwrap(), SeqCheck::Append);
        assert!(
            matches!(s.check(&hdr(1, 0, 0, 2, 9)).unwrap(), SeqCheck::Duplicate(b) if b.first_offset == 0)
        );
        assert_eq!(s.check(&hdr(1, 0, 3, 1, 2)).unwrap_err().kafka_code(), 45);
        assert_eq!(s.check(&hdr(1, 1, 5, 1, 2)).unwrap_err().kafka_code(), 45);
        assert_eq!(s.check(&hdr(1, 1, 0, 1, 2)).unwrap(), SeqCheck::Append);
        s.update(&hdr(1, 1, 0, 1, 2));
        assert_eq!(s.check(&hdr(1, 0, 2, 1, 3)).unwrap_err().kafka_code(), 47);
        // Only the last 5 batches are remembered.
        for i in 1..=6 {
            s.update(&hdr(1, 1, i, 1, 2 + i64::from(i)));
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
        s.update(&hdr(1, 0, 0, 2, 0));
        s.update(&hdr(2, 3, 0, 1, 2));
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
        s.update(&hdr(7, 2, 0, 3, 0));
        s.update(&hdr(7, 2, 3, 2, 3));
        s.update(&hdr(4, 0, 0, 1, 5));
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
}
