//! ReadShareGroupState (key 84, v0): a share-partition leader on another broker reads a
//! share-partition's state from this broker, the share group's coordinator (cluster mode
//! only; `offsets_topic::share`). Needs CLUSTER_ACTION on the cluster, as in Kafka; otherwise
//! every partition answers CLUSTER_AUTHORIZATION_FAILED. A single node keeps share state
//! itself: INVALID_REQUEST (the API is advertised by cluster nodes only).
//!
//! Per partition: the state epoch, start offset (−1: not initialized at that state epoch) and
//! the in-flight ranges; NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS /
//! COORDINATOR_NOT_AVAILABLE (the reader finds the coordinator again and retries) or
//! FENCED_LEADER_EPOCH (a newer leader of the data partition read it since).

use std::sync::Arc;

use kafka_protocol::messages::read_share_group_state_response::{
    PartitionResult, ReadStateResult, StateBatch,
};
use kafka_protocol::messages::{ReadShareGroupStateRequest, ReadShareGroupStateResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::Broker;

fn failed(partition: i32, code: i16, message: String) -> PartitionResult {
    PartitionResult::default()
        .with_partition(partition)
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_state_epoch(-1)
        .with_start_offset(-1)
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ReadShareGroupStateRequest,
) -> ReadShareGroupStateResponse {
    let store = super::share_common::state_store(broker, ctx, "read");
    let group = req.group_id.as_str().to_string();
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let offsets = match &store {
                Ok(o) => o.clone(),
                Err((code, message)) => {
                    partitions.push(failed(p.partition, *code, message.clone()));
                    continue;
                }
            };
            let key = (group.clone(), t.topic_id, p.partition);
            let epoch = p.leader_epoch;
            let r = super::blocking(move || offsets.read_share_state(&key, epoch)).await;
            partitions.push(match r {
                Ok(s) => PartitionResult::default()
                    .with_partition(p.partition)
                    .with_state_epoch(s.state_epoch)
                    .with_start_offset(s.start_offset)
                    .with_state_batches(
                        s.ranges
                            .iter()
                            .map(|r| {
                                StateBatch::default()
                                    .with_first_offset(r.first)
                                    .with_last_offset(r.last)
                                    .with_delivery_state(r.state as u8 as i8)
                                    .with_delivery_count(r.delivery_count)
                            })
                            .collect(),
                    ),
                Err(e) => failed(p.partition, e.kafka_code(), e.to_string()),
            });
        }
        results.push(
            ReadStateResult::default()
                .with_topic_id(t.topic_id)
                .with_partitions(partitions),
        );
    }
    ReadShareGroupStateResponse::default().with_results(results)
}
