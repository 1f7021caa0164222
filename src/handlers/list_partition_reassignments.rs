//! ListPartitionReassignments (key 46, v0): reassignments in progress
//! (`kafka-reassign-partitions --list` / `--verify`, the Java Admin's
//! `listPartitionReassignments`).
//!
//! As Kafka's controller (`ReplicationControlManager.listPartitionReassignments`): a null
//! topic list asks for every ongoing reassignment, a list for those of the named partitions
//! (unknown topics and partitions, and partitions with nothing in progress, are skipped).
//! Each entry gives the replicas (target first, then those being removed), the adding and
//! the removing replicas, from the metadata image this broker applied last. A single node
//! completes reassignments inside AlterPartitionReassignments (see `cluster::leadership`),
//! so its list is always empty. Error NONE with a null message.

use std::sync::Arc;

use kafka_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use kafka_protocol::messages::{
    BrokerId, ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !authz::authorize_cluster(broker, ctx, Op::Describe) {
        return ListPartitionReassignmentsResponse::default()
            .with_error_code(KafkaError::ClusterAuthorizationFailed.code())
            .with_error_message(Some(StrBytes::from_static_str(
                "Cluster authorization failed.",
            )));
    }
    let filter: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.to_string(), t.partition_indexes))
            .collect()
    });
    let ids = |v: Vec<i32>| v.into_iter().map(BrokerId).collect::<Vec<_>>();
    let topics = broker
        .controller
        .reassignments(filter.as_deref())
        .into_iter()
        .map(|(name, parts)| {
            OngoingTopicReassignment::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|p| {
                            OngoingPartitionReassignment::default()
                                .with_partition_index(p.partition)
                                .with_replicas(ids(p.replicas))
                                .with_adding_replicas(ids(p.adding))
                                .with_removing_replicas(ids(p.removing))
                        })
                        .collect(),
                )
        })
        .collect();
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(topics)
}
