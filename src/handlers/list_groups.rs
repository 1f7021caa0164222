//! ListGroups (key 16, v0–5): every group this coordinator owns.
//!
//! v4+ filter by state (case-insensitive, Kafka's state names) and answer the state; v5+
//! filter by group type ("classic" is the only type here) and answer it. As Kafka: DESCRIBE
//! on the cluster lists every group, otherwise only the groups the principal may DESCRIBE.

use std::sync::Arc;

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group;

fn listed(version: i16, g: group::ListedGroup) -> ListedGroup {
    ListedGroup::default()
        .with_group_id(GroupId(StrBytes::from_string(g.group_id)))
        .with_protocol_type(StrBytes::from_string(g.protocol_type))
        .with_group_state(if version >= 4 {
            StrBytes::from_static_str(g.state)
        } else {
            StrBytes::new()
        })
        .with_group_type(if version >= 5 {
            StrBytes::from_static_str(g.group_type)
        } else {
            StrBytes::new()
        })
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListGroupsRequest,
) -> ListGroupsResponse {
    let v = ctx.api_version;
    let states: Vec<String> = if v >= 4 {
        req.states_filter.iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    };
    let types: Vec<String> = if v >= 5 {
        req.types_filter.iter().map(|s| s.to_string()).collect()
    } else {
        Vec::new()
    };
    let all = authz::authorize_cluster(broker, ctx, Op::Describe);
    match broker.groups.list(&states, &types).await {
        Ok(groups) => ListGroupsResponse::default().with_groups(
            groups
                .into_iter()
                .filter(|g| all || authz::group(broker, ctx, Op::Describe, &g.group_id))
                .map(|g| listed(v, g))
                .collect(),
        ),
        Err(e) => ListGroupsResponse::default().with_error_code(e.kafka_code()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn encodes_at_every_version() {
        for v in 0..=5 {
            let g = group::ListedGroup {
                group_id: "g".into(),
                protocol_type: "consumer".into(),
                state: "Stable",
                group_type: "classic",
            };
            let r = ListGroupsResponse::default().with_groups(vec![listed(v, g)]);
            r.encode(&mut BytesMut::new(), v)
                .unwrap_or_else(|e| panic!("v{v}: {e}"));
        }
    }
}
