//! DeleteAcls (key 31, v1–3, as Kafka 4: v0 is gone): delete the ACLs matching each filter (`kafka-acls --remove`,
//! Admin `deleteAcls`) and return them.
//!
//! As Kafka: SECURITY_DISABLED for every filter without an authorizer;
//! CLUSTER_AUTHORIZATION_FAILED for every filter unless the principal may ALTER the cluster;
//! INVALID_REQUEST for a filter with unknown codes (the other filters still apply). Filters
//! match as in DescribeAcls; an ACL matched by several filters is reported under each. The
//! deletions of one request are one synced store write.

use std::sync::Arc;

use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::security::acl::AclFilter;

fn failed(code: i16, message: impl Into<String>) -> DeleteAclsFilterResult {
    DeleteAclsFilterResult::default()
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message.into())))
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteAclsRequest,
) -> DeleteAclsResponse {
    let all = |r: DeleteAclsFilterResult| {
        DeleteAclsResponse::default().with_filter_results(vec![r; req.filters.len()])
    };
    if let Some((code, message)) = authz::acl_api_refusal(broker, ctx, Op::Alter) {
        return all(failed(code.code(), message));
    }
    let parsed: Vec<Result<AclFilter, String>> = req
        .filters
        .iter()
        .map(|f| {
            AclFilter::from_wire(
                f.resource_type_filter,
                f.resource_name_filter.as_deref(),
                f.pattern_type_filter,
                f.principal_filter.as_deref(),
                f.host_filter.as_deref(),
                f.operation,
                f.permission_type,
            )
        })
        .collect();
    let valid: Vec<AclFilter> = parsed.iter().filter_map(|r| r.clone().ok()).collect();
    let b = broker.clone();
    let deleted = blocking(move || b.acls.delete(&valid)).await;
    let mut deleted = match deleted {
        Ok(d) => d.into_iter(),
        Err(e) => return all(failed(e.kafka_code(), e.to_string())),
    };
    let results = parsed
        .into_iter()
        .map(|p| match p {
            Err(message) => failed(KafkaError::InvalidRequest.code(), message),
            Ok(_) => {
                let acls = deleted.next().unwrap_or_default();
                if !acls.is_empty() {
                    tracing::info!(principal = %ctx.principal, ?acls, "ACLs deleted");
                }
                DeleteAclsFilterResult::default().with_matching_acls(
                    acls.into_iter()
                        .map(|a| {
                            DeleteAclsMatchingAcl::default()
                                .with_resource_type(a.resource_type as i8)
                                .with_resource_name(StrBytes::from_string(a.name))
                                .with_pattern_type(a.pattern_type as i8)
                                .with_principal(StrBytes::from_string(a.principal))
                                .with_host(StrBytes::from_string(a.host))
                                .with_operation(a.operation as i8)
                                .with_permission_type(a.permission as i8)
                        })
                        .collect(),
                )
            }
        })
        .collect();
    DeleteAclsResponse::default().with_filter_results(results)
}
