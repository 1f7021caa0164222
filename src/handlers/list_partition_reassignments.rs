//! ListPartitionReassignments (key 46, v0): reassignments in progress
//! (`kafka-reassign-partitions --list`, the Java Admin's `listPartitionReassignments`).
//!
//! As Kafka's controller (`ReplicationControlManager.listPartitionReassignments`): a null
//! topic list asks for every ongoing reassignment, a list for those of the named partitions
//! (unknown topics are skipped). Reassignments on this broker complete inside
//! AlterPartitionReassignments (see `cluster::leadership`), so none is ever in progress and
//! the list is empty, with error NONE and a null message.

use std::sync::Arc;

use kafka_protocol::messages::{
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use super::RequestContext;
use crate::broker::Broker;

pub async fn handle(
    _broker: &Arc<Broker>,
    _ctx: &RequestContext,
    _req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    ListPartitionReassignmentsResponse::default()
        .with_error_message(None)
        .with_topics(Vec::new())
}
