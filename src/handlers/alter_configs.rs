//! AlterConfigs (key 33, v0–2): the legacy call that replaces every override of a resource
//! with the given set (configs left out return to their defaults). Kafka 4 still serves it
//! for TOPIC and BROKER resources and refuses the others; so does this handler. The
//! workflow itself (validate, persist, apply to running partitions) is
//! `Controller::replace_configs`; this file translates wire ↔ domain and the helpers here
//! are shared with IncrementalAlterConfigs.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::describe_configs::resource;
use super::{blocking, RequestContext};
use crate::broker::{now_ms, Broker};
use crate::cluster::{ConfigTarget, TopicError};
use crate::kafka_error::{self, KafkaError};

/// The domain target of a TOPIC, BROKER or GROUP resource (None for other types).
pub(super) fn target(resource_type: i8, name: &str) -> Option<ConfigTarget> {
    match resource_type {
        resource::TOPIC => Some(ConfigTarget::Topic(name.to_string())),
        resource::BROKER => Some(ConfigTarget::Broker(name.to_string())),
        resource::GROUP => Some(ConfigTarget::Group(name.to_string())),
        _ => None,
    }
}

/// Kafka refuses a resource whose config names repeat.
pub(super) fn has_duplicates<'a>(names: impl Iterator<Item = &'a str>) -> bool {
    let mut seen = std::collections::HashSet::new();
    names.into_iter().any(|n| !seen.insert(n))
}

/// An error outcome for one resource.
pub(super) fn refused(code: i16, message: impl Into<String>) -> (i16, Option<String>) {
    (code, Some(message.into()))
}

/// The outcome of a controller call, as (error code, message).
pub(super) fn outcome(r: Result<(), TopicError>) -> (i16, Option<String>) {
    match r {
        Ok(()) => (kafka_error::NONE, None),
        Err(e) => {
            tracing::debug!(error = %e, "config change refused");
            (e.kafka_code(), Some(e.to_string()))
        }
    }
}

pub(super) fn response_item(
    resource_type: i8,
    resource_name: StrBytes,
    (code, message): (i16, Option<String>),
) -> AlterConfigsResourceResponse {
    AlterConfigsResourceResponse::default()
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string))
        .with_resource_type(resource_type)
        .with_resource_name(resource_name)
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterConfigsRequest,
) -> AlterConfigsResponse {
    let validate_only = req.validate_only;
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in req.resources {
        let name = r.resource_name.as_str().to_string();
        let denied = authz::config_resource(broker, ctx, Op::AlterConfigs, r.resource_type, &name);
        let result = match target(r.resource_type, &name) {
            _ if denied.is_some() => (denied.unwrap_or_default(), None),
            Some(ConfigTarget::Group(_)) | None => refused(
                KafkaError::InvalidRequest.code(),
                format!(
                    "AlterConfigs is deprecated and does not support the resource type {}; use IncrementalAlterConfigs",
                    r.resource_type
                ),
            ),
            Some(_) if has_duplicates(r.configs.iter().map(|c| c.name.as_str())) => {
                refused(KafkaError::InvalidRequest.code(), "Error due to duplicate config keys")
            }
            Some(t) => {
                let mut new = BTreeMap::new();
                let mut null = None;
                for c in &r.configs {
                    match &c.value {
                        Some(v) => {
                            new.insert(c.name.to_string(), v.to_string());
                        }
                        None => null = Some(c.name.to_string()),
                    }
                }
                match null {
                    Some(n) => refused(
                        KafkaError::InvalidRequest.code(),
                        format!("Null value not supported for : {n}"),
                    ),
                    None => {
                        let b = broker.clone();
                        outcome(
                            blocking(move || {
                                b.controller
                                    .replace_configs(&b.config, &t, new, validate_only, now_ms())
                            })
                            .await,
                        )
                    }
                }
            }
        };
        responses.push(response_item(r.resource_type, r.resource_name, result));
    }
    AlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_and_duplicates() {
        assert_eq!(target(2, "t"), Some(ConfigTarget::Topic("t".into())));
        assert_eq!(target(4, ""), Some(ConfigTarget::Broker(String::new())));
        assert_eq!(target(32, "g"), Some(ConfigTarget::Group("g".into())));
        assert_eq!(target(8, "0"), None);
        assert!(has_duplicates(["a", "b", "a"].into_iter()));
        assert!(!has_duplicates(["a", "b"].into_iter()));
    }
}
