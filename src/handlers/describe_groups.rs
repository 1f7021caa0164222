//! DescribeGroups (key 15, v0–6): state, protocol and members of classic groups.
//!
//! As Kafka: `protocol_type` is "consumer" (or "" for an offsets-only group),
//! `protocol_data` the selected assignor and member metadata/assignments only when Stable.
//! An unknown group is described as state "Dead" with no error below v6, and with
//! GROUP_ID_NOT_FOUND from v6 (`kafka-consumer-groups` relies on both). A group the
//! principal may not DESCRIBE answers GROUP_AUTHORIZATION_FAILED. v3+ report authorized
//! operations when asked (the principal's operations on the group; without an authorizer
//! every operation a GROUP resource supports in Kafka 4 — READ 3, DELETE 6, DESCRIBE 8,
//! DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11) for groups described without error, else
//! `i32::MIN`. v4+ carry `group_instance_id`, v6+ an error message.

use std::sync::Arc;

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse, GroupId};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::{GroupDescription, GroupError};
use crate::kafka_error::KafkaError;
use crate::security::acl::ResourceType;

/// The `authorized_operations` field: `ops()` when asked for (v3+), else `i32::MIN`.
fn authorized_operations(version: i16, requested: bool, ops: impl FnOnce() -> i32) -> i32 {
    if version >= 3 && requested {
        ops()
    } else {
        i32::MIN
    }
}

fn described(
    version: i16,
    id: GroupId,
    result: Result<GroupDescription, GroupError>,
    ops: i32,
) -> DescribedGroup {
    let base = DescribedGroup::default()
        .with_group_id(id)
        .with_authorized_operations(ops);
    match result {
        Ok(d) => base
            .with_group_state(StrBytes::from_static_str(d.state))
            .with_protocol_type(StrBytes::from_string(d.protocol_type))
            .with_protocol_data(StrBytes::from_string(d.protocol))
            .with_members(
                d.members
                    .into_iter()
                    .map(|m| {
                        DescribedGroupMember::default()
                            .with_member_id(StrBytes::from_string(m.member_id))
                            .with_group_instance_id(if version >= 4 {
                                m.group_instance_id.map(StrBytes::from_string)
                            } else {
                                None
                            })
                            .with_client_id(StrBytes::from_string(m.client_id))
                            .with_client_host(StrBytes::from_string(m.client_host))
                            .with_member_metadata(m.metadata)
                            .with_member_assignment(m.assignment)
                    })
                    .collect(),
            ),
        Err(GroupError::GroupIdNotFound(_)) if version < 6 => {
            base.with_group_state(StrBytes::from_static_str("Dead"))
        }
        // Kafka fills the operations only for a group described without error.
        Err(e) => base
            .with_authorized_operations(i32::MIN)
            .with_group_state(StrBytes::from_static_str("Dead"))
            .with_error_code(e.kafka_code())
            .with_error_message(if version >= 6 {
                Some(StrBytes::from_string(match &e {
                    GroupError::GroupIdNotFound(g) => format!("Group {g} not found."),
                    other => other.to_string(),
                }))
            } else {
                None
            }),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let v = ctx.api_version;
    let (allowed, denied): (Vec<GroupId>, Vec<GroupId>) = req
        .groups
        .into_iter()
        .partition(|g| authz::group(broker, ctx, Op::Describe, g.as_str()));
    let ids: Vec<String> = allowed.iter().map(|g| g.0.to_string()).collect();
    let results = broker.groups.describe(&ids).await;
    let mut groups: Vec<DescribedGroup> = allowed
        .into_iter()
        .zip(results)
        .map(|(id, (_, result))| {
            let ops = authorized_operations(v, req.include_authorized_operations, || {
                authz::operations(broker, ctx, ResourceType::Group, id.as_str())
            });
            described(v, id, result, ops)
        })
        .collect();
    groups.extend(denied.into_iter().map(|id| {
        DescribedGroup::default()
            .with_group_id(id)
            .with_error_code(KafkaError::GroupAuthorizationFailed.code())
            .with_authorized_operations(i32::MIN)
    }));
    DescribeGroupsResponse::default().with_groups(groups)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::protocol::Encodable;

    use crate::group::MemberDescription;

    fn stable() -> GroupDescription {
        GroupDescription {
            group_id: "g".into(),
            state: "Stable",
            protocol_type: "consumer".into(),
            protocol: "range".into(),
            members: vec![MemberDescription {
                member_id: "m".into(),
                group_instance_id: Some("i".into()),
                client_id: "c".into(),
                client_host: "/1.2.3.4".into(),
                metadata: Bytes::from_static(b"x"),
                assignment: Bytes::from_static(b"y"),
            }],
        }
    }

    fn gid() -> GroupId {
        GroupId(StrBytes::from_static_str("g"))
    }

    #[test]
    fn encodes_at_every_version() {
        for v in 0..=6 {
            let ops = authorized_operations(v, true, || 7);
            for r in [Ok(stable()), Err(GroupError::GroupIdNotFound("g".into()))] {
                let resp = DescribeGroupsResponse::default().with_groups(vec![described(
                    v,
                    gid(),
                    r,
                    ops,
                )]);
                resp.encode(&mut BytesMut::new(), v)
                    .unwrap_or_else(|e| panic!("v{v}: {e}"));
            }
        }
    }

    #[test]
    fn unknown_group_by_version() {
        let old = described(
            5,
            gid(),
            Err(GroupError::GroupIdNotFound("g".into())),
            i32::MIN,
        );
        assert_eq!((old.error_code, old.group_state.as_str()), (0, "Dead"));
        let new = described(
            6,
            gid(),
            Err(GroupError::GroupIdNotFound("g".into())),
            i32::MIN,
        );
        assert_eq!((new.error_code, new.group_state.as_str()), (69, "Dead"));
        assert_eq!(authorized_operations(6, false, || 7), i32::MIN);
        assert_eq!(authorized_operations(3, true, || 7), 7);
        let failed = described(
            6,
            gid(),
            Err(GroupError::GroupIdNotFound("g".into())),
            authorized_operations(6, true, || 7),
        );
        assert_eq!(failed.authorized_operations, i32::MIN);
        assert_eq!(authorized_operations(2, true, || 7), i32::MIN);
    }
}
