//! DescribeCluster (key 60, v0–1; v2 decodes too): this node as the only broker, the cluster
//! id, and this node as controller.
//!
//! As Kafka's broker (`AuthHelper.computeDescribeClusterResponse`): v1+ may ask for an
//! endpoint type. BROKER (1) is what we are; CONTROLLER (2) answers MISMATCHED_ENDPOINT_TYPE
//! and anything else UNSUPPORTED_ENDPOINT_TYPE. Kafka's broker reports a random live broker
//! as "controller" because clients cannot reach the real one; here the node is both.
//!
//! Authorized operations, when the client asks: as Kafka, the operations the principal may do
//! on the CLUSTER if it may DESCRIBE it, else 0 (without an authorizer, every operation the
//! resource supports); otherwise the schema default `i32::MIN` ("not requested").

use std::sync::Arc;

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::security::acl::{ResourceType, CLUSTER_NAME};

const ENDPOINT_BROKER: i8 = 1;
const ENDPOINT_CONTROLLER: i8 = 2;

/// The cluster's authorized-operations bit field (bit n = AclOperation code n) for the
/// request's principal, or `i32::MIN` when not requested.
pub(crate) fn cluster_authorized_operations(
    broker: &Broker,
    ctx: &RequestContext,
    requested: bool,
) -> i32 {
    if !requested {
        return i32::MIN;
    }
    let ops = authz::operations(broker, ctx, ResourceType::Cluster, CLUSTER_NAME);
    if ops & (1 << Op::Describe as i32) == 0 {
        0
    } else {
        ops
    }
}

/// Checks the requested endpoint type (v0 has none and means brokers).
fn check_endpoint(version: i16, endpoint_type: i8) -> Result<(), (i16, String)> {
    if version < 1 {
        return Ok(());
    }
    match endpoint_type {
        ENDPOINT_BROKER => Ok(()),
        ENDPOINT_CONTROLLER => Err((
            KafkaError::MismatchedEndpointType.code(),
            "The request was sent to an endpoint of type BROKER, but we wanted an endpoint of type CONTROLLER".into(),
        )),
        other => Err((
            KafkaError::UnsupportedEndpointType.code(),
            format!("Unsupported endpoint type {other}"),
        )),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    if let Err((code, message)) = check_endpoint(ctx.api_version, req.endpoint_type) {
        return DescribeClusterResponse::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message)));
    }
    let brokers = broker
        .live_brokers_on(&ctx.listener)
        .into_iter()
        .map(|n| {
            DescribeClusterBroker::default()
                .with_broker_id(BrokerId(n.node_id))
                .with_host(StrBytes::from_string(n.host))
                .with_port(n.port)
                .with_rack(n.rack.map(StrBytes::from_string))
                .with_is_fenced(false)
        })
        .collect();
    DescribeClusterResponse::default()
        .with_endpoint_type(ENDPOINT_BROKER)
        .with_cluster_id(StrBytes::from_string(broker.cluster_id()))
        .with_controller_id(BrokerId(broker.controller_id()))
        .with_brokers(brokers)
        .with_cluster_authorized_operations(cluster_authorized_operations(
            broker,
            ctx,
            req.include_cluster_authorized_operations,
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_types() {
        assert!(check_endpoint(0, 0).is_ok(), "v0 has no endpoint type");
        assert!(check_endpoint(1, ENDPOINT_BROKER).is_ok());
        assert_eq!(
            check_endpoint(1, ENDPOINT_CONTROLLER).unwrap_err().0,
            KafkaError::MismatchedEndpointType.code()
        );
        assert_eq!(
            check_endpoint(1, 0).unwrap_err().0,
            KafkaError::UnsupportedEndpointType.code()
        );
        assert_eq!(
            check_endpoint(1, 9).unwrap_err().0,
            KafkaError::UnsupportedEndpointType.code()
        );
    }
}
