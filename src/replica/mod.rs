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
//!   `acks=-1` (all) once every in-sync replica has the batch. With one replica the ISR is the
//!   leader, so both acknowledge after the append. Independently of `acks`, the topic's
//!   `flush.messages` makes the acknowledgement wait for an fsync covering the batch (shared by
//!   concurrent producers, `LogManager::flush_if_needed`).
//!
//! It takes the log manager and the metadata image, not the broker: the cluster replaces the
//! image's source (metadata deltas from the controller) without touching the handlers, and
//! adds followers, the high watermark over the ISR and delayed produce here.

use std::sync::Arc;

use crate::cluster::MetadataView;
use crate::kafka_error::KafkaError;
use crate::log::{LogError, LogManager, PartitionLog};

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
}

impl PartitionError {
    /// The Kafka error code a response carries.
    pub fn kafka_code(&self) -> i16 {
        match self {
            PartitionError::UnknownTopicOrPartition => KafkaError::UnknownTopicOrPartition,
            PartitionError::NotLeader { .. } => KafkaError::NotLeaderOrFollower,
            PartitionError::FencedLeaderEpoch { .. } => KafkaError::FencedLeaderEpoch,
            PartitionError::UnknownLeaderEpoch { .. } => KafkaError::UnknownLeaderEpoch,
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
}

/// The partition layer of one broker.
pub struct ReplicaManager {
    node_id: i32,
    logs: Arc<LogManager>,
    metadata: Arc<MetadataView>,
}

impl ReplicaManager {
    pub fn new(node_id: i32, logs: Arc<LogManager>, metadata: Arc<MetadataView>) -> Self {
        ReplicaManager {
            node_id,
            logs,
            metadata,
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
        Ok(LeaderPartition {
            log,
            leader_epoch: info.leader_epoch,
        })
    }

    /// Waits until an append that ended at the log's current end may be acknowledged under
    /// `acks` (see the module header). `acks=0` is never answered, so it never waits.
    pub async fn await_ack(&self, log: &Arc<PartitionLog>, acks: i16) -> Result<(), LogError> {
        if acks == 0 {
            return Ok(());
        }
        self.logs.flush_if_needed(log).await
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
