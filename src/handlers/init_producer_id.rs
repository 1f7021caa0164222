//! InitProducerId (key 22): producer ids for idempotent producers.
//!
//! The Java producer is idempotent by default and cannot work without this API. Without a
//! transactional id Kafka always hands out a fresh producer id at epoch 0 (also when the
//! client asks to bump the epoch of an existing id after OUT_OF_ORDER_SEQUENCE_NUMBER), so
//! do we. Ids never repeat across restarts: a single node reserves them in blocks from its
//! store; a cluster node gets its blocks from the controller quorum, so that they are unique
//! across brokers too. Transactions are not
//! implemented (and their APIs are not advertised): a transactional id is refused.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::KafkaError;

pub async fn handle(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let fail = |code| {
        InitProducerIdResponse::default()
            .with_error_code(code)
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
    };
    if req.transactional_id.as_ref().is_some_and(|t| !t.is_empty()) {
        tracing::warn!("InitProducerId with a transactional id: transactions are not supported");
        return fail(KafkaError::TransactionalIdAuthorizationFailed.code());
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
            fail(code)
        }
    }
}
