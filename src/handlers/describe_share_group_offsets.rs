//! DescribeShareGroupOffsets (key 90, v0): each share-partition's start offset (SPSO), what
//! `kafka-share-groups --describe` prints as START-OFFSET. A group's `topics` null means every
//! topic the group has share state for; a partition without state answers start offset −1,
//! as Kafka does for a partition not yet initialized. Needs DESCRIBE on the group (else
//! GROUP_AUTHORIZATION_FAILED for that group) and on each topic (else
//! TOPIC_AUTHORIZATION_FAILED per partition). In a cluster it runs at the group's share
//! coordinator, which holds the state (else NOT_COORDINATOR / COORDINATOR_LOAD_IN_PROGRESS).

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup, DescribeShareGroupOffsetsResponsePartition,
    DescribeShareGroupOffsetsResponseTopic,
};
use kafka_protocol::messages::{
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::share_common;
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::{self, KafkaError};

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeShareGroupOffsetsRequest,
) -> DescribeShareGroupOffsetsResponse {
    let mut groups = Vec::with_capacity(req.groups.len());
    for g in req.groups {
        let group = g.group_id.as_str().to_string();
        let mut out = DescribeShareGroupOffsetsResponseGroup::default().with_group_id(g.group_id);
        if !authz::group(broker, ctx, Op::Describe, &group) {
            out.error_code = KafkaError::GroupAuthorizationFailed.code();
            groups.push(out);
            continue;
        }
        let views = match share_common::coordinator_check(broker, &group) {
            Ok(()) => share_common::start_offsets(broker, &group).await,
            Err(e) => Err(e),
        };
        let views = match views {
            Ok(v) => v,
            Err((code, message)) => {
                out.error_code = code;
                out.error_message = Some(StrBytes::from_string(message));
                groups.push(out);
                continue;
            }
        };
        let start: BTreeMap<(uuid::Uuid, i32), i64> = views.iter().copied().collect();
        // (topic name, partitions) to answer.
        let wanted: Vec<(String, Option<Vec<i32>>)> = match g.topics {
            Some(ts) => ts
                .into_iter()
                .map(|t| (t.topic_name.as_str().to_string(), Some(t.partitions)))
                .collect(),
            None => {
                let mut by_name: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                for ((topic_id, partition), _) in &views {
                    if let Some(t) = broker.metadata.topic_by_id(*topic_id) {
                        by_name.entry(t.name.clone()).or_default().push(*partition);
                    }
                }
                by_name.into_iter().map(|(n, p)| (n, Some(p))).collect()
            }
        };
        for (name, parts) in wanted {
            let topic = broker.metadata.topic(&name);
            let denied = !authz::topic(broker, ctx, Op::Describe, &name);
            let topic_id = topic.as_ref().map(|t| t.id).unwrap_or_default();
            let partitions = parts
                .unwrap_or_default()
                .into_iter()
                .map(|p| {
                    let mut pd = DescribeShareGroupOffsetsResponsePartition::default()
                        .with_partition_index(p)
                        .with_start_offset(-1)
                        .with_leader_epoch(-1);
                    if denied {
                        pd.error_code = KafkaError::TopicAuthorizationFailed.code();
                    } else if topic.as_ref().and_then(|t| t.partition(p)).is_none() {
                        pd.error_code = KafkaError::UnknownTopicOrPartition.code();
                    } else {
                        pd.error_code = kafka_error::NONE;
                        pd.start_offset = start.get(&(topic_id, p)).copied().unwrap_or(-1);
                        pd.leader_epoch = topic
                            .as_ref()
                            .and_then(|t| t.partition(p))
                            .map_or(-1, |i| i.leader_epoch);
                    }
                    pd
                })
                .collect();
            out.topics.push(
                DescribeShareGroupOffsetsResponseTopic::default()
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_topic_id(topic_id)
                    .with_partitions(partitions),
            );
        }
        groups.push(out);
    }
    DescribeShareGroupOffsetsResponse::default().with_groups(groups)
}
