//! What ShareFetch and ShareAcknowledge share: turning a request's acknowledgement batches
//! into domain acks (topic ids resolved, READ authorized, types checked, leadership checked),
//! and applying them — per partition atomic, durable before the answer — off the async
//! workers.

use std::sync::Arc;

use uuid::Uuid;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::{now_ms, Broker};
use crate::kafka_error::{self, KafkaError};
use crate::share::partition::{Ack, AckType};
use crate::share::session::TopicIdPartition;
use crate::share::{GroupSettings, ShareKey};

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

/// Per partition: the acks to apply, or why none can be.
pub type ResolvedAcks = Vec<(TopicIdPartition, Result<Vec<Ack>, AckOutcome>)>;

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
        if let Err(e) = broker.replicas.leader(&topic.name, partition, -1) {
            out.push((
                tp,
                Err(AckOutcome {
                    code: e.kafka_code(),
                    message: Some(e.to_string()),
                }),
            ));
            continue;
        }
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
            None => out.push((tp, Ok(acks))),
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
                    Ok(acks) => {
                        let key = ShareKey {
                            group: group.clone(),
                            topic_id: tp.0,
                            partition: tp.1,
                        };
                        match b.shares.acknowledge(&key, &settings, &member, &acks, now) {
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
