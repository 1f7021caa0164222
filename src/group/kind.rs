//! The group types that share one group-id namespace (ListGroups v5 `GroupType`).
//!
//! A group slot always holds a `ClassicGroup`: it owns the group's committed offsets, which
//! are keyed by group id whatever the protocol. A KIP-848 consumer group adds its
//! `ConsumerGroup` next to it (`GroupSlot::consumer`), and the classic part then stays Empty:
//! a classic JoinGroup into a non-empty consumer group is refused, and a consumer heartbeat
//! into a non-empty classic group gets GROUP_ID_NOT_FOUND. Empty groups convert freely,
//! keeping their offsets.

/// The type of a group, as ListGroups v5 and the CLI spell it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupType {
    Classic,
    Consumer,
}

impl GroupType {
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Classic => "classic",
            GroupType::Consumer => "consumer",
        }
    }
}
