//! The broker's [`MarkerSink`]: a partition participant gets a control batch (COMMIT or
//! ABORT, Kafka's `EndTxnMarker`) appended through the partition layer, which acknowledges it
//! under the acks=all policy; a group participant gets its pending transactional offsets
//! committed or dropped by the group coordinator.
//!
//! Errors: a partition or topic that no longer exists has nothing to mark
//! ([`MarkerError::Gone`]); a partition whose producer state is newer than the marker
//! (INVALID_PRODUCER_EPOCH, TRANSACTION_COORDINATOR_FENCED: nothing the coordinator can fix
//! by retrying) is logged and counted as done, as Kafka's coordinator stops sending it;
//! anything else (not leader yet, disk full, too few in-sync replicas, store failure) is
//! retried by the coordinator.

use std::sync::Arc;
use std::time::Duration;

use super::{Marker, MarkerError, MarkerFuture, MarkerSink, Participant};
use crate::group::GroupCoordinator;
use crate::kafka_error::KafkaError;
use crate::log::control::TxnMarker;
use crate::replica::ReplicaManager;

/// How long one marker write waits for its acknowledgement before it is retried.
const MARKER_ACK_TIMEOUT: Duration = Duration::from_secs(30);

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
                    let written = self
                        .replicas
                        .write_txn_marker(
                            topic,
                            *partition,
                            marker.producer_id,
                            marker.producer_epoch,
                            TxnMarker {
                                commit: marker.commit,
                                coordinator_epoch: marker.coordinator_epoch,
                            },
                            tokio::time::Instant::now() + MARKER_ACK_TIMEOUT,
                        )
                        .await;
                    let Err(e) = written else {
                        return Ok(());
                    };
                    let code = e.kafka_code();
                    if code == KafkaError::UnknownTopicOrPartition.code() {
                        Err(MarkerError::Gone)
                    } else if code == KafkaError::InvalidProducerEpoch.code()
                        || code == KafkaError::TransactionCoordinatorFenced.code()
                    {
                        tracing::error!(topic = %topic, partition, producer_id = marker.producer_id,
                            epoch = marker.producer_epoch, error = %e,
                            "a partition refused a transaction marker; not retrying it");
                        Err(MarkerError::Gone)
                    } else {
                        Err(MarkerError::Retry(e.to_string()))
                    }
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
