//! Log cleaner throughput (a program that prints figures, not a test: STYLE.md rule 13).
//!
//!     cargo run --release --example cleaner_bench             # 256 MiB
//!     cargo run --release --example cleaner_bench -- 1024     # 1 GiB (issue 12's figure)
//!
//! Fills one compacted partition in a fresh temporary directory with N MiB of 100-byte keyed
//! records (16-byte keys, uncompressed batches of 100 records, 64 MiB segments) whose keys are
//! drawn from N MiB / 100 / 10 distinct keys (10% unique), then runs one forced cleaning pass
//! (map over the whole dirty range, rewrite, swap) on one thread, no I/O throttle, and prints
//! MB/s of log read, the bytes left and the segment count before and after (cleaned segments
//! are grouped up to `segment.bytes`). The page cache is warm (the data was just written), so
//! this is the cleaner's CPU cost plus the writes and fsyncs of the cleaned segments.

use std::sync::atomic::AtomicBool;
use std::time::Instant;

use runnel::log::batch::KeyValue;
use runnel::log::cleaner::{clean, PassOptions};
use runnel::log::{encode_batch, CleanupPolicy, LogConfig, LogFiles, PartitionLog};

fn main() {
    let mib: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(256);
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        segment_bytes: 64 << 20,
        ..LogConfig::default()
    };
    let log = PartitionLog::open(dir.path(), cfg, 0).expect("open");
    let records = mib * (1 << 20) / 100;
    let unique = (records / 10).max(1);
    let value = [b'v'; 70];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let started = Instant::now();
    let mut written = 0u64;
    while written < records {
        let keys: Vec<[u8; 16]> = (0..100)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let mut k = [b'0'; 16];
                k.copy_from_slice(format!("key-{:012}", x % unique).as_bytes());
                k
            })
            .collect();
        let recs: Vec<KeyValue<'_>> = keys
            .iter()
            .map(|k| (Some(&k[..]), Some(&value[..])))
            .collect();
        log.append(&encode_batch(&recs, 1_000), 0, 0)
            .expect("append");
        written += 100;
    }
    let size = log.size_bytes();
    println!(
        "filled {:.0} MiB ({records} records, {unique} keys, {} segments) in {:.1} s",
        size as f64 / (1 << 20) as f64,
        log.segment_count(),
        started.elapsed().as_secs_f64()
    );
    let stop = AtomicBool::new(false);
    let opts = PassOptions {
        map_bytes: 128 << 20,
        force: true,
        throttle: None,
        stop: &stop,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let segments_before = log.segment_count();
    let t = Instant::now();
    let s = clean(&log, &LogFiles::default(), &opts, now).expect("clean");
    let secs = t.elapsed().as_secs_f64();
    println!(
        "cleaned in {secs:.2} s: read {:.0} MB ({:.0} MB/s), wrote {:.1} MB, removed {} of {} records, log now {:.1} MiB",
        s.bytes_read as f64 / 1e6,
        s.bytes_read as f64 / 1e6 / secs,
        s.bytes_written as f64 / 1e6,
        s.records_removed,
        s.records_read,
        log.size_bytes() as f64 / (1 << 20) as f64
    );
    println!(
        "segments (with the active one): {segments_before} before, {} after ({} old segments replaced by {} cleaned ones)",
        log.segment_count(),
        s.segments_rewritten,
        s.segments_written
    );
}
