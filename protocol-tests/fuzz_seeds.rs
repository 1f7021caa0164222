//! The fuzz targets' seed corpora (`protocol-tests/fuzz/seeds/<target>/`), generated here so
//! that no checked-in input is a blob of unknown origin: request frames are the every-version
//! samples of `all_versions.rs`, record batches come from kafka-protocol's encoder (an encoder
//! that is not Runnel's, as a client's would be) in every codec.
//!
//! The test checks that each seed is what it claims to be (the frame decodes to its API and
//! version, the batch passes produce validation or reads back its records) and that the
//! checked-in files are exactly the generated ones. After changing a sample or bumping a codec
//! crate, rewrite them with:
//!
//! ```text
//! RUNNEL_FUZZ_SEEDS=write cargo test --release --test protocol fuzz_seeds
//! ```

use std::collections::BTreeMap;
use std::path::PathBuf;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel::log::{validate_produce_batch, BatchHeader, CleanupPolicy, LogConfig};
use runnel::protocol::codec::{decode_request, DecodedRequest};
use runnel::protocol::records::decode_batch;
use runnel::protocol::versions::{self, PRODUCE_MIN_ACCEPTED};

use crate::all_versions::{client_frame, sample};

/// `batch_validate`'s flags byte: zstd allowed, the whole inflation budget inline
/// (see protocol-tests/fuzz/fuzz_targets/batch_validate.rs).
const VALIDATE_FLAGS: u8 = 0x02 | 0x18;
/// The same on a compacted topic.
const VALIDATE_COMPACT_FLAGS: u8 = VALIDATE_FLAGS | 0x01;
/// `batch_read`'s flags byte: look up from base offset + 1 with a 2 KiB budget.
const READ_FLAGS: u8 = 0x02;

const CODECS: [(Compression, &str); 5] = [
    (Compression::None, "none"),
    (Compression::Gzip, "gzip"),
    (Compression::Snappy, "snappy"),
    (Compression::Lz4, "lz4"),
    (Compression::Zstd, "zstd"),
];

/// What a producer sends: `n` keyed records from offset `base`, the first with two headers.
fn records(base: i64, n: i64, producer: (i64, i16), transactional: bool) -> Vec<Record> {
    (0..n)
        .map(|i| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: producer.0,
            producer_epoch: producer.1,
            timestamp_type: TimestampType::Creation,
            offset: base + i,
            // Consecutive sequences keep the encoder to one batch; `encode` clears them for
            // a producer without an id.
            sequence: i as i32,
            timestamp: 1_700_000_000_000 + i,
            key: Some(Bytes::from(format!("key-{i}"))),
            value: Some(Bytes::from(format!("value {i} ").repeat(8))),
            headers: if i == 0 {
                [
                    (StrBytes::from_static_str("trace"), Some(Bytes::from("abc"))),
                    (StrBytes::from_static_str("empty"), None),
                ]
                .into_iter()
                .collect()
            } else {
                Default::default()
            },
        })
        .collect()
}

/// One batch of `records`; without a producer id, BaseSequence -1 as a client writes it.
fn encode(records: &[Record], compression: Compression) -> Vec<u8> {
    let mut out = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut out, records, &opts).unwrap();
    let mut batch = out.to_vec();
    if records[0].producer_id < 0 {
        batch[53..57].copy_from_slice(&(-1i32).to_be_bytes());
        let crc = crc32c::crc32c(&batch[21..]);
        batch[17..21].copy_from_slice(&crc.to_be_bytes());
    }
    batch
}

fn prefixed(flags: u8, batch: &[u8]) -> Vec<u8> {
    let mut v = vec![flags];
    v.extend_from_slice(batch);
    v
}

/// Every seed: target → file name → bytes.
fn generate() -> BTreeMap<&'static str, BTreeMap<String, Vec<u8>>> {
    let mut frames = BTreeMap::new();
    for r in versions::SUPPORTED {
        let lowest = if r.key == ApiKey::Produce {
            PRODUCE_MIN_ACCEPTED
        } else {
            r.min
        };
        for v in lowest..=r.max {
            let name = format!("{:?}_v{v}", r.key).to_lowercase();
            frames.insert(name, client_frame(r.key, v, &sample(r.key, v)).to_vec());
        }
    }

    let mut produced = BTreeMap::new();
    let mut stored = BTreeMap::new();
    for (c, name) in CODECS {
        let batch = encode(&records(0, 3, (-1, -1), false), c);
        produced.insert(name.to_string(), prefixed(VALIDATE_FLAGS, &batch));
        // As stored: base offset 100, leader epoch 3 (broker-written, outside the CRC).
        let mut at_100 = encode(&records(100, 3, (-1, -1), false), c);
        at_100[12..16].copy_from_slice(&3i32.to_be_bytes());
        stored.insert(name.to_string(), prefixed(READ_FLAGS, &at_100));
    }
    // Base offset and timestamp at i64::MAX: record offsets and timestamps wrap as in Kafka
    // (a kafka-protocol overflow the fuzzer found; kept as a regression seed).
    let mut wrapping = encode(&records(0, 3, (-1, -1), false), Compression::None);
    wrapping[..8].copy_from_slice(&i64::MAX.to_be_bytes());
    wrapping[27..35].copy_from_slice(&i64::MAX.to_be_bytes());
    let crc = crc32c::crc32c(&wrapping[21..]);
    wrapping[17..21].copy_from_slice(&crc.to_be_bytes());
    stored.insert("wrapping_offsets".into(), prefixed(READ_FLAGS, &wrapping));
    let keyed = encode(&records(0, 2, (-1, -1), false), Compression::None);
    produced.insert("compacted".into(), prefixed(VALIDATE_COMPACT_FLAGS, &keyed));
    let idempotent = encode(&records(0, 4, (7, 0), false), Compression::Lz4);
    produced.insert(
        "idempotent_lz4".into(),
        prefixed(VALIDATE_FLAGS, &idempotent),
    );
    let transactional = encode(&records(0, 2, (9, 1), true), Compression::Gzip);
    produced.insert(
        "transactional_gzip".into(),
        prefixed(VALIDATE_FLAGS, &transactional),
    );

    BTreeMap::from([
        ("request_decode", frames),
        ("batch_validate", produced),
        ("batch_read", stored),
    ])
}

/// Each seed is a valid input of its kind.
fn check_valid(target: &str, name: &str, seed: &[u8]) {
    match target {
        "request_decode" => {
            let (info, req) = decode_request(Bytes::copy_from_slice(seed))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(matches!(req, DecodedRequest::Request(_)), "{name}");
            let expect = format!("{:?}_v{}", info.api_key, info.api_version).to_lowercase();
            assert_eq!(expect, name);
        }
        "batch_validate" => {
            let cfg = LogConfig {
                cleanup_policy: if seed[0] & 1 != 0 {
                    CleanupPolicy::Compact
                } else {
                    CleanupPolicy::Delete
                },
                ..LogConfig::default()
            };
            let h = validate_produce_batch(&seed[1..], &cfg, seed[0] & 2 != 0)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(h.records_count >= 2, "{name}");
        }
        "batch_read" => {
            let h = BatchHeader::parse(&seed[1..]).unwrap();
            let set = decode_batch(&mut Bytes::copy_from_slice(&seed[1..]))
                .unwrap_or_else(|e| panic!("{name}: {e:#}"));
            let offsets: Vec<i64> = set.records.iter().map(|r| r.offset).collect();
            if name == "wrapping_offsets" {
                assert_eq!(offsets, [i64::MAX, i64::MIN, i64::MIN + 1]);
            } else {
                assert_eq!(
                    (h.base_offset, h.partition_leader_epoch),
                    (100, 3),
                    "{name}"
                );
                assert_eq!(offsets, [100, 101, 102], "{name}");
            }
            assert_eq!(set.records[0].headers.len(), 2, "{name}");
        }
        other => panic!("no check for target {other}"),
    }
}

#[test]
fn fuzz_seeds_are_valid_and_current() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("protocol-tests/fuzz/seeds");
    let write = std::env::var("RUNNEL_FUZZ_SEEDS").as_deref() == Ok("write");
    for (target, seeds) in generate() {
        for (name, seed) in &seeds {
            check_valid(target, name, seed);
        }
        let tdir = dir.join(target);
        if write {
            let _ = std::fs::remove_dir_all(&tdir);
            std::fs::create_dir_all(&tdir).unwrap();
            for (name, seed) in &seeds {
                std::fs::write(tdir.join(name), seed).unwrap();
            }
        }
        let mut on_disk = BTreeMap::new();
        for e in std::fs::read_dir(&tdir).unwrap_or_else(|e| panic!("{}: {e}", tdir.display())) {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            on_disk.insert(name, std::fs::read(e.path()).unwrap());
        }
        assert!(
            on_disk == seeds,
            "{} differs from the generated seeds; rewrite with \
             RUNNEL_FUZZ_SEEDS=write cargo test --release --test protocol fuzz_seeds",
            tdir.display()
        );
    }
}
