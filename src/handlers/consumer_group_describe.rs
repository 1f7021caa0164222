//! ConsumerGroupDescribe (key 69, v0–1): KIP-848 consumer groups as the Admin client and
//! `kafka-consumer-groups --describe` read them: state, group and assignment epochs, the
//! assignor, and per member its epoch, subscription, current and target assignments (topic
//! ids with their names). v1 adds `MemberType` (1 = consumer protocol, 0 = a classic member of a
//! consumer group, during an online upgrade or downgrade).
//!
//! A classic or unknown group answers GROUP_ID_NOT_FOUND: the Admin client then falls back
//! to DescribeGroups. A group the principal may not DESCRIBE answers
//! GROUP_AUTHORIZATION_FAILED; authorized operations are filled when asked for.

use std::sync::Arc;

use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::consumer::{self, ConsumerGroupDescription};
use crate::group::GroupError;
use crate::kafka_error::KafkaError;
use crate::security::acl::ResourceType;

/// MemberType (KIP-1099) of a member using ConsumerGroupHeartbeat, and of one using the
/// classic protocol inside a consumer group (`kafka-consumer-groups --describe --members
/// --verbose` prints UPGRADED from these).
const MEMBER_TYPE_CONSUMER: i8 = 1;
const MEMBER_TYPE_CLASSIC: i8 = 0;

fn assignment(broker: &Broker, a: consumer::Assignment) -> Assignment {
    Assignment::default().with_topic_partitions(
        a.into_iter()
            .map(|(id, ps)| {
                let name = broker
                    .metadata
                    .topic_by_id(id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                TopicPartitions::default()
                    .with_topic_id(id)
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(ps.into_iter().collect())
            })
            .collect(),
    )
}

fn described(
    broker: &Broker,
    version: i16,
    d: ConsumerGroupDescription,
    ops: i32,
) -> DescribedGroup {
    DescribedGroup::default()
        .with_group_id(StrBytes::from_string(d.group_id).into())
        .with_group_state(StrBytes::from_static_str(d.state))
        .with_group_epoch(d.group_epoch)
        .with_assignment_epoch(d.assignment_epoch)
        .with_assignor_name(StrBytes::from_static_str(d.assignor_name))
        .with_authorized_operations(ops)
        .with_members(
            d.members
                .into_iter()
                .map(|m| {
                    Member::default()
                        .with_member_id(StrBytes::from_string(m.member_id))
                        .with_instance_id(m.instance_id.map(StrBytes::from_string))
                        .with_rack_id(m.rack_id.map(StrBytes::from_string))
                        .with_member_epoch(m.member_epoch)
                        .with_client_id(StrBytes::from_string(m.client_id))
                        .with_client_host(StrBytes::from_string(m.client_host))
                        .with_subscribed_topic_names(
                            m.subscribed_topic_names
                                .into_iter()
                                .map(|n| TopicName(StrBytes::from_string(n)))
                                .collect(),
                        )
                        .with_subscribed_topic_regex(
                            m.subscribed_topic_regex.map(StrBytes::from_string),
                        )
                        .with_assignment(assignment(broker, m.assignment))
                        .with_target_assignment(assignment(broker, m.target_assignment))
                        .with_member_type(match (version >= 1, m.classic) {
                            (false, _) => -1,
                            (true, true) => MEMBER_TYPE_CLASSIC,
                            (true, false) => MEMBER_TYPE_CONSUMER,
                        })
                })
                .collect(),
        )
}

fn failed(id: &str, code: i16, message: String) -> DescribedGroup {
    DescribedGroup::default()
        .with_group_id(StrBytes::from_string(id.to_string()).into())
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_authorized_operations(i32::MIN)
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
    let mut groups = Vec::with_capacity(req.group_ids.len());
    for id in &req.group_ids {
        let id = id.as_str();
        if !authz::group(broker, ctx, Op::Describe, id) {
            groups.push(failed(
                id,
                KafkaError::GroupAuthorizationFailed.code(),
                format!("Not authorized to describe group {id}"),
            ));
            continue;
        }
        let result = broker.groups.consumer_describe(&[id.to_string()]).await;
        let described_group = match result.into_iter().next().map(|(_, r)| r) {
            Some(Ok(d)) => {
                let ops = if req.include_authorized_operations {
                    authz::operations(broker, ctx, ResourceType::Group, id)
                } else {
                    i32::MIN
                };
                described(broker, ctx.api_version, d, ops)
            }
            Some(Err(GroupError::GroupIdNotFound(g))) => failed(
                id,
                KafkaError::GroupIdNotFound.code(),
                format!("Group {g} not found."),
            ),
            Some(Err(e)) => failed(id, e.kafka_code(), e.to_string()),
            None => failed(
                id,
                KafkaError::CoordinatorNotAvailable.code(),
                "no answer".into(),
            ),
        };
        groups.push(described_group);
    }
    ConsumerGroupDescribeResponse::default().with_groups(groups)
}
