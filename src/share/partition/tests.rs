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
    for round in 1..=2i16 {
        let got = p.acquire(&a, &[lb(0, 4)], 500, 0);
        assert_eq!(got, vec![acq(0, 4, round)]);
        let c = p.acknowledge(&a, &[ack(0, 4, AckType::Release)]).unwrap();
        assert_eq!(p.next_fetch_offset(), Some(0));
        assert_eq!(c.archived_at_limit, 0);
    }
    // The third delivery is the last (limit 3): one record per fetch (throttled delivery),
    // archived when released; the start moves on.
    for x in 0..5 {
        assert_eq!(p.acquire(&a, &[lb(0, 4)], 500, 0), vec![acq(x, x, 3)]);
        let c = p.acknowledge(&a, &[ack(x, x, AckType::Release)]).unwrap();
        assert_eq!(c.archived_at_limit, 1);
        assert_eq!(p.start_offset(), x + 1);
    }
}

fn limit5() -> Limits {
    Limits {
        delivery_count_limit: 5,
        ..limits()
    }
}

#[test]
fn throttled_delivery_halves_then_goes_one_by_one() {
    let mut p = SharePartition::new(0, limit5());
    let a = m("a");
    let log = [lb(0, 7), lb(8, 9)];
    // Deliveries 1 to 3 hand out whole batches (the threshold is ceil(5 / 2) = 3).
    for round in 1..=3 {
        assert_eq!(p.acquire(&a, &log[..1], 8, 0), vec![acq(0, 7, round)]);
        p.acknowledge(&a, &[ack(0, 7, AckType::Release)]).unwrap();
    }
    // The 4th: max_records halved, exactly (the log batch is split), nothing else joins.
    assert_eq!(p.acquire(&a, &log, 8, 0), vec![acq(0, 3, 4)]);
    assert_eq!(p.end_offset(), 8, "no new records in a throttled fetch");
    p.acknowledge(&a, &[ack(0, 3, AckType::Release)]).unwrap();
    // 0..=3 are on their last delivery: one per fetch, before 4..=7.
    for x in 0..4 {
        assert_eq!(p.acquire(&a, &log, 8, 0), vec![acq(x, x, 5)]);
        p.acknowledge(&a, &[ack(x, x, AckType::Accept)]).unwrap();
    }
    assert_eq!(p.start_offset(), 4);
    assert_eq!(p.acquire(&a, &log, 8, 0), vec![acq(4, 7, 4)]);
    p.acknowledge(&a, &[ack(4, 7, AckType::Accept)]).unwrap();
    // Healthy records again: whole batches.
    assert_eq!(p.acquire(&a, &log, 8, 0), vec![acq(8, 9, 1)]);
}

#[test]
fn suspect_records_get_a_fetch_of_their_own() {
    let mut p = SharePartition::new(0, limit5());
    let (a, b) = (m("a"), m("b"));
    let log = [lb(0, 9), lb(10, 14)];
    // a holds 0..=4 while 5..=9 are delivered three times.
    assert_eq!(p.acquire(&a, &log[..1], 500, 0), vec![acq(0, 9, 1)]);
    p.acknowledge(&a, &[ack(5, 9, AckType::Release)]).unwrap();
    for round in 2..=3 {
        assert_eq!(p.acquire(&b, &log[..1], 500, 0), vec![acq(5, 9, round)]);
        p.acknowledge(&b, &[ack(5, 9, AckType::Release)]).unwrap();
    }
    p.acknowledge(&a, &[ack(0, 4, AckType::Release)]).unwrap();
    // The healthy records first (the suspects behind them in the same log batch wait), then
    // the suspects alone, then new records.
    assert_eq!(p.acquire(&b, &log, 500, 0), vec![acq(0, 4, 2)]);
    assert_eq!(p.acquire(&b, &log, 500, 0), vec![acq(5, 9, 4)]);
    assert_eq!(p.acquire(&b, &log, 500, 0), vec![acq(10, 14, 1)]);
}

#[test]
fn a_poison_record_is_isolated_and_its_batch_delivered() {
    // A consumer that fails (releases) every fetch holding offset 13 and accepts the others.
    let mut p = SharePartition::new(0, limit5());
    let a = m("a");
    let log = [lb(0, 9), lb(10, 29), lb(30, 39)];
    let (mut accepted, mut poison_deliveries) = (Vec::new(), 0);
    for _ in 0..100 {
        let Some(at) = p.next_fetch_offset() else {
            break;
        };
        let offered: Vec<LogBatch> = log.iter().copied().filter(|b| b.last >= at).collect();
        let got = p.acquire(&a, &offered, 500, 0);
        if got.is_empty() {
            break;
        }
        let poisoned = got.iter().any(|r| (r.first..=r.last).contains(&13));
        let t = if poisoned {
            AckType::Release
        } else {
            AckType::Accept
        };
        for r in &got {
            p.acknowledge(&a, &[ack(r.first, r.last, t)]).unwrap();
            if !poisoned {
                accepted.extend(r.first..=r.last);
            }
        }
        poison_deliveries += i32::from(poisoned);
    }
    accepted.sort_unstable();
    assert_eq!(accepted, (0..40).filter(|&x| x != 13).collect::<Vec<i64>>());
    assert_eq!(poison_deliveries, 5, "the poison record reached the limit");
    assert_eq!((p.start_offset(), p.end_offset()), (40, 40));
}

#[test]
fn no_throttling_at_a_delivery_limit_of_two() {
    let mut p = SharePartition::new(
        0,
        Limits {
            delivery_count_limit: 2,
            ..limits()
        },
    );
    let a = m("a");
    for round in 1..=2 {
        assert_eq!(p.acquire(&a, &[lb(0, 4)], 500, 0), vec![acq(0, 4, round)]);
        p.acknowledge(&a, &[ack(0, 4, AckType::Release)]).unwrap();
    }
    assert_eq!(p.start_offset(), 5);
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
    // Expiry at the delivery limit archives (the last delivery is one record per fetch).
    p.expire_locks(3_000);
    assert_eq!(p.acquire(&b, &[lb(0, 4)], 500, 3_000), vec![acq(0, 0, 3)]);
    assert_eq!(p.expire_locks(4_000), 1);
    assert_eq!(p.start_offset(), 1);
    assert_eq!(p.next_fetch_offset(), Some(1));
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
