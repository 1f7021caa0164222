//! Changing configs at runtime: the workflow behind AlterConfigs and IncrementalAlterConfigs
//! (and any other front door), for topics, brokers (per broker and cluster-wide defaults) and
//! groups.
//!
//! One change runs under the controller's lock: read the current overrides, compute the new
//! set (replace, or Kafka's SET / DELETE / APPEND / SUBTRACT), validate the whole set, then —
//! unless `validate_only` — persist it (synced) and apply it: the in-memory view and the
//! `LogConfig` of every affected partition are swapped at once, and retention runs for them
//! right away, so a shorter `retention.ms` or a smaller `segment.bytes` acts without a
//! restart or waiting for the next retention tick. Broker-level changes reach every topic
//! that has no override of its own. Error kinds follow Kafka: a bad topic or group value is
//! INVALID_CONFIG, a bad broker value INVALID_REQUEST, a missing topic UNKNOWN_TOPIC_OR_PARTITION.

use std::collections::BTreeMap;

use super::config_def::{split_list, ConfigType};
use super::controller::{validate_topic_name, Controller, TopicError};
use super::image::Command;
use super::topic_config::{self, BrokerLayers};
use super::{broker_config, group_config};
use crate::config::Config;
use crate::store::ConfigScope;

/// A config resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigTarget {
    Topic(String),
    /// Resource name as sent: "" = cluster-wide default, else a node id.
    Broker(String),
    Group(String),
}

/// One IncrementalAlterConfigs operation on a config name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlterOp {
    Set(String),
    Delete,
    Append(String),
    Subtract(String),
}

/// The resolved broker level of a BROKER resource name.
enum BrokerLevel {
    Cluster,
    Node,
}

fn broker_level(node_id: i32, name: &str) -> Result<BrokerLevel, TopicError> {
    if name.is_empty() {
        return Ok(BrokerLevel::Cluster);
    }
    match name.parse::<i32>() {
        Ok(id) if id == node_id => Ok(BrokerLevel::Node),
        Ok(_) => Err(TopicError::InvalidRequest(format!(
            "Unexpected broker id, expected {node_id} or empty string, but received {name}"
        ))),
        Err(_) => Err(TopicError::InvalidRequest(format!(
            "Broker id must be an integer, but it is: {name}"
        ))),
    }
}

/// Kafka's type of a config name for a target (None: unknown name).
fn config_type(target: &ConfigTarget, name: &str) -> Option<ConfigType> {
    match target {
        ConfigTarget::Topic(_) => topic_config::def(name).map(|d| d.kind),
        ConfigTarget::Broker(_) => topic_config::def_by_broker_name(name).map(|d| d.kind),
        ConfigTarget::Group(_) => group_config::GROUP_CONFIGS
            .iter()
            .find(|d| d.name == name)
            .map(|d| d.kind),
    }
}

impl Controller {
    /// The broker-level layers topics resolve through (a snapshot).
    pub fn broker_layers(&self) -> BrokerLayers {
        self.layers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A group's config overrides (empty when it has none).
    pub fn group_overrides(&self, group: &str) -> BTreeMap<String, String> {
        if let Some(member) = self.remote.get() {
            // Cluster mode: the replicated metadata holds them (every broker the same).
            return member
                .image()
                .group_configs
                .get(group)
                .cloned()
                .unwrap_or_default();
        }
        self.group_configs
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(group)
            .cloned()
            .unwrap_or_default()
    }

    /// The current overrides of a resource.
    fn overrides_of(&self, target: &ConfigTarget) -> Result<BTreeMap<String, String>, TopicError> {
        match target {
            ConfigTarget::Topic(name) => {
                validate_topic_name(name)?;
                self.view
                    .topic(name)
                    .map(|t| t.configs.clone())
                    .ok_or_else(|| TopicError::Unknown(name.clone()))
            }
            ConfigTarget::Broker(name) => {
                let layers = self.broker_layers();
                Ok(match broker_level(self.node.node_id, name)? {
                    BrokerLevel::Cluster => layers.cluster,
                    BrokerLevel::Node => layers.per_broker,
                })
            }
            ConfigTarget::Group(name) => {
                if name.is_empty() {
                    return Err(TopicError::InvalidRequest(
                        "Group name must not be empty".into(),
                    ));
                }
                Ok(self.group_overrides(name))
            }
        }
    }

    /// Legacy AlterConfigs: the resource's overrides become exactly `new`.
    pub fn replace_configs(
        &self,
        config: &Config,
        target: &ConfigTarget,
        new: BTreeMap<String, String>,
        validate_only: bool,
        now_ms: i64,
    ) -> Result<(), TopicError> {
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.overrides_of(target)?;
        self.validate_and_apply(guard, config, target, new, validate_only, now_ms)
    }

    /// IncrementalAlterConfigs: applies `ops` (one per name) to the current overrides.
    pub fn alter_configs(
        &self,
        config: &Config,
        target: &ConfigTarget,
        ops: &[(String, AlterOp)],
        validate_only: bool,
        now_ms: i64,
    ) -> Result<(), TopicError> {
        let guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut new = self.overrides_of(target)?;
        for (name, op) in ops {
            match op {
                AlterOp::Set(v) => {
                    new.insert(name.clone(), v.clone());
                }
                AlterOp::Delete => {
                    new.remove(name);
                }
                AlterOp::Append(v) | AlterOp::Subtract(v) => {
                    let append = matches!(op, AlterOp::Append(_));
                    match config_type(target, name) {
                        Some(ConfigType::List) => {}
                        Some(_) => {
                            let verb = if append { "append" } else { "subtract" };
                            return Err(TopicError::InvalidConfig(format!(
                                "Config value {verb} is not allowed for config key: {name}"
                            )));
                        }
                        None => return Err(self.unknown_name(target, name)),
                    }
                    let current = new
                        .get(name)
                        .cloned()
                        .unwrap_or_else(|| self.effective_value(target, name));
                    let mut items: Vec<String> = split_list(&current)
                        .into_iter()
                        .map(str::to_string)
                        .collect();
                    for item in split_list(v) {
                        if append {
                            if !items.iter().any(|i| i == item) {
                                items.push(item.to_string());
                            }
                        } else {
                            items.retain(|i| i != item);
                        }
                    }
                    new.insert(name.clone(), items.join(","));
                }
            }
        }
        self.validate_and_apply(guard, config, target, new, validate_only, now_ms)
    }

    fn unknown_name(&self, target: &ConfigTarget, name: &str) -> TopicError {
        match target {
            ConfigTarget::Topic(_) => {
                TopicError::InvalidConfig(format!("Unknown topic config name: {name}"))
            }
            ConfigTarget::Broker(_) => {
                TopicError::InvalidRequest(format!("Unknown broker config name: {name}"))
            }
            ConfigTarget::Group(_) => {
                TopicError::InvalidConfig(format!("Unknown group config name: {name}"))
            }
        }
    }

    /// The value a config has now when the resource itself does not set it.
    fn effective_value(&self, target: &ConfigTarget, name: &str) -> String {
        let layers = self.broker_layers();
        let empty = BTreeMap::new();
        match target {
            ConfigTarget::Topic(_) => topic_config::def(name)
                .map(|d| topic_config::resolve(d, &layers, &empty).value)
                .unwrap_or_default(),
            ConfigTarget::Broker(_) => topic_config::def_by_broker_name(name)
                .and_then(|d| Some(layers.broker_synonyms(d.broker_name?, d.kafka_default)))
                .and_then(|s| s.last().map(|s| s.value.clone()))
                .unwrap_or_default(),
            ConfigTarget::Group(_) => String::new(),
        }
    }

    /// Validates the complete new set, then persists and applies it. `guard` is the
    /// caller's hold on the controller lock; a topic change in cluster mode releases it
    /// before forwarding (applying the resulting image takes the lock).
    fn validate_and_apply(
        &self,
        guard: std::sync::MutexGuard<'_, ()>,
        config: &Config,
        target: &ConfigTarget,
        new: BTreeMap<String, String>,
        validate_only: bool,
        now_ms: i64,
    ) -> Result<(), TopicError> {
        match target {
            ConfigTarget::Topic(name) => {
                topic_config::validate(&new).map_err(TopicError::InvalidConfig)?;
                if let Some(member) = self.remote.get() {
                    drop(guard);
                    let cmd = Command::SetTopicConfigs {
                        name: name.clone(),
                        configs: new.clone(),
                    };
                    self.forward(member, cmd, validate_only, |c, t| {
                        c.view
                            .topic(&t.name)
                            .is_some_and(|v| v.configs == t.configs)
                    })?;
                    return Ok(());
                }
                if validate_only {
                    return Ok(());
                }
                let mut topic = (*self
                    .view
                    .topic(name)
                    .ok_or_else(|| TopicError::Unknown(name.clone()))?)
                .clone();
                topic.configs = new;
                self.store.put_topic(&topic.to_record())?;
                self.view.upsert(topic.clone());
                self.apply_log_config(&[topic], now_ms);
                tracing::info!(topic = %name, "altered topic configs");
            }
            ConfigTarget::Broker(name) => {
                broker_config::validate_dynamic(config, &new).map_err(|e| {
                    TopicError::InvalidRequest(format!(
                        "Invalid config value for resource ConfigResource(type=BROKER, name='{name}'): {e}"
                    ))
                })?;
                if validate_only {
                    return Ok(());
                }
                let level = broker_level(self.node.node_id, name)?;
                self.store
                    .put_config_overrides(ConfigScope::Broker, name, &new)?;
                {
                    let mut l = self.layers.write().unwrap_or_else(|p| p.into_inner());
                    match level {
                        BrokerLevel::Cluster => l.cluster = new,
                        BrokerLevel::Node => l.per_broker = new,
                    }
                }
                let topics: Vec<_> = self
                    .view
                    .topics()
                    .into_iter()
                    .map(|t| (*t).clone())
                    .collect();
                self.apply_log_config(&topics, now_ms);
                tracing::info!(broker = %name, "altered dynamic broker configs");
            }
            ConfigTarget::Group(name) => {
                group_config::validate(&new).map_err(TopicError::InvalidConfig)?;
                if validate_only {
                    return Ok(());
                }
                if let Some(member) = self.remote.get() {
                    drop(guard);
                    return self.forward_group_configs(member, name, new);
                }
                self.store
                    .put_config_overrides(ConfigScope::Group, name, &new)?;
                let mut g = self
                    .group_configs
                    .write()
                    .unwrap_or_else(|p| p.into_inner());
                if new.is_empty() {
                    g.remove(name);
                } else {
                    g.insert(name.clone(), new);
                }
            }
        }
        Ok(())
    }

    /// Swaps the log config of every partition of `topics` and enforces retention at once.
    pub(super) fn apply_log_config(&self, topics: &[super::TopicInfo], now_ms: i64) {
        let layers = self.broker_layers();
        for t in topics {
            let cfg = topic_config::log_config(&layers, &t.configs);
            for p in &t.partitions {
                let Some(log) = self.logs.get(&t.name, p.index) else {
                    continue;
                };
                if log.config() == cfg {
                    continue;
                }
                log.update_config(cfg);
                match log.enforce_retention(now_ms) {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(topic = %t.name, partition = p.index, segments = n,
                        "retention deleted segments after a config change"),
                    Err(e) => tracing::warn!(topic = %t.name, partition = p.index, error = %e,
                        "retention after a config change failed"),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::cluster::controller::NewTopic;
    use crate::cluster::{MetadataView, NodeInfo};
    use crate::log::LogManager;
    use crate::store::Store;

    fn controller(dir: &std::path::Path) -> Controller {
        let node = NodeInfo {
            node_id: 0,
            host: "localhost".into(),
            port: 9092,
            rack: None,
        };
        let store = Arc::new(Store::open(&dir.join("meta")).unwrap());
        let groups =
            crate::group::GroupCoordinator::open(0, &Config::default().group, store.clone())
                .unwrap();
        Controller::new(
            node,
            BrokerLayers::from_static(Config::default().log),
            Default::default(),
            store,
            Arc::new(LogManager::open(&dir.join("logs")).unwrap()),
            Arc::new(MetadataView::new(Vec::new())),
            groups,
        )
    }

    fn topic(c: &Controller, name: &str) {
        let t = NewTopic {
            name: name.into(),
            num_partitions: 2,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: BTreeMap::new(),
        };
        c.create_topic(&t, false, 0).unwrap();
    }

    fn set(k: &str, v: &str) -> (String, AlterOp) {
        (k.into(), AlterOp::Set(v.into()))
    }

    #[test]
    fn list_ops_validation_and_validate_only() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path());
        let cfg = Config::default();
        topic(&c, "t");
        let t = ConfigTarget::Topic("t".into());
        let policy = |c: &Controller| c.overrides_of(&t).unwrap().get("cleanup.policy").cloned();
        let append = (
            "cleanup.policy".to_string(),
            AlterOp::Append("compact".into()),
        );
        c.alter_configs(&cfg, &t, std::slice::from_ref(&append), false, 0)
            .unwrap();
        assert_eq!(
            policy(&c).as_deref(),
            Some("delete,compact"),
            "APPEND starts from the default"
        );
        c.alter_configs(&cfg, &t, &[append], false, 0).unwrap();
        assert_eq!(
            policy(&c).as_deref(),
            Some("delete,compact"),
            "APPEND adds no duplicate"
        );
        let sub = (
            "cleanup.policy".to_string(),
            AlterOp::Subtract("delete,compact".into()),
        );
        c.alter_configs(&cfg, &t, &[sub], false, 0).unwrap();
        assert_eq!(
            policy(&c).as_deref(),
            Some(""),
            "SUBTRACT to the empty list"
        );
        let bad = ("retention.ms".to_string(), AlterOp::Append("1".into()));
        assert_eq!(
            c.alter_configs(&cfg, &t, &[bad], false, 0)
                .unwrap_err()
                .kafka_code(),
            40
        );
        let unknown = ("nope".to_string(), AlterOp::Subtract("1".into()));
        assert_eq!(
            c.alter_configs(&cfg, &t, &[unknown], false, 0)
                .unwrap_err()
                .kafka_code(),
            40
        );
        // validate_only: checked, not applied.
        c.alter_configs(&cfg, &t, &[set("retention.ms", "1000")], true, 0)
            .unwrap();
        assert!(!c.overrides_of(&t).unwrap().contains_key("retention.ms"));
        let missing = ConfigTarget::Topic("missing".into());
        assert_eq!(
            c.alter_configs(&cfg, &missing, &[set("retention.ms", "1")], false, 0)
                .unwrap_err()
                .kafka_code(),
            3
        );
        // Applied to every partition's log config.
        c.alter_configs(&cfg, &t, &[set("retention.ms", "1000")], false, 0)
            .unwrap();
        c.alter_configs(&cfg, &t, &[set("cleanup.policy", "delete")], false, 0)
            .unwrap();
        for p in 0..2 {
            assert_eq!(c.logs.get("t", p).unwrap().config().retention_ms, 1000);
        }
        // Legacy replace drops what is not given.
        c.replace_configs(
            &cfg,
            &t,
            [("segment.ms".to_string(), "5000".to_string())].into(),
            false,
            0,
        )
        .unwrap();
        assert_eq!(c.overrides_of(&t).unwrap().len(), 1);
        assert_eq!(
            c.logs.get("t", 0).unwrap().config().retention_ms,
            604_800_000
        );
    }

    #[test]
    fn broker_levels_reach_topics_and_new_partitions() {
        let dir = tempfile::tempdir().unwrap();
        let c = controller(dir.path());
        let cfg = Config::default();
        topic(&c, "a");
        let cluster = ConfigTarget::Broker(String::new());
        let node = ConfigTarget::Broker("0".into());
        c.alter_configs(&cfg, &cluster, &[set("log.retention.ms", "2000")], false, 0)
            .unwrap();
        assert_eq!(c.logs.get("a", 1).unwrap().config().retention_ms, 2000);
        c.alter_configs(&cfg, &node, &[set("log.retention.ms", "3000")], false, 0)
            .unwrap();
        topic(&c, "b");
        assert_eq!(
            c.logs.get("b", 0).unwrap().config().retention_ms,
            3000,
            "new topics too"
        );
        assert_eq!(
            c.broker_layers()
                .cluster
                .get("log.retention.ms")
                .map(String::as_str),
            Some("2000")
        );
        let e = c
            .alter_configs(&cfg, &node, &[set("num.partitions", "3")], false, 0)
            .unwrap_err();
        assert_eq!(e.kafka_code(), 42);
        let other = ConfigTarget::Broker("9".into());
        assert_eq!(
            c.alter_configs(&cfg, &other, &[set("log.retention.ms", "1")], false, 0)
                .unwrap_err()
                .kafka_code(),
            42
        );
        c.alter_configs(
            &cfg,
            &node,
            &[("log.retention.ms".into(), AlterOp::Delete)],
            false,
            0,
        )
        .unwrap();
        assert_eq!(c.logs.get("b", 0).unwrap().config().retention_ms, 2000);
        // Groups.
        let g = ConfigTarget::Group("g".into());
        c.alter_configs(
            &cfg,
            &g,
            &[set("consumer.heartbeat.interval.ms", "4000")],
            false,
            0,
        )
        .unwrap();
        assert_eq!(c.group_overrides("g").len(), 1);
        c.alter_configs(
            &cfg,
            &g,
            &[("consumer.heartbeat.interval.ms".into(), AlterOp::Delete)],
            false,
            0,
        )
        .unwrap();
        assert!(c.group_overrides("g").is_empty());
    }
}
