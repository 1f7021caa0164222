//! AlterPartitionReassignments (key 45, v0–1): move partition replicas between brokers
//! (`kafka-reassign-partitions --execute`, the Java Admin's `alterPartitionReassignments`).
//!
//! As Kafka's controller (`ReplicationControlManager.alterPartitionReassignments`), per
//! partition: unknown topic or partition → UNKNOWN_TOPIC_OR_PARTITION; a null replica list
//! cancels a reassignment, and with none in progress answers NO_REASSIGNMENT_IN_PROGRESS; a
//! target that is empty, names a broker that is not registered or names one twice →
//! INVALID_REPLICA_ASSIGNMENT with Kafka's message; otherwise NONE. With one broker the only
//! valid target is `[this node]`, which completes at once (rules in `cluster::leadership`).
//! In cluster mode the controller quorum applies each partition's change
//! (`Command::ReassignPartition`, rules in `cluster/image/reassign.rs`): NONE means the
//! reassignment started (or completed, or was cancelled); the new replicas copy the log and
//! the quorum completes it once they are in sync. The top-level error is NONE with a null
//! message; v1 echoes `allow_replication_factor_change`, and when it is false a target whose
//! size differs from the replica set's is refused with INVALID_REPLICATION_FACTOR (KIP-860;
//! a valid single-node target never changes the replication factor).

use std::sync::Arc;

use kafka_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use kafka_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::KafkaError;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    if !authz::authorize_cluster(broker, ctx, Op::Alter) {
        return AlterPartitionReassignmentsResponse::default()
            .with_error_code(KafkaError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    let allow_rf_change = ctx.api_version < 1 || req.allow_replication_factor_change;
    let controller = broker.controller.clone();
    let topics = req.topics;
    let responses = blocking(move || {
        topics
            .into_iter()
            .map(|t| {
                let name = t.name.0.to_string();
                let partitions = t
                    .partitions
                    .into_iter()
                    .map(|p| {
                        let target: Option<Vec<i32>> =
                            p.replicas.map(|r| r.into_iter().map(|b| b.0).collect());
                        let r = ReassignablePartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_error_message(None);
                        match controller.reassign_partition(
                            &name,
                            p.partition_index,
                            target.as_deref(),
                            allow_rf_change,
                        ) {
                            Ok(()) => r,
                            Err(e) => r
                                .with_error_code(e.kafka_code())
                                .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                        }
                    })
                    .collect();
                ReassignableTopicResponse::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect()
    })
    .await;
    let mut resp = AlterPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_responses(responses);
    if ctx.api_version >= 1 {
        resp = resp.with_allow_replication_factor_change(allow_rf_change);
    }
    resp
}
