//! Where a share-partition leader keeps share-partition state: the [`Persister`] trait the
//! share-partition manager reads and writes through (Kafka's `Persister`).
//!
//! - single node: [`LocalPersister`] — the broker's own store (`persist`), synced writes;
//! - cluster: `share::remote::ClusterPersister` — the share group's coordinator, which keeps
//!   the state in the group's `__consumer_offsets` partition (`offsets_topic::share`): directly
//!   when this broker is that coordinator, else with ReadShareGroupState /
//!   WriteShareGroupState.
//!
//! Contract: `write` returns only once the state is durable where it is kept (synced store,
//! or the offsets topic at acks=all). A read or write names the data partition's leader
//! epoch; the coordinator refuses one older than the newest it saw (FENCED_LEADER_EPOCH) and a
//! write whose state epoch is older than the stored one (FENCED_STATE_EPOCH: the state was
//! reset or deleted by an admin operation since it was read). A state whose start offset is
//! −1 is "not initialized at this state epoch": the leader starts afresh at that epoch.

use std::sync::Arc;

use uuid::Uuid;

use super::manager::ShareKey;
use super::partition::Snapshot;
use super::persist;
use crate::kafka_error::KafkaError;
use crate::store::{Store, StoreError};

/// Why a share state could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker asked is not (or no longer) the group's coordinator.
    #[error("not the share coordinator: {0}")]
    NotCoordinator(String),
    /// The coordinator is still loading the group's offsets partition.
    #[error("share coordinator loading: {0}")]
    LoadInProgress(String),
    /// The coordinator could not be reached or could not make the write durable.
    #[error("share coordinator not available: {0}")]
    Unavailable(String),
    #[error("{0}")]
    FencedStateEpoch(String),
    #[error("{0}")]
    FencedLeaderEpoch(String),
}

impl StateError {
    pub fn kafka_code(&self) -> i16 {
        match self {
            StateError::Store(e) => e.kafka_code(),
            StateError::NotCoordinator(_) => KafkaError::NotCoordinator.code(),
            StateError::LoadInProgress(_) => KafkaError::CoordinatorLoadInProgress.code(),
            StateError::Unavailable(_) => KafkaError::CoordinatorNotAvailable.code(),
            StateError::FencedStateEpoch(_) => KafkaError::FencedStateEpoch.code(),
            StateError::FencedLeaderEpoch(_) => KafkaError::FencedLeaderEpoch.code(),
        }
    }

    /// The error a wire code stands for (a remote coordinator's answer).
    pub fn from_code(code: i16, message: String) -> StateError {
        if code == KafkaError::NotCoordinator.code() {
            StateError::NotCoordinator(message)
        } else if code == KafkaError::CoordinatorLoadInProgress.code() {
            StateError::LoadInProgress(message)
        } else if code == KafkaError::FencedStateEpoch.code() {
            StateError::FencedStateEpoch(message)
        } else if code == KafkaError::FencedLeaderEpoch.code() {
            StateError::FencedLeaderEpoch(message)
        } else {
            StateError::Unavailable(format!("error {code}: {message}"))
        }
    }

    /// Whether finding the coordinator again and retrying may succeed.
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            StateError::NotCoordinator(_)
                | StateError::LoadInProgress(_)
                | StateError::Unavailable(_)
        )
    }
}

/// A share-partition state store, seen from the share-partition leader. Blocking methods:
/// called off the async workers.
pub trait Persister: Send + Sync {
    /// The stored state, if any, at the data partition's `leader_epoch`.
    fn read(&self, key: &ShareKey, leader_epoch: i32) -> Result<Option<Snapshot>, StateError>;
    /// Replaces the stored state; durable when it returns.
    fn write(&self, key: &ShareKey, leader_epoch: i32, state: &Snapshot) -> Result<(), StateError>;
    /// Partitions `group`'s known topics gained (`group::share::added_partitions`): each
    /// share-partition without state starts at offset 0; durable when it returns. Called on
    /// the group's coordinator, which is also its share coordinator.
    fn initialize_at_zero(&self, group: &str, added: &[(Uuid, i32)]) -> Result<(), StateError>;

    /// Whether others (admin operations at a remote coordinator) may change the state behind
    /// this broker's cache.
    fn shared(&self) -> bool {
        false
    }
}

/// Single node: the broker's own store (byte table in `persist`).
pub struct LocalPersister(pub Arc<Store>);

impl Persister for LocalPersister {
    fn read(&self, key: &ShareKey, _leader_epoch: i32) -> Result<Option<Snapshot>, StateError> {
        Ok(persist::load(
            &self.0,
            &key.group,
            key.topic_id,
            key.partition,
        )?)
    }

    fn write(
        &self,
        key: &ShareKey,
        _leader_epoch: i32,
        state: &Snapshot,
    ) -> Result<(), StateError> {
        Ok(persist::save(
            &self.0,
            &key.group,
            key.topic_id,
            key.partition,
            state,
        )?)
    }

    fn initialize_at_zero(&self, group: &str, added: &[(Uuid, i32)]) -> Result<(), StateError> {
        for &(topic_id, partition) in added {
            if persist::load(&self.0, group, topic_id, partition)?.is_none() {
                let start = Snapshot {
                    state_epoch: 0,
                    start_offset: 0,
                    ranges: Vec::new(),
                };
                persist::save(&self.0, group, topic_id, partition, &start)?;
            }
        }
        Ok(())
    }
}
