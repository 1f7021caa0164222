//! Tests of the transaction side of the log (`txn.rs`, the transactional branch of
//! `write_at_end`, `read_committed`): the last stable offset with interleaved producers,
//! markers and their fencing rules, aborted-transaction indexes across segments, truncation,
//! torn-tail recovery, clean restart, follower appends and retention; then a property test
//! against a model of the transactions.

use super::tests::{open, small};
use super::*;
use crate::log::batch::{compute_crc, BatchHeader, ATTR_TRANSACTIONAL};
use crate::log::control::{parse_marker, TxnMarker};
use crate::log::files::LogFiles;
use crate::log::segment::segment_file;
use crate::log::testutil::BatchBuilder;
use crate::log::txn_index::{AbortedTxn, TXN_INDEX_SUFFIX};
use proptest::prelude::*;

/// A transactional batch of `n` records.
fn tx(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    BatchBuilder::new()
        .records(n)
        .producer(pid, epoch, seq)
        .attributes(ATTR_TRANSACTIONAL)
        .build()
}

fn plain(n: usize) -> Vec<u8> {
    BatchBuilder::new().records(n).build()
}

fn put(log: &PartitionLog, batch: &[u8]) -> i64 {
    match log.append(batch, 0, 0).unwrap() {
        AppendOutcome::Appended { base_offset, .. } => base_offset,
        other => panic!("expected Appended, got {other:?}"),
    }
}

fn mark(log: &PartitionLog, pid: i64, epoch: i16, commit: bool) -> i64 {
    log.append_marker(pid, epoch, 0, commit, 0, 0).unwrap()
}

/// `(producer id, first offset)` of the aborted transactions overlapping `[from, upper)`.
fn aborted(log: &PartitionLog, from: i64, upper: i64) -> Vec<(i64, i64)> {
    log.aborted_transactions(from, upper)
        .iter()
        .map(|a| (a.producer_id, a.first_offset))
        .collect()
}

/// `(base, last)` of every batch a read_committed consumer gets from `from` on.
fn committed(log: &PartitionLog, from: i64) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = from;
    loop {
        let r = log.read_committed(at, 1 << 20, true).unwrap();
        if r.records.is_empty() {
            return out;
        }
        let bytes = r.records.to_bytes().unwrap();
        let mut buf = &bytes[..];
        while !buf.is_empty() {
            let h = BatchHeader::parse(buf).unwrap();
            out.push((h.base_offset, h.last_offset()));
            at = h.last_offset() + 1;
            buf = &buf[h.batch_size()..];
        }
    }
}

/// Every aborted-transaction index entry, segment by segment: (segment base, entries).
fn index(log: &PartitionLog) -> Vec<(i64, Vec<AbortedTxn>)> {
    read_lock(&log.state)
        .segments
        .values()
        .map(|s| (s.base_offset, s.aborted_entries()))
        .filter(|(_, e)| !e.is_empty())
        .collect()
}

fn open_txn(log: &PartitionLog, pid: i64) -> i64 {
    log.active_producers()
        .unwrap()
        .into_iter()
        .find(|p| p.producer_id == pid)
        .map_or(-2, |p| p.current_txn_first_offset)
}

#[test]
fn last_stable_offset_follows_the_oldest_open_transaction() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default());
    assert_eq!(put(&log, &plain(2)), 0);
    assert_eq!(log.last_stable_offset(), 2);
    assert_eq!(put(&log, &tx(1, 0, 0, 2)), 2);
    assert_eq!(log.last_stable_offset(), 2);
    assert_eq!(put(&log, &plain(1)), 4);
    assert_eq!(put(&log, &tx(2, 0, 0, 1)), 5);
    assert_eq!(put(&log, &tx(1, 0, 2, 1)), 6);
    assert_eq!((log.last_stable_offset(), log.high_watermark()), (2, 7));
    assert_eq!(open_txn(&log, 1), 2);
    assert_eq!(mark(&log, 1, 0, true), 7);
    // Producer 2's transaction (from 5) is the oldest open one now.
    assert_eq!(log.last_stable_offset(), 5);
    assert_eq!(open_txn(&log, 1), -1);
    assert_eq!(committed(&log, 0), vec![(0, 1), (2, 3), (4, 4)]);
    let r = log.read_committed(5, 1 << 20, true).unwrap();
    assert!(r.records.is_empty());
    assert_eq!((r.last_stable_offset, r.high_watermark), (5, 8));
    // read_uncommitted is unchanged.
    let r = log.read(0, 1 << 20, true).unwrap();
    assert_eq!(r.records.end_offset(), 8);
    assert_eq!(r.last_stable_offset, 5);

    assert_eq!(mark(&log, 2, 0, false), 8);
    assert_eq!(log.last_stable_offset(), 9);
    assert_eq!(log.last_stable_offset(), log.high_watermark());
    assert_eq!(committed(&log, 0).last(), Some(&(8, 8)));
    assert_eq!(aborted(&log, 0, 9), vec![(2, 5)]);
    // A transaction that began before the fetch offset is reported.
    assert_eq!(aborted(&log, 6, 9), vec![(2, 5)]);
    assert_eq!(aborted(&log, 0, 5), vec![]);
    assert_eq!(aborted(&log, 9, 9), vec![]);
    assert_eq!(
        index(&log),
        vec![(
            0,
            vec![AbortedTxn {
                producer_id: 2,
                first_offset: 5,
                last_offset: 8,
                last_stable_offset: 9,
            }]
        )]
    );
    let p1 = log.active_producers().unwrap()[0];
    assert_eq!(
        (p1.producer_id, p1.coordinator_epoch, p1.last_sequence),
        (1, 0, 2)
    );
}

#[test]
fn markers_and_batches_are_fenced_like_kafka() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default());
    assert_eq!(put(&log, &tx(1, 2, 0, 1)), 0);
    // A marker from an older producer epoch.
    let e = log.append_marker(1, 1, 0, true, 0, 0).unwrap_err();
    assert_eq!(e.kafka_code(), 47);
    assert_eq!(log.append_marker(1, 2, 5, false, 0, 0).unwrap(), 1);
    // A marker from an older coordinator.
    let e = log.append_marker(1, 2, 4, true, 0, 0).unwrap_err();
    assert_eq!(e.kafka_code(), 52);
    // Transactional data from an older producer epoch.
    assert_eq!(
        log.append(&tx(1, 1, 0, 1), 0, 0).unwrap_err().kafka_code(),
        47
    );
    // Markers take no sequence: the next transaction continues the producer's sequence.
    assert_eq!(put(&log, &tx(1, 2, 1, 1)), 2);
    // Non-transactional data while the producer's transaction is open.
    let idem = BatchBuilder::new().records(1).producer(1, 2, 2).build();
    assert_eq!(log.append(&idem, 0, 0).unwrap_err().kafka_code(), 48);
    // A coordinator fencing the producer writes its abort with a bumped epoch; the next
    // transaction starts at sequence 0 of that epoch.
    assert_eq!(log.append_marker(1, 3, 5, false, 0, 0).unwrap(), 3);
    assert_eq!(put(&log, &tx(1, 3, 0, 1)), 4);
    assert_eq!(log.log_end_offset(), 5);
    let p = log.active_producers().unwrap()[0];
    assert_eq!(
        (p.epoch, p.coordinator_epoch, p.current_txn_first_offset),
        (3, 5, 4)
    );
    assert_eq!(aborted(&log, 0, 5), vec![(1, 0), (1, 2)]);
    // A marker for a producer with no open transaction is written and ends nothing.
    assert_eq!(log.append_marker(9, 0, 0, false, 0, 0).unwrap(), 5);
    assert_eq!(aborted(&log, 0, 6), vec![(1, 0), (1, 2)]);
    assert!(log.append_marker(-1, 0, 0, true, 0, 0).is_err());
}

#[test]
fn a_marker_is_one_control_batch_as_kafka_writes_it() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default());
    put(&log, &plain(3));
    assert_eq!(log.append_marker(42, 7, 9, true, 11, 1_234).unwrap(), 3);
    let r = log.read(3, 1 << 20, true).unwrap();
    let bytes = r.records.to_bytes().unwrap();
    let h = BatchHeader::parse(&bytes).unwrap();
    assert_eq!(h.batch_size(), bytes.len());
    assert_eq!(h.crc, compute_crc(&bytes));
    assert_eq!((h.base_offset, h.partition_leader_epoch), (3, 11));
    assert_eq!(h.attributes, 0x30);
    assert!(h.is_control() && h.is_transactional());
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (42, 7, -1)
    );
    assert_eq!((h.records_count, h.max_timestamp), (1, 1_234));
    assert_eq!(
        parse_marker(&bytes, &h),
        Some(TxnMarker {
            commit: true,
            coordinator_epoch: 9
        })
    );
}

#[test]
fn aborted_transactions_span_segments() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small());
    assert_eq!(put(&log, &tx(1, 0, 0, 2)), 0);
    for i in 0..6 {
        assert_eq!(put(&log, &plain(2)), 2 + 2 * i);
    }
    assert_eq!(put(&log, &tx(2, 0, 0, 1)), 14);
    assert_eq!(log.last_stable_offset(), 0);
    assert_eq!(mark(&log, 1, 0, false), 15);
    assert_eq!(log.last_stable_offset(), 14);
    assert_eq!(mark(&log, 2, 0, false), 16);
    assert!(log.segment_count() >= 3, "{}", log.segment_count());
    assert_eq!(aborted(&log, 0, 17), vec![(1, 0), (2, 14)]);
    // Producer 1's transaction began two segments before the fetch offset.
    assert_eq!(aborted(&log, 8, 10), vec![(1, 0)]);
    assert_eq!(aborted(&log, 15, 17), vec![(1, 0), (2, 14)]);
    assert_eq!(aborted(&log, 16, 17), vec![(2, 14)]);
    // Entries live in the index of the segment holding each marker, and only such segments
    // have an index file.
    let idx = index(&log);
    let segs: Vec<i64> = read_lock(&log.state).segments.keys().copied().collect();
    for &base in &segs {
        let has = idx.iter().any(|(b, _)| *b == base);
        assert_eq!(segment_file(d.path(), base, TXN_INDEX_SUFFIX).exists(), has);
    }
    let marker_seg = *segs.iter().rev().find(|&&b| b <= 15).unwrap();
    assert_eq!(idx[0].0, marker_seg);
    assert_ne!(marker_seg, 0);
    assert_eq!(idx[0].1[0].last_stable_offset, 14);
}

#[test]
fn truncation_drops_index_entries_and_reopens_transactions() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small());
    put(&log, &tx(1, 0, 0, 2));
    put(&log, &plain(2));
    put(&log, &tx(2, 0, 0, 1));
    assert_eq!(mark(&log, 1, 0, false), 5);
    assert_eq!(mark(&log, 2, 0, true), 6);
    put(&log, &plain(2));
    assert_eq!(log.last_stable_offset(), 9);
    assert_eq!(aborted(&log, 0, 9), vec![(1, 0)]);

    log.truncate_to(5).unwrap();
    assert_eq!(log.log_end_offset(), 5);
    assert_eq!(log.last_stable_offset(), 0);
    assert_eq!((open_txn(&log, 1), open_txn(&log, 2)), (0, 4));
    assert!(index(&log).is_empty());
    assert_eq!(aborted(&log, 0, 5), vec![]);
    // The coordinator writes the markers again.
    assert_eq!(mark(&log, 1, 0, true), 5);
    assert_eq!(log.last_stable_offset(), 4);
    assert_eq!(mark(&log, 2, 0, false), 6);
    assert_eq!(aborted(&log, 0, 7), vec![(2, 4)]);
    log.close().unwrap();

    // A clean restart keeps it all.
    let log = open(d.path(), small());
    assert_eq!(log.last_stable_offset(), 7);
    assert_eq!(aborted(&log, 0, 7), vec![(2, 4)]);
    assert_eq!((open_txn(&log, 1), open_txn(&log, 2)), (-1, -1));
}

#[test]
fn an_open_transaction_survives_a_clean_restart() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small());
    put(&log, &plain(2));
    put(&log, &tx(1, 0, 0, 2));
    put(&log, &tx(2, 0, 0, 2));
    mark(&log, 2, 0, false);
    put(&log, &plain(2));
    log.close().unwrap();
    let log = open(d.path(), small());
    assert_eq!(log.last_stable_offset(), 2);
    assert_eq!(open_txn(&log, 1), 2);
    assert_eq!(mark(&log, 1, 0, false), 9);
    assert_eq!(aborted(&log, 0, 10), vec![(1, 2), (2, 4)]);
    assert_eq!(log.last_stable_offset(), 10);
}

#[test]
fn recovery_after_a_torn_marker_reopens_its_transaction() {
    let d = tempfile::tempdir().unwrap();
    {
        let log = open(d.path(), LogConfig::default());
        put(&log, &tx(1, 0, 0, 2));
        put(&log, &tx(2, 0, 0, 1));
        assert_eq!(mark(&log, 2, 0, false), 3);
        assert_eq!(mark(&log, 1, 0, false), 4);
        assert_eq!(aborted(&log, 0, 5), vec![(1, 0), (2, 2)]);
        // Crash: dropped without close.
    }
    // The last marker is torn; the index file lost its entries too.
    let log_path = segment_file(d.path(), 0, "log");
    let len = std::fs::metadata(&log_path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&log_path)
        .unwrap()
        .set_len(len - 10)
        .unwrap();
    std::fs::remove_file(segment_file(d.path(), 0, TXN_INDEX_SUFFIX)).unwrap();
    let log = open(d.path(), LogConfig::default());
    assert_eq!(log.log_end_offset(), 4);
    assert_eq!(log.last_stable_offset(), 0);
    assert_eq!((open_txn(&log, 1), open_txn(&log, 2)), (0, -1));
    // The surviving marker's entry was rebuilt by the replay.
    assert_eq!(aborted(&log, 0, 4), vec![(2, 2)]);
    assert_eq!(index(&log)[0].1.len(), 1);
    assert_eq!(committed(&log, 0), vec![]);
    assert_eq!(mark(&log, 1, 0, true), 4);
    assert_eq!(committed(&log, 0).len(), 4);
}

#[test]
fn a_torn_index_entry_is_rebuilt_from_the_log() {
    let d = tempfile::tempdir().unwrap();
    {
        let log = open(d.path(), LogConfig::default());
        put(&log, &tx(1, 0, 0, 1));
        put(&log, &tx(2, 0, 0, 1));
        mark(&log, 1, 0, false);
        mark(&log, 2, 0, false);
    }
    let p = segment_file(d.path(), 0, TXN_INDEX_SUFFIX);
    let len = std::fs::metadata(&p).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len - 3)
        .unwrap();
    let log = open(d.path(), LogConfig::default());
    assert_eq!(aborted(&log, 0, 4), vec![(1, 0), (2, 1)]);
    assert_eq!(std::fs::metadata(&p).unwrap().len(), len);
}

#[test]
fn the_marker_must_be_replicated_before_the_transaction_is_stable() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), LogConfig::default());
    log.set_hw_follows_leo(false);
    put(&log, &plain(1));
    put(&log, &tx(1, 0, 0, 1));
    put(&log, &plain(1));
    assert!(log.advance_high_watermark(3));
    assert_eq!(log.last_stable_offset(), 1);
    assert_eq!(mark(&log, 1, 0, true), 3);
    // The marker is not below the high watermark yet: a leader change could still lose it.
    assert_eq!(log.last_stable_offset(), 1);
    let mut hw = log.subscribe();
    hw.borrow_and_update();
    assert!(log.advance_high_watermark(4));
    assert!(
        hw.has_changed().unwrap(),
        "read_committed long polls wake on the HW watch"
    );
    assert_eq!(log.last_stable_offset(), 4);
    // An open transaction above the high watermark does not hold the LSO below it.
    put(&log, &tx(2, 0, 0, 1));
    assert_eq!(log.last_stable_offset(), 4);
    assert!(log.advance_high_watermark(5));
    assert_eq!(log.last_stable_offset(), 4);
}

#[test]
fn a_follower_builds_the_same_transaction_state() {
    let d = tempfile::tempdir().unwrap();
    let leader = open(&d.path().join("l"), small());
    put(&leader, &tx(1, 0, 0, 2));
    put(&leader, &plain(2));
    put(&leader, &tx(2, 0, 0, 1));
    mark(&leader, 1, 0, false);
    put(&leader, &tx(3, 0, 0, 2));
    mark(&leader, 2, 0, true);
    put(&leader, &plain(2));
    put(&leader, &tx(1, 0, 2, 1));
    mark(&leader, 1, 0, false);
    let follower = open(&d.path().join("f"), small());
    let mut at = 0;
    while at < leader.log_end_offset() {
        let r = leader.read_to_end(at, 1 << 20, true).unwrap();
        at = r.records.end_offset();
        follower
            .append_replica(&r.records.to_bytes().unwrap())
            .unwrap();
    }
    let leo = leader.log_end_offset();
    assert_eq!(follower.log_end_offset(), leo);
    assert_eq!(
        follower.active_producers().unwrap(),
        leader.active_producers().unwrap()
    );
    assert_eq!(follower.last_stable_offset(), leader.last_stable_offset());
    assert_eq!(leader.last_stable_offset(), 6);
    assert_eq!(aborted(&follower, 0, leo), aborted(&leader, 0, leo));
    assert_eq!(aborted(&leader, 0, leo), vec![(1, 0), (1, 11)]);
    assert_eq!(index(&follower), index(&leader));
}

#[test]
fn retention_deletes_the_index_with_its_segment() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small());
    put(&log, &tx(1, 0, 0, 2));
    mark(&log, 1, 0, false);
    for _ in 0..6 {
        put(&log, &plain(2));
    }
    let first = index(&log)[0].0;
    assert!(segment_file(d.path(), first, TXN_INDEX_SUFFIX).exists());
    log.delete_records_before(log.high_watermark()).unwrap();
    assert!(!segment_file(d.path(), first, TXN_INDEX_SUFFIX).exists());
    assert!(index(&log).is_empty());
    assert_eq!(
        aborted(&log, log.log_start_offset(), log.log_end_offset()),
        vec![]
    );
}

#[test]
fn restart_at_a_new_log_start_forgets_transactions() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path(), small());
    put(&log, &tx(1, 0, 0, 2));
    mark(&log, 1, 0, false);
    put(&log, &tx(2, 0, 0, 2));
    log.truncate_fully_and_start_at(100).unwrap();
    assert_eq!(log.last_stable_offset(), 100);
    assert!(index(&log).is_empty());
    assert_eq!(open_txn(&log, 2), -2);
}

#[test]
fn a_cleaned_segment_keeps_its_aborted_transactions() {
    use crate::log::cleaner::{clean, PassOptions};
    use crate::log::config::CleanupPolicy;
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        ..small()
    };
    let files = LogFiles::default();
    let log = PartitionLog::open_with(d.path(), cfg, 0, &files).unwrap();
    // Every plain batch writes the same keys, so cleaning rewrites the first segments.
    put(&log, &tx(1, 0, 0, 2));
    mark(&log, 1, 0, false);
    for _ in 0..8 {
        put(&log, &plain(2));
    }
    let before = index(&log);
    assert_eq!(before.len(), 1);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let opts = PassOptions {
        map_bytes: 1 << 20,
        force: true,
        throttle: None,
        stop: &stop,
    };
    let stats = clean(&log, &files, &opts, 0).unwrap();
    assert!(stats.segments_rewritten > 0);
    assert_eq!(index(&log), before);
    assert_eq!(aborted(&log, 0, log.log_end_offset()), vec![(1, 0)]);
    log.close().unwrap();
    let log = open(d.path(), small());
    assert_eq!(index(&log), before);
}

#[test]
fn the_cleaner_stops_at_the_last_stable_offset() {
    use crate::log::cleaner::{clean, PassOptions};
    use crate::log::config::CleanupPolicy;
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        ..small()
    };
    let files = LogFiles::default();
    let log = PartitionLog::open_with(d.path(), cfg, 0, &files).unwrap();
    for _ in 0..4 {
        put(&log, &plain(2));
    }
    // An open transaction writes the same keys: they must not shadow the values before it.
    let first = put(&log, &tx(1, 0, 0, 2));
    for _ in 0..4 {
        put(&log, &plain(2));
    }
    assert_eq!(log.last_stable_offset(), first);
    let stop = std::sync::atomic::AtomicBool::new(false);
    let opts = PassOptions {
        map_bytes: 1 << 20,
        force: true,
        throttle: None,
        stop: &stop,
    };
    clean(&log, &files, &opts, 0).unwrap();
    // Only what lies below the open transaction was used to clean, so the latest values below
    // it stay; cleaning up to the high watermark would have removed every record below it
    // (the later plain batches shadow them).
    let mut at = 0;
    let mut records = 0;
    while at < first {
        let r = log.read(at, 1 << 20, true).unwrap();
        let bytes = r.records.to_bytes().unwrap();
        let mut buf = &bytes[..];
        while !buf.is_empty() && at < first {
            let h = BatchHeader::parse(buf).unwrap();
            records += h.records_count;
            at = h.last_offset() + 1;
            buf = &buf[h.batch_size()..];
        }
    }
    assert!(records >= 2, "{records}");
    assert!(log.cleaner_offset() <= first);
}

#[test]
fn the_cleaner_removes_aborted_records_and_keeps_the_committed_value() {
    use crate::log::cleaner::{clean, PassOptions};
    use crate::log::config::CleanupPolicy;
    use crate::log::testutil::Rec;
    let d = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        ..small()
    };
    let files = LogFiles::default();
    let log = PartitionLog::open_with(d.path(), cfg, 0, &files).unwrap();
    let keyed = |key: &[u8], value: &[u8]| vec![Rec::kv(Some(key), Some(value))];
    // "a" is committed as "good", then an aborted transaction writes "a" = "bad" later.
    put(
        &log,
        &BatchBuilder::new().recs(keyed(b"a", b"good")).build(),
    );
    let bad = put(
        &log,
        &BatchBuilder::new()
            .recs(keyed(b"a", b"bad"))
            .producer(1, 0, 0)
            .attributes(ATTR_TRANSACTIONAL)
            .build(),
    );
    mark(&log, 1, 0, false);
    // Enough filler of another key to seal the segments holding both.
    for _ in 0..8 {
        put(
            &log,
            &BatchBuilder::new().recs(keyed(b"z", b"filler")).build(),
        );
    }
    let stop = std::sync::atomic::AtomicBool::new(false);
    let opts = PassOptions {
        map_bytes: 1 << 20,
        force: true,
        throttle: None,
        stop: &stop,
    };
    clean(&log, &files, &opts, 0).unwrap();
    // Every value of "a" still in the log: the committed one only.
    let mut values = Vec::new();
    let mut at = 0;
    while at < log.log_end_offset() {
        let r = log.read(at, 1 << 20, true).unwrap();
        let bytes = r.records.to_bytes().unwrap();
        if bytes.is_empty() {
            break;
        }
        let mut buf = &bytes[..];
        while !buf.is_empty() {
            let h = BatchHeader::parse(buf).unwrap();
            if !h.is_control() {
                let raw = crate::log::cleaner::filter::records_of(buf, &h).unwrap();
                crate::log::cleaner::filter::for_each_record(&raw, &h, |r| {
                    if r.key == Some(&b"a"[..]) {
                        values.push((h.base_offset, r.value.map(<[u8]>::to_vec)));
                    }
                })
                .unwrap();
            }
            at = h.last_offset() + 1;
            buf = &buf[h.batch_size()..];
        }
    }
    assert_eq!(
        values,
        vec![(0, Some(b"good".to_vec()))],
        "aborted offset {bad}"
    );
}

/// One step of the property test.
#[derive(Clone, Debug)]
enum Step {
    /// Transactional batch of `n` records from producer `pid`.
    Data(i64, usize),
    /// Non-transactional batch.
    Plain,
    /// Marker for `pid`: commit or abort.
    Marker(i64, bool),
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (1i64..4, 1usize..3).prop_map(|(p, n)| Step::Data(p, n)),
        Just(Step::Plain),
        (1i64..4, any::<bool>()).prop_map(|(p, c)| Step::Marker(p, c)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Against a model (open transactions and aborted ones by offset): the last stable offset,
    /// what read_committed returns and the aborted list of every fetch window, before and
    /// after an unclean restart.
    #[test]
    fn transactions_match_the_model(steps in proptest::collection::vec(step(), 1..40)) {
        let d = tempfile::tempdir().unwrap();
        let mut open_first: std::collections::HashMap<i64, i64> = Default::default();
        let mut seqs: std::collections::HashMap<i64, i32> = Default::default();
        let mut model_aborted: Vec<(i64, i64, i64)> = Vec::new();
        {
            let log = open(d.path(), small());
            for s in &steps {
                match *s {
                    Step::Data(pid, n) => {
                        let seq = seqs.entry(pid).or_insert(0);
                        let at = put(&log, &tx(pid, 0, *seq, n));
                        *seq += n as i32;
                        open_first.entry(pid).or_insert(at);
                    }
                    Step::Plain => {
                        put(&log, &plain(1));
                    }
                    Step::Marker(pid, commit) => {
                        let at = mark(&log, pid, 0, commit);
                        if let Some(first) = open_first.remove(&pid) {
                            if !commit {
                                model_aborted.push((pid, first, at));
                            }
                        }
                    }
                }
                let lso = open_first.values().min().copied().unwrap_or(log.log_end_offset());
                prop_assert_eq!(log.last_stable_offset(), lso);
            }
        }
        // Reopened without a clean close: everything is rebuilt from the log and snapshots.
        let log = open(d.path(), small());
        let leo = log.log_end_offset();
        let lso = open_first.values().min().copied().unwrap_or(leo);
        prop_assert_eq!(log.last_stable_offset(), lso);
        let got = committed(&log, 0);
        prop_assert!(got.last().is_none_or(|&(_, last)| last < lso));
        prop_assert_eq!(got.last().map_or(0, |&(_, l)| l + 1), lso);
        for from in 0..=leo {
            for upper in from..=leo {
                let mut want: Vec<(i64, i64)> = model_aborted
                    .iter()
                    .filter(|&&(_, first, last)| last >= from && first < upper)
                    .map(|&(p, f, _)| (p, f))
                    .collect();
                want.sort_unstable_by_key(|&(p, f)| (f, p));
                prop_assert_eq!(aborted(&log, from, upper), want, "[{}, {})", from, upper);
            }
        }
    }
}
