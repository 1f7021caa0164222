//! Authorization end to end: a broker with `auth.authorizer = true` and a super user, and
//! requests dispatched under chosen principals — denied, then allowed once the super user
//! has created the ACL; PREFIXED patterns; DENY beating ALLOW; Metadata filtering; group
//! and cluster checks; DescribeAcls / DeleteAcls filters; ACLs surviving a restart; KIP-848
//! regex subscriptions limited to the topics the member may DESCRIBE.

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;

use runnel::broker::Broker;
use runnel::config::Config;
use runnel::handlers::{dispatch, Reply, RequestContext};
use runnel::security::Principal;

use crate::harness::{self, TestBroker};
use crate::wire::record_batch;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const CLUSTER_AUTHORIZATION_FAILED: i16 = 31;
const INVALID_REQUEST: i16 = 42;
const INVALID_REGULAR_EXPRESSION: i16 = 128;
const SECURITY_DISABLED: i16 = 54;

// Kafka's codes.
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const ANY: i8 = 1;
const MATCH: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const ALL: i8 = 2;
const READ: i8 = 3;
const WRITE: i8 = 4;
const DESCRIBE: i8 = 8;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

fn secured(cfg: &mut Config) {
    cfg.auth.authorizer = true;
    cfg.auth.super_users = vec!["User:admin".into()];
    cfg.group.initial_rebalance_delay_ms = 0;
}

async fn start() -> TestBroker {
    harness::start_with(secured).await
}

fn broker(b: &TestBroker) -> Arc<Broker> {
    Arc::clone(&b.running.as_ref().unwrap().broker)
}

fn ctx(principal: &str, key: ApiKey, v: i16) -> RequestContext {
    RequestContext {
        api_key: key,
        api_version: v,
        correlation_id: 7,
        client_id: "acl-test".into(),
        client_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        principal: Arc::new(Principal::parse(principal).unwrap()),
        listener: "PLAINTEXT".into(),
        connection_id: 0,
    }
}

/// Dispatches `req` as `principal` and returns the response (a Fetch's message).
async fn call(b: &Arc<Broker>, principal: &str, v: i16, req: RequestKind) -> ResponseKind {
    let key = match &req {
        RequestKind::Produce(_) => ApiKey::Produce,
        RequestKind::Fetch(_) => ApiKey::Fetch,
        RequestKind::Metadata(_) => ApiKey::Metadata,
        RequestKind::CreateTopics(_) => ApiKey::CreateTopics,
        RequestKind::CreateAcls(_) => ApiKey::CreateAcls,
        RequestKind::DescribeAcls(_) => ApiKey::DescribeAcls,
        RequestKind::DeleteAcls(_) => ApiKey::DeleteAcls,
        RequestKind::JoinGroup(_) => ApiKey::JoinGroup,
        RequestKind::FindCoordinator(_) => ApiKey::FindCoordinator,
        RequestKind::DescribeGroups(_) => ApiKey::DescribeGroups,
        RequestKind::ListGroups(_) => ApiKey::ListGroups,
        RequestKind::DescribeLogDirs(_) => ApiKey::DescribeLogDirs,
        RequestKind::InitProducerId(_) => ApiKey::InitProducerId,
        RequestKind::DescribeCluster(_) => ApiKey::DescribeCluster,
        RequestKind::ConsumerGroupHeartbeat(_) => ApiKey::ConsumerGroupHeartbeat,
        other => panic!("no key for {other:?}"),
    };
    match dispatch(b, &ctx(principal, key, v), req).await {
        Reply::Respond(r) => *r,
        Reply::Fetch(f) => ResponseKind::Fetch(f.response),
        other => panic!("no response: {other:?}"),
    }
}

async fn create_topic(b: &Arc<Broker>, name: &str) {
    let req = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    let ResponseKind::CreateTopics(r) =
        call(b, "User:admin", 7, RequestKind::CreateTopics(req)).await
    else {
        unreachable!()
    };
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
}

struct Acl<'a> {
    resource_type: i8,
    name: &'a str,
    pattern: i8,
    principal: &'a str,
    operation: i8,
    permission: i8,
}

fn allow<'a>(resource_type: i8, name: &'a str, principal: &'a str, operation: i8) -> Acl<'a> {
    Acl {
        resource_type,
        name,
        pattern: LITERAL,
        principal,
        operation,
        permission: ALLOW,
    }
}

/// CreateAcls as `who`; the error code of each creation.
async fn create_acls(b: &Arc<Broker>, who: &str, acls: &[Acl<'_>]) -> Vec<i16> {
    let req = CreateAclsRequest::default().with_creations(
        acls.iter()
            .map(|a| {
                create_acls_request::AclCreation::default()
                    .with_resource_type(a.resource_type)
                    .with_resource_name(s(a.name))
                    .with_resource_pattern_type(a.pattern)
                    .with_principal(s(a.principal))
                    .with_host(s("*"))
                    .with_operation(a.operation)
                    .with_permission_type(a.permission)
            })
            .collect(),
    );
    let ResponseKind::CreateAcls(r) = call(b, who, 3, RequestKind::CreateAcls(req)).await else {
        unreachable!()
    };
    r.results.iter().map(|r| r.error_code).collect()
}

async fn produce(b: &Arc<Broker>, who: &str, topic: &str) -> i16 {
    let req = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(1000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(TopicName(s(topic)))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(0)
                    .with_records(Some(Bytes::from(record_batch(&[b"v"], 1_700_000_000_000)))),
            ])]);
    let ResponseKind::Produce(r) = call(b, who, 9, RequestKind::Produce(req)).await else {
        unreachable!()
    };
    r.responses[0].partition_responses[0].error_code
}

/// Fetch from offset 0: the error code and whether records came back.
async fn fetch(b: &Arc<Broker>, who: &str, topic: &str) -> (i16, bool) {
    let req = FetchRequest::default()
        .with_max_bytes(1 << 20)
        .with_topics(vec![fetch_request::FetchTopic::default()
            .with_topic(TopicName(s(topic)))
            .with_partitions(vec![fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_fetch_offset(0)
                .with_partition_max_bytes(1 << 20)])]);
    let ResponseKind::Fetch(r) = call(b, who, 12, RequestKind::Fetch(req)).await else {
        unreachable!()
    };
    let p = &r.responses[0].partitions[0];
    (p.error_code, p.high_watermark > 0)
}

/// Metadata as `who`: all topics (`None`) or the named ones; (name, error) per topic.
async fn metadata(b: &Arc<Broker>, who: &str, topics: Option<&[&str]>) -> Vec<(String, i16)> {
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(true)
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    metadata_request::MetadataRequestTopic::default()
                        .with_name(Some(TopicName(s(t))))
                })
                .collect()
        }));
    let ResponseKind::Metadata(r) = call(b, who, 12, RequestKind::Metadata(req)).await else {
        unreachable!()
    };
    let mut out: Vec<(String, i16)> = r
        .topics
        .iter()
        .map(|t| (t.name.as_ref().unwrap().to_string(), t.error_code))
        .collect();
    out.sort();
    out
}

fn describe_filter(
    resource_type: i8,
    name: Option<&str>,
    pattern: i8,
    principal: Option<&str>,
) -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(resource_type)
        .with_resource_name_filter(name.map(s))
        .with_pattern_type_filter(pattern)
        .with_principal_filter(principal.map(s))
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

/// DescribeAcls as admin: the error and (name, pattern, principal, operation) per ACL.
async fn describe_acls(
    b: &Arc<Broker>,
    req: DescribeAclsRequest,
) -> (i16, Vec<(String, i8, String, i8)>) {
    let ResponseKind::DescribeAcls(r) =
        call(b, "User:admin", 3, RequestKind::DescribeAcls(req)).await
    else {
        unreachable!()
    };
    let mut acls = Vec::new();
    for res in &r.resources {
        for a in &res.acls {
            acls.push((
                res.resource_name.to_string(),
                res.pattern_type,
                a.principal.to_string(),
                a.operation,
            ));
        }
    }
    acls.sort();
    (r.error_code, acls)
}

#[tokio::test]
async fn produce_and_fetch_are_denied_until_an_acl_allows_them() {
    let tb = start().await;
    let b = broker(&tb);
    create_topic(&b, "orders").await;
    assert_eq!(
        produce(&b, "User:alice", "orders").await,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(
        fetch(&b, "User:alice", "orders").await.0,
        TOPIC_AUTHORIZATION_FAILED
    );
    // Only a principal that may ALTER the cluster manages ACLs.
    assert_eq!(
        create_acls(
            &b,
            "User:alice",
            &[allow(TOPIC, "orders", "User:alice", ALL)]
        )
        .await,
        vec![CLUSTER_AUTHORIZATION_FAILED]
    );
    assert_eq!(
        create_acls(
            &b,
            "User:admin",
            &[
                allow(TOPIC, "orders", "User:alice", WRITE),
                allow(TOPIC, "orders", "User:bob", READ),
            ]
        )
        .await,
        vec![0, 0]
    );
    assert_eq!(produce(&b, "User:alice", "orders").await, 0);
    // WRITE does not imply READ; bob reads what alice wrote.
    assert_eq!(
        fetch(&b, "User:alice", "orders").await.0,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(fetch(&b, "User:bob", "orders").await, (0, true));
    assert_eq!(
        produce(&b, "User:bob", "orders").await,
        TOPIC_AUTHORIZATION_FAILED
    );
    // The super user needs no ACL.
    assert_eq!(produce(&b, "User:admin", "orders").await, 0);
}

#[tokio::test]
async fn prefixed_acls_deny_beats_allow_and_metadata_filters() {
    let tb = start().await;
    let b = broker(&tb);
    for t in ["logs-a", "logs-b", "secret"] {
        create_topic(&b, t).await;
    }
    assert!(metadata(&b, "User:alice", None).await.is_empty());
    let prefixed = Acl {
        resource_type: TOPIC,
        name: "logs-",
        pattern: PREFIXED,
        principal: "User:alice",
        operation: READ,
        permission: ALLOW,
    };
    assert_eq!(create_acls(&b, "User:admin", &[prefixed]).await, vec![0]);
    assert_eq!(
        metadata(&b, "User:alice", None).await,
        vec![("logs-a".into(), 0), ("logs-b".into(), 0)],
        "READ implies DESCRIBE; unauthorized topics are left out"
    );
    assert_eq!(
        metadata(&b, "User:alice", Some(&["secret", "logs-a"])).await,
        vec![
            ("logs-a".into(), 0),
            ("secret".into(), TOPIC_AUTHORIZATION_FAILED)
        ]
    );
    assert_eq!(fetch(&b, "User:alice", "logs-b").await.0, 0);
    let deny = Acl {
        resource_type: TOPIC,
        name: "logs-b",
        pattern: LITERAL,
        principal: "User:*",
        operation: ALL,
        permission: DENY,
    };
    assert_eq!(create_acls(&b, "User:admin", &[deny]).await, vec![0]);
    assert_eq!(
        fetch(&b, "User:alice", "logs-b").await.0,
        TOPIC_AUTHORIZATION_FAILED
    );
    assert_eq!(fetch(&b, "User:alice", "logs-a").await.0, 0);
    assert_eq!(
        metadata(&b, "User:alice", None).await,
        vec![("logs-a".into(), 0)]
    );
    // Auto-creation needs CREATE: DESCRIBE alone gets TOPIC_AUTHORIZATION_FAILED.
    assert_eq!(
        metadata(&b, "User:alice", Some(&["logs-new"])).await,
        vec![("logs-new".into(), TOPIC_AUTHORIZATION_FAILED)]
    );
    assert!(b.metadata.topic("logs-new").is_none());
}

#[tokio::test]
async fn groups_and_cluster_operations_are_checked() {
    let tb = start().await;
    let b = broker(&tb);
    let join = || {
        RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(GroupId(s("g1")))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(10_000)
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(s("range"))
                .with_metadata(Bytes::from_static(b"m"))]),
        )
    };
    let ResponseKind::JoinGroup(r) = call(&b, "User:alice", 5, join()).await else {
        unreachable!()
    };
    assert_eq!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    let find = RequestKind::FindCoordinator(
        FindCoordinatorRequest::default().with_coordinator_keys(vec![s("g1")]),
    );
    let ResponseKind::FindCoordinator(r) = call(&b, "User:alice", 4, find).await else {
        unreachable!()
    };
    assert_eq!(r.coordinators[0].error_code, GROUP_AUTHORIZATION_FAILED);
    assert_eq!(
        create_acls(&b, "User:admin", &[allow(GROUP, "g1", "User:alice", READ)]).await,
        vec![0]
    );
    let ResponseKind::JoinGroup(r) = call(&b, "User:alice", 5, join()).await else {
        unreachable!()
    };
    assert_ne!(r.error_code, GROUP_AUTHORIZATION_FAILED);
    // Listing shows the groups one may describe (READ implies DESCRIBE): g1 for alice,
    // nothing for bob.
    let list = || RequestKind::ListGroups(ListGroupsRequest::default());
    let ResponseKind::ListGroups(r) = call(&b, "User:alice", 4, list()).await else {
        unreachable!()
    };
    assert_eq!(r.groups.len(), 1);
    let ResponseKind::ListGroups(r) = call(&b, "User:bob", 4, list()).await else {
        unreachable!()
    };
    assert!(r.groups.is_empty());
    let describe = RequestKind::DescribeGroups(
        DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(s("g1"))])
            .with_include_authorized_operations(true),
    );
    let ResponseKind::DescribeGroups(r) = call(&b, "User:bob", 5, describe).await else {
        unreachable!()
    };
    assert_eq!(r.groups[0].error_code, GROUP_AUTHORIZATION_FAILED);
    // Cluster operations.
    let log_dirs = || RequestKind::DescribeLogDirs(DescribeLogDirsRequest::default());
    let ResponseKind::DescribeLogDirs(r) = call(&b, "User:alice", 4, log_dirs()).await else {
        unreachable!()
    };
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    let ResponseKind::DescribeLogDirs(r) = call(&b, "User:admin", 4, log_dirs()).await else {
        unreachable!()
    };
    assert_eq!(r.error_code, 0);
    let create = CreateTopicsRequest::default().with_topics(vec![
        create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s("t")))
            .with_num_partitions(1)
            .with_replication_factor(1),
    ]);
    let ResponseKind::CreateTopics(r) =
        call(&b, "User:alice", 7, RequestKind::CreateTopics(create)).await
    else {
        unreachable!()
    };
    assert_eq!(r.topics[0].error_code, TOPIC_AUTHORIZATION_FAILED);
    // An idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
    let init = || {
        RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None) // an idempotent producer sends null
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )
    };
    let ResponseKind::InitProducerId(r) = call(&b, "User:alice", 4, init()).await else {
        unreachable!()
    };
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    assert_eq!(
        create_acls(&b, "User:admin", &[allow(TOPIC, "t", "User:alice", WRITE)]).await,
        vec![0]
    );
    let ResponseKind::InitProducerId(r) = call(&b, "User:alice", 4, init()).await else {
        unreachable!()
    };
    assert_eq!(r.error_code, 0);
    // Authorized operations: the principal's, and 0 without DESCRIBE on the cluster.
    let cluster = || {
        RequestKind::DescribeCluster(
            DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
        )
    };
    let ResponseKind::DescribeCluster(r) = call(&b, "User:alice", 1, cluster()).await else {
        unreachable!()
    };
    assert_eq!(r.cluster_authorized_operations, 0);
    assert_eq!(
        create_acls(
            &b,
            "User:admin",
            &[allow(CLUSTER, "kafka-cluster", "User:alice", DESCRIBE)]
        )
        .await,
        vec![0]
    );
    let ResponseKind::DescribeCluster(r) = call(&b, "User:alice", 1, cluster()).await else {
        unreachable!()
    };
    assert_eq!(r.cluster_authorized_operations, 1 << DESCRIBE);
}

#[tokio::test]
async fn describe_and_delete_filters() {
    let tb = start().await;
    let b = broker(&tb);
    let acls = [
        allow(TOPIC, "orders", "User:alice", READ),
        allow(TOPIC, "*", "User:bob", WRITE),
        Acl {
            resource_type: TOPIC,
            name: "ord",
            pattern: PREFIXED,
            principal: "User:alice",
            operation: DESCRIBE,
            permission: ALLOW,
        },
        allow(GROUP, "orders", "User:alice", READ),
    ];
    assert_eq!(create_acls(&b, "User:admin", &acls).await, vec![0; 4]);
    // Invalid creations are refused one by one.
    let bad = [
        allow(CLUSTER, "not-the-cluster", "User:alice", DESCRIBE),
        allow(TOPIC, "x", "alice", READ),
        allow(TOPIC, "", "User:alice", READ),
    ];
    assert_eq!(
        create_acls(&b, "User:admin", &bad).await,
        vec![INVALID_REQUEST; 3]
    );
    let (code, all) = describe_acls(&b, describe_filter(ANY, None, ANY, None)).await;
    assert_eq!((code, all.len()), (0, 4));
    // MATCH: every ACL that applies to topic "orders".
    let (_, m) = describe_acls(&b, describe_filter(TOPIC, Some("orders"), MATCH, None)).await;
    assert_eq!(
        m,
        vec![
            ("*".into(), LITERAL, "User:bob".into(), WRITE),
            ("ord".into(), PREFIXED, "User:alice".into(), DESCRIBE),
            ("orders".into(), LITERAL, "User:alice".into(), READ),
        ]
    );
    // ANY with a name compares names exactly (both resource types).
    let (_, m) = describe_acls(&b, describe_filter(ANY, Some("orders"), ANY, None)).await;
    assert_eq!(m.len(), 2);
    let (_, m) = describe_acls(&b, describe_filter(ANY, None, ANY, Some("User:bob"))).await;
    assert_eq!(m, vec![("*".into(), LITERAL, "User:bob".into(), WRITE)]);
    let (code, _) = describe_acls(&b, describe_filter(0, None, ANY, None)).await;
    assert_eq!(code, INVALID_REQUEST);
    let ResponseKind::DescribeAcls(r) = call(
        &b,
        "User:alice",
        3,
        RequestKind::DescribeAcls(describe_filter(ANY, None, ANY, None)),
    )
    .await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, CLUSTER_AUTHORIZATION_FAILED);
    // Delete: alice's topic ACLs, and a bad filter beside it.
    let filter = |rt: i8, pattern: i8, principal: &str| {
        delete_acls_request::DeleteAclsFilter::default()
            .with_resource_type_filter(rt)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(pattern)
            .with_principal_filter(Some(s(principal)))
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY)
    };
    let req = DeleteAclsRequest::default().with_filters(vec![
        filter(TOPIC, ANY, "User:alice"),
        filter(TOPIC, 0, "User:alice"),
    ]);
    let ResponseKind::DeleteAcls(r) = call(&b, "User:admin", 3, RequestKind::DeleteAcls(req)).await
    else {
        unreachable!()
    };
    assert_eq!(r.filter_results[0].error_code, 0);
    assert_eq!(r.filter_results[0].matching_acls.len(), 2);
    assert_eq!(r.filter_results[1].error_code, INVALID_REQUEST);
    let (_, left) = describe_acls(&b, describe_filter(ANY, None, ANY, None)).await;
    assert_eq!(
        left,
        vec![
            ("*".into(), LITERAL, "User:bob".into(), WRITE),
            ("orders".into(), LITERAL, "User:alice".into(), READ),
        ]
    );
}

#[tokio::test]
async fn acls_survive_a_restart() {
    let tb = start().await;
    let b = broker(&tb);
    create_topic(&b, "kept").await;
    assert_eq!(
        create_acls(
            &b,
            "User:admin",
            &[allow(TOPIC, "kept", "User:alice", WRITE)]
        )
        .await,
        vec![0]
    );
    drop(b);
    let tb = tb.restart_with(secured).await;
    let b = broker(&tb);
    let (_, acls) = describe_acls(&b, describe_filter(ANY, None, ANY, None)).await;
    assert_eq!(
        acls,
        vec![("kept".into(), LITERAL, "User:alice".into(), WRITE)]
    );
    assert_eq!(produce(&b, "User:alice", "kept").await, 0);
    assert_eq!(
        produce(&b, "User:bob", "kept").await,
        TOPIC_AUTHORIZATION_FAILED
    );
}

#[tokio::test]
async fn without_an_authorizer_everything_is_allowed_and_acl_apis_are_disabled() {
    let tb = harness::start().await;
    let b = broker(&tb);
    create_topic(&b, "open").await;
    assert_eq!(produce(&b, "User:alice", "open").await, 0);
    assert_eq!(
        create_acls(
            &b,
            "User:admin",
            &[allow(TOPIC, "open", "User:alice", READ)]
        )
        .await,
        vec![SECURITY_DISABLED]
    );
    let (code, _) = describe_acls(&b, describe_filter(ANY, None, ANY, None)).await;
    assert_eq!(code, SECURITY_DISABLED);
}

/// A KIP-848 member subscribed by regex is assigned only the matching topics its principal
/// may DESCRIBE (as Kafka filters resolved regexes); a regex that does not compile is
/// INVALID_REGULAR_EXPRESSION.
#[tokio::test]
async fn consumer_group_regex_gets_only_describable_topics() {
    let tb = start().await;
    let b = broker(&tb);
    for t in ["rx-open", "rx-secret"] {
        create_topic(&b, t).await;
    }
    let acls = [
        allow(GROUP, "ga", "User:alice", READ),
        allow(TOPIC, "rx-open", "User:alice", DESCRIBE),
        allow(GROUP, "gb", "User:bob", READ),
        allow(TOPIC, "rx-open", "User:bob", DESCRIBE),
        allow(TOPIC, "rx-secret", "User:bob", DESCRIBE),
    ];
    assert_eq!(create_acls(&b, "User:admin", &acls).await, vec![0; 5]);
    let ids = broker(&tb).metadata.topics();
    let id_of = |n: &str| ids.iter().find(|t| t.name == n).unwrap().id;
    let join = |group: &str, regex: &str| {
        RequestKind::ConsumerGroupHeartbeat(
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s(group)))
                .with_member_id(s(&format!("{group}-member")))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_regex(Some(s(regex)))
                .with_topic_partitions(Some(vec![])),
        )
    };
    let assigned = |r: &ConsumerGroupHeartbeatResponse| {
        let mut t: Vec<uuid::Uuid> = r
            .assignment
            .as_ref()
            .map(|a| a.topic_partitions.iter().map(|tp| tp.topic_id).collect())
            .unwrap_or_default();
        t.sort();
        t
    };
    let ResponseKind::ConsumerGroupHeartbeat(r) =
        call(&b, "User:alice", 1, join("ga", "rx-.*")).await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    assert_eq!(assigned(&r), vec![id_of("rx-open")]);
    let ResponseKind::ConsumerGroupHeartbeat(r) =
        call(&b, "User:bob", 1, join("gb", "rx-.*")).await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let mut both = vec![id_of("rx-open"), id_of("rx-secret")];
    both.sort();
    assert_eq!(assigned(&r), both);
    let ResponseKind::ConsumerGroupHeartbeat(r) = call(&b, "User:bob", 1, join("gb", "rx-(")).await
    else {
        unreachable!()
    };
    assert_eq!(r.error_code, INVALID_REGULAR_EXPRESSION);
}
