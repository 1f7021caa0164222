//! DeleteGroups (key 42, v0–2): delete Empty groups and their committed offsets.
//!
//! Per group: NON_EMPTY_GROUP while it has members, GROUP_ID_NOT_FOUND when unknown,
//! INVALID_GROUP_ID for "", GROUP_AUTHORIZATION_FAILED without DELETE on the group. Results
//! keep request order.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::{self, KafkaError};

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteGroupsRequest,
) -> DeleteGroupsResponse {
    let allowed: Vec<bool> = req
        .groups_names
        .iter()
        .map(|g| authz::group(broker, ctx, Op::Delete, g.as_str()))
        .collect();
    let ids: Vec<String> = req
        .groups_names
        .iter()
        .zip(&allowed)
        .filter(|(_, ok)| **ok)
        .map(|(g, _)| g.0.to_string())
        .collect();
    let mut deleted = broker.groups.delete(&ids).await.into_iter();
    let results = req
        .groups_names
        .into_iter()
        .zip(allowed)
        .map(|(id, ok)| {
            let code = if !ok {
                KafkaError::GroupAuthorizationFailed.code()
            } else {
                match deleted.next() {
                    Some((_, r)) => r.err().map_or(kafka_error::NONE, |e| e.kafka_code()),
                    None => KafkaError::UnknownServerError.code(),
                }
            };
            DeletableGroupResult::default()
                .with_group_id(id)
                .with_error_code(code)
        })
        .collect();
    DeleteGroupsResponse::default().with_results(results)
}
