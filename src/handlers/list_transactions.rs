//! ListTransactions (key 66, v0–1): the transactional ids the coordinator knows, filtered by
//! state names (unknown names are echoed in `unknown_state_filters`, as Kafka does), by
//! producer ids, and (v1+) by running longer than `duration_filter` ms (-1: no filter).
//! `kafka-transactions --list` and Admin `listTransactions`. In a cluster each broker lists
//! the ids it coordinates (Admin asks every broker and merges, as with Kafka).

use std::sync::Arc;

use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse, ProducerId};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::{now_ms, Broker};
use crate::txn::TxnState;

const STATES: [TxnState; 6] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
];

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let unknown: Vec<StrBytes> = req
        .state_filters
        .iter()
        .filter(|f| !STATES.iter().any(|s| s.kafka_name() == f.as_str()))
        .cloned()
        .collect();
    let Some(txns) = &broker.txns else {
        return ListTransactionsResponse::default().with_unknown_state_filters(unknown);
    };
    let min_duration = if ctx.api_version >= 1 {
        req.duration_filter
    } else {
        -1
    };
    let now = now_ms();
    let states = txns
        .transactions()
        .await
        .into_iter()
        .filter(|m| {
            req.state_filters.is_empty()
                || req
                    .state_filters
                    .iter()
                    .any(|f| f.as_str() == m.state.kafka_name())
        })
        .filter(|m| {
            req.producer_id_filters.is_empty()
                || req.producer_id_filters.contains(&ProducerId(m.producer_id))
        })
        .filter(|m| min_duration < 0 || (m.start_ms >= 0 && now - m.start_ms > min_duration))
        .filter(|m| authz::transactional_id(broker, ctx, Op::Describe, &m.transactional_id))
        .map(|m| {
            TransactionState::default()
                .with_transactional_id(StrBytes::from_string(m.transactional_id).into())
                .with_producer_id(ProducerId(m.producer_id))
                .with_transaction_state(StrBytes::from_static_str(m.state.kafka_name()))
        })
        .collect();
    ListTransactionsResponse::default()
        .with_unknown_state_filters(unknown)
        .with_transaction_states(states)
}
