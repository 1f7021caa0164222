//! DeleteShareGroupOffsets (key 92, v0): `kafka-share-groups --delete-offsets`. The named
//! topics' share-partition state of the group is deleted (durably); a later fetch starts over
//! at `share.auto.offset.reset`. The group must have no member (group coordinator) and no
//! share session on this broker (NON_EMPTY_GROUP, top-level). In a cluster it runs at the
//! group's share coordinator (else NOT_COORDINATOR), where the state becomes "not initialized"
//! at the next state epoch. Needs DELETE on the group and READ on each topic.

use std::sync::Arc;

use kafka_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use kafka_protocol::messages::{DeleteShareGroupOffsetsRequest, DeleteShareGroupOffsetsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::share_common;
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::{self, KafkaError};

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteShareGroupOffsetsRequest,
) -> DeleteShareGroupOffsetsResponse {
    let group = req.group_id.as_str().to_string();
    if let Err((code, message)) =
        share_common::admin_change_allowed(broker, ctx, &group, Op::Delete, "delete from")
    {
        return DeleteShareGroupOffsetsResponse::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message)));
    }
    let mut responses = Vec::new();
    for t in req.topics {
        let name = t.topic_name.as_str().to_string();
        let mut r = DeleteShareGroupOffsetsResponseTopic::default().with_topic_name(t.topic_name);
        if !authz::topic(broker, ctx, Op::Read, &name) {
            r.error_code = KafkaError::TopicAuthorizationFailed.code();
        } else if let Some(topic) = broker.metadata.topic(&name) {
            r.topic_id = topic.id;
            let parts: Vec<(uuid::Uuid, i32, Option<i64>)> = topic
                .partitions
                .iter()
                .map(|p| (topic.id, p.index, None))
                .collect();
            match share_common::reset_states(broker, &group, parts).await {
                Ok(()) => r.error_code = kafka_error::NONE,
                Err((code, message)) => {
                    r.error_code = code;
                    r.error_message = Some(StrBytes::from_string(message));
                }
            }
        } else {
            r.error_code = KafkaError::UnknownTopicOrPartition.code();
        }
        responses.push(r);
    }
    DeleteShareGroupOffsetsResponse::default().with_responses(responses)
}
