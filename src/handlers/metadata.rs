//! Metadata (key 3): brokers, cluster id, controller and topic/partition leadership.
//!
//! Topic selection: v0 empty list = all topics; v1+ null = all, empty = none; v10+ may name
//! topics by id. Unknown topics are created when `log.auto_create_topics` is on and the
//! request allows it (always for v0–3), synchronously, so the reply already carries the
//! new topic's partitions.
//!
//! Authorization, as Kafka's `KafkaApis.handleTopicMetadataRequest`: an all-topics request
//! lists only the topics the principal may DESCRIBE; a named topic it may not describe
//! answers TOPIC_AUTHORIZATION_FAILED; auto-creating a topic needs CREATE on the cluster or
//! on the topic (else TOPIC_AUTHORIZATION_FAILED).
//!
//! Authorized operations (v8+): when the request asks (`include_topic_authorized_operations`,
//! v8+; `include_cluster_authorized_operations`, v8–10) the bit fields carry the principal's
//! operations (without an authorizer, every operation the resource supports, as librdkafka's
//! DescribeTopics/DescribeCluster expect); otherwise the schema default `i32::MIN` ("not
//! requested"). Kafka fills the topic field for every topic entry it returns, errors included.

use std::sync::Arc;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::{blocking, describe_cluster, RequestContext};
use crate::broker::{now_ms, Broker};
use crate::cluster::controller::{validate_topic_name, NewTopic, TopicError};
use crate::cluster::TopicInfo;
use crate::kafka_error::{self, KafkaError};
use crate::security::acl::ResourceType;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: MetadataRequest,
) -> MetadataResponse {
    let v = ctx.api_version;
    let allow_auto =
        broker.config.log.auto_create_topics && (v < 4 || req.allow_auto_topic_creation);
    let requested = match req.topics {
        None => None,
        Some(t) if v == 0 && t.is_empty() => None,
        Some(t) => Some(t),
    };
    let live = broker.live_ids();
    let mut topics = Vec::new();
    match requested {
        None => {
            for t in broker.metadata.topics() {
                if authz::topic(broker, ctx, Op::Describe, &t.name) {
                    topics.push(topic_entry(&t, kafka_error::NONE, live.as_deref()));
                }
            }
        }
        Some(list) => {
            for rt in list {
                match rt.name {
                    Some(name) if !name.is_empty() => {
                        if !authz::topic(broker, ctx, Op::Describe, name.as_str()) {
                            topics.push(no_topic(
                                name.as_str(),
                                KafkaError::TopicAuthorizationFailed.code(),
                            ));
                            continue;
                        }
                        // Kafka: auto-creating needs CREATE on the cluster or the topic.
                        if allow_auto
                            && broker.metadata.topic(name.as_str()).is_none()
                            && !authz::authorize_cluster(broker, ctx, Op::Create)
                            && !authz::topic(broker, ctx, Op::Create, name.as_str())
                        {
                            topics.push(no_topic(
                                name.as_str(),
                                KafkaError::TopicAuthorizationFailed.code(),
                            ));
                            continue;
                        }
                        topics.push(
                            named_topic(broker, name.as_str(), allow_auto, live.as_deref()).await,
                        )
                    }
                    _ => {
                        // v10+: by topic id.
                        let entry = match broker.metadata.topic_by_id(rt.topic_id) {
                            Some(t) if !authz::topic(broker, ctx, Op::Describe, &t.name) => {
                                MetadataResponseTopic::default()
                                    .with_error_code(KafkaError::TopicAuthorizationFailed.code())
                                    .with_topic_id(rt.topic_id)
                                    .with_topic_authorized_operations(i32::MIN)
                            }
                            Some(t) => topic_entry(&t, kafka_error::NONE, live.as_deref()),
                            None => MetadataResponseTopic::default()
                                .with_error_code(KafkaError::UnknownTopicId.code())
                                .with_topic_id(rt.topic_id)
                                .with_topic_authorized_operations(i32::MIN),
                        };
                        topics.push(entry);
                    }
                }
            }
        }
    }
    if v >= 8 && req.include_topic_authorized_operations {
        for t in &mut topics {
            if let Some(name) = &t.name {
                t.topic_authorized_operations =
                    authz::operations(broker, ctx, ResourceType::Topic, name.as_str());
            }
        }
    }
    let cluster_ops = describe_cluster::cluster_authorized_operations(
        broker,
        ctx,
        (8..=10).contains(&v) && req.include_cluster_authorized_operations,
    );
    let brokers = broker
        .live_brokers_on(&ctx.listener)
        .into_iter()
        .map(|n| {
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(n.node_id))
                .with_host(StrBytes::from_string(n.host))
                .with_port(n.port)
                .with_rack(n.rack.map(StrBytes::from_string))
        })
        .collect();
    MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(broker.cluster_id())))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_topics(topics)
        .with_cluster_authorized_operations(cluster_ops)
}

async fn named_topic(
    broker: &Arc<Broker>,
    name: &str,
    allow_auto: bool,
    live: Option<&[i32]>,
) -> MetadataResponseTopic {
    if let Some(t) = broker.metadata.topic(name) {
        return topic_entry(&t, kafka_error::NONE, live);
    }
    let unknown = |code| no_topic(name, code);
    if let Err(e) = validate_topic_name(name) {
        return unknown(e.kafka_code());
    }
    if !allow_auto {
        return unknown(KafkaError::UnknownTopicOrPartition.code());
    }
    let controller = broker.controller.clone();
    let new = NewTopic {
        name: name.to_string(),
        num_partitions: -1,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: Default::default(),
    };
    match blocking(move || controller.create_topic(&new, false, now_ms())).await {
        Ok(t) => topic_entry(&t, kafka_error::NONE, live),
        // Lost a race with a concurrent creation: the topic exists now.
        Err(TopicError::AlreadyExists(_)) => match broker.metadata.topic(name) {
            Some(t) => topic_entry(&t, kafka_error::NONE, live),
            None => unknown(KafkaError::LeaderNotAvailable.code()),
        },
        Err(e) => {
            tracing::warn!(topic = name, error = %e, "auto-creating topic failed");
            unknown(e.kafka_code())
        }
    }
}

/// The entry of a named topic that is not described: its name and an error.
fn no_topic(name: &str, code: i16) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(code)
        .with_name(Some(TopicName(StrBytes::from_string(name.to_string()))))
        .with_topic_authorized_operations(i32::MIN)
}

/// A topic's metadata entry.
pub(crate) fn topic_entry(
    t: &TopicInfo,
    error_code: i16,
    live: Option<&[i32]>,
) -> MetadataResponseTopic {
    MetadataResponseTopic::default()
        .with_error_code(error_code)
        .with_name(Some(TopicName(StrBytes::from_string(t.name.clone()))))
        .with_topic_id(t.id)
        .with_is_internal(
            t.name == crate::cluster::OFFSETS_TOPIC || t.name == crate::cluster::TXN_TOPIC,
        )
        .with_partitions(
            t.partitions
                .iter()
                .map(|p| {
                    MetadataResponsePartition::default()
                        .with_partition_index(p.index)
                        .with_leader_id(BrokerId(p.leader))
                        .with_leader_epoch(p.leader_epoch)
                        .with_replica_nodes(p.replicas.iter().map(|r| BrokerId(*r)).collect())
                        .with_isr_nodes(p.isr.iter().map(|r| BrokerId(*r)).collect())
                        .with_offline_replicas(
                            Broker::offline_replicas(live, &p.replicas)
                                .into_iter()
                                .map(BrokerId)
                                .collect(),
                        )
                        .with_error_code(if p.leader < 0 {
                            KafkaError::LeaderNotAvailable.code()
                        } else {
                            kafka_error::NONE
                        })
                })
                .collect(),
        )
        .with_topic_authorized_operations(i32::MIN)
}
