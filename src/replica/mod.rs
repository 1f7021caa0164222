//! The partition layer, Kafka's ReplicaManager and Partition: what stands between the Kafka
//! handlers and the log engine, so that handlers only translate wire ↔ domain.
//!
//! It owns:
//! - **Resolving** a (topic, partition) against the metadata image and this broker's logs,
//!   once per request entry.
//! - **Leadership and epoch fencing.** Only the partition's leader serves produce, fetch,
//!   ListOffsets, OffsetForLeaderEpoch, DeleteRecords and DescribeProducers
//!   (NOT_LEADER_OR_FOLLOWER otherwise). A client's `current_leader_epoch` must equal the
//!   partition's: an older one is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH (the
//!   client knows of a leader change this broker has not seen yet); -1 means "do not check".
//!   This is Kafka's `Partition.checkCurrentLeaderEpoch`.
//! - **The ack policy.** `acks=0` and `acks=1` are answered once the leader has appended;
//!   `acks=-1` (all) needs `min.insync.replicas` in the ISR before the append
//!   (NOT_ENOUGH_REPLICAS, nothing written) and is answered once the high watermark covers the
//!   batch (NOT_ENOUGH_REPLICAS_AFTER_APPEND if the ISR shrank below it meanwhile,
//!   REQUEST_TIMED_OUT after the request's timeout, NOT_LEADER_OR_FOLLOWER if leadership moved).
//!   With one replica the high watermark is the log end, so both acknowledge after the append.
//!   Independently of `acks`, the topic's `flush.messages` makes the acknowledgement wait for
//!   an fsync covering the batch (shared by concurrent producers, `LogManager::flush_if_needed`).
//! - **Transaction markers** (`txn.rs`): the coordinator's way to end a transaction on a
//!   partition, written on the leader and acknowledged like an `acks=all` produce.
//! - **Replication** (cluster mode only; `cluster.rs`): which partitions this broker leads
//!   (`leader.rs`: followers' fetch state, ISR, high watermark) and follows (`fetcher.rs`),
//!   applied from each metadata image.
//!
//! It takes the log manager and the metadata image, not the broker. A single broker never
//! enters cluster mode: its logs keep the high watermark at the log end and no fetcher, ISR
//! or proposal exists.

use std::sync::{Arc, OnceLock};

use crate::cluster::MetadataView;
use crate::kafka_error::KafkaError;
use crate::log::{LogError, LogManager, PartitionLog};

mod cluster;
mod fetcher;
pub mod leader;
mod txn;

use cluster::Replication;
pub use leader::LeaderState;
pub use txn::MarkerError;

/// Why a partition cannot be served by this broker for a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PartitionError {
    #[error("unknown topic or partition")]
    UnknownTopicOrPartition,
    #[error("this broker is not the partition's leader (the leader is broker {leader})")]
    NotLeader { leader: i32, leader_epoch: i32 },
    #[error("leader epoch {requested} is older than the partition's current epoch {current}")]
    FencedLeaderEpoch { requested: i32, current: i32 },
    #[error("leader epoch {requested} is newer than the partition's current epoch {current}")]
    UnknownLeaderEpoch { requested: i32, current: i32 },
    #[error("the in-sync replicas ({isr}) are fewer than min.insync.replicas ({min})")]
    NotEnoughReplicas { isr: usize, min: i32 },
}

impl PartitionError {
    /// The Kafka error code a response carries.
    pub fn kafka_code(&self) -> i16 {
        match self {
            PartitionError::UnknownTopicOrPartition => KafkaError::UnknownTopicOrPartition,
            PartitionError::NotLeader { .. } => KafkaError::NotLeaderOrFollower,
            PartitionError::FencedLeaderEpoch { .. } => KafkaError::FencedLeaderEpoch,
            PartitionError::UnknownLeaderEpoch { .. } => KafkaError::UnknownLeaderEpoch,
            PartitionError::NotEnoughReplicas { .. } => KafkaError::NotEnoughReplicas,
        }
        .code()
    }
}

/// A partition this broker leads, resolved for one request entry.
#[derive(Debug, Clone)]
pub struct LeaderPartition {
    pub log: Arc<PartitionLog>,
    /// The partition's current leader epoch (stamped on appended batches).
    pub leader_epoch: i32,
    /// Cluster mode: the leader's replication state (followers, ISR, high watermark).
    pub replication: Option<Arc<LeaderState>>,
}

/// Why an appended batch was not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum AckError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error("the batch was written, but the in-sync replicas ({isr}) fell below min.insync.replicas ({min})")]
    NotEnoughReplicasAfterAppend { isr: usize, min: i32 },
    #[error("the in-sync replicas did not all copy the batch within the request's timeout")]
    TimedOut,
    #[error("leadership moved while the batch waited for the in-sync replicas")]
    NotLeader,
}

impl AckError {
    /// The Kafka error code a response carries.
    pub fn kafka_code(&self) -> i16 {
        match self {
            AckError::Log(e) => e.kafka_code(),
            AckError::NotEnoughReplicasAfterAppend { .. } => {
                KafkaError::NotEnoughReplicasAfterAppend.code()
            }
            AckError::TimedOut => KafkaError::RequestTimedOut.code(),
            AckError::NotLeader => KafkaError::NotLeaderOrFollower.code(),
        }
    }
}

/// The partition layer of one broker.
pub struct ReplicaManager {
    node_id: i32,
    logs: Arc<LogManager>,
    metadata: Arc<MetadataView>,
    /// Cluster mode only (see the module header).
    replication: OnceLock<Arc<Replication>>,
}

impl ReplicaManager {
    pub fn new(node_id: i32, logs: Arc<LogManager>, metadata: Arc<MetadataView>) -> Self {
        ReplicaManager {
            node_id,
            logs,
            metadata,
            replication: OnceLock::new(),
        }
    }

    /// The partition `topic`/`partition` if this broker leads it and `current_leader_epoch`
    /// (-1: unchecked) is its current epoch.
    pub fn leader(
        &self,
        topic: &str,
        partition: i32,
        current_leader_epoch: i32,
    ) -> Result<LeaderPartition, PartitionError> {
        let meta = self.metadata.topic(topic);
        let info = meta
            .as_ref()
            .and_then(|t| t.partition(partition))
            .ok_or(PartitionError::UnknownTopicOrPartition)?;
        if info.leader != self.node_id {
            return Err(PartitionError::NotLeader {
                leader: info.leader,
                leader_epoch: info.leader_epoch,
            });
        }
        check_epoch(current_leader_epoch, info.leader_epoch)?;
        let log = self
            .logs
            .get(topic, partition)
            .ok_or(PartitionError::UnknownTopicOrPartition)?;
        let replication = match self.replication.get() {
            None => None,
            // The image named this broker leader, and the partition layer has not taken the
            // leadership up yet: the client retries.
            Some(r) => Some(r.leader_state(topic, partition, info.leader_epoch).ok_or(
                PartitionError::NotLeader {
                    leader: info.leader,
                    leader_epoch: info.leader_epoch,
                },
            )?),
        };
        Ok(LeaderPartition {
            log,
            leader_epoch: info.leader_epoch,
            replication,
        })
    }

    /// Before an `acks=-1` append: the ISR must hold `min.insync.replicas` members.
    pub fn check_min_insync(
        &self,
        part: &LeaderPartition,
        acks: i16,
    ) -> Result<(), PartitionError> {
        if acks != -1 {
            return Ok(());
        }
        let min = part.log.config().min_insync_replicas;
        let isr = part.replication.as_ref().map_or(1, |s| s.isr_len());
        if (isr as i64) < i64::from(min) {
            return Err(PartitionError::NotEnoughReplicas { isr, min });
        }
        Ok(())
    }

    /// After a leader append: the high watermark may move (an ISR of the leader alone).
    pub fn appended(&self, part: &LeaderPartition) {
        if let (Some(r), Some(state)) = (self.replication.get(), &part.replication) {
            r.advance_high_watermark(state, &part.log);
        }
    }

    /// Waits until an append ending before `end_offset` may be acknowledged under `acks` (see
    /// the module header), for the in-sync replicas until `deadline`. `acks=0` is never
    /// answered, so it never waits.
    pub async fn await_ack(
        &self,
        part: &LeaderPartition,
        acks: i16,
        end_offset: i64,
        deadline: tokio::time::Instant,
    ) -> Result<(), AckError> {
        if acks == 0 {
            return Ok(());
        }
        self.logs.flush_if_needed(&part.log).await?;
        let Some(state) = part.replication.as_ref().filter(|_| acks == -1) else {
            return Ok(());
        };
        let mut hw = part.log.subscribe();
        let mut resigned = state.watch_resigned();
        loop {
            if state.has_resigned() {
                return Err(AckError::NotLeader);
            }
            if *hw.borrow_and_update() >= end_offset {
                break;
            }
            tokio::select! {
                r = hw.changed() => if r.is_err() { return Err(AckError::NotLeader) },
                _ = resigned.changed() => {}
                () = tokio::time::sleep_until(deadline) => return Err(AckError::TimedOut),
            }
        }
        let min = part.log.config().min_insync_replicas;
        let isr = state.maximal_isr_len();
        if (isr as i64) < i64::from(min) {
            return Err(AckError::NotEnoughReplicasAfterAppend { isr, min });
        }
        Ok(())
    }
}

/// Kafka's current-leader-epoch check: -1 skips it.
fn check_epoch(requested: i32, current: i32) -> Result<(), PartitionError> {
    if requested < 0 || requested == current {
        Ok(())
    } else if requested < current {
        Err(PartitionError::FencedLeaderEpoch { requested, current })
    } else {
        Err(PartitionError::UnknownLeaderEpoch { requested, current })
    }
}

#[cfg(test)]
mod tests;
