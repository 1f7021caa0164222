//! InitProducerId (key 22, v0–5): producer ids for idempotent and transactional producers.
//!
//! Without a transactional id Kafka always hands out a fresh producer id at epoch 0 (also when
//! the client asks to bump the epoch of an existing id after OUT_OF_ORDER_SEQUENCE_NUMBER), so
//! do we. Ids never repeat across restarts: a single node reserves them in blocks from its
//! store; a cluster node gets its blocks from the controller quorum, so that they are unique
//! across brokers too.
//!
//! With a transactional id the transaction coordinator answers (`txn`): the id's producer id
//! with a bumped epoch, fencing older producers and aborting their open transaction first
//! (CONCURRENT_TRANSACTIONS meanwhile; clients retry). v3+ carry the producer id and epoch the
//! client holds (KIP-360); a producer id without an epoch (or the reverse) is INVALID_REQUEST.
//! An empty transactional id is INVALID_REQUEST, as in Kafka (idempotent producers send
//! null). Below v4 PRODUCER_FENCED is sent as INVALID_PRODUCER_EPOCH,
//! the code those clients know. In a cluster only the leader of the id's `__transaction_state`
//! partition answers; another broker says NOT_COORDINATOR (COORDINATOR_LOAD_IN_PROGRESS while
//! the leader loads it), and the client asks FindCoordinator again.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::security::acl::ResourceType;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let fail = |e: KafkaError| {
        let e = if e == KafkaError::ProducerFenced && ctx.api_version < 4 {
            KafkaError::InvalidProducerEpoch
        } else {
            e
        };
        InitProducerIdResponse::default()
            .with_error_code(e.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if let Some(id) = &req.transactional_id {
        if id.is_empty() {
            return fail(KafkaError::InvalidRequest);
        }
        if !authz::transactional_id(broker, ctx, Op::Write, id.as_str()) {
            return fail(KafkaError::TransactionalIdAuthorizationFailed);
        }
        let Some(txns) = &broker.txns else {
            return fail(KafkaError::NotCoordinator);
        };
        let (pid, epoch) = (req.producer_id.0, req.producer_epoch);
        if (pid == -1) != (epoch == -1) {
            return fail(KafkaError::InvalidRequest);
        }
        let expected = (pid >= 0).then_some((pid, epoch));
        return match txns
            .init_producer_id(id.as_str(), req.transaction_timeout_ms, expected)
            .await
        {
            Ok((pid, epoch)) => InitProducerIdResponse::default()
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch),
            Err(e) => fail(e),
        };
    }
    // Kafka 4 (KIP-679): an idempotent producer needs IDEMPOTENT_WRITE on the cluster or
    // WRITE on some topic.
    if !authz::authorize_cluster(broker, ctx, Op::IdempotentWrite)
        && !authz::any_of_type(broker, ctx, Op::Write, ResourceType::Topic)
    {
        return fail(KafkaError::ClusterAuthorizationFailed);
    }
    let allocated = match broker.controller.member() {
        Some(m) => m
            .allocate_producer_id()
            .await
            .map_err(|e| (e.kafka_code(), e.to_string())),
        None => {
            let store = broker.store.clone();
            blocking(move || store.allocate_producer_id())
                .await
                .map_err(|e| (e.kafka_code(), e.to_string()))
        }
    };
    match allocated {
        Ok(id) => InitProducerIdResponse::default()
            .with_producer_id(ProducerId(id))
            .with_producer_epoch(0),
        Err((code, message)) => {
            tracing::error!(error = %message, "allocating a producer id");
            InitProducerIdResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        }
    }
}
