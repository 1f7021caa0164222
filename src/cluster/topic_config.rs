//! Topic-level configuration: the Kafka config names a topic accepts, their broker-wide
//! defaults, validation, and the translation into the log engine's [`LogConfig`].
//!
//! Only settings the broker honours are accepted; anything else is rejected with
//! INVALID_CONFIG naming the key, so a user never believes a setting took effect when it
//! did not.

use std::collections::BTreeMap;

use crate::config::LogDefaults;
use crate::log::{CleanupPolicy, LogConfig};

/// Value type of a topic config, for validation and DescribeConfigs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Long,
    Int,
    Str,
    Boolean,
}

impl ConfigType {
    /// DescribeConfigs v3+ `config_type` (Kafka's ConfigEntry.ConfigType ids).
    pub fn kafka_id(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::Str => 2,
            ConfigType::Int => 3,
            ConfigType::Long => 5,
        }
    }
}

/// One supported topic config.
pub struct TopicConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    /// The broker config that supplies the default (Kafka's name), for DescribeConfigs.
    pub broker_name: &'static str,
    pub default: fn(&LogDefaults) -> String,
    pub doc: &'static str,
    validate: fn(&str) -> Result<(), String>,
}

fn long_min(min: i64) -> impl Fn(&str) -> Result<(), String> {
    move |v: &str| match v.trim().parse::<i64>() {
        Ok(n) if n >= min => Ok(()),
        Ok(_) => Err(format!("must be >= {min}")),
        Err(_) => Err("must be an integer".into()),
    }
}

fn v_retention(v: &str) -> Result<(), String> {
    long_min(-1)(v)
}
fn v_positive(v: &str) -> Result<(), String> {
    long_min(1)(v)
}
fn v_non_negative(v: &str) -> Result<(), String> {
    long_min(0)(v)
}
fn v_segment_bytes(v: &str) -> Result<(), String> {
    long_min(14)(v).and_then(|_| {
        if v.trim().parse::<i64>().unwrap_or(0) > i32::MAX as i64 {
            Err("must fit in an int32".into())
        } else {
            Ok(())
        }
    })
}
fn v_int_positive(v: &str) -> Result<(), String> {
    match v.trim().parse::<i32>() {
        Ok(n) if n >= 1 => Ok(()),
        _ => Err("must be an int32 >= 1".into()),
    }
}
fn v_timestamp_type(v: &str) -> Result<(), String> {
    match v {
        "CreateTime" | "LogAppendTime" => Ok(()),
        _ => Err("must be CreateTime or LogAppendTime".into()),
    }
}
fn v_cleanup_policy(v: &str) -> Result<(), String> {
    let ok = v
        .split(',')
        .map(str::trim)
        .all(|p| p == "delete" || p == "compact");
    if ok && !v.trim().is_empty() {
        Ok(())
    } else {
        Err("must be delete, compact or delete,compact".into())
    }
}
fn v_compression(v: &str) -> Result<(), String> {
    // Batches are stored exactly as producers compressed them; broker-side recompression
    // is not implemented, so only the pass-through value is accepted.
    match v {
        "producer" => Ok(()),
        _ => Err(
            "only 'producer' is supported (batches are stored as the producer compressed them)"
                .into(),
        ),
    }
}
fn v_min_isr(v: &str) -> Result<(), String> {
    match v.trim().parse::<i32>() {
        Ok(1) => Ok(()),
        Ok(n) if n > 1 => Err(format!(
            "{n} exceeds the replication factor 1 of this single-node broker"
        )),
        _ => Err("must be an int32 >= 1".into()),
    }
}

/// Every topic config the broker accepts.
pub static TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        kind: ConfigType::Str,
        broker_name: "log.cleanup.policy",
        default: |d| d.cleanup_policy.clone(),
        doc: "delete or compact; compact requires keys (compaction itself is not run yet)",
        validate: v_cleanup_policy,
    },
    TopicConfigDef {
        name: "compression.type",
        kind: ConfigType::Str,
        broker_name: "compression.type",
        default: |_| "producer".into(),
        doc: "batches are stored as the producer compressed them",
        validate: v_compression,
    },
    TopicConfigDef {
        name: "flush.messages",
        kind: ConfigType::Long,
        broker_name: "log.flush.interval.messages",
        default: |d| d.flush_messages.to_string(),
        doc: "fsync after this many messages",
        validate: v_positive,
    },
    TopicConfigDef {
        name: "flush.ms",
        kind: ConfigType::Long,
        broker_name: "log.flush.interval.ms",
        default: |d| d.flush_ms.to_string(),
        doc: "fsync at least this often",
        validate: v_non_negative,
    },
    TopicConfigDef {
        name: "index.interval.bytes",
        kind: ConfigType::Int,
        broker_name: "log.index.interval.bytes",
        default: |d| d.index_interval_bytes.to_string(),
        doc: "bytes between offset index entries",
        validate: v_int_positive,
    },
    TopicConfigDef {
        name: "max.message.bytes",
        kind: ConfigType::Int,
        broker_name: "message.max.bytes",
        default: |d| d.max_message_bytes.to_string(),
        doc: "largest record batch accepted",
        validate: v_int_positive,
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        kind: ConfigType::Str,
        broker_name: "log.message.timestamp.type",
        default: |d| d.message_timestamp_type.clone(),
        doc: "CreateTime or LogAppendTime",
        validate: v_timestamp_type,
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        kind: ConfigType::Int,
        broker_name: "min.insync.replicas",
        default: |_| "1".into(),
        doc: "replicas that must acknowledge acks=all writes",
        validate: v_min_isr,
    },
    TopicConfigDef {
        name: "retention.bytes",
        kind: ConfigType::Long,
        broker_name: "log.retention.bytes",
        default: |d| d.retention_bytes.to_string(),
        doc: "delete oldest segments while the partition is larger; -1 = no limit",
        validate: v_retention,
    },
    TopicConfigDef {
        name: "retention.ms",
        kind: ConfigType::Long,
        broker_name: "log.retention.ms",
        default: |d| d.retention_ms.to_string(),
        doc: "delete segments older than this; -1 = forever",
        validate: v_retention,
    },
    TopicConfigDef {
        name: "segment.bytes",
        kind: ConfigType::Int,
        broker_name: "log.segment.bytes",
        default: |d| d.segment_bytes.to_string(),
        doc: "roll a new segment at this size",
        validate: v_segment_bytes,
    },
    TopicConfigDef {
        name: "segment.ms",
        kind: ConfigType::Long,
        broker_name: "log.roll.ms",
        default: |d| d.segment_ms.to_string(),
        doc: "roll a new segment after this age",
        validate: v_positive,
    },
];

/// The definition of a topic config name.
pub fn def(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks a set of overrides; the error names the offending key.
pub fn validate(overrides: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in overrides {
        match def(k) {
            None => return Err(format!("Unknown topic config name: {k}")),
            Some(d) => (d.validate)(v).map_err(|e| format!("Invalid value {v} for {k}: {e}"))?,
        }
    }
    Ok(())
}

/// One effective config value and whether it is an override.
pub struct EffectiveConfig {
    pub def: &'static TopicConfigDef,
    pub value: String,
    pub is_override: bool,
}

/// Every supported config with its effective value for a topic.
pub fn effective(
    defaults: &LogDefaults,
    overrides: &BTreeMap<String, String>,
) -> Vec<EffectiveConfig> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| match overrides.get(d.name) {
            Some(v) => EffectiveConfig {
                def: d,
                value: v.clone(),
                is_override: true,
            },
            None => EffectiveConfig {
                def: d,
                value: (d.default)(defaults),
                is_override: false,
            },
        })
        .collect()
}

/// The log engine settings of a topic (broker defaults with the topic's overrides applied).
/// Overrides were validated on the way in, so a parse failure keeps the default.
pub fn log_config(defaults: &LogDefaults, overrides: &BTreeMap<String, String>) -> LogConfig {
    let get = |name: &str| overrides.get(name).map(|s| s.trim().to_string());
    let long = |name: &str, default: i64| {
        get(name)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(default)
    };
    let policy = get("cleanup.policy").unwrap_or_else(|| defaults.cleanup_policy.clone());
    let ts_type =
        get("message.timestamp.type").unwrap_or_else(|| defaults.message_timestamp_type.clone());
    let policies: Vec<&str> = policy.split(',').map(str::trim).collect();
    let compact = policies.contains(&"compact");
    // Kafka applies time and size retention only with the `delete` policy: a compact-only
    // topic (Connect's config and offset topics, changelogs) keeps every segment until
    // compaction — which is not implemented yet, so such a topic keeps everything.
    let retains = policies.contains(&"delete");
    LogConfig {
        segment_bytes: long("segment.bytes", defaults.segment_bytes as i64).max(14) as u64,
        segment_ms: long("segment.ms", defaults.segment_ms),
        retention_ms: if retains {
            long("retention.ms", defaults.retention_ms)
        } else {
            -1
        },
        retention_bytes: if retains {
            long("retention.bytes", defaults.retention_bytes)
        } else {
            -1
        },
        flush_messages: long("flush.messages", defaults.flush_messages),
        flush_ms: long("flush.ms", defaults.flush_ms),
        max_message_bytes: long("max.message.bytes", i64::from(defaults.max_message_bytes))
            .clamp(0, i64::from(i32::MAX)) as usize,
        index_interval_bytes: long(
            "index.interval.bytes",
            i64::from(defaults.index_interval_bytes),
        )
        .clamp(1, i64::from(i32::MAX)) as u64,
        message_timestamp_type: if ts_type == "LogAppendTime" {
            crate::log::TimestampType::LogAppendTime
        } else {
            crate::log::TimestampType::CreateTime
        },
        cleanup_policy: if compact {
            CleanupPolicy::Compact
        } else {
            CleanupPolicy::Delete
        },
        ..LogConfig::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_and_invalid_configs_name_the_key() {
        let mut m = BTreeMap::new();
        m.insert("retention.mss".to_string(), "1".to_string());
        assert!(validate(&m).unwrap_err().contains("retention.mss"));
        let mut m = BTreeMap::new();
        m.insert("retention.ms".to_string(), "soon".to_string());
        assert!(validate(&m).unwrap_err().contains("retention.ms"));
        let mut m = BTreeMap::new();
        m.insert("cleanup.policy".to_string(), "compact,delete".to_string());
        validate(&m).unwrap();
    }

    #[test]
    fn overrides_reach_the_log_config() {
        let mut m = BTreeMap::new();
        m.insert("retention.ms".to_string(), "1234".to_string());
        m.insert("cleanup.policy".to_string(), "compact".to_string());
        let c = log_config(&LogDefaults::default(), &m);
        // compact alone: no time/size retention (Kafka's rule).
        assert_eq!(c.retention_ms, -1);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Compact);
        m.insert("cleanup.policy".to_string(), "compact,delete".to_string());
        let c = log_config(&LogDefaults::default(), &m);
        assert_eq!(c.retention_ms, 1234);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Compact);
        m.remove("cleanup.policy");
        let c = log_config(&LogDefaults::default(), &m);
        assert_eq!(c.retention_ms, 1234);
        assert_eq!(c.cleanup_policy, CleanupPolicy::Delete);
        assert_eq!(c.segment_bytes, 1 << 30);
        let eff = effective(&LogDefaults::default(), &m);
        let r = eff.iter().find(|e| e.def.name == "retention.ms").unwrap();
        assert!(r.is_override);
        assert_eq!(r.value, "1234");
    }
}
