//! DescribeTransactions (key 65, v0): the coordinator's state of transactional ids
//! (`kafka-transactions --describe`, Admin `describeTransactions`). An unknown id answers
//! TRANSACTIONAL_ID_NOT_FOUND; in a cluster an id another broker coordinates NOT_COORDINATOR
//! (COORDINATOR_LOAD_IN_PROGRESS while this broker loads it), as Kafka answers.
//! `topics` lists the data partitions in the transaction; a consumer group in it (whose
//! offsets Kafka keeps in a `__consumer_offsets` partition, which a single broker does not
//! have) is not listed.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::txn::Participant;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let mut states = Vec::with_capacity(req.transactional_ids.len());
    for id in req.transactional_ids {
        let base = TransactionState::default()
            .with_transactional_id(id.clone())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_transaction_start_time_ms(-1);
        if !authz::transactional_id(broker, ctx, Op::Describe, id.as_str()) {
            states
                .push(base.with_error_code(KafkaError::TransactionalIdAuthorizationFailed.code()));
            continue;
        }
        let Some(txns) = &broker.txns else {
            states.push(base.with_error_code(KafkaError::NotCoordinator.code()));
            continue;
        };
        let m = match txns.transaction(id.as_str()).await {
            Ok(Some(m)) => m,
            Ok(None) => {
                states.push(base.with_error_code(KafkaError::TransactionalIdNotFound.code()));
                continue;
            }
            Err(e) => {
                states.push(base.with_error_code(e.code()));
                continue;
            }
        };
        let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
        for p in &m.participants {
            if let Participant::Partition { topic, partition } = p {
                topics.entry(topic).or_default().push(*partition);
            }
        }
        states.push(
            base.with_transaction_state(StrBytes::from_static_str(m.state.kafka_name()))
                .with_transaction_timeout_ms(m.timeout_ms)
                .with_transaction_start_time_ms(m.start_ms)
                .with_producer_id(ProducerId(m.producer_id))
                .with_producer_epoch(m.producer_epoch)
                .with_topics(
                    topics
                        .into_iter()
                        .map(|(t, ps)| {
                            TopicData::default()
                                .with_topic(StrBytes::from_string(t.to_string()).into())
                                .with_partitions(ps)
                        })
                        .collect(),
                ),
        );
    }
    DescribeTransactionsResponse::default().with_transaction_states(states)
}
