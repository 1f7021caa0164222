//! `GroupError`: every failure the group coordinator reports, with its one mapping to Kafka
//! error codes (`kafka_code`). Handlers put the code in the response; nothing here closes a
//! connection. The numbers come from the broker's table (`kafka_error`).

use crate::kafka_error::{self, KafkaError};

/// Errors of the group coordinator. Each variant maps to exactly one Kafka error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupError {
    /// Storage failure while persisting, or the group is being unloaded / deleted (`Dead`).
    #[error("coordinator not available: {0}")]
    CoordinatorNotAvailable(String),
    #[error("this node is not the coordinator for group {0}")]
    NotCoordinator(String),
    #[error("coordinator is loading groups")]
    CoordinatorLoadInProgress,
    #[error("illegal generation {requested} (current generation {current})")]
    IllegalGeneration { requested: i32, current: i32 },
    #[error("inconsistent group protocol: {0}")]
    InconsistentGroupProtocol(String),
    #[error("invalid group id {0:?}")]
    InvalidGroupId(String),
    #[error("unknown member id {0:?}")]
    UnknownMemberId(String),
    #[error("session timeout {requested} ms outside [{min}, {max}]")]
    InvalidSessionTimeout { requested: i32, min: i32, max: i32 },
    #[error("rebalance in progress")]
    RebalanceInProgress,
    #[error("group {0} not found")]
    GroupIdNotFound(String),
    #[error("group {0} is not empty")]
    NonEmptyGroup(String),
    /// JoinGroup v4+: the client must rejoin with the member id carried here.
    #[error("member id required; rejoin with {0}")]
    MemberIdRequired(String),
    #[error("group.instance.id {instance_id} is owned by another member (request member id {member_id:?})")]
    FencedInstanceId {
        instance_id: String,
        member_id: String,
    },
    #[error("group has reached its maximum size {0}")]
    GroupMaxSizeReached(usize),
    #[error("group is subscribed to topic {0}")]
    GroupSubscribedToTopic(String),
    #[error("offset commit metadata of {len} bytes exceeds {max}")]
    OffsetMetadataTooLarge { len: usize, max: usize },
    #[error("there are unstable offsets for the requested partitions")]
    UnstableOffsetCommit,
    /// KIP-848: the member's epoch is not one the coordinator accepts; it must drop its
    /// partitions and rejoin with epoch 0.
    #[error("member epoch {received} is fenced (current {current})")]
    FencedMemberEpoch { received: i32, current: i32 },
    /// KIP-848: a static member joins with an instance id another member still holds.
    #[error("group.instance.id {0} is still used by another member")]
    UnreleasedInstanceId(String),
    #[error("assignor {0:?} is not supported")]
    UnsupportedAssignor(String),
    /// KIP-848 offset commit/fetch with an epoch that is not the member's current one.
    #[error("member epoch {received} is stale (current {current})")]
    StaleMemberEpoch { received: i32, current: i32 },
    #[error("invalid regular expression {0}")]
    InvalidRegularExpression(String),
    #[error("{0}")]
    InvalidRequest(String),
    /// A consumer-protocol member committing with OffsetCommit below v9.
    #[error("unsupported version: {0}")]
    UnsupportedVersion(String),
    /// The group id exists as another type of group (one namespace for classic, consumer
    /// and share groups): GROUP_ID_NOT_FOUND, as Kafka answers.
    #[error("Group {group} is not a {kind} group.")]
    WrongGroupType { group: String, kind: &'static str },
    /// A classic group with members that may not be upgraded online (policy, protocol,
    /// size): GROUP_ID_NOT_FOUND with Kafka's "Cannot upgrade classic group ..." message.
    #[error("{0}")]
    CannotUpgrade(String),
}

impl GroupError {
    /// The Kafka protocol error code for this error.
    pub fn kafka_code(&self) -> i16 {
        match self {
            GroupError::OffsetMetadataTooLarge { .. } => KafkaError::OffsetMetadataTooLarge,
            GroupError::CoordinatorLoadInProgress => KafkaError::CoordinatorLoadInProgress,
            GroupError::CoordinatorNotAvailable(_) => KafkaError::CoordinatorNotAvailable,
            GroupError::NotCoordinator(_) => KafkaError::NotCoordinator,
            GroupError::IllegalGeneration { .. } => KafkaError::IllegalGeneration,
            GroupError::InconsistentGroupProtocol(_) => KafkaError::InconsistentGroupProtocol,
            GroupError::InvalidGroupId(_) => KafkaError::InvalidGroupId,
            GroupError::UnknownMemberId(_) => KafkaError::UnknownMemberId,
            GroupError::InvalidSessionTimeout { .. } => KafkaError::InvalidSessionTimeout,
            GroupError::RebalanceInProgress => KafkaError::RebalanceInProgress,
            GroupError::NonEmptyGroup(_) => KafkaError::NonEmptyGroup,
            GroupError::GroupIdNotFound(_) => KafkaError::GroupIdNotFound,
            GroupError::MemberIdRequired(_) => KafkaError::MemberIdRequired,
            GroupError::GroupMaxSizeReached(_) => KafkaError::GroupMaxSizeReached,
            GroupError::FencedInstanceId { .. } => KafkaError::FencedInstanceId,
            GroupError::GroupSubscribedToTopic(_) => KafkaError::GroupSubscribedToTopic,
            GroupError::UnstableOffsetCommit => KafkaError::UnstableOffsetCommit,
            GroupError::FencedMemberEpoch { .. } => KafkaError::FencedMemberEpoch,
            GroupError::UnreleasedInstanceId(_) => KafkaError::UnreleasedInstanceId,
            GroupError::UnsupportedAssignor(_) => KafkaError::UnsupportedAssignor,
            GroupError::StaleMemberEpoch { .. } => KafkaError::StaleMemberEpoch,
            GroupError::InvalidRegularExpression(_) => KafkaError::InvalidRegularExpression,
            GroupError::InvalidRequest(_) => KafkaError::InvalidRequest,
            GroupError::UnsupportedVersion(_) => KafkaError::UnsupportedVersion,
            GroupError::WrongGroupType { .. } | GroupError::CannotUpgrade(_) => {
                KafkaError::GroupIdNotFound
            }
        }
        .code()
    }
}

/// Maps an optional error to its Kafka code (`NONE` when there is none).
pub fn code_of(error: &Option<GroupError>) -> i16 {
    error
        .as_ref()
        .map_or(kafka_error::NONE, GroupError::kafka_code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_kafka() {
        assert_eq!(
            GroupError::CoordinatorNotAvailable("x".into()).kafka_code(),
            15
        );
        assert_eq!(GroupError::NotCoordinator("g".into()).kafka_code(), 16);
        assert_eq!(
            GroupError::IllegalGeneration {
                requested: 1,
                current: 2
            }
            .kafka_code(),
            22
        );
        assert_eq!(
            GroupError::InconsistentGroupProtocol(String::new()).kafka_code(),
            23
        );
        assert_eq!(GroupError::InvalidGroupId(String::new()).kafka_code(), 24);
        assert_eq!(GroupError::UnknownMemberId(String::new()).kafka_code(), 25);
        assert_eq!(
            GroupError::InvalidSessionTimeout {
                requested: 1,
                min: 2,
                max: 3
            }
            .kafka_code(),
            26
        );
        assert_eq!(GroupError::RebalanceInProgress.kafka_code(), 27);
        assert_eq!(GroupError::NonEmptyGroup(String::new()).kafka_code(), 68);
        assert_eq!(GroupError::GroupIdNotFound(String::new()).kafka_code(), 69);
        assert_eq!(GroupError::MemberIdRequired(String::new()).kafka_code(), 79);
        assert_eq!(GroupError::GroupMaxSizeReached(1).kafka_code(), 81);
        assert_eq!(
            GroupError::FencedInstanceId {
                instance_id: "i".into(),
                member_id: "m".into()
            }
            .kafka_code(),
            82
        );
        assert_eq!(
            GroupError::GroupSubscribedToTopic("t".into()).kafka_code(),
            86
        );
        assert_eq!(GroupError::UnstableOffsetCommit.kafka_code(), 88);
        let fenced = GroupError::FencedMemberEpoch {
            received: 1,
            current: 2,
        };
        assert_eq!(fenced.kafka_code(), 110);
        assert_eq!(
            GroupError::UnreleasedInstanceId("i".into()).kafka_code(),
            111
        );
        assert_eq!(
            GroupError::UnsupportedAssignor("x".into()).kafka_code(),
            112
        );
        let stale = GroupError::StaleMemberEpoch {
            received: 1,
            current: 2,
        };
        assert_eq!(stale.kafka_code(), 113);
        assert_eq!(
            GroupError::InvalidRegularExpression("(".into()).kafka_code(),
            128
        );
        let wrong = GroupError::WrongGroupType {
            group: "g".into(),
            kind: "share",
        };
        assert_eq!(wrong.kafka_code(), 69);
        assert_eq!(wrong.to_string(), "Group g is not a share group.");
        assert_eq!(GroupError::InvalidRequest(String::new()).kafka_code(), 42);
        assert_eq!(code_of(&None), 0);
    }
}
