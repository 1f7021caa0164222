//! Micro benchmark for produce-time record validation and exact ListOffsets lookups (a program
//! that prints figures, not a test: STYLE.md rule 13).
//!
//!     cargo run --release --example validation_bench            # both parts
//!     cargo run --release --example validation_bench -- validate  # validation cost only
//!     cargo run --release --example validation_bench -- lookup    # ListOffsets latency only
//!
//! Part 1 (validate): CPU cost per batch of the Produce validator with the record walk
//! (`validate_produce_batch`) against the header-only checks it replaced
//! (`validate_produce_header`: size, magic, CRC-32C, counts, codec), per codec, for a 16 KiB
//! batch (the Java client's default batch.size) and a 1 MB one of 100-byte records. Single
//! thread, the batch hot in cache, best of 5 runs of ≥ 200 ms.
//!
//! Part 2 (lookup): an in-process broker on 127.0.0.1:0 with a fresh data directory; one
//! batch per topic is produced with raw Produce v7 frames (1 MB uncompressed, 1 MB of records
//! in zstd, and a zstd batch of 10 KB zero values that inflates to 60 MB, near the 64 MiB cap), then ListOffsets
//! v4 asks for the timestamp of the batch's last record (the walk's worst case: every record
//! is read) 200 times in a row over one connection; prints p50/p99/max. Then the log engine's
//! lookup alone on the same batch (`PartitionLog::offset_for_timestamp_exact`, best of 20: no
//! network, no thread hand-off) and, for comparison, the same batch decoded whole with
//! kafka-protocol's decoder (what the lookup did before).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel::log::batch::validate_produce_header;
use runnel::log::{validate_produce_batch, LogConfig};

const BASE_TS: i64 = 1_700_000_000_000;

/// `n` records of `size`-byte text-like values, timestamps BASE_TS + i.
fn records(n: usize, size: usize, zeros: bool) -> Vec<Record> {
    let mut seed = 0x2545_f491_4f6c_dd1du64;
    (0..n)
        .map(|i| {
            let value: Vec<u8> = (0..size)
                .map(|_| {
                    if zeros {
                        return 0;
                    }
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b"abcdefghijklmnopqrstuvwxyz      0123456789"[(seed % 42) as usize]
                })
                .collect();
            Record {
                transactional: false,
                control: false,
                delete_horizon: false,
                partition_leader_epoch: 0,
                producer_id: -1,
                producer_epoch: -1,
                timestamp_type: TimestampType::Creation,
                offset: i as i64,
                sequence: i as i32,
                timestamp: BASE_TS + i as i64,
                key: None,
                value: Some(Bytes::from(value)),
                headers: Default::default(),
            }
        })
        .collect()
}

fn encode(recs: &[Record], compression: Compression) -> Vec<u8> {
    let mut out = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut out, recs, &opts).expect("encodes");
    out.to_vec()
}

/// Best-of-5 nanoseconds per call of `f`, each run at least 200 ms.
fn time_per_call(mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..5 {
        let start = Instant::now();
        let mut n = 0u64;
        while start.elapsed() < Duration::from_millis(200) {
            for _ in 0..8 {
                f();
            }
            n += 8;
        }
        best = best.min(start.elapsed().as_nanos() as f64 / n as f64);
    }
    best
}

fn validate_part() {
    let cfg = LogConfig::default();
    println!("Part 1: Produce validation cost per batch (100-byte values, single thread)");
    println!(
        "{:<7} {:>9} {:>8} {:>11} {:>12} {:>12} {:>10} {:>12}",
        "codec", "records", "bytes", "inflated", "header µs", "full µs", "walk ns/rec", "walk MB/s"
    );
    for (n, label) in [(150usize, "16 KiB"), (9_000, "1 MB")] {
        let recs = records(n, 100, false);
        let inflated = encode(&recs, Compression::None).len() - 61;
        for c in [
            Compression::None,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
            Compression::Gzip,
        ] {
            let batch = encode(&recs, c);
            assert!(validate_produce_batch(&batch, &cfg, true).is_ok());
            let header = time_per_call(|| {
                std::hint::black_box(validate_produce_header(&batch, &cfg, true).is_ok());
            });
            let full = time_per_call(|| {
                std::hint::black_box(validate_produce_batch(&batch, &cfg, true).is_ok());
            });
            println!(
                "{:<7} {:>9} {:>8} {:>11} {:>12.1} {:>12.1} {:>10.1} {:>12.0}   ({label})",
                format!("{c:?}"),
                n,
                batch.len(),
                inflated,
                header / 1e3,
                full / 1e3,
                (full - header) / n as f64,
                inflated as f64 / ((full - header) / 1e3),
            );
        }
    }
}

/// Minimal Kafka request writer (big-endian, classic strings).
#[derive(Default)]
struct W(Vec<u8>);
impl W {
    fn i8(mut self, v: i8) -> Self {
        self.0.push(v as u8);
        self
    }
    fn i16(mut self, v: i16) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i32(mut self, v: i32) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(mut self, v: i64) -> Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn str(self, s: &str) -> Self {
        let mut w = self.i16(s.len() as i16);
        w.0.extend_from_slice(s.as_bytes());
        w
    }
    fn raw(mut self, b: &[u8]) -> Self {
        self.0.extend_from_slice(b);
        self
    }
    fn header(self, key: i16, version: i16) -> Self {
        self.i16(key).i16(version).i32(7).str("bench")
    }
}

fn call(s: &mut TcpStream, frame: &[u8]) -> Vec<u8> {
    // One write: a separate length prefix would meet Nagle + delayed ACK (40 ms per call).
    let mut out = (frame.len() as i32).to_be_bytes().to_vec();
    out.extend_from_slice(frame);
    s.write_all(&out).unwrap();
    let mut len = [0u8; 4];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// Produce v7 of one batch to partition 0; returns its error code.
fn produce(s: &mut TcpStream, topic: &str, batch: &[u8]) -> i16 {
    let req = W::default()
        .header(0, 7)
        .i16(-1)
        .i16(-1)
        .i32(30_000)
        .i32(1)
        .str(topic)
        .i32(1)
        .i32(0)
        .i32(batch.len() as i32)
        .raw(batch);
    let resp = call(s, &req.0);
    // correlation(4) topics(4) name(2+len) partitions(4) index(4) error(2)
    let at = 4 + 4 + 2 + topic.len() + 4 + 4;
    i16::from_be_bytes([resp[at], resp[at + 1]])
}

/// ListOffsets v4 by `ts`; returns (error, offset).
fn list_offsets(s: &mut TcpStream, topic: &str, ts: i64) -> (i16, i64) {
    let req = W::default()
        .header(2, 4)
        .i32(-1)
        .i8(0)
        .i32(1)
        .str(topic)
        .i32(1)
        .i32(0)
        .i32(-1)
        .i64(ts);
    let resp = call(s, &req.0);
    // correlation(4) throttle(4) topics(4) name(2+len) partitions(4) index(4)
    let at = 4 + 4 + 4 + 2 + topic.len() + 4 + 4;
    let err = i16::from_be_bytes([resp[at], resp[at + 1]]);
    let mut o = [0u8; 8];
    o.copy_from_slice(&resp[at + 2 + 8..at + 2 + 16]);
    (err, i64::from_be_bytes(o))
}

fn lookup_part() {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let cfg = runnel::config::Config {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        http_listen: String::new(),
        ..runnel::config::Config::default()
    };
    let running = rt
        .block_on(runnel::runtime::start(cfg))
        .expect("broker starts");
    let mut s = TcpStream::connect(running.kafka_addr).expect("connect");
    s.set_nodelay(true).expect("nodelay");
    println!();
    println!("Part 2: ListOffsets by timestamp (last record of one batch), 200 requests each");
    println!(
        "{:<28} {:>9} {:>10} {:>11} {:>9} {:>9} {:>9} {:>11} {:>15}",
        "batch",
        "records",
        "bytes",
        "inflated",
        "p50 µs",
        "p99 µs",
        "max µs",
        "engine µs",
        "whole decode µs"
    );
    let cases = [
        (
            "uncompressed 1 MB",
            9_000usize,
            100usize,
            Compression::None,
            false,
        ),
        (
            "zstd, 1 MB of records",
            9_000,
            100,
            Compression::Zstd,
            false,
        ),
        (
            "zstd, inflates to 60 MB",
            6_000,
            10_000,
            Compression::Zstd,
            true,
        ),
    ];
    for (i, (label, n, size, c, zeros)) in cases.into_iter().enumerate() {
        let topic = format!("bench{i}");
        call(&mut s, &W::default().header(3, 1).i32(1).str(&topic).0);
        let recs = records(n, size, zeros);
        let inflated = encode(&recs, Compression::None).len() - 61;
        let batch = encode(&recs, c);
        drop(recs);
        let err = produce(&mut s, &topic, &batch);
        assert_eq!(err, 0, "{label}: produce error {err}");
        let last = BASE_TS + n as i64 - 1;
        let mut lat = Vec::with_capacity(200);
        for _ in 0..200 {
            let t = Instant::now();
            let (err, offset) = list_offsets(&mut s, &topic, last);
            lat.push(t.elapsed().as_micros() as u64);
            assert_eq!((err, offset), (0, n as i64 - 1), "{label}");
        }
        lat.sort_unstable();
        // The log engine's lookup alone (no network, no thread hand-off): best of 20.
        let engine = {
            let d = tempfile::tempdir().expect("tempdir");
            let log =
                runnel::log::PartitionLog::open(d.path(), LogConfig::default(), 0).expect("opens");
            log.append(&batch, 0, 0).expect("appends");
            (0..20)
                .map(|_| {
                    let t = Instant::now();
                    let mut budget = runnel::log::records::MAX_INFLATED;
                    let found = log.offset_for_timestamp_exact(last, &mut budget);
                    assert_eq!(found.ok().flatten(), Some((n as i64 - 1, last)));
                    t.elapsed().as_micros()
                })
                .min()
                .unwrap_or(0)
        };
        let whole = {
            let t = Instant::now();
            let mut b = Bytes::from(batch.clone());
            let set = runnel::protocol::records::decode_batch(&mut b).expect("decodes");
            std::hint::black_box(set.records.len());
            t.elapsed().as_micros()
        };
        println!(
            "{:<28} {:>9} {:>10} {:>11} {:>9} {:>9} {:>9} {:>11} {:>15}",
            label,
            n,
            batch.len(),
            inflated,
            lat[lat.len() / 2],
            lat[lat.len() * 99 / 100],
            lat[lat.len() - 1],
            engine,
            whole
        );
    }
    rt.block_on(running.shutdown());
}

fn main() {
    let what = std::env::args().nth(1).unwrap_or_default();
    println!(
        "validation_bench: {} CPUs, load average {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    if what.is_empty() || what == "validate" {
        validate_part();
    }
    if what.is_empty() || what == "lookup" {
        lookup_part();
    }
}
