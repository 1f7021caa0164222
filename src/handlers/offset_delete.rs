//! OffsetDelete (key 47, v0): delete a group's committed offsets for some partitions.
//!
//! As Kafka: a group-level failure (GROUP_ID_NOT_FOUND, NON_EMPTY_GROUP for a live
//! non-consumer group, INVALID_GROUP_ID) is the top-level error with no topics; partitions
//! of unknown topics get UNKNOWN_TOPIC_OR_PARTITION; partitions of topics a live consumer
//! group subscribes to get GROUP_SUBSCRIBED_TO_TOPIC. Deleting an offset that does not
//! exist succeeds.

use std::sync::Arc;

use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::error::code_of;
use crate::kafka_error::{self, KafkaError};

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetDeleteRequest,
) -> OffsetDeleteResponse {
    if !authz::group(broker, ctx, Op::Delete, req.group_id.as_str()) {
        return OffsetDeleteResponse::default()
            .with_error_code(KafkaError::GroupAuthorizationFailed.code());
    }
    let mut layout = Vec::with_capacity(req.topics.len());
    let mut wanted: Vec<(String, Vec<i32>)> = Vec::new();
    for t in req.topics {
        let topic = t.name.0.to_string();
        let info = broker.metadata.topic(&topic);
        let mut parts = Vec::with_capacity(t.partitions.len());
        let mut known = Vec::new();
        let topic_denied = !authz::topic(broker, ctx, Op::Read, &topic);
        for p in t.partitions {
            if topic_denied {
                parts.push((
                    p.partition_index,
                    Some(KafkaError::TopicAuthorizationFailed.code()),
                ));
            } else if info
                .as_ref()
                .is_some_and(|i| i.partition(p.partition_index).is_some())
            {
                known.push(p.partition_index);
                parts.push((p.partition_index, None));
            } else {
                parts.push((
                    p.partition_index,
                    Some(KafkaError::UnknownTopicOrPartition.code()),
                ));
            }
        }
        if !known.is_empty() {
            wanted.push((topic, known));
        }
        layout.push((t.name, parts));
    }
    let results = match broker
        .groups
        .delete_offsets(req.group_id.0.as_str(), &wanted)
        .await
    {
        Ok(r) => r,
        Err(e) => return OffsetDeleteResponse::default().with_error_code(e.kafka_code()),
    };
    let code_for = |topic: &str, partition: i32| {
        results
            .iter()
            .find(|(t, p, _)| t == topic && *p == partition)
            .map_or(kafka_error::NONE, |(_, _, e)| code_of(e))
    };
    let topics = layout
        .into_iter()
        .map(|(name, parts)| {
            let partitions = parts
                .into_iter()
                .map(|(index, decided)| {
                    OffsetDeleteResponsePartition::default()
                        .with_partition_index(index)
                        .with_error_code(
                            decided.unwrap_or_else(|| code_for(name.0.as_str(), index)),
                        )
                })
                .collect();
            OffsetDeleteResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetDeleteResponse::default().with_topics(topics)
}
