//! JoinGroup (key 11, v0–9): a member joins (or rejoins) a classic group.
//!
//! Version rules: v0 has no rebalance timeout (Kafka uses the session timeout); v4+ new
//! dynamic members first get MEMBER_ID_REQUIRED with their member id; v5+ carry
//! `group_instance_id` (static membership); v7+ answer `protocol_type` and a nullable
//! `protocol_name` (before v7 a missing name is sent as ""); v8+ carry a reason; v9+ may tell
//! a rejoining static leader to skip the assignment. The reply is parked in the coordinator
//! until the rebalance's join phase completes. CLIENT-ID is the request header's client id
//! and HOST is `"/" + ip`, as Kafka's tools print them.

use std::sync::Arc;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::{self, error::code_of, Protocol};
use crate::kafka_error::KafkaError;

/// Wire request → domain request.
fn to_domain(ctx: &RequestContext, req: JoinGroupRequest) -> group::JoinRequest {
    let v = ctx.api_version;
    group::JoinRequest {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        group_instance_id: if v >= 5 {
            req.group_instance_id.map(|s| s.to_string())
        } else {
            None
        },
        client_id: ctx.client_id.clone(),
        client_host: format!("/{}", ctx.client_host),
        session_timeout_ms: req.session_timeout_ms,
        rebalance_timeout_ms: if v >= 1 {
            req.rebalance_timeout_ms
        } else {
            req.session_timeout_ms
        },
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .into_iter()
            .map(|p| Protocol {
                name: p.name.to_string(),
                metadata: p.metadata,
            })
            .collect(),
        require_known_member_id: v >= 4,
        supports_skip_assignment: v >= 9,
        reason: if v >= 8 {
            req.reason.map(|s| s.to_string())
        } else {
            None
        },
    }
}

/// Domain response → wire response for `version`.
fn to_wire(version: i16, r: group::JoinResponse) -> JoinGroupResponse {
    let protocol_name = match r.protocol_name {
        Some(name) => Some(StrBytes::from_string(name)),
        // Non-nullable before v7.
        None if version < 7 => Some(StrBytes::new()),
        None => None,
    };
    let members = r
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(StrBytes::from_string(m.member_id))
                .with_group_instance_id(if version >= 5 {
                    m.group_instance_id.map(StrBytes::from_string)
                } else {
                    None
                })
                .with_metadata(m.metadata)
        })
        .collect();
    JoinGroupResponse::default()
        .with_error_code(code_of(&r.error))
        .with_generation_id(r.generation_id)
        .with_protocol_type(if version >= 7 {
            r.protocol_type.map(StrBytes::from_string)
        } else {
            None
        })
        .with_protocol_name(protocol_name)
        .with_leader(StrBytes::from_string(r.leader))
        .with_skip_assignment(version >= 9 && r.skip_assignment)
        .with_member_id(StrBytes::from_string(r.member_id))
        .with_members(members)
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: JoinGroupRequest,
) -> JoinGroupResponse {
    if !authz::group(broker, ctx, Op::Read, req.group_id.as_str()) {
        return JoinGroupResponse::default()
            .with_error_code(KafkaError::GroupAuthorizationFailed.code())
            .with_generation_id(-1)
            .with_member_id(req.member_id)
            .with_protocol_name((ctx.api_version < 7).then(Default::default));
    }
    let request = to_domain(ctx, req);
    let response = broker.groups.join(request).await;
    to_wire(ctx.api_version, response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::{ApiKey, GroupId};
    use kafka_protocol::protocol::Encodable;

    fn ctx(v: i16) -> RequestContext {
        RequestContext {
            api_key: ApiKey::JoinGroup,
            api_version: v,
            correlation_id: 1,
            client_id: "cli".into(),
            client_host: "10.1.2.3".parse().unwrap(),
            principal: std::sync::Arc::new(crate::security::Principal::anonymous()),
            listener: "PLAINTEXT".into(),
            connection_id: 0,
        }
    }

    fn sample() -> group::JoinResponse {
        group::JoinResponse {
            error: None,
            generation_id: 2,
            protocol_type: Some("consumer".into()),
            protocol_name: Some("range".into()),
            leader: "m1".into(),
            member_id: "m1".into(),
            members: vec![group::JoinMember {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                metadata: Bytes::from_static(b"meta"),
            }],
            skip_assignment: true,
        }
    }

    #[test]
    fn encodes_at_every_version() {
        for v in 0..=9 {
            let mut err =
                group::JoinResponse::error(group::GroupError::MemberIdRequired("m".into()), "m");
            err.protocol_name = None;
            for r in [sample(), err] {
                to_wire(v, r)
                    .encode(&mut BytesMut::new(), v)
                    .unwrap_or_else(|e| panic!("v{v}: {e}"));
            }
        }
        let w = to_wire(
            6,
            group::JoinResponse::error(group::GroupError::RebalanceInProgress, ""),
        );
        assert_eq!(w.protocol_name.as_ref().map(|s| s.as_str()), Some(""));
        assert_eq!(w.error_code, 27);
        let w = to_wire(9, sample());
        assert!(w.skip_assignment);
        assert_eq!(
            w.members[0].group_instance_id.as_ref().unwrap().as_str(),
            "i1"
        );
    }

    #[test]
    fn request_fields_respect_version() {
        let req = JoinGroupRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("g")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(99)
            .with_group_instance_id(Some(StrBytes::from_static_str("i")))
            .with_protocol_type(StrBytes::from_static_str("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default().with_name(StrBytes::from_static_str("range"))
            ]);
        let d0 = to_domain(&ctx(0), req.clone());
        assert_eq!(d0.rebalance_timeout_ms, 10_000);
        assert_eq!(d0.group_instance_id, None);
        assert!(!d0.require_known_member_id);
        assert_eq!(d0.client_host, "/10.1.2.3");
        assert_eq!(d0.client_id, "cli");
        let d5 = to_domain(&ctx(5), req);
        assert_eq!(d5.rebalance_timeout_ms, 99);
        assert_eq!(d5.group_instance_id.as_deref(), Some("i"));
        assert!(d5.require_known_member_id);
        assert!(!d5.supports_skip_assignment);
    }
}
