//! TxnOffsetCommit (key 28, v0–4): a transactional producer commits a consumer group's
//! offsets inside its transaction (`sendOffsetsToTransaction`, the consume-transform-produce
//! loop of exactly-once processing).
//!
//! The group must be in the open transaction (AddOffsetsToTxn first: v0–4 never add it
//! implicitly; v5, transactions v2, is not advertised), checked with the transaction
//! coordinator while the offsets are staged, so they cannot miss the transaction's marker.
//! In a cluster the transaction coordinator may be another broker (the group coordinator is
//! the leader of the group's `__consumer_offsets` partition): then the offsets are staged
//! without that check, as Kafka does before KIP-890, and the coordinator's marker (a
//! WriteTxnMarkers to this broker) completes them.
//! v3+ carry the consumer's generation, member id and instance id (KIP-447), validated as
//! OffsetCommit validates them (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID).
//! The offsets stay pending until the marker: committed at COMMIT, dropped at ABORT; OffsetFetch
//! with `require_stable` answers UNSTABLE_OFFSET_COMMIT for them meanwhile. Errors apply to
//! every partition; PRODUCER_FENCED is sent as INVALID_PRODUCER_EPOCH, the code of the
//! producer-side check.

use std::sync::Arc;

use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::{error::code_of, CommitRequest, CommittedOffset, GroupError};
use crate::kafka_error::KafkaError;

/// (topic, [(partition, error decided here)]) in request order.
type Layout = Vec<(String, Vec<(i32, Option<i16>)>)>;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: TxnOffsetCommitRequest,
) -> TxnOffsetCommitResponse {
    let v = ctx.api_version;
    let mut layout: Layout = Vec::new();
    let mut offsets = Vec::new();
    // Kafka: WRITE on the transactional id, READ on the group, READ on each topic.
    let denied_all =
        if !authz::transactional_id(broker, ctx, Op::Write, req.transactional_id.as_str()) {
            Some(KafkaError::TransactionalIdAuthorizationFailed.code())
        } else if !authz::group(broker, ctx, Op::Read, req.group_id.as_str()) {
            Some(KafkaError::GroupAuthorizationFailed.code())
        } else {
            None
        };
    for t in &req.topics {
        let topic = t.name.to_string();
        let info = broker.metadata.topic(&topic);
        let denied = denied_all.or_else(|| {
            (!authz::topic(broker, ctx, Op::Read, &topic))
                .then(|| KafkaError::TopicAuthorizationFailed.code())
        });
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            if denied.is_some() {
                parts.push((p.partition_index, denied));
                continue;
            }
            if info
                .as_ref()
                .is_none_or(|i| i.partition(p.partition_index).is_none())
            {
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
                    leader_epoch: if v >= 2 { p.committed_leader_epoch } else { -1 },
                    metadata: p
                        .committed_metadata
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                    commit_timestamp_ms: 0,
                },
            ));
            parts.push((p.partition_index, None));
        }
        layout.push((topic, parts));
    }
    let n = offsets.len();
    let codes: Vec<i16> = if n == 0 {
        Vec::new()
    } else {
        match commit(broker, &req, v, offsets).await {
            Ok(codes) => codes,
            Err(code) => vec![code; n],
        }
    };
    let mut codes = codes.into_iter();
    let topics = layout
        .into_iter()
        .map(|(name, parts)| {
            TxnOffsetCommitResponseTopic::default()
                .with_name(StrBytes::from_string(name).into())
                .with_partitions(
                    parts
                        .into_iter()
                        .map(|(index, decided)| {
                            let code = decided.unwrap_or_else(|| {
                                codes
                                    .next()
                                    .unwrap_or(KafkaError::UnknownServerError.code())
                            });
                            TxnOffsetCommitResponsePartition::default()
                                .with_partition_index(index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    TxnOffsetCommitResponse::default().with_topics(topics)
}

/// Verifies the group is in the transaction and stages the offsets: per-partition codes, or
/// one code for all.
async fn commit(
    broker: &Broker,
    req: &TxnOffsetCommitRequest,
    v: i16,
    offsets: Vec<(String, i32, CommittedOffset)>,
) -> Result<Vec<i16>, i16> {
    let Some(txns) = &broker.txns else {
        return Err(KafkaError::NotCoordinator.code());
    };
    let group_id = req.group_id.to_string();
    let verified = txns
        .verify_group(
            req.transactional_id.as_str(),
            req.producer_id.0,
            req.producer_epoch,
            &group_id,
        )
        .await;
    let permit = match verified {
        Ok(p) => Some(p),
        // Another broker coordinates the transaction (module header).
        Err(KafkaError::NotCoordinator) if broker.txn_topic.is_some() => None,
        Err(KafkaError::ProducerFenced | KafkaError::InvalidProducerIdMapping) => {
            return Err(KafkaError::InvalidProducerEpoch.code())
        }
        Err(e) => return Err(e.code()),
    };
    let request = CommitRequest {
        group_id,
        member_id: if v >= 3 {
            req.member_id.to_string()
        } else {
            String::new()
        },
        generation_id: if v >= 3 { req.generation_id } else { -1 },
        group_instance_id: if v >= 3 {
            req.group_instance_id.as_ref().map(|s| s.to_string())
        } else {
            None
        },
        offsets,
    };
    let out = broker
        .groups
        .commit_txn_offsets(request, req.producer_id.0)
        .await;
    drop(permit);
    match out {
        Ok(results) => Ok(results.iter().map(|(_, _, e)| code_of(e)).collect()),
        // A KIP-848 member's stale epoch is ILLEGAL_GENERATION up to v5, as in Kafka.
        Err(GroupError::GroupIdNotFound(_) | GroupError::StaleMemberEpoch { .. }) => {
            Err(KafkaError::IllegalGeneration.code())
        }
        Err(e) => Err(e.kafka_code()),
    }
}
