//! Fault-injection tests of the partition log through the `FileIo` seam (`files::FaultyIo`):
//! a full disk refuses writes but not reads and heals without a restart; an fsync error stays
//! fail-stop. Also the descriptor budget: sealed segments hold no descriptor.

use super::*;
use crate::log::batch::{compute_crc, BatchHeader};
use crate::log::files::FaultyIo;
use crate::log::segment::{segment_file, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::log::testutil::BatchBuilder;

fn b(n: usize, ts: i64) -> Vec<u8> {
    BatchBuilder::new().records(n).timestamp(ts).build()
}

fn faulty(cap: usize) -> (Arc<FaultyIo>, LogFiles) {
    let io = Arc::new(FaultyIo::default());
    let files = LogFiles::with_io(io.clone(), cap);
    (io, files)
}

/// (base, last) of every batch from `offset` to the high watermark, checking each CRC.
fn read_all(log: &PartitionLog, mut offset: i64) -> Vec<(i64, i64)> {
    let mut v = Vec::new();
    loop {
        let r = log.read(offset, 1 << 20, true).unwrap();
        if r.records.is_empty() {
            return v;
        }
        let bytes = r.records.to_bytes().unwrap();
        let mut buf = &bytes[..];
        while !buf.is_empty() {
            let h = BatchHeader::parse(buf).unwrap();
            assert_eq!(compute_crc(&buf[..h.batch_size()]), h.crc);
            v.push((h.base_offset, h.last_offset()));
            offset = h.last_offset() + 1;
            buf = &buf[h.batch_size()..];
        }
    }
}

fn file_len(dir: &Path, base: i64, ext: &str) -> u64 {
    std::fs::metadata(segment_file(dir, base, ext))
        .unwrap()
        .len()
}

const ENOSPC: i32 = libc::ENOSPC;

#[test]
fn full_disk_refuses_writes_keeps_reads_and_heals_without_restart() {
    let d = tempfile::tempdir().unwrap();
    let (io, files) = faulty(16);
    let log = PartitionLog::open_with(d.path(), LogConfig::default(), 0, &files).unwrap();
    for _ in 0..3 {
        log.append(&b(2, 10), 0, 0).unwrap();
    }
    let good_len = file_len(d.path(), 0, LOG_SUFFIX);

    // The disk fills up mid-batch: 10 bytes of it reach the file, then ENOSPC.
    io.fail_writes(ENOSPC, 10);
    for _ in 0..2 {
        let e = log.append(&b(2, 10), 0, 0).unwrap_err();
        assert_eq!(e.kafka_code(), 56, "KAFKA_STORAGE_ERROR: {e}");
    }
    assert!(io.failed_writes() >= 2, "each append retried the write");
    assert!(!log.is_failed(), "a full disk is not fail-stop");
    assert!(log.is_write_suspended());
    assert_eq!(
        file_len(d.path(), 0, LOG_SUFFIX),
        good_len,
        "torn bytes cut off"
    );
    // Reads up to the high watermark still work.
    assert_eq!(log.high_watermark(), 6);
    assert_eq!(read_all(&log, 0), vec![(0, 1), (2, 3), (4, 5)]);
    assert_eq!(
        log.offset_for_timestamp(10).unwrap().map(|(o, _)| o),
        Some(0)
    );

    // Space returns: the next append goes through at the next dense offset.
    io.heal();
    let o = log.append(&b(2, 10), 0, 0).unwrap();
    assert!(matches!(o, AppendOutcome::Appended { base_offset: 6, .. }));
    assert!(!log.is_write_suspended());
    assert_eq!(read_all(&log, 0), vec![(0, 1), (2, 3), (4, 5), (6, 7)]);
    log.flush().unwrap();
    log.close().unwrap();

    // And it all survives a restart.
    let log = PartitionLog::open(d.path(), LogConfig::default(), 0).unwrap();
    assert_eq!(log.log_end_offset(), 8);
    assert_eq!(read_all(&log, 0), vec![(0, 1), (2, 3), (4, 5), (6, 7)]);
}

#[test]
fn full_disk_during_index_write_rewinds_batch_and_index() {
    let d = tempfile::tempdir().unwrap();
    let (io, files) = faulty(16);
    let cfg = LogConfig {
        index_interval_bytes: 1,
        ..LogConfig::default()
    };
    let log = PartitionLog::open_with(d.path(), cfg, 0, &files).unwrap();
    log.append(&b(1, 10), 0, 0).unwrap();
    log.append(&b(1, 11), 0, 0).unwrap();
    let (log_len, idx_len, tidx_len) = (
        file_len(d.path(), 0, LOG_SUFFIX),
        file_len(d.path(), 0, INDEX_SUFFIX),
        file_len(d.path(), 0, TIME_INDEX_SUFFIX),
    );
    assert!(idx_len > 0, "every batch after the first is indexed");
    // The batch itself is written, its offset index entry tears after 3 bytes.
    io.fail_writes_after(1, ENOSPC, 3);
    assert_eq!(log.append(&b(1, 12), 0, 0).unwrap_err().kafka_code(), 56);
    assert_eq!(file_len(d.path(), 0, LOG_SUFFIX), log_len);
    assert_eq!(file_len(d.path(), 0, INDEX_SUFFIX), idx_len);
    // Now the offset index entry lands and the time index entry tears.
    io.fail_writes_after(2, ENOSPC, 5);
    assert_eq!(log.append(&b(1, 12), 0, 0).unwrap_err().kafka_code(), 56);
    assert_eq!(file_len(d.path(), 0, LOG_SUFFIX), log_len);
    assert_eq!(file_len(d.path(), 0, INDEX_SUFFIX), idx_len);
    assert_eq!(file_len(d.path(), 0, TIME_INDEX_SUFFIX), tidx_len);
    let segs = Arc::clone(read_lock(&log.state).active());
    assert_eq!(segs.index_file_lens(), (idx_len, tidx_len));

    io.heal();
    for ts in 12..15 {
        log.append(&b(1, ts), 0, 0).unwrap();
    }
    assert_eq!(read_all(&log, 3), vec![(3, 3), (4, 4)]);
    log.close().unwrap();
    // The indexes on disk pass the sanity check (clean reopen) and find every batch.
    let log = PartitionLog::open(d.path(), cfg, 0).unwrap();
    assert_eq!(log.log_end_offset(), 5);
    for o in 0..5 {
        assert_eq!(read_all(&log, o).first(), Some(&(o, o)));
    }
    assert_eq!(log.offset_for_timestamp(13).unwrap(), Some((3, 13)));
}

#[test]
fn full_disk_at_roll_keeps_the_old_segment_active() {
    let d = tempfile::tempdir().unwrap();
    let (io, files) = faulty(16);
    // Every batch 1 s after the previous one rolls the segment.
    let cfg = LogConfig {
        segment_ms: 100,
        ..LogConfig::default()
    };
    let log = PartitionLog::open_with(d.path(), cfg, 0, &files).unwrap();
    log.append(&b(1, 0), 0, 0).unwrap();
    let tidx_len = file_len(d.path(), 0, TIME_INDEX_SUFFIX);
    // Sealing writes the final time index entry: it fails, the old segment stays active.
    io.fail_writes(ENOSPC, 1);
    assert_eq!(log.append(&b(1, 1000), 0, 0).unwrap_err().kafka_code(), 56);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(file_len(d.path(), 0, TIME_INDEX_SUFFIX), tidx_len);
    // The roll succeeds but the batch write into the new segment fails.
    io.fail_writes_after(1, ENOSPC, 1);
    assert_eq!(log.append(&b(1, 2000), 0, 0).unwrap_err().kafka_code(), 56);
    assert_eq!(log.segment_count(), 2);
    assert_eq!(file_len(d.path(), 1, LOG_SUFFIX), 0);
    assert!(!log.is_failed());
    assert_eq!(read_all(&log, 0), vec![(0, 0)]);
    io.heal();
    log.append(&b(1, 2500), 0, 0).unwrap();
    log.append(&b(1, 4000), 0, 0).unwrap();
    assert_eq!(log.segment_count(), 3);
    assert_eq!(read_all(&log, 0), vec![(0, 0), (1, 1), (2, 2)]);
    log.close().unwrap();
    let log = PartitionLog::open(d.path(), cfg, 0).unwrap();
    assert_eq!(read_all(&log, 0), vec![(0, 0), (1, 1), (2, 2)]);
}

#[test]
fn fsync_failure_stays_fail_stop_even_for_enospc() {
    let d = tempfile::tempdir().unwrap();
    let (io, files) = faulty(16);
    let log = PartitionLog::open_with(d.path(), LogConfig::default(), 0, &files).unwrap();
    log.append(&b(1, 10), 0, 0).unwrap();
    // ENOSPC from fsync means written data may be gone: never retried.
    io.fail_syncs(ENOSPC);
    assert_eq!(log.flush().unwrap_err().kafka_code(), 56);
    assert!(log.is_failed());
    io.heal();
    assert_eq!(log.flush().unwrap_err().kafka_code(), 56);
    assert_eq!(log.append(&b(1, 10), 0, 0).unwrap_err().kafka_code(), 56);
    assert_eq!(log.read(0, 100, true).unwrap_err().kafka_code(), 56);
}

#[test]
fn eio_on_write_stays_fail_stop() {
    let d = tempfile::tempdir().unwrap();
    let (io, files) = faulty(16);
    let log = PartitionLog::open_with(d.path(), LogConfig::default(), 0, &files).unwrap();
    log.append(&b(1, 10), 0, 0).unwrap();
    io.fail_writes(libc::EIO, 0);
    assert_eq!(log.append(&b(1, 10), 0, 0).unwrap_err().kafka_code(), 56);
    assert!(log.is_failed());
    io.heal();
    assert_eq!(log.append(&b(1, 10), 0, 0).unwrap_err().kafka_code(), 56);
}

#[test]
fn sealed_segments_hold_no_descriptor_and_reopen_on_read() {
    let d = tempfile::tempdir().unwrap();
    let files = LogFiles::new(2);
    let cfg = LogConfig {
        segment_bytes: 300,
        index_interval_bytes: 100,
        ..LogConfig::default()
    };
    let log = PartitionLog::open_with(d.path(), cfg, 0, &files).unwrap();
    for i in 0..60 {
        log.append(&b(1, i), 0, 0).unwrap();
    }
    let count = log.segment_count();
    assert!(count >= 10, "{count} segments");
    let pinned = || {
        read_lock(&log.state)
            .segments
            .values()
            .filter(|s| s.is_pinned())
            .count()
    };
    assert_eq!(pinned(), 1, "only the active segment keeps its .log open");
    assert!(files.cache().open_files() <= 2);
    // Every sealed segment is readable through the 2-descriptor cache.
    let all = read_all(&log, 0);
    assert_eq!(all.len(), 60);
    assert!(files.cache().open_files() <= 2);
    assert!(files.cache().opens() >= count as u64 - 1);
    // fsync of sealed segments goes through the cache as well.
    log.flush().unwrap();
    assert!(files.cache().open_files() <= 2);
    // Reopen: sealed segments are opened without a descriptor.
    log.close().unwrap();
    drop(log);
    assert_eq!(
        files.cache().open_files(),
        0,
        "dropped segments forget theirs"
    );
    let log = PartitionLog::open_with(d.path(), cfg, 0, &files).unwrap();
    let pinned = read_lock(&log.state)
        .segments
        .values()
        .filter(|s| s.is_pinned())
        .count();
    assert_eq!(pinned, 1);
    assert_eq!(read_all(&log, 0).len(), 60);
    assert_eq!(log.offset_for_timestamp(30).unwrap(), Some((30, 30)));
}

#[test]
fn deleted_segments_release_cached_descriptors() {
    let d = tempfile::tempdir().unwrap();
    let files = LogFiles::new(100);
    let cfg = LogConfig {
        segment_bytes: 300,
        ..LogConfig::default()
    };
    let log = PartitionLog::open_with(d.path(), cfg, 0, &files).unwrap();
    for i in 0..40 {
        log.append(&b(1, i), 0, 0).unwrap();
    }
    read_all(&log, 0);
    let cached = files.cache().open_files();
    assert!(cached > 3);
    log.delete_records_before(-1).unwrap();
    assert!(files.cache().open_files() < cached);
    // Only the active segment's two index files may remain cached.
    assert!(files.cache().open_files() <= 2);
}
