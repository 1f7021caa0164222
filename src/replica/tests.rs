//! The partition layer's resolution and fencing, against a real log manager and metadata image.

use super::*;
use crate::cluster::{PartitionInfo, TopicInfo};
use crate::log::LogConfig;

/// A broker (node 1) holding "t" (partition 0 led by node 1 at epoch 5, partition 1 led by
/// node 2) and the log of partition 0 only.
fn setup() -> (tempfile::TempDir, ReplicaManager) {
    let d = tempfile::tempdir().unwrap();
    let logs = Arc::new(LogManager::open(d.path()).unwrap());
    logs.create("t", 0, LogConfig::default(), 0).unwrap();
    let part = |index, leader, leader_epoch| PartitionInfo {
        index,
        leader,
        leader_epoch,
        replicas: vec![leader],
        isr: vec![leader],
    };
    let topic = TopicInfo {
        name: "t".into(),
        id: uuid::Uuid::from_u128(7),
        partitions: vec![part(0, 1, 5), part(1, 2, 0)],
        configs: Default::default(),
    };
    let metadata = Arc::new(MetadataView::new(vec![topic]));
    (d, ReplicaManager::new(1, logs, metadata))
}

#[test]
fn the_leader_resolves_with_no_epoch_or_the_current_one() {
    let (_d, rm) = setup();
    for epoch in [-1, 5] {
        let p = rm.leader("t", 0, epoch).unwrap();
        assert_eq!(p.leader_epoch, 5);
        assert_eq!(p.log.log_end_offset(), 0);
    }
}

#[test]
fn stale_and_future_epochs_are_fenced_as_kafka_does() {
    let (_d, rm) = setup();
    let e = rm.leader("t", 0, 4).unwrap_err();
    assert_eq!(
        e,
        PartitionError::FencedLeaderEpoch {
            requested: 4,
            current: 5
        }
    );
    assert_eq!(e.kafka_code(), 74);
    let e = rm.leader("t", 0, 6).unwrap_err();
    assert_eq!(e.kafka_code(), 75, "UNKNOWN_LEADER_EPOCH: {e}");
}

#[test]
fn unknown_partitions_and_other_leaders_are_refused() {
    let (_d, rm) = setup();
    for (topic, p) in [("t", 2), ("t", -1), ("nope", 0)] {
        assert_eq!(
            rm.leader(topic, p, -1).unwrap_err().kafka_code(),
            3,
            "{topic}/{p}"
        );
    }
    let e = rm.leader("t", 1, -1).unwrap_err();
    assert_eq!(
        e,
        PartitionError::NotLeader {
            leader: 2,
            leader_epoch: 0
        }
    );
    assert_eq!(e.kafka_code(), 6, "NOT_LEADER_OR_FOLLOWER");
}

/// A sequence verdict is turned into NOT_LEADER_OR_FOLLOWER only by a cluster broker whose
/// leadership is in doubt (here: it never had a heartbeat acknowledged); a single broker and
/// other errors are left as they are.
#[tokio::test]
async fn sequence_verdicts_of_a_leader_in_doubt_are_withheld() {
    use crate::cluster::member::Member;
    use crate::cluster::setup::Voter;
    let out_of_order = KafkaError::OutOfOrderSequenceNumber.code();
    let stale_epoch = KafkaError::InvalidProducerEpoch.code();
    let (_d, rm) = setup();
    assert!(!rm.sequence_verdict_in_doubt(out_of_order), "single broker");
    let voter = Voter {
        id: 1,
        host: "127.0.0.1".into(),
        port: 9,
    };
    let member = Member::new(
        1,
        vec![voter],
        vec![crate::cluster::image::Endpoint {
            name: "PLAINTEXT".into(),
            host: "127.0.0.1".into(),
            port: 9092,
        }],
        None,
        std::time::Duration::from_millis(500),
        std::time::Duration::from_secs(3),
    );
    rm.join_cluster(member, 30_000);
    assert!(rm.sequence_verdict_in_doubt(out_of_order));
    assert!(rm.sequence_verdict_in_doubt(stale_epoch));
    assert!(!rm.sequence_verdict_in_doubt(KafkaError::CorruptMessage.code()));
}

/// Markers go through the leader check and the log's fencing, and answer Kafka codes.
#[tokio::test]
async fn transaction_markers_are_written_on_the_leader_and_fenced() {
    use crate::log::control::TxnMarker;
    let (_d, rm) = setup();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    let m = |commit, coordinator_epoch| TxnMarker {
        commit,
        coordinator_epoch,
    };
    let code = |r: Result<i64, MarkerError>| r.map_err(|e| e.kafka_code());
    assert_eq!(
        code(
            rm.write_txn_marker("t", 0, 7, 1, m(false, 3), deadline)
                .await
        ),
        Ok(0)
    );
    let log = rm.leader("t", 0, -1).unwrap().log;
    assert_eq!(log.log_end_offset(), 1);
    assert_eq!(log.latest_epoch(), Some(5), "stamped with the leader epoch");
    assert_eq!(
        code(
            rm.write_txn_marker("t", 0, 7, 0, m(true, 3), deadline)
                .await
        ),
        Err(KafkaError::InvalidProducerEpoch.code())
    );
    assert_eq!(
        code(
            rm.write_txn_marker("t", 0, 7, 1, m(true, 2), deadline)
                .await
        ),
        Err(KafkaError::TransactionCoordinatorFenced.code())
    );
    assert_eq!(
        code(
            rm.write_txn_marker("t", 1, 7, 1, m(true, 3), deadline)
                .await
        ),
        Err(KafkaError::NotLeaderOrFollower.code())
    );
    assert_eq!(
        code(
            rm.write_txn_marker("u", 0, 7, 1, m(true, 3), deadline)
                .await
        ),
        Err(KafkaError::UnknownTopicOrPartition.code())
    );
    assert_eq!(log.log_end_offset(), 1, "refused markers write nothing");
}
