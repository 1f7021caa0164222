//! Cluster mode's [`MarkerSink`]: a participant is marked where it is led. A partition this
//! broker leads, or a group whose `__consumer_offsets` partition it leads, goes through the
//! single broker's sink ([`BrokerMarkers`]); any other goes to its leader as a WriteTxnMarkers
//! v1 request (Kafka's `TransactionMarkerChannelManager`, one marker per request here), whose
//! handler appends the control batch there — or, for an offsets partition, completes the
//! group's pending transactional offsets (`handlers/write_txn_markers.rs`).
//!
//! The leader is read from the latest metadata image at each attempt, so a marker follows a
//! leader change on its next retry. Errors as the single broker's sink maps them: a deleted
//! topic or partition has nothing to mark; INVALID_PRODUCER_EPOCH and
//! TRANSACTION_COORDINATOR_FENCED are final (logged, counted as done); anything else — no
//! leader, a connection failure, NOT_LEADER_OR_FOLLOWER, too few in-sync replicas — is retried
//! by the coordinator.
//!
//! Inter-broker connections are `cluster::peer` clients (plaintext, each broker's first
//! listener); one idle connection per broker is kept for the next marker.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use kafka_protocol::messages::{ProducerId, TopicName, WriteTxnMarkersRequest};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::controller::Controller;
use crate::cluster::peer::Peer;
use crate::cluster::OFFSETS_TOPIC;
use crate::kafka_error::KafkaError;
use crate::txn::markers::BrokerMarkers;
use crate::txn::{Marker, MarkerError, MarkerFuture, MarkerSink, Participant};

/// The WriteTxnMarkers version brokers exchange (Kafka 4 knows only v1).
pub const WRITE_TXN_MARKERS_VERSION: i16 = 1;
/// How long one remote marker may take (the leader waits for its acks=all acknowledgement).
const REMOTE_TIMEOUT: Duration = Duration::from_secs(35);
/// Largest response accepted.
const MAX_FRAME: usize = 1 << 20;

/// Markers of a cluster member (see the module header).
pub struct ClusterMarkers {
    pub local: BrokerMarkers,
    pub node_id: i32,
    pub controller: Arc<Controller>,
    idle: Mutex<HashMap<i32, Peer>>,
}

impl ClusterMarkers {
    pub fn new(local: BrokerMarkers, node_id: i32, controller: Arc<Controller>) -> Self {
        ClusterMarkers {
            local,
            node_id,
            controller,
            idle: Mutex::new(HashMap::new()),
        }
    }

    async fn write(&self, to: &Participant, marker: Marker) -> Result<(), MarkerError> {
        let member = self
            .controller
            .member()
            .ok_or_else(|| MarkerError::Retry("not a cluster member yet".into()))?;
        let image = member.image();
        let (topic, partition) = match to {
            Participant::Partition { topic, partition } => (topic.clone(), *partition),
            Participant::Group { group_id } => {
                let t = image.topics.get(OFFSETS_TOPIC).ok_or_else(|| {
                    MarkerError::Retry("the offsets topic does not exist yet".into())
                })?;
                let p = crate::group::offsets_partition(group_id, t.partitions.len() as i32);
                (OFFSETS_TOPIC.to_string(), p)
            }
        };
        let Some(p) = image
            .topics
            .get(&topic)
            .and_then(|t| t.partitions.iter().find(|p| p.index == partition))
        else {
            return Err(MarkerError::Gone);
        };
        if p.leader == self.node_id {
            return self.local.write_marker(to, marker).await;
        }
        let req =
            WriteTxnMarkersRequest::default().with_markers(vec![WritableTxnMarker::default()
                .with_producer_id(ProducerId(marker.producer_id))
                .with_producer_epoch(marker.producer_epoch)
                .with_transaction_result(marker.commit)
                .with_coordinator_epoch(marker.coordinator_epoch)
                .with_topics(vec![WritableTxnMarkerTopic::default()
                    .with_name(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partition_indexes(vec![partition])])]);
        let leader = p.leader;
        let peer = lock(&self.idle).remove(&leader);
        let mut peer = match peer {
            Some(c) => c,
            None => Peer::open_broker(
                &image,
                leader,
                format!("runnel-txn-coordinator-{}", self.node_id),
            )
            .await
            .map_err(|e| MarkerError::Retry(format!("connecting to broker {leader}: {e}")))?,
        };
        let resp = peer
            .call(&req, WRITE_TXN_MARKERS_VERSION, MAX_FRAME, REMOTE_TIMEOUT)
            .await
            .map_err(|e| MarkerError::Retry(format!("WriteTxnMarkers to broker {leader}: {e}")))?;
        lock(&self.idle).insert(leader, peer);
        let code = resp
            .markers
            .iter()
            .flat_map(|m| &m.topics)
            .flat_map(|t| &t.partitions)
            .find(|r| r.partition_index == partition)
            .map_or(KafkaError::UnknownServerError.code(), |r| r.error_code);
        if code == 0 {
            Ok(())
        } else if code == KafkaError::UnknownTopicOrPartition.code() {
            Err(MarkerError::Gone)
        } else if code == KafkaError::InvalidProducerEpoch.code()
            || code == KafkaError::TransactionCoordinatorFenced.code()
        {
            tracing::error!(topic = %topic, partition, leader, producer_id = marker.producer_id,
                epoch = marker.producer_epoch, code,
                "a partition leader refused a transaction marker; not retrying it");
            Err(MarkerError::Gone)
        } else {
            Err(MarkerError::Retry(format!(
                "broker {leader} answered error {code} for {topic}-{partition}"
            )))
        }
    }
}

impl MarkerSink for ClusterMarkers {
    fn write_marker<'a>(&'a self, to: &'a Participant, marker: Marker) -> MarkerFuture<'a> {
        Box::pin(self.write(to, marker))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
