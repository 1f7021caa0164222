//! The admin APIs tools and UIs call (DescribeTopicPartitions, DescribeLogDirs,
//! AlterReplicaLogDirs, DescribeProducers, ElectLeaders, Alter/ListPartitionReassignments),
//! authorized operations in Metadata, FindCoordinator's success message, JoinGroup with a
//! zero rebalance timeout, and the per-topic traffic series on `/metrics`.
//!
//! Requests are encoded with `kafka-protocol` as a client would and sent over TCP to a broker
//! on port 0; responses are decoded at the request's version and their values asserted.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use runnel::config::Config;

use crate::harness::{self, call, create_topic, s, Client};
use crate::wire::record_batch;

fn tn(v: &str) -> TopicName {
    TopicName(s(v))
}

/// Produce v9 of one batch to `topic`/`partition`; returns (error, base offset).
async fn produce(c: &mut Client, topic: &str, partition: i32, batch: Vec<u8>) -> (i16, i64) {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(tn(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(Bytes::from(batch))),
            ])]);
    let r: ProduceResponse = call(c, ApiKey::Produce, 9, &req).await;
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// `record_batch` with an idempotent producer's id, epoch and base sequence (CRC redone).
fn idempotent_batch(values: &[&[u8]], ts: i64, pid: i64, epoch: i16, seq: i32) -> Vec<u8> {
    let mut b = record_batch(values, ts);
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

#[tokio::test]
async fn describe_topic_partitions_paginates_with_a_cursor_and_reports_empty_elr() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create_topic(&mut c, "dtp-a", 3).await;
    create_topic(&mut c, "dtp-b", 2).await;
    let page = |cursor: Option<(&str, i32)>| {
        DescribeTopicPartitionsRequest::default()
            .with_response_partition_limit(2)
            .with_cursor(cursor.map(|(t, p)| {
                describe_topic_partitions_request::Cursor::default()
                    .with_topic_name(tn(t))
                    .with_partition_index(p)
            }))
    };
    let seen = |r: &DescribeTopicPartitionsResponse| -> Vec<(String, i32)> {
        r.topics
            .iter()
            .flat_map(|t| {
                let name = t.name.as_ref().unwrap().0.to_string();
                t.partitions
                    .iter()
                    .map(move |p| (name.clone(), p.partition_index))
            })
            .collect()
    };
    let next = |r: &DescribeTopicPartitionsResponse| {
        r.next_cursor
            .as_ref()
            .map(|c| (c.topic_name.0.to_string(), c.partition_index))
    };
    // Empty topic list = every topic, two partitions per page.
    let r: DescribeTopicPartitionsResponse =
        call(&mut c, ApiKey::DescribeTopicPartitions, 0, &page(None)).await;
    assert_eq!(seen(&r), vec![("dtp-a".into(), 0), ("dtp-a".into(), 1)]);
    assert_eq!(next(&r), Some(("dtp-a".into(), 2)));
    let t = &r.topics[0];
    assert_eq!(t.error_code, 0);
    assert!(!t.topic_id.is_nil());
    assert_eq!(t.topic_authorized_operations, 3576);
    for p in &t.partitions {
        assert_eq!(p.error_code, 0);
        assert_eq!(p.leader_id, BrokerId(0));
        assert_eq!(p.leader_epoch, 0);
        assert_eq!(p.replica_nodes, vec![BrokerId(0)]);
        assert_eq!(p.isr_nodes, vec![BrokerId(0)]);
        assert_eq!(
            p.eligible_leader_replicas,
            Some(vec![]),
            "ELR is a list, not N/A"
        );
        assert_eq!(p.last_known_elr, Some(vec![]));
        assert!(p.offline_replicas.is_empty());
    }
    let r: DescribeTopicPartitionsResponse = call(
        &mut c,
        ApiKey::DescribeTopicPartitions,
        0,
        &page(Some(("dtp-a", 2))),
    )
    .await;
    assert_eq!(seen(&r), vec![("dtp-a".into(), 2), ("dtp-b".into(), 0)]);
    assert_eq!(next(&r), Some(("dtp-b".into(), 1)));
    let r: DescribeTopicPartitionsResponse = call(
        &mut c,
        ApiKey::DescribeTopicPartitions,
        0,
        &page(Some(("dtp-b", 1))),
    )
    .await;
    assert_eq!(seen(&r), vec![("dtp-b".into(), 1)]);
    assert_eq!(next(&r), None);

    // Named topics: an unknown one answers UNKNOWN_TOPIC_OR_PARTITION.
    let req = DescribeTopicPartitionsRequest::default()
        .with_response_partition_limit(2000)
        .with_topics(vec![
            describe_topic_partitions_request::TopicRequest::default().with_name(tn("nope")),
            describe_topic_partitions_request::TopicRequest::default().with_name(tn("dtp-b")),
        ]);
    let r: DescribeTopicPartitionsResponse =
        call(&mut c, ApiKey::DescribeTopicPartitions, 0, &req).await;
    let codes: Vec<_> = r
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().unwrap().0.to_string(),
                t.error_code,
                t.partitions.len(),
            )
        })
        .collect();
    assert_eq!(codes, vec![("dtp-b".into(), 0, 2), ("nope".into(), 3, 0)]);
}

#[tokio::test]
async fn describe_log_dirs_reports_partition_sizes_after_producing() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create_topic(&mut c, "sizes", 2).await;
    let (err, _) = produce(
        &mut c,
        "sizes",
        1,
        record_batch(&[b"hello", b"world"], 1_700_000_000_000),
    )
    .await;
    assert_eq!(err, 0);
    let r: DescribeLogDirsResponse = call(
        &mut c,
        ApiKey::DescribeLogDirs,
        4,
        &DescribeLogDirsRequest::default().with_topics(None),
    )
    .await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.results.len(), 1, "one log directory");
    let dir = &r.results[0];
    assert_eq!(dir.error_code, 0);
    let expected = b.dir.path().join("logs");
    assert_eq!(dir.log_dir.as_str(), expected.to_str().unwrap());
    assert!(dir.total_bytes > 0 && dir.usable_bytes >= 0 && dir.usable_bytes <= dir.total_bytes);
    let t = dir
        .topics
        .iter()
        .find(|t| t.name.0.as_str() == "sizes")
        .unwrap();
    let sizes: Vec<_> = t
        .partitions
        .iter()
        .map(|p| {
            (
                p.partition_index,
                p.partition_size,
                p.offset_lag,
                p.is_future_key,
            )
        })
        .collect();
    assert_eq!(sizes.len(), 2);
    let written = record_batch(&[b"hello", b"world"], 1_700_000_000_000).len() as i64;
    assert_eq!(sizes[0], (0, 0, 0, false));
    assert_eq!(sizes[1], (1, written, 0, false));

    // v1 with a named partition: only that one; unknown partitions are left out.
    let req = DescribeLogDirsRequest::default().with_topics(Some(vec![
        describe_log_dirs_request::DescribableLogDirTopic::default()
            .with_topic(tn("sizes"))
            .with_partitions(vec![1, 9]),
    ]));
    let r: DescribeLogDirsResponse = call(&mut c, ApiKey::DescribeLogDirs, 1, &req).await;
    let t = &r.results[0].topics;
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].partitions.len(), 1);
    assert_eq!(t[0].partitions[0].partition_size, written);

    // AlterReplicaLogDirs: to the single log dir succeeds; anything else is not a log dir.
    let alter = |path: &str, partitions: Vec<i32>| {
        AlterReplicaLogDirsRequest::default().with_dirs(vec![
            alter_replica_log_dirs_request::AlterReplicaLogDir::default()
                .with_path(s(path))
                .with_topics(vec![
                    alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
                        .with_name(tn("sizes"))
                        .with_partitions(partitions),
                ]),
        ])
    };
    let r: AlterReplicaLogDirsResponse = call(
        &mut c,
        ApiKey::AlterReplicaLogDirs,
        2,
        &alter(dir.log_dir.as_str(), vec![0, 1, 5]),
    )
    .await;
    let got: Vec<_> = r.results[0]
        .partitions
        .iter()
        .map(|p| (p.partition_index, p.error_code))
        .collect();
    assert_eq!(r.results[0].topic_name.0.as_str(), "sizes");
    assert_eq!(got, vec![(0, 0), (1, 0), (5, 3)]);
    let r: AlterReplicaLogDirsResponse = call(
        &mut c,
        ApiKey::AlterReplicaLogDirs,
        1,
        &alter("/elsewhere", vec![0]),
    )
    .await;
    assert_eq!(
        r.results[0].partitions[0].error_code, 57,
        "LOG_DIR_NOT_FOUND"
    );
}

#[tokio::test]
async fn describe_producers_shows_the_idempotent_producers_state() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create_topic(&mut c, "prod", 1).await;
    let r: InitProducerIdResponse = call(
        &mut c,
        ApiKey::InitProducerId,
        4,
        &InitProducerIdRequest::default()
            .with_transactional_id(None) // an idempotent producer sends null
            .with_transaction_timeout_ms(60_000)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1),
    )
    .await;
    assert_eq!(r.error_code, 0);
    let (pid, epoch) = (r.producer_id.0, r.producer_epoch);
    let ts = 1_700_000_000_000;
    let (e, _) = produce(
        &mut c,
        "prod",
        0,
        idempotent_batch(&[b"a", b"b", b"c"], ts, pid, epoch, 0),
    )
    .await;
    assert_eq!(e, 0);
    let (e, base) = produce(
        &mut c,
        "prod",
        0,
        idempotent_batch(&[b"d", b"e"], ts + 5, pid, epoch, 3),
    )
    .await;
    assert_eq!((e, base), (0, 3));
    let req = DescribeProducersRequest::default().with_topics(vec![
        describe_producers_request::TopicRequest::default()
            .with_name(tn("prod"))
            .with_partition_indexes(vec![0, 4]),
        describe_producers_request::TopicRequest::default()
            .with_name(tn("missing"))
            .with_partition_indexes(vec![0]),
    ]);
    let r: DescribeProducersResponse = call(&mut c, ApiKey::DescribeProducers, 0, &req).await;
    let p0 = &r.topics[0].partitions[0];
    assert_eq!((p0.partition_index, p0.error_code), (0, 0));
    assert_eq!(p0.active_producers.len(), 1);
    let st = &p0.active_producers[0];
    assert_eq!(st.producer_id.0, pid);
    assert_eq!(st.producer_epoch, i32::from(epoch));
    assert_eq!(st.last_sequence, 4);
    assert_eq!(st.last_timestamp, ts + 5);
    assert_eq!(st.coordinator_epoch, -1);
    assert_eq!(st.current_txn_start_offset, -1);
    let p4 = &r.topics[0].partitions[1];
    assert_eq!((p4.partition_index, p4.error_code), (4, 3));
    let missing = &r.topics[1].partitions[0];
    assert_eq!(missing.error_code, 3);
    assert!(missing.error_message.is_some());
}

#[tokio::test]
async fn elect_leaders_is_not_needed_on_a_single_broker() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create_topic(&mut c, "el", 2).await;
    let req = |kind: i8, partitions: Option<Vec<i32>>| {
        ElectLeadersRequest::default()
            .with_election_type(kind)
            .with_timeout_ms(5000)
            .with_topic_partitions(partitions.map(|p| {
                vec![elect_leaders_request::TopicPartitions::default()
                    .with_topic(tn("el"))
                    .with_partitions(p)]
            }))
    };
    for (v, kind) in [(0, 0), (1, 0), (2, 0), (2, 1)] {
        let r: ElectLeadersResponse = call(
            &mut c,
            ApiKey::ElectLeaders,
            v,
            &req(kind, Some(vec![0, 1, 7])),
        )
        .await;
        assert_eq!(r.error_code, 0);
        let got: Vec<_> = r.replica_election_results[0]
            .partition_result
            .iter()
            .map(|p| (p.partition_id, p.error_code))
            .collect();
        assert_eq!(got, vec![(0, 84), (1, 84), (7, 3)], "v{v} type {kind}");
        let msg = r.replica_election_results[0].partition_result[0]
            .error_message
            .clone();
        assert_eq!(
            msg.as_deref(),
            Some("Leader election not needed for topic partition.")
        );
    }
    // All partitions: results leave out the ones that needed no election.
    let r: ElectLeadersResponse = call(&mut c, ApiKey::ElectLeaders, 2, &req(0, None)).await;
    assert_eq!(r.error_code, 0);
    let el = r
        .replica_election_results
        .iter()
        .find(|t| t.topic.0.as_str() == "el")
        .unwrap();
    assert!(el.partition_result.is_empty());
    // Unknown election type.
    let r: ElectLeadersResponse =
        call(&mut c, ApiKey::ElectLeaders, 2, &req(5, Some(vec![0]))).await;
    assert_eq!(r.error_code, 42);
    assert_eq!(
        r.replica_election_results[0].partition_result[0].error_code,
        42
    );
}

#[tokio::test]
async fn partition_reassignment_to_this_node_succeeds_and_others_are_refused() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create_topic(&mut c, "ra", 1).await;
    let req = |topic: &str, partition: i32, replicas: Option<Vec<i32>>| {
        AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![
                alter_partition_reassignments_request::ReassignableTopic::default()
                    .with_name(tn(topic))
                    .with_partitions(vec![
                        alter_partition_reassignments_request::ReassignablePartition::default()
                            .with_partition_index(partition)
                            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect())),
                    ]),
            ])
    };
    for (v, topic, partition, replicas, code) in [
        (0, "ra", 0, Some(vec![0]), 0),
        (1, "ra", 0, Some(vec![0]), 0),
        (0, "ra", 0, Some(vec![1]), 39),
        (0, "ra", 0, Some(vec![0, 0]), 39),
        (0, "ra", 0, Some(vec![]), 39),
        (0, "ra", 0, None, 85),
        (0, "ra", 3, Some(vec![0]), 3),
        (0, "nope", 0, Some(vec![0]), 3),
    ] {
        let r: AlterPartitionReassignmentsResponse = call(
            &mut c,
            ApiKey::AlterPartitionReassignments,
            v,
            &req(topic, partition, replicas.clone()),
        )
        .await;
        assert_eq!(r.error_code, 0);
        assert_eq!(r.error_message, None);
        let p = &r.responses[0].partitions[0];
        assert_eq!(
            p.error_code, code,
            "{topic}-{partition} → {replicas:?}: {:?}",
            p.error_message
        );
        assert_eq!(p.error_message.is_some(), code != 0);
    }
    // Nothing is left in progress.
    for topics in [
        None,
        Some(vec![
            list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                .with_name(tn("ra"))
                .with_partition_indexes(vec![0]),
        ]),
    ] {
        let r: ListPartitionReassignmentsResponse = call(
            &mut c,
            ApiKey::ListPartitionReassignments,
            0,
            &ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(5000)
                .with_topics(topics),
        )
        .await;
        assert_eq!(r.error_code, 0);
        assert!(r.topics.is_empty());
    }
    // The partition still has this node as leader and only replica, epoch unchanged.
    let m: MetadataResponse = call(
        &mut c,
        ApiKey::Metadata,
        12,
        &MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(tn("ra"))),
        ])),
    )
    .await;
    let p = &m.topics[0].partitions[0];
    assert_eq!((p.leader_id, p.leader_epoch), (BrokerId(0), 0));
    assert_eq!(p.replica_nodes, vec![BrokerId(0)]);
}

#[tokio::test]
async fn metadata_answers_authorized_operations_when_asked() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create_topic(&mut c, "ops", 1).await;
    let req = |cluster: bool, topic: bool| {
        MetadataRequest::default()
            .with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(tn("ops"))),
                metadata_request::MetadataRequestTopic::default().with_name(Some(tn("no-such"))),
            ]))
            .with_allow_auto_topic_creation(false)
            .with_include_cluster_authorized_operations(cluster)
            .with_include_topic_authorized_operations(topic)
    };
    let r: MetadataResponse = call(&mut c, ApiKey::Metadata, 10, &req(true, true)).await;
    assert_eq!(r.cluster_authorized_operations, 8096);
    assert_eq!(r.topics[0].topic_authorized_operations, 3576);
    assert_eq!(r.topics[1].error_code, 3);
    assert_eq!(r.topics[1].topic_authorized_operations, 3576);
    let r: MetadataResponse = call(&mut c, ApiKey::Metadata, 10, &req(false, false)).await;
    assert_eq!(r.cluster_authorized_operations, i32::MIN);
    assert_eq!(r.topics[0].topic_authorized_operations, i32::MIN);
    let r: MetadataResponse = call(&mut c, ApiKey::Metadata, 12, &req(false, true)).await;
    assert_eq!(r.topics[0].topic_authorized_operations, 3576);
}

#[tokio::test]
async fn find_coordinator_v1_to_v3_success_says_none() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    for v in 1..=3 {
        let r: FindCoordinatorResponse = call(
            &mut c,
            ApiKey::FindCoordinator,
            v,
            &FindCoordinatorRequest::default().with_key(s("g")),
        )
        .await;
        assert_eq!(r.error_code, 0);
        assert_eq!(r.error_message.as_deref(), Some("NONE"), "v{v}");
    }
}

#[tokio::test]
async fn join_group_with_zero_rebalance_timeout_completes_a_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        http_listen: String::new(),
        ..Config::default()
    };
    cfg.group.initial_rebalance_delay_ms = 0;
    let running = runnel::runtime::start(cfg).await.unwrap();
    let mut c = Client {
        stream: TcpStream::connect(running.kafka_addr).await.unwrap(),
    };
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("zero-rt")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(0)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(s("range"))
        .with_metadata(Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]))]);
    let j: JoinGroupResponse = call(&mut c, ApiKey::JoinGroup, 3, &join).await;
    assert_eq!(j.error_code, 0);
    assert_eq!(j.generation_id, 1);
    // A client takes a moment to compute its assignment; a zero timeout read literally would
    // already have expired the member.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s("zero-rt")))
        .with_generation_id(1)
        .with_member_id(j.member_id.clone())
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(j.member_id.clone())
                .with_assignment(Bytes::from_static(b"assignment")),
        ]);
    let r: SyncGroupResponse = call(&mut c, ApiKey::SyncGroup, 3, &sync).await;
    assert_eq!(r.error_code, 0);
    assert_eq!(r.assignment, Bytes::from_static(b"assignment"));
    let hb: HeartbeatResponse = call(
        &mut c,
        ApiKey::Heartbeat,
        3,
        &HeartbeatRequest::default()
            .with_group_id(GroupId(s("zero-rt")))
            .with_generation_id(1)
            .with_member_id(j.member_id),
    )
    .await;
    assert_eq!(hb.error_code, 0);
    running.shutdown().await;
}

async fn http_get(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(format!("GET {path} HTTP/1.1\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).await.unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

#[tokio::test]
async fn per_topic_traffic_series_on_metrics_and_removed_with_the_topic() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = Config {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        http_listen: "127.0.0.1:0".into(),
        ..Config::default()
    };
    let running = runnel::runtime::start(cfg).await.unwrap();
    let http = running.http_addr.unwrap();
    let mut c = Client {
        stream: TcpStream::connect(running.kafka_addr).await.unwrap(),
    };
    create_topic(&mut c, "traffic", 1).await;
    let batch = record_batch(&[b"one", b"two", b"three"], 1_700_000_000_000);
    let len = batch.len();
    assert_eq!(produce(&mut c, "traffic", 0, batch).await.0, 0);
    // A partition that does not exist: a request and a failure are counted on the topic.
    let bad = record_batch(&[b"x"], 1_700_000_000_000);
    assert_eq!(produce(&mut c, "traffic", 3, bad.clone()).await.0, 3);
    // A topic that does not exist gets no series.
    assert_eq!(produce(&mut c, "ghost", 0, bad).await.0, 3);
    let fetch = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(tn("traffic"))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let f: FetchResponse = call(&mut c, ApiKey::Fetch, 12, &fetch).await;
    assert_eq!(f.responses[0].partitions[0].error_code, 0);
    let m = http_get(http, "/metrics").await;
    for line in [
        format!("runnel_topic_bytes_in_total{{topic=\"traffic\"}} {len}"),
        "runnel_topic_records_in_total{topic=\"traffic\"} 3".to_string(),
        "runnel_topic_produce_requests_total{topic=\"traffic\"} 2".to_string(),
        // UNKNOWN_TOPIC_OR_PARTITION is not a failure in Kafka's count either.
        "runnel_topic_failed_produce_requests_total{topic=\"traffic\"} 0".to_string(),
        format!("runnel_topic_bytes_out_total{{topic=\"traffic\"}} {len}"),
        "runnel_topic_fetch_requests_total{topic=\"traffic\"} 1".to_string(),
    ] {
        assert!(m.contains(&line), "missing {line} in\n{m}");
    }
    assert!(!m.contains("topic=\"ghost\""), "{m}");
    let d: DeleteTopicsResponse = call(
        &mut c,
        ApiKey::DeleteTopics,
        4,
        &DeleteTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topic_names(vec![tn("traffic")]),
    )
    .await;
    assert_eq!(d.responses[0].error_code, 0);
    let m = http_get(http, "/metrics").await;
    assert!(
        !m.contains("runnel_topic_bytes_in_total{topic=\"traffic\"}"),
        "{m}"
    );
    assert!(
        !m.contains("runnel_topic_fetch_requests_total{topic=\"traffic\"}"),
        "{m}"
    );
    running.shutdown().await;
}
