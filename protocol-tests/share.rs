//! Share partitions on the wire (KIP-932): ShareFetch v1 / ShareAcknowledge v1 with raw
//! requests encoded by `kafka-protocol` as a client would, against a broker on port 0. No
//! ShareGroupHeartbeat is needed: a ShareFetch acquires for whichever member asks.
//!
//! Covered: GROUP configs set through IncrementalAlterConfigs (`share.auto.offset.reset`,
//! the lock duration), whole-batch acquisition and AcquiredRecords, records never handed to
//! two members at once, piggy-backed and standalone acknowledgements (accept, release with
//! redelivery and a higher delivery count, reject), ownership errors, session epoch errors,
//! FINAL-epoch release, release on disconnect, acknowledgements surviving a restart, and a
//! long poll woken by a produce.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::share_acknowledge_request::{AcknowledgePartition, AcknowledgeTopic};
use kafka_protocol::messages::share_fetch_request::{
    AcknowledgementBatch, FetchPartition, FetchTopic,
};
use kafka_protocol::messages::*;
use uuid::Uuid;

use crate::harness::{self, call, create_topic, s, Client};
use crate::wire::record_batch;

async fn produce(c: &mut Client, topic: &str, values: &[&[u8]]) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(record_batch(values, 1_700_000_000_000)))),
            ])]);
    let r: ProduceResponse = call(c, ApiKey::Produce, 9, &req).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
}

/// IncrementalAlterConfigs SET on the GROUP resource (type 32).
async fn set_group_configs(c: &mut Client, group: &str, kv: &[(&str, &str)]) -> i16 {
    use incremental_alter_configs_request::{AlterConfigsResource, AlterableConfig};
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(32)
            .with_resource_name(s(group))
            .with_configs(
                kv.iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(s(k))
                            .with_config_operation(0)
                            .with_value(Some(s(v)))
                    })
                    .collect(),
            ),
    ]);
    let r: IncrementalAlterConfigsResponse =
        call(c, ApiKey::IncrementalAlterConfigs, 1, &req).await;
    r.responses[0].error_code
}

/// (first, last, types) acknowledgement batches.
type Acks<'a> = &'a [(i64, i64, &'a [i8])];

fn ack_batches(acks: Acks<'_>) -> Vec<AcknowledgementBatch> {
    acks.iter()
        .map(|(f, l, t)| {
            AcknowledgementBatch::default()
                .with_first_offset(*f)
                .with_last_offset(*l)
                .with_acknowledge_types(t.to_vec())
        })
        .collect()
}

async fn share_fetch(
    c: &mut Client,
    member: &str,
    epoch: i32,
    topic: Uuid,
    acks: Acks<'_>,
    max_wait_ms: i32,
) -> ShareFetchResponse {
    let req = ShareFetchRequest::default()
        .with_group_id(Some(GroupId(s("sg"))))
        .with_member_id(Some(s(member)))
        .with_share_session_epoch(epoch)
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_max_records(500)
        .with_batch_size(500)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![FetchPartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(ack_batches(acks))])]);
    call(c, ApiKey::ShareFetch, 1, &req).await
}

async fn share_ack(
    c: &mut Client,
    member: &str,
    epoch: i32,
    topic: Uuid,
    acks: Acks<'_>,
) -> ShareAcknowledgeResponse {
    let batches = acks
        .iter()
        .map(|(f, l, t)| {
            share_acknowledge_request::AcknowledgementBatch::default()
                .with_first_offset(*f)
                .with_last_offset(*l)
                .with_acknowledge_types(t.to_vec())
        })
        .collect();
    let req = ShareAcknowledgeRequest::default()
        .with_group_id(Some(GroupId(s("sg"))))
        .with_member_id(Some(s(member)))
        .with_share_session_epoch(epoch)
        .with_topics(vec![AcknowledgeTopic::default()
            .with_topic_id(topic)
            .with_partitions(vec![AcknowledgePartition::default()
                .with_partition_index(0)
                .with_acknowledgement_batches(batches)])]);
    call(c, ApiKey::ShareAcknowledge, 1, &req).await
}

/// (first, last, delivery count) of the single partition's AcquiredRecords.
fn acquired(r: &ShareFetchResponse) -> Vec<(i64, i64, i16)> {
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .flat_map(|p| p.acquired_records.iter())
        .map(|a| (a.first_offset, a.last_offset, a.delivery_count))
        .collect()
}

fn part(r: &ShareFetchResponse) -> &share_fetch_response::PartitionData {
    &r.responses[0].partitions[0]
}

/// Record base offsets of the batches in a Records field (walks batch headers).
fn batch_offsets(records: &[u8]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 61 <= records.len() {
        let base = i64::from_be_bytes(records[at..at + 8].try_into().unwrap());
        let len = i32::from_be_bytes(records[at + 8..at + 12].try_into().unwrap()) as usize;
        let delta = i32::from_be_bytes(records[at + 23..at + 27].try_into().unwrap()) as i64;
        out.push((base, base + delta));
        at += 12 + len;
    }
    out
}

const ACCEPT: i8 = 1;
const RELEASE: i8 = 2;
const REJECT: i8 = 3;

#[tokio::test]
async fn share_fetch_acquires_acknowledges_and_redelivers() {
    let b = harness::start().await;
    let mut admin = b.connect().await;
    let topic = create_topic(&mut admin, "sq", 1).await;
    // Out of Kafka's bounds (15000–60000): refused.
    assert_eq!(
        set_group_configs(
            &mut admin,
            "sg",
            &[("share.record.lock.duration.ms", "1000")]
        )
        .await,
        40
    );
    assert_eq!(
        set_group_configs(
            &mut admin,
            "sg",
            &[
                ("share.auto.offset.reset", "earliest"),
                ("share.record.lock.duration.ms", "15000")
            ]
        )
        .await,
        0
    );
    produce(&mut admin, "sq", &[b"a", b"b", b"c"]).await;
    produce(&mut admin, "sq", &[b"d", b"e"]).await;

    let mut a = b.connect().await;
    let mut bm = b.connect().await;
    let r = share_fetch(&mut a, "member-a", 0, topic, &[], 0).await;
    assert_eq!(r.acquisition_lock_timeout_ms, 15000);
    assert_eq!(acquired(&r), vec![(0, 4, 1)]);
    let records = part(&r).records.clone().unwrap();
    assert_eq!(batch_offsets(&records), vec![(0, 2), (3, 4)]);
    assert_eq!(part(&r).current_leader.leader_id, 0);

    // B opens its own session: nothing is left to acquire.
    let r = share_fetch(&mut bm, "member-b", 0, topic, &[], 0).await;
    assert_eq!(acquired(&r), vec![]);
    // B cannot acknowledge A's records: INVALID_RECORD_STATE, nothing changes.
    let r = share_fetch(&mut bm, "member-b", 1, topic, &[(0, 0, &[ACCEPT])], 0).await;
    assert_eq!(part(&r).acknowledge_error_code, 121);

    // A accepts 0..=2 and releases 3..=4 in one request; the release is acquired again at
    // once, with delivery count 2.
    let r = share_fetch(
        &mut a,
        "member-a",
        1,
        topic,
        &[(0, 2, &[ACCEPT]), (3, 4, &[RELEASE])],
        0,
    )
    .await;
    assert_eq!(part(&r).acknowledge_error_code, 0);
    assert_eq!(acquired(&r), vec![(3, 4, 2)]);
    assert_eq!(
        batch_offsets(part(&r).records.as_ref().unwrap()),
        vec![(3, 4)]
    );

    // Standalone acknowledgement: reject 3, accept 4 (one type per offset).
    let r = share_ack(&mut a, "member-a", 2, topic, &[(3, 4, &[REJECT, ACCEPT])]).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    // Both are complete, the start offset moved past them: acknowledging them again is
    // ignored, as Kafka ignores acknowledgements below the start offset.
    let r = share_ack(&mut a, "member-a", 3, topic, &[(4, 4, &[ACCEPT])]).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    // Nothing is redelivered: the rejected record is gone for good.
    let r = share_fetch(&mut bm, "member-b", 2, topic, &[], 0).await;
    assert_eq!(acquired(&r), vec![]);

    // Session errors are top-level.
    let r = share_fetch(&mut a, "member-a", 9, topic, &[], 0).await;
    assert_eq!(r.error_code, 123);
    let r = share_fetch(&mut a, "nobody", 1, topic, &[], 0).await;
    assert_eq!(r.error_code, 122);
    let r = share_fetch(&mut a, "member-a", 0, topic, &[(0, 0, &[ACCEPT])], 0).await;
    assert_eq!(r.error_code, 42);
    let r = share_ack(&mut a, "member-a", 0, topic, &[(0, 0, &[ACCEPT])]).await;
    assert_eq!(r.error_code, 123);
    // An unknown acknowledge type: INVALID_REQUEST for that partition.
    let r = share_ack(&mut a, "member-a", 4, topic, &[(0, 0, &[9])]).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 42);
    // An unknown topic id: UNKNOWN_TOPIC_ID on the partition.
    let r = share_fetch(&mut bm, "member-b", 0, Uuid::from_u128(99), &[], 0).await;
    assert_eq!(part(&r).error_code, 100);
}

#[tokio::test]
async fn final_epoch_and_disconnect_release_and_acks_survive_restart() {
    let b = harness::start().await;
    let mut admin = b.connect().await;
    let topic = create_topic(&mut admin, "sq2", 1).await;
    assert_eq!(
        set_group_configs(&mut admin, "sg", &[("share.auto.offset.reset", "earliest")]).await,
        0
    );
    produce(&mut admin, "sq2", &[b"a", b"b", b"c", b"d", b"e"]).await;

    // A acquires everything and closes its session (FINAL) accepting 0..=1: 2..=4 go back.
    let mut a = b.connect().await;
    assert_eq!(
        acquired(&share_fetch(&mut a, "a", 0, topic, &[], 0).await),
        vec![(0, 4, 1)]
    );
    let r = share_ack(&mut a, "a", -1, topic, &[(0, 1, &[ACCEPT])]).await;
    assert_eq!(r.responses[0].partitions[0].error_code, 0);
    // The session is gone.
    assert_eq!(
        share_fetch(&mut a, "a", 1, topic, &[], 0).await.error_code,
        122
    );

    // B gets the released records, then its connection drops without a word.
    let mut bm = b.connect().await;
    assert_eq!(
        acquired(&share_fetch(&mut bm, "b", 0, topic, &[], 0).await),
        vec![(2, 4, 2)]
    );
    drop(bm);
    // C gets them back once the broker saw the disconnect (well before the 30 s lock).
    let mut cm = b.connect().await;
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut epoch = 0;
    let got = loop {
        let r = share_fetch(&mut cm, "c", epoch, topic, &[], 100).await;
        epoch += 1;
        let got = acquired(&r);
        if !got.is_empty() || Instant::now() > deadline {
            break got;
        }
    };
    assert_eq!(got, vec![(2, 4, 3)]);
    // C accepts 2; restart: 3..=4 come back (acquisitions are not durable, acks are) with the
    // delivery count persisted at the last write.
    let r = share_fetch(&mut cm, "c", epoch, topic, &[(2, 2, &[ACCEPT])], 0).await;
    assert_eq!(part(&r).acknowledge_error_code, 0);
    drop(cm);
    drop(a);
    drop(admin);
    let b = b.restart().await;
    let mut d = b.connect().await;
    let got = acquired(&share_fetch(&mut d, "d", 0, topic, &[], 0).await);
    assert_eq!(got.first().map(|g| (g.0, g.1)), Some((3, 4)));
    assert!(got[0].2 >= 3, "delivery count {got:?}");
}

#[tokio::test]
async fn share_fetch_long_polls_until_a_produce() {
    let b = harness::start().await;
    let mut admin = b.connect().await;
    let topic = create_topic(&mut admin, "sq3", 1).await;
    let mut a = b.connect().await;
    // Default reset is latest: the empty partition starts at 0 anyway.
    let started = Instant::now();
    let waiter = tokio::spawn(async move {
        let r = share_fetch(&mut a, "a", 0, topic, &[], 5000).await;
        // `a` comes back: dropping its connection would release its records.
        (acquired(&r), started.elapsed(), a)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    produce(&mut admin, "sq3", &[b"x"]).await;
    let (got, took, _a) = waiter.await.unwrap();
    assert_eq!(got, vec![(0, 0, 1)]);
    assert!(took < Duration::from_secs(4), "took {took:?}");
    // With nothing to acquire, max_wait_ms is honoured.
    let mut c = b.connect().await;
    let t = Instant::now();
    let r = share_fetch(&mut c, "c", 0, topic, &[], 300).await;
    assert_eq!(acquired(&r), vec![]);
    assert!(t.elapsed() >= Duration::from_millis(250));
}
