//! A three-node cluster in one process (three `runtime::start`s, each with its own data dir,
//! Kafka port and controller port): the quorum forms, topics created through one broker are
//! placed on three brokers and visible the same from every broker, RF above the live
//! brokers is refused, DescribeQuorum answers, acks=all writes reach every replica's log
//! (followers fetch over the real Kafka port) before they are acknowledged, and a controlled
//! shutdown moves leaderships to replicas that hold every acknowledged record; with one
//! broker gone, a preferred election cannot pick it and `min.insync.replicas=3` refuses
//! acks=all writes (NOT_ENOUGH_REPLICAS). With a fourth, broker-only node: a reassignment
//! moves a replica (and the leadership) to it, the moved log holds every acknowledged record,
//! the removed broker's directory is gone, and a reassignment that cannot complete is listed
//! and cancelled. Consumer groups: the leader of the group's `__consumer_offsets` partition
//! coordinates it, and after it shuts down the new leader serves the same offsets and members.
//! Requests go through `dispatch` (the wire is covered by the other tests and by
//! `compat/run cluster`, which runs real processes and kills them).

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel::config::Config;
use runnel::handlers::{dispatch, Reply, RequestContext};
use runnel::kafka_error::KafkaError;
use runnel::runtime::Running;

fn ctx(key: ApiKey, v: i16) -> RequestContext {
    RequestContext {
        api_key: key,
        api_version: v,
        correlation_id: 7,
        client_id: "cluster-test".into(),
        client_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        principal: std::sync::Arc::new(runnel::security::Principal::anonymous()),
        listener: "PLAINTEXT".into(),
        connection_id: 0,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn call(node: &Running, key: ApiKey, v: i16, req: RequestKind) -> ResponseKind {
    match dispatch(&node.broker, &ctx(key, v), req).await {
        Reply::Respond(r) => *r,
        other => panic!("{key:?}: {other:?}"),
    }
}

async fn create(node: &Running, name: &str, partitions: i32, rf: i16) -> i16 {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(20_000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.into())))
            .with_num_partitions(partitions)
            .with_replication_factor(rf)]);
    match call(
        node,
        ApiKey::CreateTopics,
        7,
        RequestKind::CreateTopics(req),
    )
    .await
    {
        ResponseKind::CreateTopics(r) => r.topics[0].error_code,
        other => panic!("{other:?}"),
    }
}

/// (brokers, per partition (leader, replicas, isr)) of `topic` as `node` answers Metadata.
async fn metadata(node: &Running, topic: &str) -> (Vec<i32>, Vec<(i32, Vec<i32>, Vec<i32>)>) {
    let req = MetadataRequest::default()
        .with_topics(Some(vec![metadata_request::MetadataRequestTopic::default(
        )
        .with_name(Some(TopicName(StrBytes::from_string(topic.into()))))]));
    let ResponseKind::Metadata(r) =
        call(node, ApiKey::Metadata, 12, RequestKind::Metadata(req)).await
    else {
        panic!("not a Metadata response")
    };
    let mut brokers: Vec<i32> = r.brokers.iter().map(|b| b.node_id.0).collect();
    brokers.sort();
    let parts = r.topics[0]
        .partitions
        .iter()
        .map(|p| {
            (
                p.leader_id.0,
                p.replica_nodes.iter().map(|b| b.0).collect(),
                p.isr_nodes.iter().map(|b| b.0).collect(),
            )
        })
        .collect();
    (brokers, parts)
}

/// Produces `values` as one batch to `topic`/`partition` on `node` with `acks`; (error, base
/// offset).
async fn produce(
    node: &Running,
    topic: &str,
    partition: i32,
    acks: i16,
    values: &[&[u8]],
) -> (i16, i64) {
    let batch = crate::wire::record_batch(values, 1_700_000_000_000);
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(10_000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.into())))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(batch.into())),
            ])]);
    let ResponseKind::Produce(r) = call(node, ApiKey::Produce, 9, RequestKind::Produce(req)).await
    else {
        panic!("not a Produce response")
    };
    let p = &r.responses[0].partition_responses[0];
    (p.error_code, p.base_offset)
}

/// Polls `f` until it is true (10 s).
async fn eventually<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let start = Instant::now();
    while !f().await {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `N` nodes started together (each start waits for its registration, which needs a
/// quorum), all unfenced. Nodes 1–3 are the controller voters, any further node is a broker
/// only; `tweak` adjusts each node's config.
async fn start_cluster<const N: usize>(
    tweak: impl Fn(&mut Config),
) -> (Vec<tempfile::TempDir>, [Running; N]) {
    let n = N;
    let dirs: Vec<_> = (0..n).map(|_| tempfile::tempdir().unwrap()).collect();
    let ctrl: Vec<u16> = (0..3).map(|_| free_port()).collect();
    let voters = (0..3)
        .map(|i| format!("{}@127.0.0.1:{}", i + 1, ctrl[i]))
        .collect::<Vec<_>>()
        .join(",");
    let starts: Vec<_> = (0..n)
        .map(|i| {
            let mut c = Config {
                node_id: i as i32 + 1,
                data_dir: dirs[i].path().to_path_buf(),
                listen: "127.0.0.1:0".into(),
                http_listen: String::new(),
                ..Config::default()
            };
            c.cluster.controller_voters = voters.clone();
            if let Some(port) = ctrl.get(i) {
                c.cluster.controller_listen = format!("127.0.0.1:{port}");
            }
            c.cluster.broker_session_timeout_ms = 3000;
            c.cluster.broker_heartbeat_interval_ms = 200;
            tweak(&mut c);
            tokio::spawn(runnel::runtime::start(c))
        })
        .collect();
    let mut nodes = Vec::with_capacity(n);
    for s in starts {
        nodes.push(s.await.unwrap().unwrap());
    }
    for n in &nodes {
        let b = n.broker.clone();
        eventually("every broker unfenced", || {
            let b = b.clone();
            async move { b.is_ready() }
        })
        .await;
    }
    let Ok(nodes) = <[Running; N]>::try_from(nodes) else {
        unreachable!("{N} nodes were started")
    };
    (dirs, nodes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_form_one_cluster() {
    let (_dirs, nodes) = start_cluster::<3>(|_| {}).await;

    // Created through node 2, placed on three brokers, the same from every broker.
    assert_eq!(create(&nodes[1], "placed", 6, 3).await, 0);
    let (brokers, parts) = metadata(&nodes[1], "placed").await;
    assert_eq!(brokers, vec![1, 2, 3]);
    assert_eq!(parts.len(), 6);
    for (leader, replicas, isr) in &parts {
        let mut distinct = replicas.clone();
        distinct.sort();
        distinct.dedup();
        assert_eq!(distinct.len(), 3, "{replicas:?}");
        assert_eq!(*leader, replicas[0]);
        assert_eq!(isr, replicas);
    }
    for id in 1..=3 {
        assert_eq!(
            parts.iter().filter(|p| p.0 == id).count(),
            2,
            "leaders spread: {parts:?}"
        );
    }
    // The others follow the metadata within moments (Kafka's brokers converge the same way).
    for n in &nodes {
        let want = (brokers.clone(), parts.clone());
        eventually("every broker converged", || {
            let want = want.clone();
            async move { metadata(n, "placed").await == want }
        })
        .await;
    }
    // Each broker has a log for exactly the partitions it is a replica of (all six here).
    assert_eq!(nodes[0].broker.logs.partition_count(), 6);

    // More replicas than live brokers: refused with Kafka's code and message.
    assert_eq!(
        create(&nodes[2], "too-wide", 1, 4).await,
        KafkaError::InvalidReplicationFactor.code()
    );
    // Duplicate: TOPIC_ALREADY_EXISTS from the quorum, through another broker.
    assert_eq!(
        create(&nodes[0], "placed", 1, 1).await,
        KafkaError::TopicAlreadyExists.code()
    );

    // DescribeQuorum: one leader among the voters, three voters.
    let req = DescribeQuorumRequest::default().with_topics(vec![
        describe_quorum_request::TopicData::default()
            .with_topic_name(TopicName(StrBytes::from_static_str("__cluster_metadata")))
            .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
    ]);
    let ResponseKind::DescribeQuorum(q) = call(
        &nodes[0],
        ApiKey::DescribeQuorum,
        2,
        RequestKind::DescribeQuorum(req),
    )
    .await
    else {
        panic!("not a DescribeQuorum response")
    };
    assert_eq!(q.error_code, 0);
    let p = &q.topics[0].partitions[0];
    assert!((1..=3).contains(&p.leader_id.0), "{p:?}");
    assert_eq!(p.current_voters.len(), 3);
    assert_eq!(q.nodes.len(), 3);

    // acks=all: acknowledged only once every ISR member has the batch, so each replica's
    // log holds it the moment the answer arrives; the leader's high watermark covers it.
    for (i, (leader, _, _)) in parts.iter().enumerate() {
        let node = &nodes[*leader as usize - 1];
        for round in 0..3i64 {
            let (code, base) = produce(node, "placed", i as i32, -1, &[b"a", b"b"]).await;
            assert_eq!((code, base), (0, round * 2), "partition {i}");
        }
        for n in &nodes {
            let log = n.broker.logs.get("placed", i as i32).unwrap();
            assert_eq!(
                log.log_end_offset(),
                6,
                "node {} partition {i}",
                n.broker.node.node_id
            );
        }
        let log = node.broker.logs.get("placed", i as i32).unwrap();
        assert_eq!(log.high_watermark(), 6);
    }
    // acks=1 answers after the leader's append; the followers catch up by themselves.
    let leader = parts[0].0;
    assert_eq!(
        produce(&nodes[leader as usize - 1], "placed", 0, 1, &[b"c"]).await,
        (0, 6)
    );
    for n in &nodes {
        let log = n.broker.logs.get("placed", 0).unwrap();
        eventually("followers copied an acks=1 write", || {
            let log = log.clone();
            async move { log.log_end_offset() == 7 && log.high_watermark() == 7 }
        })
        .await;
    }
    // A follower refuses produce with the leader's whereabouts.
    let follower = parts[0].1.iter().copied().find(|r| *r != leader).unwrap();
    assert_eq!(
        produce(&nodes[follower as usize - 1], "placed", 0, -1, &[b"x"])
            .await
            .0,
        KafkaError::NotLeaderOrFollower.code()
    );

    // Controlled shutdown of node 1: its leaderships move and it leaves every ISR.
    let [n1, n2, n3] = nodes;
    n1.shutdown().await;
    eventually("node 1 fenced and its partitions moved", || {
        let n2 = &n2;
        async move {
            let (brokers, parts) = metadata(n2, "placed").await;
            brokers == vec![2, 3]
                && parts
                    .iter()
                    .all(|(l, _, isr)| *l != 1 && *l > 0 && !isr.contains(&1))
        }
    })
    .await;
    // Node 2 leads partitions whose ISR lost node 1: it reports them under-replicated.
    assert!(n2.broker.replicas.under_replicated() > 0);
    // Every partition's new leader holds every acknowledged record, and takes acks=all
    // writes with the ISR of the two brokers left.
    let (_, moved) = metadata(&n2, "placed").await;
    for (i, (leader, _, isr)) in moved.iter().enumerate() {
        let node = if *leader == 2 { &n2 } else { &n3 };
        let log = node.broker.logs.get("placed", i as i32).unwrap();
        let want = if i == 0 { 7 } else { 6 };
        assert_eq!(log.log_end_offset(), want, "partition {i}");
        assert_eq!(isr.len(), 2);
        let (code, base) = produce(node, "placed", i as i32, -1, &[b"after"]).await;
        assert_eq!((code, base), (0, want), "partition {i}");
    }
    // ElectLeaders through the quorum: a preferred replica that is gone cannot lead; the
    // others already lead.
    let req = ElectLeadersRequest::default()
        .with_election_type(0)
        .with_timeout_ms(10_000)
        .with_topic_partitions(Some(vec![elect_leaders_request::TopicPartitions::default(
        )
        .with_topic(TopicName(StrBytes::from_static_str("placed")))
        .with_partitions((0..6).collect())]));
    let ResponseKind::ElectLeaders(r) =
        call(&n2, ApiKey::ElectLeaders, 1, RequestKind::ElectLeaders(req)).await
    else {
        panic!("not an ElectLeaders response")
    };
    for res in &r.replica_election_results[0].partition_result {
        let want = if parts[res.partition_id as usize].1[0] == 1 {
            KafkaError::PreferredLeaderNotAvailable
        } else {
            KafkaError::ElectionNotNeeded
        };
        assert_eq!(res.error_code, want.code(), "{res:?}");
    }
    // min.insync.replicas=3 with two in-sync replicas: acks=all refused before the append,
    // acks=1 still accepted.
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(20_000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("strict")))
            .with_num_partitions(1)
            .with_replication_factor(2)
            .with_configs(vec![
                create_topics_request::CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("min.insync.replicas"))
                    .with_value(Some(StrBytes::from_static_str("3"))),
            ])]);
    let ResponseKind::CreateTopics(r) =
        call(&n2, ApiKey::CreateTopics, 7, RequestKind::CreateTopics(req)).await
    else {
        panic!("not a CreateTopics response")
    };
    assert_eq!(r.topics[0].error_code, 0, "{r:?}");
    let (_, strict) = metadata(&n2, "strict").await;
    let node = if strict[0].0 == 2 { &n2 } else { &n3 };
    eventually(
        "the strict topic's leader took up its leadership",
        || async { produce(node, "strict", 0, 1, &[b"one"]).await.0 == 0 },
    )
    .await;
    assert_eq!(
        produce(node, "strict", 0, -1, &[b"all"]).await.0,
        KafkaError::NotEnoughReplicas.code()
    );
    n2.shutdown().await;
    n3.shutdown().await;
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// FindCoordinator (v3) for `group` through `node`: (error, coordinator node id).
async fn find_coordinator(node: &Running, group: &str) -> (i16, i32) {
    let req = FindCoordinatorRequest::default().with_key(s(group));
    let ResponseKind::FindCoordinator(r) = call(
        node,
        ApiKey::FindCoordinator,
        3,
        RequestKind::FindCoordinator(req),
    )
    .await
    else {
        panic!("not a FindCoordinator response")
    };
    (r.error_code, r.node_id.0)
}

/// `group`'s coordinator once FindCoordinator through `node` names one (the first call
/// creates the offsets topic; its leader must load the partition): its node id.
async fn coordinator_of(node: &Running, group: &str) -> i32 {
    for _ in 0..200 {
        let (code, id) = find_coordinator(node, group).await;
        if code == 0 {
            return id;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no coordinator for {group}")
}

/// OffsetCommit (v8) of `offset` for `topic`/0: the partition's error code.
async fn commit(
    node: &Running,
    group: &str,
    generation: i32,
    member: &StrBytes,
    topic: &str,
    offset: i64,
) -> i16 {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(member.clone())
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset),
                ]),
        ]);
    let ResponseKind::OffsetCommit(r) = call(
        node,
        ApiKey::OffsetCommit,
        8,
        RequestKind::OffsetCommit(req),
    )
    .await
    else {
        panic!("not an OffsetCommit response")
    };
    r.topics[0].partitions[0].error_code
}

/// OffsetFetch (v7) of `topic`/0: (group error, committed offset).
async fn fetch_committed(node: &Running, group: &str, topic: &str) -> (i16, i64) {
    let req = OffsetFetchRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_topics(Some(vec![
            offset_fetch_request::OffsetFetchRequestTopic::default()
                .with_name(TopicName(s(topic)))
                .with_partition_indexes(vec![0]),
        ]));
    let ResponseKind::OffsetFetch(r) =
        call(node, ApiKey::OffsetFetch, 7, RequestKind::OffsetFetch(req)).await
    else {
        panic!("not an OffsetFetch response")
    };
    let offset = r
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .map_or(-1, |p| p.committed_offset);
    (r.error_code, offset)
}

/// The group coordinator is the leader of the group's `__consumer_offsets` partition: group
/// state and committed offsets are written there and acknowledged once every in-sync replica
/// has them, other brokers answer NOT_COORDINATOR, and after the coordinator shuts down the
/// new leader of that partition serves the same group: the committed offset, the members and
/// their generation (a member's heartbeat carries on).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn groups_and_committed_offsets_survive_the_loss_of_their_coordinator() {
    let (_dirs, nodes) = start_cluster::<3>(|c| {
        c.group.offsets_topic_num_partitions = 3;
        c.group.initial_rebalance_delay_ms = 0;
    })
    .await;
    assert_eq!(create(&nodes[0], "orders", 1, 3).await, 0);
    // The first FindCoordinator creates the offsets topic (RF 3); its leader loads the
    // partition and is named.
    let mut coordinator = coordinator_of(&nodes[1], "g").await;
    let owner = &nodes[coordinator as usize - 1];
    let other = nodes
        .iter()
        .find(|n| n.broker.node.node_id != coordinator)
        .unwrap();
    assert_eq!(
        commit(other, "g", -1, &s(""), "orders", 1).await,
        KafkaError::NotCoordinator.code()
    );

    // A one-member consumer group on the coordinator (retrying while it loads).
    let join = |member: StrBytes| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_session_timeout_ms(30_000)
            .with_rebalance_timeout_ms(30_000)
            .with_member_id(member)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))
            .with_metadata(bytes::Bytes::from_static(&[0, 1, 0, 0, 0, 0, 0, 0, 0, 0]))])
    };
    let mut member = s("");
    let mut joined = None;
    // Under load the offsets partition may change leader before the group is joined (a
    // broker missed its heartbeats): like a client, find the coordinator again.
    let mut owner = owner;
    for _ in 0..200 {
        let ResponseKind::JoinGroup(r) = call(
            owner,
            ApiKey::JoinGroup,
            5,
            RequestKind::JoinGroup(join(member.clone())),
        )
        .await
        else {
            panic!("not a JoinGroup response")
        };
        if r.error_code == KafkaError::MemberIdRequired.code() {
            member = r.member_id.clone();
        } else if r.error_code == 0 {
            joined = Some(r);
            break;
        } else if r.error_code == KafkaError::NotCoordinator.code() {
            let (code, id) = find_coordinator(&nodes[1], "g").await;
            if code == 0 {
                coordinator = id;
                owner = &nodes[coordinator as usize - 1];
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        } else {
            assert_eq!(r.error_code, KafkaError::CoordinatorLoadInProgress.code());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let joined = joined.expect("joined the group");
    assert_eq!((joined.generation_id, &joined.leader), (1, &member));
    let sync = SyncGroupRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(1)
        .with_member_id(member.clone())
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(member.clone())
                .with_assignment(bytes::Bytes::from_static(b"orders-0")),
        ]);
    let ResponseKind::SyncGroup(r) =
        call(owner, ApiKey::SyncGroup, 3, RequestKind::SyncGroup(sync)).await
    else {
        panic!("not a SyncGroup response")
    };
    assert_eq!(r.error_code, 0);
    assert_eq!(commit(owner, "g", 1, &member, "orders", 42).await, 0);
    assert_eq!(fetch_committed(owner, "g", "orders").await, (0, 42));

    // Acknowledged means on every replica of the group's offsets partition.
    let partition = runnel::group::offsets_partition("g", 3);
    for n in &nodes {
        let log = n.broker.logs.get("__consumer_offsets", partition).unwrap();
        assert!(log.log_end_offset() >= 2, "node {}", n.broker.node.node_id);
    }

    // The coordinator goes; the new leader of the partition loads the group.
    let rest: Vec<Running> = {
        let mut rest = Vec::new();
        for n in nodes {
            if n.broker.node.node_id == coordinator {
                n.shutdown().await;
            } else {
                rest.push(n);
            }
        }
        rest
    };
    let mut found = None;
    for _ in 0..200 {
        let (code, id) = find_coordinator(&rest[0], "g").await;
        if code == 0 && id != coordinator {
            let node = rest.iter().find(|n| n.broker.node.node_id == id).unwrap();
            if fetch_committed(node, "g", "orders").await == (0, 42) {
                found = Some(node);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new = found.expect("a new coordinator serving the committed offset");
    // The member and its generation came along: its heartbeat is accepted, and its next
    // commit too.
    let hb = HeartbeatRequest::default()
        .with_group_id(GroupId(s("g")))
        .with_generation_id(1)
        .with_member_id(member.clone());
    let ResponseKind::Heartbeat(r) =
        call(new, ApiKey::Heartbeat, 3, RequestKind::Heartbeat(hb)).await
    else {
        panic!("not a Heartbeat response")
    };
    assert_eq!(r.error_code, 0);
    let req = DescribeGroupsRequest::default().with_groups(vec![GroupId(s("g"))]);
    let ResponseKind::DescribeGroups(d) = call(
        new,
        ApiKey::DescribeGroups,
        5,
        RequestKind::DescribeGroups(req),
    )
    .await
    else {
        panic!("not a DescribeGroups response")
    };
    let g = &d.groups[0];
    assert_eq!((g.error_code, g.group_state.as_str()), (0, "Stable"));
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.members[0].member_assignment.as_ref(), b"orders-0");
    assert_eq!(commit(new, "g", 1, &member, "orders", 43).await, 0);
    assert_eq!(fetch_committed(new, "g", "orders").await, (0, 43));
    for n in rest {
        n.shutdown().await;
    }
}

/// AlterPartitionReassignments for `topic`-0 on `node` (version `v`); the partition's error.
async fn alter_reassignment(
    node: &Running,
    v: i16,
    topic: &str,
    target: Option<Vec<i32>>,
    allow_rf_change: bool,
) -> (i16, Option<String>) {
    let req = AlterPartitionReassignmentsRequest::default()
        .with_timeout_ms(20_000)
        .with_allow_replication_factor_change(allow_rf_change)
        .with_topics(vec![
            alter_partition_reassignments_request::ReassignableTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic.into())))
                .with_partitions(vec![
                    alter_partition_reassignments_request::ReassignablePartition::default()
                        .with_partition_index(0)
                        .with_replicas(target.map(|t| t.into_iter().map(BrokerId).collect())),
                ]),
        ]);
    let ResponseKind::AlterPartitionReassignments(r) = call(
        node,
        ApiKey::AlterPartitionReassignments,
        v,
        RequestKind::AlterPartitionReassignments(req),
    )
    .await
    else {
        panic!("not an AlterPartitionReassignments response")
    };
    assert_eq!(r.error_code, 0);
    let p = &r.responses[0].partitions[0];
    (
        p.error_code,
        p.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// ListPartitionReassignments (all topics) on `node`: (topic, partition, replicas, adding,
/// removing) of each one in progress.
async fn list_reassignments(node: &Running) -> Vec<(String, i32, Vec<i32>, Vec<i32>, Vec<i32>)> {
    let ResponseKind::ListPartitionReassignments(r) = call(
        node,
        ApiKey::ListPartitionReassignments,
        0,
        RequestKind::ListPartitionReassignments(
            ListPartitionReassignmentsRequest::default().with_timeout_ms(10_000),
        ),
    )
    .await
    else {
        panic!("not a ListPartitionReassignments response")
    };
    assert_eq!(r.error_code, 0);
    let ids = |v: &[BrokerId]| v.iter().map(|b| b.0).collect::<Vec<_>>();
    r.topics
        .iter()
        .flat_map(|t| {
            t.partitions.iter().map(|p| {
                (
                    t.name.0.to_string(),
                    p.partition_index,
                    ids(&p.replicas),
                    ids(&p.adding_replicas),
                    ids(&p.removing_replicas),
                )
            })
        })
        .collect()
}

/// Every record batch of `topic`-0 fetched from `node`: (base offset, the batch's bytes from
/// the magic byte on, which the leader does not rewrite); or the partition's error code.
async fn fetch_batches(node: &Running, topic: &str) -> Result<Vec<(i64, Vec<u8>)>, i16> {
    let req = FetchRequest::default()
        .with_max_wait_ms(0)
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(TopicName(StrBytes::from_string(topic.into())))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    // Over the wire: the handler answers a Fetch with file regions the connection sends.
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(ApiKey::Fetch as i16)
        .with_request_api_version(12)
        .with_correlation_id(9)
        .with_client_id(Some(StrBytes::from_static_str("cluster-test")))
        .encode(&mut frame, ApiKey::Fetch.request_header_version(12))
        .unwrap();
    req.encode(&mut frame, 12).unwrap();
    let mut client = crate::harness::Client {
        stream: tokio::net::TcpStream::connect(node.kafka_addr)
            .await
            .unwrap(),
    };
    let mut resp = Bytes::from(client.call(&frame).await);
    ResponseHeader::decode(&mut resp, ApiKey::Fetch.response_header_version(12)).unwrap();
    let r = FetchResponse::decode(&mut resp, 12).unwrap();
    let p = &r.responses[0].partitions[0];
    if p.error_code != 0 {
        return Err(p.error_code);
    }
    let mut bytes: &[u8] = p.records.as_deref().unwrap_or_default();
    let mut out = Vec::new();
    while bytes.len() >= 12 {
        let base = i64::from_be_bytes(bytes[..8].try_into().unwrap());
        let len = i32::from_be_bytes(bytes[8..12].try_into().unwrap()) as usize;
        out.push((base, bytes[16..12 + len].to_vec()));
        bytes = &bytes[12 + len..];
    }
    Ok(out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reassignment_moves_a_partition_to_another_broker() {
    // Three controller voters and a fourth, broker-only node.
    let (dirs, nodes) = start_cluster::<4>(|_| {}).await;

    // RF 2 on brokers 1 and 2 (1 leads); acknowledged acks=all writes.
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(20_000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str("moving")))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
            .with_assignments(vec![
                create_topics_request::CreatableReplicaAssignment::default()
                    .with_partition_index(0)
                    .with_broker_ids(vec![BrokerId(1), BrokerId(2)]),
            ])]);
    let ResponseKind::CreateTopics(r) = call(
        &nodes[1],
        ApiKey::CreateTopics,
        7,
        RequestKind::CreateTopics(req),
    )
    .await
    else {
        panic!("not a CreateTopics response")
    };
    assert_eq!(r.topics[0].error_code, 0, "{r:?}");
    eventually("node 1 leads the new partition", || async {
        produce(&nodes[0], "moving", 0, 1, &[b"first"]).await.0 == 0
    })
    .await;
    let values: Vec<Vec<u8>> = (0..20).map(|i| format!("v{i}").into_bytes()).collect();
    let mut sent: Vec<Vec<u8>> = vec![crate::wire::record_batch(&[b"first"], 1_700_000_000_000)];
    for pair in values.chunks(2) {
        let vals: Vec<&[u8]> = pair.iter().map(Vec::as_slice).collect();
        let (code, base) = produce(&nodes[0], "moving", 0, -1, &vals).await;
        assert_eq!((code, base), (0, 1 + 2 * sent.len() as i64 - 2), "acks=all");
        sent.push(crate::wire::record_batch(&vals, 1_700_000_000_000));
    }
    assert!(nodes[3].broker.logs.get("moving", 0).is_none());

    // Kafka's refusals, through the quorum.
    for (target, allow, v, want) in [
        (
            Some(vec![1, 9]),
            true,
            0,
            KafkaError::InvalidReplicaAssignment,
        ),
        (
            Some(vec![4, 4]),
            true,
            0,
            KafkaError::InvalidReplicaAssignment,
        ),
        (None, true, 0, KafkaError::NoReassignmentInProgress),
        (
            Some(vec![4, 2, 3]),
            false,
            1,
            KafkaError::InvalidReplicationFactor,
        ),
    ] {
        let (code, message) = alter_reassignment(&nodes[2], v, "moving", target, allow).await;
        assert_eq!(code, want.code(), "{message:?}");
    }
    assert_eq!(
        alter_reassignment(&nodes[2], 1, "ghost", Some(vec![1]), true)
            .await
            .0,
        KafkaError::UnknownTopicOrPartition.code()
    );

    // Move the leader's replica from broker 1 to broker 4 (the replication factor stays 2),
    // asked through broker 3, which hosts nothing of the topic.
    assert_eq!(
        alter_reassignment(&nodes[2], 1, "moving", Some(vec![4, 2]), false).await,
        (0, None)
    );
    eventually("the reassignment completed", || async {
        list_reassignments(&nodes[2]).await.is_empty()
    })
    .await;
    // Every broker shows the new replicas; 4 leads (the old leader was removed).
    for n in &nodes {
        eventually("every broker sees the new replicas", || async {
            let (_, parts) = metadata(n, "moving").await;
            let (leader, replicas, mut isr) = parts[0].clone();
            isr.sort();
            leader == 4 && replicas == vec![4, 2] && isr == vec![2, 4]
        })
        .await;
    }
    // The moved replica holds every acknowledged record, as the leader serves them: the
    // same batches at the same offsets.
    // (The image names 4 leader a moment before 4's partition layer has taken it up.)
    let start = Instant::now();
    let fetched = loop {
        match fetch_batches(&nodes[3], "moving").await {
            Ok(batches) => break batches,
            Err(code) => {
                assert!(
                    start.elapsed() < Duration::from_secs(10),
                    "broker 4 does not serve the moved partition: error {code}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(fetched.len(), sent.len());
    let mut offset = 0;
    for ((base, got), want) in fetched.iter().zip(&sent) {
        assert_eq!(*base, offset);
        assert_eq!(got.as_slice(), &want[16..]);
        offset += if offset == 0 { 1 } else { 2 };
    }
    // The new leader takes acks=all writes with broker 2 in sync.
    assert_eq!(
        produce(&nodes[3], "moving", 0, -1, &[b"after"]).await,
        (0, offset)
    );
    // Broker 1 stopped hosting the partition: no open log, no directory left.
    eventually("broker 1 deleted its replica", || async {
        nodes[0].broker.logs.get("moving", 0).is_none()
            && std::fs::read_dir(dirs[0].path()).unwrap().all(|e| {
                !e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with("moving-")
            })
    })
    .await;
    assert_eq!(
        produce(&nodes[0], "moving", 0, -1, &[b"x"]).await.0,
        KafkaError::NotLeaderOrFollower.code()
    );

    // A reassignment onto a broker that cannot catch up (3 is stopped first) stays in
    // progress, listed with its union, and is cancelled.
    let [n1, n2, n3, n4] = nodes;
    n3.shutdown().await;
    eventually("broker 3 fenced", || async {
        metadata(&n2, "moving").await.0 == vec![1, 2, 4]
    })
    .await;
    // NOT_CONTROLLER (retriable) while the quorum replaces a stopped leader.
    eventually("the reassignment is accepted", || async {
        let (code, message) = alter_reassignment(&n2, 0, "moving", Some(vec![4, 3]), true).await;
        assert!(
            code == 0 || code == KafkaError::NotController.code(),
            "{code} {message:?}"
        );
        code == 0
    })
    .await;
    let listed = list_reassignments(&n1).await;
    assert_eq!(
        listed,
        vec![("moving".to_string(), 0, vec![4, 3, 2], vec![3], vec![2])]
    );
    assert_eq!(metadata(&n4, "moving").await.1[0].1, vec![4, 3, 2]);
    assert_eq!(
        alter_reassignment(&n2, 0, "moving", None, true).await,
        (0, None)
    );
    assert!(list_reassignments(&n1).await.is_empty());
    eventually("the cancel is applied everywhere", || async {
        metadata(&n4, "moving").await.1[0].1 == vec![4, 2]
    })
    .await;
    n1.shutdown().await;
    n2.shutdown().await;
    n4.shutdown().await;
}

/// FindCoordinator (v3, key type 1) for transactional id `id` through `node`: (error,
/// coordinator node id).
async fn find_txn_coordinator(node: &Running, id: &str) -> (i16, i32) {
    let req = FindCoordinatorRequest::default()
        .with_key(s(id))
        .with_key_type(1);
    let ResponseKind::FindCoordinator(r) = call(
        node,
        ApiKey::FindCoordinator,
        3,
        RequestKind::FindCoordinator(req),
    )
    .await
    else {
        panic!("not a FindCoordinator response")
    };
    (r.error_code, r.node_id.0)
}

/// InitProducerId (v3) for transactional id `id` on `node`: (error, producer id, epoch).
async fn init_txn_producer(node: &Running, id: &str) -> (i16, i64, i16) {
    let req = InitProducerIdRequest::default()
        .with_transactional_id(Some(TransactionalId(s(id))))
        .with_transaction_timeout_ms(60_000)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    let ResponseKind::InitProducerId(r) = call(
        node,
        ApiKey::InitProducerId,
        3,
        RequestKind::InitProducerId(req),
    )
    .await
    else {
        panic!("not an InitProducerId response")
    };
    (r.error_code, r.producer_id.0, r.producer_epoch)
}

/// A transactional batch of one record from `pid` at `epoch`, sequence 0.
fn txn_batch(pid: i64, epoch: i16) -> Vec<u8> {
    let mut b = crate::wire::record_batch(&[b"tx"], 1_700_000_000_000);
    b[21..23].copy_from_slice(&0x10i16.to_be_bytes());
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&epoch.to_be_bytes());
    b[53..57].copy_from_slice(&0i32.to_be_bytes());
    let crc = runnel::log::compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

/// Transactions in a cluster: the coordinator of a transactional id is the leader of its
/// `__transaction_state` partition (other brokers answer NOT_COORDINATOR); a transaction over
/// partitions led by all three brokers gets its markers on each leader (WriteTxnMarkers to
/// the remote ones); the coordinator shuts down right after EndTxn, and the new leader of the
/// id's partition serves the id in CompleteCommit (it completed the commit if the old one
/// had not), every replica of every partition ends with its LSO at its log end (followers
/// rebuilt the transaction from the replicated batches), and the producer's next
/// InitProducerId bumps the same producer id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactions_span_brokers_and_survive_the_loss_of_their_coordinator() {
    let (_dirs, nodes) = start_cluster::<3>(|c| {
        c.transaction.state_log_num_partitions = 3;
        c.group.offsets_topic_num_partitions = 3;
    })
    .await;
    assert_eq!(create(&nodes[0], "tx", 3, 3).await, 0);
    let mut coordinator = -1;
    for _ in 0..200 {
        let (code, id) = find_txn_coordinator(&nodes[1], "tid").await;
        if code == 0 {
            coordinator = id;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!((1..=3).contains(&coordinator), "no coordinator for tid");
    let owner = &nodes[coordinator as usize - 1];
    let other = nodes
        .iter()
        .find(|n| n.broker.node.node_id != coordinator)
        .unwrap();
    // Another broker is not the coordinator (once it has seen the topic: before that it
    // cannot tell and says COORDINATOR_LOAD_IN_PROGRESS, which clients retry too).
    let mut refused = -1;
    for _ in 0..200 {
        refused = init_txn_producer(other, "tid").await.0;
        if refused != KafkaError::CoordinatorLoadInProgress.code() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(refused, KafkaError::NotCoordinator.code());
    let mut producer = None;
    for _ in 0..200 {
        let (code, pid, epoch) = init_txn_producer(owner, "tid").await;
        if code == 0 {
            producer = Some((pid, epoch));
            break;
        }
        assert_eq!(code, KafkaError::CoordinatorLoadInProgress.code());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (pid, epoch) = producer.expect("a producer id from the coordinator");
    let add = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s("tid")))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(TopicName(s("tx")))
                .with_partitions(vec![0, 1, 2]),
        ]);
    let ResponseKind::AddPartitionsToTxn(r) = call(
        owner,
        ApiKey::AddPartitionsToTxn,
        3,
        RequestKind::AddPartitionsToTxn(add),
    )
    .await
    else {
        panic!("not an AddPartitionsToTxn response")
    };
    let codes: Vec<i16> = r.results_by_topic_v3_and_below[0]
        .results_by_partition
        .iter()
        .map(|p| p.partition_error_code)
        .collect();
    assert_eq!(codes, vec![0, 0, 0]);
    // One transactional record per partition, each on its leader (three brokers lead one
    // each; the coordinator's broker checks its own, the others accept it unverified).
    let (_, parts) = metadata(&nodes[0], "tx").await;
    for (p, (leader, _, _)) in parts.iter().enumerate() {
        let node = &nodes[*leader as usize - 1];
        let mut code = -1;
        for _ in 0..100 {
            let req = ProduceRequest::default()
                .with_transactional_id(Some(TransactionalId(s("tid"))))
                .with_acks(-1)
                .with_timeout_ms(10_000)
                .with_topic_data(vec![produce_request::TopicProduceData::default()
                    .with_name(TopicName(s("tx")))
                    .with_partition_data(vec![
                        produce_request::PartitionProduceData::default()
                            .with_index(p as i32)
                            .with_records(Some(txn_batch(pid, epoch).into())),
                    ])]);
            let ResponseKind::Produce(r) =
                call(node, ApiKey::Produce, 9, RequestKind::Produce(req)).await
            else {
                panic!("not a Produce response")
            };
            code = r.responses[0].partition_responses[0].error_code;
            // NOT_ENOUGH_REPLICAS while the leader has not seen `__transaction_state` yet.
            if code != KafkaError::NotEnoughReplicas.code() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(code, 0, "tx-{p}");
    }
    for n in &nodes {
        let log = n.broker.logs.get("tx", 0).unwrap();
        eventually("the open transaction holds the LSO back", || {
            let log = log.clone();
            async move { log.log_end_offset() == 1 && log.last_stable_offset() == 0 }
        })
        .await;
    }
    let end = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s("tid")))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(true);
    let ResponseKind::EndTxn(r) = call(owner, ApiKey::EndTxn, 3, RequestKind::EndTxn(end)).await
    else {
        panic!("not an EndTxn response")
    };
    assert_eq!(r.error_code, 0);
    // The coordinator goes at once; whoever finishes the markers, the commit holds.
    let rest: Vec<Running> = {
        let mut rest = Vec::new();
        for n in nodes {
            if n.broker.node.node_id == coordinator {
                n.shutdown().await;
            } else {
                rest.push(n);
            }
        }
        rest
    };
    let mut completed = None;
    for _ in 0..300 {
        let (code, id) = find_txn_coordinator(&rest[0], "tid").await;
        if code == 0 && id != coordinator {
            let node = rest.iter().find(|n| n.broker.node.node_id == id).unwrap();
            let req = DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s("tid"))]);
            let ResponseKind::DescribeTransactions(d) = call(
                node,
                ApiKey::DescribeTransactions,
                0,
                RequestKind::DescribeTransactions(req),
            )
            .await
            else {
                panic!("not a DescribeTransactions response")
            };
            let st = &d.transaction_states[0];
            if st.error_code == 0 && st.transaction_state.as_str() == "CompleteCommit" {
                assert_eq!(st.producer_id.0, pid);
                completed = Some(node);
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let new = completed.expect("the new coordinator serves tid in CompleteCommit");
    for n in &rest {
        for p in 0..3 {
            let log = n.broker.logs.get("tx", p).unwrap();
            // The record and its commit marker; a new coordinator that completes the
            // transaction again may append a second marker (harmless, as in Kafka).
            eventually("the marker replicated and the LSO at the log end", || {
                let log = log.clone();
                async move {
                    let end = log.log_end_offset();
                    end >= 2 && log.last_stable_offset() == end
                }
            })
            .await;
        }
    }
    let (code, pid2, epoch2) = init_txn_producer(new, "tid").await;
    assert_eq!((code, pid2, epoch2), (0, pid, epoch + 1));
    for n in rest {
        n.shutdown().await;
    }
}

/// The leader of `topic`/0 as `node`'s partition layer knows it: (leader id, leader epoch).
fn leader_of(node: &Running, topic: &str) -> (i32, i32) {
    let t = node.broker.metadata.topic(topic).expect("topic known");
    let p = t.partition(0).expect("partition 0");
    (p.leader, p.leader_epoch)
}

/// Share groups in a cluster: a GROUP config set through one broker is applied by every
/// broker (replicated metadata); acknowledgements made on the leader of a share-partition are
/// durable at the share group's coordinator (ReadShareGroupState / WriteShareGroupState when
/// it is another broker), so after the leader shuts down the new leader loads them: accepted
/// records are never acquired again, acquired-but-unacknowledged ones are, and the old
/// leader epoch is fenced. Deleting the topic tombstones its share states.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn share_state_survives_the_loss_of_the_share_partition_leader() {
    use runnel::share::partition::{Ack, AckType};
    use runnel::share::{GroupSettings, ShareKey};

    let (_dirs, nodes) = start_cluster::<3>(|c| {
        c.group.offsets_topic_num_partitions = 3;
        c.group.initial_rebalance_delay_ms = 0;
    })
    .await;
    assert_eq!(create(&nodes[0], "queue", 1, 3).await, 0);
    // The offsets topic exists once a coordinator is found.
    coordinator_of(&nodes[0], "sg").await;
    // share.auto.offset.reset=earliest through node 3 reaches every broker.
    let alter = IncrementalAlterConfigsRequest::default().with_resources(vec![
        incremental_alter_configs_request::AlterConfigsResource::default()
            .with_resource_type(32)
            .with_resource_name(s("sg"))
            .with_configs(vec![
                incremental_alter_configs_request::AlterableConfig::default()
                    .with_name(s("share.auto.offset.reset"))
                    .with_config_operation(0)
                    .with_value(Some(s("earliest"))),
            ]),
    ]);
    let ResponseKind::IncrementalAlterConfigs(r) = call(
        &nodes[2],
        ApiKey::IncrementalAlterConfigs,
        1,
        RequestKind::IncrementalAlterConfigs(alter),
    )
    .await
    else {
        panic!("not an IncrementalAlterConfigs response")
    };
    assert_eq!(r.responses[0].error_code, 0, "{:?}", r.responses[0]);
    for n in &nodes {
        let b = n.broker.clone();
        eventually("the group config on every broker", || {
            let b = b.clone();
            async move {
                b.controller
                    .group_overrides("sg")
                    .get("share.auto.offset.reset")
                    .map(String::as_str)
                    == Some("earliest")
            }
        })
        .await;
    }

    let (leader, epoch) = leader_of(&nodes[0], "queue");
    let lnode = &nodes[leader as usize - 1];
    let values: Vec<Vec<u8>> = (0..10).map(|i| format!("r{i}").into_bytes()).collect();
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    assert_eq!(produce(lnode, "queue", 0, -1, &refs).await, (0, 0));
    let topic_id = lnode.broker.metadata.topic("queue").unwrap().id;
    let key = ShareKey {
        group: "sg".into(),
        topic_id,
        partition: 0,
    };

    // Member m1 acquires 0..9 and accepts 0..4 on the leader (durable at the coordinator).
    let b = lnode.broker.clone();
    let k = key.clone();
    let acquired = tokio::task::spawn_blocking(move || {
        let settings = GroupSettings::from_overrides(&b.controller.group_overrides("sg"));
        let lp = b.replicas.leader("queue", 0, -1).unwrap();
        let got = b
            .shares
            .fetch(
                &k,
                &settings,
                &"m1".into(),
                &lp.log,
                lp.leader_epoch,
                1 << 20,
                100,
                true,
                1,
            )
            .unwrap()
            .expect("records acquired");
        let accept = [Ack {
            first: 0,
            last: 4,
            types: vec![AckType::Accept],
        }];
        b.shares
            .acknowledge(&k, &settings, &"m1".into(), &accept, lp.leader_epoch, 2)
            .unwrap();
        got.acquired
            .iter()
            .map(|a| (a.first, a.last))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(acquired, vec![(0, 9)]);

    // The leader goes; another broker leads the partition at a higher epoch.
    let rest: Vec<Running> = {
        let mut rest = Vec::new();
        for n in nodes {
            if n.broker.node.node_id == leader {
                n.shutdown().await;
            } else {
                rest.push(n);
            }
        }
        rest
    };
    let b0 = rest[0].broker.clone();
    eventually("a new leader of queue-0", || {
        let b0 = b0.clone();
        async move {
            let t = b0.metadata.topic("queue").unwrap();
            let p = t.partition(0).unwrap();
            p.leader != leader && p.leader > 0 && p.leader_epoch > epoch
        }
    })
    .await;
    let (new_leader, new_epoch) = leader_of(&rest[0], "queue");
    let nnode = rest
        .iter()
        .find(|n| n.broker.node.node_id == new_leader)
        .unwrap();
    let b = nnode.broker.clone();
    let k = key.clone();
    let got = tokio::task::spawn_blocking(move || {
        let settings = GroupSettings::from_overrides(&b.controller.group_overrides("sg"));
        let start = Instant::now();
        loop {
            // The new leader may not have taken the leadership up yet.
            let Ok(lp) = b.replicas.leader("queue", 0, -1) else {
                assert!(start.elapsed() < Duration::from_secs(20), "no leader");
                std::thread::sleep(Duration::from_millis(50));
                continue;
            };
            let r = b.shares.fetch(
                &k,
                &settings,
                &"m2".into(),
                &lp.log,
                lp.leader_epoch,
                1 << 20,
                100,
                true,
                3,
            );
            match r {
                Ok(Some(read)) => {
                    let reject = [Ack {
                        first: 5,
                        last: 6,
                        types: vec![AckType::Reject],
                    }];
                    b.shares
                        .acknowledge(&k, &settings, &"m2".into(), &reject, lp.leader_epoch, 4)
                        .unwrap();
                    // The old leader's epoch is fenced at the coordinator.
                    let stale = b
                        .shares
                        .acknowledge(&k, &settings, &"m2".into(), &reject, epoch, 5)
                        .unwrap_err();
                    return (
                        read.acquired
                            .iter()
                            .map(|a| (a.first, a.last))
                            .collect::<Vec<_>>(),
                        stale.kafka_code(),
                    );
                }
                other => {
                    assert!(
                        start.elapsed() < Duration::from_secs(20),
                        "new leader fetch: {other:?}"
                    );
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    })
    .await
    .unwrap();
    assert!(new_epoch > epoch);
    assert_eq!(got.0, vec![(5, 9)], "accepted records came back");
    assert_eq!(got.1, KafkaError::FencedLeaderEpoch.code());

    // Deleting the topic tombstones its share states at the group's coordinator.
    let coordinator: Vec<_> = rest
        .iter()
        .filter_map(|n| n.broker.offsets_topic.clone())
        .filter(|o| o.check_share_coordinator("sg").is_ok())
        .collect();
    assert_eq!(coordinator.len(), 1, "one share coordinator of sg");
    let o = coordinator[0].clone();
    assert_eq!(o.share_states("sg").unwrap().len(), 1, "queue-0's state");
    let b = rest[0].broker.clone();
    tokio::task::spawn_blocking(move || b.controller.delete_topic("queue"))
        .await
        .unwrap()
        .expect("topic deleted");
    eventually("the deleted topic's share states tombstoned", || {
        let o = o.clone();
        async move { o.share_states("sg").is_ok_and(|s| s.is_empty()) }
    })
    .await;
    for n in rest {
        n.shutdown().await;
    }
}

/// ShareGroupHeartbeat (v1) through `node`.
async fn share_heartbeat(
    node: &Running,
    group: &str,
    member: &str,
    epoch: i32,
    topics: Option<&[&str]>,
) -> ShareGroupHeartbeatResponse {
    let req = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(topics.map(|ts| ts.iter().map(|t| TopicName(s(t))).collect()));
    let ResponseKind::ShareGroupHeartbeat(r) = call(
        node,
        ApiKey::ShareGroupHeartbeat,
        1,
        RequestKind::ShareGroupHeartbeat(req),
    )
    .await
    else {
        panic!("not a ShareGroupHeartbeat response")
    };
    r
}

/// A share group's topic gains a partition in a cluster: the group's coordinator (its share
/// coordinator too) starts the new share-partition at offset 0 before the member is assigned
/// it, so the records produced to it before anyone fetched it are delivered (under the
/// default `share.auto.offset.reset=latest`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_a_share_groups_topic_gains_start_at_zero() {
    use runnel::share::{GroupSettings, ShareKey};

    let (_dirs, nodes) = start_cluster::<3>(|c| {
        c.group.offsets_topic_num_partitions = 3;
        c.group.initial_rebalance_delay_ms = 0;
    })
    .await;
    assert_eq!(create(&nodes[0], "grow", 1, 3).await, 0);
    let coordinator = coordinator_of(&nodes[0], "sg").await;
    let cnode = &nodes[coordinator as usize - 1];
    let start = Instant::now();
    let joined = loop {
        let r = share_heartbeat(cnode, "sg", "m", 0, Some(&["grow"])).await;
        if r.error_code == 0 {
            break r;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "join: {r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(joined.member_epoch, 1);

    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(TopicName(s("grow")))
                .with_count(2)
                .with_assignments(None),
        ]);
    let ResponseKind::CreatePartitions(r) = call(
        &nodes[0],
        ApiKey::CreatePartitions,
        3,
        RequestKind::CreatePartitions(req),
    )
    .await
    else {
        panic!("not a CreatePartitions response")
    };
    assert_eq!(r.results[0].error_code, 0);
    // Three records reach grow-1 before any member hears of it.
    let start = Instant::now();
    let leader = loop {
        let led = cnode
            .broker
            .metadata
            .topic("grow")
            .and_then(|t| t.partition(1).map(|p| p.leader))
            .filter(|l| *l > 0);
        if let Some(l) = led {
            let lnode = &nodes[l as usize - 1];
            if produce(lnode, "grow", 1, -1, &[b"a", b"b", b"c"]).await == (0, 0) {
                break lnode;
            }
        }
        assert!(start.elapsed() < Duration::from_secs(20), "grow-1 not led");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let r = share_heartbeat(cnode, "sg", "m", 1, None).await;
    assert_eq!((r.error_code, r.member_epoch), (0, 2), "{r:?}");
    let topic_id = cnode.broker.metadata.topic("grow").unwrap().id;
    let key = ShareKey {
        group: "sg".into(),
        topic_id,
        partition: 1,
    };
    let b = leader.broker.clone();
    let acquired = tokio::task::spawn_blocking(move || {
        let settings = GroupSettings::from_overrides(&b.controller.group_overrides("sg"));
        let lp = b.replicas.leader("grow", 1, -1).unwrap();
        let got = b
            .shares
            .fetch(
                &key,
                &settings,
                &"m".into(),
                &lp.log,
                lp.leader_epoch,
                1 << 20,
                100,
                true,
                1,
            )
            .unwrap()
            .expect("records acquired");
        got.acquired
            .iter()
            .map(|a| (a.first, a.last))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    assert_eq!(acquired, vec![(0, 2)]);
    for n in nodes {
        n.shutdown().await;
    }
}
