//! Topic-level configuration: every topic config Kafka 4.3 defines (`LogConfig`), its type,
//! validator, Kafka default and broker synonym (`ServerTopicConfigSynonyms`), how an
//! effective value is resolved through the layers, and the translation into the log
//! engine's [`LogConfig`].
//!
//! Every name Kafka knows is accepted, stored and described; names Kafka does not know are
//! INVALID_CONFIG. Settings Runnel does not act on yet (compaction tuning, tiered storage,
//! replication throttling, preallocation, ...) are marked `enforced: false`, and their
//! DescribeConfigs documentation says so. Values Runnel cannot honour at all are refused
//! with a message saying why (`remote.storage.enable=true`: no tiered storage, as Kafka
//! answers when it is disabled).
//!
//! Layers, highest precedence first (Kafka's order): the topic's own override
//! (DYNAMIC_TOPIC_CONFIG), a dynamic setting of the broker synonym for this broker
//! (DYNAMIC_BROKER_CONFIG), a dynamic cluster default (DYNAMIC_DEFAULT_BROKER_CONFIG), the
//! static `runnel.toml` value where it differs from Runnel's built-in default
//! (STATIC_BROKER_CONFIG), and the built-in default (DEFAULT_CONFIG). Runnel's built-in
//! defaults are Kafka's except `flush.ms` (1000): they are still DEFAULT_CONFIG, so
//! `kafka-topics --describe` lists no override a user did not make.

use std::collections::BTreeMap;

use super::config_def::{
    check_value, invalid_value, Check, ConfigSource, ConfigType, Resolved, Synonym,
};
use crate::config::LogDefaults;
use crate::log::{CleanupPolicy, LogConfig, TimestampType, TopicCompression};

/// One topic config.
#[derive(Debug)]
pub struct TopicConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// Kafka's built-in default.
    pub kafka_default: &'static str,
    /// The broker config that supplies the default (Kafka's first synonym), if any.
    pub broker_name: Option<&'static str>,
    /// Whether Runnel acts on the value (false: stored and described only).
    pub enforced: bool,
    pub doc: &'static str,
    pub check: Check,
}

const LONG_MAX: &str = "9223372036854775807";
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];

macro_rules! def {
    ($name:expr, $kind:ident, $default:expr, $broker:expr, $enforced:expr, $check:expr, $doc:expr) => {
        TopicConfigDef {
            name: $name,
            kind: ConfigType::$kind,
            kafka_default: $default,
            broker_name: $broker,
            enforced: $enforced,
            doc: $doc,
            check: $check,
        }
    };
}

/// Every topic config of Kafka 4.3, in name order.
#[rustfmt::skip]
pub static TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def!("cleanup.policy", List, "delete", Some("log.cleanup.policy"), true,
        Check::ListOf(&["compact", "delete"]),
        "delete: retention by time and size; compact: keys are required and the log cleaner keeps the latest record per key; compact,delete: both; empty: keep everything"),
    def!("compression.gzip.level", Int, "-1", Some("compression.gzip.level"), true, Check::GzipLevel,
        "gzip level used when the broker recompresses to gzip (-1: the codec's default)"),
    def!("compression.lz4.level", Int, "9", Some("compression.lz4.level"), true, Check::Between(1, 17),
        "lz4 level used when the broker recompresses to lz4"),
    def!("compression.type", Str, "producer", Some("compression.type"), true, Check::OneOf(COMPRESSION_TYPES),
        "producer keeps batches as the producer compressed them; uncompressed, gzip, snappy, lz4 or zstd make the broker recompress batches in another codec"),
    def!("compression.zstd.level", Int, "3", Some("compression.zstd.level"), true, Check::Between(-131_072, 22),
        "zstd level used when the broker recompresses to zstd"),
    def!("delete.retention.ms", Long, "86400000", Some("log.cleaner.delete.retention.ms"), true, Check::AtLeast(0),
        "how long the log cleaner keeps a tombstone after the segment holding it was first cleaned"),
    def!("file.delete.delay.ms", Long, "60000", Some("log.segment.delete.delay.ms"), false, Check::AtLeast(0),
        "delay before a deleted segment's files are removed (not enforced: Runnel removes them at once)"),
    def!("flush.messages", Long, LONG_MAX, Some("log.flush.interval.messages"), true, Check::AtLeast(1),
        "fsync after this many messages; 1 = fsync before every acknowledgement"),
    def!("flush.ms", Long, LONG_MAX, Some("log.flush.interval.ms"), true, Check::AtLeast(0),
        "fsync at least this often (Runnel's default is 1000)"),
    def!("follower.replication.throttled.replicas", List, "", None, false, Check::ThrottledReplicas,
        "replicas throttled on the follower side (not enforced: single replica)"),
    def!("index.interval.bytes", Int, "4096", Some("log.index.interval.bytes"), true, Check::AtLeast(0),
        "bytes of batches between two offset index entries"),
    def!("leader.replication.throttled.replicas", List, "", None, false, Check::ThrottledReplicas,
        "replicas throttled on the leader side (not enforced: single replica)"),
    def!("local.retention.bytes", Long, "-2", Some("log.local.retention.bytes"), false, Check::AtLeast(-2),
        "local retention with tiered storage (not enforced: no tiered storage)"),
    def!("local.retention.ms", Long, "-2", Some("log.local.retention.ms"), false, Check::AtLeast(-2),
        "local retention with tiered storage (not enforced: no tiered storage)"),
    def!("max.compaction.lag.ms", Long, LONG_MAX, Some("log.cleaner.max.compaction.lag.ms"), true, Check::AtLeast(1),
        "a partition whose oldest dirty record is older than this is compacted whatever its dirty ratio"),
    def!("max.message.bytes", Int, "1048588", Some("message.max.bytes"), true, Check::AtLeast(0),
        "largest record batch accepted"),
    def!("message.timestamp.after.max.ms", Long, "3600000", Some("log.message.timestamp.after.max.ms"), true, Check::AtLeast(0),
        "with CreateTime, reject batches whose timestamp is further than this in the future"),
    def!("message.timestamp.before.max.ms", Long, LONG_MAX, Some("log.message.timestamp.before.max.ms"), true, Check::AtLeast(0),
        "with CreateTime, reject batches whose timestamp is further than this in the past"),
    def!("message.timestamp.type", Str, "CreateTime", Some("log.message.timestamp.type"), true,
        Check::OneOf(&["CreateTime", "LogAppendTime"]),
        "CreateTime keeps the producer's timestamps; LogAppendTime stamps batches with the broker's clock"),
    def!("min.cleanable.dirty.ratio", Double, "0.5", Some("log.cleaner.min.cleanable.ratio"), true, Check::Ratio,
        "dirty bytes / cleanable bytes at which the log cleaner compacts a partition"),
    def!("min.compaction.lag.ms", Long, "0", Some("log.cleaner.min.compaction.lag.ms"), true, Check::AtLeast(0),
        "a segment whose newest record is younger than this is not compacted yet"),
    def!("min.insync.replicas", Int, "1", Some("min.insync.replicas"), true, Check::AtLeast(1),
        "in-sync replicas (the leader included) an acks=all write needs"),
    def!("preallocate", Boolean, "false", Some("log.preallocate"), false, Check::Any,
        "preallocate segment files (not enforced)"),
    def!("remote.log.copy.disable", Boolean, "false", None, false, Check::Any,
        "stop copying to tiered storage (not enforced: no tiered storage)"),
    def!("remote.log.delete.on.disable", Boolean, "false", None, false, Check::Any,
        "delete tiered data when tiering is turned off (not enforced: no tiered storage)"),
    def!("remote.storage.enable", Boolean, "false", None, false, Check::Any,
        "tiered storage (not enforced: tiered storage is disabled on this broker, so only false is accepted)"),
    def!("retention.bytes", Long, "-1", Some("log.retention.bytes"), true, Check::Any,
        "delete the oldest segments while a partition is larger; -1 = no limit"),
    def!("retention.ms", Long, "604800000", Some("log.retention.ms"), true, Check::AtLeast(-1),
        "delete segments whose newest record is older than this; -1 = forever"),
    def!("segment.bytes", Int, "1073741824", Some("log.segment.bytes"), true, Check::AtLeast(1_048_576),
        "roll a new segment at this size"),
    def!("segment.index.bytes", Int, "10485760", Some("log.index.size.max.bytes"), true, Check::AtLeast(4),
        "roll a new segment when its offset index reaches this size"),
    def!("segment.jitter.ms", Long, "0", Some("log.roll.jitter.ms"), false, Check::AtLeast(0),
        "random jitter subtracted from segment.ms (not enforced)"),
    def!("segment.ms", Long, "604800000", Some("log.roll.ms"), true, Check::AtLeast(1),
        "roll a new segment after this age"),
    def!("unclean.leader.election.enable", Boolean, "false", Some("unclean.leader.election.enable"), true, Check::Any,
        "when no in-sync replica is alive, elect an out-of-sync one as leader (losing what it lacks)"),
];

/// The definition of a topic config name.
pub fn def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// The topic config whose broker synonym is `broker_name`.
pub fn def_by_broker_name(broker_name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS
        .iter()
        .find(|d| d.broker_name == Some(broker_name))
}

/// Values Kafka accepts but this broker cannot honour; the error says why.
pub fn runnel_restriction(name: &str, value: &str) -> Result<(), String> {
    let v = value.trim();
    match name {
        "remote.storage.enable" if v.eq_ignore_ascii_case("true") => Err(
            "Tiered Storage functionality is disabled in the broker. Topic cannot be configured with remote log storage.".into(),
        ),
        _ => Ok(()),
    }
}

/// Checks one value of a known config (type, Kafka's validator, Runnel's restrictions).
pub fn validate_value(d: &TopicConfigDef, value: &str) -> Result<(), String> {
    check_value(d.kind, d.check, value)
        .and_then(|()| runnel_restriction(d.name, value))
        .map_err(|e| invalid_value(d.name, value, &e))
}

/// Checks a whole set of topic overrides; the error names the offending key (INVALID_CONFIG).
pub fn validate(overrides: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in overrides {
        match def(k) {
            None => return Err(format!("Unknown topic config name: {k}")),
            Some(d) => validate_value(d, v)?,
        }
    }
    // Kafka's cross-field rule (LogConfig.validateValues).
    let lag = |k: &str, d: i64| {
        overrides
            .get(k)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .unwrap_or(d)
    };
    let (min, max) = (
        lag("min.compaction.lag.ms", 0),
        lag("max.compaction.lag.ms", i64::MAX),
    );
    if min > max {
        return Err(format!(
            "conflict topic config setting min.compaction.lag.ms ({min}) > max.compaction.lag.ms ({max})"
        ));
    }
    Ok(())
}

/// The broker-level layers under a topic's own overrides.
#[derive(Debug, Clone, Default)]
pub struct BrokerLayers {
    /// `runnel.toml` (with environment and flags applied).
    pub static_defaults: LogDefaults,
    /// Dynamic settings for this broker (Kafka broker-config names).
    pub per_broker: BTreeMap<String, String>,
    /// Dynamic cluster-wide defaults (Kafka broker-config names).
    pub cluster: BTreeMap<String, String>,
}

/// The static value of a broker config that `runnel.toml` can set, by Kafka name.
pub fn static_value(d: &LogDefaults, broker_name: &str) -> Option<String> {
    Some(match broker_name {
        "log.segment.bytes" => d.segment_bytes.to_string(),
        "log.roll.ms" => d.segment_ms.to_string(),
        "log.retention.ms" => d.retention_ms.to_string(),
        "log.retention.bytes" => d.retention_bytes.to_string(),
        "log.flush.interval.messages" => d.flush_messages.to_string(),
        "log.flush.interval.ms" => d.flush_ms.to_string(),
        "message.max.bytes" => d.max_message_bytes.to_string(),
        "log.message.timestamp.type" => d.message_timestamp_type.clone(),
        "log.cleanup.policy" => d.cleanup_policy.clone(),
        "log.index.interval.bytes" => d.index_interval_bytes.to_string(),
        "min.insync.replicas" => d.min_insync_replicas.to_string(),
        _ => return None,
    })
}

impl BrokerLayers {
    /// Layers with no dynamic settings.
    pub fn from_static(static_defaults: LogDefaults) -> BrokerLayers {
        BrokerLayers {
            static_defaults,
            ..BrokerLayers::default()
        }
    }

    /// The broker-level layers of a broker config, highest precedence first: dynamic
    /// per-broker, dynamic cluster default, static (if it differs from the built-in
    /// default) and the built-in default (Runnel's, else `kafka_default`).
    pub fn broker_synonyms(&self, broker_name: &'static str, kafka_default: &str) -> Vec<Synonym> {
        let mut out = Vec::with_capacity(4);
        let layer = |value: &String, source| Synonym {
            name: broker_name,
            value: value.clone(),
            source,
        };
        if let Some(v) = self.per_broker.get(broker_name) {
            out.push(layer(v, ConfigSource::DynamicBroker));
        }
        if let Some(v) = self.cluster.get(broker_name) {
            out.push(layer(v, ConfigSource::DynamicDefaultBroker));
        }
        let builtin = static_value(&LogDefaults::default(), broker_name)
            .unwrap_or_else(|| kafka_default.to_string());
        if let Some(v) = static_value(&self.static_defaults, broker_name) {
            if v != builtin {
                out.push(layer(&v, ConfigSource::StaticBroker));
            }
        }
        out.push(layer(&builtin, ConfigSource::Default));
        out
    }
}

/// A topic config's effective value with every layer (for DescribeConfigs and the console).
pub fn resolve(
    d: &'static TopicConfigDef,
    layers: &BrokerLayers,
    overrides: &BTreeMap<String, String>,
) -> Resolved {
    let mut synonyms = Vec::new();
    if let Some(v) = overrides.get(d.name) {
        synonyms.push(Synonym {
            name: d.name,
            value: v.clone(),
            source: ConfigSource::Topic,
        });
    }
    if let Some(b) = d.broker_name {
        synonyms.extend(layers.broker_synonyms(b, d.kafka_default));
    }
    let doc = if d.enforced || d.doc.contains("not enforced") || d.doc.contains("not applicable") {
        d.doc.to_string()
    } else {
        format!("{} (not enforced by Runnel yet)", d.doc)
    };
    Resolved::from_layers(d.name, d.kind, false, doc, synonyms, d.kafka_default)
}

/// Every topic config with its effective value, in name order.
pub fn effective(layers: &BrokerLayers, overrides: &BTreeMap<String, String>) -> Vec<Resolved> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| resolve(d, layers, overrides))
        .collect()
}

/// The effective value of one topic config (no synonyms kept).
fn value_of(name: &str, layers: &BrokerLayers, overrides: &BTreeMap<String, String>) -> String {
    if let Some(v) = overrides.get(name) {
        return v.trim().to_string();
    }
    match def(name) {
        Some(d) => match d.broker_name {
            Some(b) => layers
                .broker_synonyms(b, d.kafka_default)
                .first()
                .map_or_else(
                    || d.kafka_default.to_string(),
                    |s| s.value.trim().to_string(),
                ),
            None => d.kafka_default.to_string(),
        },
        None => String::new(),
    }
}

/// The log engine settings of a topic: every layer applied. Values were validated on the
/// way in, so a parse failure (impossible short of a corrupt store) keeps Kafka's default.
pub fn log_config(layers: &BrokerLayers, overrides: &BTreeMap<String, String>) -> LogConfig {
    let get = |name: &str| value_of(name, layers, overrides);
    let long = |name: &str| {
        get(name).parse::<i64>().unwrap_or_else(|_| {
            def(name)
                .and_then(|d| d.kafka_default.parse().ok())
                .unwrap_or(0)
        })
    };
    let policy = get("cleanup.policy");
    let policies: Vec<&str> = super::config_def::split_list(&policy);
    let compact = policies.contains(&"compact");
    // Kafka applies time and size retention only with the `delete` policy: a compact-only
    // topic (Connect's config and offset topics, changelogs) is bounded by compaction alone.
    let retains = policies.contains(&"delete");
    LogConfig {
        segment_bytes: long("segment.bytes").clamp(14, i64::from(i32::MAX)) as u64,
        segment_ms: long("segment.ms").max(1),
        retention_ms: if retains { long("retention.ms") } else { -1 },
        retention_bytes: if retains { long("retention.bytes") } else { -1 },
        flush_messages: long("flush.messages").max(1),
        flush_ms: long("flush.ms").max(0),
        max_message_bytes: long("max.message.bytes").clamp(0, i64::from(i32::MAX)) as usize,
        index_interval_bytes: long("index.interval.bytes").clamp(1, i64::from(i32::MAX)) as u64,
        segment_index_bytes: long("segment.index.bytes").clamp(8, i64::from(i32::MAX)) as u64,
        message_timestamp_type: if get("message.timestamp.type") == "LogAppendTime" {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        message_timestamp_before_max_ms: long("message.timestamp.before.max.ms").max(0),
        message_timestamp_after_max_ms: long("message.timestamp.after.max.ms").max(0),
        cleanup_policy: match (compact, retains) {
            (true, true) => CleanupPolicy::CompactDelete,
            (true, false) => CleanupPolicy::Compact,
            _ => CleanupPolicy::Delete,
        },
        delete_retention_ms: long("delete.retention.ms").max(0),
        min_cleanable_dirty_ratio_ppm: get("min.cleanable.dirty.ratio")
            .parse::<f64>()
            .map_or(500_000, |r| (r.clamp(0.0, 1.0) * 1e6) as u32),
        min_compaction_lag_ms: long("min.compaction.lag.ms").max(0),
        max_compaction_lag_ms: long("max.compaction.lag.ms").max(1),
        compression: match get("compression.type").as_str() {
            "uncompressed" => TopicCompression::Uncompressed,
            "gzip" => TopicCompression::Gzip(long("compression.gzip.level") as i32),
            "snappy" => TopicCompression::Snappy,
            "lz4" => TopicCompression::Lz4(long("compression.lz4.level") as i32),
            "zstd" => TopicCompression::Zstd(long("compression.zstd.level") as i32),
            _ => TopicCompression::Producer,
        },
        min_insync_replicas: long("min.insync.replicas").clamp(1, i64::from(i32::MAX)) as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn table_is_sorted_and_defaults_validate() {
        assert!(TOPIC_CONFIGS.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(TOPIC_CONFIGS.len(), 33);
        for d in TOPIC_CONFIGS {
            check_value(d.kind, d.check, d.kafka_default)
                .unwrap_or_else(|e| panic!("{}: {e}", d.name));
        }
    }

    #[test]
    fn unknown_and_invalid_configs_name_the_key() {
        assert!(validate(&map(&[("retention.mss", "1")]))
            .unwrap_err()
            .contains("Unknown topic config name: retention.mss"));
        // Removed in Kafka 4.0: unknown there too.
        assert!(validate(&map(&[("message.format.version", "3.0")])).is_err());
        let e = validate(&map(&[("retention.ms", "soon")])).unwrap_err();
        assert!(e.contains("retention.ms") && e.contains("soon"), "{e}");
        assert!(validate(&map(&[("segment.bytes", "1000")]))
            .unwrap_err()
            .contains("at least 1048576"));
        validate(&map(&[("cleanup.policy", "compact,delete")])).unwrap();
        validate(&map(&[("cleanup.policy", "")])).unwrap();
        assert!(validate(&map(&[
            ("min.compaction.lag.ms", "10"),
            ("max.compaction.lag.ms", "5")
        ]))
        .is_err());
        validate(&map(&[
            ("compression.type", "gzip"),
            ("compression.gzip.level", "9"),
        ]))
        .unwrap();
        assert!(validate(&map(&[("compression.gzip.level", "10")])).is_err());
        assert!(validate(&map(&[("compression.type", "brotli")]))
            .unwrap_err()
            .contains("one of"));
        assert!(validate(&map(&[("remote.storage.enable", "true")])).is_err());
        // Kafka accepts it above the replication factor; acks=all writes then get
        // NOT_ENOUGH_REPLICAS.
        assert!(validate(&map(&[("min.insync.replicas", "2")])).is_ok());
    }

    #[test]
    fn every_documented_config_is_accepted() {
        let all = map(&[
            ("cleanup.policy", "delete"),
            ("compression.gzip.level", "5"),
            ("compression.lz4.level", "10"),
            ("compression.type", "producer"),
            ("compression.zstd.level", "7"),
            ("delete.retention.ms", "1000"),
            ("file.delete.delay.ms", "1000"),
            ("flush.messages", "100"),
            ("flush.ms", "500"),
            ("follower.replication.throttled.replicas", "0:0"),
            ("index.interval.bytes", "8192"),
            ("leader.replication.throttled.replicas", "*"),
            ("local.retention.bytes", "-2"),
            ("local.retention.ms", "-2"),
            ("max.compaction.lag.ms", "100000"),
            ("max.message.bytes", "2000000"),
            ("message.timestamp.after.max.ms", "1000"),
            ("message.timestamp.before.max.ms", "2000"),
            ("message.timestamp.type", "LogAppendTime"),
            ("min.cleanable.dirty.ratio", "0.3"),
            ("min.compaction.lag.ms", "10"),
            ("min.insync.replicas", "1"),
            ("preallocate", "true"),
            ("remote.log.copy.disable", "false"),
            ("remote.log.delete.on.disable", "false"),
            ("remote.storage.enable", "false"),
            ("retention.bytes", "123456789"),
            ("retention.ms", "3600000"),
            ("segment.bytes", "2097152"),
            ("segment.index.bytes", "4096"),
            ("segment.jitter.ms", "10"),
            ("segment.ms", "60000"),
            ("unclean.leader.election.enable", "false"),
        ]);
        assert_eq!(all.len(), TOPIC_CONFIGS.len());
        validate(&all).unwrap();
        let c = log_config(&BrokerLayers::default(), &all);
        assert_eq!(c.flush_ms, 500);
        assert_eq!(c.segment_bytes, 2_097_152);
        assert_eq!(c.segment_index_bytes, 4096);
        assert_eq!(c.message_timestamp_type, TimestampType::LogAppendTime);
        assert_eq!(c.message_timestamp_after_max_ms, 1000);
        assert_eq!(c.max_message_bytes, 2_000_000);
        assert_eq!(c.compression, TopicCompression::Producer);
        let z = log_config(
            &BrokerLayers::default(),
            &map(&[
                ("compression.type", "zstd"),
                ("compression.zstd.level", "7"),
            ]),
        );
        assert_eq!(z.compression, TopicCompression::Zstd(7));
        let g = log_config(
            &BrokerLayers::default(),
            &map(&[("compression.type", "gzip")]),
        );
        assert_eq!(g.compression, TopicCompression::Gzip(-1));
    }

    #[test]
    fn overrides_reach_the_log_config() {
        let mut m = map(&[("retention.ms", "1234"), ("cleanup.policy", "compact")]);
        let l = BrokerLayers::default();
        let c = log_config(&l, &m);
        // compact alone: no time/size retention (Kafka's rule).
        assert_eq!(c.retention_ms, -1);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Compact);
        m.insert("cleanup.policy".into(), "compact,delete".into());
        let c = log_config(&l, &m);
        assert_eq!(c.retention_ms, 1234);
        assert_eq!(c.cleanup_policy, CleanupPolicy::CompactDelete);
        m.remove("cleanup.policy");
        let c = log_config(&l, &m);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Delete);
        assert_eq!(c.segment_bytes, 1 << 30);
        assert_eq!(c.flush_ms, 1000, "Runnel's built-in flush.ms");
        assert_eq!(c.message_timestamp_after_max_ms, 3_600_000);
    }

    #[test]
    fn sources_follow_the_layers() {
        let src = |l: &BrokerLayers, o: &BTreeMap<String, String>, n: &str| {
            let r = resolve(def(n).unwrap(), l, o);
            (r.value, r.source)
        };
        let none = BTreeMap::new();
        let mut l = BrokerLayers::default();
        // Runnel's own default differs from Kafka's, still DEFAULT_CONFIG.
        assert_eq!(
            src(&l, &none, "flush.ms"),
            ("1000".into(), ConfigSource::Default)
        );
        assert_eq!(
            src(&l, &none, "retention.ms"),
            ("604800000".into(), ConfigSource::Default)
        );
        // A config without broker synonym has no layers at all.
        let r = resolve(
            def("leader.replication.throttled.replicas").unwrap(),
            &l,
            &none,
        );
        assert!(r.synonyms.is_empty() && r.source == ConfigSource::Default && r.value.is_empty());
        assert!(r.doc.contains("not enforced"));
        let r = resolve(def("preallocate").unwrap(), &l, &none);
        assert_eq!(
            (r.value.as_str(), r.source),
            ("false", ConfigSource::Default)
        );
        assert_eq!(r.synonyms[0].name, "log.preallocate");
        l.static_defaults.retention_ms = 1000;
        assert_eq!(
            src(&l, &none, "retention.ms"),
            ("1000".into(), ConfigSource::StaticBroker)
        );
        l.cluster.insert("log.retention.ms".into(), "2000".into());
        assert_eq!(
            src(&l, &none, "retention.ms"),
            ("2000".into(), ConfigSource::DynamicDefaultBroker)
        );
        l.per_broker
            .insert("log.retention.ms".into(), "3000".into());
        assert_eq!(
            src(&l, &none, "retention.ms"),
            ("3000".into(), ConfigSource::DynamicBroker)
        );
        let o = map(&[("retention.ms", "4000")]);
        assert_eq!(
            src(&l, &o, "retention.ms"),
            ("4000".into(), ConfigSource::Topic)
        );
        let r = resolve(def("retention.ms").unwrap(), &l, &o);
        let layers: Vec<_> = r.synonyms.iter().map(|s| (s.name, s.source)).collect();
        assert_eq!(
            layers,
            vec![
                ("retention.ms", ConfigSource::Topic),
                ("log.retention.ms", ConfigSource::DynamicBroker),
                ("log.retention.ms", ConfigSource::DynamicDefaultBroker),
                ("log.retention.ms", ConfigSource::StaticBroker),
                ("log.retention.ms", ConfigSource::Default),
            ]
        );
        // The log config sees the cluster default when nothing closer is set.
        l.per_broker.clear();
        assert_eq!(log_config(&l, &none).retention_ms, 2000);
        assert_eq!(log_config(&l, &o).retention_ms, 4000);
    }
}
