//! Tests of the log cleaner: the batch filter on its own, then whole passes over real
//! partitions read back through the partition's read path — the property (latest value per key
//! at its original offset), grouping of small cleaned segments and its bounds, the map filling
//! up, damaged input, injected write errors, a group whose first segment retention removed
//! meanwhile, and a crash at each step of the grouped swap.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use proptest::prelude::*;

use super::filter::{filter_batch, for_each_record, records_of, Kept, Rules};
use super::offset_map::OffsetMap;
use super::*;
use crate::log::batch::{compute_crc, BatchHeader, Compression, HEADER_SIZE};
use crate::log::config::{CleanupPolicy, LogConfig};
use crate::log::files::{FaultyIo, LogFiles};
use crate::log::partition::PartitionLog;
use crate::log::testutil::{BatchBuilder, Rec};

/// One record read back: offset, key, value (`None`: tombstone).
pub(crate) type Row = (i64, Vec<u8>, Option<Vec<u8>>);

fn cfg() -> LogConfig {
    LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        segment_bytes: 400,
        index_interval_bytes: 100,
        delete_retention_ms: 1000,
        ..LogConfig::default()
    }
}

fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Every record from the log start to the high watermark, through `PartitionLog::read`;
/// checks each batch's CRC and that offsets increase.
pub(crate) fn read_all(log: &PartitionLog) -> Vec<Row> {
    let mut out: Vec<Row> = Vec::new();
    let mut offset = log.log_start_offset();
    let hw = log.high_watermark();
    while offset < hw {
        let r = log.read(offset, 1 << 20, true).unwrap();
        if r.records.is_empty() {
            break;
        }
        let bytes = r.records.to_bytes().unwrap();
        let mut buf = &bytes[..];
        while buf.len() >= HEADER_SIZE {
            let h = BatchHeader::parse(buf).unwrap();
            let batch = &buf[..h.batch_size()];
            assert_eq!(compute_crc(batch), h.crc, "batch at {}", h.base_offset);
            if !h.is_control() {
                let raw = records_of(batch, &h).unwrap();
                for_each_record(&raw, &h, |r| {
                    let o = h.base_offset + i64::from(r.meta.offset_delta);
                    assert!(out.last().is_none_or(|l| l.0 < o), "offsets increase");
                    out.push((
                        o,
                        r.key.unwrap_or_default().to_vec(),
                        r.value.map(<[u8]>::to_vec),
                    ));
                })
                .unwrap();
            }
            offset = h.last_offset() + 1;
            buf = &buf[h.batch_size()..];
        }
    }
    out
}

/// The latest record of every key among `rows`, in offset order; without tombstones if
/// `drop_tombstones`.
fn latest(rows: &[Row], drop_tombstones: bool) -> Vec<Row> {
    let mut by_key: BTreeMap<Vec<u8>, Row> = BTreeMap::new();
    for r in rows {
        by_key.insert(r.1.clone(), r.clone());
    }
    let mut v: Vec<Row> = by_key
        .into_values()
        .filter(|r| !(drop_tombstones && r.2.is_none()))
        .collect();
    v.sort_by_key(|r| r.0);
    v
}

fn pass(
    log: &PartitionLog,
    files: &LogFiles,
    now: i64,
    map_bytes: usize,
) -> Result<PassStats, CleanError> {
    let stop = AtomicBool::new(false);
    let opts = PassOptions {
        map_bytes,
        force: true,
        throttle: None,
        stop: &stop,
    };
    clean(log, files, &opts, now)
}

/// One appended batch of the tests: records, codec, idempotent or not.
#[derive(Clone, Debug)]
struct Spec {
    recs: Vec<(u8, bool)>,
    codec: Compression,
    idempotent: bool,
}

/// Appends `specs`, then a large sentinel batch that rolls the segment so that everything
/// before it is sealed (the active segment is never cleaned). Returns what was appended.
fn fill(log: &PartitionLog, specs: &[Spec]) -> Vec<Row> {
    let mut rows = Vec::new();
    let mut seq = 0;
    for s in specs {
        let recs: Vec<Rec> = s
            .recs
            .iter()
            .enumerate()
            .map(|(i, (k, tomb))| {
                let key = format!("key-{k}");
                let value = format!("v{}-{i}-{k}", rows.len());
                Rec::kv(Some(key.as_bytes()), (!tomb).then_some(value.as_bytes()))
            })
            .collect();
        let mut b = BatchBuilder::new().recs(recs.clone()).compress(s.codec);
        if s.idempotent {
            b = b.producer(42, 0, seq);
            seq += recs.len() as i32;
        }
        let base = match log.append(&b.build(), 0, 0).unwrap() {
            crate::log::AppendOutcome::Appended { base_offset, .. } => base_offset,
            other => panic!("{other:?}"),
        };
        for (i, r) in recs.into_iter().enumerate() {
            rows.push((base + i as i64, r.key.unwrap_or_default(), r.value));
        }
    }
    let sentinel = BatchBuilder::new()
        .recs(vec![Rec::kv(Some(b"sentinel"), Some(&[b's'; 500]))])
        .build();
    let o = log.log_end_offset();
    log.append(&sentinel, 0, 0).unwrap();
    rows.push((o, b"sentinel".to_vec(), Some(vec![b's'; 500])));
    rows
}

fn simple_specs() -> Vec<Spec> {
    let mut v = Vec::new();
    for round in 0..6u8 {
        for k in 0..4u8 {
            v.push(Spec {
                recs: vec![(k, round == 5 && k == 1), ((k + 1) % 4, false)],
                codec: [Compression::None, Compression::Gzip, Compression::Lz4][usize::from(k % 3)],
                idempotent: k == 3,
            });
        }
    }
    v
}

#[test]
fn filter_rebuilds_a_compressed_batch_and_keeps_an_empty_producer_batch() {
    let b = BatchBuilder::new()
        .recs(vec![
            Rec::kv(Some(b"a"), Some(b"1")),
            Rec::kv(Some(b"b"), Some(b"2")),
            Rec::kv(Some(b"a"), Some(b"3")),
        ])
        .compress(Compression::Gzip)
        .producer(7, 2, 10)
        .timestamp(5000)
        .build();
    let h = BatchHeader::parse(&b).unwrap();
    let mut map = OffsetMap::new(1 << 20);
    map.put(b"a", 2);
    map.put(b"b", 9);
    let none = std::collections::HashMap::new();
    let no_aborts = std::collections::HashMap::new();
    let rules = Rules {
        map: &map,
        keep_tombstones: true,
        producer_last: &none,
        aborted: &no_aborts,
    };
    let (kept, counts) = filter_batch(&b, &h, &rules).unwrap();
    assert_eq!((counts.read, counts.removed), (3, 2));
    let Kept::Rebuilt(out) = kept else {
        panic!("{kept:?}")
    };
    let oh = BatchHeader::parse(&out).unwrap();
    assert_eq!(compute_crc(&out), oh.crc);
    assert_eq!(oh.compression(), Compression::Gzip);
    assert_eq!(oh.records_count, 1);
    // Everything but the count, length and CRC is the original header.
    assert_eq!(
        BatchHeader {
            records_count: 3,
            length: h.length,
            crc: h.crc,
            ..oh
        },
        h
    );
    let raw = records_of(&out, &oh).unwrap();
    let mut seen = Vec::new();
    for_each_record(&raw, &oh, |r| {
        seen.push((r.meta.offset_delta, r.value.map(<[u8]>::to_vec)))
    })
    .unwrap();
    assert_eq!(seen, vec![(2, Some(b"3".to_vec()))]);

    // All records superseded: dropped, unless it is the producer's last batch.
    let mut later = OffsetMap::new(1 << 20);
    later.put(b"a", 20);
    later.put(b"b", 20);
    let rules = Rules {
        map: &later,
        ..rules
    };
    let (kept, _) = filter_batch(&b, &h, &rules).unwrap();
    assert_eq!(kept, Kept::Dropped);
    let last = std::collections::HashMap::from([(7, h.last_offset())]);
    let rules = Rules {
        producer_last: &last,
        ..rules
    };
    let Kept::Rebuilt(empty) = filter_batch(&b, &h, &rules).unwrap().0 else {
        panic!("expected an empty batch")
    };
    let eh = BatchHeader::parse(&empty).unwrap();
    assert_eq!(empty.len(), HEADER_SIZE);
    assert_eq!(compute_crc(&empty), eh.crc);
    assert_eq!(
        (
            eh.records_count,
            eh.last_offset_delta,
            eh.producer_id,
            eh.producer_epoch,
            eh.base_sequence
        ),
        (0, 2, 7, 2, 10)
    );
    assert_eq!(
        (eh.compression(), eh.base_timestamp, eh.max_timestamp),
        (Compression::None, -1, h.max_timestamp)
    );
    assert_eq!(eh.last_sequence(), 12);
}

#[test]
fn a_pass_keeps_the_latest_record_per_key_at_its_offset() {
    let d = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(d.path(), cfg(), 0).unwrap();
    let rows = fill(&log, &simple_specs());
    assert!(log.segment_count() > 4, "{}", log.segment_count());
    let (start, hw) = (log.log_start_offset(), log.high_watermark());
    assert_eq!(read_all(&log), rows);
    let files = LogFiles::default();
    let now = wall_ms();
    let s = pass(&log, &files, now, 1 << 20).unwrap();
    assert!(
        s.cleaned && s.records_removed > 0 && s.segments_rewritten > 0,
        "{s:?}"
    );
    assert_eq!(
        s.checkpoint,
        rows.last().unwrap().0,
        "dirty up to the active segment"
    );
    // Tombstones survive the first cleaning; offsets, log start and high watermark do not move.
    assert_eq!(read_all(&log), latest(&rows, false));
    assert!(latest(&rows, false).iter().any(|r| r.2.is_none()));
    assert_eq!((log.log_start_offset(), log.high_watermark()), (start, hw));
    // delete.retention.ms later they go.
    pass(&log, &files, now + 10_000, 1 << 20).unwrap();
    assert_eq!(read_all(&log), latest(&rows, true));
    assert_eq!((log.log_start_offset(), log.high_watermark()), (start, hw));
    // Appends go on at the log end; the cleaned state survives a restart.
    log.append(&BatchBuilder::new().build(), 0, 0).unwrap();
    log.close().unwrap();
    let log = PartitionLog::open(d.path(), cfg(), 0).unwrap();
    let mut want = latest(&rows, true);
    want.push((hw, b"key".to_vec(), Some(b"value".to_vec())));
    assert_eq!(read_all(&log), want);
    assert_eq!(log.cleaner_offset(), s.checkpoint);
    // An unclean restart that validates every segment (no recovery point) accepts cleaned
    // segments ending short of the next one: nothing is cut.
    drop(log);
    std::fs::remove_file(d.path().join(crate::log::checkpoint::RECOVERY_POINT_FILE)).unwrap();
    let _ = std::fs::remove_file(d.path().join(crate::log::checkpoint::CLEAN_FILE));
    let log = PartitionLog::open(d.path(), cfg(), 0).unwrap();
    assert_eq!(read_all(&log), want);
}

#[test]
fn a_full_map_cleans_up_to_where_it_filled_and_goes_on_next_pass() {
    let d = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(d.path(), cfg(), 0).unwrap();
    let rows = fill(&log, &simple_specs());
    let files = LogFiles::default();
    let now = wall_ms();
    // Room for 3 of the 5 keys.
    let budget = 3 * OffsetMap::cost(b"key-0");
    let first = pass(&log, &files, now, budget).unwrap();
    let end = rows.last().unwrap().0;
    assert!(first.checkpoint < end, "{first:?}");
    let mut last = first.checkpoint;
    for _ in 0..50 {
        let s = pass(&log, &files, now, budget).unwrap();
        // Nothing is ever lost on the way.
        let got = read_all(&log);
        for r in latest(&rows, false) {
            assert!(got.contains(&r), "{r:?} lost");
        }
        if s.checkpoint == last {
            break;
        }
        last = s.checkpoint;
    }
    assert_eq!(last, end);
    pass(&log, &files, now + 10_000, budget).unwrap();
    assert_eq!(read_all(&log), latest(&rows, true));
    // A batch with more keys than the whole map is refused, not half-mapped.
    let d2 = tempfile::tempdir().unwrap();
    let log2 = PartitionLog::open(d2.path(), cfg(), 0).unwrap();
    fill(&log2, &simple_specs());
    let e = pass(&log2, &files, now, 10).unwrap_err();
    assert!(matches!(e, CleanError::MapTooSmall { .. }), "{e}");
}

/// Every file in `dir` with its content (subdirectories by name only).
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.file_name().to_string_lossy().into_owned();
            let body = if e.path().is_dir() {
                Vec::new()
            } else {
                std::fs::read(e.path()).unwrap()
            };
            (name, body)
        })
        .collect()
}

#[test]
fn a_damaged_batch_stops_the_pass_and_changes_nothing() {
    let d = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(d.path(), cfg(), 0).unwrap();
    fill(&log, &simple_specs());
    let seg = log.sealed_segments()[1].log_path();
    let mut bytes = std::fs::read(&seg).unwrap();
    let at = bytes.len() - 3;
    bytes[at] ^= 0x55;
    std::fs::write(&seg, &bytes).unwrap();
    let before = snapshot(d.path());
    let e = pass(&log, &LogFiles::default(), wall_ms(), 1 << 20).unwrap_err();
    assert!(matches!(e, CleanError::Corrupt { .. }), "{e}");
    assert_eq!(snapshot(d.path()), before);
}

#[test]
fn an_injected_write_error_leaves_the_old_log_then_a_retry_cleans_it() {
    let d = tempfile::tempdir().unwrap();
    let io = Arc::new(FaultyIo::default());
    let files = LogFiles::with_io(io.clone(), 100);
    let log = PartitionLog::open_with(d.path(), cfg(), 0, &files).unwrap();
    let rows = fill(&log, &simple_specs());
    let filled = log.segment_count();
    // Each attempt fails at a later write: the first segments may be installed, the one
    // being written is not.
    for skip in [0, 1, 5, 20] {
        io.fail_writes_after(skip, libc::EIO, 7);
        let e = pass(&log, &files, wall_ms(), 1 << 20);
        io.heal();
        if let Err(e) = e {
            assert!(matches!(e, CleanError::Io { .. }), "{e}");
        }
        let got = read_all(&log);
        for r in latest(&rows, false) {
            assert!(
                got.contains(&r),
                "{r:?} lost after a failure at write {skip}"
            );
        }
        for r in &got {
            assert!(rows.contains(r), "{r:?} was never written");
        }
    }
    pass(&log, &files, wall_ms(), 1 << 20).unwrap();
    assert_eq!(read_all(&log), latest(&rows, false));
    assert!(log.segment_count() < filled, "grouped after the failures");
    log.close().unwrap();
    let log = PartitionLog::open_with(d.path(), cfg(), 0, &files).unwrap();
    assert_eq!(read_all(&log), latest(&rows, false));
    assert!(snapshot(d.path())
        .keys()
        .all(|n| !n.ends_with(".cleaned") && !n.ends_with(".swap")));
}

/// An fsync of a cleaned group that fails: the pass fails, the staged copy is discarded, the
/// partition keeps every old segment and stays usable (the copy is not the partition's data,
/// so this is not fail-stop); a retry installs it.
#[test]
fn an_injected_fsync_error_on_a_cleaned_group_leaves_the_old_segments() {
    let d = tempfile::tempdir().unwrap();
    let io = Arc::new(FaultyIo::default());
    let files = LogFiles::with_io(io.clone(), 100);
    let log = PartitionLog::open_with(d.path(), cfg(), 0, &files).unwrap();
    let rows = fill(&log, &simple_specs());
    let filled = log.segment_count();
    io.fail_syncs(libc::EIO);
    let e = pass(&log, &files, wall_ms(), 1 << 20).unwrap_err();
    io.heal();
    assert!(matches!(e, CleanError::Io { .. }), "{e}");
    assert!(!log.is_failed());
    assert_eq!(read_all(&log), rows);
    assert_eq!(log.segment_count(), filled);
    assert!(snapshot(d.path()).keys().all(|n| !n.ends_with(".cleaned")));
    pass(&log, &files, wall_ms(), 1 << 20).unwrap();
    assert_eq!(read_all(&log), latest(&rows, false));
    assert!(log.segment_count() < filled);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.path().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

/// Base offsets of the segments in `dir`, from the `.log` file names.
fn bases_on_disk(dir: &Path) -> Vec<i64> {
    let mut v: Vec<i64> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    v
}

/// A SIGKILL at each step of `swap.rs` for a group of several old segments leaves the
/// directory as below; reopening it (twice) must show the group entirely old (before the
/// commit) or entirely new (after) — never a mix, nothing lost or duplicated — and the rest of
/// the log untouched.
#[test]
fn a_crash_at_any_step_of_a_grouped_swap_leaves_all_old_segments_or_the_new_one() {
    let root = tempfile::tempdir().unwrap();
    let (a, x) = (root.path().join("a"), root.path().join("x"));
    let log = PartitionLog::open(&a, cfg(), 0).unwrap();
    fill(&log, &simple_specs());
    log.close().unwrap();
    drop(log);
    copy_dir(&a, &x);
    let old = {
        let copy = root.path().join("a-read");
        copy_dir(&a, &copy);
        read_all(&PartitionLog::open(&copy, cfg(), 0).unwrap())
    };
    let new = {
        let lx = PartitionLog::open(&x, cfg(), 0).unwrap();
        pass(&lx, &LogFiles::default(), wall_ms(), 1 << 20).unwrap();
        let rows = read_all(&lx);
        lx.close().unwrap();
        rows
    };
    // The first group: old segments [b0, end) became the one new segment b0.
    let (a_bases, x_bases) = (bases_on_disk(&a), bases_on_disk(&x));
    let (b0, end) = (a_bases[0], x_bases[1]);
    assert_eq!(x_bases[0], b0);
    let others: Vec<i64> = a_bases
        .iter()
        .copied()
        .filter(|b| *b > b0 && *b < end)
        .collect();
    assert!(
        others.len() >= 2,
        "the first group merges segments: {others:?}"
    );
    let mixed = |new_group: bool| -> Vec<Row> {
        let src = if new_group { &new } else { &old };
        let mut v: Vec<Row> = src.iter().filter(|r| r.0 < end).cloned().collect();
        v.extend(old.iter().filter(|r| r.0 >= end).cloned());
        v
    };
    assert_ne!(mixed(true), old, "the group must change");
    let name = |base: i64, ext: &str| crate::log::segment::segment_file(Path::new(""), base, ext);
    let exts = ["log", "index", "timeindex"];
    for step in 0..7 {
        let y = root.path().join(format!("y{step}"));
        copy_dir(&a, &y);
        let staged = y.join(format!(
            "{b0:020}.{}",
            if step < 2 { "cleaned" } else { "swap" }
        ));
        std::fs::create_dir(&staged).unwrap();
        for ext in exts {
            let src = x.join(name(b0, ext));
            let moved = match step {
                3 => ext != "log",
                4..=6 => true,
                _ => false,
            };
            if moved {
                std::fs::copy(&src, y.join(name(b0, ext))).unwrap();
            } else if step == 0 && ext == "log" {
                // 0: killed while writing the cleaned copy (no manifest yet).
                let b = std::fs::read(&src).unwrap();
                std::fs::write(staged.join(name(b0, ext)), &b[..b.len() / 2]).unwrap();
            } else {
                std::fs::copy(&src, staged.join(name(b0, ext))).unwrap();
            }
        }
        if step >= 1 {
            swap::write_manifest(&staged, &others).unwrap();
        }
        // 5: killed while deleting the other old segments (log last); 6: after.
        for (k, o) in others.iter().enumerate() {
            for ext in exts {
                if step == 6 || (step == 5 && k == 0 && ext != "log") {
                    std::fs::remove_file(y.join(name(*o, ext))).unwrap();
                }
            }
        }
        let committed = step >= 2;
        for reopen in 0..2 {
            let ly = PartitionLog::open(&y, cfg(), 0).unwrap();
            let got = read_all(&ly);
            assert_eq!(
                got,
                mixed(committed),
                "crash at step {step}, reopen {reopen}"
            );
            let bases: Vec<i64> = ly.sealed_segments().iter().map(|s| s.base_offset).collect();
            for o in &others {
                assert_eq!(bases.contains(o), !committed, "step {step}: segment {o}");
            }
            ly.close().unwrap();
        }
        assert!(
            snapshot(&y)
                .keys()
                .all(|n| !n.ends_with(".cleaned") && !n.ends_with(".swap")),
            "step {step}"
        );
    }
}

/// Cleaned segments are grouped: many small segments become few, each within
/// `segment.bytes` and `segment.index.bytes`, every latest record at its offset.
#[test]
fn a_pass_groups_small_cleaned_segments_within_their_bounds() {
    for (segment_bytes, index_bytes) in [(400, 10 << 20), (2000, 10 << 20), (2000, 16)] {
        let c = LogConfig {
            segment_bytes,
            segment_index_bytes: index_bytes,
            ..cfg()
        };
        let d = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(d.path(), c, 0).unwrap();
        let specs: Vec<Spec> = (0..8).flat_map(|_| simple_specs()).collect();
        let rows = fill(&log, &specs);
        // The sentinel may not have rolled a large segment: seal everything.
        let now = wall_ms();
        assert!(log.roll_if_idle(now).unwrap());
        let before = log.sealed_segments().len();
        let s = pass(&log, &LogFiles::default(), now, 1 << 20).unwrap();
        let after = log.sealed_segments();
        assert!(
            after.len() < before && (index_bytes < 100 || after.len() * 2 < before),
            "{segment_bytes}/{index_bytes}: {before} → {} segments, {s:?}",
            after.len()
        );
        assert!(s.segments_written < s.segments_rewritten, "{s:?}");
        assert_eq!(read_all(&log), latest(&rows, false));
        for seg in &after {
            // The sentinel batch alone is larger than 400 bytes.
            let sentinel = seg.base_offset == rows.last().unwrap().0;
            assert!(
                seg.size() <= segment_bytes || sentinel,
                "{} bytes",
                seg.size()
            );
            assert!(seg.index_entries() <= c.max_index_entries());
            let report = seg.check(seg.size()).unwrap();
            assert!(
                report.damage.is_none() && report.index_damage.is_none(),
                "{report:?}"
            );
        }
        // A second pass has nothing left to merge or remove beyond the tombstones' fate.
        let again = pass(&log, &LogFiles::default(), now, 1 << 20).unwrap();
        assert_eq!(again.records_removed, 0, "{again:?}");
        log.close().unwrap();
        let log = PartitionLog::open(d.path(), c, 0).unwrap();
        assert_eq!(read_all(&log), latest(&rows, false));
    }
}

/// Retention removing the first old segment of a group between the rewrite and the install:
/// the cleaned copy is discarded, the other members stay, nothing is lost.
#[test]
fn a_group_whose_first_segment_is_gone_is_discarded() {
    let d = tempfile::tempdir().unwrap();
    let log = PartitionLog::open(d.path(), cfg(), 0).unwrap();
    fill(&log, &simple_specs());
    let sealed = log.sealed_segments();
    let group = &sealed[..3];
    let others: Vec<i64> = group[1..].iter().map(|s| s.base_offset).collect();
    let cdir = swap::prepare(d.path(), group[0].base_offset).unwrap();
    swap::write_manifest(&cdir, &others).unwrap();
    log.delete_records_before(others[0]).unwrap();
    let rows = read_all(&log);
    assert!(!log.install_cleaned(group).unwrap());
    assert!(!cdir.exists());
    assert_eq!(read_all(&log), rows);
    let bases: Vec<i64> = log
        .sealed_segments()
        .iter()
        .map(|s| s.base_offset)
        .collect();
    assert_eq!(&bases[..2], &others[..]);
}

fn spec() -> impl Strategy<Value = Spec> {
    (
        proptest::collection::vec((0u8..6, proptest::bool::weighted(0.2)), 1..5),
        prop_oneof![
            Just(Compression::None),
            Just(Compression::Gzip),
            Just(Compression::Snappy),
            Just(Compression::Lz4),
            Just(Compression::Zstd)
        ],
        any::<bool>(),
    )
        .prop_map(|(recs, codec, idempotent)| Spec {
            recs,
            codec,
            idempotent,
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// After a pass and another one `delete.retention.ms` later, the log holds exactly the
    /// latest non-tombstone record of every key at its original offset, every batch passes
    /// the scrubber's check, and a reopen reads the same.
    #[test]
    fn cleaning_keeps_exactly_the_latest_value_per_key(specs in proptest::collection::vec(spec(), 1..40)) {
        let d = tempfile::tempdir().unwrap();
        let log = PartitionLog::open(d.path(), cfg(), 0).unwrap();
        let rows = fill(&log, &specs);
        let files = LogFiles::default();
        let now = wall_ms();
        let before = log.segment_count();
        pass(&log, &files, now, 1 << 20).unwrap();
        prop_assert_eq!(read_all(&log), latest(&rows, false));
        prop_assert!(log.segment_count() <= before);
        pass(&log, &files, now + 10_000, 1 << 20).unwrap();
        let want = latest(&rows, true);
        prop_assert_eq!(read_all(&log), want.clone());
        for seg in log.sealed_segments() {
            let report = seg.check(seg.size()).unwrap();
            prop_assert!(report.damage.is_none() && report.index_damage.is_none(), "{:?}", report);
        }
        log.close().unwrap();
        let log = PartitionLog::open(d.path(), cfg(), 0).unwrap();
        prop_assert_eq!(read_all(&log), want);
    }
}
