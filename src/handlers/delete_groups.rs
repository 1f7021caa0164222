//! DeleteGroups (key 42, v0–2): delete Empty groups and their committed offsets.
//!
//! Per group: NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND when unknown,
//! INVALID_GROUP_ID for "". Results keep request order.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error;

pub async fn handle(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let ids: Vec<String> = req.groups_names.iter().map(|g| g.0.to_string()).collect();
    let results = broker.groups.delete(&ids).await;
    let results = req
        .groups_names
        .into_iter()
        .zip(results)
        .map(|(id, (_, r))| {
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(r.err().map_or(kafka_error::NONE, |e| e.kafka_code()))
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
