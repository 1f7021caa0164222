//! One group namespace, several kinds of group: what a coordinator slot holds.
//!
//! `Group` is a classic group (JoinGroup/SyncGroup, committed offsets) or a share group
//! (KIP-932, ShareGroupHeartbeat; no committed offsets — its progress is share-partition
//! state, kept by `src/share`). A KIP-848 consumer group is a classic slot that also holds
//! a `ConsumerGroup` (`GroupSlot::consumer`): its classic part owns the committed offsets,
//! which are keyed by group id whatever the protocol, and stays Empty. Empty groups convert
//! freely between the two protocols, keeping their offsets; groups with members convert
//! through the online upgrade / downgrade (`coordinator/migration.rs`), and classic members
//! of a consumer group live in its `ConsumerGroup`. A group id names one group of one kind: a request of one kind
//! for a group of the other gets GROUP_ID_NOT_FOUND ("Group X is not a share group.", "... is
//! not a classic group."), except JoinGroup, which gets INCONSISTENT_GROUP_PROTOCOL, as Kafka
//! answers.
//!
//! The accessors below are what the coordinator asks of any group; the kind-specific APIs go
//! through `classic_mut` / `share_mut`. A share group answers the offset accessors as a group
//! without offsets, so the offset APIs and the retention pass need no special case.

use serde::{Deserialize, Serialize};

use super::error::GroupError;
use super::share::{self, ShareGroup};
use super::state::{ClassicGroup, Effects};
use super::store::{GroupMetadataRecord, PersistedGroup};
use super::types::*;

/// The `"type"` of a persisted group and ListGroups' GroupType.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GroupType {
    #[default]
    Classic,
    Consumer,
    Share,
}

impl GroupType {
    /// Kafka's spelling (ListGroups v5, `kafka-groups.sh`).
    pub fn as_str(self) -> &'static str {
        match self {
            GroupType::Classic => "classic",
            GroupType::Consumer => "consumer",
            GroupType::Share => "share",
        }
    }
}

/// A group of any kind. One per group id, held behind the slot's `Arc<Mutex>`: the size
/// difference of the variants costs nothing worth a box.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone)]
pub enum Group {
    Classic(ClassicGroup),
    Share(ShareGroup),
}

impl Group {
    /// Rebuilds a stored group of whichever kind its record says.
    pub fn from_persisted(p: PersistedGroup, config: &GroupConfig, now_ms: i64) -> Group {
        match p.metadata.as_ref().map(|m| (m.group_type, m.share.clone())) {
            Some((GroupType::Share, Some(r))) => Group::Share(ShareGroup::from_record(
                p.group_id,
                r,
                config.share_session_timeout_ms,
                now_ms,
            )),
            Some((GroupType::Share, None)) => Group::Share(ShareGroup::new(p.group_id)),
            _ => Group::Classic(ClassicGroup::from_persisted(p, now_ms)),
        }
    }

    pub fn group_type(&self) -> GroupType {
        match self {
            Group::Classic(_) => GroupType::Classic,
            Group::Share(_) => GroupType::Share,
        }
    }

    /// The classic group, or the error a classic-group API gets for another kind.
    pub fn classic_mut(&mut self) -> Result<&mut ClassicGroup, GroupError> {
        match self {
            Group::Classic(g) => Ok(g),
            Group::Share(g) => Err(not_a(g.group_id(), GroupType::Classic)),
        }
    }

    pub fn classic(&self) -> Result<&ClassicGroup, GroupError> {
        match self {
            Group::Classic(g) => Ok(g),
            Group::Share(g) => Err(not_a(g.group_id(), GroupType::Classic)),
        }
    }

    /// The share group, or GROUP_ID_NOT_FOUND "Group X is not a share group.".
    pub fn share_mut(&mut self) -> Result<&mut ShareGroup, GroupError> {
        match self {
            Group::Share(g) => Ok(g),
            Group::Classic(g) => Err(not_a(g.group_id(), GroupType::Share)),
        }
    }

    pub fn share(&self) -> Result<&ShareGroup, GroupError> {
        match self {
            Group::Share(g) => Ok(g),
            Group::Classic(g) => Err(not_a(g.group_id(), GroupType::Share)),
        }
    }

    pub fn group_id(&self) -> &str {
        match self {
            Group::Classic(g) => g.group_id(),
            Group::Share(g) => g.group_id(),
        }
    }

    pub fn state(&self) -> GroupState {
        match self {
            Group::Classic(g) => g.state(),
            Group::Share(g) => g.state(),
        }
    }

    pub fn num_members(&self) -> usize {
        match self {
            Group::Classic(g) => g.num_members(),
            Group::Share(g) => g.num_members(),
        }
    }

    pub fn next_deadline(&self) -> Option<i64> {
        match self {
            Group::Classic(g) => g.next_deadline(),
            Group::Share(g) => g.next_deadline(),
        }
    }

    /// Timer tick: classic timeouts, or share-group session expiry (which asks for a write).
    pub fn tick(&mut self, config: &GroupConfig, now_ms: i64) -> Effects {
        match self {
            Group::Classic(g) => g.tick(config, now_ms),
            Group::Share(g) => Effects {
                persist_metadata: g.expire_sessions(now_ms),
                ..Effects::default()
            },
        }
    }

    pub fn to_record(&self) -> GroupMetadataRecord {
        match self {
            Group::Classic(g) => g.to_record(),
            Group::Share(g) => g.to_record(),
        }
    }

    pub fn validate_delete(&self) -> Result<(), GroupError> {
        match self {
            Group::Classic(g) => g.validate_delete(),
            Group::Share(g) => g.validate_delete(),
        }
    }

    /// Deleted or unloaded: parked requests get `err`.
    pub fn mark_dead(&mut self, now_ms: i64, err: GroupError) -> Effects {
        match self {
            Group::Classic(g) => g.mark_dead(now_ms, err),
            Group::Share(g) => {
                g.mark_dead();
                Effects::default()
            }
        }
    }

    /// A persist of the classic assignment failed (see `ClassicGroup`); nothing to undo for
    /// a share group, whose coordinator restores the group itself.
    pub fn on_assignment_persist_failed(&mut self, config: &GroupConfig, now_ms: i64) -> Effects {
        match self {
            Group::Classic(g) => g.on_assignment_persist_failed(config, now_ms),
            Group::Share(_) => Effects::default(),
        }
    }

    /// ListGroups entry.
    pub fn listed(&self) -> ListedGroup {
        match self {
            Group::Classic(g) => g.listed(),
            Group::Share(g) => ListedGroup {
                group_id: g.group_id().to_string(),
                protocol_type: share::PROTOCOL_TYPE.to_string(),
                state: g.state().as_str(),
                group_type: GroupType::Share.as_str(),
            },
        }
    }

    /// The console's view. A share group shows its members with their client ids and hosts
    /// (assignments are in `ShareGroup::describe`), its group epoch as the generation.
    pub fn snapshot(&self) -> GroupSnapshot {
        match self {
            Group::Classic(g) => g.snapshot(),
            Group::Share(g) => GroupSnapshot {
                group_id: g.group_id().to_string(),
                state: g.state().as_str().to_string(),
                protocol_type: share::PROTOCOL_TYPE.to_string(),
                protocol: share::ASSIGNOR_NAME.to_string(),
                generation_id: g.group_epoch(),
                members: g
                    .members()
                    .map(|m| MemberDescription {
                        member_id: m.member_id.clone(),
                        group_instance_id: None,
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        metadata: bytes::Bytes::new(),
                        assignment: bytes::Bytes::new(),
                    })
                    .collect(),
                offsets: Vec::new(),
            },
        }
    }

    // Committed offsets: a share group has none, and refuses commits.

    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        self.classic()?
            .validate_offset_commit(member_id, group_instance_id, generation_id)
    }

    pub fn validate_offset_delete(&self) -> Result<(), GroupError> {
        self.classic()?.validate_offset_delete()
    }

    pub fn offset(&self, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.classic().ok()?.offset(topic, partition)
    }

    pub fn offsets(&self) -> Box<dyn Iterator<Item = (&str, i32, &CommittedOffset)> + '_> {
        match self {
            Group::Classic(g) => Box::new(g.offsets()),
            Group::Share(_) => Box::new(std::iter::empty()),
        }
    }

    /// Stores an offset (after `validate_offset_commit` accepted it: a classic group).
    pub fn put_offset(&mut self, topic: &str, partition: i32, offset: CommittedOffset) {
        if let Group::Classic(g) = self {
            g.put_offset(topic, partition, offset);
        }
    }

    pub fn remove_offset(&mut self, topic: &str, partition: i32) -> bool {
        match self {
            Group::Classic(g) => g.remove_offset(topic, partition),
            Group::Share(_) => false,
        }
    }

    pub fn partitions_of(&self, topic: &str) -> Vec<i32> {
        self.classic()
            .map(|g| g.partitions_of(topic))
            .unwrap_or_default()
    }

    pub fn expired_offsets(&self, now_ms: i64, retention_ms: i64) -> Vec<(String, i32)> {
        self.classic()
            .map(|g| g.expired_offsets(now_ms, retention_ms))
            .unwrap_or_default()
    }

    pub fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        self.classic()
            .is_ok_and(|g| g.is_subscribed_to_topic(topic))
    }

    pub fn touch_member(&mut self, member_id: &str, now_ms: i64) {
        if let Group::Classic(g) = self {
            g.touch_member(member_id, now_ms);
        }
    }

    /// Whether the retention pass may delete this group once it is Empty without offsets:
    /// classic groups only (an empty share group keeps its share-partition state).
    pub fn expires_when_empty(&self) -> bool {
        match self {
            Group::Classic(g) => !g.has_pending_members(),
            Group::Share(_) => false,
        }
    }
}

fn not_a(group_id: &str, kind: GroupType) -> GroupError {
    GroupError::WrongGroupType {
        group: group_id.to_string(),
        kind: kind.as_str(),
    }
}
