//! Leader elections and replica reassignments: the rules the controller applies for
//! ElectLeaders and AlterPartitionReassignments, kept pure (partition in, decision out) so
//! they are tested without a store.
//!
//! Rules follow Kafka's KRaft controller (`ReplicationControlManager.electLeader`,
//! `alterPartitionReassignment`, `validateManualPartitionAssignment`):
//! - a PREFERRED election is not needed when the leader is the first replica; an UNCLEAN one
//!   when the partition has a leader (ELECTION_NOT_NEEDED). Otherwise the preferred replica
//!   must be a live broker (PREFERRED_LEADER_NOT_AVAILABLE), and an unclean election needs a
//!   live replica (ELIGIBLE_LEADERS_NOT_AVAILABLE);
//! - a reassignment target must be non-empty, name only live brokers, each once
//!   (INVALID_REPLICA_ASSIGNMENT with Kafka's messages); a target equal to the current
//!   replicas changes nothing; cancelling (`None`) when nothing is in progress answers
//!   NO_REASSIGNMENT_IN_PROGRESS.
//!
//! Invariant on a single node: reassignments complete at once — the only live broker is this
//! node, so moving replicas to it needs no data copy — and none is ever left in progress. In
//! cluster mode the quorum applies `Command::ReassignPartition` instead (the rules, with
//! reassignments in progress, are in `image/reassign.rs`).

use super::PartitionInfo;
use crate::kafka_error::KafkaError;

/// Kafka's ElectionType.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElectionType {
    /// 0: make the first replica the leader.
    Preferred,
    /// 1: elect any live replica when the partition has no leader.
    Unclean,
}

impl ElectionType {
    /// From the wire value; `None` for an unknown type.
    pub fn from_wire(v: i8) -> Option<ElectionType> {
        match v {
            0 => Some(ElectionType::Preferred),
            1 => Some(ElectionType::Unclean),
            _ => None,
        }
    }
}

/// Why an election did not change a leader.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ElectionError {
    #[error("No such topic as {0}")]
    UnknownTopic(String),
    #[error("No such partition as {0}-{1}")]
    UnknownPartition(String, i32),
    #[error("Leader election not needed for topic partition.")]
    NotNeeded,
    #[error("Failed to elect leader for partition {0}-{1} under strategy PREFERRED: preferred replica {2} is not a live broker")]
    PreferredLeaderNotAvailable(String, i32, i32),
    #[error(
        "Failed to elect leader for partition {0}-{1} under strategy UNCLEAN: no live replica"
    )]
    EligibleLeadersNotAvailable(String, i32),
    #[error("store error: {0}")]
    Store(String),
    /// The controller quorum refused it (cluster mode), with Kafka's code and message.
    #[error("{message}")]
    Refused { code: i16, message: String },
}

impl ElectionError {
    /// The Kafka error code.
    pub fn kafka_code(&self) -> i16 {
        match self {
            ElectionError::UnknownTopic(_) | ElectionError::UnknownPartition(..) => {
                KafkaError::UnknownTopicOrPartition
            }
            ElectionError::NotNeeded => KafkaError::ElectionNotNeeded,
            ElectionError::PreferredLeaderNotAvailable(..) => {
                KafkaError::PreferredLeaderNotAvailable
            }
            ElectionError::EligibleLeadersNotAvailable(..) => {
                KafkaError::EligibleLeadersNotAvailable
            }
            // The metadata write failed.
            ElectionError::Store(_) => KafkaError::KafkaStorageError,
            ElectionError::Refused { code, .. } => return *code,
        }
        .code()
    }
}

/// Why a reassignment was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReassignError {
    #[error("Unable to find a topic named {0}.")]
    UnknownTopic(String),
    #[error("Unable to find partition {0}:{1}.")]
    UnknownPartition(String, i32),
    #[error("No partition reassignment is in progress.")]
    NoReassignmentInProgress,
    #[error("{0}")]
    InvalidReplicaAssignment(String),
    /// KIP-860: `allow_replication_factor_change` is false and the sizes differ.
    #[error("The replication factor is changed from {from} to {to}")]
    ReplicationFactorChanged { from: usize, to: usize },
    #[error("Unable to revert partition assignment for {0}:{1} because it would require an unclean leader election.")]
    UnsafeRevert(String, i32),
    #[error("store error: {0}")]
    Store(String),
    /// The controller quorum refused it (cluster mode), with Kafka's code and message.
    #[error("{message}")]
    Refused { code: i16, message: String },
}

impl ReassignError {
    /// The Kafka error code.
    pub fn kafka_code(&self) -> i16 {
        match self {
            ReassignError::UnknownTopic(_) | ReassignError::UnknownPartition(..) => {
                KafkaError::UnknownTopicOrPartition
            }
            ReassignError::NoReassignmentInProgress => KafkaError::NoReassignmentInProgress,
            ReassignError::InvalidReplicaAssignment(_) | ReassignError::UnsafeRevert(..) => {
                KafkaError::InvalidReplicaAssignment
            }
            ReassignError::ReplicationFactorChanged { .. } => KafkaError::InvalidReplicationFactor,
            // The metadata write failed.
            ReassignError::Store(_) => KafkaError::KafkaStorageError,
            ReassignError::Refused { code, .. } => return *code,
        }
        .code()
    }
}

/// Decides an election for partition `p` of `topic`. `Ok(new_leader)` when the leader must
/// change.
pub fn elect(
    topic: &str,
    p: &PartitionInfo,
    kind: ElectionType,
    live: &[i32],
) -> Result<i32, ElectionError> {
    match kind {
        ElectionType::Preferred => {
            let Some(&preferred) = p.replicas.first() else {
                return Err(ElectionError::PreferredLeaderNotAvailable(
                    topic.into(),
                    p.index,
                    -1,
                ));
            };
            if preferred == p.leader {
                Err(ElectionError::NotNeeded)
            } else if live.contains(&preferred) {
                Ok(preferred)
            } else {
                Err(ElectionError::PreferredLeaderNotAvailable(
                    topic.into(),
                    p.index,
                    preferred,
                ))
            }
        }
        ElectionType::Unclean => {
            if p.leader >= 0 {
                return Err(ElectionError::NotNeeded);
            }
            p.replicas
                .iter()
                .copied()
                .find(|r| live.contains(r))
                .ok_or_else(|| ElectionError::EligibleLeadersNotAvailable(topic.into(), p.index))
        }
    }
}

/// Validates a reassignment of `p` to `target` (`None` cancels). `Ok(Some(replicas))` when
/// the replica set changes, `Ok(None)` when it already is the target.
pub fn reassign(
    p: &PartitionInfo,
    target: Option<&[i32]>,
    live: &[i32],
) -> Result<Option<Vec<i32>>, ReassignError> {
    // Nothing is ever in progress (module invariant), so there is nothing to cancel.
    let Some(target) = target else {
        return Err(ReassignError::NoReassignmentInProgress);
    };
    if target.is_empty() {
        return Err(ReassignError::InvalidReplicaAssignment(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    let mut sorted = target.to_vec();
    sorted.sort_unstable();
    for (i, b) in sorted.iter().enumerate() {
        if !live.contains(b) {
            return Err(ReassignError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes broker {b}, but no such broker is registered."
            )));
        }
        if i > 0 && sorted.get(i - 1) == Some(b) {
            return Err(ReassignError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes the broker {b} more than once."
            )));
        }
    }
    Ok((target != p.replicas.as_slice()).then(|| target.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(leader: i32, replicas: &[i32]) -> PartitionInfo {
        PartitionInfo {
            index: 0,
            leader,
            leader_epoch: 0,
            replicas: replicas.to_vec(),
            isr: replicas.to_vec(),
        }
    }

    #[test]
    fn elections_on_a_single_node() {
        let p = part(1, &[1]);
        for kind in [ElectionType::Preferred, ElectionType::Unclean] {
            let e = elect("t", &p, kind, &[1]).unwrap_err();
            assert_eq!(e.kafka_code(), 84);
        }
        // A replica set naming a broker that is not live (node id changed).
        let p = part(1, &[7, 1]);
        assert_eq!(
            elect("t", &p, ElectionType::Preferred, &[1])
                .unwrap_err()
                .kafka_code(),
            80
        );
        let p = part(-1, &[7, 1]);
        assert_eq!(elect("t", &p, ElectionType::Unclean, &[1]), Ok(1));
        let p = part(-1, &[7]);
        assert_eq!(
            elect("t", &p, ElectionType::Unclean, &[1])
                .unwrap_err()
                .kafka_code(),
            83
        );
        assert_eq!(ElectionType::from_wire(2), None);
    }

    #[test]
    fn reassignment_rules() {
        let p = part(1, &[1]);
        assert_eq!(reassign(&p, Some(&[1]), &[1]), Ok(None));
        for (target, fragment) in [
            (&[][..], "empty replica list"),
            (&[2][..], "broker 2, but no such broker"),
            (&[1, 1][..], "broker 1 more than once"),
        ] {
            let e = reassign(&p, Some(target), &[1]).unwrap_err();
            assert_eq!(e.kafka_code(), 39);
            assert!(e.to_string().contains(fragment), "{e}");
        }
        assert_eq!(reassign(&p, None, &[1]).unwrap_err().kafka_code(), 85);
        let old = part(7, &[7]);
        assert_eq!(reassign(&old, Some(&[1]), &[1]), Ok(Some(vec![1])));
    }
}
