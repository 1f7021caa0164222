//! Share-partition state machine on a fake clock: acquisition, acks, locks, limits, SPSO.

use super::*;

fn m(s: &str) -> MemberId {
    Arc::from(s)
}

fn lb(first: i64, last: i64) -> LogBatch {
    LogBatch {
        first,
        last,
        skip: false,
    }
}

fn ack(first: i64, last: i64, t: AckType) -> Ack {
    Ack {
        first,
        last,
        types: vec![t],
    }
}

fn acq(first: i64, last: i64, delivery_count: i16) -> Acquired {
    Acquired {
        first,
        last,
        delivery_count,
    }
}

fn limits() -> Limits {
    Limits {
        lock_duration_ms: 1_000,
        delivery_count_limit: 3,
        max_record_locks: 100,
    }
}

#[test]
fn acquires_whole_batches_and_never_twice() {
    let mut p = SharePartition::new(0, limits());
    let a = m("a");
    let b = m("b");
    assert_eq!(p.next_fetch_offset(), Some(0));
    let got = p.acquire(&a, &[lb(0, 4), lb(5, 9)], 3, 0);
    // max_records is soft: the whole first batch, then stop.
    assert_eq!(got, vec![acq(0, 4, 1)]);
    assert_eq!(p.end_offset(), 5);
    // The same log batches offered to b: only the new one.
    let got = p.acquire(&b, &[lb(0, 4), lb(5, 9)], 500, 0);
    assert_eq!(got, vec![acq(5, 9, 1)]);
    assert_eq!(p.acquired_records(), 10);
    assert_eq!(p.next_fetch_offset(), Some(10));
}

#[test]
fn accept_advances_start_and_drops_batches() {
    let mut p = SharePartition::new(0, limits());
    let a = m("a");
    p.acquire(&a, &[lb(0, 4), lb(5, 9)], 500, 0);
    p.acknowledge(&a, &[ack(5, 9, AckType::Accept)]).unwrap();
    assert_eq!(p.start_offset(), 0, "offsets 0..=4 are still acquired");
    let c = p.acknowledge(&a, &[ack(0, 4, AckType::Accept)]).unwrap();
    assert_eq!(c.by_type[AckType::Accept.index()], 5);
    assert_eq!((p.start_offset(), p.end_offset()), (10, 10));
    assert!(p.snapshot().ranges.is_empty());
}

#[test]
fn release_redelivers_with_a_higher_count_and_archives_at_the_limit() {
    let mut p = SharePartition::new(0, limits());
    let a = m("a");
    for round in 1..=3i16 {
        let got = p.acquire(&a, &[lb(0, 4)], 500, 0);
        assert_eq!(got, vec![acq(0, 4, round)]);
        let c = p.acknowledge(&a, &[ack(0, 4, AckType::Release)]).unwrap();
        if round < 3 {
            assert_eq!(p.next_fetch_offset(), Some(0));
            assert_eq!(c.archived_at_limit, 0);
        } else {
            // Third delivery was the last (limit 3): archived, start moves on.
            assert_eq!(c.archived_at_limit, 5);
            assert_eq!(p.start_offset(), 5);
        }
    }
}

#[test]
fn partial_acks_split_the_batch() {
    let mut p = SharePartition::new(0, limits());
    let a = m("a");
    p.acquire(&a, &[lb(0, 9)], 500, 0);
    let per_offset = Ack {
        first: 0,
        last: 2,
        types: vec![AckType::Accept, AckType::Release, AckType::Reject],
    };
    p.acknowledge(&a, &[per_offset]).unwrap();
    assert_eq!(p.start_offset(), 1);
    // Offset 1 is available again; 3..=9 still acquired.
    assert_eq!(p.next_fetch_offset(), Some(1));
    let b = m("b");
    let got = p.acquire(&b, &[lb(0, 9)], 500, 10);
    assert_eq!(got, vec![acq(1, 1, 2)]);
    p.acknowledge(&a, &[ack(3, 9, AckType::Accept)]).unwrap();
    assert_eq!(p.start_offset(), 1);
    p.acknowledge(&b, &[ack(1, 1, AckType::Accept)]).unwrap();
    assert_eq!((p.start_offset(), p.end_offset()), (10, 10));
}

#[test]
fn acks_are_atomic_and_owner_checked() {
    let mut p = SharePartition::new(0, limits());
    let a = m("a");
    let b = m("b");
    p.acquire(&a, &[lb(0, 4)], 500, 0);
    p.acquire(&b, &[lb(5, 9)], 500, 0);
    let before = p.snapshot();
    // First range fine, second owned by b: nothing applied.
    let e = p
        .acknowledge(
            &a,
            &[ack(0, 4, AckType::Accept), ack(5, 5, AckType::Accept)],
        )
        .unwrap_err();
    assert!(matches!(e, AckError::InvalidRecordState(_)), "{e:?}");
    assert_eq!(p.snapshot(), before);
    assert_eq!(p.acquired_records(), 10);
    // Beyond the end: invalid state; a malformed type list: invalid request.
    assert!(matches!(
        p.acknowledge(&a, &[ack(0, 20, AckType::Accept)]),
        Err(AckError::InvalidRecordState(_))
    ));
    let bad = Ack {
        first: 0,
        last: 4,
        types: vec![AckType::Accept, AckType::Accept],
    };
    assert!(matches!(
        p.acknowledge(&a, &[bad]),
        Err(AckError::InvalidRequest(_))
    ));
    // Twice: the second is on a terminal record.
    p.acknowledge(&a, &[ack(0, 4, AckType::Accept)]).unwrap();
    p.acknowledge(&b, &[ack(6, 6, AckType::Accept)]).unwrap();
    assert!(matches!(
        p.acknowledge(&b, &[ack(6, 6, AckType::Accept)]),
        Err(AckError::InvalidRecordState(_))
    ));
    assert_eq!(p.start_offset(), 5);
    p.acknowledge(&b, &[ack(5, 5, AckType::Accept)]).unwrap();
    // Below the start: ignored.
    assert_eq!(p.start_offset(), 7);
    p.acknowledge(&b, &[ack(0, 3, AckType::Accept)]).unwrap();
}

#[test]
fn lock_expiry_on_a_fake_clock() {
    let mut p = SharePartition::new(0, limits());
    let a = m("a");
    p.acquire(&a, &[lb(0, 4)], 500, 100);
    assert_eq!(p.next_deadline(), Some(1_100));
    assert_eq!(p.expire_locks(1_099), 0);
    assert_eq!(p.expire_locks(1_100), 5);
    assert_eq!(p.next_deadline(), None);
    // The late ack is refused: the records are no longer a's.
    assert!(p.acknowledge(&a, &[ack(0, 4, AckType::Accept)]).is_err());
    let b = m("b");
    assert_eq!(p.acquire(&b, &[lb(0, 4)], 500, 2_000), vec![acq(0, 4, 2)]);
    assert_eq!(p.acquire(&a, &[lb(0, 4)], 500, 2_000), vec![]);
    // Expiry at the delivery limit archives.
    p.expire_locks(3_000);
    p.acquire(&b, &[lb(0, 4)], 500, 3_000);
    assert_eq!(p.expire_locks(4_000), 5);
    assert_eq!(p.start_offset(), 5);
    assert_eq!(p.next_fetch_offset(), Some(5));
}

#[test]
fn release_member_frees_only_its_records() {
    let mut p = SharePartition::new(0, limits());
    let a = m("a");
    let b = m("b");
    p.acquire(&a, &[lb(0, 4)], 500, 0);
    p.acquire(&b, &[lb(5, 9)], 500, 0);
    assert_eq!(p.release_member("a"), 5);
    assert_eq!(p.acquired_records(), 5);
    assert_eq!(p.next_fetch_offset(), Some(0));
    assert_eq!(p.acquire(&b, &[lb(0, 4)], 500, 0), vec![acq(0, 4, 2)]);
}

#[test]
fn in_flight_cap_bounds_acquisition() {
    let mut p = SharePartition::new(
        0,
        Limits {
            max_record_locks: 7,
            ..limits()
        },
    );
    let a = m("a");
    // The cap cuts inside the second batch.
    let got = p.acquire(&a, &[lb(0, 4), lb(5, 9)], 500, 0);
    assert_eq!(got, vec![acq(0, 6, 1)]);
    assert_eq!(p.end_offset(), 7);
    assert_eq!(p.next_fetch_offset(), None);
    assert!(p.acquire(&a, &[lb(5, 9)], 500, 0).is_empty());
    p.acknowledge(&a, &[ack(0, 4, AckType::Accept)]).unwrap();
    assert_eq!(p.next_fetch_offset(), Some(7));
    let got = p.acquire(&a, &[lb(5, 9), lb(10, 20)], 500, 0);
    assert_eq!(got, vec![acq(7, 11, 1)]);
    assert_eq!(p.end_offset() - p.start_offset(), 7);
}

#[test]
fn skipped_batches_are_archived_and_gaps_ack() {
    let mut p = SharePartition::new(0, limits());
    let a = m("a");
    let marker = LogBatch {
        first: 5,
        last: 5,
        skip: true,
    };
    let got = p.acquire(&a, &[lb(0, 4), marker, lb(6, 8)], 500, 0);
    assert_eq!(got, vec![acq(0, 4, 1), acq(6, 8, 1)]);
    p.acknowledge(&a, &[ack(0, 4, AckType::Accept), ack(6, 8, AckType::Gap)])
        .unwrap();
    assert_eq!(p.start_offset(), 9);
}

#[test]
fn snapshot_round_trip_turns_acquired_into_available() {
    let mut p = SharePartition::new(10, limits());
    let a = m("a");
    p.acquire(&a, &[lb(10, 14), lb(15, 19), lb(20, 24)], 500, 0);
    p.acknowledge(&a, &[ack(10, 14, AckType::Release)]).unwrap();
    p.acknowledge(&a, &[ack(15, 16, AckType::Accept)]).unwrap();
    let snap = p.snapshot();
    assert_eq!(snap.start_offset, 10);
    assert_eq!(
        snap.ranges,
        vec![
            StateRange {
                first: 10,
                last: 14,
                state: RecordState::Available,
                delivery_count: 1
            },
            StateRange {
                first: 15,
                last: 16,
                state: RecordState::Acknowledged,
                delivery_count: 1
            },
            StateRange {
                first: 17,
                last: 24,
                state: RecordState::Available,
                delivery_count: 1
            },
        ]
    );
    let q = SharePartition::from_snapshot(&snap, limits());
    assert_eq!((q.start_offset(), q.end_offset()), (10, 25));
    assert_eq!(q.acquired_records(), 0);
    assert_eq!(q.next_fetch_offset(), Some(10));
    assert_eq!(q.completed_records(), 2);
}

#[test]
fn archive_below_log_start() {
    let mut p = SharePartition::new(0, limits());
    let a = m("a");
    p.acquire(&a, &[lb(0, 9)], 500, 0);
    p.archive_below(5);
    assert_eq!(p.start_offset(), 5);
    assert_eq!(p.acquired_records(), 5);
    p.archive_below(50);
    assert_eq!((p.start_offset(), p.end_offset()), (50, 50));
}
