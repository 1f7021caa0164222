//! The authorization checks handlers make, one call each: `authz::topic(broker, ctx,
//! Operation::Write, name)`. They read the request's principal and client address from the
//! [`RequestContext`]; with `auth.authorizer = false` each is a single `bool` test.

use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::security::acl::{Operation, ResourceType, CLUSTER_NAME};

use super::RequestContext;

pub use crate::security::acl::Operation as Op;

/// Whether the request's principal may do `op` on the named resource.
#[inline]
pub fn allowed(
    broker: &Broker,
    ctx: &RequestContext,
    op: Operation,
    resource_type: ResourceType,
    name: &str,
) -> bool {
    broker
        .acls
        .authorize(&ctx.principal, ctx.client_host, op, resource_type, name)
}

/// `op` on a topic.
#[inline]
pub fn topic(broker: &Broker, ctx: &RequestContext, op: Operation, name: &str) -> bool {
    allowed(broker, ctx, op, ResourceType::Topic, name)
}

/// `op` on a consumer group.
#[inline]
pub fn group(broker: &Broker, ctx: &RequestContext, op: Operation, name: &str) -> bool {
    allowed(broker, ctx, op, ResourceType::Group, name)
}

/// `op` on a transactional id.
#[inline]
pub fn transactional_id(broker: &Broker, ctx: &RequestContext, op: Operation, id: &str) -> bool {
    allowed(broker, ctx, op, ResourceType::TransactionalId, id)
}

/// `op` on the cluster (`kafka-cluster`): cluster-wide admin APIs, broker configs, SCRAM
/// credentials (ALTER to change them, DESCRIBE to list them).
#[inline]
pub fn authorize_cluster(broker: &Broker, ctx: &RequestContext, op: Operation) -> bool {
    allowed(broker, ctx, op, ResourceType::Cluster, CLUSTER_NAME)
}

/// The checks an ACL API makes before looking at its ACLs, in Kafka's order, for the cluster
/// operation it needs (DESCRIBE to list ACLs, ALTER to create or delete them): the error and
/// message every entry of the answer carries, or `None` to go on. SECURITY_DISABLED without an
/// authorizer; in cluster mode ALTER is refused with UNSUPPORTED_VERSION (not advertised there,
/// `versions::SINGLE_NODE_ONLY`: a node's ACLs would diverge from the others');
/// CLUSTER_AUTHORIZATION_FAILED without the cluster permission.
pub fn acl_api_refusal(
    broker: &Broker,
    ctx: &RequestContext,
    op: Operation,
) -> Option<(KafkaError, &'static str)> {
    if !broker.acls.enabled() {
        return Some((KafkaError::SecurityDisabled, "No Authorizer is configured."));
    }
    if op == Operation::Alter && broker.controller.member().is_some() {
        return Some((
            KafkaError::UnsupportedVersion,
            "ACLs are not replicated across a cluster yet: manage them on a single node.",
        ));
    }
    if !authorize_cluster(broker, ctx, op) {
        return Some((
            KafkaError::ClusterAuthorizationFailed,
            "Cluster authorization failed.",
        ));
    }
    None
}

/// Whether the principal may do `op` on some resource of the type (Kafka's
/// `authorizeByResourceType`).
pub fn any_of_type(
    broker: &Broker,
    ctx: &RequestContext,
    op: Operation,
    resource_type: ResourceType,
) -> bool {
    broker
        .acls
        .authorize_any(&ctx.principal, ctx.client_host, op, resource_type)
}

/// The `authorized_operations` bit set of a resource for the request's principal.
pub fn operations(
    broker: &Broker,
    ctx: &RequestContext,
    resource_type: ResourceType,
    name: &str,
) -> i32 {
    broker
        .acls
        .authorized_operations(&ctx.principal, ctx.client_host, resource_type, name)
}

/// A config resource (DescribeConfigs / AlterConfigs / IncrementalAlterConfigs): `None` if
/// the principal may do `op` (DESCRIBE_CONFIGS or ALTER_CONFIGS) on it, else the error code.
/// As Kafka: topics and groups are checked on themselves, brokers and broker loggers on the
/// cluster.
pub fn config_resource(
    broker: &Broker,
    ctx: &RequestContext,
    op: Operation,
    resource_type: i8,
    name: &str,
) -> Option<i16> {
    use super::describe_configs::resource;
    use crate::kafka_error::KafkaError;
    let (allowed, denied) = match resource_type {
        resource::TOPIC => (
            topic(broker, ctx, op, name),
            KafkaError::TopicAuthorizationFailed,
        ),
        resource::GROUP => (
            group(broker, ctx, op, name),
            KafkaError::GroupAuthorizationFailed,
        ),
        resource::BROKER | resource::BROKER_LOGGER => (
            authorize_cluster(broker, ctx, op),
            KafkaError::ClusterAuthorizationFailed,
        ),
        // Types the handlers refuse anyway (INVALID_REQUEST).
        _ => return None,
    };
    (!allowed).then(|| denied.code())
}
