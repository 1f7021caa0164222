//! Produce and Fetch round trips: batches stored verbatim, offsets dense across restarts,
//! long-poll woken by appends, validation errors per partition.

use std::time::{Duration, Instant};

use crate::harness::{self, Client};
use crate::wire::{record_batch, R, W};

/// Produce v3 of one batch to `topic`/0; returns (error, base offset).
pub(crate) async fn produce(c: &mut Client, topic: &str, batch: &[u8]) -> (i16, i64) {
    produce_v(c, 3, topic, batch).await
}

/// Produce `version` (3–8: same request layout) of one batch to `topic`/0; returns (error,
/// base offset).
pub(crate) async fn produce_v(
    c: &mut Client,
    version: i16,
    topic: &str,
    batch: &[u8],
) -> (i16, i64) {
    let req = W::default()
        .header(0, version, 11, "p")
        .i16(-1) // null transactional id
        .i16(-1) // acks=all
        .i32(5000)
        .i32(1)
        .str(topic)
        .i32(1)
        .i32(0) // partition
        .i32(batch.len() as i32)
        .raw(batch);
    let resp = c.call(&req.0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 11);
    assert_eq!(r.i32(), 1);
    assert_eq!(r.str(), topic);
    assert_eq!(r.i32(), 1);
    assert_eq!(r.i32(), 0);
    let err = r.i16();
    let base = r.i64();
    (err, base)
}

/// Fetch v4 from `offset`; returns (error, high watermark, records bytes).
async fn fetch(c: &mut Client, topic: &str, offset: i64, max_wait: i32) -> (i16, i64, Vec<u8>) {
    let req = W::default()
        .header(1, 4, 12, "c")
        .i32(-1) // replica id
        .i32(max_wait)
        .i32(1) // min bytes
        .i32(1 << 20)
        .i8(0) // read_uncommitted
        .i32(1)
        .str(topic)
        .i32(1)
        .i32(0)
        .i64(offset)
        .i32(1 << 20);
    let resp = c.call(&req.0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 12);
    let _throttle = r.i32();
    assert_eq!(r.i32(), 1);
    assert_eq!(r.str(), topic);
    assert_eq!(r.i32(), 1);
    assert_eq!(r.i32(), 0);
    let err = r.i16();
    let hw = r.i64();
    let _lso = r.i64();
    let aborted = r.i32();
    assert!(aborted <= 0);
    let n = r.i32();
    let records = if n > 0 {
        r.bytes(n as usize).to_vec()
    } else {
        Vec::new()
    };
    (err, hw, records)
}

/// Creates `topic` through Metadata auto-creation.
pub(crate) async fn create(c: &mut Client, topic: &str) {
    c.call(&W::default().header(3, 1, 1, "t").i32(1).str(topic).0)
        .await;
}

#[tokio::test]
async fn batches_are_stored_verbatim_with_dense_offsets_across_restart() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "t1").await;
    let b1 = record_batch(&[b"a", b"bb", b"ccc"], 1_700_000_000_000);
    let b2 = record_batch(&[b"dddd"], 1_700_000_000_001);
    assert_eq!(produce(&mut c, "t1", &b1).await, (0, 0));
    assert_eq!(produce(&mut c, "t1", &b2).await, (0, 3));

    let (err, hw, bytes) = fetch(&mut c, "t1", 0, 0).await;
    assert_eq!((err, hw), (0, 4));
    let mut expected = b1.clone();
    expected[12..16].copy_from_slice(&0i32.to_be_bytes()); // leader epoch patched
    let mut e2 = b2.clone();
    e2[0..8].copy_from_slice(&3i64.to_be_bytes()); // base offset patched
    e2[12..16].copy_from_slice(&0i32.to_be_bytes());
    expected.extend_from_slice(&e2);
    assert_eq!(bytes, expected, "client bytes served verbatim");

    // Fetching from the middle of a batch returns the containing batch.
    let (_, _, from_two) = fetch(&mut c, "t1", 2, 0).await;
    assert_eq!(from_two, expected);
    drop(c);

    let b = b.restart().await;
    let mut c = b.connect().await;
    let (_, hw, after) = fetch(&mut c, "t1", 0, 0).await;
    assert_eq!(hw, 4);
    assert_eq!(after, expected, "everything survives a restart");
    assert_eq!(
        produce(&mut c, "t1", &b2).await,
        (0, 4),
        "offsets continue densely"
    );
}

#[tokio::test]
async fn out_of_range_and_unknown_partitions() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "t2").await;
    assert_eq!(fetch(&mut c, "t2", 5, 0).await.0, 1, "OFFSET_OUT_OF_RANGE");
    assert_eq!(fetch(&mut c, "missing", 0, 0).await.0, 3);
    let batch = record_batch(&[b"x"], 1);
    assert_eq!(produce(&mut c, "missing", &batch).await.0, 3);
}

#[tokio::test]
async fn invalid_batches_get_per_partition_errors() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "t3").await;
    let good = record_batch(&[b"x"], 1);
    let mut bad_crc = good.clone();
    let last = bad_crc.len() - 1;
    bad_crc[last] ^= 0xff;
    assert_eq!(
        produce(&mut c, "t3", &bad_crc).await.0,
        2,
        "CORRUPT_MESSAGE"
    );
    let mut magic1 = good.clone();
    magic1[16] = 1;
    assert_ne!(produce(&mut c, "t3", &magic1).await.0, 0);
    let mut two = good.clone();
    two.extend_from_slice(&good);
    assert_eq!(produce(&mut c, "t3", &two).await.0, 87, "INVALID_RECORD");
    assert_eq!(produce(&mut c, "t3", &good[..20]).await.0, 87);
    // Nothing of the above was stored.
    assert_eq!(produce(&mut c, "t3", &good).await, (0, 0));
}

#[tokio::test]
async fn long_poll_is_woken_by_an_append() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "t4").await;
    let mut producer = b.connect().await;
    let started = Instant::now();
    let waiter = tokio::spawn(async move { fetch(&mut c, "t4", 0, 10_000).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    produce(&mut producer, "t4", &record_batch(&[b"wake"], 1)).await;
    let (err, hw, bytes) = waiter.await.unwrap();
    assert_eq!((err, hw), (0, 1));
    assert!(!bytes.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken, not timed out"
    );
}
