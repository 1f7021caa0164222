//! DescribeConfigs (key 32, v1–4): the effective configuration of topics and of this broker.
//!
//! Resource types: TOPIC (2) lists every topic config the broker honours
//! ([`topic_config::TOPIC_CONFIGS`]) with its effective value; BROKER (4) lists a fixed set of
//! broker settings under Kafka's names with our values. Everything else (BROKER_LOGGER 8,
//! CLIENT_METRICS 16, GROUP 32, unknown ids) is answered per resource with INVALID_REQUEST.
//!
//! Sources and synonyms model Kafka's layering, highest precedence first: a topic override
//! (TOPIC_CONFIG 1), the broker's setting when it differs from Kafka's built-in default
//! (STATIC_BROKER_CONFIG 4), Kafka's built-in default (DEFAULT_CONFIG 5). A value's source is
//! its first layer. Nothing here is dynamic, so broker entries are read-only; topic entries
//! are not (Kafka reports them as alterable, and they are set at creation).
//!
//! As in Kafka (`ConfigHelper`): `configuration_keys` null or empty means all keys and unknown
//! keys are silently left out; a broker resource named "" describes the cluster-wide dynamic
//! defaults (none here: an empty list); a broker resource naming another node is
//! INVALID_REQUEST. CreateTopics v5+ reuses [`topic_entries`] for its `configs`.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{codes, RequestContext};
use crate::broker::Broker;
use crate::cluster::controller::validate_topic_name;
use crate::cluster::topic_config;
use crate::config::{Config, LogDefaults};

/// ConfigResource.Type ids.
const RESOURCE_TOPIC: i8 = 2;
const RESOURCE_BROKER: i8 = 4;
const RESOURCE_BROKER_LOGGER: i8 = 8;

/// DescribeConfigsResponse.ConfigSource ids.
pub(super) mod source {
    pub const TOPIC_CONFIG: i8 = 1;
    pub const STATIC_BROKER_CONFIG: i8 = 4;
    pub const DEFAULT_CONFIG: i8 = 5;
}

/// DescribeConfigsResponse.ConfigType ids (v3+).
mod kind {
    pub const BOOLEAN: i8 = 1;
    pub const STRING: i8 = 2;
    pub const INT: i8 = 3;
    pub const LONG: i8 = 5;
    pub const LIST: i8 = 7;
}

/// One layer a config value is taken from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Synonym {
    pub name: &'static str,
    pub value: String,
    pub source: i8,
}

/// One described config entry, independent of the wire types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Described {
    pub name: &'static str,
    pub value: String,
    pub source: i8,
    pub read_only: bool,
    pub config_type: i8,
    pub doc: &'static str,
    /// Every layer holding a value, highest precedence first; `source` is the first's.
    pub synonyms: Vec<Synonym>,
}

/// Kafka's built-in default for a topic config (Kafka 4.x `LogConfig`/`ServerLogConfigs`).
fn kafka_topic_default(name: &str) -> Option<&'static str> {
    Some(match name {
        "cleanup.policy" => "delete",
        "compression.type" => "producer",
        "flush.messages" => "9223372036854775807",
        "flush.ms" => "9223372036854775807",
        "index.interval.bytes" => "4096",
        "max.message.bytes" => "1048588",
        "message.timestamp.type" => "CreateTime",
        "min.insync.replicas" => "1",
        "retention.bytes" => "-1",
        "retention.ms" => "604800000",
        "segment.bytes" => "1073741824",
        "segment.ms" => "604800000",
        _ => return None,
    })
}

/// Builds the layers for a value: an optional override, our broker value (only when it
/// differs from Kafka's default, as Kafka lists a static setting only when one was made),
/// and Kafka's default.
fn layers(
    override_layer: Option<Synonym>,
    broker_name: &'static str,
    broker_value: String,
    kafka_default: Option<&'static str>,
) -> Vec<Synonym> {
    let mut out = Vec::with_capacity(3);
    out.extend(override_layer);
    if kafka_default != Some(broker_value.as_str()) {
        out.push(Synonym {
            name: broker_name,
            value: broker_value,
            source: source::STATIC_BROKER_CONFIG,
        });
    }
    if let Some(d) = kafka_default {
        out.push(Synonym {
            name: broker_name,
            value: d.to_string(),
            source: source::DEFAULT_CONFIG,
        });
    }
    out
}

/// Every topic config with its effective value, source and synonyms, in name order.
pub(super) fn topic_entries(
    defaults: &LogDefaults,
    overrides: &BTreeMap<String, String>,
) -> Vec<Described> {
    let mut out: Vec<Described> = topic_config::effective(defaults, overrides)
        .into_iter()
        .map(|e| {
            let d = e.def;
            let override_layer = e.is_override.then(|| Synonym {
                name: d.name,
                value: e.value.clone(),
                source: source::TOPIC_CONFIG,
            });
            let synonyms = layers(
                override_layer,
                d.broker_name,
                (d.default)(defaults),
                kafka_topic_default(d.name),
            );
            Described {
                name: d.name,
                value: e.value,
                source: synonyms
                    .first()
                    .map_or(source::DEFAULT_CONFIG, |s| s.source),
                read_only: false,
                config_type: if d.name == "cleanup.policy" {
                    kind::LIST
                } else {
                    d.kind.kafka_id()
                },
                doc: d.doc,
                synonyms,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(b.name));
    out
}

/// `PLAINTEXT://host:port`, with IPv6 hosts in brackets.
fn plaintext_url(host: &str, port: i32) -> String {
    if host.contains(':') {
        format!("PLAINTEXT://[{host}]:{port}")
    } else {
        format!("PLAINTEXT://{host}:{port}")
    }
}

/// One broker setting: Kafka's name, our value, Kafka's built-in default (None when Kafka has
/// none or derives it), config type, documentation.
type BrokerSetting = (&'static str, String, Option<&'static str>, i8, &'static str);

#[rustfmt::skip]
fn broker_table(config: &Config) -> Vec<BrokerSetting> {
    let log = &config.log;
    let group = &config.group;
    let (adv_host, adv_port) = config.advertised();
    let listeners = match crate::config::split_host_port(&config.listen) {
        Some((h, p)) => plaintext_url(&h, p),
        None => format!("PLAINTEXT://{}", config.listen),
    };
    vec![
        ("advertised.listeners", plaintext_url(&adv_host, adv_port), None, kind::STRING,
            "the endpoint clients are told to connect to (advertised_listener)"),
        ("auto.create.topics.enable", log.auto_create_topics.to_string(), Some("true"), kind::BOOLEAN,
            "create unknown topics on Metadata/Produce (log.auto_create_topics)"),
        ("broker.id", config.node_id.to_string(), None, kind::INT,
            "this broker's id, equal to node.id (node_id)"),
        ("compression.type", "producer".to_string(), Some("producer"), kind::STRING,
            "batches are stored as the producer compressed them"),
        ("connections.max.idle.ms", config.network.idle_timeout_ms.to_string(), Some("600000"), kind::LONG,
            "idle connections are closed after this (network.idle_timeout_ms)"),
        ("default.replication.factor", "1".to_string(), Some("1"), kind::INT,
            "replication factor of new topics; single node"),
        ("group.initial.rebalance.delay.ms", group.initial_rebalance_delay_ms.to_string(), Some("3000"), kind::INT,
            "delay before the first rebalance of an empty group (group.initial_rebalance_delay_ms)"),
        ("group.max.session.timeout.ms", group.max_session_timeout_ms.to_string(), Some("1800000"), kind::INT,
            "largest session timeout a member may ask for (group.max_session_timeout_ms)"),
        ("group.max.size", group.max_size.to_string(), Some("2147483647"), kind::INT,
            "most members one group may have (group.max_size)"),
        ("group.min.session.timeout.ms", group.min_session_timeout_ms.to_string(), Some("6000"), kind::INT,
            "smallest session timeout a member may ask for (group.min_session_timeout_ms)"),
        ("listeners", listeners, Some("PLAINTEXT://:9092"), kind::STRING,
            "the address the Kafka listener binds (listen)"),
        ("log.cleanup.policy", log.cleanup_policy.clone(), Some("delete"), kind::LIST,
            "default cleanup.policy of topics (log.cleanup_policy)"),
        ("log.dirs", config.data_dir.display().to_string(), None, kind::STRING,
            "directory for partition logs and the metadata store (data_dir)"),
        ("log.flush.interval.messages", log.flush_messages.to_string(), Some("9223372036854775807"), kind::LONG,
            "fsync after this many messages (log.flush_messages)"),
        ("log.flush.interval.ms", log.flush_ms.to_string(), None, kind::LONG,
            "fsync at least this often (log.flush_ms)"),
        ("log.index.interval.bytes", log.index_interval_bytes.to_string(), Some("4096"), kind::INT,
            "bytes between offset index entries (log.index_interval_bytes)"),
        ("log.message.timestamp.type", log.message_timestamp_type.clone(), Some("CreateTime"), kind::STRING,
            "CreateTime or LogAppendTime (log.message_timestamp_type)"),
        ("log.retention.bytes", log.retention_bytes.to_string(), Some("-1"), kind::LONG,
            "default retention.bytes of topics (log.retention_bytes)"),
        ("log.retention.check.interval.ms", log.retention_check_interval_ms.to_string(), Some("300000"), kind::LONG,
            "how often retention is enforced (log.retention_check_interval_ms)"),
        ("log.retention.ms", log.retention_ms.to_string(), None, kind::LONG,
            "default retention.ms of topics (log.retention_ms)"),
        ("log.roll.ms", log.segment_ms.to_string(), None, kind::LONG,
            "default segment.ms of topics (log.segment_ms)"),
        ("log.segment.bytes", log.segment_bytes.to_string(), Some("1073741824"), kind::INT,
            "default segment.bytes of topics (log.segment_bytes)"),
        ("max.connections", config.network.max_connections.to_string(), Some("2147483647"), kind::INT,
            "maximum concurrent client connections (network.max_connections)"),
        ("message.max.bytes", log.max_message_bytes.to_string(), Some("1048588"), kind::INT,
            "largest record batch accepted (log.max_message_bytes)"),
        ("min.insync.replicas", "1".to_string(), Some("1"), kind::INT,
            "replicas that must acknowledge acks=all writes; single node"),
        ("node.id", config.node_id.to_string(), None, kind::INT,
            "this broker's node id (node_id)"),
        ("num.partitions", log.num_partitions.to_string(), Some("1"), kind::INT,
            "partitions of auto-created topics and of CreateTopics with -1 (log.num_partitions)"),
        ("offsets.retention.minutes", group.offsets_retention_minutes.to_string(), Some("10080"), kind::INT,
            "committed offsets of an empty group expire after this (group.offsets_retention_minutes)"),
        ("socket.request.max.bytes", config.network.max_request_bytes.to_string(), Some("104857600"), kind::INT,
            "largest request frame accepted (network.max_request_bytes)"),
    ]
}

/// The broker settings we describe, under Kafka's names, in name order.
pub(super) fn broker_entries(config: &Config) -> Vec<Described> {
    let table = broker_table(config);
    let mut out: Vec<Described> = table
        .into_iter()
        .map(|(name, value, kafka_default, config_type, doc)| {
            let synonyms = layers(None, name, value.clone(), kafka_default);
            Described {
                name,
                value,
                source: synonyms
                    .first()
                    .map_or(source::DEFAULT_CONFIG, |s| s.source),
                read_only: true,
                config_type,
                doc,
                synonyms,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(b.name));
    out
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
    Configs(Vec<Described>),
    Error(i16, Option<String>),
}

/// The broker resource: "" = cluster-wide dynamic defaults (none), our id = our settings.
fn describe_broker(config: &Config, resource_name: &str) -> Outcome {
    if resource_name.is_empty() {
        return Outcome::Configs(Vec::new());
    }
    match resource_name.parse::<i32>() {
        Ok(id) if id == config.node_id => Outcome::Configs(broker_entries(config)),
        Ok(_) => Outcome::Error(
            codes::INVALID_REQUEST,
            Some(format!(
                "Unexpected broker id, expected {} or empty string, but received {resource_name}",
                config.node_id
            )),
        ),
        Err(_) => Outcome::Error(
            codes::INVALID_REQUEST,
            Some(format!(
                "Broker id must be an integer, but it is: {resource_name}"
            )),
        ),
    }
}

fn describe_topic(broker: &Broker, name: &str) -> Outcome {
    if let Err(e) = validate_topic_name(name) {
        return Outcome::Error(e.kafka_code(), Some(e.to_string()));
    }
    match broker.metadata.topic(name) {
        Some(t) => Outcome::Configs(topic_entries(broker.controller.defaults(), &t.configs)),
        // Kafka sets no message here.
        None => Outcome::Error(codes::UNKNOWN_TOPIC_OR_PARTITION, None),
    }
}

fn to_wire(
    d: Described,
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
                    .with_source(s.source)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_static_str(d.name))
        .with_value(Some(StrBytes::from_string(d.value)))
        .with_read_only(d.read_only)
        .with_config_source(d.source)
        .with_is_sensitive(false)
        .with_synonyms(synonyms)
        .with_config_type(d.config_type)
        .with_documentation(include_docs.then(|| StrBytes::from_static_str(d.doc)))
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
        .map(|r| describe_resource(broker, r, include_synonyms, include_docs))
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
        RESOURCE_TOPIC => describe_topic(broker, name),
        RESOURCE_BROKER => describe_broker(&broker.config, name),
        RESOURCE_BROKER_LOGGER => Outcome::Error(
            codes::INVALID_REQUEST,
            Some("Resource type BROKER_LOGGER is not supported: log levels are not dynamic on this broker".into()),
        ),
        other => Outcome::Error(
            codes::INVALID_REQUEST,
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
                .filter(|d| wanted(keys, d.name))
                .map(|d| to_wire(d, include_synonyms, include_docs))
                .collect();
            base.with_error_code(codes::NONE)
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

    fn find<'a>(v: &'a [Described], name: &str) -> &'a Described {
        v.iter().find(|d| d.name == name).unwrap()
    }

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
    fn topic_sources_and_synonyms() {
        let mut overrides = BTreeMap::new();
        overrides.insert("retention.ms".to_string(), "1234".to_string());
        let defaults = LogDefaults::default();
        let e = topic_entries(&defaults, &overrides);
        assert_eq!(e.len(), topic_config::TOPIC_CONFIGS.len());
        assert!(e.windows(2).all(|w| w[0].name < w[1].name));

        let r = find(&e, "retention.ms");
        assert_eq!(r.value, "1234");
        assert_eq!(r.source, source::TOPIC_CONFIG);
        let names: Vec<_> = r.synonyms.iter().map(|s| (s.name, s.source)).collect();
        assert_eq!(
            names,
            vec![("retention.ms", 1), ("log.retention.ms", 5)],
            "our default equals Kafka's, so no static layer"
        );

        // Our flush.ms default (1000) differs from Kafka's: a static broker setting.
        let f = find(&e, "flush.ms");
        assert_eq!(f.value, "1000");
        assert_eq!(f.source, source::STATIC_BROKER_CONFIG);
        assert_eq!(f.synonyms[0].name, "log.flush.interval.ms");
        assert_eq!(f.synonyms.len(), 2);

        let s = find(&e, "segment.bytes");
        assert_eq!(s.source, source::DEFAULT_CONFIG);
        assert_eq!(s.value, "1073741824");
        assert!(!s.read_only);
        assert_eq!(find(&e, "cleanup.policy").config_type, kind::LIST);
    }

    #[test]
    fn broker_resource_names() {
        let config = Config {
            node_id: 3,
            ..Config::default()
        };
        assert_eq!(describe_broker(&config, ""), Outcome::Configs(Vec::new()));
        match describe_broker(&config, "3") {
            Outcome::Configs(c) => {
                assert!(c.iter().all(|d| d.read_only));
                assert_eq!(find(&c, "node.id").value, "3");
                assert_eq!(find(&c, "node.id").source, source::STATIC_BROKER_CONFIG);
                assert_eq!(find(&c, "num.partitions").source, source::DEFAULT_CONFIG);
                assert_eq!(
                    find(&c, "advertised.listeners").value,
                    "PLAINTEXT://localhost:9092"
                );
                assert_eq!(find(&c, "listeners").value, "PLAINTEXT://0.0.0.0:9092");
                assert!(c.windows(2).all(|w| w[0].name < w[1].name));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            describe_broker(&config, "4"),
            Outcome::Error(codes::INVALID_REQUEST, Some(m)) if m.contains("expected 3")
        ));
        assert!(matches!(
            describe_broker(&config, "x"),
            Outcome::Error(codes::INVALID_REQUEST, Some(m)) if m.contains("integer")
        ));
    }

    #[test]
    fn wire_entry_respects_flags() {
        let e = topic_entries(&LogDefaults::default(), &BTreeMap::new());
        let d = find(&e, "flush.ms").clone();
        let w = to_wire(d.clone(), false, false);
        assert!(w.synonyms.is_empty());
        assert_eq!(w.documentation, None);
        let w = to_wire(d, true, true);
        assert_eq!(w.synonyms.len(), 2);
        assert!(w.documentation.is_some());
        assert_eq!(w.config_source, source::STATIC_BROKER_CONFIG);
    }
}
