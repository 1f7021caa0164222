//! DescribeProducers (key 61, v0): the idempotent producers a partition tracks, what
//! `kafka-transactions describe-producers` and the Java Admin's `describeProducers` show.
//!
//! As Kafka's `KafkaApis.handleDescribeProducersRequest` and `Partition.activeProducerState`:
//! per topic, an illegal name answers INVALID_TOPIC_EXCEPTION and an unknown topic
//! UNKNOWN_TOPIC_OR_PARTITION (both with a message) on every requested partition; a partition
//! the topic does not have answers UNKNOWN_TOPIC_OR_PARTITION without one; a partition whose
//! log failed answers its storage error. Each producer carries its id, epoch, the last
//! sequence and MaxTimestamp of its newest batch, coordinator epoch −1 and current
//! transaction start offset −1 (there are no transactions).

use std::sync::Arc;

use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse, ProducerId};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::cluster::controller::validate_topic_name;
use crate::kafka_error::KafkaError;

/// Kafka's message for UNKNOWN_TOPIC_OR_PARTITION (`Errors.message()`).
const UNKNOWN_TOPIC_MESSAGE: &str = "This server does not host this topic-partition.";

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.0.to_string();
        let meta = broker.metadata.topic(&name);
        let topic_error: Option<(i16, String)> = match validate_topic_name(&name) {
            _ if !authz::topic(broker, ctx, Op::Read, &name) => Some((
                KafkaError::TopicAuthorizationFailed.code(),
                "Authorization failed.".to_string(),
            )),
            Err(e) => Some((e.kafka_code(), e.to_string())),
            Ok(()) if meta.is_none() => Some((
                KafkaError::UnknownTopicOrPartition.code(),
                UNKNOWN_TOPIC_MESSAGE.to_string(),
            )),
            Ok(()) => None,
        };
        let partitions = t
            .partition_indexes
            .iter()
            .map(|&index| {
                let resp = PartitionResponse::default().with_partition_index(index);
                if let Some((code, message)) = &topic_error {
                    return resp
                        .with_error_code(*code)
                        .with_error_message(Some(StrBytes::from_string(message.clone())));
                }
                let log = match broker.replicas.leader(&name, index, -1) {
                    Ok(part) => part.log,
                    Err(e) => return resp.with_error_code(e.kafka_code()),
                };
                match log.active_producers() {
                    Ok(producers) => resp.with_active_producers(
                        producers
                            .into_iter()
                            .map(|p| {
                                ProducerState::default()
                                    .with_producer_id(ProducerId(p.producer_id))
                                    .with_producer_epoch(i32::from(p.epoch))
                                    .with_last_sequence(p.last_sequence)
                                    .with_last_timestamp(p.last_timestamp)
                                    .with_coordinator_epoch(p.coordinator_epoch)
                                    .with_current_txn_start_offset(p.current_txn_first_offset)
                            })
                            .collect(),
                    ),
                    Err(e) => resp
                        .with_error_code(e.kafka_code())
                        .with_error_message(Some(StrBytes::from_string(e.to_string()))),
                }
            })
            .collect();
        topics.push(
            TopicResponse::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    DescribeProducersResponse::default().with_topics(topics)
}
