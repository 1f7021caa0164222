//! Transaction markers: the control batches that end a transaction on a partition (Kafka's
//! `MemoryRecords.withEndTransactionMarker`, `ControlRecordType`, `EndTxnMarker`). The log
//! writes them for the transaction coordinator and reads them back when it rebuilds producer
//! state (replay at open, truncation, follower appends).
//!
//! A marker is one magic-2 batch (byte table in `batch.rs`): attributes transactional |
//! control (0x30, never compressed), the producer's id and epoch, base sequence -1, one record
//! (offset delta 0, timestamp delta 0, no headers) whose key and value are:
//! ```text
//! key   offset size field
//!        0     2    version i16 = 0
//!        2     2    type i16          0 = ABORT, 1 = COMMIT (other control types: not a marker)
//! value  0     2    version i16 = 0
//!        2     4    coordinator epoch i32
//! ```
//! Readers accept key and value versions ≥ 0 and ignore bytes after the fields they know, as
//! Kafka does for forward compatibility.

use super::batch::{
    put_record, BatchHeader, Compression, ATTR_CONTROL, ATTR_TRANSACTIONAL, HEADER_SIZE,
};
use super::records::walk_inflated;

/// Control record type of an abort marker.
pub const CONTROL_TYPE_ABORT: i16 = 0;
/// Control record type of a commit marker.
pub const CONTROL_TYPE_COMMIT: i16 = 1;

/// What a transaction marker says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnMarker {
    /// COMMIT (true) or ABORT (false).
    pub commit: bool,
    /// Epoch of the transaction coordinator that wrote it (fences zombie coordinators).
    pub coordinator_epoch: i32,
}

/// The whole marker batch for `producer_id`/`producer_epoch`, base offset 0 and partition
/// leader epoch -1 (the log assigns both), every timestamp `timestamp`, with its CRC.
pub fn encode_marker(
    producer_id: i64,
    producer_epoch: i16,
    marker: TxnMarker,
    timestamp: i64,
) -> Vec<u8> {
    let kind = if marker.commit {
        CONTROL_TYPE_COMMIT
    } else {
        CONTROL_TYPE_ABORT
    };
    let mut key = [0u8; 4];
    key[2..].copy_from_slice(&kind.to_be_bytes());
    let mut value = [0u8; 6];
    value[2..].copy_from_slice(&marker.coordinator_epoch.to_be_bytes());
    let mut body = Vec::with_capacity(24);
    put_record(&mut body, 0, 0, Some(&key), Some(&value));
    BatchHeader {
        attributes: ATTR_TRANSACTIONAL | ATTR_CONTROL,
        producer_id,
        producer_epoch,
        ..BatchHeader::unstamped(1, timestamp)
    }
    .assemble(&body)
}

/// The marker carried by `batch` (one whole batch, header `h`), or `None` if it is not a
/// transactional control batch holding a well-formed ABORT or COMMIT record (another control
/// type, a compressed or malformed payload: such a batch ends no transaction).
pub fn parse_marker(batch: &[u8], h: &BatchHeader) -> Option<TxnMarker> {
    if !h.is_control() || !h.is_transactional() || h.compression() != Compression::None {
        return None;
    }
    let payload = batch.get(HEADER_SIZE..h.batch_size())?;
    let mut first = None;
    walk_inflated(payload, h.records_count, |r| {
        if first.is_none() {
            first = Some((r.key, r.value));
        }
    })
    .ok()?;
    let (Some(key), Some(value)) = first? else {
        return None;
    };
    let be16 = |b: &[u8], at: usize| b.get(at..at + 2).map(|x| i16::from_be_bytes([x[0], x[1]]));
    if be16(key, 0)? < 0 || be16(value, 0)? < 0 {
        return None;
    }
    let commit = match be16(key, 2)? {
        CONTROL_TYPE_ABORT => false,
        CONTROL_TYPE_COMMIT => true,
        _ => return None,
    };
    let epoch = value.get(2..6)?;
    Some(TxnMarker {
        commit,
        coordinator_epoch: i32::from_be_bytes([epoch[0], epoch[1], epoch[2], epoch[3]]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch::compute_crc;

    #[test]
    fn marker_roundtrip_and_layout() {
        for commit in [false, true] {
            let m = TxnMarker {
                commit,
                coordinator_epoch: 7,
            };
            let b = encode_marker(42, 3, m, 1_234);
            let h = BatchHeader::parse(&b).unwrap();
            assert_eq!(h.batch_size(), b.len());
            assert_eq!(h.crc, compute_crc(&b));
            assert_eq!(h.attributes, 0x30);
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (42, 3, -1)
            );
            assert_eq!((h.records_count, h.last_offset_delta), (1, 0));
            assert_eq!((h.base_timestamp, h.max_timestamp), (1_234, 1_234));
            // Record: length 16, attributes, ts delta 0, offset delta 0, key len 4 (zigzag 8),
            // key 00 00 00 0t, value len 6 (zigzag 12), value 00 00 00 00 00 07, headers 0.
            let t = u8::from(commit);
            assert_eq!(
                &b[HEADER_SIZE..],
                &[32, 0, 0, 0, 8, 0, 0, 0, t, 12, 0, 0, 0, 0, 0, 7, 0][..]
            );
            assert_eq!(parse_marker(&b, &h), Some(m));
        }
    }

    #[test]
    fn non_markers_are_not_parsed() {
        let m = TxnMarker {
            commit: true,
            coordinator_epoch: 0,
        };
        let mut b = encode_marker(1, 0, m, 0);
        // Control type 2 (LeaderChange) is not a transaction marker.
        b[HEADER_SIZE + 8] = 2;
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(parse_marker(&b, &h), None);
        // A data batch is not one either.
        let d = crate::log::testutil::BatchBuilder::new().build();
        assert_eq!(parse_marker(&d, &BatchHeader::parse(&d).unwrap()), None);
        // Truncated payload.
        let b = encode_marker(1, 0, m, 0);
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(parse_marker(&b[..b.len() - 3], &h), None);
    }
}
