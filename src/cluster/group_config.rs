//! Group-level configuration (the GROUP config resource, Kafka's `GroupConfig`): the per-group
//! overrides of the KIP-848 consumer, share and streams group protocols.
//!
//! Validated with Kafka's rules (including the broker's `group.share.{min,max}.*` bounds at
//! their Kafka defaults), stored and described (a group without overrides reports Kafka's
//! defaults), so `kafka-configs --entity-type groups` works as against Kafka. The `share.*`
//! settings are enforced by the share-partition manager (`share::manager::GroupSettings`);
//! the `consumer.*` and `streams.*` ones only where those protocols exist.

use std::collections::BTreeMap;

use super::config_def::{
    check_value, invalid_value, Check, ConfigSource, ConfigType, Resolved, Synonym,
};

/// One group config: name, type, Kafka default, broker synonym, validator.
pub struct GroupConfigDef {
    pub name: &'static str,
    pub kind: ConfigType,
    pub kafka_default: &'static str,
    pub broker_name: &'static str,
    pub check: Check,
}

macro_rules! g {
    ($name:expr, $kind:ident, $default:expr, $broker:expr, $check:expr) => {
        GroupConfigDef {
            name: $name,
            kind: ConfigType::$kind,
            kafka_default: $default,
            broker_name: $broker,
            check: $check,
        }
    };
}

/// Kafka 4.3's group configs, in name order.
#[rustfmt::skip]
pub static GROUP_CONFIGS: &[GroupConfigDef] = &[
    g!("consumer.heartbeat.interval.ms", Int, "5000", "group.consumer.heartbeat.interval.ms", Check::AtLeast(1)),
    g!("consumer.session.timeout.ms", Int, "45000", "group.consumer.session.timeout.ms", Check::AtLeast(1)),
    g!("share.auto.offset.reset", Str, "latest", "share.auto.offset.reset", Check::Any),
    g!("share.delivery.count.limit", Int, "5", "group.share.delivery.count.limit", Check::AtLeast(2)),
    g!("share.heartbeat.interval.ms", Int, "5000", "group.share.heartbeat.interval.ms", Check::AtLeast(1)),
    g!("share.isolation.level", Str, "read_uncommitted", "share.isolation.level", Check::OneOf(&["read_committed", "read_uncommitted"])),
    g!("share.partition.max.record.locks", Int, "2000", "group.share.partition.max.record.locks", Check::AtLeast(100)),
    g!("share.record.lock.duration.ms", Int, "30000", "group.share.record.lock.duration.ms", Check::AtLeast(1000)),
    g!("share.session.timeout.ms", Int, "45000", "group.share.session.timeout.ms", Check::AtLeast(1)),
    g!("streams.heartbeat.interval.ms", Int, "5000", "group.streams.heartbeat.interval.ms", Check::AtLeast(1)),
    g!("streams.initial.rebalance.delay.ms", Int, "3000", "group.streams.initial.rebalance.delay.ms", Check::AtLeast(0)),
    g!("streams.num.standby.replicas", Int, "0", "group.streams.num.standby.replicas", Check::AtLeast(0)),
    g!("streams.session.timeout.ms", Int, "45000", "group.streams.session.timeout.ms", Check::AtLeast(1)),
];

fn def(name: &str) -> Option<&'static GroupConfigDef> {
    GROUP_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks a group's overrides; errors are INVALID_CONFIG with Kafka's wording.
pub fn validate(overrides: &BTreeMap<String, String>) -> Result<(), String> {
    for (k, v) in overrides {
        let d = def(k).ok_or_else(|| format!("Unknown group config name: {k}"))?;
        check_value(d.kind, d.check, v).map_err(|e| invalid_value(k, v, &e))?;
        if d.name == "share.auto.offset.reset" {
            let v = v.trim();
            let ok = v == "earliest" || v == "latest" || v.starts_with("by_duration:");
            if !ok {
                return Err(invalid_value(
                    k,
                    v,
                    "String must be one of: earliest, latest, by_duration:<duration>",
                ));
            }
        }
    }
    // The broker's bounds (Kafka's `ShareGroupConfig` defaults for group.share.min/max.*).
    for (k, min, max) in [
        ("share.record.lock.duration.ms", 15_000i64, 60_000i64),
        ("share.delivery.count.limit", 2, 10),
        ("share.partition.max.record.locks", 100, 10_000),
        ("share.session.timeout.ms", 45_000, 60_000),
        ("share.heartbeat.interval.ms", 5_000, 15_000),
    ] {
        if let Some(v) = overrides.get(k) {
            let n = v.trim().parse::<i64>().unwrap_or(0);
            if n < min || n > max {
                return Err(invalid_value(
                    k,
                    v,
                    &format!("{k} must be between {min} and {max}"),
                ));
            }
        }
    }
    // Kafka's cross-field rules.
    let int = |k: &str| {
        overrides
            .get(k)
            .and_then(|v| v.trim().parse::<i64>().ok())
            .or_else(|| def(k).and_then(|d| d.kafka_default.parse().ok()))
            .unwrap_or(0)
    };
    for kind in ["consumer", "share", "streams"] {
        let session = format!("{kind}.session.timeout.ms");
        let heartbeat = format!("{kind}.heartbeat.interval.ms");
        if int(&session) <= int(&heartbeat) {
            return Err(format!("{session} must be greater than {heartbeat}"));
        }
    }
    Ok(())
}

/// Every group config with its effective value for a group with these overrides.
pub fn entries(overrides: &BTreeMap<String, String>) -> Vec<Resolved> {
    GROUP_CONFIGS
        .iter()
        .map(|d| {
            let mut synonyms = Vec::with_capacity(2);
            if let Some(v) = overrides.get(d.name) {
                synonyms.push(Synonym {
                    name: d.name,
                    value: v.clone(),
                    source: ConfigSource::Group,
                });
            }
            synonyms.push(Synonym {
                name: d.broker_name,
                value: d.kafka_default.to_string(),
                source: ConfigSource::Default,
            });
            let doc = if d.name.starts_with("share.") {
                d.name.to_string()
            } else {
                format!("{} (not enforced by this broker)", d.name)
            };
            Resolved::from_layers(d.name, d.kind, false, doc, synonyms, d.kafka_default)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_configs_validate_and_describe() {
        let m = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        validate(&m(&[("consumer.session.timeout.ms", "60000")])).unwrap();
        assert!(validate(&m(&[("consumer.session.timeout.ms", "1000")])).is_err());
        assert!(validate(&m(&[("nope", "1")]))
            .unwrap_err()
            .contains("Unknown group config"));
        assert!(validate(&m(&[("share.auto.offset.reset", "sometimes")])).is_err());
        validate(&m(&[("share.auto.offset.reset", "by_duration:PT1H")])).unwrap();
        let e = entries(&m(&[("consumer.session.timeout.ms", "60000")]));
        assert_eq!(e.len(), GROUP_CONFIGS.len());
        let s = e
            .iter()
            .find(|r| r.name == "consumer.session.timeout.ms")
            .unwrap();
        assert_eq!((s.value.as_str(), s.source), ("60000", ConfigSource::Group));
        let h = e
            .iter()
            .find(|r| r.name == "consumer.heartbeat.interval.ms")
            .unwrap();
        assert_eq!(
            (h.value.as_str(), h.source),
            ("5000", ConfigSource::Default)
        );
    }
}
