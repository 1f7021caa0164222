//! The classic group state machine: one `ClassicGroup` per group id.
//!
//! Semantics follow Apache Kafka's classic `GroupCoordinator` (ClassicGroup and the classic
//! half of GroupMetadataManager): states Empty → PreparingRebalance → CompletingRebalance →
//! Stable (→ PreparingRebalance ...), Dead once deleted; generation bump at every join
//! completion; leader = first member to join, re-elected among rejoined members; protocol
//! chosen by vote among those every member supports; pending (MEMBER_ID_REQUIRED) members;
//! the initial rebalance delay; static membership (group.instance.id); session expiry.
//!
//! This module does no I/O and reads no clock: every method takes `now_ms`, and the
//! timers (heartbeat deadlines, join/rebalance timeout, pending-sync timeout) are plain
//! deadlines that `tick(now_ms)` fires. Parked JoinGroup/SyncGroup requests are not held
//! here: an operation answers `Outcome::Parked(member_id)` and later `Effects` carry the
//! replies addressed by member id; the coordinator owns the reply channels.
//!
//! Invariants:
//! - `leader_id`, when set, names a member of `members`.
//! - every static member's instance id maps to its current member id in `static_members`.
//! - `pending_sync` ⊆ `members` and is only non-empty in CompletingRebalance / Stable.
//! - a member is `awaiting_join` only in PreparingRebalance (its JoinGroup is parked).
//!
//! The state and its types live here; each file below adds the `impl ClassicGroup` methods
//! of one concern. The fields are private to this module (so shared by its files); a helper
//! one file lends another is `pub(super)`.
//! - `join`        JoinGroup: new, known, pending (MEMBER_ID_REQUIRED) and static members
//! - `sync`        SyncGroup: the leader's assignment and its delivery to parked followers
//! - `membership`  Heartbeat, LeaveGroup, member validation and removal
//! - `rebalance`   join phase, generation bump, leader election, protocol vote, subscriptions
//! - `timers`      the deadlines (session, pending member, join, pending sync), what fires when
//! - `offsets`     committed offsets: commit/delete validation, storage, retention expiry
//! - `views`       DescribeGroups, ListGroups and the console's snapshot
//! - `lifecycle`   the persisted record, the rebuild after a restart, deletion

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use indexmap::IndexMap;

use super::types::*;
pub use lifecycle::AdoptedMember;
use timers::JoinTimer;

mod join;
mod lifecycle;
mod membership;
mod offsets;
mod rebalance;
mod sync;
#[cfg(test)]
mod testutil;
mod timers;
mod views;

/// Protocol type of Kafka's consumer (the only one whose metadata we read).
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// One member of a classic group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocol_type: String,
    /// In the member's order of preference.
    pub protocols: Vec<Protocol>,
    /// Empty until the leader's SyncGroup gives one.
    pub assignment: Bytes,
    awaiting_join: bool,
    awaiting_sync: bool,
    /// Joined but not yet through a join completion: its heartbeat deadline is the
    /// new-member join timeout and being parked does not keep it alive.
    is_new: bool,
    heartbeat_deadline_ms: i64,
}

impl Member {
    /// The metadata it sent for `protocol` (empty if it does not support it).
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    /// Parked members need not heartbeat (Kafka's `hasSatisfiedHeartbeat`).
    fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join || self.awaiting_sync)
    }

    fn vote(&self, candidates: &[String]) -> Option<String> {
        self.protocols
            .iter()
            .find(|p| candidates.contains(&p.name))
            .map(|p| p.name.clone())
    }
}

/// Result of an operation that may have to wait for the rebalance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<T> {
    /// Answer now.
    Reply(T),
    /// The request is parked under this member id; its reply will come in `Effects`
    /// (possibly the ones returned by this very call).
    Parked(String),
}

/// Side effects of an operation or a timer tick, for the coordinator to carry out:
/// persist first (when asked), then deliver the replies.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effects {
    pub join_replies: Vec<(String, JoinResponse)>,
    pub sync_replies: Vec<(String, SyncResponse)>,
    /// The group metadata record must be written (see `ClassicGroup::to_record`).
    pub persist_metadata: bool,
}

impl Effects {
    pub fn merge(&mut self, other: Effects) {
        self.join_replies.extend(other.join_replies);
        self.sync_replies.extend(other.sync_replies);
        self.persist_metadata |= other.persist_metadata;
    }

    pub fn is_empty(&self) -> bool {
        self.join_replies.is_empty() && self.sync_replies.is_empty() && !self.persist_metadata
    }
}

/// One classic consumer group: membership, rebalance state and committed offsets.
#[derive(Debug, Clone)]
pub struct ClassicGroup {
    group_id: String,
    state: GroupState,
    previous_state: GroupState,
    state_timestamp_ms: Option<i64>,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader_id: Option<String>,
    /// In join order: the first is the leader candidate when the leader leaves.
    members: IndexMap<String, Member>,
    /// group.instance.id → member id.
    static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED → deadline to rejoin.
    pending_join: HashMap<String, i64>,
    pending_sync: HashSet<String>,
    new_member_added: bool,
    join_timer: Option<JoinTimer>,
    /// (deadline, generation it was set for).
    sync_timer: Option<(i64, i32)>,
    subscribed_topics: Option<HashSet<String>>,
    offsets: BTreeMap<(String, i32), CommittedOffset>,
}

/// A new member id: `{client_id}-{uuid}` (`{group_instance_id}-{uuid}` for static members).
pub fn generate_member_id(client_id: &str, group_instance_id: Option<&str>) -> String {
    format!(
        "{}-{}",
        group_instance_id.unwrap_or(client_id),
        uuid::Uuid::new_v4()
    )
}

impl ClassicGroup {
    /// A new Empty group.
    pub fn new(group_id: impl Into<String>, now_ms: i64) -> Self {
        ClassicGroup {
            group_id: group_id.into(),
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_timestamp_ms: Some(now_ms),
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: IndexMap::new(),
            static_members: HashMap::new(),
            pending_join: HashMap::new(),
            pending_sync: HashSet::new(),
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
            subscribed_topics: None,
            offsets: BTreeMap::new(),
        }
    }

    // ----- accessors -------------------------------------------------------------------

    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    pub fn state(&self) -> GroupState {
        self.state
    }
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }
    pub fn leader_id(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }
    pub fn member(&self, member_id: &str) -> Option<&Member> {
        self.members.get(member_id)
    }
    /// The members, in join order.
    pub fn members(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }
    pub fn num_members(&self) -> usize {
        self.members.len()
    }
    pub fn has_pending_members(&self) -> bool {
        !self.pending_join.is_empty()
    }
    pub fn is_pending_member(&self, member_id: &str) -> bool {
        self.pending_join.contains_key(member_id)
    }

    // ----- state transitions -----------------------------------------------------------

    /// Every state change goes through here: it is checked against `GroupState`'s graph
    /// and stamped with `now_ms` (an Empty group's offsets expire counting from that stamp).
    fn transition(&mut self, to: GroupState, now_ms: i64) {
        debug_assert!(
            to.valid_previous_states().contains(&self.state),
            "illegal transition {:?} -> {:?}",
            self.state,
            to
        );
        self.previous_state = self.state;
        self.state = to;
        self.state_timestamp_ms = Some(now_ms);
    }
}
