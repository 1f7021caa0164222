//! OffsetCommit (key 8, v2–9): store consumer positions for a group.
//!
//! As Kafka: partitions of unknown topics (or beyond the partition count) get
//! UNKNOWN_TOPIC_OR_PARTITION and are not sent to the coordinator; the rest are validated
//! together by the group coordinator (member id / generation, or generation −1 with an
//! empty member id for an Empty or unknown group — the "simple"/admin commit used by
//! `kafka-consumer-groups --reset-offsets`), and a group-level failure is reported on every
//! partition. For an unknown group with generation ≥ 0, v9+ answer GROUP_ID_NOT_FOUND and
//! older versions ILLEGAL_GENERATION (Kafka's mapping). Version rules: leader epoch v6+,
//! group instance id v7+; the v2–4 retention time is ignored (Kafka 4 ignores it too).

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse, TopicName};

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::{error::code_of, CommitRequest, CommittedOffset, GroupError};
use crate::kafka_error::KafkaError;

/// Per topic, per partition: `Some(code)` decided by the handler, `None` = sent to the
/// coordinator.
type Layout = Vec<(TopicName, Vec<(i32, Option<i16>)>)>;

/// The code for a group-level commit failure at this request version.
fn group_error_code(version: i16, e: &GroupError) -> i16 {
    match e {
        GroupError::GroupIdNotFound(_) if version < 9 => KafkaError::IllegalGeneration.code(),
        e => e.kafka_code(),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let v = ctx.api_version;
    let mut layout: Layout = Vec::with_capacity(req.topics.len());
    let mut offsets = Vec::new();
    // Kafka: READ on the group for every partition, then READ on each topic.
    let group_denied = !authz::group(broker, ctx, Op::Read, req.group_id.as_str());
    for t in req.topics {
        let topic = t.name.0.to_string();
        let info = broker.metadata.topic(&topic);
        let denied = if group_denied {
            Some(KafkaError::GroupAuthorizationFailed.code())
        } else if !authz::topic(broker, ctx, Op::Read, &topic) {
            Some(KafkaError::TopicAuthorizationFailed.code())
        } else {
            None
        };
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            if denied.is_some() {
                parts.push((p.partition_index, denied));
                continue;
            }
            let exists = info
                .as_ref()
                .is_some_and(|i| i.partition(p.partition_index).is_some());
            if !exists {
                parts.push((
                    p.partition_index,
                    Some(KafkaError::UnknownTopicOrPartition.code()),
                ));
                continue;
            }
            offsets.push((
                topic.clone(),
                p.partition_index,
                CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: if v >= 6 { p.committed_leader_epoch } else { -1 },
                    metadata: p
                        .committed_metadata
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                    commit_timestamp_ms: 0,
                },
            ));
            parts.push((p.partition_index, None));
        }
        layout.push((t.name, parts));
    }

    // Coordinator results come back in the order they were sent.
    let mut coordinator_codes: std::vec::IntoIter<i16> = Vec::new().into_iter();
    if !offsets.is_empty() {
        let n = offsets.len();
        let request = CommitRequest {
            group_id: req.group_id.0.to_string(),
            member_id: req.member_id.to_string(),
            generation_id: req.generation_id_or_member_epoch,
            group_instance_id: if v >= 7 {
                req.group_instance_id.map(|s| s.to_string())
            } else {
                None
            },
            offsets,
        };
        // A KIP-848 member must commit with v9+ (its epoch is not a generation).
        let old_version_member = v < 9
            && !request.member_id.is_empty()
            && broker
                .groups
                .is_consumer_member(&request.group_id, &request.member_id)
                .await;
        let result = if old_version_member {
            Err(GroupError::UnsupportedVersion(
                "a consumer-protocol member commits with OffsetCommit v9+".into(),
            ))
        } else {
            broker.groups.commit_offsets(request).await
        };
        let list: Vec<i16> = match result {
            Ok(results) => results.iter().map(|(_, _, e)| code_of(e)).collect(),
            Err(e) => vec![group_error_code(v, &e); n],
        };
        coordinator_codes = list.into_iter();
    }

    let topics = layout
        .into_iter()
        .map(|(name, parts)| {
            let partitions = parts
                .into_iter()
                .map(|(index, decided)| {
                    let code = decided.unwrap_or_else(|| {
                        coordinator_codes
                            .next()
                            .unwrap_or(KafkaError::UnknownServerError.code())
                    });
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(name)
                .with_partitions(partitions)
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    #[test]
    fn unknown_group_maps_by_version() {
        let e = GroupError::GroupIdNotFound("g".into());
        assert_eq!(
            group_error_code(8, &e),
            KafkaError::IllegalGeneration.code()
        );
        assert_eq!(group_error_code(9, &e), 69);
        assert_eq!(group_error_code(2, &GroupError::RebalanceInProgress), 27);
    }

    #[test]
    fn response_encodes_at_every_version() {
        let r =
            OffsetCommitResponse::default().with_topics(vec![OffsetCommitResponseTopic::default()
                .with_name(TopicName(StrBytes::from_static_str("t")))
                .with_partitions(vec![
                    OffsetCommitResponsePartition::default().with_error_code(3)
                ])]);
        for v in 2..=9 {
            r.encode(&mut BytesMut::new(), v)
                .unwrap_or_else(|e| panic!("v{v}: {e}"));
        }
    }
}
