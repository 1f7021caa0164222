//! SyncGroup (key 14, v0–5): the leader hands in the assignment; every member gets its own.
//!
//! Followers' requests are parked until the leader's arrives. v3+ carry
//! `group_instance_id`; v5+ carry (and answer) the protocol type and name, which must match
//! the group's (INCONSISTENT_GROUP_PROTOCOL otherwise). A member without an assignment gets
//! empty bytes.

use std::sync::Arc;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::{self, error::code_of};
use crate::kafka_error::KafkaError;

fn to_domain(version: i16, req: SyncGroupRequest) -> group::SyncRequest {
    group::SyncRequest {
        group_id: req.group_id.0.to_string(),
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: if version >= 3 {
            req.group_instance_id.map(|s| s.to_string())
        } else {
            None
        },
        protocol_type: if version >= 5 {
            req.protocol_type.map(|s| s.to_string())
        } else {
            None
        },
        protocol_name: if version >= 5 {
            req.protocol_name.map(|s| s.to_string())
        } else {
            None
        },
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    }
}

fn to_wire(version: i16, r: group::SyncResponse) -> SyncGroupResponse {
    let v5 = version >= 5;
    SyncGroupResponse::default()
        .with_error_code(code_of(&r.error))
        .with_protocol_type(r.protocol_type.filter(|_| v5).map(StrBytes::from_string))
        .with_protocol_name(r.protocol_name.filter(|_| v5).map(StrBytes::from_string))
        .with_assignment(r.assignment)
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: SyncGroupRequest,
) -> SyncGroupResponse {
    if !authz::group(broker, ctx, Op::Read, req.group_id.as_str()) {
        return SyncGroupResponse::default()
            .with_error_code(KafkaError::GroupAuthorizationFailed.code());
    }
    let request = to_domain(ctx.api_version, req);
    let response = broker.groups.sync(request).await;
    to_wire(ctx.api_version, response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{Bytes, BytesMut};
    use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn encodes_at_every_version() {
        for v in 0..=5 {
            let ok = group::SyncResponse {
                error: None,
                protocol_type: Some("consumer".into()),
                protocol_name: Some("range".into()),
                assignment: Bytes::from_static(b"a"),
            };
            let err = group::SyncResponse::error(group::GroupError::RebalanceInProgress);
            for r in [ok, err] {
                to_wire(v, r)
                    .encode(&mut BytesMut::new(), v)
                    .unwrap_or_else(|e| panic!("v{v}: {e}"));
            }
        }
    }

    #[test]
    fn request_fields_respect_version() {
        let req = SyncGroupRequest::default()
            .with_generation_id(3)
            .with_member_id(StrBytes::from_static_str("m"))
            .with_group_instance_id(Some(StrBytes::from_static_str("i")))
            .with_protocol_name(Some(StrBytes::from_static_str("range")))
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(StrBytes::from_static_str("m"))
                .with_assignment(Bytes::from_static(b"x"))]);
        let d2 = to_domain(2, req.clone());
        assert_eq!((d2.group_instance_id, d2.protocol_name), (None, None));
        let d5 = to_domain(5, req);
        assert_eq!(d5.protocol_name.as_deref(), Some("range"));
        assert_eq!(
            d5.assignments,
            vec![("m".to_string(), Bytes::from_static(b"x"))]
        );
    }
}
