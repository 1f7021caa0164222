//! Cluster mode in the controller's two directions.
//!
//! **Out: forwarding.** On a cluster broker the topic workflows (create, delete, grow, topic
//! configs) are decided by the controller quorum, never locally: each front-door method
//! sends a command and then waits until the resulting image has been applied here, so that
//! the broker that answered the client also answers its next Metadata request with the change.
//! `validate_only` runs the command against a copy of the latest image, which is exactly the
//! validation the quorum would do. Leader elections and reassignments go the same way.
//!
//! **In: applying an image** (Kafka's `ReplicaManager.applyDelta` with the metadata loader).
//! The difference between the image and the local view is applied with the same crash-safe
//! workflows the single-node broker uses (`controller.rs`): topics gone from the image are
//! deleted with their logs and offsets; new topics, new partitions and changed leadership or
//! configs are stored and published; a partition directory is created only where this broker
//! is a replica, and a replica a reassignment moved off this broker has its log deleted once
//! the store no longer lists this broker among its replicas (Kafka's StopReplica with
//! delete). The store keeps every topic (the broker's copy of the image), so a restarted
//! broker serves its last known metadata until the controller's image replaces it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::controller::{Controller, NewTopic, TopicError};
use super::image::{Command, Image, PartitionState, Reply, TopicState};
use super::leadership::{ElectionError, ElectionType, ReassignError};
use super::member::{Member, MemberError};
use super::metadata::TopicInfo;

/// How long a front-door change waits for the quorum (Kafka's admin request timeout is 30 s).
const SUBMIT_DEADLINE: Duration = Duration::from_secs(25);

impl From<MemberError> for TopicError {
    fn from(e: MemberError) -> TopicError {
        TopicError::Cluster {
            code: e.kafka_code(),
            message: e.to_string(),
        }
    }
}

impl From<MemberError> for ElectionError {
    fn from(e: MemberError) -> ElectionError {
        ElectionError::Refused {
            code: e.kafka_code(),
            message: e.to_string(),
        }
    }
}

impl From<MemberError> for ReassignError {
    fn from(e: MemberError) -> ReassignError {
        ReassignError::Refused {
            code: e.kafka_code(),
            message: e.to_string(),
        }
    }
}

/// Commits a command the quorum answers with the partition's new state (ElectLeader,
/// ReassignPartition). Blocking.
fn submit_partition_command(member: &Member, cmd: Command) -> Result<PartitionState, MemberError> {
    let handle = tokio::runtime::Handle::current();
    match handle.block_on(member.submit(cmd, SUBMIT_DEADLINE))? {
        Reply::Partition(p) => Ok(p),
        other => Err(MemberError::Refused {
            code: crate::kafka_error::KafkaError::UnknownServerError.code(),
            message: format!("unexpected controller reply {other:?}"),
        }),
    }
}

/// Polls `pending` every 20 ms while it holds, for at most [`SUBMIT_DEADLINE`]; false if it
/// still held at the deadline. A change the quorum committed is answered once it is applied
/// here, so the broker that answered also shows it in its next Metadata answer.
fn wait_while(pending: impl Fn() -> bool) -> bool {
    let start = Instant::now();
    while pending() {
        if start.elapsed() > SUBMIT_DEADLINE {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

impl Controller {
    /// Switches this controller to cluster mode: changes go through `member`'s quorum.
    pub fn join_cluster(&self, member: Arc<Member>) {
        let _ = self.remote.set(member);
    }

    /// The quorum link in cluster mode.
    pub fn member(&self) -> Option<&Arc<Member>> {
        self.remote.get()
    }

    /// Cluster mode's create/delete/grow/configs: commit `cmd`, wait until the change is
    /// applied here (`applied` is true once it is), return the topic it answered.
    pub(super) fn forward(
        &self,
        member: &Member,
        cmd: Command,
        validate_only: bool,
        applied: impl Fn(&Controller, &TopicState) -> bool,
    ) -> Result<TopicInfo, TopicError> {
        if validate_only {
            let mut copy = (*member.image()).clone();
            let index = copy.index + 1;
            return match copy.execute(&cmd, index) {
                Reply::Topic(t) => Ok(t.to_info()),
                Reply::Error { code, message } => Err(TopicError::Cluster { code, message }),
                other => Err(TopicError::InvalidRequest(format!("unexpected {other:?}"))),
            };
        }
        let handle = tokio::runtime::Handle::current();
        let reply = handle.block_on(member.submit(cmd, SUBMIT_DEADLINE))?;
        let Reply::Topic(topic) = reply else {
            return Err(TopicError::InvalidRequest(format!(
                "unexpected controller reply {reply:?}"
            )));
        };
        if !wait_while(|| !applied(self, &topic)) {
            // Committed, but this broker has not caught up: the client retries and sees it.
            return Err(TopicError::Cluster {
                code: crate::kafka_error::KafkaError::RequestTimedOut.code(),
                message: "the change was committed but this broker has not applied it yet".into(),
            });
        }
        Ok(topic.to_info())
    }

    /// Cluster mode's group configs: commit the group's new overrides, wait until this
    /// broker's image has them. Blocking.
    pub(super) fn forward_group_configs(
        &self,
        member: &Member,
        name: &str,
        configs: BTreeMap<String, String>,
    ) -> Result<(), TopicError> {
        let cmd = Command::SetGroupConfigs {
            name: name.to_string(),
            configs: configs.clone(),
        };
        let handle = tokio::runtime::Handle::current();
        handle.block_on(member.submit(cmd, SUBMIT_DEADLINE))?;
        let applied = || {
            member
                .image()
                .group_configs
                .get(name)
                .map_or(configs.is_empty(), |c| *c == configs)
        };
        if !wait_while(|| !applied()) {
            return Err(TopicError::Cluster {
                code: crate::kafka_error::KafkaError::RequestTimedOut.code(),
                message: "the change was committed but this broker has not applied it yet".into(),
            });
        }
        Ok(())
    }

    /// ElectLeaders in cluster mode: the quorum elects, then this waits until the new leader
    /// epoch is applied here.
    pub(super) fn forward_election(
        &self,
        member: &Member,
        topic: &str,
        partition: i32,
        kind: ElectionType,
    ) -> Result<(), ElectionError> {
        let current = self.view.topic(topic);
        let local = current.as_ref().and_then(|t| t.partition(partition));
        if kind == ElectionType::Preferred
            && local.is_some_and(|p| p.replicas.first() == Some(&p.leader))
        {
            return Err(ElectionError::NotNeeded);
        }
        let cmd = Command::ElectLeader {
            topic: topic.to_string(),
            partition,
            unclean: kind == ElectionType::Unclean,
        };
        let p = submit_partition_command(member, cmd)?;
        // Committed either way: a broker slow to apply it still answers success.
        let _ = wait_while(|| {
            self.view
                .topic(topic)
                .and_then(|t| t.partition(partition).map(|q| q.leader_epoch))
                .is_none_or(|e| e < p.leader_epoch)
        });
        Ok(())
    }

    /// AlterPartitionReassignments in cluster mode: the quorum validates and starts (or
    /// cancels, or completes at once) the reassignment, then this waits until the partition
    /// epoch it answered is applied here.
    pub(super) fn forward_reassignment(
        &self,
        member: &Member,
        cmd: Command,
    ) -> Result<(), ReassignError> {
        let Command::ReassignPartition {
            topic, partition, ..
        } = &cmd
        else {
            return Err(ReassignError::Store(format!("not a reassignment: {cmd:?}")));
        };
        let (topic, partition) = (topic.clone(), *partition);
        let p = submit_partition_command(member, cmd)?;
        // Committed either way: a broker slow to apply it still answers success.
        let _ = wait_while(|| {
            member.image().topics.get(&topic).is_some_and(|t| {
                usize::try_from(partition)
                    .ok()
                    .and_then(|i| t.partitions.get(i))
                    .is_some_and(|q| q.partition_epoch < p.partition_epoch)
            })
        });
        Ok(())
    }

    /// CreateTopics in cluster mode: defaults resolved here, placement by the quorum.
    pub(super) fn forward_create(
        &self,
        member: &Member,
        req: &NewTopic,
        validate_only: bool,
    ) -> Result<TopicInfo, TopicError> {
        let explicit = !req.assignments.is_empty();
        if explicit && (req.num_partitions != -1 || req.replication_factor != -1) {
            return Err(TopicError::InvalidRequest(
                "Both numPartitions or replicationFactor and replicasAssignments were set. Both cannot be used at the same time.".into(),
            ));
        }
        let cmd = Command::CreateTopic {
            name: req.name.clone(),
            id: uuid::Uuid::new_v4(),
            num_partitions: if req.num_partitions == -1 {
                self.defaults.num_partitions
            } else {
                req.num_partitions
            },
            replication_factor: if req.replication_factor == -1 {
                self.defaults.default_replication_factor
            } else {
                req.replication_factor
            },
            assignments: req.assignments.clone(),
            configs: req.configs.clone(),
            start: rand_start(),
        };
        self.forward(member, cmd, validate_only, |c, t| {
            c.view.topic(&t.name).is_some_and(|v| v.id == t.id)
        })
    }

    /// Cluster mode: an internal topic (`__consumer_offsets`, `__transaction_state`), created
    /// on first use as Kafka does (`partitions` partitions, `replication_factor` replicas capped
    /// by the live brokers, compacted). Blocking.
    pub fn ensure_internal_topic(
        &self,
        member: &Member,
        name: &str,
        partitions: i32,
        replication_factor: i16,
    ) -> Result<Arc<TopicInfo>, TopicError> {
        if let Some(t) = self.view.topic(name) {
            return Ok(t);
        }
        let live = member.image().live_brokers().count().max(1);
        let req = NewTopic {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor: replication_factor.min(live as i16),
            assignments: Vec::new(),
            configs: [("cleanup.policy".to_string(), "compact".to_string())].into(),
        };
        match self.forward_create(member, &req, false) {
            Ok(_) | Err(TopicError::AlreadyExists(_)) => {}
            Err(TopicError::Cluster { code, .. })
                if code == crate::kafka_error::KafkaError::TopicAlreadyExists.code() => {}
            Err(e) => return Err(e),
        }
        wait_while(|| self.view.topic(name).is_none());
        self.view.topic(name).ok_or_else(|| TopicError::Cluster {
            code: crate::kafka_error::KafkaError::CoordinatorNotAvailable.code(),
            message: format!("{name} is not known to this broker yet"),
        })
    }

    /// Applies `image` to this broker: the difference with the local view (see the header).
    /// Blocking.
    pub fn apply_image(&self, image: &Image, now_ms: i64) -> Result<(), TopicError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let this = self.node.node_id;
        for local in self.view.topics() {
            let keep = image
                .topics
                .get(&local.name)
                .is_some_and(|t| t.id == local.id);
            if !keep {
                self.delete_locked(&local.name)?;
            }
        }
        for t in image.topics.values() {
            let info = t.to_info();
            let missing: Vec<i32> = t
                .partitions
                .iter()
                .filter(|p| p.replicas.contains(&this) && self.logs.get(&t.name, p.index).is_none())
                .map(|p| p.index)
                .collect();
            // Replicas a reassignment moved off this broker (Kafka's StopReplica with delete).
            let removed: Vec<i32> = t
                .partitions
                .iter()
                .filter(|p| {
                    !p.replicas.contains(&this) && self.logs.get(&t.name, p.index).is_some()
                })
                .map(|p| p.index)
                .collect();
            let current = self.view.topic(&t.name);
            if !missing.is_empty() {
                self.commit_partitions(&info, &missing, now_ms)?;
                if current.is_none() {
                    tracing::info!(topic = %t.name, id = %t.id, partitions = t.partitions.len(), "topic from the controller");
                }
            } else if current.as_deref() != Some(&info) {
                self.store.put_topic(&info.to_record())?;
                self.view.upsert(info.clone());
            }
            if current.is_some_and(|c| c.configs != info.configs) {
                self.apply_log_config(&[info], now_ms);
            }
            if !removed.is_empty() {
                // After the store commit above: a crash before the directories are gone
                // leaves ones boot removes (see `boot.rs`).
                self.logs.delete_partitions(&t.name, &removed)?;
                tracing::info!(topic = %t.name, partitions = ?removed, "replicas moved off this broker: logs deleted");
            }
        }
        Ok(())
    }
}

/// A placement start (so that leaders of successive topics do not all begin on one broker).
pub(super) fn rand_start() -> u32 {
    (uuid::Uuid::new_v4().as_u128() % 1_000_003) as u32
}
