//! Unit tests of the record walk: every codec, each framing error Kafka's LogValidator
//! rejects, hostile counts and compression bombs, the ListOffsets lookup, and a proptest that
//! feeds random bytes to the walk on every `cargo test` (the coverage-guided fuzzing is
//! `protocol-tests/fuzz`, targets `batch_validate` and `batch_read`, run by `scripts/fuzz`).

use std::io::{self, Read};
use std::ops::ControlFlow;

use proptest::prelude::*;

use super::*;
use crate::log::batch::{validate_produce_batch, ATTR_LOG_APPEND_TIME};
use crate::log::config::{CleanupPolicy, LogConfig};
use crate::log::testutil::{batch_with_payload, compress, raw_records, BatchBuilder, Rec};

const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

fn codec_bits(c: Compression) -> i16 {
    match c {
        Compression::None => 0,
        Compression::Gzip => 1,
        Compression::Snappy => 2,
        Compression::Lz4 => 3,
        Compression::Zstd => 4,
        Compression::Unknown(n) => i16::from(n),
    }
}

fn put_varint(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// A record with headers, encoded by hand: `headers` as (key, value) pairs.
fn record_with_headers(index: i64, key: &[u8], headers: &[(&[u8], Option<&[u8]>)]) -> Vec<u8> {
    let mut body = vec![0u8];
    put_varint(&mut body, index);
    put_varint(&mut body, index);
    put_varint(&mut body, key.len() as i64);
    body.extend_from_slice(key);
    put_varint(&mut body, -1);
    put_varint(&mut body, headers.len() as i64);
    for (k, v) in headers {
        put_varint(&mut body, k.len() as i64);
        body.extend_from_slice(k);
        match v {
            Some(v) => {
                put_varint(&mut body, v.len() as i64);
                body.extend_from_slice(v);
            }
            None => put_varint(&mut body, -1),
        }
    }
    let mut out = Vec::new();
    put_varint(&mut out, body.len() as i64);
    out.extend_from_slice(&body);
    out
}

/// A batch of `raw` records compressed with `c`, claiming `count` records.
fn batch(c: Compression, raw: &[u8], count: i32) -> Vec<u8> {
    batch_with_payload(&compress(c, raw), count, count - 1, codec_bits(c))
}

fn check(b: &[u8]) -> Result<usize, WalkError> {
    let h = BatchHeader::parse(b).unwrap();
    validate_records(b, &h, false, MAX_INFLATED)
}

fn three() -> Vec<u8> {
    raw_records(&[
        Rec::kv(Some(b"a"), Some(b"1")),
        Rec::kv(None, Some(b"2")),
        Rec::kv(Some(b"c"), None),
    ])
}

#[test]
fn every_codec_walks_every_record() {
    let mut raw = three();
    raw.extend(record_with_headers(
        3,
        b"d",
        &[(b"h1", Some(b"x")), (b"h2", None)],
    ));
    for c in CODECS {
        let b = batch(c, &raw, 4);
        let h = BatchHeader::parse(&b).unwrap();
        let mut seen = Vec::new();
        let w = walk(&b, &h, MAX_INFLATED, |r| {
            seen.push((r.index, r.offset_delta, r.key_len, r.value_len));
            ControlFlow::Continue(())
        })
        .unwrap_or_else(|e| panic!("{c:?}: {e}"));
        assert_eq!(
            seen,
            vec![(0, 0, 1, 1), (1, 1, -1, 1), (2, 2, 1, -1), (3, 3, 1, -1)],
            "{c:?}"
        );
        assert_eq!(w.records, 4);
        assert!(!w.stopped);
        let full = BatchBuilder::new().records(5).compress(c).build();
        assert!(
            validate_produce_batch(&full, &LogConfig::default(), true).is_ok(),
            "{c:?}"
        );
    }
}

#[test]
fn unframed_snappy_is_accepted() {
    let raw = three();
    let block = snap::raw::Encoder::new().compress_vec(&raw).unwrap();
    let b = batch_with_payload(&block, 3, 2, 2);
    assert!(check(&b).is_ok());
}

#[test]
fn record_count_mismatch_is_invalid_for_every_codec() {
    for c in CODECS {
        // Fewer records than claimed: the stream ends early.
        let e = check(&batch(c, &three(), 4)).unwrap_err();
        assert!(
            matches!(&e, WalkError::Invalid(m) if m.contains("premature") || m.contains("cannot fit")),
            "{c:?}: {e}"
        );
        // More records than claimed: bytes remain.
        let e = check(&batch(c, &three(), 2)).unwrap_err();
        assert!(
            matches!(&e, WalkError::Invalid(m) if m.contains("remain")),
            "{c:?}: {e}"
        );
        // Through the produce validator: INVALID_RECORD.
        let e = validate_produce_batch(&batch(c, &three(), 2), &LogConfig::default(), true)
            .unwrap_err();
        assert_eq!(e.kafka_code(), 87, "{c:?}: {e}");
    }
}

#[test]
fn truncated_record_is_invalid() {
    let raw = three();
    for c in CODECS {
        let cut = &raw[..raw.len() - 2];
        let e = check(&batch(c, cut, 3)).unwrap_err();
        assert!(matches!(e, WalkError::Invalid(_)), "{c:?}: {e}");
    }
    // A record whose length runs past the payload is refused before it is read.
    let mut raw = Vec::new();
    put_varint(&mut raw, 1000);
    raw.extend_from_slice(&[0; 10]);
    let e = check(&batch(Compression::None, &raw, 1)).unwrap_err();
    assert!(e.to_string().contains("claims 1000 bytes"), "{e}");
}

#[test]
fn record_length_must_match_its_fields() {
    let mut raw = three();
    raw[0] += 2; // zigzag: the first record claims one byte more than its fields take
    raw.push(0);
    for c in CODECS {
        let e = check(&batch(c, &raw, 3)).unwrap_err();
        assert!(e.to_string().contains("its fields take"), "{c:?}: {e}");
    }
}

#[test]
fn varint_overflow_is_invalid() {
    // A record length of six continuation bytes.
    let raw = [0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0, 0, 0, 0, 0, 0, 0];
    for c in CODECS {
        let e = check(&batch(c, &raw, 1)).unwrap_err();
        assert!(e.to_string().contains("longer than 5 bytes"), "{c:?}: {e}");
    }
    // A timestamp delta of eleven bytes (varlong limit is ten).
    let mut raw = vec![20u8, 0];
    raw.extend_from_slice(&[0xff; 10]);
    raw.extend_from_slice(&[0x01; 8]);
    let e = check(&batch(Compression::None, &raw, 1)).unwrap_err();
    assert!(e.to_string().contains("longer than 10 bytes"), "{e}");
}

#[test]
fn offset_delta_must_be_the_index() {
    let mut raw = record_with_headers(0, b"a", &[]);
    raw.extend(record_with_headers(5, b"b", &[]));
    for c in CODECS {
        let e = check(&batch(c, &raw, 2)).unwrap_err();
        assert!(e.to_string().contains("offset delta 5"), "{c:?}: {e}");
    }
}

#[test]
fn last_offset_delta_inconsistent_with_count_is_invalid() {
    let b = batch_with_payload(&three(), 3, 7, 0);
    let e = validate_produce_batch(&b, &LogConfig::default(), true).unwrap_err();
    assert_eq!(e.kafka_code(), 87, "{e}");
}

#[test]
fn negative_header_count_and_null_header_key_are_invalid() {
    let mut bad_count = vec![0u8, 0, 0, 2, b'k', 1];
    put_varint(&mut bad_count, -3);
    let mut raw = Vec::new();
    put_varint(&mut raw, bad_count.len() as i64);
    raw.extend(bad_count);
    assert!(check(&batch(Compression::None, &raw, 1))
        .unwrap_err()
        .to_string()
        .contains("-3 headers"));

    let mut body = vec![0u8, 0, 0, 1, 1];
    put_varint(&mut body, 1);
    put_varint(&mut body, -1); // null header key
    put_varint(&mut body, -1);
    let mut raw = Vec::new();
    put_varint(&mut raw, body.len() as i64);
    raw.extend(body);
    assert!(check(&batch(Compression::None, &raw, 1))
        .unwrap_err()
        .to_string()
        .contains("null header key"));
}

#[test]
fn huge_record_count_with_tiny_payload_is_refused_before_work() {
    for c in CODECS {
        let b = batch(c, &three(), i32::MAX);
        let e = check(&b).unwrap_err();
        assert!(e.to_string().contains("cannot fit"), "{c:?}: {e}");
        let e = validate_produce_batch(&b, &LogConfig::default(), true).unwrap_err();
        assert_eq!(e.kafka_code(), 87);
    }
    // Below the early bound, the walk still fails at the first missing record.
    let b = batch(Compression::Zstd, &three(), 1_000_000);
    assert!(check(&b).unwrap_err().to_string().contains("premature"));
}

/// One record whose value is `value_len` zero bytes, compressed with `c` as a stream (the
/// zeros are never held in memory).
fn bomb(c: Compression, value_len: usize) -> Vec<u8> {
    let mut head = vec![0u8, 0, 0]; // attributes, timestamp delta, offset delta
    put_varint(&mut head, 1);
    head.push(b'k');
    put_varint(&mut head, value_len as i64);
    let body_len = head.len() + value_len + 1;
    let mut prefix = Vec::new();
    put_varint(&mut prefix, body_len as i64);
    prefix.extend(head);
    let mut src = io::Cursor::new(prefix)
        .chain(io::repeat(0).take(value_len as u64))
        .chain(io::Cursor::new(vec![0u8])); // header count
    let payload = match c {
        Compression::Zstd => zstd::stream::encode_all(src, 1).unwrap(),
        Compression::Gzip => {
            let mut e = flate2::read::GzEncoder::new(src, flate2::Compression::fast());
            let mut out = Vec::new();
            e.read_to_end(&mut out).unwrap();
            out
        }
        _ => {
            let mut raw = Vec::new();
            src.read_to_end(&mut raw).unwrap();
            compress(c, &raw)
        }
    };
    batch_with_payload(&payload, 1, 0, codec_bits(c))
}

#[test]
fn decompression_bomb_is_bounded() {
    // Small limit: every codec stops within one window of it.
    for c in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let b = bomb(c, 4 << 20);
        let h = BatchHeader::parse(&b).unwrap();
        assert!(b.len() < 512 << 10, "{c:?} bomb is {} bytes", b.len());
        let e = validate_records(&b, &h, false, 1 << 20).unwrap_err();
        assert_eq!(e, WalkError::OverLimit(1 << 20), "{c:?}");
        // Within a large enough limit the same batch is valid.
        let inflated = validate_records(&b, &h, false, 8 << 20).unwrap();
        assert!(
            inflated > 4 << 20 && inflated < (4 << 20) + 32,
            "{inflated}"
        );
    }
    // The produce validator's cap: a 70 MiB record in a ~70 KB zstd batch is INVALID_RECORD.
    let b = bomb(Compression::Zstd, 70 << 20);
    assert!(b.len() < 1 << 20);
    let e = validate_produce_batch(&b, &LogConfig::default(), true).unwrap_err();
    assert_eq!(e.kafka_code(), 87);
    assert!(e.to_string().contains("inflates beyond"), "{e}");
}

#[test]
fn snappy_block_claiming_more_than_it_can_hold_is_refused_before_allocating() {
    // A 6-byte raw block whose preamble claims 60 MiB: within MAX_INFLATED, but no snappy
    // element inflates more than 64 bytes per 3, so it is refused without a 60 MiB buffer.
    let mut block = Vec::new();
    let mut n = 60u32 << 20;
    while n >= 0x80 {
        block.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    block.extend_from_slice(&[n as u8, 0, 0]);
    let b = batch_with_payload(&block, 1, 0, codec_bits(Compression::Snappy));
    let e = check(&b).unwrap_err();
    assert!(
        e.to_string().contains("claims to inflate to 62914560"),
        "{e}"
    );
    let e = inflate(Compression::Snappy, &block, MAX_INFLATED).unwrap_err();
    assert!(e.to_string().contains("claims to inflate"), "{e}");
    // The densest real block (zeros) stays within the bound.
    let zeros = snap::raw::Encoder::new()
        .compress_vec(&[0u8; 1 << 20])
        .unwrap();
    assert!(zeros.len() * SNAPPY_MAX_RATIO > 1 << 20, "{}", zeros.len());
    assert_eq!(
        inflate(Compression::Snappy, &zeros, MAX_INFLATED)
            .unwrap()
            .len(),
        1 << 20
    );
}

#[test]
fn zstd_window_beyond_the_limit_is_refused() {
    let raw = three();
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.window_log(ZSTD_WINDOW_LOG_MAX + 2).unwrap();
    io::Write::write_all(&mut enc, &raw).unwrap();
    let payload = enc.finish().unwrap();
    let e = check(&batch_with_payload(&payload, 3, 2, 4)).unwrap_err();
    assert!(e.to_string().contains("decompress"), "{e}");
}

#[test]
fn garbage_compressed_payloads_are_invalid() {
    let junk: Vec<u8> = (0..200u32).map(|i| (i * 37 % 251) as u8).collect();
    for c in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let b = batch_with_payload(&junk, 1, 0, codec_bits(c));
        let e = validate_produce_batch(&b, &LogConfig::default(), true).unwrap_err();
        assert_eq!(e.kafka_code(), 87, "{c:?}: {e}");
        // Uncompressed bytes sent under a codec flag are garbage for that codec too.
        let b = batch_with_payload(&three(), 3, 2, codec_bits(c));
        assert!(check(&b).is_err(), "{c:?}");
    }
}

#[test]
fn compacted_topic_needs_keys_in_every_codec() {
    let cfg = LogConfig {
        cleanup_policy: CleanupPolicy::Compact,
        ..LogConfig::default()
    };
    for c in CODECS {
        let b = batch(c, &three(), 3);
        let e = validate_produce_batch(&b, &cfg, true).unwrap_err();
        assert_eq!(e.kafka_code(), 87, "{c:?}");
        assert!(e.to_string().contains("record 1"), "{c:?}: {e}");
        assert!(validate_produce_batch(&b, &LogConfig::default(), true).is_ok());
    }
}

#[test]
fn lookup_stops_at_the_first_matching_record() {
    // Timestamps 1000, 1001, ... (the builder's deltas are the index).
    for c in CODECS {
        let mut b = BatchBuilder::new().records(50).compress(c).build();
        b[..8].copy_from_slice(&100i64.to_be_bytes()); // stored at base offset 100
        let h = BatchHeader::parse(&b).unwrap();
        let (found, _) = first_record_at_or_after(&b, &h, 0, MAX_INFLATED, |t| t >= 1010).unwrap();
        assert_eq!(found, Some((110, 1010)), "{c:?}");
        let (found, _) =
            first_record_at_or_after(&b, &h, 120, MAX_INFLATED, |t| t >= 1010).unwrap();
        assert_eq!(found, Some((120, 1020)), "{c:?}");
        let (found, _) = first_record_at_or_after(&b, &h, 0, MAX_INFLATED, |t| t >= 5000).unwrap();
        assert_eq!(found, None);
        let mut visited = 0;
        let w = walk(&b, &h, MAX_INFLATED, |r| {
            visited += 1;
            if r.timestamp_delta >= 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert!(w.stopped);
        assert_eq!(visited, 4);
    }
    // LogAppendTime: every record carries MaxTimestamp.
    let mut b = BatchBuilder::new()
        .records(3)
        .attributes(ATTR_LOG_APPEND_TIME)
        .build();
    b[35..43].copy_from_slice(&7777i64.to_be_bytes());
    let h = BatchHeader::parse(&b).unwrap();
    let (found, _) = first_record_at_or_after(&b, &h, 1, MAX_INFLATED, |t| t >= 7000).unwrap();
    assert_eq!(found, Some((1, 7777)));
}

#[test]
fn inflate_caps_every_codec() {
    for c in CODECS {
        let raw = vec![7u8; 100_000];
        assert_eq!(inflate(c, &compress(c, &raw), 1 << 20).unwrap(), raw);
        assert_eq!(
            inflate(c, &compress(c, &raw), 50_000).unwrap_err(),
            WalkError::OverLimit(50_000)
        );
    }
}

fn any_codec() -> impl Strategy<Value = Compression> {
    prop_oneof![
        Just(Compression::None),
        Just(Compression::Gzip),
        Just(Compression::Snappy),
        Just(Compression::Lz4),
        Just(Compression::Zstd),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Random record bytes, raw or really compressed, under every codec and any count: the walk
    /// returns, never panics, and never reads more records than claimed.
    #[test]
    fn random_records_never_panic(
        raw in proptest::collection::vec(any::<u8>(), 0..400),
        count in prop_oneof![0i32..8, any::<i32>()],
        c in any_codec(),
        compressed in any::<bool>(),
    ) {
        let payload = if compressed { compress(c, &raw) } else { raw };
        let b = batch_with_payload(&payload, count, count.wrapping_sub(1), codec_bits(c));
        let h = BatchHeader::parse(&b).unwrap();
        let mut n = 0i32;
        let r = walk(&b, &h, 1 << 20, |_| { n += 1; ControlFlow::Continue(()) });
        prop_assert!(n <= count.max(0));
        if let Ok(w) = r {
            prop_assert_eq!(w.records, count);
        }
        let _ = first_record_at_or_after(&b, &h, 0, 1 << 20, |t| t >= 0);
    }

    /// A valid stored batch with one byte changed (header or records, any codec).
    #[test]
    fn mutated_stored_batches_never_panic(
        c in any_codec(),
        n in 1usize..6,
        idx in any::<usize>(),
        val in any::<u8>(),
    ) {
        let mut b = BatchBuilder::new().records(n).compress(c).build();
        let i = 8 + idx % (b.len() - 8); // any byte after BaseOffset, length field included
        b[i] = val;
        if let Ok(h) = BatchHeader::parse(&b) {
            let _ = walk(&b, &h, 1 << 20, |_| ControlFlow::Continue(()));
        }
        let _ = validate_produce_batch(&b, &LogConfig::default(), true);
    }
}
