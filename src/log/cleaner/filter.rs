//! What the cleaner keeps of one stored batch (Kafka's `MemoryRecords.filterTo` with the
//! `LogCleaner` retention rules).
//!
//! A record is kept iff it has a key, no later record of that key is in the offset map (its
//! offset is ≥ the mapped one, or the key is not mapped), and it has a value — or it is a
//! tombstone whose segment still keeps tombstones (`delete.retention.ms`, see `pass.rs`).
//! Records without a key are dropped, as Kafka does.
//!
//! The batch that results:
//! - every record kept → the original bytes, untouched (same CRC);
//! - some kept → a new batch with the original header (base offset, last offset delta,
//!   producer id/epoch, base sequence, partition leader epoch, attributes and codec, base and
//!   max timestamps) around the kept records' bytes, copied verbatim (their offset and
//!   timestamp deltas still add up to the original values), compressed again with the batch's
//!   codec at its default level; RecordsCount and CRC are recomputed. Keeping the last offset
//!   delta keeps the producer's last sequence (Kafka's `overrideLastOffset`);
//! - none kept, and the batch is the last one of a producer the partition still tracks →
//!   an empty batch (Kafka's `writeEmptyHeader`: no records, no codec, base timestamp -1, the
//!   original max timestamp, producer fields and last offset delta), so producer state rebuilt
//!   from the log still knows that producer's last sequence and epoch;
//! - none kept otherwise → nothing.
//!
//! Records of an aborted transaction are removed like superseded ones (Kafka's cleaner
//! discards them too), so an aborted value never outlives the committed value of its key.
//! Control batches (transaction markers) are kept as they are.
//!
//! Invariant: the output of a batch never holds a record the input did not, at the same offset.

use std::borrow::Cow;
use std::collections::HashMap;

use super::offset_map::OffsetMap;
use super::CleanError;
use crate::log::batch::{BatchHeader, Compression, ATTR_COMPRESSION_MASK, HEADER_SIZE};
use crate::log::compress::{compress, default_level};
use crate::log::records::{inflate, walk_inflated, RecordSpan, MAX_INFLATED};

/// What the cleaner writes in place of one batch.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kept<'a> {
    /// The batch unchanged.
    Whole(&'a [u8]),
    /// A rebuilt batch with some records left out (or an empty producer batch).
    Rebuilt(Vec<u8>),
    /// Nothing.
    Dropped,
}

/// The rules a batch is filtered by.
pub(crate) struct Rules<'a> {
    /// Latest offset per key over the dirty range.
    pub map: &'a OffsetMap,
    /// Whether tombstones of this segment are kept.
    pub keep_tombstones: bool,
    /// Last offset of each producer the partition still tracks.
    pub producer_last: &'a HashMap<i64, i64>,
    /// Aborted transactions by producer id: (first offset, ABORT marker offset).
    pub aborted: &'a HashMap<i64, Vec<(i64, i64)>>,
}

/// Whether the transactional batch `h` belongs to an aborted transaction of `aborted`.
pub(crate) fn in_aborted_txn(h: &BatchHeader, aborted: &HashMap<i64, Vec<(i64, i64)>>) -> bool {
    h.is_transactional()
        && !h.is_control()
        && aborted.get(&h.producer_id).is_some_and(|txns| {
            txns.iter()
                .any(|(first, end)| *first <= h.base_offset && h.last_offset() < *end)
        })
}

/// Records of a batch as seen by the filter.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    /// Records read.
    pub read: u64,
    /// Records left out.
    pub removed: u64,
    /// Tombstones kept.
    pub tombstones_kept: u64,
}

/// The inflated records of a batch (borrowed when it is not compressed).
pub(crate) fn records_of<'b>(
    batch: &'b [u8],
    h: &BatchHeader,
) -> Result<Cow<'b, [u8]>, CleanError> {
    let payload = batch
        .get(HEADER_SIZE..h.batch_size())
        .ok_or_else(|| corrupt(h, "batch shorter than its header says".into()))?;
    match h.compression() {
        Compression::None => Ok(Cow::Borrowed(payload)),
        c => inflate(c, payload, MAX_INFLATED)
            .map(Cow::Owned)
            .map_err(|e| corrupt(h, e.to_string())),
    }
}

fn corrupt(h: &BatchHeader, why: String) -> CleanError {
    CleanError::Corrupt {
        offset: h.base_offset,
        why,
    }
}

/// Calls `f` with every record of a (non-control) batch.
pub(crate) fn for_each_record<'b>(
    raw: &'b [u8],
    h: &BatchHeader,
    f: impl FnMut(RecordSpan<'b>),
) -> Result<(), CleanError> {
    walk_inflated(raw, h.records_count, f).map_err(|e| corrupt(h, e.to_string()))
}

/// Filters one whole, CRC-checked batch `batch` (header `h`) by `rules`.
pub(crate) fn filter_batch<'a>(
    batch: &'a [u8],
    h: &BatchHeader,
    rules: &Rules<'_>,
) -> Result<(Kept<'a>, Counts), CleanError> {
    if h.is_control() {
        return Ok((Kept::Whole(batch), Counts::default()));
    }
    let raw = records_of(batch, h)?;
    let mut kept: Vec<&[u8]> = Vec::new();
    let mut counts = Counts::default();
    let aborted = in_aborted_txn(h, rules.aborted);
    for_each_record(&raw, h, |r| {
        counts.read += 1;
        let offset = h.base_offset + i64::from(r.meta.offset_delta);
        let keep = match r.key {
            _ if aborted => false,
            None => false,
            Some(k) => {
                let latest = rules.map.get(k).is_none_or(|o| offset >= o);
                latest && (r.meta.value_len >= 0 || rules.keep_tombstones)
            }
        };
        if keep {
            if r.meta.value_len < 0 {
                counts.tombstones_kept += 1;
            }
            kept.push(r.bytes);
        } else {
            counts.removed += 1;
        }
    })?;
    if counts.removed == 0 {
        return Ok((Kept::Whole(batch), counts));
    }
    if kept.is_empty() {
        let last_of_producer =
            h.producer_id >= 0 && rules.producer_last.get(&h.producer_id) == Some(&h.last_offset());
        if !last_of_producer {
            return Ok((Kept::Dropped, counts));
        }
        let empty = BatchHeader {
            attributes: h.attributes & !ATTR_COMPRESSION_MASK,
            base_timestamp: -1,
            records_count: 0,
            ..*h
        };
        return Ok((Kept::Rebuilt(empty.assemble(&[])), counts));
    }
    let body: Vec<u8> = kept.concat();
    let payload = match default_level(h.compression()) {
        None => body,
        Some(codec) => {
            compress(&body, codec).map_err(|e| corrupt(h, format!("recompressing: {e}")))?
        }
    };
    let out = BatchHeader {
        records_count: kept.len() as i32,
        ..*h
    };
    Ok((Kept::Rebuilt(out.assemble(&payload)), counts))
}
