//! DescribeTopicPartitions (key 75, v0): topic and partition metadata with pagination, what
//! Kafka 4's `kafka-topics --describe` and the Java Admin's `describeTopics` use when the
//! broker offers it (falling back to Metadata otherwise).
//!
//! As Kafka's `DescribeTopicPartitionsRequestHandler` and `KRaftMetadataCache.describeTopicResponse`:
//! - an empty topic list means every topic; otherwise the named ones (duplicates collapse);
//!   either way only names ≥ the cursor's topic are considered, in name order;
//! - a cursor naming a topic missing from an explicit list, or a negative cursor partition,
//!   fails the whole request with INVALID_REQUEST on every requested topic;
//! - at most `min(response_partition_limit, 2000)` (at least 1) partitions are returned; when
//!   a topic is cut, or the limit is reached before the next topic, `next_cursor` names where
//!   the next request starts, else it is null;
//! - an unknown topic of an explicit list answers UNKNOWN_TOPIC_OR_PARTITION (or
//!   INVALID_TOPIC_EXCEPTION for an illegal name) with no partitions; when listing every
//!   topic nothing can be unknown;
//! - eligible leader replicas and last known ELR are empty lists (this broker never elects
//!   from an ELR), offline replicas those on brokers that are not live (cluster mode);
//! - authorization as Kafka: listing every topic skips those the principal may not
//!   DESCRIBE; a named one answers TOPIC_AUTHORIZATION_FAILED;
//! - `topic_authorized_operations` is always filled with the principal's operations on the
//!   topic (without an authorizer, every operation a TOPIC supports, as in Metadata).

use std::collections::BTreeSet;
use std::sync::Arc;

use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::cluster::controller::validate_topic_name;
use crate::cluster::{MetadataView, TopicInfo};
use crate::kafka_error::KafkaError;
use crate::security::acl::ResourceType;

/// Kafka's `max.request.partition.size.limit` default: the most partitions one response
/// carries whatever the client asks.
pub const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let ops = |name: &str| {
        authz::topic(broker, ctx, Op::Describe, name)
            .then(|| authz::operations(broker, ctx, ResourceType::Topic, name))
    };
    describe(&broker.metadata, broker.live_ids().as_deref(), &ops, req)
}

/// A topic's authorized operations for the request's principal, `None` when it may not
/// DESCRIBE the topic.
type TopicOps<'a> = &'a dyn Fn(&str) -> Option<i32>;

fn name_of(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

/// The whole answer, from the metadata view and the live brokers (pure: no I/O).
fn describe(
    view: &MetadataView,
    live: Option<&[i32]>,
    ops: TopicOps<'_>,
    req: DescribeTopicPartitionsRequest,
) -> DescribeTopicPartitionsResponse {
    let fetch_all = req.topics.is_empty();
    let cursor_topic = req
        .cursor
        .as_ref()
        .map(|c| c.topic_name.0.to_string())
        .unwrap_or_default();
    let topics: BTreeSet<String> = if fetch_all {
        view.topics()
            .iter()
            .map(|t| t.name.clone())
            .filter(|n| *n >= cursor_topic && ops(n).is_some())
            .collect()
    } else {
        req.topics
            .iter()
            .map(|t| t.name.0.to_string())
            .filter(|n| *n >= cursor_topic)
            .collect()
    };
    let invalid_cursor = match &req.cursor {
        Some(c) if !fetch_all && !topics.contains(c.topic_name.0.as_str()) => true,
        Some(c) => c.partition_index < 0,
        None => false,
    };
    if invalid_cursor {
        return DescribeTopicPartitionsResponse::default().with_topics(
            req.topics
                .into_iter()
                .map(|t| {
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(KafkaError::InvalidRequest.code())
                        .with_name(Some(t.name))
                        .with_topic_authorized_operations(i32::MIN)
                })
                .collect(),
        );
    }
    let limit = req
        .response_partition_limit
        .clamp(1, MAX_PARTITIONS_PER_RESPONSE);
    let mut remaining = limit as usize;
    let mut out = Vec::new();
    let mut next_cursor = None;
    for name in &topics {
        if remaining == 0 {
            // The previous topics are complete; the next request starts with this one.
            next_cursor = Some(Cursor::default().with_topic_name(name_of(name)));
            break;
        }
        let start = match &req.cursor {
            Some(c) if c.topic_name.0.as_str() == name => c.partition_index,
            _ => 0,
        };
        let Some(authorized_ops) = ops(name) else {
            out.push(
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(KafkaError::TopicAuthorizationFailed.code())
                    .with_name(Some(name_of(name)))
                    .with_topic_authorized_operations(i32::MIN),
            );
            continue;
        };
        match view.topic(name) {
            Some(t) => {
                let (entry, next) = topic_page(&t, start, remaining, live, authorized_ops);
                remaining = remaining.saturating_sub(entry.partitions.len());
                out.push(entry);
                if let Some(p) = next {
                    next_cursor = Some(
                        Cursor::default()
                            .with_topic_name(name_of(name))
                            .with_partition_index(p),
                    );
                    break;
                }
            }
            None if fetch_all => {}
            None => {
                let code = match validate_topic_name(name) {
                    Ok(()) => KafkaError::UnknownTopicOrPartition.code(),
                    Err(e) => e.kafka_code(),
                };
                out.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(code)
                        .with_name(Some(name_of(name)))
                        .with_topic_authorized_operations(authorized_ops),
                );
            }
        }
    }
    DescribeTopicPartitionsResponse::default()
        .with_topics(out)
        .with_next_cursor(next_cursor)
}

/// Partitions `[start, start + max)` of a topic, and the index to continue from if the topic
/// has more.
fn topic_page(
    t: &TopicInfo,
    start: i32,
    max: usize,
    live: Option<&[i32]>,
    authorized_ops: i32,
) -> (DescribeTopicPartitionsResponseTopic, Option<i32>) {
    let start = usize::try_from(start).unwrap_or(0);
    let end = t.partitions.len().min(start.saturating_add(max));
    let partitions = t
        .partitions
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(p.index)
                .with_leader_id(BrokerId(p.leader))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().map(|r| BrokerId(*r)).collect())
                .with_isr_nodes(p.isr.iter().map(|r| BrokerId(*r)).collect())
                .with_eligible_leader_replicas(Some(Vec::new()))
                .with_last_known_elr(Some(Vec::new()))
                .with_offline_replicas(
                    Broker::offline_replicas(live, &p.replicas)
                        .into_iter()
                        .map(BrokerId)
                        .collect(),
                )
        })
        .collect();
    let next = (end < t.partitions.len()).then(|| i32::try_from(end).unwrap_or(i32::MAX));
    let entry = DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(name_of(&t.name)))
        .with_topic_id(t.id)
        .with_is_internal(false)
        .with_partitions(partitions)
        .with_topic_authorized_operations(authorized_ops);
    (entry, next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::PartitionInfo;
    use kafka_protocol::messages::describe_topic_partitions_request::{
        Cursor as ReqCursor, TopicRequest,
    };

    fn topic(name: &str, n: i32) -> TopicInfo {
        TopicInfo {
            name: name.into(),
            id: uuid::Uuid::from_u128(n as u128 + 1),
            partitions: (0..n)
                .map(|i| PartitionInfo {
                    index: i,
                    leader: 1,
                    leader_epoch: 0,
                    replicas: vec![1],
                    isr: vec![1],
                })
                .collect(),
            configs: Default::default(),
        }
    }

    fn view() -> MetadataView {
        MetadataView::new(vec![topic("a", 3), topic("b", 2), topic("c", 1)])
    }

    fn req(
        names: &[&str],
        limit: i32,
        cursor: Option<(&str, i32)>,
    ) -> DescribeTopicPartitionsRequest {
        DescribeTopicPartitionsRequest::default()
            .with_topics(
                names
                    .iter()
                    .map(|n| TopicRequest::default().with_name(name_of(n)))
                    .collect(),
            )
            .with_response_partition_limit(limit)
            .with_cursor(cursor.map(|(t, p)| {
                ReqCursor::default()
                    .with_topic_name(name_of(t))
                    .with_partition_index(p)
            }))
    }

    fn cursor(r: &DescribeTopicPartitionsResponse) -> Option<(String, i32)> {
        r.next_cursor
            .as_ref()
            .map(|c| (c.topic_name.0.to_string(), c.partition_index))
    }

    #[test]
    fn all_topics_paginate_with_a_cursor() {
        let v = view();
        let r = describe(&v, None, &|_| Some(3576), req(&[], 2, None));
        assert_eq!(r.topics.len(), 1);
        assert_eq!(r.topics[0].partitions.len(), 2);
        assert_eq!(cursor(&r), Some(("a".into(), 2)));
        let r = describe(&v, None, &|_| Some(3576), req(&[], 2, Some(("a", 2))));
        let got: Vec<_> = r
            .topics
            .iter()
            .map(|t| (t.name.as_ref().unwrap().0.to_string(), t.partitions.len()))
            .collect();
        assert_eq!(got, vec![("a".to_string(), 1), ("b".to_string(), 1)]);
        assert_eq!(cursor(&r), Some(("b".into(), 1)));
        let r = describe(&v, None, &|_| Some(3576), req(&[], 2, Some(("b", 1))));
        assert_eq!(r.topics.len(), 2);
        assert_eq!(cursor(&r), None);
        // A limit that ends exactly at a topic boundary points at the next topic's start.
        let r = describe(&v, None, &|_| Some(3576), req(&[], 3, None));
        assert_eq!(cursor(&r), Some(("b".into(), 0)));
    }

    #[test]
    fn partitions_carry_leader_replicas_isr_and_empty_elr() {
        let r = describe(&view(), None, &|_| Some(3576), req(&["c"], 100, None));
        let p = &r.topics[0].partitions[0];
        assert_eq!(r.topics[0].error_code, 0);
        assert_eq!(r.topics[0].topic_authorized_operations, 3576);
        assert_eq!(p.leader_id.0, 1);
        assert_eq!(p.replica_nodes, vec![BrokerId(1)]);
        assert_eq!(p.isr_nodes, vec![BrokerId(1)]);
        assert_eq!(p.eligible_leader_replicas, Some(vec![]));
        assert_eq!(p.last_known_elr, Some(vec![]));
    }

    #[test]
    fn unknown_invalid_and_bad_cursor() {
        let r = describe(
            &view(),
            None,
            &|_| Some(3576),
            req(&["zz", "a", "bad/name"], 100, None),
        );
        let codes: Vec<_> = r
            .topics
            .iter()
            .map(|t| (t.name.as_ref().unwrap().0.to_string(), t.error_code))
            .collect();
        // Name order, as Kafka sorts them.
        assert_eq!(
            codes,
            vec![
                ("a".to_string(), 0),
                ("bad/name".to_string(), 17),
                ("zz".to_string(), 3)
            ]
        );
        let r = describe(
            &view(),
            None,
            &|_| Some(3576),
            req(&["a"], 100, Some(("b", 0))),
        );
        assert_eq!(r.topics[0].error_code, KafkaError::InvalidRequest.code());
        let r = describe(
            &view(),
            None,
            &|_| Some(3576),
            req(&[], 100, Some(("a", -1))),
        );
        assert!(r.topics.is_empty());
        let r = describe(
            &view(),
            None,
            &|_| Some(3576),
            req(&["a"], 100, Some(("a", -1))),
        );
        assert_eq!(r.topics[0].error_code, KafkaError::InvalidRequest.code());
    }
}
