//! CreateAcls (key 30, v1–3, as Kafka 4: v0 is gone): add ACLs (`kafka-acls --add`, Admin `createAcls`).
//!
//! As Kafka: SECURITY_DISABLED for every creation when no authorizer is configured;
//! CLUSTER_AUTHORIZATION_FAILED for every creation unless the principal may ALTER the
//! cluster; otherwise each creation is validated on its own (INVALID_REQUEST with a message:
//! unknown or ANY/MATCH codes, an empty name, a CLUSTER resource not named `kafka-cluster`, a
//! principal without a type) and the valid ones are stored together, synced, before the
//! answer. Creating an ACL that exists is a
//! success that stores nothing new.

use std::sync::Arc;

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::{self, KafkaError};
use crate::security::acl::AclBinding;

fn failed(code: KafkaError, message: impl Into<String>) -> AclCreationResult {
    AclCreationResult::default()
        .with_error_code(code.code())
        .with_error_message(Some(StrBytes::from_string(message.into())))
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreateAclsRequest,
) -> CreateAclsResponse {
    let all = |r: AclCreationResult| {
        CreateAclsResponse::default().with_results(vec![r; req.creations.len()])
    };
    if let Some((code, message)) = authz::acl_api_refusal(broker, ctx, Op::Alter) {
        return all(failed(code, message));
    }
    let parsed: Vec<Result<AclBinding, String>> = req
        .creations
        .iter()
        .map(|c| {
            AclBinding::from_wire(
                c.resource_type,
                c.resource_name.as_str(),
                c.resource_pattern_type,
                c.principal.as_str(),
                c.host.as_str(),
                c.operation,
                c.permission_type,
            )
        })
        .collect();
    let valid: Vec<AclBinding> = parsed.iter().filter_map(|r| r.clone().ok()).collect();
    let stored = if valid.is_empty() {
        Ok(())
    } else {
        let b = broker.clone();
        blocking(move || b.acls.create(&valid)).await
    };
    let results = parsed
        .into_iter()
        .map(|r| match (r, &stored) {
            (Err(message), _) => failed(KafkaError::InvalidRequest, message),
            (Ok(_), Err(e)) => AclCreationResult::default()
                .with_error_code(e.kafka_code())
                .with_error_message(Some(StrBytes::from_string(e.to_string()))),
            (Ok(acl), Ok(())) => {
                tracing::info!(principal = %ctx.principal, ?acl, "ACL created");
                AclCreationResult::default().with_error_code(kafka_error::NONE)
            }
        })
        .collect();
    CreateAclsResponse::default().with_results(results)
}
