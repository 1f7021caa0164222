//! WriteTxnMarkers (key 27, v1): a transaction coordinator on another broker ends a
//! transaction on partitions this broker leads (cluster mode only; Kafka's
//! `handleWriteTxnMarkersRequest`). Needs CLUSTER_ACTION on the cluster, as in Kafka; otherwise
//! every partition answers CLUSTER_AUTHORIZATION_FAILED.
//!
//! Per partition:
//! - a data partition gets the control batch (COMMIT or ABORT with the coordinator's epoch)
//!   appended on its leader and acknowledged as acks=all (`ReplicaManager::write_txn_marker`);
//!   its codes are the partition layer's (NOT_LEADER_OR_FOLLOWER, NOT_ENOUGH_REPLICAS,
//!   INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED, UNKNOWN_TOPIC_OR_PARTITION, ...);
//! - a `__consumer_offsets` partition completes the producer's pending transactional offsets
//!   in every group of that partition this broker coordinates (committed on COMMIT, dropped on
//!   ABORT); the completion is an offsets-topic record (`offsets_topic`), so no control batch
//!   is written there. NOT_LEADER_OR_FOLLOWER when this broker does not lead it.
//!
//! A single broker is its own and only transaction coordinator: it answers INVALID_REQUEST
//! (the API is advertised by cluster nodes only, `versions::CLUSTER_ONLY`).

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::WritableTxnMarker;
use kafka_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use kafka_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::cluster::OFFSETS_TOPIC;
use crate::kafka_error::KafkaError;
use crate::log::control::TxnMarker;

/// How long one marker waits for its acknowledgement (the coordinator retries after).
const MARKER_ACK_TIMEOUT: Duration = Duration::from_secs(30);

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: WriteTxnMarkersRequest,
) -> WriteTxnMarkersResponse {
    let allowed = authz::authorize_cluster(broker, ctx, Op::ClusterAction);
    let cluster = broker.controller.member().is_some();
    let mut markers = Vec::with_capacity(req.markers.len());
    for m in req.markers {
        let mut topics = Vec::with_capacity(m.topics.len());
        for t in &m.topics {
            let mut partitions = Vec::with_capacity(t.partition_indexes.len());
            for &p in &t.partition_indexes {
                let code = if !allowed {
                    KafkaError::ClusterAuthorizationFailed.code()
                } else if !cluster {
                    KafkaError::InvalidRequest.code()
                } else {
                    write_one(broker, t.name.as_str(), p, &m).await
                };
                partitions.push(
                    WritableTxnMarkerPartitionResult::default()
                        .with_partition_index(p)
                        .with_error_code(code),
                );
            }
            topics.push(
                WritableTxnMarkerTopicResult::default()
                    .with_name(t.name.clone())
                    .with_partitions(partitions),
            );
        }
        markers.push(
            WritableTxnMarkerResult::default()
                .with_producer_id(m.producer_id)
                .with_topics(topics),
        );
    }
    WriteTxnMarkersResponse::default().with_markers(markers)
}

/// Writes one marker to one partition: the error code of the partition's result.
async fn write_one(broker: &Broker, topic: &str, partition: i32, m: &WritableTxnMarker) -> i16 {
    if topic == OFFSETS_TOPIC {
        if let Err(e) = broker.replicas.leader(OFFSETS_TOPIC, partition, -1) {
            return e.kafka_code();
        }
        let count = broker
            .metadata
            .topic(OFFSETS_TOPIC)
            .map_or(0, |t| t.partitions.len() as i32);
        let in_partition = |g: &str| crate::group::offsets_partition(g, count) == partition;
        return match broker
            .groups
            .complete_transaction_in(in_partition, m.producer_id.0, m.transaction_result)
            .await
        {
            Ok(()) => 0,
            Err(e) => e.kafka_code(),
        };
    }
    let written = broker
        .replicas
        .write_txn_marker(
            topic,
            partition,
            m.producer_id.0,
            m.producer_epoch,
            TxnMarker {
                commit: m.transaction_result,
                coordinator_epoch: m.coordinator_epoch,
            },
            tokio::time::Instant::now() + MARKER_ACK_TIMEOUT,
        )
        .await;
    match written {
        Ok(_) => 0,
        Err(e) => e.kafka_code(),
    }
}
