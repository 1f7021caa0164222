//! WriteShareGroupState (key 85, v0): a share-partition leader on another broker makes a
//! share-partition's state durable at this broker, the share group's coordinator (cluster
//! mode only; `offsets_topic::share`). The request carries the whole state (start offset and
//! every in-flight range), which replaces the stored one; success means the offsets topic
//! took it at acks=all. Needs CLUSTER_ACTION on the cluster (else
//! CLUSTER_AUTHORIZATION_FAILED); a single node answers INVALID_REQUEST.
//!
//! Per partition: NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS / COORDINATOR_NOT_AVAILABLE
//! (retried by the writer), FENCED_LEADER_EPOCH (a newer leader of the data partition took
//! over), FENCED_STATE_EPOCH (the state was reset or deleted since it was read), or
//! INVALID_REQUEST for a malformed batch.

use std::sync::Arc;

use kafka_protocol::messages::write_share_group_state_response::{
    PartitionResult, WriteStateResult,
};
use kafka_protocol::messages::{WriteShareGroupStateRequest, WriteShareGroupStateResponse};
use kafka_protocol::protocol::StrBytes;

use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::{self, KafkaError};
use crate::share::remote::from_wire;

fn result(partition: i32, code: i16, message: Option<String>) -> PartitionResult {
    PartitionResult::default()
        .with_partition(partition)
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string))
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: WriteShareGroupStateRequest,
) -> WriteShareGroupStateResponse {
    let store = super::share_common::state_store(broker, ctx, "write");
    let group = req.group_id.as_str().to_string();
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let offsets = match &store {
                Ok(o) => o.clone(),
                Err((code, message)) => {
                    partitions.push(result(p.partition, *code, Some(message.clone())));
                    continue;
                }
            };
            let state = match from_wire(
                p.state_epoch,
                p.start_offset,
                p.state_batches.iter().map(|b| {
                    (
                        b.first_offset,
                        b.last_offset,
                        b.delivery_state,
                        b.delivery_count,
                    )
                }),
            ) {
                Ok(s) => s,
                Err(m) => {
                    partitions.push(result(
                        p.partition,
                        KafkaError::InvalidRequest.code(),
                        Some(m),
                    ));
                    continue;
                }
            };
            let key = (group.clone(), t.topic_id, p.partition);
            let epoch = p.leader_epoch;
            let r = super::blocking(move || offsets.write_share_state(&key, epoch, state)).await;
            partitions.push(match r {
                Ok(()) => result(p.partition, kafka_error::NONE, None),
                Err(e) => result(p.partition, e.kafka_code(), Some(e.to_string())),
            });
        }
        results.push(
            WriteStateResult::default()
                .with_topic_id(t.topic_id)
                .with_partitions(partitions),
        );
    }
    WriteShareGroupStateResponse::default().with_results(results)
}
