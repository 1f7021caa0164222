//! Metadata: brokers, cluster id, controller, auto-created topics.

use bytes::Bytes;
use kafka_protocol::messages::MetadataResponse;
use kafka_protocol::protocol::Decodable;

use crate::harness;
use crate::wire::{R, W};

#[tokio::test]
async fn v1_auto_creates_and_describes_a_topic() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    let req = W::default().header(3, 1, 5, "t").i32(1).str("auto-topic");
    let resp = c.call(&req.0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 5);
    assert_eq!(r.i32(), 1, "one broker");
    assert_eq!(r.i32(), 0, "node id");
    assert_eq!(r.str(), "127.0.0.1");
    assert_eq!(r.i32(), b.addr.port() as i32);
    assert_eq!(r.i16(), -1, "null rack");
    assert_eq!(r.i32(), 0, "controller id is this node");
    assert_eq!(r.i32(), 1, "one topic");
    assert_eq!(r.i16(), 0, "no error");
    assert_eq!(r.str(), "auto-topic");
    assert_eq!(r.i8(), 0, "not internal");
    assert_eq!(r.i32(), 1, "default num.partitions");
    assert_eq!(r.i16(), 0);
    assert_eq!(r.i32(), 0, "partition 0");
    assert_eq!(r.i32(), 0, "leader");
    assert_eq!((r.i32(), r.i32()), (1, 0), "replicas [0]");
    assert_eq!((r.i32(), r.i32()), (1, 0), "isr [0]");
    assert_eq!(r.rest(), 0);
}

#[tokio::test]
async fn v12_carries_cluster_id_topic_ids_and_epochs_across_restart() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    // v12: header v2; topics compact array of {topic_id uuid, name compact nullable string}.
    let req = W::default()
        .header2(3, 12, 9, "t")
        .uvarint(2)
        .raw(&[0; 16])
        .cstr("orders")
        .uvarint(0)
        .i8(1) // allow auto topic creation
        .i8(0) // include topic authorized operations
        .uvarint(0);
    let first = decode_v12(&c.call(&req.0).await);
    let topic = &first.topics[0];
    assert_eq!(topic.error_code, 0);
    assert!(!topic.topic_id.is_nil(), "real topic id");
    assert_eq!(topic.partitions[0].leader_epoch, 0);
    let cluster_id = first.cluster_id.clone().unwrap();
    assert_eq!(cluster_id.len(), 22);
    drop(c);

    let b = b.restart().await;
    let mut c = b.connect().await;
    let again = decode_v12(&c.call(&req.0).await);
    assert_eq!(again.cluster_id, first.cluster_id, "cluster id persisted");
    assert_eq!(
        again.topics[0].topic_id, topic.topic_id,
        "topic id persisted"
    );
}

#[tokio::test]
async fn invalid_and_unknown_topics_get_their_error_codes() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    // v4+ with auto-creation off: unknown topic; illegal name: INVALID_TOPIC_EXCEPTION.
    let req = W::default()
        .header(3, 4, 1, "t")
        .i32(2)
        .str("nope")
        .str("bad name")
        .i8(0);
    let resp = c.call(&req.0).await;
    let m = MetadataResponse::decode(&mut Bytes::from(resp[4..].to_vec()), 4).unwrap();
    let codes: Vec<i16> = m.topics.iter().map(|t| t.error_code).collect();
    assert_eq!(codes, vec![3, 17]);
}

fn decode_v12(resp: &[u8]) -> MetadataResponse {
    // Skip correlation id and the response header's empty tagged fields.
    MetadataResponse::decode(&mut Bytes::from(resp[5..].to_vec()), 12).unwrap()
}
