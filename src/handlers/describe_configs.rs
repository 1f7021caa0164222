//! DescribeConfigs (key 32, v1–4): the effective configuration of topics, brokers, groups
//! and loggers.
//!
//! Resource types: TOPIC (2) lists every Kafka topic config (`cluster::topic_config`) with
//! its effective value and source; BROKER (4) lists broker settings under Kafka's names
//! (`cluster::broker_config`), the dynamic ones resolved through their layers; GROUP (32)
//! lists Kafka's group configs with the group's overrides; BROKER_LOGGER (8) lists the
//! loggers and their levels (`telemetry::levels`). CLIENT_METRICS (16) and unknown ids are
//! answered per resource with INVALID_REQUEST.
//!
//! Sources model Kafka's layering, highest precedence first: a topic override
//! (DYNAMIC_TOPIC_CONFIG 1), a dynamic per-broker setting (DYNAMIC_BROKER_CONFIG 2), a
//! dynamic cluster default (DYNAMIC_DEFAULT_BROKER_CONFIG 3), `runnel.toml` where it differs
//! from the built-in default (STATIC_BROKER_CONFIG 4), the built-in default (DEFAULT_CONFIG
//! 5); a group override is GROUP_CONFIG 8, a logger level DYNAMIC_BROKER_LOGGER_CONFIG 6.
//!
//! As in Kafka (`ConfigHelper`): `configuration_keys` null or empty means all keys and unknown
//! keys are silently left out; a broker resource named "" describes the cluster-wide dynamic
//! defaults; a broker (or broker-logger) resource naming another node is INVALID_REQUEST.

use std::sync::Arc;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::cluster::config_def::{ConfigSource, ConfigType, Resolved};
use crate::cluster::controller::validate_topic_name;
use crate::cluster::{broker_config, group_config, topic_config};
use crate::kafka_error::{self, KafkaError};
use crate::telemetry::levels;

/// ConfigResource.Type ids.
pub(super) mod resource {
    pub const TOPIC: i8 = 2;
    pub const BROKER: i8 = 4;
    pub const BROKER_LOGGER: i8 = 8;
    pub const GROUP: i8 = 32;
}

/// Whether a key was asked for: null or empty `configuration_keys` means every key.
fn wanted<S: std::ops::Deref<Target = str>>(keys: Option<&[S]>, name: &str) -> bool {
    match keys {
        None | Some([]) => true,
        Some(keys) => keys.iter().any(|k| &**k == name),
    }
}

/// What a resource resolves to before it is put on the wire.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    Configs(Vec<Resolved>),
    Error(i16, Option<String>),
}

/// Checks that a broker or broker-logger resource names this node.
fn check_node(node_id: i32, name: &str) -> Result<(), Outcome> {
    match name.parse::<i32>() {
        Ok(id) if id == node_id => Ok(()),
        Ok(_) => Err(Outcome::Error(
            KafkaError::InvalidRequest.code(),
            Some(format!(
                "Unexpected broker id, expected {node_id} or empty string, but received {name}"
            )),
        )),
        Err(_) => Err(Outcome::Error(
            KafkaError::InvalidRequest.code(),
            Some(format!("Broker id must be an integer, but it is: {name}")),
        )),
    }
}

/// The broker resource: "" = cluster-wide dynamic defaults, our id = every broker config.
fn describe_broker(broker: &Broker, name: &str) -> Outcome {
    let layers = broker.controller.broker_layers();
    if name.is_empty() {
        return Outcome::Configs(broker_config::cluster_default_entries(&layers));
    }
    match check_node(broker.config.node_id, name) {
        Ok(()) => Outcome::Configs(broker_config::broker_entries(&broker.config, &layers)),
        Err(o) => o,
    }
}

fn describe_topic(broker: &Broker, name: &str) -> Outcome {
    if let Err(e) = validate_topic_name(name) {
        return Outcome::Error(e.kafka_code(), Some(e.to_string()));
    }
    match broker.metadata.topic(name) {
        Some(t) => Outcome::Configs(topic_config::effective(
            &broker.controller.broker_layers(),
            &t.configs,
        )),
        // Kafka sets no message here.
        None => Outcome::Error(KafkaError::UnknownTopicOrPartition.code(), None),
    }
}

fn describe_group(broker: &Broker, name: &str) -> Outcome {
    if name.is_empty() {
        return Outcome::Error(
            KafkaError::InvalidRequest.code(),
            Some("Group name must not be empty".into()),
        );
    }
    Outcome::Configs(group_config::entries(
        &broker.controller.group_overrides(name),
    ))
}

fn describe_loggers(node_id: i32, name: &str) -> Outcome {
    if let Err(o) = check_node(node_id, name) {
        return o;
    }
    Outcome::Configs(
        levels::loggers()
            .into_iter()
            .map(|(logger, level)| Resolved {
                name: logger,
                value: level.to_string(),
                source: ConfigSource::DynamicBrokerLogger,
                read_only: false,
                kind: ConfigType::Str,
                doc: String::new(),
                synonyms: Vec::new(),
            })
            .collect(),
    )
}

fn to_wire(
    d: Resolved,
    include_synonyms: bool,
    include_docs: bool,
) -> DescribeConfigsResourceResult {
    let synonyms = if include_synonyms {
        d.synonyms
            .into_iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_static_str(s.name))
                    .with_value(Some(StrBytes::from_string(s.value)))
                    .with_source(s.source.kafka_id())
            })
            .collect()
    } else {
        Vec::new()
    };
    let doc = (include_docs && !d.doc.is_empty()).then(|| StrBytes::from_string(d.doc));
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(d.name))
        .with_value(Some(StrBytes::from_string(d.value)))
        .with_read_only(d.read_only)
        .with_config_source(d.source.kafka_id())
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_config_type(d.kind.kafka_id())
        .with_documentation(doc)
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let include_synonyms = req.include_synonyms;
    let include_docs = ctx.api_version >= 3 && req.include_documentation;
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            match authz::config_resource(
                broker,
                ctx,
                Op::DescribeConfigs,
                r.resource_type,
                r.resource_name.as_str(),
            ) {
                Some(code) => DescribeConfigsResult::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name)
                    .with_error_code(code),
                None => describe_resource(broker, r, include_synonyms, include_docs),
            }
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}

fn describe_resource(
    broker: &Broker,
    r: DescribeConfigsResource,
    include_synonyms: bool,
    include_docs: bool,
) -> DescribeConfigsResult {
    let name = r.resource_name.as_str();
    let outcome = match r.resource_type {
        resource::TOPIC => describe_topic(broker, name),
        resource::BROKER => describe_broker(broker, name),
        resource::GROUP => describe_group(broker, name),
        resource::BROKER_LOGGER => describe_loggers(broker.config.node_id, name),
        other => Outcome::Error(
            KafkaError::InvalidRequest.code(),
            Some(format!("Unsupported resource type: {other}")),
        ),
    };
    let base = DescribeConfigsResult::default()
        .with_resource_type(r.resource_type)
        .with_resource_name(r.resource_name.clone());
    match outcome {
        Outcome::Configs(entries) => {
            let keys = r.configuration_keys.as_deref();
            let configs = entries
                .into_iter()
                .filter(|d| wanted(keys, &d.name))
                .map(|d| to_wire(d, include_synonyms, include_docs))
                .collect();
            base.with_error_code(kafka_error::NONE)
                .with_error_message(None)
                .with_configs(configs)
        }
        Outcome::Error(code, message) => base
            .with_error_code(code)
            .with_error_message(message.map(StrBytes::from_string))
            .with_configs(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    use crate::cluster::topic_config::BrokerLayers;

    #[test]
    fn key_selection_null_or_empty_means_all() {
        let none: Option<&[&str]> = None;
        let empty: &[&str] = &[];
        let one: &[&str] = &["retention.ms"];
        let others: &[&str] = &["segment.ms", "nope"];
        assert!(wanted(none, "retention.ms"));
        assert!(wanted(Some(empty), "retention.ms"));
        assert!(wanted(Some(one), "retention.ms"));
        assert!(!wanted(Some(others), "retention.ms"));
    }

    #[test]
    fn node_checks() {
        assert_eq!(check_node(3, "3"), Ok(()));
        assert!(matches!(
            check_node(3, "4"),
            Err(Outcome::Error(42, Some(m))) if m.contains("expected 3")
        ));
        assert!(matches!(
            check_node(3, "x"),
            Err(Outcome::Error(42, Some(m))) if m.contains("integer")
        ));
        match describe_loggers(0, "0") {
            Outcome::Configs(c) => {
                assert_eq!(c[0].name, "root");
                assert!(c
                    .iter()
                    .all(|e| e.source == ConfigSource::DynamicBrokerLogger));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn wire_entry_respects_flags() {
        let e = topic_config::effective(&BrokerLayers::default(), &BTreeMap::new());
        let d = e.iter().find(|d| d.name == "flush.ms").unwrap().clone();
        let w = to_wire(d.clone(), false, false);
        assert!(w.synonyms.is_empty());
        assert_eq!(w.documentation, None);
        assert_eq!(w.config_source, 5, "Runnel's own default is DEFAULT_CONFIG");
        assert_eq!(w.value.as_deref(), Some("1000"));
        let w = to_wire(d, true, true);
        assert_eq!(w.synonyms.len(), 1);
        assert_eq!(w.synonyms[0].name.as_str(), "log.flush.interval.ms");
        assert!(w.documentation.is_some());
        assert_eq!(w.config_type, 5);
    }
}
