//! OffsetFetch (key 9, v1–9): committed offsets of a group.
//!
//! v1–7 ask for one group (`group_id`, `topics`); v8+ batch `groups`. Null topics (v2+)
//! mean every partition the group has an offset for. A partition without a committed
//! offset, or a group that does not exist, answers offset −1, leader epoch −1, metadata ""
//! and no error, as Kafka does. Group-level errors go in the top-level error code (v2–7) or
//! the group's error code (v8+); v1 has neither, so they go on each partition. The leader
//! epoch is sent from v5. With `require_stable` (v7+; the Java consumer always sets it) a
//! partition whose transactional offsets wait for their transaction's marker answers
//! UNSTABLE_OFFSET_COMMIT (retriable) instead of the last committed offset. v9's member id / epoch are for the
//! KIP-848 protocol: a consumer group's member must send its current epoch
//! (UNKNOWN_MEMBER_ID / STALE_MEMBER_EPOCH); they are ignored for classic groups, as Kafka does.

use std::sync::Arc;

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::CommittedOffset;
use crate::kafka_error::{self, KafkaError};

/// One partition's answer: (partition, offset, leader epoch, metadata, error code).
type PartitionAnswer = (i32, i64, i32, String, i16);

/// One group's answer: (group error code, topics).
type GroupAnswer = (i16, Vec<(String, Vec<PartitionAnswer>)>);

fn answer(partition: i32, offset: Option<CommittedOffset>) -> PartitionAnswer {
    match offset {
        Some(o) => (
            partition,
            o.offset,
            o.leader_epoch,
            o.metadata,
            kafka_error::NONE,
        ),
        None => (partition, -1, -1, String::new(), kafka_error::NONE),
    }
}

/// [`fetch_group`] under Kafka's checks: DESCRIBE on the group, else
/// GROUP_AUTHORIZATION_FAILED; topics the principal may not DESCRIBE are left out of an
/// all-topics answer and answer TOPIC_AUTHORIZATION_FAILED when named.
async fn authorized_fetch(
    broker: &Broker,
    ctx: &RequestContext,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> GroupAnswer {
    if !authz::group(broker, ctx, Op::Describe, group_id) {
        return (KafkaError::GroupAuthorizationFailed.code(), Vec::new());
    }
    let all = topics.is_none();
    let (code, mut answer) = fetch_group(broker, group_id, topics, require_stable).await;
    if all {
        answer.retain(|(t, _)| authz::topic(broker, ctx, Op::Describe, t));
    } else {
        for (t, parts) in &mut answer {
            if !authz::topic(broker, ctx, Op::Describe, t) {
                for p in parts.iter_mut() {
                    *p = (
                        p.0,
                        -1,
                        -1,
                        String::new(),
                        KafkaError::TopicAuthorizationFailed.code(),
                    );
                }
            }
        }
    }
    (code, answer)
}

async fn fetch_group(
    broker: &Broker,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> GroupAnswer {
    match broker
        .groups
        .fetch_offsets(group_id, topics.as_deref(), require_stable)
        .await
    {
        Ok(fetched) => {
            let unstable = if require_stable {
                broker.groups.unstable_partitions(group_id).await
            } else {
                Vec::new()
            };
            let unstable_code = KafkaError::UnstableOffsetCommit.code();
            (
                0,
                fetched
                    .into_iter()
                    .map(|(topic, parts)| {
                        let parts = parts
                            .into_iter()
                            .map(|(p, o)| {
                                if unstable.iter().any(|(t, q)| *t == topic && *q == p) {
                                    (p, -1, -1, String::new(), unstable_code)
                                } else {
                                    answer(p, o)
                                }
                            })
                            .collect();
                        (topic, parts)
                    })
                    .collect(),
            )
        }
        Err(e) => {
            // Requested partitions still get entries (offset −1) carrying the error, so a
            // v1 client, which has no group-level error, sees it.
            let code = e.kafka_code();
            let topics = topics
                .unwrap_or_default()
                .into_iter()
                .map(|(t, ps)| {
                    (
                        t,
                        ps.into_iter()
                            .map(|p| (p, -1, -1, String::new(), code))
                            .collect(),
                    )
                })
                .collect();
            (code, topics)
        }
    }
}

fn legacy_response(version: i16, (code, topics): GroupAnswer) -> OffsetFetchResponse {
    let topics = topics
        .into_iter()
        .map(|(name, parts)| {
            let partitions = parts
                .into_iter()
                .map(|(index, offset, epoch, metadata, pcode)| {
                    OffsetFetchResponsePartition::default()
                        .with_partition_index(index)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(if version >= 5 { epoch } else { -1 })
                        .with_metadata(Some(StrBytes::from_string(metadata)))
                        // From v2 the group error is top-level; v1 repeats it per partition.
                        .with_error_code(if version >= 2 && pcode == code {
                            kafka_error::NONE
                        } else {
                            pcode
                        })
                })
                .collect();
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponse::default()
        .with_topics(topics)
        .with_error_code(if version >= 2 {
            code
        } else {
            kafka_error::NONE
        })
}

fn batched_group(group_id: GroupId, (code, topics): GroupAnswer) -> OffsetFetchResponseGroup {
    let topics = topics
        .into_iter()
        .map(|(name, parts)| {
            let partitions = parts
                .into_iter()
                .map(|(index, offset, epoch, metadata, pcode)| {
                    OffsetFetchResponsePartitions::default()
                        .with_partition_index(index)
                        .with_committed_offset(offset)
                        .with_committed_leader_epoch(epoch)
                        .with_metadata(Some(StrBytes::from_string(metadata)))
                        .with_error_code(if pcode == code {
                            kafka_error::NONE
                        } else {
                            pcode
                        })
                })
                .collect();
            OffsetFetchResponseTopics::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    OffsetFetchResponseGroup::default()
        .with_group_id(group_id)
        .with_topics(topics)
        .with_error_code(code)
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetFetchRequest,
) -> OffsetFetchResponse {
    let v = ctx.api_version;
    let require_stable = v >= 7 && req.require_stable;
    if v < 8 {
        let topics = req.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect::<Vec<_>>()
        });
        let group =
            authorized_fetch(broker, ctx, req.group_id.0.as_str(), topics, require_stable).await;
        return legacy_response(v, group);
    }
    let mut groups = Vec::with_capacity(req.groups.len());
    for g in req.groups {
        let topics = g.topics.map(|ts| {
            ts.into_iter()
                .map(|t| (t.name.0.to_string(), t.partition_indexes))
                .collect::<Vec<_>>()
        });
        // v9: a KIP-848 member fetches with its id and epoch, which must be current.
        let member_id = g
            .member_id
            .as_ref()
            .map(|m| m.to_string())
            .unwrap_or_default();
        let checked = if v >= 9 && (!member_id.is_empty() || g.member_epoch >= 0) {
            broker
                .groups
                .validate_offset_fetch(g.group_id.as_str(), &member_id, g.member_epoch)
                .await
        } else {
            Ok(())
        };
        let answer = match checked {
            Ok(()) => {
                authorized_fetch(broker, ctx, g.group_id.0.as_str(), topics, require_stable).await
            }
            Err(e) => (e.kafka_code(), Vec::new()),
        };
        groups.push(batched_group(g.group_id, answer));
    }
    OffsetFetchResponse::default().with_groups(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    fn sample(code: i16) -> GroupAnswer {
        (
            code,
            vec![(
                "t".into(),
                vec![
                    (0, 42, 3, "m".into(), code),
                    (1, -1, -1, String::new(), code),
                ],
            )],
        )
    }

    #[test]
    fn encodes_at_every_version() {
        for v in 1..=7 {
            for code in [0, 24] {
                legacy_response(v, sample(code))
                    .encode(&mut BytesMut::new(), v)
                    .unwrap_or_else(|e| panic!("v{v}: {e}"));
            }
        }
        for v in 8..=9 {
            let r = OffsetFetchResponse::default().with_groups(vec![batched_group(
                GroupId(StrBytes::from_static_str("g")),
                sample(0),
            )]);
            r.encode(&mut BytesMut::new(), v)
                .unwrap_or_else(|e| panic!("v{v}: {e}"));
        }
    }

    #[test]
    fn group_errors_go_where_the_version_can_carry_them() {
        let v1 = legacy_response(1, sample(24));
        assert_eq!(v1.error_code, 0);
        assert_eq!(v1.topics[0].partitions[0].error_code, 24);
        let v2 = legacy_response(2, sample(24));
        assert_eq!(v2.error_code, 24);
        assert_eq!(v2.topics[0].partitions[0].error_code, 0);
        let v4 = legacy_response(4, sample(0));
        assert_eq!(
            v4.topics[0].partitions[0].committed_leader_epoch, -1,
            "no epoch before v5"
        );
        let v5 = legacy_response(5, sample(0));
        assert_eq!(v5.topics[0].partitions[0].committed_leader_epoch, 3);
        let g = batched_group(GroupId(StrBytes::from_static_str("g")), sample(24));
        assert_eq!(g.error_code, 24);
        assert_eq!(g.topics[0].partitions[0].error_code, 0);
    }
}
