//! DescribeAcls (key 29, v1–3, as Kafka 4: v0 is gone): the ACLs matching a filter (`kafka-acls --list`, Admin
//! `describeAcls`), grouped by resource pattern.
//!
//! As Kafka: SECURITY_DISABLED without an authorizer; CLUSTER_AUTHORIZATION_FAILED unless the
//! principal may DESCRIBE the cluster; INVALID_REQUEST for a filter with unknown codes. The
//! filter's pattern type may be ANY (names compared exactly), MATCH (every ACL that applies to
//! the named resource: LITERAL equal or `*`, PREFIXED a prefix) or LITERAL/PREFIXED; null
//! name, principal and host match anything.

use std::sync::Arc;

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::security::acl::AclFilter;

fn failed(code: KafkaError, message: impl Into<String>) -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(code.code())
        .with_error_message(Some(StrBytes::from_string(message.into())))
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeAclsRequest,
) -> DescribeAclsResponse {
    if let Some((code, message)) = authz::acl_api_refusal(broker, ctx, Op::Describe) {
        return failed(code, message);
    }
    let filter = match AclFilter::from_wire(
        req.resource_type_filter,
        req.resource_name_filter.as_deref(),
        req.pattern_type_filter,
        req.principal_filter.as_deref(),
        req.host_filter.as_deref(),
        req.operation,
        req.permission_type,
    ) {
        Ok(f) => f,
        Err(message) => return failed(KafkaError::InvalidRequest, message),
    };
    // The index lists bindings sorted by resource first: consecutive ACLs of one pattern
    // make one resource entry.
    let mut resources: Vec<DescribeAclsResource> = Vec::new();
    for acl in broker.acls.describe(&filter) {
        let same = resources.last().is_some_and(|r| {
            r.resource_type == acl.resource_type as i8
                && r.pattern_type == acl.pattern_type as i8
                && r.resource_name.as_str() == acl.name
        });
        if !same {
            resources.push(
                DescribeAclsResource::default()
                    .with_resource_type(acl.resource_type as i8)
                    .with_resource_name(StrBytes::from_string(acl.name.clone()))
                    .with_pattern_type(acl.pattern_type as i8),
            );
        }
        if let Some(r) = resources.last_mut() {
            r.acls.push(
                AclDescription::default()
                    .with_principal(StrBytes::from_string(acl.principal))
                    .with_host(StrBytes::from_string(acl.host))
                    .with_operation(acl.operation as i8)
                    .with_permission_type(acl.permission as i8),
            );
        }
    }
    DescribeAclsResponse::default().with_resources(resources)
}
