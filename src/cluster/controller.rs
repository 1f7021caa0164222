//! The controller: the only writer of topic metadata, and the one place the topic workflows
//! live. Both front doors — the Kafka handlers (CreateTopics, DeleteTopics, CreatePartitions,
//! Metadata auto-create) and the HTTP console — call these methods and nothing else, so a
//! topic is created or deleted the same way whichever door asked.
//!
//! Creating, deleting and growing topics is serialised by one mutex so two concurrent
//! CreateTopics for the same name cannot both win. Each change has one commit point, the
//! synced store write, and is crash-atomic around it (the directory states are listed in
//! `log::manager`):
//!
//! - **create** (and new partitions): stage empty directories under `.creating` names, each
//!   recording the topic id → commit the store record → rename them to their live names →
//!   open the logs → publish in the view. A crash before the commit leaves only `.creating`
//!   directories, removed at boot; after it, boot creates whatever live directory is missing.
//!   A live-named directory is therefore never created for an uncommitted topic.
//! - **delete**: close the logs and rename every live directory to `.deleted` → drop the
//!   topic's committed offsets → commit the store delete → unpublish → remove the
//!   directories. A crash before the commit leaves `.deleted` directories whose recorded topic
//!   id is still in the store: boot finishes that delete (see `boot.rs`). Once the first
//!   rename happened the delete is decided; the topic's records can never be opened again.
//!   Offsets go before the commit so no crash can leave them behind for a re-created topic
//!   (Kafka drops them the same way when partitions are deleted).
//!
//! The broker-wide partition cap (`log.max_partitions`) is checked before anything is
//! created, in validate-only mode too, and refuses with POLICY_VIOLATION as Kafka's
//! create-topic policies do.
//!
//! Boot reconciliation (`Controller::recover`, in `boot.rs`) opens what the store lists and
//! quarantines any directory no stored topic owns: orphans are never adopted.
//!
//! All methods block (file system, RocksDB, group locks): async callers use `spawn_blocking`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use super::image::Command;
use super::leadership::{self, ElectionError, ElectionType, ReassignError};
use super::member::Member;
use super::metadata::{MetadataView, PartitionInfo, TopicInfo};
use super::topic_config::{self, BrokerLayers};
use super::NodeInfo;
use crate::config::LogDefaults;
use crate::group::GroupCoordinator;
use crate::kafka_error::KafkaError;
use crate::log::manager::StagedPartition;
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
    /// Refused or not answered by the controller quorum (cluster mode).
    #[error("{message}")]
    Cluster { code: i16, message: String },
}

impl TopicError {
    /// The Kafka error code for this failure.
    pub fn kafka_code(&self) -> i16 {
        match self {
            TopicError::InvalidName(_) => KafkaError::InvalidTopicException.code(),
            TopicError::AlreadyExists(_) => KafkaError::TopicAlreadyExists.code(),
            TopicError::Unknown(_) => KafkaError::UnknownTopicOrPartition.code(),
            TopicError::InvalidPartitions(_) => KafkaError::InvalidPartitions.code(),
            TopicError::InvalidReplicationFactor(_) => KafkaError::InvalidReplicationFactor.code(),
            TopicError::InvalidReplicaAssignment(_) => KafkaError::InvalidReplicaAssignment.code(),
            TopicError::InvalidConfig(_) => KafkaError::InvalidConfig.code(),
            TopicError::InvalidRequest(_) => KafkaError::InvalidRequest.code(),
            TopicError::PolicyViolation(_) => KafkaError::PolicyViolation.code(),
            TopicError::Log(e) => e.kafka_code(),
            TopicError::Store(e) => e.kafka_code(),
            TopicError::Cluster { code, .. } => *code,
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

/// Serialises metadata changes and applies them to logs, store, view and group offsets.
pub struct Controller {
    pub(super) node: NodeInfo,
    pub(super) defaults: LogDefaults,
    /// Static and dynamic broker-level topic defaults; written only under `lock`, read by
    /// every topic-config resolution (a sync lock held for a clone, never across `.await`).
    pub(super) layers: RwLock<BrokerLayers>,
    /// Per-group config overrides (GROUP resource); written only under `lock`.
    pub(super) group_configs: RwLock<HashMap<String, BTreeMap<String, String>>>,
    pub(super) store: Arc<Store>,
    pub(super) logs: Arc<LogManager>,
    pub(super) view: Arc<MetadataView>,
    /// Committed offsets of a deleted topic are dropped here, as part of the delete.
    pub(super) groups: Arc<GroupCoordinator>,
    /// Most partitions the broker may host (`log.max_partitions`, resolved at boot).
    max_partitions: usize,
    /// Held for the whole of one change (blocking I/O included), never across `.await`.
    pub(super) lock: Mutex<()>,
    /// Told the name of every deleted topic (the broker drops its per-topic metric series);
    /// a callback keeps this engine free of any metrics dependency. Sync lock: only read or
    /// set, never held across I/O or `.await`.
    deleted_observer: RwLock<Option<TopicDeletedObserver>>,
    /// Cluster mode: the link to the controller quorum, which decides every topic change
    /// (`apply.rs`). Unset on a single-node broker.
    pub(super) remote: OnceLock<Arc<Member>>,
    /// A cluster node hosts only the partitions it is a replica of; a single node hosts
    /// every partition (even one whose replica list names an earlier node id).
    cluster_node: bool,
}

/// One partition's reassignment in progress, as ListPartitionReassignments reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OngoingReassignment {
    pub partition: i32,
    /// Target first, then the replicas being removed.
    pub replicas: Vec<i32>,
    pub adding: Vec<i32>,
    pub removing: Vec<i32>,
}

/// A topic's reassignments in progress.
pub type TopicReassignments = (String, Vec<OngoingReassignment>);

/// Receives the name and id of each deleted topic, after its logs are gone (blocking context:
/// it runs on the thread that deleted the topic).
pub type TopicDeletedObserver = Arc<dyn Fn(&str, uuid::Uuid) + Send + Sync>;

/// Kafka's rules for growing a topic from `current` to `total` partitions.
pub(super) fn check_growth(current: i32, total: i32) -> Result<(), TopicError> {
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
    Ok(())
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
    /// A controller for this node. The view is filled by [`Controller::recover`] at boot.
    pub fn new(
        node: NodeInfo,
        layers: BrokerLayers,
        group_configs: HashMap<String, BTreeMap<String, String>>,
        store: Arc<Store>,
        logs: Arc<LogManager>,
        view: Arc<MetadataView>,
        groups: Arc<GroupCoordinator>,
    ) -> Controller {
        Controller {
            node,
            defaults: layers.static_defaults.clone(),
            layers: RwLock::new(layers),
            group_configs: RwLock::new(group_configs),
            store,
            logs,
            view,
            groups,
            max_partitions: usize::MAX,
            lock: Mutex::new(()),
            deleted_observer: RwLock::new(None),
            remote: OnceLock::new(),
            cluster_node: false,
        }
    }

    /// Installs the callback told the name and id of every deleted topic.
    pub fn set_deleted_observer(&self, observer: TopicDeletedObserver) {
        *self
            .deleted_observer
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(observer);
    }

    /// Marks this controller as a cluster node's (see `cluster_node`).
    pub fn in_cluster(mut self, cluster: bool) -> Controller {
        self.cluster_node = cluster;
        self
    }

    /// Whether this broker keeps a log for partition `p`.
    pub(super) fn hosts(&self, p: &PartitionInfo) -> bool {
        !self.cluster_node || p.replicas.contains(&self.node.node_id)
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

    /// The static broker-wide topic defaults (`runnel.toml`).
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
        if let Some(member) = self.remote.get() {
            return self.forward_create(member, req, validate_only);
        }
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
        let indexes: Vec<i32> = topic.partitions.iter().map(|p| p.index).collect();
        self.commit_partitions(&topic, &indexes, now_ms)?;
        tracing::info!(topic = %topic.name, partitions = topic.partitions.len(), id = %topic.id, "created topic");
        Ok(topic)
    }

    /// The create workflow for `new_partitions` of `topic` (all of a new topic, or the added
    /// ones): stage → commit `topic`'s record → activate → open → publish. See the header.
    pub(super) fn commit_partitions(
        &self,
        topic: &TopicInfo,
        new_partitions: &[i32],
        now_ms: i64,
    ) -> Result<(), TopicError> {
        let staged = self
            .logs
            .stage_partitions(&topic.name, topic.id.as_u128(), new_partitions)?;
        if let Err(e) = self.store.put_topic(&topic.to_record()) {
            self.logs
                .purge(staged.into_iter().map(|s| s.path).collect());
            return Err(e.into());
        }
        // Committed: from here on a failure leaves a topic the next boot completes.
        self.open_staged(topic, &staged, now_ms).inspect_err(|e| {
            tracing::error!(topic = %topic.name, error = %e,
                "topic committed but its partitions could not be opened; the next start completes it");
        })?;
        self.view.upsert(topic.clone());
        Ok(())
    }

    /// Gives staged partitions their live names and opens their logs.
    fn open_staged(
        &self,
        topic: &TopicInfo,
        staged: &[StagedPartition],
        now_ms: i64,
    ) -> Result<(), TopicError> {
        self.logs.activate_staged(&topic.name, staged)?;
        let cfg = topic_config::log_config(&self.broker_layers(), &topic.configs);
        for s in staged {
            self.logs.create(&topic.name, s.partition, cfg, now_ms)?;
        }
        Ok(())
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

    /// Deletes a topic with its logs and every group's committed offsets for it: retire the
    /// directories → drop offsets → commit the store delete → unpublish → remove the
    /// directories (see the header for why in this order).
    pub fn delete_topic(&self, name: &str) -> Result<TopicInfo, TopicError> {
        if let Some(member) = self.remote.get() {
            let cmd = Command::DeleteTopic {
                name: name.to_string(),
            };
            return self.forward(member, cmd, false, |c, t| {
                c.view.topic(&t.name).is_none_or(|v| v.id != t.id)
            });
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        self.delete_locked(name)
    }

    /// The delete workflow; the caller holds `lock`.
    pub(super) fn delete_locked(&self, name: &str) -> Result<TopicInfo, TopicError> {
        let topic = self
            .view
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let retired = self.logs.retire_topic(name)?;
        let offsets = self.groups.remove_offsets_for_topic(name);
        self.store.delete_topic(name)?;
        self.view.remove(name);
        self.logs.purge(retired);
        let observer = self
            .deleted_observer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(o) = observer {
            o(name, topic.id);
        }
        tracing::info!(topic = name, id = %topic.id, offsets, "deleted topic");
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
        if let Some(member) = self.remote.get() {
            let cmd = Command::CreatePartitions {
                name: name.to_string(),
                total,
                assignments: assignments.map(<[Vec<i32>]>::to_vec),
                start: super::apply::rand_start(),
            };
            return self.forward(member, cmd, validate_only, |c, t| {
                c.view
                    .topic(&t.name)
                    .is_some_and(|v| v.partitions.len() == t.partitions.len())
            });
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let topic = self
            .view
            .topic(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.partitions.len() as i32;
        check_growth(current, total)?;
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
        let added: Vec<i32> = (current..total).collect();
        self.commit_partitions(&grown, &added, now_ms)?;
        Ok(grown)
    }

    /// The brokers that can hold replicas: this node (the cluster's membership later).
    pub fn live_brokers(&self) -> Vec<i32> {
        match self.remote.get() {
            Some(m) => m.image().live_brokers().map(|b| b.id).collect(),
            None => vec![self.node.node_id],
        }
    }

    /// Runs a leader election for one partition (rules in `leadership.rs`). With this node
    /// the leader and first replica of every partition, the answer is ELECTION_NOT_NEEDED;
    /// a replica set naming other nodes (a changed node id) can elect this node. In cluster
    /// mode the quorum decides (`Command::ElectLeader`, which also needs the preferred replica
    /// in the ISR) and this waits until the new leadership is applied here. Blocking.
    pub fn elect_leader(
        &self,
        topic: &str,
        partition: i32,
        kind: ElectionType,
    ) -> Result<(), ElectionError> {
        if let Some(member) = self.remote.get() {
            return self.forward_election(member, topic, partition, kind);
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let info = self
            .view
            .topic(topic)
            .ok_or_else(|| ElectionError::UnknownTopic(topic.into()))?;
        let p = info
            .partition(partition)
            .ok_or_else(|| ElectionError::UnknownPartition(topic.into(), partition))?;
        let leader = leadership::elect(topic, p, kind, &self.live_brokers())?;
        self.update_partition(&info, partition, |p| {
            p.leader = leader;
            p.leader_epoch += 1;
        })
        .map_err(|e| ElectionError::Store(e.to_string()))
    }

    /// Reassigns a partition's replicas (`None` cancels a reassignment in progress). On a
    /// single node, moving to the only live broker completes at once and the leader becomes
    /// the first replica (`allow_rf_change` has nothing to refuse there). In cluster mode the
    /// quorum decides (`Command::ReassignPartition`) and this waits until the change is
    /// applied here; the data moves afterwards. Blocking.
    pub fn reassign_partition(
        &self,
        topic: &str,
        partition: i32,
        target: Option<&[i32]>,
        allow_rf_change: bool,
    ) -> Result<(), ReassignError> {
        if let Some(member) = self.remote.get() {
            let cmd = Command::ReassignPartition {
                topic: topic.to_string(),
                partition,
                target: target.map(<[i32]>::to_vec),
                allow_rf_change,
            };
            return self.forward_reassignment(member, cmd);
        }
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let info = self
            .view
            .topic(topic)
            .ok_or_else(|| ReassignError::UnknownTopic(topic.into()))?;
        let p = info
            .partition(partition)
            .ok_or_else(|| ReassignError::UnknownPartition(topic.into(), partition))?;
        let Some(replicas) = leadership::reassign(p, target, &self.live_brokers())? else {
            return Ok(());
        };
        self.update_partition(&info, partition, |p| {
            p.leader = replicas.first().copied().unwrap_or(-1);
            p.leader_epoch += 1;
            p.isr = replicas.clone();
            p.replicas = replicas.clone();
        })
        .map_err(|e| ReassignError::Store(e.to_string()))
    }

    /// Reassignments in progress (cluster mode; a single node never has one): per topic, the
    /// partitions with (replicas, adding, removing). `filter` names topics and partitions
    /// (unknown ones are skipped); `None` lists every one in progress.
    pub fn reassignments(&self, filter: Option<&[(String, Vec<i32>)]>) -> Vec<TopicReassignments> {
        let Some(member) = self.remote.get() else {
            return Vec::new();
        };
        let image = member.image();
        let ongoing = |t: &super::image::TopicState, p: i32| {
            let p = usize::try_from(p).ok().and_then(|i| t.partitions.get(i))?;
            p.is_reassigning().then(|| OngoingReassignment {
                partition: p.index,
                replicas: p.replicas.clone(),
                adding: p.adding_replicas.clone(),
                removing: p.removing_replicas.clone(),
            })
        };
        let mut out: Vec<TopicReassignments> = Vec::new();
        let mut push = |name: &str, parts: Vec<OngoingReassignment>| {
            if !parts.is_empty() {
                out.push((name.to_string(), parts));
            }
        };
        match filter {
            None => {
                for t in image.topics.values() {
                    push(
                        &t.name,
                        (0..t.partitions.len() as i32)
                            .filter_map(|p| ongoing(t, p))
                            .collect(),
                    );
                }
            }
            Some(wanted) => {
                for (name, parts) in wanted {
                    if let Some(t) = image.topics.get(name) {
                        push(name, parts.iter().filter_map(|&p| ongoing(t, p)).collect());
                    }
                }
            }
        }
        out
    }

    /// Applies `change` to one partition and persists the topic (store, then view). Called
    /// with `lock` held.
    fn update_partition(
        &self,
        topic: &TopicInfo,
        partition: i32,
        change: impl FnOnce(&mut PartitionInfo),
    ) -> Result<(), TopicError> {
        let mut updated = topic.clone();
        if let Some(p) = usize::try_from(partition)
            .ok()
            .and_then(|i| updated.partitions.get_mut(i))
        {
            change(p);
        }
        self.store.put_topic(&updated.to_record())?;
        tracing::info!(topic = %updated.name, partition, "partition leadership changed");
        self.view.upsert(updated);
        Ok(())
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
