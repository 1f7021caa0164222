//! The cluster metadata image and the commands that change it: the controller quorum's
//! replicated state machine (Kafka's `MetadataImage` with the `ReplicationControlManager` /
//! `ClusterControlManager` rules).
//!
//! Invariants:
//! - [`Image::execute`] is a pure function of (image, command, log index): no clock, no
//!   randomness, no I/O. Everything chosen at random (topic ids, the placement start) is
//!   chosen by the proposer and carried in the command, so replaying the Raft log on any
//!   node yields the same image, byte for byte.
//! - All validation happens here, against the image at the command's log position: two
//!   concurrent CreateTopics for one name both pass the front door, and the second one to be
//!   applied gets TOPIC_ALREADY_EXISTS. Fencing and unfencing carry the broker epoch they were
//!   decided for and are ignored once the broker re-registered (compare-and-set).
//! - Per partition: ISR ⊆ replicas; the leader is in the ISR or -1; the leader epoch and
//!   the partition epoch only grow. The ISR never becomes empty: when its last member is
//!   fenced it stays (Kafka's rule, so that the last in-sync replica is the one to come back
//!   as leader) and the partition has no leader.
//! - A broker's epoch is the log index of its registration, so epochs grow with every new
//!   incarnation.
//! - A reassignment in progress lists its `adding_replicas` / `removing_replicas` (both
//!   within `replicas`, disjoint); it completes in the same apply as the ISR change (or the
//!   reassignment) that brings its new replicas in sync (`image/reassign.rs`).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::controller::{check_growth, validate_topic_name, TopicError, MAX_PARTITIONS};
use super::group_config;
use super::leadership::ReassignError;
use super::metadata::{PartitionInfo, TopicInfo};
use super::topic_config;
use crate::kafka_error::KafkaError;

/// Producer ids handed to a broker at a time (Kafka's block size).
pub const PRODUCER_ID_BLOCK: i64 = 1000;

/// One registered broker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BrokerRegistration {
    pub id: i32,
    /// A random id per process start; a new one means a new broker epoch.
    pub incarnation: String,
    /// The log index of the registration.
    pub epoch: i64,
    /// The address of the broker's first listener (what other brokers replicate from).
    pub host: String,
    pub port: i32,
    /// The advertised address of each of the broker's listeners (first one first), for the
    /// clients of each listener; empty in registrations older than listeners.
    #[serde(default)]
    pub endpoints: Vec<Endpoint>,
    pub rack: Option<String>,
    /// Fenced brokers lead nothing, are in no ISR (except as a partition's last member) and
    /// are not shown to clients.
    pub fenced: bool,
}

/// One advertised listener of a broker (Kafka's `BrokerRegistrationRecord` endpoints).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    /// The listener name.
    pub name: String,
    pub host: String,
    pub port: i32,
}

impl BrokerRegistration {
    /// The broker's address for clients of the listener named `listener`: that listener's
    /// endpoint, or the first listener's when the broker has none by that name.
    pub fn endpoint(&self, listener: &str) -> (&str, i32) {
        match self.endpoints.iter().find(|e| e.name == listener) {
            Some(e) => (&e.host, e.port),
            None => (&self.host, self.port),
        }
    }
}

/// One partition's replica state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionState {
    pub index: i32,
    /// Preferred order: the first replica is the preferred leader.
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
    /// -1 when no ISR member is alive.
    pub leader: i32,
    pub leader_epoch: i32,
    /// Grows with every change of this partition (AlterPartition's compare-and-set key).
    pub partition_epoch: i32,
    /// A reassignment in progress: replicas being added (not in the original replica set),
    /// sorted. `replicas` holds the target first, then the replicas being removed.
    #[serde(default)]
    pub adding_replicas: Vec<i32>,
    /// Replicas being removed by a reassignment in progress, sorted.
    #[serde(default)]
    pub removing_replicas: Vec<i32>,
}

/// One topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicState {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: Vec<PartitionState>,
    /// Per-topic config overrides (Kafka names).
    pub configs: BTreeMap<String, String>,
}

impl TopicState {
    /// The topic as handlers see it.
    pub fn to_info(&self) -> TopicInfo {
        TopicInfo {
            name: self.name.clone(),
            id: self.id,
            partitions: self
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    index: p.index,
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                })
                .collect(),
            configs: self.configs.clone(),
        }
    }
}

/// The whole cluster metadata at one log index.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Chosen once, by the first controller leader; every broker must agree with it.
    pub cluster_id: String,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    pub topics: BTreeMap<String, TopicState>,
    /// The first producer id not yet handed to any broker (Kafka's `ProducerIdsRecord`).
    pub next_producer_id: i64,
    /// GROUP config overrides (Kafka's `ConfigRecord` of GROUP resources), by group id, so
    /// every broker — each share-partition leader — applies the same ones.
    #[serde(default)]
    pub group_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// The Raft log index of the last command applied.
    pub index: u64,
}

/// A change proposed to the quorum. Values the proposer chose at random travel inside.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    /// Sets the cluster id if none is set yet.
    Init {
        cluster_id: String,
    },
    RegisterBroker {
        id: i32,
        incarnation: String,
        host: String,
        port: i32,
        /// Every listener's advertised address (absent in commands older than listeners).
        #[serde(default)]
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
    },
    /// Session expired (or the broker asked): out of every ISR, leaderships moved.
    FenceBroker {
        id: i32,
        epoch: i64,
    },
    /// The broker caught up with the metadata: it may lead and be placed again.
    UnfenceBroker {
        id: i32,
        epoch: i64,
    },
    CreateTopic {
        name: String,
        id: uuid::Uuid,
        num_partitions: i32,
        replication_factor: i16,
        /// Explicit assignment, partition index → replicas (empty = placement).
        assignments: Vec<(i32, Vec<i32>)>,
        configs: BTreeMap<String, String>,
        /// Where placement starts in the broker list (chosen at random by the proposer).
        start: u32,
    },
    DeleteTopic {
        name: String,
    },
    CreatePartitions {
        name: String,
        total: i32,
        assignments: Option<Vec<Vec<i32>>>,
        start: u32,
    },
    /// A block of [`PRODUCER_ID_BLOCK`] producer ids for one broker (Kafka's
    /// AllocateProducerIds), so that ids are unique across the cluster.
    AllocateProducerIds {
        broker: i32,
        epoch: i64,
    },
    /// Replaces a topic's config overrides.
    SetTopicConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// Replaces a group's config overrides (none = the group's entry goes).
    SetGroupConfigs {
        name: String,
        configs: BTreeMap<String, String>,
    },
    /// ElectLeaders for one partition: `unclean` false = the preferred replica (the first), if
    /// live and in the ISR; true = any live replica when the partition has no leader.
    ElectLeader {
        topic: String,
        partition: i32,
        unclean: bool,
    },
    /// AlterPartitionReassignments for one partition: `target` replaces the replica set
    /// (`None` cancels the reassignment in progress). Rules in `image/reassign.rs`.
    ReassignPartition {
        topic: String,
        partition: i32,
        target: Option<Vec<i32>>,
        /// KIP-860: false refuses a target whose size differs from the replica set's.
        allow_rf_change: bool,
    },
    /// A partition leader's ISR change (Kafka's AlterPartition): a compare-and-set on the
    /// partition epoch the leader last saw, so at most one change per epoch wins. An ISR
    /// that now holds every replica being added completes the reassignment in progress.
    AlterPartition {
        broker: i32,
        broker_epoch: i64,
        topic: String,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
    },
}

/// What applying a command answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    Done,
    Registered {
        epoch: i64,
        cluster_id: String,
    },
    /// Producer ids `first .. first + PRODUCER_ID_BLOCK`.
    ProducerIds {
        first: i64,
    },
    Topic(TopicState),
    /// The partition's state after an accepted AlterPartition.
    Partition(PartitionState),
    /// Refused: a Kafka error code and a message for the client.
    Error {
        code: i16,
        message: String,
    },
}

impl Reply {
    fn from_topic_error(e: TopicError) -> Reply {
        Reply::Error {
            code: e.kafka_code(),
            message: e.to_string(),
        }
    }
}

impl Image {
    /// Brokers that may lead and be placed: registered and not fenced, by id.
    pub fn live_brokers(&self) -> impl Iterator<Item = &BrokerRegistration> {
        self.brokers.values().filter(|b| !b.fenced)
    }

    /// Partitions whose preferred replica (the first) is live and in the ISR but does not
    /// lead: what a preferred election would move (`auto.leader.rebalance.enable`).
    pub fn imbalanced_partitions(&self) -> Vec<(String, i32)> {
        let mut out = Vec::new();
        for t in self.topics.values() {
            for p in &t.partitions {
                let Some(&preferred) = p.replicas.first() else {
                    continue;
                };
                if p.leader != preferred && p.isr.contains(&preferred) && self.is_live(preferred) {
                    out.push((t.name.clone(), p.index));
                }
            }
        }
        out
    }

    fn is_live(&self, id: i32) -> bool {
        self.brokers.get(&id).is_some_and(|b| !b.fenced)
    }

    /// Applies `cmd`, committed at log `index`. Deterministic (see the module header).
    pub fn execute(&mut self, cmd: &Command, index: u64) -> Reply {
        self.index = index;
        match cmd {
            Command::Init { cluster_id } => {
                if self.cluster_id.is_empty() {
                    self.cluster_id = cluster_id.clone();
                }
                Reply::Done
            }
            Command::RegisterBroker {
                id,
                incarnation,
                host,
                port,
                endpoints,
                rack,
            } => {
                if let Some(b) = self.brokers.get(id) {
                    if &b.incarnation == incarnation {
                        return Reply::Registered {
                            epoch: b.epoch,
                            cluster_id: self.cluster_id.clone(),
                        };
                    }
                    // A new process for this id: the old one is gone (the controller refuses
                    // a new incarnation while the old session is alive, before proposing).
                    self.fence(*id);
                }
                let epoch = index as i64;
                self.brokers.insert(
                    *id,
                    BrokerRegistration {
                        id: *id,
                        incarnation: incarnation.clone(),
                        epoch,
                        host: host.clone(),
                        port: *port,
                        endpoints: endpoints.clone(),
                        rack: rack.clone(),
                        fenced: true,
                    },
                );
                Reply::Registered {
                    epoch,
                    cluster_id: self.cluster_id.clone(),
                }
            }
            Command::FenceBroker { id, epoch } => {
                if self.brokers.get(id).is_some_and(|b| b.epoch == *epoch) {
                    self.fence(*id);
                    Reply::Done
                } else {
                    stale_epoch(*id, *epoch)
                }
            }
            Command::UnfenceBroker { id, epoch } => {
                if self.brokers.get(id).is_some_and(|b| b.epoch == *epoch) {
                    self.unfence(*id);
                    Reply::Done
                } else {
                    stale_epoch(*id, *epoch)
                }
            }
            Command::CreateTopic {
                name,
                id,
                num_partitions,
                replication_factor,
                assignments,
                configs,
                start,
            } => match self.create_topic(
                name,
                *id,
                *num_partitions,
                *replication_factor,
                assignments,
                configs,
                *start,
            ) {
                Ok(t) => Reply::Topic(t),
                Err(e) => Reply::from_topic_error(e),
            },
            Command::DeleteTopic { name } => match self.topics.remove(name) {
                Some(t) => Reply::Topic(t),
                None => Reply::from_topic_error(TopicError::Unknown(name.clone())),
            },
            Command::CreatePartitions {
                name,
                total,
                assignments,
                start,
            } => match self.create_partitions(name, *total, assignments.as_deref(), *start) {
                Ok(t) => Reply::Topic(t),
                Err(e) => Reply::from_topic_error(e),
            },
            Command::AllocateProducerIds { broker, epoch } => {
                if self.brokers.get(broker).is_none_or(|b| b.epoch != *epoch) {
                    return stale_epoch(*broker, *epoch);
                }
                let first = self.next_producer_id;
                self.next_producer_id += PRODUCER_ID_BLOCK;
                Reply::ProducerIds { first }
            }
            Command::ElectLeader {
                topic,
                partition,
                unclean,
            } => {
                let live: BTreeSet<i32> = self.live_brokers().map(|b| b.id).collect();
                let p = match partition_mut(&mut self.topics, topic, *partition) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                match elect_on_request(p, &live, *unclean) {
                    Ok(()) => {
                        p.partition_epoch += 1;
                        Reply::Partition(p.clone())
                    }
                    Err((e, message)) => refuse(e, message),
                }
            }
            Command::AlterPartition {
                broker,
                broker_epoch,
                topic,
                partition,
                leader_epoch,
                partition_epoch,
                isr,
            } => {
                if self
                    .brokers
                    .get(broker)
                    .is_none_or(|b| b.epoch != *broker_epoch)
                {
                    return stale_epoch(*broker, *broker_epoch);
                }
                let live: BTreeSet<i32> = self.live_brokers().map(|b| b.id).collect();
                let brokers = &self.brokers;
                let p = match partition_mut(&mut self.topics, topic, *partition) {
                    Ok(p) => p,
                    Err(reply) => return reply,
                };
                match check_alter_partition(
                    p,
                    brokers,
                    *broker,
                    *leader_epoch,
                    *partition_epoch,
                    isr,
                ) {
                    Ok(()) => {
                        let before = p.clone();
                        p.isr = p
                            .replicas
                            .iter()
                            .copied()
                            .filter(|r| isr.contains(r))
                            .collect();
                        reassign::complete_if_ready(p);
                        reassign::settle(&before, p, &live);
                        Reply::Partition(p.clone())
                    }
                    Err(reply) => reply,
                }
            }
            Command::ReassignPartition {
                topic,
                partition,
                target,
                allow_rf_change,
            } => {
                let live: BTreeSet<i32> = self.live_brokers().map(|b| b.id).collect();
                let registered: BTreeSet<i32> = self.brokers.keys().copied().collect();
                let unclean = self
                    .topics
                    .get(topic)
                    .is_some_and(|t| unclean_allowed(&t.configs));
                let p = match partition_mut(&mut self.topics, topic, *partition) {
                    Ok(p) => p,
                    Err(_) => {
                        let e = if self.topics.contains_key(topic) {
                            ReassignError::UnknownPartition(topic.clone(), *partition)
                        } else {
                            ReassignError::UnknownTopic(topic.clone())
                        };
                        return refuse_reassign(e);
                    }
                };
                let change = reassign::Change {
                    topic,
                    target: target.as_deref(),
                    allow_rf_change: *allow_rf_change,
                    registered: &registered,
                    live: &live,
                    unclean,
                };
                match reassign::apply(p, &change) {
                    Ok(()) => Reply::Partition(p.clone()),
                    Err(e) => refuse_reassign(e),
                }
            }
            Command::SetTopicConfigs { name, configs } => match self.topics.get_mut(name) {
                Some(t) => {
                    if let Err(e) = topic_config::validate(configs) {
                        return Reply::from_topic_error(TopicError::InvalidConfig(e));
                    }
                    t.configs = configs.clone();
                    Reply::Topic(t.clone())
                }
                None => Reply::from_topic_error(TopicError::Unknown(name.clone())),
            },
            Command::SetGroupConfigs { name, configs } => {
                if let Err(e) = group_config::validate(configs) {
                    return Reply::from_topic_error(TopicError::InvalidConfig(e));
                }
                if configs.is_empty() {
                    self.group_configs.remove(name);
                } else {
                    self.group_configs.insert(name.clone(), configs.clone());
                }
                Reply::Done
            }
        }
    }

    /// Fences broker `id`: out of every ISR it is not the last member of, and each partition
    /// it led gets a new leader by [`elect`] (or none).
    fn fence(&mut self, id: i32) {
        if let Some(b) = self.brokers.get_mut(&id) {
            b.fenced = true;
        }
        let live: BTreeSet<i32> = self.live_brokers().map(|b| b.id).collect();
        for t in self.topics.values_mut() {
            let unclean = unclean_allowed(&t.configs);
            for p in &mut t.partitions {
                let mut changed = false;
                if p.isr.len() > 1 && p.isr.contains(&id) {
                    p.isr.retain(|&r| r != id);
                    changed = true;
                }
                if p.leader == id {
                    elect(p, &live, unclean);
                    changed = true;
                }
                if changed {
                    p.partition_epoch += 1;
                }
            }
        }
    }

    /// Unfences broker `id`; partitions without a leader get one by [`elect`] (the broker
    /// was their last in-sync replica, or an unclean election is allowed).
    fn unfence(&mut self, id: i32) {
        if let Some(b) = self.brokers.get_mut(&id) {
            b.fenced = false;
        }
        let live: BTreeSet<i32> = self.live_brokers().map(|b| b.id).collect();
        for t in self.topics.values_mut() {
            let unclean = unclean_allowed(&t.configs);
            for p in &mut t.partitions {
                if p.leader == -1 && p.replicas.contains(&id) && elect(p, &live, unclean) {
                    p.partition_epoch += 1;
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn create_topic(
        &mut self,
        name: &str,
        id: uuid::Uuid,
        num_partitions: i32,
        replication_factor: i16,
        assignments: &[(i32, Vec<i32>)],
        configs: &BTreeMap<String, String>,
        start: u32,
    ) -> Result<TopicState, TopicError> {
        validate_topic_name(name)?;
        if self.topics.contains_key(name) {
            return Err(TopicError::AlreadyExists(name.to_string()));
        }
        let folded = name.replace('.', "_");
        if let Some(other) = self.topics.keys().find(|t| t.replace('.', "_") == folded) {
            return Err(TopicError::InvalidName(format!(
                "Topic '{name}' collides with existing topic: {other}"
            )));
        }
        topic_config::validate(configs).map_err(TopicError::InvalidConfig)?;
        let replica_sets = if assignments.is_empty() {
            if !(1..=MAX_PARTITIONS).contains(&num_partitions) {
                return Err(TopicError::InvalidPartitions(format!(
                    "Number of partitions must be larger than 0 and at most {MAX_PARTITIONS}."
                )));
            }
            self.check_replication_factor(replication_factor)?;
            self.place(0..num_partitions, replication_factor as usize, start)
        } else {
            let mut sorted = assignments.to_vec();
            sorted.sort_by_key(|(i, _)| *i);
            if sorted.len() as i32 > MAX_PARTITIONS {
                return Err(TopicError::InvalidPartitions(format!(
                    "Number of partitions must be at most {MAX_PARTITIONS}"
                )));
            }
            let mut sets = Vec::with_capacity(sorted.len());
            for (expected, (index, replicas)) in sorted.into_iter().enumerate() {
                if index != expected as i32 {
                    return Err(TopicError::InvalidReplicaAssignment(
                        "Partitions should be a consecutive 0-based integer sequence".into(),
                    ));
                }
                self.check_assignment(&replicas, sets.first().map(Vec::len))?;
                sets.push(replicas);
            }
            sets
        };
        let topic = TopicState {
            name: name.to_string(),
            id,
            partitions: replica_sets
                .into_iter()
                .enumerate()
                .map(|(i, replicas)| self.new_partition(i as i32, replicas))
                .collect(),
            configs: configs.clone(),
        };
        self.topics.insert(name.to_string(), topic.clone());
        Ok(topic)
    }

    fn create_partitions(
        &mut self,
        name: &str,
        total: i32,
        assignments: Option<&[Vec<i32>]>,
        start: u32,
    ) -> Result<TopicState, TopicError> {
        let topic = self
            .topics
            .get(name)
            .ok_or_else(|| TopicError::Unknown(name.to_string()))?;
        let current = topic.partitions.len() as i32;
        check_growth(current, total)?;
        // The first partition's target size: a reassignment in progress lists more replicas.
        let rf = topic
            .partitions
            .first()
            .map_or(1, |p| p.replicas.len() - p.removing_replicas.len());
        let sets = match assignments {
            Some(a) => {
                if a.len() as i32 != total - current {
                    return Err(TopicError::InvalidReplicaAssignment(format!(
                        "Increasing the number of partitions by {} but {} assignments provided.",
                        total - current,
                        a.len()
                    )));
                }
                for r in a {
                    self.check_assignment(r, Some(rf))?;
                }
                a.to_vec()
            }
            None => {
                self.check_replication_factor(rf as i16)?;
                self.place(current..total, rf, start)
            }
        };
        let added: Vec<PartitionState> = sets
            .into_iter()
            .zip(current..)
            .map(|(replicas, i)| self.new_partition(i, replicas))
            .collect();
        let topic = self.topics.get_mut(name).expect("checked above");
        topic.partitions.extend(added);
        Ok(topic.clone())
    }

    fn check_replication_factor(&self, rf: i16) -> Result<(), TopicError> {
        let live = self.live_brokers().count();
        if rf < 1 {
            return Err(TopicError::InvalidReplicationFactor(
                "Replication factor must be larger than 0, or -1 to use the default value.".into(),
            ));
        }
        if rf as usize > live {
            return Err(TopicError::InvalidReplicationFactor(format!(
                "Unable to replicate the partition {rf} time(s): The target replication factor of {rf} cannot be reached because only {live} broker(s) are registered."
            )));
        }
        Ok(())
    }

    /// Kafka's manual-assignment rules: non-empty, every replica a live broker, each once,
    /// the same size as the other partitions.
    fn check_assignment(&self, replicas: &[i32], size: Option<usize>) -> Result<(), TopicError> {
        if replicas.is_empty() {
            return Err(TopicError::InvalidReplicaAssignment(
                "The manual partition assignment includes an empty replica list.".into(),
            ));
        }
        let unique: BTreeSet<i32> = replicas.iter().copied().collect();
        if unique.len() != replicas.len() {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes the partition {replicas:?} with duplicate replicas."
            )));
        }
        if let Some(bad) = replicas.iter().find(|r| !self.is_live(**r)) {
            return Err(TopicError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes broker {bad}, but no such broker is registered."
            )));
        }
        if size.is_some_and(|s| s != replicas.len()) {
            return Err(TopicError::InvalidReplicaAssignment(
                "The manual partition assignment includes partitions with different replication factors.".into(),
            ));
        }
        Ok(())
    }

    fn new_partition(&self, index: i32, replicas: Vec<i32>) -> PartitionState {
        PartitionState {
            index,
            leader: replicas[0],
            isr: replicas.clone(),
            replicas,
            leader_epoch: 0,
            partition_epoch: 0,
            adding_replicas: Vec::new(),
            removing_replicas: Vec::new(),
        }
    }

    /// Places `rf` replicas for each partition in `partitions` on the live brokers, as Kafka's
    /// rack-aware assignment does: a broker list alternating racks; the first replica of
    /// consecutive partitions on consecutive brokers (leaders spread); the followers taken in
    /// a shifted order (so that pairs of brokers vary), skipping brokers on a rack that
    /// already holds a replica of the partition until every rack holds one. `rf` ≤ live
    /// brokers (checked by the callers).
    fn place(&self, partitions: std::ops::Range<i32>, rf: usize, start: u32) -> Vec<Vec<i32>> {
        let list = rack_alternated(self.live_brokers());
        let rack_of = |id: i32| self.brokers.get(&id).and_then(|b| b.rack.as_deref());
        let racks: BTreeSet<Option<&str>> = list.iter().map(|&id| rack_of(id)).collect();
        let n = list.len();
        partitions
            .map(|p| {
                let p = p as usize;
                let first = (start as usize + p) % n;
                let mut replicas = vec![list[first]];
                let mut used: BTreeSet<Option<&str>> = [rack_of(list[first])].into();
                if n > 1 {
                    let shift = (start as usize / n + p / n) % (n - 1);
                    let order: Vec<i32> = (0..n - 1)
                        .map(|j| list[(first + 1 + (shift + j) % (n - 1)) % n])
                        .collect();
                    while replicas.len() < rf {
                        let every_rack = used.len() == racks.len();
                        let next = order
                            .iter()
                            .copied()
                            .find(|b| {
                                !replicas.contains(b)
                                    && (every_rack || !used.contains(&rack_of(*b)))
                            })
                            .expect("rf <= live brokers");
                        used.insert(rack_of(next));
                        replicas.push(next);
                    }
                }
                replicas
            })
            .collect()
    }
}

/// Broker ids ordered so that consecutive entries are on different racks where possible:
/// racks in name order, taking one broker from each in turn (brokers without a rack form
/// one group of their own).
fn rack_alternated<'a>(brokers: impl Iterator<Item = &'a BrokerRegistration>) -> Vec<i32> {
    let mut by_rack: BTreeMap<Option<&str>, Vec<i32>> = BTreeMap::new();
    for b in brokers {
        by_rack.entry(b.rack.as_deref()).or_default().push(b.id);
    }
    let mut out = Vec::new();
    let mut round = 0;
    loop {
        let mut any = false;
        for ids in by_rack.values() {
            if let Some(id) = ids.get(round) {
                out.push(*id);
                any = true;
            }
        }
        if !any {
            return out;
        }
        round += 1;
    }
}

/// Kafka's leader choice (`PartitionChangeBuilder.electAnyLeader`): the first live ISR member
/// in replica order; else, only with `unclean`, the first live replica, which becomes the whole
/// ISR (records it lacks are lost: that is what an unclean election means); else no leader.
/// Bumps the leader epoch when the leader changes; true if it did.
fn elect(p: &mut PartitionState, live: &BTreeSet<i32>, unclean: bool) -> bool {
    let clean = p
        .replicas
        .iter()
        .copied()
        .find(|r| p.isr.contains(r) && live.contains(r));
    let leader = match clean {
        Some(r) => r,
        None => match p.replicas.iter().copied().find(|r| live.contains(r)) {
            Some(r) if unclean => {
                tracing::warn!(partition = p.index, leader = r, "unclean leader election");
                p.isr = vec![r];
                r
            }
            _ => -1,
        },
    };
    if leader == p.leader {
        return false;
    }
    p.leader = leader;
    p.leader_epoch += 1;
    true
}

/// ElectLeaders' rules (Kafka's `ReplicationControlManager.electLeader`): a preferred election
/// moves the leadership to the first replica when it is live and in the ISR; an unclean one
/// elects any live replica of a partition that has no leader (its ISR becomes that replica).
fn elect_on_request(
    p: &mut PartitionState,
    live: &BTreeSet<i32>,
    unclean: bool,
) -> Result<(), (KafkaError, String)> {
    let not_needed = || {
        (
            KafkaError::ElectionNotNeeded,
            "Leader election not needed for topic partition.".to_string(),
        )
    };
    if unclean {
        if p.leader >= 0 {
            return Err(not_needed());
        }
        if !elect(p, live, true) {
            return Err((
                KafkaError::EligibleLeadersNotAvailable,
                format!("Failed to elect leader for partition {} under strategy UNCLEAN: no live replica", p.index),
            ));
        }
        return Ok(());
    }
    let preferred = p.replicas.first().copied().unwrap_or(-1);
    if preferred == p.leader {
        return Err(not_needed());
    }
    if !live.contains(&preferred) || !p.isr.contains(&preferred) {
        return Err((
            KafkaError::PreferredLeaderNotAvailable,
            format!("Failed to elect leader for partition {} under strategy PREFERRED: preferred replica {preferred} is not live or not in the ISR {:?}", p.index, p.isr),
        ));
    }
    p.leader = preferred;
    p.leader_epoch += 1;
    Ok(())
}

/// The topic's `unclean.leader.election.enable` (Kafka's default: false).
fn unclean_allowed(configs: &BTreeMap<String, String>) -> bool {
    configs
        .get("unclean.leader.election.enable")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// AlterPartition's validation (Kafka's `validateAlterPartitionData`), in Kafka's order.
fn check_alter_partition(
    p: &PartitionState,
    brokers: &BTreeMap<i32, BrokerRegistration>,
    broker: i32,
    leader_epoch: i32,
    partition_epoch: i32,
    isr: &[i32],
) -> Result<(), Reply> {
    if leader_epoch > p.leader_epoch || partition_epoch > p.partition_epoch {
        return Err(refuse(
            KafkaError::NotController,
            "the request is newer than the controller's partition state".into(),
        ));
    }
    if leader_epoch < p.leader_epoch {
        return Err(refuse(
            KafkaError::FencedLeaderEpoch,
            format!(
                "leader epoch {leader_epoch} is older than {}",
                p.leader_epoch
            ),
        ));
    }
    if p.leader != broker {
        return Err(refuse(
            KafkaError::InvalidRequest,
            format!(
                "broker {broker} is not the leader (the leader is {})",
                p.leader
            ),
        ));
    }
    if partition_epoch < p.partition_epoch {
        return Err(refuse(
            KafkaError::InvalidUpdateVersion,
            format!(
                "partition epoch {partition_epoch} is older than {}",
                p.partition_epoch
            ),
        ));
    }
    let distinct: BTreeSet<i32> = isr.iter().copied().collect();
    if distinct.len() != isr.len()
        || !isr.iter().all(|r| p.replicas.contains(r))
        || !isr.contains(&broker)
    {
        return Err(refuse(
            KafkaError::InvalidRequest,
            format!(
                "ISR {isr:?} must hold the leader and only replicas of {:?}",
                p.replicas
            ),
        ));
    }
    if let Some(r) = isr
        .iter()
        .find(|r| !p.isr.contains(r) && brokers.get(r).is_none_or(|b| b.fenced))
    {
        return Err(refuse(
            KafkaError::IneligibleReplica,
            format!("broker {r} is fenced or not registered"),
        ));
    }
    Ok(())
}

/// The partition a command names, or UNKNOWN_TOPIC_OR_PARTITION.
fn partition_mut<'a>(
    topics: &'a mut BTreeMap<String, TopicState>,
    topic: &str,
    partition: i32,
) -> Result<&'a mut PartitionState, Reply> {
    topics
        .get_mut(topic)
        .and_then(|t| t.partitions.get_mut(usize::try_from(partition).ok()?))
        .ok_or_else(|| {
            refuse(
                KafkaError::UnknownTopicOrPartition,
                format!("No such partition as {topic}-{partition}"),
            )
        })
}

fn refuse_reassign(e: ReassignError) -> Reply {
    Reply::Error {
        code: e.kafka_code(),
        message: e.to_string(),
    }
}

fn refuse(e: KafkaError, message: String) -> Reply {
    Reply::Error {
        code: e.code(),
        message,
    }
}

fn stale_epoch(id: i32, epoch: i64) -> Reply {
    Reply::Error {
        code: KafkaError::StaleBrokerEpoch.code(),
        message: format!("broker {id} epoch {epoch} is not its current registration"),
    }
}

mod reassign;
#[cfg(test)]
mod tests;
