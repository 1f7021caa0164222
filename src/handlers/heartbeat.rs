//! Heartbeat (key 12, v0–4): keeps a member's session alive and tells it to rejoin
//! (REBALANCE_IN_PROGRESS) when a rebalance has started. v3+ carry `group_instance_id`
//! (a fenced static member gets FENCED_INSTANCE_ID).

use std::sync::Arc;

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group;
use crate::kafka_error::{self, KafkaError};

fn to_domain(version: i16, req: HeartbeatRequest) -> group::HeartbeatRequest {
    group::HeartbeatRequest {
        group_id: req.group_id.0.to_string(),
        generation_id: req.generation_id,
        member_id: req.member_id.to_string(),
        group_instance_id: if version >= 3 {
            req.group_instance_id.map(|s| s.to_string())
        } else {
            None
        },
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: HeartbeatRequest,
) -> HeartbeatResponse {
    if !authz::group(broker, ctx, Op::Read, req.group_id.as_str()) {
        return HeartbeatResponse::default()
            .with_error_code(KafkaError::GroupAuthorizationFailed.code());
    }
    let code = match broker
        .groups
        .heartbeat(to_domain(ctx.api_version, req))
        .await
    {
        Ok(()) => kafka_error::NONE,
        Err(e) => e.kafka_code(),
    };
    HeartbeatResponse::default().with_error_code(code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::StrBytes;

    #[test]
    fn instance_id_only_from_v3() {
        let req = HeartbeatRequest::default()
            .with_group_instance_id(Some(StrBytes::from_static_str("i")));
        assert_eq!(to_domain(2, req.clone()).group_instance_id, None);
        assert_eq!(to_domain(3, req).group_instance_id.as_deref(), Some("i"));
    }
}
