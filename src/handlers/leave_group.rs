//! LeaveGroup (key 13, v0–5): members leave; the group rebalances (or becomes Empty).
//!
//! v0–2 name one `member_id` and answer in the top-level error code. v3+ batch `members`
//! (member id and/or group instance id; an empty member id with an instance id removes that
//! static member, as `kafka-consumer-groups`/admin do) and answer per member, with a
//! top-level error only for the group itself (e.g. UNKNOWN_MEMBER_ID for an unknown group).
//! v5+ carry a reason per member.

use std::sync::Arc;

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::{error::code_of, GroupError, LeaveMember, LeaveMemberResult};
use crate::kafka_error::{self, KafkaError};

fn to_domain(version: i16, req: &LeaveGroupRequest) -> Vec<LeaveMember> {
    if version < 3 {
        return vec![LeaveMember {
            member_id: req.member_id.to_string(),
            group_instance_id: None,
            reason: None,
        }];
    }
    req.members
        .iter()
        .map(|m| LeaveMember {
            member_id: m.member_id.to_string(),
            group_instance_id: m.group_instance_id.as_ref().map(|s| s.to_string()),
            reason: if version >= 5 {
                m.reason.as_ref().map(|s| s.to_string())
            } else {
                None
            },
        })
        .collect()
}

fn to_wire(version: i16, result: Result<Vec<LeaveMemberResult>, GroupError>) -> LeaveGroupResponse {
    match result {
        Err(e) => LeaveGroupResponse::default().with_error_code(e.kafka_code()),
        Ok(members) if version < 3 => {
            let code = members
                .first()
                .map_or(kafka_error::NONE, |m| code_of(&m.error));
            LeaveGroupResponse::default().with_error_code(code)
        }
        Ok(members) => LeaveGroupResponse::default().with_members(
            members
                .into_iter()
                .map(|m| {
                    MemberResponse::default()
                        .with_error_code(code_of(&m.error))
                        .with_member_id(StrBytes::from_string(m.member_id))
                        .with_group_instance_id(m.group_instance_id.map(StrBytes::from_string))
                })
                .collect(),
        ),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: LeaveGroupRequest,
) -> LeaveGroupResponse {
    if !authz::group(broker, ctx, Op::Read, req.group_id.as_str()) {
        return LeaveGroupResponse::default()
            .with_error_code(KafkaError::GroupAuthorizationFailed.code());
    }
    let members = to_domain(ctx.api_version, &req);
    let result = broker.groups.leave(req.group_id.0.as_str(), members).await;
    to_wire(ctx.api_version, result)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::messages::leave_group_request::MemberIdentity;
    use kafka_protocol::protocol::Encodable;

    fn results() -> Vec<LeaveMemberResult> {
        vec![
            LeaveMemberResult {
                member_id: "a".into(),
                group_instance_id: None,
                error: None,
            },
            LeaveMemberResult {
                member_id: String::new(),
                group_instance_id: Some("i".into()),
                error: Some(GroupError::UnknownMemberId(String::new())),
            },
        ]
    }

    #[test]
    fn encodes_at_every_version() {
        for v in 0..=5 {
            for r in [
                Ok(results()),
                Err(GroupError::CoordinatorNotAvailable("x".into())),
            ] {
                to_wire(v, r)
                    .encode(&mut BytesMut::new(), v)
                    .unwrap_or_else(|e| panic!("v{v}: {e}"));
            }
        }
    }

    #[test]
    fn legacy_versions_answer_at_top_level() {
        let single = vec![LeaveMemberResult {
            member_id: "a".into(),
            group_instance_id: None,
            error: Some(GroupError::UnknownMemberId("a".into())),
        }];
        assert_eq!(to_wire(2, Ok(single)).error_code, 25);
        let batched = to_wire(3, Ok(results()));
        assert_eq!(batched.error_code, 0);
        assert_eq!(batched.members[1].error_code, 25);
        let req = LeaveGroupRequest::default()
            .with_member_id(StrBytes::from_static_str("old"))
            .with_members(vec![
                MemberIdentity::default().with_member_id(StrBytes::from_static_str("new"))
            ]);
        assert_eq!(to_domain(0, &req)[0].member_id, "old");
        assert_eq!(to_domain(3, &req)[0].member_id, "new");
    }
}
