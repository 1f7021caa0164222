//! ShareGroupDescribe (key 77, v1): share groups with their epochs, assignor and members
//! (subscriptions and assignments with topic ids and names), for `kafka-share-groups.sh
//! --describe`.
//!
//! Per group, in request order: DESCRIBE on the group (GROUP_AUTHORIZATION_FAILED), GROUP_ID_NOT_FOUND
//! for an unknown group ("Group X not found.") or a group of another kind ("Group X is not a
//! share group."), INVALID_GROUP_ID for "". Authorized operations only when asked.

use std::sync::Arc;

use kafka_protocol::messages::share_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    GroupId, ShareGroupDescribeRequest, ShareGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::share::ShareGroupDescription;
use crate::group::GroupError;
use crate::kafka_error::KafkaError;
use crate::security::acl::ResourceType;

fn described(
    id: GroupId,
    result: Result<ShareGroupDescription, GroupError>,
    ops: i32,
) -> DescribedGroup {
    let base = DescribedGroup::default().with_group_id(id);
    match result {
        Ok(d) => base
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
                            .with_rack_id(m.rack_id.map(StrBytes::from_string))
                            .with_member_epoch(m.member_epoch)
                            .with_client_id(StrBytes::from_string(m.client_id))
                            .with_client_host(StrBytes::from_string(m.client_host))
                            .with_subscribed_topic_names(
                                m.subscribed_topic_names
                                    .into_iter()
                                    .map(|t| TopicName(StrBytes::from_string(t)))
                                    .collect(),
                            )
                            .with_assignment(
                                Assignment::default().with_topic_partitions(
                                    m.assignment
                                        .into_iter()
                                        .map(|(id, name, ps)| {
                                            TopicPartitions::default()
                                                .with_topic_id(id)
                                                .with_topic_name(TopicName(StrBytes::from_string(
                                                    name,
                                                )))
                                                .with_partitions(ps)
                                        })
                                        .collect(),
                                ),
                            )
                    })
                    .collect(),
            ),
        Err(e) => base
            .with_group_state(StrBytes::from_static_str("Dead"))
            .with_error_code(e.kafka_code())
            .with_error_message(Some(StrBytes::from_string(match &e {
                GroupError::GroupIdNotFound(g) => format!("Group {g} not found."),
                other => other.to_string(),
            }))),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ShareGroupDescribeRequest,
) -> ShareGroupDescribeResponse {
    let allowed: Vec<bool> = req
        .group_ids
        .iter()
        .map(|g| authz::group(broker, ctx, Op::Describe, g.as_str()))
        .collect();
    let ids: Vec<String> = req
        .group_ids
        .iter()
        .zip(&allowed)
        .filter(|(_, ok)| **ok)
        .map(|(g, _)| g.0.to_string())
        .collect();
    let mut results = broker.groups.share_describe(&ids).await.into_iter();
    let groups = req
        .group_ids
        .into_iter()
        .zip(allowed)
        .map(|(id, ok)| {
            if !ok {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(KafkaError::GroupAuthorizationFailed.code());
            }
            let ops = if req.include_authorized_operations {
                authz::operations(broker, ctx, ResourceType::Group, id.as_str())
            } else {
                i32::MIN
            };
            match results.next() {
                Some((_, result)) => described(id, result, ops),
                None => DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(KafkaError::UnknownServerError.code()),
            }
        })
        .collect();
    ShareGroupDescribeResponse::default().with_groups(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;
    use uuid::Uuid;

    use crate::group::share::ShareMemberDescription;

    #[test]
    fn described_group_encodes_with_names_and_ids() {
        let d = ShareGroupDescription {
            group_id: "g".into(),
            state: "Stable",
            group_epoch: 3,
            assignment_epoch: 3,
            assignor_name: "simple",
            members: vec![ShareMemberDescription {
                member_id: "m".into(),
                rack_id: None,
                member_epoch: 3,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                subscribed_topic_names: vec!["t".into()],
                assignment: vec![(Uuid::from_u128(1), "t".into(), vec![0, 1])],
            }],
        };
        let g = described(GroupId(StrBytes::from_static_str("g")), Ok(d), i32::MIN);
        assert_eq!(g.group_state.as_str(), "Stable");
        assert_eq!(
            g.members[0].assignment.topic_partitions[0]
                .topic_name
                .0
                .as_str(),
            "t"
        );
        let r = ShareGroupDescribeResponse::default().with_groups(vec![g]);
        r.encode(&mut BytesMut::new(), 1).unwrap();
    }

    #[test]
    fn wrong_kind_is_group_id_not_found() {
        let e = GroupError::WrongGroupType {
            group: "g".into(),
            kind: "share",
        };
        let g = described(GroupId(StrBytes::from_static_str("g")), Err(e), i32::MIN);
        assert_eq!(g.error_code, 69);
        assert_eq!(
            g.error_message.as_deref(),
            Some("Group g is not a share group.")
        );
    }
}
