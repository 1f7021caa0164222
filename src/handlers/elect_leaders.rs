//! ElectLeaders (key 43, v0–2): run preferred or unclean leader elections
//! (`kafka-leader-election`, the Java Admin's `electLeaders`).
//!
//! As Kafka's controller (`ReplicationControlManager.electLeaders`): v0 has no election type
//! (preferred); v1+ PREFERRED 0 or UNCLEAN 1, anything else fails the whole request with
//! INVALID_REQUEST (top-level error from v1, and on every listed partition). Listed partitions
//! each get a result (ELECTION_NOT_NEEDED when the leader already is the one the election
//! would pick, UNKNOWN_TOPIC_OR_PARTITION for unknown ones); a null list means every
//! partition of every topic, and then partitions that needed no election are left out of
//! their topic's results. The decisions are the controller's (`cluster::leadership`; in a
//! cluster the quorum's, where the preferred replica must also be in the ISR).

use std::sync::Arc;

use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::cluster::leadership::{ElectionError, ElectionType};
use crate::kafka_error::KafkaError;

fn result(partition: i32, outcome: Result<(), ElectionError>) -> PartitionResult {
    match outcome {
        // Kafka's ApiError.NONE carries a null message.
        Ok(()) => PartitionResult::default()
            .with_partition_id(partition)
            .with_error_message(None),
        Err(e) => PartitionResult::default()
            .with_partition_id(partition)
            .with_error_code(e.kafka_code())
            .with_error_message(Some(StrBytes::from_string(e.to_string()))),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ElectLeadersRequest,
) -> ElectLeadersResponse {
    let kind = if ctx.api_version >= 1 {
        ElectionType::from_wire(req.election_type)
    } else {
        Some(ElectionType::Preferred)
    };
    // Kafka: ALTER on the cluster, else every partition (and v1+ the response) fails.
    let refusal = if !authz::authorize_cluster(broker, ctx, Op::Alter) {
        Some((
            KafkaError::ClusterAuthorizationFailed,
            "Cluster authorization failed.".to_string(),
        ))
    } else {
        kind.is_none().then(|| {
            (
                KafkaError::InvalidRequest,
                format!("Unknown election type {}", req.election_type),
            )
        })
    };
    let (Some(kind), None) = (kind, &refusal) else {
        let (code, message) = refusal.unwrap_or((KafkaError::InvalidRequest, String::new()));
        let results = req
            .topic_partitions
            .unwrap_or_default()
            .into_iter()
            .map(|t| {
                ReplicaElectionResult::default()
                    .with_topic(t.topic)
                    .with_partition_result(
                        t.partitions
                            .iter()
                            .map(|&p| {
                                PartitionResult::default()
                                    .with_partition_id(p)
                                    .with_error_code(code.code())
                                    .with_error_message(Some(StrBytes::from_string(
                                        message.clone(),
                                    )))
                            })
                            .collect(),
                    )
            })
            .collect();
        return ElectLeadersResponse::default()
            .with_error_code(code.code())
            .with_replica_election_results(results);
    };
    let controller = broker.controller.clone();
    let metadata = broker.metadata.clone();
    let requested = req.topic_partitions;
    let results = blocking(move || match requested {
        Some(list) => list
            .into_iter()
            .map(|t| {
                let name = t.topic.0.to_string();
                let partitions = t
                    .partitions
                    .iter()
                    .map(|&p| result(p, controller.elect_leader(&name, p, kind)))
                    .collect();
                ReplicaElectionResult::default()
                    .with_topic(t.topic)
                    .with_partition_result(partitions)
            })
            .collect::<Vec<_>>(),
        None => metadata
            .topics()
            .iter()
            .map(|t| {
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| (p.index, controller.elect_leader(&t.name, p.index, kind)))
                    .filter(|(_, r)| {
                        !matches!(r, Err(e) if e.kafka_code() == KafkaError::ElectionNotNeeded.code())
                    })
                    .map(|(p, r)| result(p, r))
                    .collect();
                ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(t.name.clone())))
                    .with_partition_result(partitions)
            })
            .collect(),
    })
    .await;
    ElectLeadersResponse::default().with_replica_election_results(results)
}
