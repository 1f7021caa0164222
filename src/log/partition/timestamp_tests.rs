//! Tests of ListOffsets by timestamp (`timestamp.rs`): the batch-level lookup across
//! segments and after a reopen, and the exact record walk with its decompression budget.

use super::*;
use crate::log::batch::{compute_crc, Compression, CRC_OFFSET};
use crate::log::testutil::BatchBuilder;

use super::tests::{open, small};

#[test]
fn timestamps_lookup() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small());
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), None);
    // Batch i (2 records) has timestamps 1000*i and 1000*i + 1.
    for i in 0..15 {
        log.append(
            &BatchBuilder::new().records(2).timestamp(1000 * i).build(),
            0,
            0,
        )
        .unwrap();
    }
    assert!(log.segment_count() > 2);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), Some((0, 1)));
    assert_eq!(log.offset_for_timestamp(1).unwrap(), Some((0, 1)));
    assert_eq!(log.offset_for_timestamp(2).unwrap(), Some((2, 1001)));
    assert_eq!(log.offset_for_timestamp(7001).unwrap(), Some((14, 7001)));
    assert_eq!(log.offset_for_timestamp(7002).unwrap(), Some((16, 8001)));
    assert_eq!(
        log.offset_for_timestamp(14_001).unwrap(),
        Some((28, 14_001))
    );
    assert_eq!(log.offset_for_timestamp(14_002).unwrap(), None);
    assert_eq!(log.max_timestamp().unwrap(), Some((28, 14_001)));
    // Out-of-order timestamp batch does not move the max.
    log.append(&BatchBuilder::new().records(1).timestamp(5).build(), 0, 0)
        .unwrap();
    assert_eq!(log.max_timestamp().unwrap(), Some((28, 14_001)));
    drop(log);
    let log = open(d.path(), small());
    assert_eq!(log.offset_for_timestamp(7002).unwrap(), Some((16, 8001)));
    assert_eq!(log.max_timestamp().unwrap(), Some((28, 14_001)));
}

#[test]
fn exact_timestamp_lookups_walk_one_batch() {
    use crate::log::records::MAX_INFLATED;
    use crate::log::testutil::batch_with_payload;
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default());
    // Offsets 0..100 (zstd, ts 1000..1100), 100..200 (lz4, ts 5000..5100), 200..203 (plain).
    let zstd = BatchBuilder::new()
        .records(100)
        .timestamp(1000)
        .compress(Compression::Zstd)
        .build();
    let lz4 = BatchBuilder::new()
        .records(100)
        .timestamp(5000)
        .compress(Compression::Lz4)
        .build();
    for batch in [
        &zstd,
        &lz4,
        &BatchBuilder::new().records(3).timestamp(9000).build(),
    ] {
        log.append(batch, 0, 0).unwrap();
    }
    let mut budget = MAX_INFLATED;
    let exact = |ts, budget: &mut usize| log.offset_for_timestamp_exact(ts, budget).unwrap();
    assert_eq!(exact(1050, &mut budget), Some((50, 1050)));
    assert_eq!(exact(0, &mut budget), Some((0, 1000)));
    assert_eq!(exact(1100, &mut budget), Some((100, 5000)));
    assert_eq!(exact(5099, &mut budget), Some((199, 5099)));
    assert_eq!(exact(9001, &mut budget), Some((201, 9001)));
    assert_eq!(exact(9003, &mut budget), None);
    assert_eq!(
        log.max_timestamp_exact(&mut budget).unwrap(),
        Some((202, 9002))
    );
    assert!(budget < MAX_INFLATED, "compressed walks are charged");
    // With the budget spent, the batch-level answer stands.
    let mut none = 0;
    assert_eq!(exact(1050, &mut none), Some((0, 1099)));
    // The log start offset bounds the answer.
    log.delete_records_before(60).unwrap();
    assert_eq!(exact(1010, &mut budget), Some((60, 1060)));

    // A poison batch stored before produce-time validation existed (append checks only the
    // header): lookups fall back to the batch and are charged their limit.
    let junk: Vec<u8> = (0..64u8).collect();
    let poison = batch_with_payload(&junk, 4, 3, 4);
    let mut poison = poison;
    poison[27..35].copy_from_slice(&20_000i64.to_be_bytes());
    poison[35..43].copy_from_slice(&20_003i64.to_be_bytes());
    let crc = compute_crc(&poison);
    poison[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    log.append(&poison, 0, 0).unwrap();
    let mut small_budget = 1 << 20;
    assert_eq!(exact(20_001, &mut small_budget), Some((203, 20_003)));
    assert_eq!(small_budget, 0);
}
