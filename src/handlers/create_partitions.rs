//! CreatePartitions (key 37, v0–3): grow topics to a new total partition count.
//!
//! Follows Kafka 4.x (`ControllerApis.createPartitions`): a topic named more than once gets a
//! single INVALID_REQUEST result ("Duplicate topic name.") and is not changed. Per topic the
//! controller checks existence (UNKNOWN_TOPIC_OR_PARTITION), that the count grows
//! (INVALID_PARTITIONS) and, when `assignments` is non-null, that there is one replica list
//! per new partition naming this node (INVALID_REPLICA_ASSIGNMENT). `validate_only` checks
//! without changing anything. The change is synchronous, so `timeout_ms` is not needed.

use std::collections::HashSet;
use std::sync::Arc;

use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::create_topics::duplicate_names;
use super::{blocking, RequestContext};
use crate::broker::{now_ms, Broker};
use crate::kafka_error::{self, KafkaError};

fn result(name: TopicName, code: i16, message: Option<String>) -> CreatePartitionsTopicResult {
    CreatePartitionsTopicResult::default()
        .with_name(name)
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string))
}

/// The replica lists of the new partitions; `None` = let the controller place them.
fn assignments(t: &CreatePartitionsTopic) -> Option<Vec<Vec<i32>>> {
    t.assignments.as_ref().map(|list| {
        list.iter()
            .map(|a| a.broker_ids.iter().map(|b| b.0).collect())
            .collect()
    })
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let dups: HashSet<String> = duplicate_names(req.topics.iter().map(|t| t.name.as_str()))
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut reported = HashSet::new();
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.as_str().to_string();
        if dups.contains(&name) {
            if reported.insert(name) {
                results.push(result(
                    t.name,
                    KafkaError::InvalidRequest.code(),
                    Some("Duplicate topic name.".into()),
                ));
            }
            continue;
        }
        if !authz::topic(broker, ctx, Op::Alter, &name) {
            results.push(result(
                t.name,
                KafkaError::TopicAuthorizationFailed.code(),
                Some("Authorization failed.".into()),
            ));
            continue;
        }
        let replicas = assignments(&t);
        let count = t.count;
        let validate_only = req.validate_only;
        let controller = broker.controller.clone();
        let topic = name.clone();
        let outcome = blocking(move || {
            controller.create_partitions(
                &topic,
                count,
                replicas.as_deref(),
                validate_only,
                now_ms(),
            )
        })
        .await;
        results.push(match outcome {
            Ok(_) => result(t.name, kafka_error::NONE, None),
            Err(e) => {
                tracing::debug!(topic = %name, error = %e, "create partitions refused");
                result(t.name, e.kafka_code(), Some(e.to_string()))
            }
        });
    }
    CreatePartitionsResponse::default().with_results(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::create_partitions_request::CreatePartitionsAssignment;
    use kafka_protocol::messages::BrokerId;

    #[test]
    fn null_assignments_mean_automatic_and_empty_stays_explicit() {
        let t = CreatePartitionsTopic::default().with_assignments(None);
        assert_eq!(assignments(&t), None);
        // An empty list is explicit: the controller then reports the count mismatch, as Kafka.
        let t = CreatePartitionsTopic::default().with_assignments(Some(vec![]));
        assert_eq!(assignments(&t), Some(vec![]));
        let t = CreatePartitionsTopic::default().with_assignments(Some(vec![
            CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(0)]),
            CreatePartitionsAssignment::default().with_broker_ids(vec![BrokerId(0), BrokerId(1)]),
        ]));
        assert_eq!(assignments(&t), Some(vec![vec![0], vec![0, 1]]));
    }
}
