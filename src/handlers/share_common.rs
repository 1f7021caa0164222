//! What the share handlers share: turning a request's acknowledgement batches into domain
//! acks (topic ids resolved, READ authorized, types checked, leadership checked) and applying
//! them — per partition atomic, durable before the answer — off the async workers (ShareFetch,
//! ShareAcknowledge); and the share-state admin operations at the share coordinator
//! (Describe/Alter/DeleteShareGroupOffsets): a single node's own store through the
//! share-partition manager, or a cluster's offsets topic (`offsets_topic::share`), where this
//! broker must be the group's coordinator (NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS).

use std::sync::Arc;

use uuid::Uuid;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::{now_ms, Broker};
use crate::kafka_error::{self, KafkaError};
use crate::share::partition::{Ack, AckType};
use crate::share::session::TopicIdPartition;
use crate::share::{GroupSettings, ShareKey};

/// A failed admin operation: (Kafka code, message).
pub type AdminError = (i16, String);

/// Cluster mode: whether this broker is `group`'s (loaded) share coordinator.
pub fn coordinator_check(broker: &Broker, group: &str) -> Result<(), AdminError> {
    match &broker.offsets_topic {
        None => Ok(()),
        Some(o) => o
            .check_share_coordinator(group)
            .map_err(|e| (e.kafka_code(), e.to_string())),
    }
}

/// The share-state store a Read/WriteShareGroupState (`what`: "read" / "write") from another
/// broker reaches: this cluster node's offsets topic, or the error every partition of the
/// request gets (CLUSTER_AUTHORIZATION_FAILED without CLUSTER_ACTION; INVALID_REQUEST on a
/// single node, which keeps its share state itself).
pub fn state_store(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    what: &str,
) -> Result<Arc<crate::offsets_topic::OffsetsTopic>, AdminError> {
    if !authz::authorize_cluster(broker, ctx, Op::ClusterAction) {
        return Err((
            KafkaError::ClusterAuthorizationFailed.code(),
            format!("CLUSTER_ACTION is needed to {what} share state"),
        ));
    }
    broker.offsets_topic.clone().ok_or_else(|| {
        (
            KafkaError::InvalidRequest.code(),
            "a single node keeps its share state itself".to_string(),
        )
    })
}

/// The checks before an admin change of `group`'s share state (Alter/DeleteShareGroupOffsets):
/// a group id, `op` on the group (`verb` names it in the message), this broker the group's
/// share coordinator, and no member or share session (NON_EMPTY_GROUP), as Kafka checks them.
pub fn admin_change_allowed(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    group: &str,
    op: Op,
    verb: &str,
) -> Result<(), AdminError> {
    if group.is_empty() {
        return Err((
            KafkaError::InvalidGroupId.code(),
            "the group id is empty".into(),
        ));
    }
    if !authz::group(broker, ctx, op, group) {
        return Err((
            KafkaError::GroupAuthorizationFailed.code(),
            format!("not authorized to {verb} group {group}"),
        ));
    }
    coordinator_check(broker, group)?;
    let has_members = broker
        .groups
        .describe_share_groups()
        .iter()
        .any(|g| g.group_id == group && !g.members.is_empty());
    if has_members || broker.shares.group_has_sessions(group) {
        return Err((
            KafkaError::NonEmptyGroup.code(),
            format!("share group {group} has active members"),
        ));
    }
    Ok(())
}

/// The start offset of each share-partition of `group` that has state.
pub async fn start_offsets(
    broker: &Arc<Broker>,
    group: &str,
) -> Result<Vec<(TopicIdPartition, i64)>, AdminError> {
    let b = broker.clone();
    let g = group.to_string();
    super::blocking(move || match &b.offsets_topic {
        None => b
            .shares
            .describe_group(&g)
            .map(|v| {
                v.into_iter()
                    .map(|v| ((v.key.topic_id, v.key.partition), v.start_offset))
                    .collect()
            })
            .map_err(|e| (e.kafka_code(), e.to_string())),
        Some(o) => o
            .share_states(&g)
            .map(|v| {
                v.into_iter()
                    .map(|(id, p, s)| ((id, p), s.start_offset))
                    .collect()
            })
            .map_err(|e| (e.kafka_code(), e.to_string())),
    })
    .await
}

/// Restarts share-partitions of `group` at a start offset (`Some`) or deletes their state
/// (`None`), durably; a cluster also drops this broker's cached copies (other leaders' are
/// fenced by the new state epoch, and reloaded when the group's first session opens there).
pub async fn reset_states(
    broker: &Arc<Broker>,
    group: &str,
    resets: Vec<(uuid::Uuid, i32, Option<i64>)>,
) -> Result<(), AdminError> {
    let b = broker.clone();
    let g = group.to_string();
    super::blocking(move || match &b.offsets_topic {
        None => {
            let gid: Arc<str> = Arc::from(g.as_str());
            let deletes: Vec<TopicIdPartition> = resets
                .iter()
                .filter(|r| r.2.is_none())
                .map(|r| (r.0, r.1))
                .collect();
            if !deletes.is_empty() {
                b.shares
                    .delete_state(&g, Some(&deletes))
                    .map_err(|e| (e.kafka_code(), e.to_string()))?;
            }
            for (topic_id, partition, start) in resets {
                if let Some(start) = start {
                    let key = ShareKey {
                        group: gid.clone(),
                        topic_id,
                        partition,
                    };
                    b.shares
                        .reset_start(&key, start)
                        .map_err(|e| (e.kafka_code(), e.to_string()))?;
                }
            }
            Ok(())
        }
        Some(o) => {
            let r = o
                .reset_share_states(&g, &resets)
                .map_err(|e| (e.kafka_code(), e.to_string()));
            b.shares.forget_group(&g, false);
            r
        }
    })
    .await
}

/// A partition's acknowledgement result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckOutcome {
    pub code: i16,
    pub message: Option<String>,
}

impl AckOutcome {
    fn err(e: KafkaError, message: String) -> AckOutcome {
        AckOutcome {
            code: e.code(),
            message: Some(message),
        }
    }
}

/// Per partition: the acks to apply and the partition's leader epoch, or why none can be.
pub type ResolvedAcks = Vec<(TopicIdPartition, Result<(Vec<Ack>, i32), AckOutcome>)>;

/// One partition's wire batches: (first offset, last offset, types).
pub type WireBatches = Vec<(i64, i64, Vec<i8>)>;

/// Checks each partition's acknowledgement batches.
pub fn resolve_acks(
    broker: &Broker,
    ctx: &RequestContext,
    parts: impl Iterator<Item = (Uuid, i32, WireBatches)>,
) -> ResolvedAcks {
    let mut out = Vec::new();
    for (topic_id, partition, batches) in parts {
        let tp = (topic_id, partition);
        let Some(topic) = broker.metadata.topic_by_id(topic_id) else {
            out.push((
                tp,
                Err(AckOutcome::err(
                    KafkaError::UnknownTopicId,
                    format!("unknown topic id {topic_id}"),
                )),
            ));
            continue;
        };
        if !authz::topic(broker, ctx, Op::Read, &topic.name) {
            out.push((
                tp,
                Err(AckOutcome::err(
                    KafkaError::TopicAuthorizationFailed,
                    format!("not authorized to read topic {}", topic.name),
                )),
            ));
            continue;
        }
        let leader_epoch = match broker.replicas.leader(&topic.name, partition, -1) {
            Ok(lp) => lp.leader_epoch,
            Err(e) => {
                out.push((
                    tp,
                    Err(AckOutcome {
                        code: e.kafka_code(),
                        message: Some(e.to_string()),
                    }),
                ));
                continue;
            }
        };
        let mut acks = Vec::with_capacity(batches.len());
        let mut bad = None;
        for (first, last, types) in batches {
            let mut ts = Vec::with_capacity(types.len());
            for t in types {
                match AckType::from_wire(t) {
                    Some(t) => ts.push(t),
                    None => bad = Some(t),
                }
            }
            acks.push(Ack {
                first,
                last,
                types: ts,
            });
        }
        match bad {
            Some(t) => out.push((
                tp,
                Err(AckOutcome::err(
                    KafkaError::InvalidRequest,
                    format!("unknown acknowledge type {t}"),
                )),
            )),
            None => out.push((tp, Ok((acks, leader_epoch)))),
        }
    }
    out
}

/// Applies resolved acks for `member` (each partition atomic, persisted before it is
/// reported) and returns every partition's outcome.
pub async fn apply_acks(
    broker: &Arc<Broker>,
    group: &Arc<str>,
    member: &Arc<str>,
    settings: GroupSettings,
    resolved: ResolvedAcks,
) -> Vec<(TopicIdPartition, AckOutcome)> {
    if resolved.is_empty() {
        return Vec::new();
    }
    let b = broker.clone();
    let group = group.clone();
    let member = member.clone();
    super::blocking(move || {
        let now = now_ms();
        resolved
            .into_iter()
            .map(|(tp, r)| {
                let outcome = match r {
                    Err(o) => o,
                    Ok((acks, leader_epoch)) => {
                        let key = ShareKey {
                            group: group.clone(),
                            topic_id: tp.0,
                            partition: tp.1,
                        };
                        match b.shares.acknowledge(
                            &key,
                            &settings,
                            &member,
                            &acks,
                            leader_epoch,
                            now,
                        ) {
                            Ok(_) => AckOutcome {
                                code: kafka_error::NONE,
                                message: None,
                            },
                            Err(e) => AckOutcome {
                                code: e.kafka_code(),
                                message: Some(e.to_string()),
                            },
                        }
                    }
                };
                (tp, outcome)
            })
            .collect()
    })
    .await
}
