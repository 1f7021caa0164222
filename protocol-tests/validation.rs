//! Produce-time record validation and exact ListOffsets lookups, with raw frames: poison-pill
//! batches (garbage compressed payloads, record counts that do not match the records, a count
//! of 2^31-1 over one record) are refused per partition and burn no offsets; a timestamp
//! lookup in a compressed batch answers the exact record.

use std::io::Write;

use crate::harness::{self, Client};
use crate::wire::{R, W};

const TOPIC_BASE_TS: i64 = 1_700_000_000_000;

fn zigzag(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

/// `n` records, record `i` with timestamp delta `i`, offset delta `i`, key `k<i>`, value `v`.
fn records(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let key = format!("k{i}");
        let mut body = vec![0u8]; // attributes
        zigzag(&mut body, i as i64); // timestamp delta
        zigzag(&mut body, i as i64); // offset delta
        zigzag(&mut body, key.len() as i64);
        body.extend_from_slice(key.as_bytes());
        zigzag(&mut body, 1);
        body.push(b'v');
        zigzag(&mut body, 0); // headers
        zigzag(&mut out, body.len() as i64);
        out.extend_from_slice(&body);
    }
    out
}

/// A magic-2 batch around `payload` (already compressed if `codec` ≠ 0) with a correct CRC.
fn batch(payload: &[u8], codec: i16, count: i32, last_offset_delta: i32, max_ts: i64) -> Vec<u8> {
    let tail = W::default()
        .i16(codec) // attributes: codec, CreateTime
        .i32(last_offset_delta)
        .i64(TOPIC_BASE_TS) // base timestamp
        .i64(max_ts)
        .i64(-1) // producer id
        .i16(-1) // producer epoch
        .i32(-1) // base sequence
        .i32(count)
        .raw(payload)
        .0;
    let crc = crc32c::crc32c(&tail);
    W::default()
        .i64(0) // base offset
        .i32((4 + 1 + 4 + tail.len()) as i32)
        .i32(-1) // partition leader epoch
        .i8(2) // magic
        .i32(crc as i32)
        .raw(&tail)
        .0
}

fn gzip(raw: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(raw).unwrap();
    e.finish().unwrap()
}

/// Produce v7 (zstd allowed) of one batch to `topic`/0; returns (error, base offset).
async fn produce(c: &mut Client, topic: &str, batch: &[u8]) -> (i16, i64) {
    crate::produce_fetch::produce_v(c, 7, topic, batch).await
}

/// ListOffsets v4 for `topic`/0 at `ts`; returns (error, timestamp, offset).
pub(crate) async fn list_offsets(c: &mut Client, topic: &str, ts: i64) -> (i16, i64, i64) {
    let req = W::default()
        .header(2, 4, 22, "l")
        .i32(-1) // replica id
        .i8(0) // isolation level
        .i32(1)
        .str(topic)
        .i32(1)
        .i32(0) // partition
        .i32(-1) // current leader epoch
        .i64(ts);
    let resp = c.call(&req.0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 22);
    let _throttle = r.i32();
    assert_eq!(r.i32(), 1);
    assert_eq!(r.str(), topic);
    assert_eq!(r.i32(), 1);
    assert_eq!(r.i32(), 0);
    let err = r.i16();
    let ts = r.i64();
    let offset = r.i64();
    (err, ts, offset)
}

use crate::produce_fetch::create;

#[tokio::test]
async fn poison_pill_batches_are_refused_and_burn_no_offsets() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "poison").await;
    let ts = TOPIC_BASE_TS;

    // Garbage under each codec flag, with a valid CRC: INVALID_RECORD.
    let junk: Vec<u8> = (0..300u32).map(|i| (i * 131 % 251) as u8).collect();
    for codec in 1..=4 {
        let bad = batch(&junk, codec, 1, 0, ts);
        assert_eq!(
            produce(&mut c, "poison", &bad).await,
            (87, -1),
            "codec {codec}"
        );
    }
    // RecordsCount 2^31-1 (consistent with LastOffsetDelta) over one real record.
    let huge = batch(&records(1), 0, i32::MAX, i32::MAX - 1, ts);
    assert_eq!(produce(&mut c, "poison", &huge).await.0, 87);
    let huge_gz = batch(&gzip(&records(1)), 1, i32::MAX, i32::MAX - 1, ts);
    assert_eq!(produce(&mut c, "poison", &huge_gz).await.0, 87);
    // Counts that do not match the records, uncompressed and compressed.
    assert_eq!(
        produce(&mut c, "poison", &batch(&records(3), 0, 2, 1, ts))
            .await
            .0,
        87
    );
    assert_eq!(
        produce(&mut c, "poison", &batch(&records(3), 0, 4, 3, ts))
            .await
            .0,
        87
    );
    assert_eq!(
        produce(&mut c, "poison", &batch(&gzip(&records(3)), 1, 2, 1, ts))
            .await
            .0,
        87
    );
    // A truncated last record.
    let raw = records(3);
    assert_eq!(
        produce(&mut c, "poison", &batch(&raw[..raw.len() - 1], 0, 3, 2, ts))
            .await
            .0,
        87
    );
    // A CRC mismatch stays CORRUPT_MESSAGE.
    let mut bad_crc = batch(&records(1), 0, 1, 0, ts);
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    assert_eq!(produce(&mut c, "poison", &bad_crc).await.0, 2);

    // None of it was stored: the first valid batch gets offset 0, the next follows densely.
    let zstd = zstd::encode_all(&records(5)[..], 3).unwrap();
    assert_eq!(
        produce(&mut c, "poison", &batch(&zstd, 4, 5, 4, ts + 4)).await,
        (0, 0)
    );
    assert_eq!(
        produce(&mut c, "poison", &batch(&records(2), 0, 2, 1, ts + 1)).await,
        (0, 5)
    );
    assert_eq!(list_offsets(&mut c, "poison", -1).await, (0, -1, 7));
}

#[tokio::test]
async fn list_offsets_by_timestamp_answers_the_exact_record_in_a_compressed_batch() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "lookup").await;
    let ts = TOPIC_BASE_TS;
    let n = 20_000;
    let raw = records(n);
    let max = ts + n as i64 - 1;
    // Offsets 0..n in one zstd batch, then n..n+3 uncompressed, n+3..2n+3 in one gzip batch.
    let z = zstd::encode_all(&raw[..], 3).unwrap();
    assert_eq!(
        produce(&mut c, "lookup", &batch(&z, 4, n as i32, n as i32 - 1, max)).await,
        (0, 0)
    );
    assert_eq!(
        produce(&mut c, "lookup", &batch(&records(3), 0, 3, 2, ts + 2)).await,
        (0, n as i64)
    );
    let g = gzip(&raw);
    assert_eq!(
        produce(&mut c, "lookup", &batch(&g, 1, n as i32, n as i32 - 1, max)).await,
        (0, n as i64 + 3)
    );

    // Inside the zstd batch: record i has timestamp ts + i.
    assert_eq!(
        list_offsets(&mut c, "lookup", ts + 12_345).await,
        (0, ts + 12_345, 12_345)
    );
    assert_eq!(list_offsets(&mut c, "lookup", ts).await, (0, ts, 0));
    assert_eq!(list_offsets(&mut c, "lookup", 0).await, (0, ts, 0));
    assert_eq!(
        list_offsets(&mut c, "lookup", max).await,
        (0, max, n as i64 - 1)
    );
    // Past every timestamp: no offset.
    assert_eq!(list_offsets(&mut c, "lookup", max + 1).await, (0, -1, -1));

    // Another client is answered while lookups run (they are off the async workers).
    let mut other = b.connect().await;
    let lookups = tokio::spawn(async move {
        for _ in 0..5 {
            assert_eq!(list_offsets(&mut c, "lookup", max).await.2, n as i64 - 1);
        }
    });
    assert_eq!(list_offsets(&mut other, "lookup", -2).await, (0, -1, 0));
    lookups.await.unwrap();
}
