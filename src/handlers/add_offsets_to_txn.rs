//! AddOffsetsToTxn (key 25, v0–4): a transactional producer adds a consumer group to its
//! open transaction before it commits the group's offsets in it (TxnOffsetCommit). Kafka adds
//! the group's `__consumer_offsets` partition; on a single broker the group's offsets live in
//! the store, so the group itself is the participant its marker goes to. PRODUCER_FENCED below
//! v2 is sent as INVALID_PRODUCER_EPOCH.

use std::sync::Arc;

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use super::add_partitions_to_txn::fenced_for_version;
use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::txn::Participant;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AddOffsetsToTxnRequest,
) -> AddOffsetsToTxnResponse {
    let code = match &broker.txns {
        _ if !authz::transactional_id(broker, ctx, Op::Write, req.transactional_id.as_str()) => {
            KafkaError::TransactionalIdAuthorizationFailed.code()
        }
        _ if !authz::group(broker, ctx, Op::Read, req.group_id.as_str()) => {
            KafkaError::GroupAuthorizationFailed.code()
        }
        None => KafkaError::NotCoordinator.code(),
        Some(_) if req.group_id.is_empty() => KafkaError::InvalidGroupId.code(),
        Some(txns) => {
            let add = vec![Participant::Group {
                group_id: req.group_id.to_string(),
            }];
            match txns
                .add_participants(
                    req.transactional_id.as_str(),
                    req.producer_id.0,
                    req.producer_epoch,
                    add,
                )
                .await
            {
                Ok(()) => 0,
                Err(e) => fenced_for_version(e, ctx.api_version, 2).code(),
            }
        }
    };
    AddOffsetsToTxnResponse::default().with_error_code(code)
}
