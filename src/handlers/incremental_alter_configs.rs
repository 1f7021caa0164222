//! IncrementalAlterConfigs (key 44, v0–1): SET, DELETE, APPEND and SUBTRACT (the last two for
//! LIST configs only) on TOPIC, BROKER (per broker or "" for cluster-wide defaults) and GROUP
//! resources, and SET / DELETE of log levels on BROKER_LOGGER. This is what
//! `kafka-configs --alter` and Admin `incrementalAlterConfigs` send.
//!
//! Errors follow Kafka (`ConfigAdminManager`): repeated config names in one resource, a null
//! value for SET, an unknown operation, or APPEND/SUBTRACT on a logger are INVALID_REQUEST;
//! APPEND/SUBTRACT on a non-list config and bad values are INVALID_CONFIG (INVALID_REQUEST
//! for broker resources). Each resource is answered on its own; `validate_only` checks
//! everything and changes nothing.

use std::sync::Arc;

use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::alter_configs::{has_duplicates, outcome, refused, target};
use super::authz::{self, Op};
use super::describe_configs::resource;
use super::{blocking, RequestContext};
use crate::broker::{now_ms, Broker};
use crate::cluster::AlterOp;
use crate::kafka_error::{self, KafkaError};
use crate::telemetry::levels::{self, LevelError};

/// Kafka's `AlterConfigOp.OpType` ids.
mod op {
    pub const SET: i8 = 0;
    pub const DELETE: i8 = 1;
    pub const APPEND: i8 = 2;
    pub const SUBTRACT: i8 = 3;
}

/// The operations of one resource in domain terms, or the INVALID_REQUEST reason.
fn to_ops(r: &AlterConfigsResource) -> Result<Vec<(String, AlterOp)>, String> {
    if has_duplicates(r.configs.iter().map(|c| c.name.as_str())) {
        return Err("Error due to duplicate config keys".into());
    }
    r.configs
        .iter()
        .map(|c| {
            let name = c.name.to_string();
            let value = || {
                c.value
                    .as_ref()
                    .map(|v| v.to_string())
                    .ok_or_else(|| format!("Null value not supported for : {name}"))
            };
            let op = match c.config_operation {
                op::SET => AlterOp::Set(value()?),
                op::DELETE => AlterOp::Delete,
                op::APPEND => AlterOp::Append(value()?),
                op::SUBTRACT => AlterOp::Subtract(value()?),
                other => return Err(format!("Unknown operation type {other}")),
            };
            Ok((name, op))
        })
        .collect()
}

/// Log level changes: SET and DELETE only.
fn alter_loggers(
    node_id: i32,
    r: &AlterConfigsResource,
    validate_only: bool,
) -> (i16, Option<String>) {
    if r.resource_name.as_str() != node_id.to_string() {
        return refused(
            KafkaError::InvalidRequest.code(),
            format!(
                "Unexpected broker id, expected {node_id}, but received {}",
                r.resource_name.as_str()
            ),
        );
    }
    let ops = match to_ops(r) {
        Ok(o) => o,
        Err(e) => return refused(KafkaError::InvalidRequest.code(), e),
    };
    let mut changes = Vec::with_capacity(ops.len());
    for (name, op) in ops {
        match op {
            AlterOp::Set(v) => changes.push((name, Some(v))),
            AlterOp::Delete => changes.push((name, None)),
            AlterOp::Append(_) | AlterOp::Subtract(_) => {
                return refused(
                    KafkaError::InvalidRequest.code(),
                    "APPEND and SUBTRACT operations are not allowed for the BROKER_LOGGER resource",
                )
            }
        }
    }
    let result = if validate_only {
        changes
            .iter()
            .try_for_each(|(n, l)| levels::validate_change(n, l.as_deref()))
    } else {
        levels::apply_changes(&changes)
    };
    match result {
        Ok(()) => (kafka_error::NONE, None),
        Err(LevelError::InvalidConfig(m)) => refused(KafkaError::InvalidConfig.code(), m),
        Err(LevelError::InvalidRequest(m)) => refused(KafkaError::InvalidRequest.code(), m),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let validate_only = req.validate_only;
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let denied = authz::config_resource(
            broker,
            ctx,
            Op::AlterConfigs,
            r.resource_type,
            r.resource_name.as_str(),
        );
        let result = if let Some(code) = denied {
            (code, None)
        } else if r.resource_type == resource::BROKER_LOGGER {
            alter_loggers(broker.config.node_id, &r, validate_only)
        } else {
            match (
                target(r.resource_type, r.resource_name.as_str()),
                to_ops(&r),
            ) {
                (None, _) => refused(
                    KafkaError::InvalidRequest.code(),
                    format!("Unsupported resource type: {}", r.resource_type),
                ),
                (Some(_), Err(e)) => refused(KafkaError::InvalidRequest.code(), e),
                (Some(t), Ok(ops)) => {
                    let b = broker.clone();
                    outcome(
                        blocking(move || {
                            b.controller
                                .alter_configs(&b.config, &t, &ops, validate_only, now_ms())
                        })
                        .await,
                    )
                }
            }
        };
        let (code, message) = result;
        responses.push(
            AlterConfigsResourceResponse::default()
                .with_error_code(code)
                .with_error_message(message.map(StrBytes::from_string))
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name),
        );
    }
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;

    fn cfg(name: &'static str, op: i8, value: Option<&'static str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_config_operation(op)
            .with_value(value.map(StrBytes::from_static_str))
    }

    #[test]
    fn ops_translate_and_refuse_like_kafka() {
        let r = AlterConfigsResource::default().with_configs(vec![
            cfg("retention.ms", op::SET, Some("1")),
            cfg("segment.ms", op::DELETE, None),
            cfg("cleanup.policy", op::APPEND, Some("compact")),
            cfg(
                "leader.replication.throttled.replicas",
                op::SUBTRACT,
                Some("0:0"),
            ),
        ]);
        let ops = to_ops(&r).unwrap();
        assert_eq!(ops[0], ("retention.ms".into(), AlterOp::Set("1".into())));
        assert_eq!(ops[1].1, AlterOp::Delete);
        assert_eq!(ops[2].1, AlterOp::Append("compact".into()));
        assert_eq!(ops[3].1, AlterOp::Subtract("0:0".into()));
        let dup = AlterConfigsResource::default().with_configs(vec![
            cfg("retention.ms", op::SET, Some("1")),
            cfg("retention.ms", op::DELETE, None),
        ]);
        assert!(to_ops(&dup).unwrap_err().contains("duplicate"));
        let null =
            AlterConfigsResource::default().with_configs(vec![cfg("retention.ms", op::SET, None)]);
        assert!(to_ops(&null).unwrap_err().contains("Null value"));
        let bad =
            AlterConfigsResource::default().with_configs(vec![cfg("retention.ms", 9, Some("1"))]);
        assert!(to_ops(&bad).unwrap_err().contains("Unknown operation"));
    }

    #[test]
    fn loggers_refuse_append_and_other_nodes() {
        let r = AlterConfigsResource::default()
            .with_resource_type(resource::BROKER_LOGGER)
            .with_resource_name(StrBytes::from_static_str("0"))
            .with_configs(vec![cfg("runnel::log", op::APPEND, Some("DEBUG"))]);
        assert_eq!(
            alter_loggers(0, &r, true).0,
            KafkaError::InvalidRequest.code()
        );
        assert_eq!(
            alter_loggers(1, &r, true).0,
            KafkaError::InvalidRequest.code()
        );
        let r = r.with_configs(vec![cfg("runnel::log", op::SET, Some("LOUD"))]);
        assert_eq!(
            alter_loggers(0, &r, true).0,
            KafkaError::InvalidConfig.code()
        );
        let r = r.with_configs(vec![cfg("runnel::log", op::SET, Some("DEBUG"))]);
        assert_eq!(alter_loggers(0, &r, true), (kafka_error::NONE, None));
    }
}
