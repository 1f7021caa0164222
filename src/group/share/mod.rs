//! Share groups (KIP-932): the membership half — who is in the group and which partitions
//! each member is told to fetch from. The records themselves (acquisition, acks, delivery
//! counts) are the share partitions' business (`src/share`), not this module's.
//!
//! - `mod.rs`      domain types and `ShareGroup`, its accessors and views
//! - `heartbeat`   ShareGroupHeartbeat (join, leave, reconcile), session expiry
//! - `assignor`    the `simple` assignor
//! - `record`      the persisted form (`GroupMetadataRecord` with `"type":"share"`)
//!
//! Pure: no I/O, no clock — `now_ms` is passed in, so the tests run on a fake clock.
//!
//! Invariants:
//! - `assignment_epoch <= group_epoch`; every member's `member_epoch <= assignment_epoch`;
//! - a member's epoch only moves to the assignment epoch, and then its assignment is the
//!   target: there is no revocation handshake, since share partitions have no exclusive
//!   owner (several members may be assigned the same partition);
//! - the group epoch is bumped by every membership change (join, leave, expiry), every
//!   subscription change and every change of the subscribed topics' metadata (a topic
//!   created, deleted or given more partitions); the target assignment is recomputed by the
//!   next heartbeat that sees `group_epoch > assignment_epoch`, as Kafka does;
//! - the state is `Empty` without members, `Stable` with members, `Dead` once deleted or
//!   unloaded (then every request gets an error and the client finds the coordinator again).

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::error::GroupError;
use super::types::GroupState;

pub mod assignor;
mod heartbeat;
pub mod record;

pub use heartbeat::validate_request;

#[cfg(test)]
mod tests;

/// ListGroups protocol type and DescribeGroups' view of a share group.
pub const PROTOCOL_TYPE: &str = "share";
/// The one server-side assignor (`group.share.assignors`).
pub const ASSIGNOR_NAME: &str = "simple";
/// Member epoch of a leave request.
pub const LEAVE_GROUP_MEMBER_EPOCH: i32 = -1;

/// What the coordinator needs to know of a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub id: Uuid,
    pub partitions: i32,
}

/// The broker's topic catalogue, as the share group reads it (implemented over the
/// metadata view by the handler, over a map in tests).
pub trait TopicLookup {
    fn topic(&self, name: &str) -> Option<TopicMeta>;
}

impl TopicLookup for BTreeMap<String, TopicMeta> {
    fn topic(&self, name: &str) -> Option<TopicMeta> {
        self.get(name).copied()
    }
}

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// The partitions that topics the group already knew gained between two views of its
/// subscribed topics (same name and id, more partitions). Their share-partitions start at
/// offset 0, not where `share.auto.offset.reset` says (Kafka's KAFKA-20742): the records
/// produced to a new partition before a member first fetches it belong to the group. A topic
/// the group sees for the first time starts where `share.auto.offset.reset` says.
pub fn added_partitions(
    before: &BTreeMap<String, TopicMeta>,
    after: &BTreeMap<String, TopicMeta>,
) -> Vec<(Uuid, i32)> {
    after
        .iter()
        .filter_map(|(name, now)| {
            let was = before.get(name).filter(|was| was.id == now.id)?;
            Some((was.partitions.max(0)..now.partitions).map(move |p| (now.id, p)))
        })
        .flatten()
        .collect()
}

/// ShareGroupHeartbeat, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareHeartbeatRequest {
    pub group_id: String,
    /// Chosen by the client (a UUID); never empty.
    pub member_id: String,
    /// 0 to join, −1 to leave, else the epoch the member last received.
    pub member_epoch: i32,
    /// `None` = unchanged.
    pub rack_id: Option<String>,
    /// `None` = unchanged; required (non-empty) when joining.
    pub subscribed_topic_names: Option<Vec<String>>,
    pub client_id: String,
    pub client_host: String,
    /// The group's `share.session.timeout.ms` (GROUP config); `None`: the broker's.
    pub session_timeout_ms: Option<i64>,
    /// The group's `share.heartbeat.interval.ms` (GROUP config); `None`: the broker's.
    pub heartbeat_interval_ms: Option<i32>,
}

/// ShareGroupHeartbeat answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareHeartbeatResponse {
    pub error: Option<GroupError>,
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent on a join and whenever the member's assignment changed; `None` otherwise.
    pub assignment: Option<Vec<(Uuid, Vec<i32>)>>,
}

impl ShareHeartbeatResponse {
    pub fn error(error: GroupError, member_id: impl Into<String>, member_epoch: i32) -> Self {
        ShareHeartbeatResponse {
            error: Some(error),
            member_id: member_id.into(),
            member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        }
    }
}

/// One member as ShareGroupDescribe shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareMemberDescription {
    pub member_id: String,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    /// (topic id, topic name, partitions); the name is "" for a topic deleted since.
    pub assignment: Vec<(Uuid, String, Vec<i32>)>,
}

/// ShareGroupDescribe result for one share group; also what sharepart and the console read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGroupDescription {
    pub group_id: String,
    /// "Empty", "Stable" or "Dead".
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: &'static str,
    pub members: Vec<ShareMemberDescription>,
}

/// One member of a share group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareMember {
    pub member_id: String,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed: BTreeSet<String>,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    /// What the member was last told (always the target at `member_epoch`).
    pub assignment: Assignment,
    /// Removed when no heartbeat arrives by then (memory only; reset on load).
    pub session_deadline_ms: i64,
}

impl ShareMember {
    fn new(member_id: &str) -> Self {
        ShareMember {
            member_id: member_id.to_string(),
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed: BTreeSet::new(),
            member_epoch: 0,
            previous_member_epoch: -1,
            assignment: Assignment::new(),
            session_deadline_ms: 0,
        }
    }
}

/// One share group.
#[derive(Debug, Clone)]
pub struct ShareGroup {
    group_id: String,
    dead: bool,
    group_epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, ShareMember>,
    /// Target assignment per member, computed at `assignment_epoch`.
    target: BTreeMap<String, Assignment>,
    /// The subscribed topics that exist, as last seen (a change bumps the group epoch).
    topics: BTreeMap<String, TopicMeta>,
}

impl ShareGroup {
    /// A new, Empty group at epoch 0.
    pub fn new(group_id: impl Into<String>) -> Self {
        ShareGroup {
            group_id: group_id.into(),
            dead: false,
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            topics: BTreeMap::new(),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// Empty, Stable or Dead (Kafka's ShareGroupState).
    pub fn state(&self) -> GroupState {
        if self.dead {
            GroupState::Dead
        } else if self.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        }
    }

    pub fn group_epoch(&self) -> i32 {
        self.group_epoch
    }

    pub fn assignment_epoch(&self) -> i32 {
        self.assignment_epoch
    }

    pub fn num_members(&self) -> usize {
        self.members.len()
    }

    pub fn member(&self, member_id: &str) -> Option<&ShareMember> {
        self.members.get(member_id)
    }

    pub fn members(&self) -> impl Iterator<Item = &ShareMember> {
        self.members.values()
    }

    /// The subscribed topics that exist, as last seen.
    pub fn topics(&self) -> &BTreeMap<String, TopicMeta> {
        &self.topics
    }

    /// The topics the members subscribe to (by name), existing or not.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed.iter().cloned())
            .collect()
    }

    /// The earliest session deadline, for the coordinator's timer.
    pub fn next_deadline(&self) -> Option<i64> {
        if self.dead {
            return None;
        }
        self.members.values().map(|m| m.session_deadline_ms).min()
    }

    /// Kafka: only an Empty share group can be deleted.
    pub fn validate_delete(&self) -> Result<(), GroupError> {
        match self.state() {
            GroupState::Dead => Err(GroupError::GroupIdNotFound(self.group_id.clone())),
            GroupState::Empty => Ok(()),
            _ => Err(GroupError::NonEmptyGroup(self.group_id.clone())),
        }
    }

    /// The group is deleted or unloaded: every later request gets an error.
    pub fn mark_dead(&mut self) {
        self.dead = true;
    }

    /// ShareGroupDescribe view.
    pub fn describe(&self) -> ShareGroupDescription {
        let names: BTreeMap<Uuid, &str> = self
            .topics
            .iter()
            .map(|(n, t)| (t.id, n.as_str()))
            .collect();
        ShareGroupDescription {
            group_id: self.group_id.clone(),
            state: self.state().as_str(),
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor_name: ASSIGNOR_NAME,
            members: self
                .members
                .values()
                .map(|m| ShareMemberDescription {
                    member_id: m.member_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.member_epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed.iter().cloned().collect(),
                    assignment: m
                        .assignment
                        .iter()
                        .map(|(id, ps)| {
                            let name = names.get(id).copied().unwrap_or_default();
                            (*id, name.to_string(), ps.iter().copied().collect())
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}
