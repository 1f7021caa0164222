//! Transaction markers through the partition layer: what the transaction coordinator calls
//! to end a transaction on one partition (Kafka's `ReplicaManager.appendRecords` with origin
//! coordinator, as WriteTxnMarkers does it). The marker is written on the leader and
//! acknowledged under the `acks=all` policy of the module header — `min.insync.replicas`
//! before the write, the high watermark covering the marker after it — because the coordinator
//! may only count a marker as written once it cannot be lost to a leader change.

use super::{AckError, PartitionError, ReplicaManager};
use crate::broker::now_ms;
use crate::log::control::TxnMarker;

/// Why a marker was not written or not acknowledged.
#[derive(Debug, thiserror::Error)]
pub enum MarkerError {
    /// The partition is unknown, not led here, or its ISR is too small (nothing written).
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// The log refused the marker (fencing, storage) or it was written but not acknowledged.
    #[error(transparent)]
    Ack(#[from] AckError),
}

impl MarkerError {
    /// The Kafka error code a WriteTxnMarkers response carries for the partition.
    pub fn kafka_code(&self) -> i16 {
        match self {
            MarkerError::Partition(e) => e.kafka_code(),
            MarkerError::Ack(e) => e.kafka_code(),
        }
    }
}

impl ReplicaManager {
    /// Writes the marker `marker` (COMMIT or ABORT, stamped with the coordinator's epoch) for
    /// `producer_id`/`producer_epoch` on partition `topic`/`partition`, which this broker must
    /// lead, and waits until it is acknowledged as an `acks=all` produce would be (until
    /// `deadline`). Returns the marker's offset.
    ///
    /// Errors (partition codes for the coordinator to act on): UNKNOWN_TOPIC_OR_PARTITION
    /// (deleted: the coordinator counts the marker as done), NOT_LEADER_OR_FOLLOWER,
    /// NOT_ENOUGH_REPLICAS(_AFTER_APPEND), REQUEST_TIMED_OUT (retry), INVALID_PRODUCER_EPOCH,
    /// TRANSACTION_COORDINATOR_FENCED (a newer coordinator owns the producer),
    /// KAFKA_STORAGE_ERROR. See `PartitionLog::append_marker`.
    pub async fn write_txn_marker(
        &self,
        topic: &str,
        partition: i32,
        producer_id: i64,
        producer_epoch: i16,
        marker: TxnMarker,
        deadline: tokio::time::Instant,
    ) -> Result<i64, MarkerError> {
        let part = self.leader(topic, partition, -1)?;
        self.check_min_insync(&part, -1)?;
        let offset = part
            .log
            .append_marker(
                producer_id,
                producer_epoch,
                marker.coordinator_epoch,
                marker.commit,
                part.leader_epoch,
                now_ms(),
            )
            .map_err(AckError::Log)?;
        self.appended(&part);
        self.await_ack(&part, -1, offset + 1, deadline).await?;
        Ok(offset)
    }
}
