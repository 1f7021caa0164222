//! Hostile and broken input: the broker closes the offending connection, never panics,
//! never reserves memory a frame claims, and keeps serving everyone else.

use tokio::io::AsyncWriteExt;

use crate::harness;
use crate::wire::W;

async fn assert_still_serving(b: &harness::TestBroker) {
    let mut c = b.connect().await;
    let resp = c.call(&W::default().header(18, 0, 1, "ok").0).await;
    assert_eq!(&resp[..6], &[0, 0, 0, 1, 0, 0]);
}

#[tokio::test]
async fn negative_length_closes_the_connection() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    c.stream.write_all(&(-5i32).to_be_bytes()).await.unwrap();
    assert!(c.is_closed().await);
    assert_still_serving(&b).await;
}

#[tokio::test]
async fn oversized_length_closes_before_allocating() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    c.stream.write_all(&i32::MAX.to_be_bytes()).await.unwrap();
    assert!(c.is_closed().await);
    assert_still_serving(&b).await;
}

#[tokio::test]
async fn truncated_frame_then_eof_is_harmless() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    c.stream.write_all(&100i32.to_be_bytes()).await.unwrap();
    c.stream.write_all(&[0, 18, 0]).await.unwrap();
    c.stream.shutdown().await.unwrap();
    assert!(c.is_closed().await);
    assert_still_serving(&b).await;
}

#[tokio::test]
async fn unknown_api_key_and_unsupported_version_close() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    c.send(&W::default().header(9999, 0, 1, "x").0).await;
    assert!(c.is_closed().await);
    let mut c = b.connect().await;
    // Produce v2 is advertised (for old librdkafka) but refused, as Kafka 4 does.
    c.send(&W::default().header(0, 2, 1, "x").i16(1).i32(1000).i32(0).0)
        .await;
    assert!(c.is_closed().await);
    assert_still_serving(&b).await;
}

#[tokio::test]
async fn garbage_body_and_hostile_array_lengths() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    // Metadata v1 claiming 2^31-1 topics in a 4-byte body.
    c.send(&W::default().header(3, 1, 1, "x").i32(i32::MAX).0)
        .await;
    assert!(c.is_closed().await);
    let mut c = b.connect().await;
    // Produce v9 (flexible) with a compact array length of 2^32-1.
    c.send(
        &W::default()
            .header2(0, 9, 1, "x")
            .uvarint(0)
            .i16(1)
            .i32(1000)
            .raw(&[0xff, 0xff, 0xff, 0xff, 0x0f])
            .0,
    )
    .await;
    assert!(c.is_closed().await);
    assert_still_serving(&b).await;
}
