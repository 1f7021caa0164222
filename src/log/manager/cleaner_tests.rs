//! Tests of the cleaner's pick loop (`cleaner.rs`) on a fake clock: `clean_dirtiest` is called
//! with the `now` a `Clock` would give, so time moves only when the test says. Covers the idle
//! roll of a quiet compacted partition (`PartitionLog::roll_if_idle`) and the pass scheduled
//! when tombstones kept by the last pass expire.

use std::sync::atomic::AtomicBool;

use super::*;
use crate::log::cleaner::tests::{read_all, Row};
use crate::log::config::{CleanupPolicy, LogConfig};
use crate::log::testutil::{BatchBuilder, Rec};

/// Record timestamps (CreateTime) of the tests, and the fake clock's start.
const T0: i64 = 1_700_000_000_000;
const MINUTE: i64 = 60_000;

fn compact() -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        segment_ms: 60 * MINUTE,
        max_compaction_lag_ms: 10 * MINUTE,
        delete_retention_ms: MINUTE,
        ..LogConfig::default()
    }
}

/// One record `key` = `value` (`None`: tombstone) at timestamp `ts`.
fn put(l: &PartitionLog, key: &str, value: Option<&str>, ts: i64) {
    let b = BatchBuilder::new()
        .recs(vec![Rec::kv(
            Some(key.as_bytes()),
            value.map(str::as_bytes),
        )])
        .timestamp(ts)
        .build();
    l.append(&b, 0, ts.max(0)).unwrap();
}

fn row(offset: i64, key: &str, value: Option<&str>) -> Row {
    (
        offset,
        key.as_bytes().to_vec(),
        value.map(|v| v.as_bytes().to_vec()),
    )
}

/// One pick of the cleaner at fake time `now`: whether it cleaned a partition.
fn pick(m: &LogManager, now: i64) -> bool {
    let stop = AtomicBool::new(false);
    m.clean_dirtiest(&CleanerConfig::default(), None, &stop, now)
}

#[test]
fn roll_time_of_a_compacted_topic_is_bounded_by_max_compaction_lag() {
    assert_eq!(compact().roll_ms(), 10 * MINUTE);
    let delete = LogConfig {
        cleanup_policy: CleanupPolicy::Delete,
        ..compact()
    };
    assert_eq!(delete.roll_ms(), 60 * MINUTE);
    let no_lag = LogConfig {
        max_compaction_lag_ms: i64::MAX,
        ..compact()
    };
    assert_eq!(no_lag.roll_ms(), 60 * MINUTE);
}

/// A compacted topic that stops receiving records: its active segment is rolled once older
/// than min(segment.ms, max.compaction.lag.ms), and the same pick cleans it.
#[test]
fn a_quiet_compacted_partition_is_rolled_and_cleaned() {
    let d = tempfile::tempdir().unwrap();
    let m = LogManager::open(d.path()).unwrap();
    let l = m.create("t", 0, compact(), T0).unwrap();
    put(&l, "a", Some("a1"), T0);
    put(&l, "b", Some("b1"), T0);
    put(&l, "a", Some("a2"), T0);
    assert!(
        !pick(&m, T0 + 10 * MINUTE),
        "not older than the roll time yet"
    );
    assert_eq!(l.segment_count(), 1);
    assert!(pick(&m, T0 + 10 * MINUTE + 1), "rolled and cleaned");
    assert_eq!(l.segment_count(), 2);
    assert_eq!(
        read_all(&l),
        vec![row(1, "b", Some("b1")), row(2, "a", Some("a2"))]
    );
    // The new active segment is empty: nothing more to roll or clean.
    assert!(!pick(&m, T0 + 100 * MINUTE));
    assert_eq!(l.segment_count(), 2);
    // Appends go on at the log end.
    put(&l, "a", Some("a3"), T0 + 100 * MINUTE);
    assert_eq!(l.log_end_offset(), 4);
}

#[test]
fn no_idle_roll_above_the_high_watermark_when_empty_or_for_delete_only() {
    let d = tempfile::tempdir().unwrap();
    let late = T0 + 1000 * MINUTE;
    let empty = PartitionLog::open(&d.path().join("empty"), compact(), T0).unwrap();
    assert!(!empty.roll_if_idle(late).unwrap());
    assert_eq!(empty.segment_count(), 1);

    let delete = LogConfig {
        cleanup_policy: CleanupPolicy::Delete,
        ..compact()
    };
    let del = PartitionLog::open(&d.path().join("delete"), delete, T0).unwrap();
    put(&del, "a", Some("1"), T0);
    assert!(!del.roll_if_idle(late).unwrap(), "delete-only is unchanged");
    assert_eq!(del.segment_count(), 1);

    // A replicated partition whose followers have not caught up: a replica could still
    // truncate the segment, so it stays active until the high watermark reaches the log end.
    let rep = PartitionLog::open(&d.path().join("rep"), compact(), T0).unwrap();
    rep.set_hw_follows_leo(false);
    put(&rep, "a", Some("1"), T0);
    assert_eq!((rep.high_watermark(), rep.log_end_offset()), (0, 1));
    assert!(!rep.roll_if_idle(late).unwrap());
    assert!(rep.advance_high_watermark(1));
    assert!(rep.roll_if_idle(late).unwrap());
    assert_eq!(rep.segment_count(), 2);
    assert!(
        !rep.roll_if_idle(late).unwrap(),
        "the new active segment is empty"
    );
}

/// Batches without timestamps (-1): the age counts from the first look that saw the segment
/// non-empty.
#[test]
fn idle_roll_without_timestamps_counts_from_the_first_look() {
    let d = tempfile::tempdir().unwrap();
    let l = PartitionLog::open(d.path(), compact(), T0).unwrap();
    put(&l, "a", Some("1"), -1);
    assert!(!l.roll_if_idle(T0).unwrap());
    assert!(!l.roll_if_idle(T0 + 10 * MINUTE).unwrap());
    assert!(l.roll_if_idle(T0 + 10 * MINUTE + 1).unwrap());
    assert_eq!(l.segment_count(), 2);
}

/// KIP-534's case: key=a v1, key=a tombstone, clean (the tombstone is kept), then no new data.
/// Once `delete.retention.ms` has passed, the cleaner's next pick removes the tombstone; the
/// time it waits for survives a restart.
#[test]
fn expired_tombstones_of_a_fully_cleaned_log_go_without_new_data() {
    let d = tempfile::tempdir().unwrap();
    let m = LogManager::open(d.path()).unwrap();
    let l = m.create("t", 0, compact(), T0).unwrap();
    put(&l, "a", Some("v1"), T0);
    put(&l, "a", None, T0);
    let t1 = T0 + 10 * MINUTE + 1;
    assert!(pick(&m, t1), "idle roll, then a pass");
    assert_eq!(read_all(&l), vec![row(1, "a", None)], "tombstone kept");
    assert!(
        !pick(&m, t1 + MINUTE - 1),
        "delete.retention.ms not over yet"
    );
    assert_eq!(read_all(&l), vec![row(1, "a", None)]);

    // The due time is in `cleaner-offset`: a restart keeps it.
    l.close().unwrap();
    drop((l, m));
    let m = LogManager::open(d.path()).unwrap();
    let l = m.open_partition("t", 0, compact(), t1).unwrap();
    assert!(pick(&m, t1 + MINUTE), "the tombstone's pass");
    assert_eq!(read_all(&l), vec![]);
    assert_eq!((l.log_start_offset(), l.log_end_offset()), (0, 2));
    assert!(!pick(&m, t1 + 100 * MINUTE), "nothing due any more");
}
