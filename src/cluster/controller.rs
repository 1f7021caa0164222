//! The controller: the only writer of topic metadata.
//!
//! Creating, deleting and growing topics goes through here, serialised by one mutex so two
//! concurrent CreateTopics for the same name cannot both win. Order of effects on create:
//! partition directories first, then the store record (synced), then the in-memory view —
//! so a crash between steps leaves at worst empty directories that the next create reuses,
//! never a topic in the store without its logs. Delete runs in the reverse order.
//!
//! A create that fails halfway (a partition directory that cannot be made, the store write)
//! is rolled back: every partition log it opened is closed and its directory removed, so
//! nothing stays open or on disk and no store record is written. The broker-wide partition
//! cap (`log.max_partitions`) is checked before anything is created, in validate-only mode
//! too, and refuses with POLICY_VIOLATION as Kafka's create-topic policies do.
//!
//! All methods block (file system and RocksDB): async callers use `spawn_blocking`.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::metadata::{MetadataView, PartitionInfo, TopicInfo};
use super::{topic_config, NodeInfo};
use crate::config::LogDefaults;
use crate::log::{LogError, LogManager};
use crate::store::{Store, StoreError};

/// The longest legal topic name (Kafka's limit, from the 255-byte file name limit).
pub const MAX_TOPIC_NAME_LEN: usize = 249;
/// Partitions one topic may have; bounds the work a single request can ask for.
pub const MAX_PARTITIONS: i32 = 10_000;

/// Why a topic operation failed; each maps to the Kafka error code clients expect.
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("{0}")]
    InvalidName(String),
    #[error("Topic '{0}' already exists.")]
    AlreadyExists(String),
    #[error("This server does not host this topic: {0}")]
    Unknown(String),
    #[error("{0}")]
    InvalidPartitions(String),
    #[error("{0}")]
    InvalidReplicationFactor(String),
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    PolicyViolation(String),
    #[error("log error: {0}")]
    Log(#[from] LogError),
    #[error("store error: {0}")]
    Store(#[from] StoreError),
}

impl TopicError {
    /// The Kafka error code for this failure.
    pub fn kafka_code(&self) -> i16 {
        match self {
            TopicError::InvalidName(_) => 17,
            TopicError::AlreadyExists(_) => 36,
            TopicError::Unknown(_) => 3,
            TopicError::InvalidPartitions(_) => 37,
            TopicError::InvalidReplicationFactor(_) => 38,
            TopicError::InvalidReplicaAssignment(_) => 39,
            TopicError::InvalidConfig(_) => 40,
            TopicError::InvalidRequest(_) => 42,
            TopicError::PolicyViolation(_) => 44,
            TopicError::Log(e) => e.kafka_code(),
            TopicError::Store(e) => e.kafka_code(),
        }
    }
}

/// A topic creation request in domain terms.
#[derive(Debug, Clone)]
pub struct NewTopic {
    pub name: String,
    /// -1 = broker default.
    pub num_partitions: i32,
    /// -1 = broker default (1).
    pub replication_factor: i16,
    /// Explicit assignment: partition index → replica node ids (empty = automatic).
    pub assignments: Vec<(i32, Vec<i32>)>,
    pub configs: BTreeMap<String, String>,
}

/// Serialises metadata changes and applies them to logs, store and view.
pub struct Controller {
    node: NodeInfo,
    defaults: LogDefaults,
    store: Arc<Store>,
    logs: Arc<LogManager>,
    view: Arc<MetadataView>,
    /// Most partitions the broker may host (`log.max_partitions`, resolved at boot).
    max_partitions: usize,
    /// Held for the whole of one change (blocking I/O included), never across `.await`.
    lock: Mutex<()>,
}

/// Kafka's topic name rules: 1–249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let invalid = |why: String| Err(TopicError::InvalidName(why));
    if name.is_empty() {
        return invalid("Topic name is illegal, it can't be empty".into());
    }
    if name == "." || name == ".." {
        return invalid("Topic name cannot be \".\" or \"..\"".into());
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return invalid(format!(
            "Topic name is illegal, it can't be longer than {MAX_TOPIC_NAME_LEN} characters, topic name: {name}"
        ));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return invalid(format!(
            "Topic name \"{name}\" is illegal, it contains a character other than ASCII alphanumerics, '.', '_' and '-'"
        ));
    }
    Ok(())
}

impl Controller {
    /// A controller for this node.
    pub fn new(
        node: NodeInfo,
        defaults: LogDefaults,
        store: Arc<Store>,
        logs: Arc<LogManager>,
        view: Arc<MetadataView>,
    ) -> Controller {
        Controller {
            node,
            defaults,
            store,
            logs,
            view,
            max_partitions: usize::MAX,
            lock: Mutex::new(()),
        }
    }

    /// Caps the partitions this broker hosts (default: no cap).
    pub fn with_max_partitions(mut self, max: usize) -> Controller {
        self.max_partitions = max;
        self
    }

    /// POLICY_VIOLATION if adding `new` partitions would pass the broker's cap.
    fn check_partition_cap(&self, new: usize) -> Result<(), TopicError> {
        let hosted = self.logs.partition_count();
        if hosted.saturating_add(new) > self.max_partitions {
            return Err(TopicError::PolicyViolation(format!(
                "Creating {new} partition(s) would make this broker host {}, more than its limit of {} (log.max_partitions, derived from the open-file limit when 0).",
                hosted.saturating_add(new),
                self.max_partitions
            )));
        }
        Ok(())
    }

    /// Opens the logs of `partitions`; if one fails, closes and removes every one of them
    /// (including a directory the failing one may have left) and returns the error.
    fn create_logs(
        &self,
        topic: &str,
        partitions: &[i32],
        cfg: crate::log::LogConfig,
        now_ms: i64,
    ) -> Result<(), TopicError> {
        for (i, &p) in partitions.iter().enumerate() {
            if let Err(e) = self.logs.create(topic, p, cfg, now_ms) {
                self.roll_back(topic, &partitions[..=i]);
                return Err(e.into());
            }
        }
        Ok(())
    }

    fn roll_back(&self, topic: &str, partitions: &[i32]) {
        tracing::warn!(
            topic,
            partitions = partitions.len(),
            "rolling back a failed topic change"
        );
        if let Err(e) = self.logs.delete_partitions(topic, partitions) {
            tracing::error!(topic, error = %e, "rolling back partition logs");
        }
    }

    /// The broker-wide topic defaults.
    pub fn defaults(&self) -> &LogDefaults {
        &self.defaults
    }

    /// Validates and (unless `validate_only`) creates a topic.
    pub fn create_topic(
        &self,
        req: &NewTopic,
        validate_only: bool,
        now_ms: i64,
    ) -> Result<TopicInfo, TopicError> {
        validate_topic_name(&req.name)?;
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if self.view.topic(&req.name).is_some() {
            return Err(TopicError::AlreadyExists(req.name.clone()));
        }
        // Kafka refuses names that collide with an existing topic once '.' and '_' are
        // treated alike, because their metric names would collide.
        let folded = req.name.replace('.', "_");
        if let Some(other) = self
            .view
            .topics()
            .into_iter()
            .find(|t| t.name.replace('.', "_") == folded)
        {
            return Err(TopicError::InvalidName(format!(
                "Topic '{}' collides with existing topic: {}",
                req.name, other.name
            )));
        }
        let partitions = self.plan_partitions(req)?;
        topic_config::validate(&req.configs).map_err(TopicError::InvalidConfig)?;
        self.check_partition_cap(partitions.len())?;
        let topic = TopicInfo {
            name: req.name.clone(),
            id: uuid::Uuid::new_v4(),
            partitions,
            configs: req.configs.clone(),
        };
        if validate_only {
            return Ok(topic);
        }
        let cfg = topic_config::log_config(&self.defaults, &topic.configs);
        let indexes: Vec<i32> = topic.partitions.iter().map(|p| p.index).collect();
        self.create_logs(&topic.name, &indexes, cfg, now_ms)?;
        if let Err(e) = self.store.put_topic(&topic.to_record()) {
            self.roll_back(&topic.name, &indexes);
            return Err(e.into());
        }
        self.view.upsert(topic.clone());
        tracing::info!(topic = %topic.name, partitions = topic.partitions.len(), id = %topic.id, "created topic");
        Ok(topic)
    }

    fn plan_partitions(&self, req: &NewTopic) -> Result<Vec<PartitionInfo>, TopicError> {
        let this = self.node.node_id;
        if !req.assignments.is_empty() {
            if req.num_partitions != -1 || req.replication_factor != -1 {
                return Err(TopicError::InvalidRequest(
                    "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
                ));
            }
            let mut out = Vec::with_capacity(req.assignments.len());
            let mut sorted = req.assignments.clone();
            sorted.sort_by_key(|(i, _)| *i);
            for (expected, (index, replicas)) in sorted.iter().enumerate() {
                if *index != expected as i32 {
                    return Err(TopicError::InvalidReplicaAssignment(
                        "Partitions should be a consecutive 0-based integer sequence".into(),
                    ));
                }
                if replicas.as_slice() != [this] {
                    return Err(TopicError::InvalidReplicaAssignment(format!(
                        "Replica assignment {replicas:?} must be exactly [{this}] on this single-node broker"
                    )));
                }
                out.push(self.new_partition(*index));
            }
            if out.len() as i32 > MAX_PARTITIONS {
                return Err(TopicError::InvalidPartitions(format!(
                    "Number of partitions must be at most {MAX_PARTITIONS}"
                )));
            }
            return Ok(out);
        }
        let count = if req.num_partitions == -1 {
            self.defaults.num_partitions
        } else {
            req.num_partitions
        };
        if count < 1 {
            return Err(TopicError::InvalidPartitions(
                "Number of partitions must be larger than 0.".into(),
            ));
        }
        if count > MAX_PARTITIONS {
            return Err(TopicError::InvalidPartitions(format!(
                "Number of partitions must be at most {MAX_PARTITIONS}"
            )));
        }
        match req.replication_factor {
            -1 | 1 => {}
            rf if rf < 1 => {
                return Err(TopicError::InvalidReplicationFactor(
                    "Replication factor must be larger than 0, or -1 to use the default value."
                        .into(),
                ))
            }
            rf => {
                return Err(TopicError::InvalidReplicationFactor(format!(
                    "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only 1 broker(s) are registered."
                )))
            }
        }
        Ok((0..count).map(|i| self.new_partition(i)).collect())
    }

    fn new_partition(&self, index: i32) -> PartitionInfo {
        let this = self.node.node_id;
        PartitionInfo {
            index,
            leader: this,
            leader_epoch: 0,
            replicas: vec![this],
            isr: vec![this],
        }
    }

    /// Deletes a topic: metadata first (clients stop seeing it), then its logs.
    pub fn delete_topic(&self, name: &str) -> Result<TopicInfo, TopicError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self
            .view
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        self.store.delete_topic(name)?;
        self.view.remove(name);
        self.logs.delete_topic(name)?;
        tracing::info!(topic = name, "deleted topic");
        Ok((*topic).clone())
    }

    /// Grows a topic to `total` partitions.
    pub fn create_partitions(
        &self,
        name: &str,
        total: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
        now_ms: i64,
    ) -> Result<TopicInfo, TopicError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self
            .view
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.partitions.len() as i32;
        if total < current {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic currently has {current} partitions, which is higher than the requested {total}."
            )));
        }
        if total == current {
            return Err(TopicError::InvalidPartitions(format!(
                "Topic already has {current} partitions."
            )));
        }
        if total > MAX_PARTITIONS {
            return Err(TopicError::InvalidPartitions(format!(
                "Number of partitions must be at most {MAX_PARTITIONS}"
            )));
        }
        if let Some(a) = assignments {
            if a.len() as i32 != total - current {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "Increasing the number of partitions by {} but {} assignments provided.",
                    total - current,
                    a.len()
                )));
            }
            let this = self.node.node_id;
            if let Some(bad) = a.iter().find(|r| r.as_slice() != [this]) {
                return Err(TopicError::InvalidReplicaAssignment(format!(
                    "Replica assignment {bad:?} must be exactly [{this}] on this single-node broker"
                )));
            }
        }
        self.check_partition_cap((total - current) as usize)?;
        let mut grown = (*topic).clone();
        grown
            .partitions
            .extend((current..total).map(|i| self.new_partition(i)));
        if validate_only {
            return Ok(grown);
        }
        let cfg = topic_config::log_config(&self.defaults, &grown.configs);
        let added: Vec<i32> = (current..total).collect();
        self.create_logs(name, &added, cfg, now_ms)?;
        if let Err(e) = self.store.put_topic(&grown.to_record()) {
            self.roll_back(name, &added);
            return Err(e.into());
        }
        self.view.upsert(grown.clone());
        Ok(grown)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_name_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        for bad in ["", ".", "..", "a b", "ü", &"x".repeat(250)] {
            let e = validate_topic_name(bad).unwrap_err();
            assert_eq!(e.kafka_code(), 17, "{bad}");
        }
        assert!(validate_topic_name(&"x".repeat(249)).is_ok());
    }
}
