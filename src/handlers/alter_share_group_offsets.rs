//! AlterShareGroupOffsets (key 91, v0): `kafka-share-groups --reset-offsets --execute`. Each
//! named share-partition restarts at the given start offset with nothing in flight, written
//! durably before the answer. The group must have no active member on this broker (no share
//! session) and no member in the group coordinator: NON_EMPTY_GROUP otherwise, top-level, as
//! Kafka refuses to move a live group. In a cluster it runs at the group's share coordinator,
//! which holds the state (else NOT_COORDINATOR); the reset bumps the state epoch, fencing the
//! leaders' cached copies.
//! Needs READ on the group and on each topic; an offset outside the log's
//! [start, end] is clamped by nothing — Kafka stores what it is given, and so do we (a start
//! below the log start is archived on the next fetch).

use std::sync::Arc;

use kafka_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::share_common;
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::{self, KafkaError};

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterShareGroupOffsetsRequest,
) -> AlterShareGroupOffsetsResponse {
    let group = req.group_id.as_str().to_string();
    if let Err((code, message)) =
        share_common::admin_change_allowed(broker, ctx, &group, Op::Read, "read")
    {
        return AlterShareGroupOffsetsResponse::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message)));
    }
    let mut responses = Vec::new();
    for t in req.topics {
        let name = t.topic_name.as_str().to_string();
        let topic = broker.metadata.topic(&name);
        let denied = !authz::topic(broker, ctx, Op::Read, &name);
        let mut partitions = Vec::new();
        for p in t.partitions {
            let mut pd = AlterShareGroupOffsetsResponsePartition::default()
                .with_partition_index(p.partition_index);
            let code = match &topic {
                _ if denied => KafkaError::TopicAuthorizationFailed.code(),
                Some(ti) if ti.partition(p.partition_index).is_some() => {
                    let reset = vec![(ti.id, p.partition_index, Some(p.start_offset))];
                    match share_common::reset_states(broker, &group, reset).await {
                        Ok(()) => kafka_error::NONE,
                        Err((code, message)) => {
                            pd.error_message = Some(StrBytes::from_string(message));
                            code
                        }
                    }
                }
                _ => KafkaError::UnknownTopicOrPartition.code(),
            };
            pd.error_code = code;
            partitions.push(pd);
        }
        responses.push(
            AlterShareGroupOffsetsResponseTopic::default()
                .with_topic_id(topic.as_ref().map(|t| t.id).unwrap_or_default())
                .with_topic_name(t.topic_name)
                .with_partitions(partitions),
        );
    }
    AlterShareGroupOffsetsResponse::default().with_responses(responses)
}
