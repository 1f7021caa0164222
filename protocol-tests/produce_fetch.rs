//! Produce and Fetch round trips: batches stored verbatim, offsets dense across restarts,
//! long-poll woken by appends, validation errors per partition, large fetches sent from the
//! segment files whole and exact at every Fetch version.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite};

use crate::harness::{self, Client};
use crate::wire::{record_batch, R, W};

/// Produce v3 of one batch to `topic`/0; returns (error, base offset).
pub(crate) async fn produce<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Client<S>,
    topic: &str,
    batch: &[u8],
) -> (i16, i64) {
    produce_v(c, 3, topic, batch).await
}

/// Produce `version` (3–8: same request layout) of one batch to `topic`/0; returns (error,
/// base offset).
pub(crate) async fn produce_v<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Client<S>,
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

/// One partition of a Fetch v4 answer.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub error: i16,
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    /// `None`: the null array.
    pub aborted: Option<Vec<(i64, i64)>>,
    /// The record bytes as served.
    pub records: Vec<u8>,
}

impl Fetched {
    /// (base offset, last offset) of every batch.
    pub fn batches(&self) -> Vec<(i64, i64)> {
        let mut records = &self.records[..];
        let mut out = Vec::new();
        while records.len() >= 61 {
            let base = i64::from_be_bytes(records[0..8].try_into().unwrap());
            let size = i32::from_be_bytes(records[8..12].try_into().unwrap()) as usize + 12;
            let delta = i32::from_be_bytes(records[23..27].try_into().unwrap());
            out.push((base, base + i64::from(delta)));
            records = &records[size..];
        }
        out
    }
}

/// Fetch v4 of `topic`/0 from `offset` at `isolation` (0 read_uncommitted, 1 read_committed).
pub(crate) async fn fetch(
    c: &mut Client,
    topic: &str,
    offset: i64,
    isolation: i8,
    max_wait: i32,
) -> Fetched {
    let req = W::default()
        .header(1, 4, 21, "c")
        .i32(-1) // replica id
        .i32(max_wait)
        .i32(1) // min bytes
        .i32(1 << 20)
        .i8(isolation)
        .i32(1)
        .str(topic)
        .i32(1)
        .i32(0)
        .i64(offset)
        .i32(1 << 20);
    let resp = c.call(&req.0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 21);
    let _throttle = r.i32();
    assert_eq!(r.i32(), 1);
    assert_eq!(r.str(), topic);
    assert_eq!(r.i32(), 1);
    assert_eq!(r.i32(), 0);
    let error = r.i16();
    let high_watermark = r.i64();
    let last_stable_offset = r.i64();
    let n = r.i32();
    let aborted = (n >= 0).then(|| (0..n).map(|_| (r.i64(), r.i64())).collect());
    let len = r.i32();
    let records = if len > 0 {
        r.bytes(len as usize).to_vec()
    } else {
        Vec::new()
    };
    Fetched {
        error,
        high_watermark,
        last_stable_offset,
        aborted,
        records,
    }
}

/// Creates `topic` through Metadata auto-creation.
pub(crate) async fn create<S: AsyncRead + AsyncWrite + Unpin>(c: &mut Client<S>, topic: &str) {
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

    let f = fetch(&mut c, "t1", 0, 0, 0).await;
    assert_eq!((f.error, f.high_watermark), (0, 4));
    let mut expected = b1.clone();
    expected[12..16].copy_from_slice(&0i32.to_be_bytes()); // leader epoch patched
    let mut e2 = b2.clone();
    e2[0..8].copy_from_slice(&3i64.to_be_bytes()); // base offset patched
    e2[12..16].copy_from_slice(&0i32.to_be_bytes());
    expected.extend_from_slice(&e2);
    assert_eq!(f.records, expected, "client bytes served verbatim");

    // Fetching from the middle of a batch returns the containing batch.
    let from_two = fetch(&mut c, "t1", 2, 0, 0).await;
    assert_eq!(from_two.records, expected);
    drop(c);

    let b = b.restart().await;
    let mut c = b.connect().await;
    let after = fetch(&mut c, "t1", 0, 0, 0).await;
    assert_eq!(after.high_watermark, 4);
    assert_eq!(after.records, expected, "everything survives a restart");
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
    assert_eq!(
        fetch(&mut c, "t2", 5, 0, 0).await.error,
        1,
        "OFFSET_OUT_OF_RANGE"
    );
    assert_eq!(fetch(&mut c, "missing", 0, 0, 0).await.error, 3);
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
    let waiter = tokio::spawn(async move { fetch(&mut c, "t4", 0, 0, 10_000).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    produce(&mut producer, "t4", &record_batch(&[b"wake"], 1)).await;
    let woke = waiter.await.unwrap();
    assert_eq!((woke.error, woke.high_watermark), (0, 1));
    assert!(!woke.records.is_empty());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken, not timed out"
    );
}

/// Fetch at `version` (4–12) of `topic`/0 from `offset`, encoded and decoded by kafka-protocol
/// as a client would; returns the partition's answer.
pub(crate) async fn fetch_at<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut Client<S>,
    version: i16,
    topic: &str,
    offset: i64,
    max_bytes: i32,
    partition_max_bytes: i32,
) -> kafka_protocol::messages::fetch_response::PartitionData {
    use bytes::BytesMut;
    use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(max_bytes)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.to_string())))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(partition_max_bytes)])]);
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::Fetch as i16)
        .with_request_api_version(version)
        .with_correlation_id(77)
        .with_client_id(Some(StrBytes::from_static_str("zc")))
        .encode(&mut frame, ApiKey::Fetch.request_header_version(version))
        .unwrap();
    req.encode(&mut frame, version).unwrap();
    let mut resp = bytes::Bytes::from(c.call(&frame).await);
    let header =
        ResponseHeader::decode(&mut resp, ApiKey::Fetch.response_header_version(version)).unwrap();
    assert_eq!(header.correlation_id, 77);
    let mut body = FetchResponse::decode(&mut resp, version).unwrap();
    assert_eq!(
        resp.len(),
        0,
        "v{version}: the frame length matches its content"
    );
    body.responses.remove(0).partitions.remove(0)
}

/// Large fetches leave the record bytes in the segment files and send them from there: what
/// arrives at every version is exactly the stored batches, whole, from the one holding the
/// fetch offset up to the last that fits, found through the offset index without reading the
/// bytes in between.
#[tokio::test]
async fn large_fetches_are_whole_stored_batches_at_every_version() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    // Big batches (each indexed) and small ones (an index entry every few batches).
    let mut stored: Vec<(&str, Vec<Vec<u8>>)> = Vec::new();
    for (topic, count, size) in [("zc-big", 40usize, 100_000usize), ("zc-small", 300, 700)] {
        create(&mut c, topic).await;
        let mut batches = Vec::new();
        for i in 0..count {
            let value: Vec<u8> = (0..size).map(|j| ((i * 31 + j) % 253) as u8).collect();
            let mut batch = record_batch(&[&value], 1_700_000_000_000 + i as i64);
            assert_eq!(produce(&mut c, topic, &batch).await, (0, i as i64));
            batch[0..8].copy_from_slice(&(i as i64).to_be_bytes()); // base offset assigned
            batch[12..16].copy_from_slice(&0i32.to_be_bytes()); // leader epoch patched
            batches.push(batch);
        }
        stored.push((topic, batches));
    }
    let expect = |batches: &[Vec<u8>], from: usize, max: usize| -> Vec<u8> {
        let mut out = Vec::new();
        for b in &batches[from..] {
            if !out.is_empty() && out.len() + b.len() > max {
                break;
            }
            out.extend_from_slice(b);
        }
        out
    };
    for version in [4i16, 11, 12] {
        for (topic, batches) in &stored {
            let n = batches.len();
            for (from, max) in [
                (0, 1 << 20),
                (n / 2, 1 << 20),
                (n - 3, 1 << 20),
                (3, 50_000),
            ] {
                let p = fetch_at(&mut c, version, topic, from as i64, max as i32, 8 << 20).await;
                assert_eq!((p.error_code, p.high_watermark), (0, n as i64));
                let got = p.records.unwrap_or_default();
                let want = expect(batches, from, max);
                assert!(want.len() <= max.max(batches[from].len()));
                assert_eq!(
                    got.len(),
                    want.len(),
                    "v{version} {topic} from {from} max {max}"
                );
                assert!(got == want, "v{version} {topic} from {from}: bytes differ");
            }
            // A first batch larger than the limits still comes whole (Kafka's rule).
            let p = fetch_at(&mut c, version, topic, 1, 10, 10).await;
            assert_eq!(p.records.unwrap_or_default(), batches[1], "v{version}");
            // At the log end: no records, no error.
            let p = fetch_at(&mut c, version, topic, n as i64, 1 << 20, 1 << 20).await;
            assert_eq!(p.error_code, 0);
            assert!(p.records.unwrap_or_default().is_empty());
        }
    }
}
