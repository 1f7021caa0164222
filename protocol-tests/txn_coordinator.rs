//! Transactions (protocol v1) through the request handlers of an in-process broker: the error
//! codes each request version gets (PRODUCER_FENCED against the INVALID_PRODUCER_EPOCH older
//! clients know, INVALID_TXN_STATE against TRANSACTION_ABORTABLE for Produce), Produce only to
//! partitions added to the transaction, read_committed bounded by the last stable offset
//! until the marker, transactional offsets unstable until the commit, and the coordinator's
//! state surviving a restart.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};
use runnel::handlers::{dispatch, Reply, RequestContext};
use runnel::kafka_error::KafkaError;

use crate::harness::{self, TestBroker};

fn ctx(key: ApiKey, v: i16) -> RequestContext {
    RequestContext {
        api_key: key,
        api_version: v,
        correlation_id: 1,
        client_id: "txn-test".into(),
        client_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        principal: std::sync::Arc::new(runnel::security::Principal::anonymous()),
        listener: "PLAINTEXT".into(),
        connection_id: 0,
    }
}

async fn call(b: &TestBroker, key: ApiKey, v: i16, req: RequestKind) -> ResponseKind {
    let broker = &b.running.as_ref().unwrap().broker;
    match dispatch(broker, &ctx(key, v), req).await {
        Reply::Respond(r) => *r,
        other => panic!("{key:?}: {other:?}"),
    }
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

async fn create(b: &TestBroker, name: &str, partitions: i32) {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(1)]);
    let ResponseKind::CreateTopics(r) =
        call(b, ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req)).await
    else {
        panic!()
    };
    assert_eq!(r.topics[0].error_code, 0);
}

/// InitProducerId at version `v`: (error, producer id, epoch).
async fn init(b: &TestBroker, v: i16, txn: &str, expected: (i64, i16)) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(txn))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(expected.0))
        .with_producer_epoch(expected.1);
    let ResponseKind::InitProducerId(r) = call(
        b,
        ApiKey::InitProducerId,
        v,
        RequestKind::InitProducerId(req),
    )
    .await
    else {
        panic!()
    };
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

async fn add_partitions(
    b: &TestBroker,
    v: i16,
    txn: &str,
    pe: (i64, i16),
    topic: &str,
    p: &[i32],
) -> Vec<i16> {
    let req = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(txn)))
        .with_v3_and_below_producer_id(ProducerId(pe.0))
        .with_v3_and_below_producer_epoch(pe.1)
        .with_v3_and_below_topics(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(p.to_vec()),
        ]);
    let ResponseKind::AddPartitionsToTxn(r) = call(
        b,
        ApiKey::AddPartitionsToTxn,
        v,
        RequestKind::AddPartitionsToTxn(req),
    )
    .await
    else {
        panic!()
    };
    r.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect()
}

async fn end_txn(b: &TestBroker, v: i16, txn: &str, pe: (i64, i16), commit: bool) -> i16 {
    let req = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(txn)))
        .with_producer_id(ProducerId(pe.0))
        .with_producer_epoch(pe.1)
        .with_committed(commit);
    let ResponseKind::EndTxn(r) = call(b, ApiKey::EndTxn, v, RequestKind::EndTxn(req)).await else {
        panic!()
    };
    r.error_code
}

fn batch(pe: (i64, i16), seq: i32, n: i32) -> Bytes {
    batch_of(pe, seq, n, true)
}

fn batch_of(pe: (i64, i16), seq: i32, n: i32, transactional: bool) -> Bytes {
    let records: Vec<Record> = (0..n)
        .map(|i| Record {
            transactional,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: 0,
            producer_id: pe.0,
            producer_epoch: pe.1,
            timestamp_type: TimestampType::Creation,
            offset: i64::from(i),
            sequence: seq + i,
            timestamp: 1_700_000_000_000,
            key: None,
            value: Some(Bytes::from(format!("v{}", seq + i))),
            headers: Default::default(),
        })
        .collect();
    let mut out = BytesMut::new();
    let opts = RecordEncodeOptions {
        version: 2,
        compression: Compression::None,
    };
    RecordBatchEncoder::encode(&mut out, &records, &opts).unwrap();
    out.freeze()
}

/// Produce at version `v` of one batch to partition 0 (`txn` "": no transactional id): the
/// error code.
async fn produce(b: &TestBroker, v: i16, txn: &str, topic: &str, records: Bytes) -> i16 {
    let req = ProduceRequest::default()
        .with_transactional_id((!txn.is_empty()).then(|| TransactionalId(s(txn))))
        .with_acks(-1)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(records)),
            ])]);
    let ResponseKind::Produce(r) = call(b, ApiKey::Produce, v, RequestKind::Produce(req)).await
    else {
        panic!()
    };
    r.responses[0].partition_responses[0].error_code
}

/// Fetch v11 of partition 0 from offset 0: (error, high watermark, last stable offset,
/// aborted transactions, record bytes inline plus file slices).
async fn fetch(
    b: &TestBroker,
    topic: &str,
    isolation: i8,
) -> (i16, i64, i64, Option<usize>, usize) {
    let req = FetchRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_max_wait_ms(0)
        .with_min_bytes(0)
        .with_max_bytes(1 << 20)
        .with_isolation_level(isolation)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let broker = &b.running.as_ref().unwrap().broker;
    let r = runnel::handlers::fetch::handle(broker, &ctx(ApiKey::Fetch, 11), req).await;
    let p = &r.response.responses[0].partitions[0];
    (
        p.error_code,
        p.high_watermark,
        p.last_stable_offset,
        p.aborted_transactions.as_ref().map(|a| a.len()),
        // Record bytes: inline, or slices of segment files sent with sendfile.
        p.records.as_ref().map_or(0, |r| r.len()) + r.files.len(),
    )
}

async fn state(b: &TestBroker, txn: &str) -> String {
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(s(txn))]);
    let ResponseKind::DescribeTransactions(r) = call(
        b,
        ApiKey::DescribeTransactions,
        0,
        RequestKind::DescribeTransactions(req),
    )
    .await
    else {
        panic!()
    };
    r.transaction_states[0].transaction_state.to_string()
}

async fn settle(b: &TestBroker, txn: &str, want: &str) {
    for _ in 0..200 {
        if state(b, txn).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("{txn} never reached {want}");
}

#[tokio::test]
async fn produce_needs_the_partition_in_the_transaction_and_read_committed_waits_for_the_marker() {
    let b = harness::start().await;
    create(&b, "t", 2).await;
    let (code, pid, epoch) = init(&b, 4, "tx", (-1, -1)).await;
    assert_eq!((code, epoch), (0, 0));
    let pe = (pid, epoch);
    // Not added yet: INVALID_TXN_STATE up to Produce v10, TRANSACTION_ABORTABLE from v11.
    assert_eq!(
        produce(&b, 9, "tx", "t", batch(pe, 0, 3)).await,
        KafkaError::InvalidTxnState.code()
    );
    assert_eq!(
        produce(&b, 11, "tx", "t", batch(pe, 0, 3)).await,
        KafkaError::TransactionAbortable.code()
    );
    // A missing partition fails the whole AddPartitionsToTxn.
    assert_eq!(
        add_partitions(&b, 3, "tx", pe, "t", &[0, 7]).await,
        vec![
            KafkaError::OperationNotAttempted.code(),
            KafkaError::UnknownTopicOrPartition.code()
        ]
    );
    assert_eq!(add_partitions(&b, 3, "tx", pe, "t", &[0]).await, vec![0]);
    assert_eq!(produce(&b, 9, "tx", "t", batch(pe, 0, 3)).await, 0);
    // A transactional batch without the transactional id, or a plain one with it, is refused.
    assert_eq!(
        produce(&b, 9, "", "t", batch(pe, 3, 1)).await,
        KafkaError::InvalidRecord.code()
    );
    assert_eq!(
        produce(&b, 9, "tx", "t", batch_of(pe, 3, 1, false)).await,
        KafkaError::InvalidRecord.code()
    );
    let (hw, lso) = {
        let (code, hw, lso, aborted, bytes) = fetch(&b, "t", 1).await;
        assert_eq!(
            (code, aborted, bytes),
            (0, Some(0), 0),
            "read_committed sees nothing yet"
        );
        (hw, lso)
    };
    assert_eq!((hw, lso), (3, 0));
    let (_, _, _, aborted, bytes) = fetch(&b, "t", 0).await;
    assert!(
        bytes > 0,
        "read_uncommitted sees the open transaction's records"
    );
    assert_eq!(aborted, None, "no aborted list for read_uncommitted");
    assert_eq!(end_txn(&b, 1, "tx", pe, true).await, 0);
    settle(&b, "tx", "CompleteCommit").await;
    let (code, hw, lso, _, bytes) = fetch(&b, "t", 1).await;
    assert_eq!(
        (code, hw, lso),
        (0, 4, 4),
        "records and the commit marker are stable"
    );
    assert!(bytes > 0);
    // A retried EndTxn is answered without a second marker; an abort now is invalid.
    assert_eq!(end_txn(&b, 1, "tx", pe, true).await, 0);
    assert_eq!(
        end_txn(&b, 1, "tx", pe, false).await,
        KafkaError::InvalidTxnState.code()
    );
    assert_eq!(fetch(&b, "t", 1).await.1, 4);
}

#[tokio::test]
async fn fencing_codes_follow_the_request_version_and_the_state_survives_a_restart() {
    let b = harness::start().await;
    create(&b, "f", 1).await;
    let (_, pid, e0) = init(&b, 4, "fx", (-1, -1)).await;
    assert_eq!(
        add_partitions(&b, 3, "fx", (pid, e0), "f", &[0]).await,
        vec![0]
    );
    assert_eq!(produce(&b, 9, "fx", "f", batch((pid, e0), 0, 2)).await, 0);
    // A second producer: its open transaction is aborted first (CONCURRENT_TRANSACTIONS),
    // then it gets an epoch above the fencing one.
    let mut got = (KafkaError::ConcurrentTransactions.code(), -1, -1);
    for _ in 0..200 {
        got = init(&b, 4, "fx", (-1, -1)).await;
        if got.0 != KafkaError::ConcurrentTransactions.code() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(got, (0, pid, 2));
    // The old producer: EndTxn v1 gets INVALID_PRODUCER_EPOCH, v2+ PRODUCER_FENCED; its
    // late batch INVALID_PRODUCER_EPOCH (never the fatal PRODUCER_FENCED).
    assert_eq!(
        end_txn(&b, 1, "fx", (pid, e0), true).await,
        KafkaError::InvalidProducerEpoch.code()
    );
    assert_eq!(
        end_txn(&b, 3, "fx", (pid, e0), true).await,
        KafkaError::ProducerFenced.code()
    );
    assert_eq!(
        produce(&b, 9, "fx", "f", batch((pid, e0), 2, 1)).await,
        KafkaError::InvalidProducerEpoch.code()
    );
    // KIP-360 with a stale epoch: INVALID_PRODUCER_EPOCH below v4, PRODUCER_FENCED from v4.
    assert_eq!(
        init(&b, 3, "fx", (pid, e0)).await.0,
        KafkaError::InvalidProducerEpoch.code()
    );
    assert_eq!(
        init(&b, 4, "fx", (pid, e0)).await.0,
        KafkaError::ProducerFenced.code()
    );
    // The aborted records are invisible to read_committed; the abort marker is stable.
    let (_, hw, lso, aborted, _) = fetch(&b, "f", 1).await;
    assert_eq!((hw, lso, aborted), (3, 3, Some(1)));
    // An open transaction at shutdown is still open after the restart (its timeout aborts
    // it later), with the same producer id and epoch.
    assert_eq!(
        add_partitions(&b, 3, "fx", (pid, 2), "f", &[0]).await,
        vec![0]
    );
    let b = b.restart().await;
    assert_eq!(state(&b, "fx").await, "Ongoing");
    assert_eq!(end_txn(&b, 3, "fx", (pid, 2), false).await, 0);
    settle(&b, "fx", "CompleteAbort").await;
}

#[tokio::test]
async fn an_empty_transactional_id_is_an_invalid_request() {
    let b = harness::start().await;
    let (code, pid, epoch) = init(&b, 4, "", (-1, -1)).await;
    assert_eq!(
        (code, pid, epoch),
        (KafkaError::InvalidRequest.code(), -1, -1)
    );
}
