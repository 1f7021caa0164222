//! Crash tests for unclean-shutdown recovery and damaged reads (`recovery.rs`, `verify.rs`):
//! several segments are written, the process "dies" (the log is dropped without `close`), a
//! sealed segment inside the unflushed window is torn the way a power cut tears it, and the log
//! is reopened.

use super::*;
use crate::log::batch::{compute_crc, BatchHeader};
use crate::log::checkpoint;
use crate::log::segment::segment_file;
use crate::log::testutil::BatchBuilder;
use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;

fn b(n: usize) -> Vec<u8> {
    BatchBuilder::new().records(n).build()
}

/// Segments of about three 2-record batches each.
fn small() -> LogConfig {
    LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 100,
        ..LogConfig::default()
    }
}

fn open(dir: &Path) -> PartitionLog {
    PartitionLog::open(dir, small(), 0).unwrap()
}

/// (base offset, size) of every segment.
fn segs(log: &PartitionLog) -> Vec<(i64, u64)> {
    read_lock(&log.state)
        .segments
        .values()
        .map(|s| (s.base_offset, s.size()))
        .collect()
}

/// Reads the whole log from 0 and returns (base, last) of every batch, checking each CRC.
fn read_all(log: &PartitionLog) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut next = log.log_start_offset();
    while next < log.high_watermark() {
        let r = log.read(next, 1 << 20, true).unwrap();
        assert!(!r.records.is_empty(), "empty read at {next} below the HW");
        let bytes = r.records.to_bytes().unwrap();
        let mut buf = &bytes[..];
        while !buf.is_empty() {
            let h = BatchHeader::parse(buf).unwrap();
            assert_eq!(compute_crc(&buf[..h.batch_size()]), h.crc);
            out.push((h.base_offset, h.last_offset()));
            next = h.last_offset() + 1;
            buf = &buf[h.batch_size()..];
        }
    }
    out
}

/// Writes 2-record batches: 8 flushed ones, then 12 unflushed ones (several rolls), and
/// "crashes". Returns the segments as they were and the recovery point on disk.
fn crash_with_unflushed_segments(dir: &Path) -> (Vec<(i64, u64)>, i64) {
    let log = open(dir);
    for _ in 0..8 {
        log.append(&b(2), 0, 0).unwrap();
    }
    assert_eq!(log.flush().unwrap(), 16);
    for _ in 0..12 {
        log.append(&b(2), 0, 0).unwrap();
    }
    let rp = log.recovery_point();
    assert!(
        rp > 0 && rp <= 16,
        "recovery point {rp} within the flushed prefix"
    );
    (segs(&log), rp)
    // Dropped without close: no clean-shutdown marker.
}

#[test]
fn torn_sealed_segment_above_recovery_point_is_truncated() {
    let d = tempfile::tempdir().unwrap();
    let (before, rp) = crash_with_unflushed_segments(d.path());
    assert!(before.len() >= 5, "{before:?}");
    assert_eq!(checkpoint::read_recovery_point(d.path()).unwrap(), Some(rp));
    // A sealed segment well above the recovery point: its last batch was zeroed by the power
    // cut (the size update reached the disk, the data did not).
    let victim = before
        .iter()
        .position(|&(base, _)| base > rp)
        .map(|i| i + 1)
        .unwrap();
    assert!(victim + 1 < before.len(), "victim must be sealed");
    let (vbase, vsize) = before[victim];
    let batch = b(2).len() as u64;
    let f = OpenOptions::new()
        .write(true)
        .open(segment_file(d.path(), vbase, "log"))
        .unwrap();
    f.write_all_at(&vec![0u8; batch as usize], vsize - batch)
        .unwrap();
    drop(f);

    let log = open(d.path());
    // Truncated at the first bad batch; every later segment deleted.
    let torn_at = before[victim + 1].0 - 2;
    assert_eq!(log.log_end_offset(), torn_at);
    let after = segs(&log);
    assert_eq!(after.len(), victim + 1);
    assert_eq!(after[victim], (vbase, vsize - batch));
    for &(base, _) in &before[victim + 1..] {
        assert!(!segment_file(d.path(), base, "log").exists());
        assert!(!segment_file(d.path(), base, "index").exists());
    }
    // The log end is consistent: every offset below it reads back, densely.
    let all = read_all(&log);
    assert_eq!(all.len() as i64, torn_at / 2);
    assert!(all
        .iter()
        .enumerate()
        .all(|(i, &(s, e))| s == 2 * i as i64 && e == s + 1));
    // Recovered segments were fsynced and the recovery point moved to the new end.
    assert_eq!(log.recovery_point(), torn_at);
    assert_eq!(
        checkpoint::read_recovery_point(d.path()).unwrap(),
        Some(torn_at)
    );
    // The truncated segment is the active one now: it pins its `.log`, the sealed ones do not.
    {
        let st = read_lock(&log.state);
        assert!(st.active().is_pinned());
        let n = st.segments.len() - 1;
        assert!(st.segments.values().take(n).all(|s| !s.is_pinned()));
    }
    // Appends continue densely in the (now active) truncated segment.
    match log.append(&b(1), 0, 0).unwrap() {
        AppendOutcome::Appended { base_offset, .. } => assert_eq!(base_offset, torn_at),
        other => panic!("{other:?}"),
    }
    // Every segment checks out, CRCs and index entries included.
    for s in read_lock(&log.state).segments.values() {
        let r = s.check(s.size()).unwrap();
        assert_eq!((r.damage, r.index_damage), (None, None));
    }
}

#[test]
fn segment_ending_short_of_the_next_one_truncates_the_log() {
    // The sealed segment lost its last batch entirely (size update lost): its valid batches
    // end before the next segment's base offset, which would leave a hole in the offsets.
    let d = tempfile::tempdir().unwrap();
    let (before, rp) = crash_with_unflushed_segments(d.path());
    let victim = before.iter().position(|&(base, _)| base > rp).unwrap();
    let (vbase, vsize) = before[victim];
    let batch = b(2).len() as u64;
    let f = OpenOptions::new()
        .write(true)
        .open(segment_file(d.path(), vbase, "log"))
        .unwrap();
    f.set_len(vsize - batch).unwrap();
    drop(f);
    let log = open(d.path());
    assert_eq!(log.log_end_offset(), before[victim + 1].0 - 2);
    assert_eq!(segs(&log).len(), victim + 1);
    assert_eq!(read_all(&log).len() as i64, log.log_end_offset() / 2);
}

#[test]
fn missing_recovery_point_validates_every_segment() {
    let d = tempfile::tempdir().unwrap();
    let (before, _) = crash_with_unflushed_segments(d.path());
    fs::remove_file(d.path().join(checkpoint::RECOVERY_POINT_FILE)).unwrap();
    // Damage in the very first segment is found too.
    let (base0, size0) = before[0];
    let f = OpenOptions::new()
        .write(true)
        .open(segment_file(d.path(), base0, "log"))
        .unwrap();
    f.write_all_at(&[0xAB; 4], size0 - 4).unwrap();
    drop(f);
    let log = open(d.path());
    assert_eq!(log.log_end_offset(), before[1].0 - 2);
    assert_eq!(segs(&log).len(), 1);
}

#[test]
fn clean_shutdown_still_scans_nothing() {
    let d = tempfile::tempdir().unwrap();
    let before = {
        let log = open(d.path());
        for _ in 0..20 {
            log.append(&b(2), 0, 0).unwrap();
        }
        log.close().unwrap();
        segs(&log)
    };
    // Damage in a sealed segment after a clean close is not looked for at open...
    let (vbase, vsize) = before[1];
    let batch = b(2).len() as u64;
    let f = OpenOptions::new()
        .write(true)
        .open(segment_file(d.path(), vbase, "log"))
        .unwrap();
    f.write_all_at(&vec![0u8; batch as usize], vsize - batch)
        .unwrap();
    drop(f);
    let log = open(d.path());
    assert_eq!(log.log_end_offset(), 40);
    assert_eq!(segs(&log), before);
    // ...but a read of it is an error, not an empty answer.
    let damaged = before[2].0 - 2;
    let e = log.read(damaged, 1 << 20, true).unwrap_err();
    assert_eq!(e.kafka_code(), 2, "{e}");
    assert!(!log
        .read(damaged - 2, 1 << 20, true)
        .unwrap()
        .records
        .is_empty());
}

#[test]
fn batch_cut_below_high_watermark_is_an_error_not_an_empty_read() {
    // A sealed segment below the recovery point (trusted, not rescanned) whose file lost its
    // tail: the last batch's header is intact but its bytes run past the end of the file.
    // Before the fix this read returned 0 bytes below the HW forever.
    let d = tempfile::tempdir().unwrap();
    let before = {
        let log = open(d.path());
        for _ in 0..20 {
            log.append(&b(2), 0, 0).unwrap();
        }
        log.flush().unwrap();
        segs(&log)
    };
    checkpoint::write_recovery_point(d.path(), 40).unwrap();
    let (vbase, vsize) = before[1];
    let f = OpenOptions::new()
        .write(true)
        .open(segment_file(d.path(), vbase, "log"))
        .unwrap();
    f.set_len(vsize - 10).unwrap();
    drop(f);
    let log = open(d.path());
    assert_eq!(log.log_end_offset(), 40);
    let damaged = before[2].0 - 2;
    for o in [damaged, damaged + 1] {
        for (max, min_one) in [(1 << 20, true), (1 << 20, false), (1, true)] {
            let e = log.read(o, max, min_one).unwrap_err();
            assert_eq!(e.kafka_code(), 2, "offset {o}: {e}");
        }
    }
    // Offsets before and after the damage still read.
    assert!(!log
        .read(damaged - 1, 1 << 20, true)
        .unwrap()
        .records
        .is_empty());
    assert!(!log
        .read(damaged + 2, 1 << 20, true)
        .unwrap()
        .records
        .is_empty());
}

#[test]
fn recovery_point_advances_once_per_roll() {
    let d = tempfile::tempdir().unwrap();
    let log = open(d.path());
    log.append(&b(2), 0, 0).unwrap();
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 2);
    let path = d.path().join(checkpoint::RECOVERY_POINT_FILE);
    let written = fs::metadata(&path).unwrap().modified().unwrap();
    // More flushes inside the same segment leave the file alone.
    log.append(&b(2), 0, 0).unwrap();
    log.flush().unwrap();
    assert_eq!(log.recovery_point(), 2);
    assert_eq!(fs::metadata(&path).unwrap().modified().unwrap(), written);
    // After a roll the next flush moves it into the new segment.
    while log.segment_count() == 1 {
        log.append(&b(2), 0, 0).unwrap();
    }
    let leo = log.flush().unwrap();
    assert_eq!(log.recovery_point(), leo);
    assert_eq!(
        checkpoint::read_recovery_point(d.path()).unwrap(),
        Some(leo)
    );
}
