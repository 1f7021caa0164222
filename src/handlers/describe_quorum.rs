//! DescribeQuorum (key 55, v0–2): the controller quorum's state, as `kafka-metadata-quorum
//! describe --status` and `Admin.describeMetadataQuorum` ask for it. A broker forwards it to
//! the active controller (as Kafka's brokers do) and answers in Kafka's terms: the metadata
//! partition `__cluster_metadata`-0, its leader and epoch (the Raft term), the high watermark
//! (the last committed entry), the voters with the log end the leader knows for each, and the
//! brokers as observers with the metadata index they last reported.
//!
//! Cluster mode only: a single node has no quorum, does not advertise the API, and answers
//! UNSUPPORTED_VERSION if asked anyway.

use std::sync::Arc;

use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{
    BrokerId, DescribeQuorumRequest, DescribeQuorumResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::{now_ms, Broker};
use crate::kafka_error::KafkaError;

/// The name Kafka gives the metadata log.
const METADATA_TOPIC: &str = "__cluster_metadata";

fn error(version: i16, code: i16, message: String) -> DescribeQuorumResponse {
    let r = DescribeQuorumResponse::default().with_error_code(code);
    if version >= 2 {
        r.with_error_message(Some(StrBytes::from_string(message)))
    } else {
        r
    }
}

/// One replica's state; the timestamps exist from v1.
fn replica(version: i16, id: i32, log_end: i64, fetched: i64, caught_up: i64) -> ReplicaState {
    let r = ReplicaState::default()
        .with_replica_id(BrokerId(id))
        .with_log_end_offset(log_end);
    if version >= 1 {
        r.with_last_fetch_timestamp(fetched)
            .with_last_caught_up_timestamp(caught_up)
    } else {
        r
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeQuorumRequest,
) -> DescribeQuorumResponse {
    let v = ctx.api_version;
    if !authz::authorize_cluster(broker, ctx, Op::Describe) {
        return error(
            v,
            KafkaError::ClusterAuthorizationFailed.code(),
            "Cluster authorization failed.".into(),
        );
    }
    let Some(member) = broker.controller.member() else {
        return error(
            v,
            KafkaError::UnsupportedVersion.code(),
            "this broker runs alone, without a controller quorum".into(),
        );
    };
    let q = match member.describe_quorum().await {
        Ok(q) => q,
        Err(e) => return error(v, e.kafka_code(), e.to_string()),
    };
    let now = now_ms();
    let voters: Vec<ReplicaState> = q
        .voters
        .iter()
        .map(|&(id, log_end)| {
            // The leader heard from a voter that holds the committed log recently enough.
            let caught_up = if log_end >= q.high_watermark as i64 {
                now
            } else {
                -1
            };
            replica(v, id as i32, log_end, caught_up, caught_up)
        })
        .collect();
    let observers: Vec<ReplicaState> = q
        .observers
        .iter()
        // As in Kafka's combined mode, a broker that is also a voter is not an observer.
        .filter(|&&(id, ..)| !q.voters.iter().any(|&(v, _)| v == id as u64))
        .map(|&(id, index, ago_ms)| {
            let seen = now - ago_ms;
            let caught_up = if index >= q.high_watermark { seen } else { -1 };
            replica(v, id, index as i64, seen, caught_up)
        })
        .collect();
    let nodes = member
        .voters()
        .iter()
        .map(|v| {
            Node::default()
                .with_node_id(BrokerId(v.id))
                .with_listeners(vec![Listener::default()
                    .with_name(StrBytes::from_static_str("CONTROLLER"))
                    .with_host(StrBytes::from_string(v.host.clone()))
                    .with_port(v.port as u16)])
        })
        .collect();
    let topics = req
        .topics
        .into_iter()
        .map(|t| {
            let known = t.topic_name.as_str() == METADATA_TOPIC;
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    if !known || p.partition_index != 0 {
                        return PartitionData::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(KafkaError::UnknownTopicOrPartition.code());
                    }
                    PartitionData::default()
                        .with_partition_index(0)
                        .with_leader_id(BrokerId(q.leader as i32))
                        .with_leader_epoch(q.term as i32)
                        .with_high_watermark(q.high_watermark as i64)
                        .with_current_voters(voters.clone())
                        .with_observers(observers.clone())
                })
                .collect();
            TopicData::default()
                .with_topic_name(TopicName(StrBytes::from_string(t.topic_name.to_string())))
                .with_partitions(partitions)
        })
        .collect();
    let r = DescribeQuorumResponse::default().with_topics(topics);
    if v >= 2 {
        r.with_nodes(nodes)
    } else {
        r
    }
}
