//! Broker-level configuration under Kafka's names: what DescribeConfigs lists for a BROKER
//! resource, and which settings can change at runtime (Kafka's dynamic broker configs).
//!
//! Dynamic here means the broker synonyms of topic configs (`log.retention.ms`,
//! `log.segment.bytes`, `message.max.bytes`, ... — Kafka's `DynamicLogConfig`): they can be
//! set per broker (resource "0") or as cluster-wide defaults (resource ""), are persisted in
//! the store and change every topic that has no override of its own at once. Everything else
//! comes from `runnel.toml` and is read-only (Kafka answers an update of a read-only config
//! with INVALID_REQUEST "Cannot update these configs dynamically").

use std::collections::BTreeMap;

use super::config_def::{check_value, invalid_value, ConfigSource, ConfigType, Resolved, Synonym};
use super::topic_config::{self, BrokerLayers, TOPIC_CONFIGS};
use crate::config::Config;

/// A read-only broker setting: Kafka's name, our value, Kafka's default (None when Kafka
/// has none or derives it: then the value is always a static setting), type, doc.
struct StaticSetting {
    name: &'static str,
    value: String,
    kafka_default: Option<&'static str>,
    kind: ConfigType,
    doc: &'static str,
}

/// `PLAINTEXT://host:port`, with IPv6 hosts in brackets.
fn plaintext_url(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("PLAINTEXT://[{host}]:{port}")
    } else {
        format!("PLAINTEXT://{host}:{port}")
    }
}

#[rustfmt::skip]
fn static_settings(config: &Config) -> Vec<StaticSetting> {
    let log = &config.log;
    let group = &config.group;
    let (adv_host, adv_port) = config.advertised();
    let listeners = match crate::config::split_host_port(&config.listen) {
        Some((h, p)) => plaintext_url(&h, p),
        None => format!("PLAINTEXT://{}", config.listen),
    };
    let s = |name, value: String, kafka_default, kind, doc| StaticSetting { name, value, kafka_default, kind, doc };
    use ConfigType::*;
    vec![
        s("advertised.listeners", plaintext_url(&adv_host, adv_port), None, Str,
            "the endpoint clients are told to connect to (advertised_listener)"),
        s("auto.create.topics.enable", log.auto_create_topics.to_string(), Some("true"), Boolean,
            "create unknown topics on Metadata/Produce (log.auto_create_topics)"),
        s("broker.id", config.node_id.to_string(), None, Int,
            "this broker's id, equal to node.id (node_id)"),
        s("connections.max.idle.ms", config.network.idle_timeout_ms.to_string(), Some("600000"), Long,
            "idle connections are closed after this (network.idle_timeout_ms)"),
        s("default.replication.factor", "1".to_string(), Some("1"), Int,
            "replication factor of new topics; single node"),
        s("group.initial.rebalance.delay.ms", group.initial_rebalance_delay_ms.to_string(), Some("3000"), Int,
            "delay before the first rebalance of an empty group (group.initial_rebalance_delay_ms)"),
        s("group.max.session.timeout.ms", group.max_session_timeout_ms.to_string(), Some("1800000"), Int,
            "largest session timeout a member may ask for (group.max_session_timeout_ms)"),
        s("group.max.size", group.max_size.to_string(), Some("2147483647"), Int,
            "most members one group may have (group.max_size)"),
        s("group.min.session.timeout.ms", group.min_session_timeout_ms.to_string(), Some("6000"), Int,
            "smallest session timeout a member may ask for (group.min_session_timeout_ms)"),
        s("listeners", listeners, Some("PLAINTEXT://:9092"), Str,
            "the address the Kafka listener binds (listen)"),
        s("log.dirs", config.data_dir.display().to_string(), None, Str,
            "directory for partition logs and the metadata store (data_dir)"),
        s("log.retention.check.interval.ms", log.retention_check_interval_ms.to_string(), Some("300000"), Long,
            "how often retention is enforced (log.retention_check_interval_ms)"),
        s("max.connections", config.network.max_connections.to_string(), Some("2147483647"), Int,
            "maximum concurrent client connections (network.max_connections)"),
        s("node.id", config.node_id.to_string(), None, Int,
            "this broker's node id (node_id)"),
        s("num.partitions", log.num_partitions.to_string(), Some("1"), Int,
            "partitions of auto-created topics and of CreateTopics with -1 (log.num_partitions)"),
        s("offsets.retention.minutes", group.offsets_retention_minutes.to_string(), Some("10080"), Int,
            "committed offsets of an empty group expire after this (group.offsets_retention_minutes)"),
        s("socket.request.max.bytes", config.network.max_request_bytes.to_string(), Some("104857600"), Int,
            "largest request frame accepted (network.max_request_bytes)"),
    ]
}

/// Every broker config with its effective value and layers, in name order: the dynamic
/// topic-default synonyms first resolved through `layers`, then the read-only settings.
pub fn broker_entries(config: &Config, layers: &BrokerLayers) -> Vec<Resolved> {
    let mut out: Vec<Resolved> = TOPIC_CONFIGS
        .iter()
        .filter_map(|d| {
            let b = d.broker_name?;
            let doc = format!("default {} of topics; dynamic", d.name);
            let synonyms = layers.broker_synonyms(b, d.kafka_default);
            Some(Resolved::from_layers(
                b,
                d.kind,
                false,
                doc,
                synonyms,
                d.kafka_default,
            ))
        })
        .collect();
    for s in static_settings(config) {
        let mut synonyms = Vec::with_capacity(2);
        if s.kafka_default != Some(s.value.as_str()) {
            synonyms.push(Synonym {
                name: s.name,
                value: s.value.clone(),
                source: ConfigSource::StaticBroker,
            });
        }
        if let Some(d) = s.kafka_default {
            synonyms.push(Synonym {
                name: s.name,
                value: d.to_string(),
                source: ConfigSource::Default,
            });
        }
        out.push(Resolved::from_layers(
            s.name,
            s.kind,
            true,
            s.doc.to_string(),
            synonyms,
            &s.value,
        ));
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The entries set at the cluster-default level (what Kafka describes for resource "").
pub fn cluster_default_entries(layers: &BrokerLayers) -> Vec<Resolved> {
    layers
        .cluster
        .iter()
        .filter_map(|(name, value)| {
            let d = topic_config::def_by_broker_name(name)?;
            let b = d.broker_name?;
            let syn = vec![Synonym {
                name: b,
                value: value.clone(),
                source: ConfigSource::DynamicDefaultBroker,
            }];
            Some(Resolved::from_layers(
                b,
                d.kind,
                false,
                format!("default {} of topics; dynamic", d.name),
                syn,
                value,
            ))
        })
        .collect()
}

/// Whether `name` is a broker config Runnel knows (dynamic or not).
fn known_static(config: &Config, name: &str) -> bool {
    static_settings(config).iter().any(|s| s.name == name)
}

/// Checks a set of dynamic broker settings (one level: per-broker or cluster default).
/// Errors are INVALID_REQUEST in Kafka, worded like Kafka's.
pub fn validate_dynamic(config: &Config, values: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in values {
        match topic_config::def_by_broker_name(name) {
            Some(d) => check_value(d.kind, d.check, value)
                .and_then(|()| topic_config::runnel_restriction(d.name, value))
                .map_err(|e| invalid_value(name, value, &e))?,
            None if known_static(config, name) => {
                return Err(format!(
                    "Cannot update these configs dynamically: Set({name})"
                ))
            }
            None => return Err(format!("Unknown broker config name: {name}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn find<'a>(v: &'a [Resolved], name: &str) -> &'a Resolved {
        v.iter().find(|d| d.name == name).unwrap()
    }

    #[test]
    fn broker_entries_have_sources() {
        let config = Config {
            node_id: 3,
            ..Config::default()
        };
        let mut layers = BrokerLayers::from_static(config.log.clone());
        let c = broker_entries(&config, &layers);
        assert!(c.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(find(&c, "node.id").value, "3");
        assert_eq!(find(&c, "node.id").source, ConfigSource::StaticBroker);
        assert!(find(&c, "node.id").read_only);
        assert_eq!(find(&c, "num.partitions").source, ConfigSource::Default);
        assert_eq!(find(&c, "log.flush.interval.ms").value, "1000");
        assert_eq!(
            find(&c, "log.flush.interval.ms").source,
            ConfigSource::Default
        );
        assert!(!find(&c, "log.retention.ms").read_only);
        assert_eq!(
            find(&c, "advertised.listeners").value,
            "PLAINTEXT://localhost:9092"
        );
        layers
            .cluster
            .insert("log.retention.ms".into(), "5000".into());
        layers
            .per_broker
            .insert("log.segment.bytes".into(), "2097152".into());
        let c = broker_entries(&config, &layers);
        assert_eq!(
            find(&c, "log.retention.ms").source,
            ConfigSource::DynamicDefaultBroker
        );
        assert_eq!(
            find(&c, "log.segment.bytes").source,
            ConfigSource::DynamicBroker
        );
        assert_eq!(find(&c, "log.segment.bytes").value, "2097152");
        let d = cluster_default_entries(&layers);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].name, "log.retention.ms");
        assert_eq!(d[0].source, ConfigSource::DynamicDefaultBroker);
    }

    #[test]
    fn dynamic_validation() {
        let config = Config::default();
        let one = |k: &str, v: &str| [(k.to_string(), v.to_string())].into_iter().collect();
        validate_dynamic(&config, &one("log.retention.ms", "1000")).unwrap();
        validate_dynamic(&config, &one("log.cleaner.delete.retention.ms", "1000")).unwrap();
        assert!(validate_dynamic(&config, &one("log.retention.ms", "x")).is_err());
        assert!(validate_dynamic(&config, &one("log.dirs", "/x"))
            .unwrap_err()
            .contains("Cannot update these configs dynamically"));
        assert!(validate_dynamic(&config, &one("no.such.config", "1")).is_err());
        validate_dynamic(&config, &one("compression.type", "gzip")).unwrap();
        assert!(validate_dynamic(&config, &one("compression.type", "brotli")).is_err());
    }
}
