//! Tests of the replication side of the log (`replica.rs`, the high watermark bound in
//! `read.rs`): a follower built from a leader's `read_to_end` bytes, truncation of a diverged
//! tail at every kind of position (then append and reopen), restart at a new log start, and
//! the leader-epoch start recorded by `begin_leader_epoch`.

use super::tests::{open, small};
use super::*;
use crate::log::batch::{BatchHeader, CRC_OFFSET};
use crate::log::testutil::BatchBuilder;
use proptest::prelude::*;

fn pb(pid: i64, epoch: i16, seq: i32, n: usize) -> Vec<u8> {
    BatchBuilder::new()
        .records(n)
        .producer(pid, epoch, seq)
        .build()
}

/// Splits raw batch bytes into whole batches.
fn split(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut v = Vec::new();
    let mut buf = bytes;
    while !buf.is_empty() {
        let h = BatchHeader::parse(buf).unwrap();
        v.push(buf[..h.batch_size()].to_vec());
        buf = &buf[h.batch_size()..];
    }
    v
}

/// Every batch from `from` up to the bound of `read` (the high watermark) or `read_to_end`.
fn walk(log: &PartitionLog, from: i64, to_end: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut at = from;
    loop {
        let r = if to_end {
            log.read_to_end(at, 1 << 20, true)
        } else {
            log.read(at, 1 << 20, true)
        }
        .unwrap();
        if r.records.is_empty() {
            return out;
        }
        let got = split(&r.records.to_bytes().unwrap());
        at = BatchHeader::parse(got.last().unwrap())
            .unwrap()
            .last_offset()
            + 1;
        out.extend(got);
    }
}

fn bases(batches: &[Vec<u8>]) -> Vec<i64> {
    batches
        .iter()
        .map(|b| BatchHeader::parse(b).unwrap().base_offset)
        .collect()
}

/// Epoch of the `i`-th two-record batch of [`leader`]: 1, 1, 1, 1, 2, 2, 2, 2, 3, ...
fn epoch_of(i: i32) -> i32 {
    1 + i / 4
}

/// A leader log of `n` two-record batches of producer 7 (sequence 2i), epochs by `epoch_of`.
fn leader(dir: &Path, cfg: LogConfig, n: i32) -> PartitionLog {
    let log = open(dir, cfg);
    for i in 0..n {
        log.append(&pb(7, 0, 2 * i, 2), epoch_of(i), 0).unwrap();
    }
    log
}

#[test]
fn read_stops_below_high_watermark_and_read_to_end_at_log_end() {
    let d = tempfile::tempdir().unwrap();
    // One segment with many offset index entries, so the batch walk may jump by index.
    let cfg = LogConfig {
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let log = open(d.path(), cfg);
    log.set_hw_follows_leo(false);
    let mut hw_rx = log.subscribe();
    let mut end_rx = log.subscribe_end();
    for i in 0..20 {
        log.append(&pb(7, 0, 2 * i, 2), 0, 0).unwrap();
    }
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(log.high_watermark(), 0);
    assert!(end_rx.has_changed().unwrap());
    assert_eq!(*end_rx.borrow_and_update(), 40);
    assert!(!hw_rx.has_changed().unwrap(), "appends leave the HW alone");
    let r = log.read(0, 1 << 20, true).unwrap();
    assert!(r.records.is_empty());
    assert_eq!(r.high_watermark, 0);
    assert_eq!(
        bases(&walk(&log, 0, true)),
        (0..20).map(|i| 2 * i).collect::<Vec<_>>()
    );

    assert!(log.advance_high_watermark(20));
    assert_eq!(*hw_rx.borrow_and_update(), 20);
    assert_eq!(log.offset_for_timestamp(0).unwrap().map(|f| f.0), Some(0));
    let r = log.read(0, 1 << 20, true).unwrap();
    assert_eq!(r.high_watermark, 20);
    let got = split(&r.records.to_bytes().unwrap());
    assert_eq!(bases(&got), (0..10).map(|i| 2 * i).collect::<Vec<_>>());
    // Every offset in [HW, LEO] reads empty; past the LEO is out of range.
    for o in [20, 21, 33, 40] {
        let r = log.read(o, 1 << 20, true).unwrap();
        assert!(r.records.is_empty(), "offset {o}");
        assert_eq!(r.high_watermark, 20);
    }
    assert_eq!(log.read(41, 100, true).unwrap_err().kafka_code(), 1);
    // A follower read from the HW sees the rest, and reports the HW.
    let r = log.read_to_end(20, 1 << 20, true).unwrap();
    assert_eq!(r.high_watermark, 20);
    assert_eq!(split(&r.records.to_bytes().unwrap()).len(), 10);

    // Monotonic and clamped.
    assert!(!log.advance_high_watermark(10));
    assert!(!log.advance_high_watermark(20));
    assert_eq!(log.high_watermark(), 20);
    assert!(log.advance_high_watermark(1000));
    assert_eq!(log.high_watermark(), 40);
    assert!(!log.advance_high_watermark(1000));
    assert_eq!(walk(&log, 0, false), walk(&log, 0, true));

    // A restart's checkpointed HW may be lower; it is clamped to [log start, LEO].
    log.restore_high_watermark(12);
    assert_eq!(log.high_watermark(), 12);
    assert_eq!(*hw_rx.borrow_and_update(), 12);
    assert_eq!(bases(&walk(&log, 0, false)), vec![0, 2, 4, 6, 8, 10]);
    log.restore_high_watermark(-5);
    assert_eq!(log.high_watermark(), 0);
    log.restore_high_watermark(99);
    assert_eq!(log.high_watermark(), 40);

    // Back to a single replica: HW follows every append again.
    log.set_hw_follows_leo(true);
    log.append(&pb(7, 0, 40, 2), 0, 0).unwrap();
    assert_eq!(log.high_watermark(), 42);
    assert_eq!(*hw_rx.borrow_and_update(), 42);
}

#[test]
fn high_watermark_bounds_reads_across_segments_and_retention() {
    let d = tempfile::tempdir().unwrap();
    let log = leader(d.path(), small(), 12);
    log.set_hw_follows_leo(false);
    assert_eq!(log.high_watermark(), 24, "switching off keeps the HW");
    log.truncate_to(24).unwrap(); // no-op at the log end
    assert_eq!(log.log_end_offset(), 24);
    let d2 = tempfile::tempdir().unwrap();
    let f = open(d2.path(), small());
    f.set_hw_follows_leo(false);
    for chunk in walk(&log, 0, true) {
        f.append_replica(&chunk).unwrap();
    }
    assert!(f.segment_count() > 3);
    assert!(f.advance_high_watermark(14));
    assert_eq!(bases(&walk(&f, 0, false)), vec![0, 2, 4, 6, 8, 10, 12]);
    assert_eq!(walk(&f, 0, true).len(), 12);
    // Retention never removes a segment holding offsets at or above the HW.
    f.update_config(LogConfig {
        retention_bytes: 0,
        ..small()
    });
    f.enforce_retention(0).unwrap();
    assert!(f.log_start_offset() <= 14);
    let first_kept = *read_lock(&f.state).segments.keys().next().unwrap();
    assert!(
        first_kept <= 14,
        "segment holding the HW kept, got {first_kept}"
    );
    assert_eq!(f.delete_records_before(-1).unwrap(), 14);
    assert_eq!(f.delete_records_before(15).unwrap_err().kafka_code(), 1);
}

#[test]
fn follower_is_byte_identical_and_takes_over_as_leader() {
    let dl = tempfile::tempdir().unwrap();
    let df = tempfile::tempdir().unwrap();
    let lead = leader(dl.path(), small(), 10);
    lead.append(&BatchBuilder::new().records(3).build(), 3, 0)
        .unwrap();
    let f = open(df.path(), small());
    f.set_hw_follows_leo(false);
    // Fetch in small chunks, each followed by a partial batch the fetch size cut off.
    loop {
        let r = lead.read_to_end(f.log_end_offset(), 250, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        let mut bytes = r.records.to_bytes().unwrap().to_vec();
        let partial = bytes[..70].to_vec();
        bytes.extend_from_slice(&partial);
        let leo = f.append_replica(&bytes).unwrap();
        assert_eq!(leo, f.log_end_offset());
        assert!(f.advance_high_watermark(r.high_watermark));
    }
    assert_eq!(f.log_end_offset(), 23);
    assert_eq!(f.high_watermark(), 23);
    assert_eq!(
        walk(&f, 0, true),
        walk(&lead, 0, true),
        "byte-identical batches"
    );
    for e in -1..6 {
        assert_eq!(
            f.end_offset_for_epoch(e),
            lead.end_offset_for_epoch(e),
            "epoch {e}"
        );
    }
    assert_eq!(f.latest_epoch(), Some(3));
    assert_eq!(
        f.active_producers().unwrap(),
        lead.active_producers().unwrap()
    );

    // The follower becomes leader: a retry of the producer's last batch is a duplicate.
    f.set_hw_follows_leo(true);
    f.begin_leader_epoch(4).unwrap();
    assert_eq!(
        f.append(&pb(7, 0, 18, 2), 4, 0).unwrap(),
        AppendOutcome::Duplicate {
            base_offset: 18,
            last_offset: 19,
            log_start_offset: 0
        }
    );
    assert_eq!(
        f.append(&pb(7, 0, 21, 1), 4, 0).unwrap_err().kafka_code(),
        45
    );
    assert!(matches!(
        f.append(&pb(7, 0, 20, 1), 4, 0).unwrap(),
        AppendOutcome::Appended {
            base_offset: 23,
            ..
        }
    ));
    assert_eq!(f.high_watermark(), 24);
    // And the replicated state survives a crash.
    drop(f);
    let f = open(df.path(), small());
    assert_eq!(f.log_end_offset(), 24);
    assert_eq!(f.end_offset_for_epoch(3), (3, 23));
    assert_eq!(f.end_offset_for_epoch(4), (4, 24));
    assert!(matches!(
        f.append(&pb(7, 0, 20, 1), 4, 0).unwrap(),
        AppendOutcome::Duplicate {
            base_offset: 23,
            ..
        }
    ));
}

#[test]
fn append_replica_rejects_an_overlap_and_a_bad_crc() {
    let dl = tempfile::tempdir().unwrap();
    let df = tempfile::tempdir().unwrap();
    let lead = leader(dl.path(), LogConfig::default(), 3);
    let batches = walk(&lead, 0, true);
    let f = open(df.path(), LogConfig::default());
    let mut bad = batches.concat();
    let second = batches[0].len() + CRC_OFFSET + 10;
    bad[second] ^= 0xff;
    let err = f.append_replica(&bad).unwrap_err();
    assert_eq!(err.kafka_code(), 2, "{err}");
    assert_eq!(f.log_end_offset(), 2, "the batch before the bad one stays");
    // A batch below the log end is refused; one above it would be a gap left by the
    // leader's log cleaner, which followers accept.
    let err = f.append_replica(&batches[0]).unwrap_err();
    assert_eq!(err.kafka_code(), 87);
    let msg = err.to_string();
    assert!(
        msg.contains("offset 0") && msg.contains("offset 2"),
        "{msg}"
    );
    assert_eq!(f.log_end_offset(), 2);
    assert_eq!(f.append_replica(&batches[1..].concat()).unwrap(), 6);
    assert_eq!(f.append_replica(&[]).unwrap(), 6);
    assert_eq!(walk(&f, 0, true), batches);
}

/// Builds a leader log of 12 batches (offsets 0..24, several segments), truncates it at
/// `offset`, and checks the result before and after appending and reopening.
fn check_truncation(offset: i64, clean: bool) {
    let d = tempfile::tempdir().unwrap();
    let log = leader(d.path(), small(), 12);
    log.set_hw_follows_leo(false);
    assert!(log.segment_count() > 3);
    let before = walk(&log, 0, true);
    let mut hw_rx = log.subscribe();
    let mut end_rx = log.subscribe_end();
    log.flush().unwrap();
    log.truncate_to(offset).unwrap();
    let leo = offset - offset % 2; // a cut inside a batch takes the whole batch
    let kept = (leo / 2) as usize;
    assert_eq!(log.log_end_offset(), leo, "truncate_to({offset})");
    assert_eq!(log.high_watermark(), leo);
    assert!(log.flushed_offset() <= leo);
    assert!(log.recovery_point() <= leo);
    assert_eq!(*hw_rx.borrow_and_update(), leo);
    assert_eq!(*end_rx.borrow_and_update(), leo);
    assert_eq!(walk(&log, 0, true), before[..kept]);
    assert_eq!(log.read(leo + 1, 100, true).unwrap_err().kafka_code(), 1);
    let last_epoch = epoch_of(kept as i32 - 1);
    assert_eq!(log.latest_epoch(), Some(last_epoch));
    assert_eq!(log.end_offset_for_epoch(last_epoch), (last_epoch, leo));
    {
        let s = read_lock(&log.state);
        assert!(s.active().is_pinned(), "the cut segment is the active one");
        assert!(*s.segments.keys().next_back().unwrap() <= leo);
    }
    // Producer state is that of the prefix: its last batch is a duplicate, the next appends.
    let last_seq = 2 * (kept as i32 - 1);
    assert!(matches!(
        log.append(&pb(7, 0, last_seq, 2), 9, 0).unwrap(),
        AppendOutcome::Duplicate { base_offset, .. } if base_offset == leo - 2
    ));
    assert!(matches!(
        log.append(&pb(7, 0, last_seq + 2, 2), 9, 0).unwrap(),
        AppendOutcome::Appended { base_offset, .. } if base_offset == leo
    ));
    // A follower-style append continues at the new end too.
    let mut next = BatchBuilder::new().records(1).build();
    next[..8].copy_from_slice(&(leo + 2).to_be_bytes());
    next[12..16].copy_from_slice(&9i32.to_be_bytes()); // neither field is under the CRC
    assert_eq!(log.append_replica(&next).unwrap(), leo + 3);
    let after = walk(&log, 0, true);
    assert_eq!(after[..kept], before[..kept]);
    if clean {
        log.close().unwrap();
    }
    drop(log);
    let log = open(d.path(), small());
    assert_eq!(log.log_end_offset(), leo + 3);
    assert_eq!(walk(&log, 0, true), after);
    assert_eq!(log.end_offset_for_epoch(last_epoch), (last_epoch, leo));
    assert_eq!(log.end_offset_for_epoch(9), (9, leo + 3));
    assert!(matches!(
        log.append(&pb(7, 0, last_seq + 2, 2), 9, 0).unwrap(),
        AppendOutcome::Duplicate { base_offset, .. } if base_offset == leo
    ));
}

#[test]
fn truncate_in_the_middle_of_the_active_segment() {
    let d = tempfile::tempdir().unwrap();
    let log = leader(d.path(), small(), 12);
    let active = read_lock(&log.state).active().base_offset;
    drop(log);
    assert!(active < 22);
    for clean in [false, true] {
        check_truncation(22, clean);
        check_truncation(23, clean);
    }
}

#[test]
fn truncate_at_a_segment_boundary_and_into_sealed_segments() {
    let d = tempfile::tempdir().unwrap();
    let log = leader(d.path(), small(), 12);
    let bases: Vec<i64> = read_lock(&log.state).segments.keys().copied().collect();
    drop(log);
    assert!(bases.len() > 3);
    for clean in [false, true] {
        check_truncation(bases[2], clean);
        check_truncation(bases[1] + 1, clean);
        check_truncation(bases[1] + 2, clean);
        check_truncation(2, clean);
    }
}

#[test]
fn a_crash_mid_truncation_reopens_as_a_prefix() {
    // truncate_to deletes later segments newest first, then cuts: a crash after deleting only
    // the newest segment leaves a prefix, which open recovers with matching producer state.
    let d = tempfile::tempdir().unwrap();
    let log = leader(d.path(), small(), 12);
    let active = Arc::clone(read_lock(&log.state).active());
    drop(log);
    active.delete_files().unwrap();
    drop(active);
    let log = open(d.path(), small());
    let leo = log.log_end_offset();
    assert!(leo < 24 && leo % 2 == 0);
    let kept = (leo / 2) as i32;
    assert_eq!(log.latest_epoch(), Some(epoch_of(kept - 1)));
    assert!(matches!(
        log.append(&pb(7, 0, 2 * (kept - 1), 2), 9, 0).unwrap(),
        AppendOutcome::Duplicate { .. }
    ));
}

#[test]
fn truncate_fully_then_append_and_reopen() {
    let d = tempfile::tempdir().unwrap();
    let log = leader(d.path(), small(), 12);
    log.truncate_fully_and_start_at(100).unwrap();
    assert_eq!(
        (
            log.log_start_offset(),
            log.log_end_offset(),
            log.high_watermark()
        ),
        (100, 100, 100)
    );
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.latest_epoch(), None);
    assert!(log.active_producers().unwrap().is_empty());
    assert_eq!(log.read(0, 100, true).unwrap_err().kafka_code(), 1);
    // Producer 7 is unknown now: any sequence is accepted.
    assert!(matches!(
        log.append(&pb(7, 0, 40, 2), 5, 0).unwrap(),
        AppendOutcome::Appended {
            base_offset: 100,
            ..
        }
    ));
    drop(log);
    let log = open(d.path(), small());
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (100, 102));
    assert_eq!(log.end_offset_for_epoch(5), (5, 102));
    assert_eq!(log.end_offset_for_epoch(1), (1, 100));
    // Truncating below the log start restarts the log there.
    log.truncate_to(50).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (50, 50));
    assert!(log.append(&pb(8, 0, 0, 1), 6, 0).is_ok());
    assert_eq!(log.log_end_offset(), 51);
}

#[test]
fn begin_leader_epoch_answers_before_the_first_append() {
    let d = tempfile::tempdir().unwrap();
    let log = leader(d.path(), LogConfig::default(), 2);
    log.begin_leader_epoch(3).unwrap();
    assert_eq!(log.latest_epoch(), Some(3));
    assert_eq!(log.end_offset_for_epoch(1), (1, 4));
    assert_eq!(log.end_offset_for_epoch(2), (1, 4));
    assert_eq!(log.end_offset_for_epoch(3), (3, 4));
    // Not above the latest: no change.
    log.begin_leader_epoch(2).unwrap();
    log.begin_leader_epoch(3).unwrap();
    log.append(&pb(7, 0, 4, 2), 3, 0).unwrap();
    assert_eq!(log.end_offset_for_epoch(3), (3, 6));
    assert_eq!(log.end_offset_for_epoch(1), (1, 4));
    drop(log);
    let log = open(d.path(), LogConfig::default());
    assert_eq!(log.end_offset_for_epoch(1), (1, 4));
    assert_eq!(log.end_offset_for_epoch(3), (3, 6));
}

#[test]
fn truncating_at_the_end_drops_an_epoch_begun_without_records() {
    // A leader began epoch 5 and lost the leadership before appending: as a follower, the
    // new leader's diverging answer truncates to its log end, which must drop epoch 5 so the
    // next fetch no longer claims it (else it diverges forever).
    let d = tempfile::tempdir().unwrap();
    let log = leader(d.path(), LogConfig::default(), 2);
    let leo = log.log_end_offset();
    log.begin_leader_epoch(5).unwrap();
    assert_eq!(log.latest_epoch(), Some(5));
    log.truncate_to(leo).unwrap();
    assert_eq!(log.latest_epoch(), Some(1));
    assert_eq!(log.log_end_offset(), leo);
    drop(log);
    assert_eq!(open(d.path(), LogConfig::default()).latest_epoch(), Some(1));
}

/// One step of the model test.
#[derive(Clone, Debug)]
enum Op {
    /// Append a batch of `n` records at `epoch_bump` above the latest epoch.
    Append { n: usize, epoch_bump: i32 },
    /// Truncate to this fraction (per mille) of the log end.
    Truncate(u16),
    /// Advance the high watermark to this fraction (per mille) of the log end.
    Advance(u16),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (1usize..4, 0i32..2).prop_map(|(n, epoch_bump)| Op::Append { n, epoch_bump }),
        1 => (0u16..=1000).prop_map(Op::Truncate),
        1 => (0u16..=1000).prop_map(Op::Advance),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]
    #[test]
    fn random_appends_and_truncations_match_a_reopen(ops in prop::collection::vec(op(), 1..40)) {
        let d = tempfile::tempdir().unwrap();
        let log = open(d.path(), small());
        log.set_hw_follows_leo(false);
        let mut epoch = 0;
        for o in ops {
            let leo = log.log_end_offset();
            match o {
                Op::Append { n, epoch_bump } => {
                    epoch += epoch_bump;
                    log.append(&BatchBuilder::new().records(n).build(), epoch, 0).unwrap();
                }
                Op::Truncate(f) => {
                    log.truncate_to(leo * i64::from(f) / 1000).unwrap();
                }
                Op::Advance(f) => {
                    // The HW lies on a batch boundary: take the end of a batch read.
                    let at = leo * i64::from(f) / 1000;
                    if at < leo {
                        let r = log.read_to_end(at, 1, true).unwrap();
                        let one = r.records.to_bytes().unwrap();
                        let end = BatchHeader::parse(&one).unwrap().last_offset() + 1;
                        log.advance_high_watermark(end);
                    }
                }
            }
            prop_assert!(log.high_watermark() <= log.log_end_offset());
            prop_assert!(log.log_start_offset() <= log.high_watermark());
        }
        let batches = walk(&log, 0, true);
        let leo = log.log_end_offset();
        let epochs: Vec<_> = (0..=epoch + 1).map(|e| log.end_offset_for_epoch(e)).collect();
        drop(log);
        let log = open(d.path(), small());
        prop_assert_eq!(log.log_end_offset(), leo);
        prop_assert_eq!(walk(&log, 0, true), batches);
        let reopened: Vec<_> = (0..=epoch + 1).map(|e| log.end_offset_for_epoch(e)).collect();
        prop_assert_eq!(reopened, epochs);
    }
}
