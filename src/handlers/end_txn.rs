//! EndTxn (key 26, v0–4): commit or abort the open transaction (transaction protocol v1).
//!
//! The coordinator answers once the decision (PrepareCommit/PrepareAbort) is durable; the
//! markers are written after the answer, and until they are the next transaction's requests
//! get CONCURRENT_TRANSACTIONS. v5 (transactions v2: an epoch bump per transaction) is not
//! advertised, as `transaction.version` 2 is not finalized. PRODUCER_FENCED below v2 is sent
//! as INVALID_PRODUCER_EPOCH.

use std::sync::Arc;

use kafka_protocol::messages::{EndTxnRequest, EndTxnResponse, ProducerId};

use super::add_partitions_to_txn::fenced_for_version;
use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: EndTxnRequest,
) -> EndTxnResponse {
    let code = match &broker.txns {
        _ if !authz::transactional_id(broker, ctx, Op::Write, req.transactional_id.as_str()) => {
            KafkaError::TransactionalIdAuthorizationFailed.code()
        }
        None => KafkaError::NotCoordinator.code(),
        Some(txns) => match txns
            .end_txn(
                req.transactional_id.as_str(),
                req.producer_id.0,
                req.producer_epoch,
                req.committed,
            )
            .await
        {
            Ok(()) => 0,
            Err(e) => fenced_for_version(e, ctx.api_version, 2).code(),
        },
    };
    EndTxnResponse::default()
        .with_error_code(code)
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1)
}
