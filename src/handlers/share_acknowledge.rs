//! ShareAcknowledge (key 79, v1): acknowledgements without a fetch (KIP-932), what the Java
//! client sends for `commitSync`/`commitAsync` and, with the FINAL epoch, on `close()`.
//!
//! Session rules (Kafka's `acknowledgeSessionUpdate`): epoch 0 is refused
//! (INVALID_SHARE_SESSION_EPOCH); −1 needs an existing session (SHARE_SESSION_NOT_FOUND),
//! applies the acknowledgements, then closes the session and releases the member's other
//! acquired records; any other epoch must match the session's and advances it. Session errors
//! are top-level with no partitions. Each partition's acknowledgements are atomic and
//! durable before its `ErrorCode` says success.

use std::sync::Arc;

use kafka_protocol::messages::share_acknowledge_response::{
    LeaderIdAndEpoch, PartitionData, ShareAcknowledgeTopicResponse,
};
use kafka_protocol::messages::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::share_common;
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::share::session::{SessionKey, FINAL_EPOCH, INITIAL_EPOCH};
use crate::share::GroupSettings;

fn top_level(code: i16, message: String) -> ShareAcknowledgeResponse {
    ShareAcknowledgeResponse::default()
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ShareAcknowledgeRequest,
) -> ShareAcknowledgeResponse {
    let group = req.group_id.as_ref().map(|g| g.as_str()).unwrap_or("");
    let member = req.member_id.as_ref().map(|m| m.as_str()).unwrap_or("");
    if group.is_empty() || member.is_empty() {
        return top_level(
            KafkaError::InvalidRequest.code(),
            "ShareAcknowledge needs a group id and a member id".into(),
        );
    }
    if !authz::group(broker, ctx, Op::Read, group) {
        return top_level(
            KafkaError::GroupAuthorizationFailed.code(),
            format!("not authorized to read group {group}"),
        );
    }
    let key: SessionKey = (Arc::from(group), Arc::from(member));
    match req.share_session_epoch {
        INITIAL_EPOCH => {
            return top_level(
                KafkaError::InvalidShareSessionEpoch.code(),
                "ShareAcknowledge cannot open a share session (epoch 0)".into(),
            )
        }
        FINAL_EPOCH => {
            if !broker.shares.has_session(&key) {
                return top_level(
                    KafkaError::ShareSessionNotFound.code(),
                    format!("share session for member {member} not found"),
                );
            }
        }
        e => {
            if let Err(err) =
                broker
                    .shares
                    .update_session(&key, e, ctx.connection_id, Vec::new(), &[])
            {
                return top_level(err.kafka_code(), err.to_string());
            }
        }
    }
    let settings = GroupSettings::from_overrides(&broker.controller.group_overrides(group));
    let resolved = share_common::resolve_acks(
        broker,
        ctx,
        req.topics.iter().flat_map(|t| {
            t.partitions.iter().map(move |p| {
                (
                    t.topic_id,
                    p.partition_index,
                    p.acknowledgement_batches
                        .iter()
                        .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()))
                        .collect::<Vec<_>>(),
                )
            })
        }),
    );
    let outcomes = share_common::apply_acks(broker, &key.0, &key.1, settings, resolved).await;
    if req.share_session_epoch == FINAL_EPOCH {
        let b = broker.clone();
        let k = key.clone();
        let _ = super::blocking(move || b.shares.close_session(&k)).await;
    }
    let node = broker.node.node_id;
    let mut topics: Vec<ShareAcknowledgeTopicResponse> = Vec::new();
    for ((topic_id, partition), o) in outcomes {
        let leader = if o.code == KafkaError::NotLeaderOrFollower.code() {
            -1
        } else {
            node
        };
        let pd = PartitionData::default()
            .with_partition_index(partition)
            .with_error_code(o.code)
            .with_error_message(o.message.map(StrBytes::from_string))
            .with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(leader)
                    .with_leader_epoch(-1),
            );
        match topics.last_mut() {
            Some(t) if t.topic_id == topic_id => t.partitions.push(pd),
            _ => topics.push(
                ShareAcknowledgeTopicResponse::default()
                    .with_topic_id(topic_id)
                    .with_partitions(vec![pd]),
            ),
        }
    }
    ShareAcknowledgeResponse::default().with_responses(topics)
}
