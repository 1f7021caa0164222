//! AddPartitionsToTxn (key 24, v0–3): a transactional producer adds partitions to its open
//! transaction before it writes to them (it starts the transaction when none is open).
//!
//! v0–3 carry one transaction (the `v3_and_below_*` fields) and answer per partition; v4+
//! (broker-to-broker batching, KIP-890) are not advertised. As in Kafka, a partition that does
//! not exist fails the whole request: it answers UNKNOWN_TOPIC_OR_PARTITION and the others
//! OPERATION_NOT_ATTEMPTED; otherwise the coordinator's answer applies to every partition
//! (PRODUCER_FENCED below v2 is sent as INVALID_PRODUCER_EPOCH).

use std::sync::Arc;

use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::txn::Participant;

/// PRODUCER_FENCED (v2+ of the transaction APIs) as older clients know it.
pub(super) fn fenced_for_version(e: KafkaError, version: i16, fenced_since: i16) -> KafkaError {
    if e == KafkaError::ProducerFenced && version < fenced_since {
        KafkaError::InvalidProducerEpoch
    } else {
        e
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AddPartitionsToTxnRequest,
) -> AddPartitionsToTxnResponse {
    let requested: Vec<(String, Vec<i32>)> = req
        .v3_and_below_topics
        .iter()
        .map(|t| (t.name.to_string(), t.partitions.clone()))
        .collect();
    let exists = |topic: &str, p: i32| {
        broker
            .metadata
            .topic(topic)
            .is_some_and(|t| t.partition(p).is_some())
    };
    let missing = requested
        .iter()
        .any(|(t, ps)| ps.iter().any(|p| !exists(t, *p)));
    let answer = |code: &dyn Fn(&str, i32) -> i16| {
        requested
            .iter()
            .map(|(t, ps)| {
                AddPartitionsToTxnTopicResult::default()
                    .with_name(StrBytes::from_string(t.clone()).into())
                    .with_results_by_partition(
                        ps.iter()
                            .map(|p| {
                                AddPartitionsToTxnPartitionResult::default()
                                    .with_partition_index(*p)
                                    .with_partition_error_code(code(t, *p))
                            })
                            .collect(),
                    )
            })
            .collect()
    };
    // Kafka: WRITE on the transactional id, then WRITE on every topic (the other partitions
    // are then not attempted).
    let txn_denied = !authz::transactional_id(
        broker,
        ctx,
        Op::Write,
        req.v3_and_below_transactional_id.as_str(),
    );
    let denied_topics: Vec<&str> = requested
        .iter()
        .map(|(t, _)| t.as_str())
        .filter(|t| !authz::topic(broker, ctx, Op::Write, t))
        .collect();
    let results = if txn_denied {
        answer(&|_, _| KafkaError::TransactionalIdAuthorizationFailed.code())
    } else if !denied_topics.is_empty() {
        answer(&|t, _| {
            if denied_topics.contains(&t) {
                KafkaError::TopicAuthorizationFailed.code()
            } else {
                KafkaError::OperationNotAttempted.code()
            }
        })
    } else if missing {
        answer(&|t, p| {
            if exists(t, p) {
                KafkaError::OperationNotAttempted.code()
            } else {
                KafkaError::UnknownTopicOrPartition.code()
            }
        })
    } else {
        let code = match &broker.txns {
            None => KafkaError::NotCoordinator.code(),
            Some(txns) => {
                let add = requested
                    .iter()
                    .flat_map(|(t, ps)| {
                        ps.iter().map(|p| Participant::Partition {
                            topic: t.clone(),
                            partition: *p,
                        })
                    })
                    .collect();
                match txns
                    .add_participants(
                        req.v3_and_below_transactional_id.as_str(),
                        req.v3_and_below_producer_id.0,
                        req.v3_and_below_producer_epoch,
                        add,
                    )
                    .await
                {
                    Ok(()) => 0,
                    Err(e) => fenced_for_version(e, ctx.api_version, 2).code(),
                }
            }
        };
        answer(&|_, _| code)
    };
    AddPartitionsToTxnResponse::default().with_results_by_topic_v3_and_below(results)
}
