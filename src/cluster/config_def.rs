//! The vocabulary shared by every config resource (topic, broker, group): value types,
//! validators, sources and the resolved view that DescribeConfigs puts on the wire.
//!
//! Parsing follows Kafka's `ConfigDef`: values are trimmed; booleans are `true`/`false` in any
//! case; lists are comma-separated with blanks around commas ignored and "" the empty list.
//! Error messages use Kafka's wording ("Invalid value X for configuration Y: ...") so a
//! client prints what it would print against Kafka.

/// Value type of a config (Kafka's `ConfigDef.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    Str,
    Int,
    Long,
    Double,
    List,
    Password,
    Class,
}

impl ConfigType {
    /// DescribeConfigs v3+ `config_type` (Kafka's `ConfigEntry.ConfigType` ids).
    pub fn kafka_id(self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::Str => 2,
            ConfigType::Int => 3,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }
}

/// Where a value comes from (Kafka's `DescribeConfigsResponse.ConfigSource`), highest
/// precedence first for the broker layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigSource {
    /// A topic's own override (`DYNAMIC_TOPIC_CONFIG`).
    Topic,
    /// A dynamic setting for this broker (`kafka-configs --entity-name 0`).
    DynamicBroker,
    /// A dynamic cluster-wide default (`kafka-configs --entity-default`).
    DynamicDefaultBroker,
    /// `runnel.toml` / environment / flags, where it differs from the built-in default.
    StaticBroker,
    /// The built-in default.
    Default,
    /// A log level set at runtime (BROKER_LOGGER).
    DynamicBrokerLogger,
    /// A group's own override.
    Group,
}

impl ConfigSource {
    /// The wire id.
    pub fn kafka_id(self) -> i8 {
        match self {
            ConfigSource::Topic => 1,
            ConfigSource::DynamicBroker => 2,
            ConfigSource::DynamicDefaultBroker => 3,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
            ConfigSource::DynamicBrokerLogger => 6,
            ConfigSource::Group => 8,
        }
    }
}

/// A value validator (Kafka's `ConfigDef.Validator`s that topic, broker and group configs use).
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// Any value of the type.
    Any,
    /// A number at least this.
    AtLeast(i64),
    /// A number in `[min, max]`.
    Between(i64, i64),
    /// `compression.gzip.level`: -1 (the codec's default) or 1..=9.
    GzipLevel,
    /// A double in `[0, 1]`.
    Ratio,
    /// One of these strings (case-sensitive, like `ValidString.in`).
    OneOf(&'static [&'static str]),
    /// A list whose every element is one of these, without duplicates.
    ListOf(&'static [&'static str]),
    /// `*` or `partition:broker` pairs (replication throttling).
    ThrottledReplicas,
}

/// Splits a LIST value as Kafka does: "" is the empty list, blanks around commas are ignored.
pub fn split_list(raw: &str) -> Vec<&str> {
    let t = raw.trim();
    if t.is_empty() {
        Vec::new()
    } else {
        t.split(',').map(str::trim).collect()
    }
}

/// Checks that `raw` parses as `kind` and satisfies `check`. The error is Kafka's reason
/// (without the "Invalid value" prefix, see [`invalid_value`]).
pub fn check_value(kind: ConfigType, check: Check, raw: &str) -> Result<(), String> {
    let v = raw.trim();
    let number: Option<f64> = match kind {
        ConfigType::Int => Some(
            v.parse::<i32>()
                .map_err(|_| "Not a number of type INT".to_string())? as f64,
        ),
        ConfigType::Long => {
            let n = v
                .parse::<i64>()
                .map_err(|_| "Not a number of type LONG".to_string())?;
            // Range checks below compare in i128 to stay exact for i64 extremes.
            return check_long(check, n);
        }
        ConfigType::Double => Some(
            v.parse::<f64>()
                .ok()
                .filter(|f| f.is_finite())
                .ok_or_else(|| "Not a number of type DOUBLE".to_string())?,
        ),
        ConfigType::Boolean => {
            if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("false") {
                None
            } else {
                return Err("Expected value to be either true or false".into());
            }
        }
        ConfigType::Str | ConfigType::Password | ConfigType::Class | ConfigType::List => None,
    };
    match (check, number) {
        (Check::Any, _) => Ok(()),
        (Check::AtLeast(min), Some(n)) if n < min as f64 => {
            Err(format!("Value must be at least {min}"))
        }
        (Check::Between(min, max), Some(n)) if n < min as f64 || n > max as f64 => Err(format!(
            "Value must be no less than {min} and no more than {max}"
        )),
        (Check::GzipLevel, Some(n)) if n != -1.0 && !(1.0..=9.0).contains(&n) => {
            Err("Value must be -1 or between 1 and 9".into())
        }
        (Check::Ratio, Some(n)) if !(0.0..=1.0).contains(&n) => {
            Err("Value must be no less than 0 and no more than 1".into())
        }
        (Check::OneOf(allowed), _) if !allowed.contains(&v) => {
            Err(format!("String must be one of: {}", allowed.join(", ")))
        }
        (Check::ListOf(allowed), _) => {
            let items = split_list(v);
            if let Some(bad) = items.iter().find(|i| !allowed.contains(i)) {
                return Err(format!(
                    "Invalid value {bad}: the list may only contain {}",
                    allowed.join(", ")
                ));
            }
            let mut seen: Vec<&str> = Vec::with_capacity(items.len());
            for i in items {
                if seen.contains(&i) {
                    return Err(format!("Values must not be duplicated: {i}"));
                }
                seen.push(i);
            }
            Ok(())
        }
        (Check::ThrottledReplicas, _) => {
            let items = split_list(v);
            if items == ["*"] {
                return Ok(());
            }
            let pair = |s: &str| {
                s.split_once(':').is_some_and(|(p, b)| {
                    p.trim().parse::<i32>().is_ok() && b.trim().parse::<i32>().is_ok()
                })
            };
            if items.iter().all(|i| pair(i)) {
                Ok(())
            } else {
                Err("must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],...".into())
            }
        }
        _ => Ok(()),
    }
}

fn check_long(check: Check, n: i64) -> Result<(), String> {
    match check {
        Check::AtLeast(min) if n < min => Err(format!("Value must be at least {min}")),
        Check::Between(min, max) if n < min || n > max => Err(format!(
            "Value must be no less than {min} and no more than {max}"
        )),
        _ => Ok(()),
    }
}

/// Kafka's message for a value that fails validation.
pub fn invalid_value(name: &str, value: &str, reason: &str) -> String {
    format!("Invalid value {value} for configuration {name}: {reason}")
}

/// One layer holding a value for a config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Synonym {
    pub name: &'static str,
    pub value: String,
    pub source: ConfigSource,
}

/// A config with its effective value, ready to describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub name: String,
    pub value: String,
    pub source: ConfigSource,
    pub read_only: bool,
    pub kind: ConfigType,
    pub doc: String,
    /// Every layer holding a value, highest precedence first; `source` is the first's.
    pub synonyms: Vec<Synonym>,
}

impl Resolved {
    /// Builds an entry whose value and source are those of the first layer (or `fallback`
    /// with DEFAULT_CONFIG when no layer holds a value).
    pub fn from_layers(
        name: &str,
        kind: ConfigType,
        read_only: bool,
        doc: String,
        synonyms: Vec<Synonym>,
        fallback: &str,
    ) -> Resolved {
        let (value, source) = synonyms
            .first()
            .map_or((fallback.to_string(), ConfigSource::Default), |s| {
                (s.value.clone(), s.source)
            });
        Resolved {
            name: name.to_string(),
            value,
            source,
            read_only,
            kind,
            doc,
            synonyms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_and_ranges() {
        use ConfigType::*;
        assert!(check_value(Long, Check::AtLeast(-1), " -1 ").is_ok());
        assert!(check_value(Long, Check::AtLeast(-1), "-2")
            .unwrap_err()
            .contains("at least -1"));
        assert!(check_value(Long, Check::Any, "9223372036854775807").is_ok());
        assert!(check_value(Long, Check::Any, "9223372036854775808").is_err());
        assert!(check_value(Int, Check::Any, "2147483648")
            .unwrap_err()
            .contains("INT"));
        assert!(check_value(Int, Check::Between(1, 17), "18").is_err());
        assert!(check_value(Int, Check::GzipLevel, "-1").is_ok());
        assert!(check_value(Int, Check::GzipLevel, "0").is_err());
        assert!(check_value(Double, Check::Ratio, "0.5").is_ok());
        assert!(check_value(Double, Check::Ratio, "1.5").is_err());
        assert!(check_value(Double, Check::Ratio, "NaN").is_err());
        assert!(check_value(Boolean, Check::Any, "TRUE").is_ok());
        assert!(check_value(Boolean, Check::Any, "yes").is_err());
        let ts = Check::OneOf(&["CreateTime", "LogAppendTime"]);
        assert!(check_value(Str, ts, "LogAppendTime").is_ok());
        assert!(check_value(Str, ts, "logappendtime").is_err());
    }

    #[test]
    fn lists() {
        let p = Check::ListOf(&["compact", "delete"]);
        assert!(check_value(ConfigType::List, p, "compact, delete").is_ok());
        assert!(check_value(ConfigType::List, p, "").is_ok());
        assert!(check_value(ConfigType::List, p, "compact,compact").is_err());
        assert!(check_value(ConfigType::List, p, "compacted").is_err());
        let t = Check::ThrottledReplicas;
        assert!(check_value(ConfigType::List, t, "*").is_ok());
        assert!(check_value(ConfigType::List, t, "0:1, 1:2").is_ok());
        assert!(check_value(ConfigType::List, t, "0-1").is_err());
        assert_eq!(split_list(" a , b "), vec!["a", "b"]);
        assert!(split_list("  ").is_empty());
    }
}
