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

use std::collections::{BTreeMap, HashMap, HashSet};

use bytes::Bytes;
use indexmap::IndexMap;

use super::error::GroupError;
use super::store::{
    GroupMetadataRecord, MemberRecord, PersistedGroup, ProtocolRecord, RECORD_VERSION,
};
use super::subscription::subscribed_topics;
use super::types::*;

/// Protocol type of Kafka's consumer (the only one whose metadata we read).
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// A deadline that is never reached.
const NEVER: i64 = i64::MAX;

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
    fn metadata(&self, protocol: &str) -> Bytes {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinTimer {
    /// First rebalance of an Empty group: wait `delay_ms` more per newly added member,
    /// with `remaining_ms` of the rebalance timeout left to spend.
    Initial {
        deadline_ms: i64,
        delay_ms: i64,
        remaining_ms: i64,
    },
    /// Complete the join phase with whoever rejoined.
    Rebalance { deadline_ms: i64 },
}

impl JoinTimer {
    fn deadline(&self) -> i64 {
        match *self {
            JoinTimer::Initial { deadline_ms, .. } | JoinTimer::Rebalance { deadline_ms } => {
                deadline_ms
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Due {
    Heartbeat(String),
    Pending(String),
    Join,
    Sync,
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
    pub fn member_ids(&self) -> Vec<String> {
        self.members.keys().cloned().collect()
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
    pub fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.static_members.get(instance_id).map(String::as_str)
    }

    // ----- JoinGroup -------------------------------------------------------------------

    /// JoinGroup. Group id and session timeout bounds are checked by the coordinator.
    pub fn join(
        &mut self,
        req: &JoinRequest,
        cfg: &GroupConfig,
        now_ms: i64,
    ) -> (Outcome<JoinResponse>, Effects) {
        let mut fx = Effects::default();
        let outcome = if !self.accept_joining_member(&req.member_id, cfg) {
            // Kafka evicts a known member that is over capacity (it did not rejoin in time).
            if self.members.contains_key(&req.member_id)
                || self.pending_join.contains_key(&req.member_id)
            {
                self.remove_member_silently(&req.member_id, &mut fx);
                self.maybe_complete_join_phase(cfg, now_ms, &mut fx);
            }
            Outcome::Reply(JoinResponse::error(
                GroupError::GroupMaxSizeReached(cfg.max_size),
                "",
            ))
        } else if req.member_id.is_empty() {
            self.join_new_member(req, cfg, now_ms, &mut fx)
        } else {
            self.join_existing_member(req, cfg, now_ms, &mut fx)
        };
        self.fire_due(cfg, now_ms, &mut fx);
        (outcome, fx)
    }

    fn accept_joining_member(&self, member_id: &str, cfg: &GroupConfig) -> bool {
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.members.get(member_id).is_some_and(|m| m.awaiting_join)
                    || self.num_awaiting_join() < cfg.max_size
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < cfg.max_size
            }
        }
    }

    fn join_new_member(
        &mut self,
        req: &JoinRequest,
        cfg: &GroupConfig,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Outcome<JoinResponse> {
        if self.state == GroupState::Dead {
            return Outcome::Reply(JoinResponse::error(
                GroupError::CoordinatorNotAvailable(format!("group {} is dead", self.group_id)),
                "",
            ));
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return Outcome::Reply(JoinResponse::error(
                self.inconsistent(&req.protocol_type),
                "",
            ));
        }
        let new_id = generate_member_id(&req.client_id, req.group_instance_id.as_deref());
        match &req.group_instance_id {
            Some(instance) => match self.static_members.get(instance).cloned() {
                Some(old_id) => self.update_static_member(req, &old_id, &new_id, cfg, now_ms, fx),
                None => self.add_member(req, new_id, cfg, now_ms, fx),
            },
            None if req.require_known_member_id => {
                let deadline = now_ms.saturating_add(i64::from(req.session_timeout_ms.max(0)));
                self.pending_join.insert(new_id.clone(), deadline);
                Outcome::Reply(JoinResponse::error(
                    GroupError::MemberIdRequired(new_id.clone()),
                    new_id,
                ))
            }
            None => self.add_member(req, new_id, cfg, now_ms, fx),
        }
    }

    fn join_existing_member(
        &mut self,
        req: &JoinRequest,
        cfg: &GroupConfig,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Outcome<JoinResponse> {
        let member_id = req.member_id.as_str();
        if self.state == GroupState::Dead {
            return Outcome::Reply(JoinResponse::error(
                GroupError::CoordinatorNotAvailable(format!("group {} is dead", self.group_id)),
                member_id,
            ));
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return Outcome::Reply(JoinResponse::error(
                self.inconsistent(&req.protocol_type),
                member_id,
            ));
        }
        if self.pending_join.contains_key(member_id) {
            // The rejoin after MEMBER_ID_REQUIRED. Pending members are dynamic; a client that
            // now adds an instance id already owned by someone else is fenced.
            if let Some(instance) = &req.group_instance_id {
                if self.static_members.contains_key(instance) {
                    return Outcome::Reply(JoinResponse::error(
                        GroupError::FencedInstanceId {
                            instance_id: instance.clone(),
                            member_id: member_id.into(),
                        },
                        member_id,
                    ));
                }
            }
            return self.add_member(req, member_id.to_string(), cfg, now_ms, fx);
        }
        if let Err(e) = self.validate_member(member_id, req.group_instance_id.as_deref()) {
            return Outcome::Reply(JoinResponse::error(e, member_id));
        }
        let matches = self
            .members
            .get(member_id)
            .is_some_and(|m| m.protocols == req.protocols);
        match self.state {
            GroupState::PreparingRebalance => {
                self.update_member_and_rebalance(req, cfg, now_ms, fx)
            }
            GroupState::CompletingRebalance if matches => {
                // Same metadata: the member probably lost its JoinGroup response.
                Outcome::Reply(self.join_response_for(member_id, self.leader_id.clone()))
            }
            GroupState::CompletingRebalance => {
                self.update_member_and_rebalance(req, cfg, now_ms, fx)
            }
            GroupState::Stable if self.is_leader(member_id) || !matches => {
                // The leader rejoining forces a rebalance (e.g. topic metadata changed).
                self.update_member_and_rebalance(req, cfg, now_ms, fx)
            }
            GroupState::Stable => {
                let mut r = self.join_response_for(member_id, self.leader_id.clone());
                r.members.clear();
                Outcome::Reply(r)
            }
            GroupState::Empty | GroupState::Dead => Outcome::Reply(JoinResponse::error(
                GroupError::UnknownMemberId(member_id.into()),
                member_id,
            )),
        }
    }

    fn add_member(
        &mut self,
        req: &JoinRequest,
        member_id: String,
        cfg: &GroupConfig,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Outcome<JoinResponse> {
        if self.state == GroupState::PreparingRebalance && self.previous_state == GroupState::Empty
        {
            self.new_member_added = true;
        }
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(instance) = &req.group_instance_id {
            self.static_members
                .insert(instance.clone(), member_id.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member_id.clone());
        }
        self.pending_join.remove(&member_id);
        self.members.insert(
            member_id.clone(),
            Member {
                member_id: member_id.clone(),
                group_instance_id: req.group_instance_id.clone(),
                client_id: req.client_id.clone(),
                client_host: req.client_host.clone(),
                rebalance_timeout_ms: req.effective_rebalance_timeout_ms(),
                session_timeout_ms: req.session_timeout_ms,
                protocol_type: req.protocol_type.clone(),
                protocols: req.protocols.clone(),
                assignment: Bytes::new(),
                awaiting_join: true,
                awaiting_sync: false,
                is_new: true,
                // A parked new member cannot heartbeat: bound its wait separately.
                heartbeat_deadline_ms: now_ms.saturating_add(cfg.new_member_join_timeout_ms),
            },
        );
        self.maybe_prepare_rebalance_or_complete_join(cfg, now_ms, fx);
        Outcome::Parked(member_id)
    }

    fn update_member_and_rebalance(
        &mut self,
        req: &JoinRequest,
        cfg: &GroupConfig,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Outcome<JoinResponse> {
        if let Some(m) = self.members.get_mut(&req.member_id) {
            m.protocols = req.protocols.clone();
            m.rebalance_timeout_ms = req.effective_rebalance_timeout_ms();
            m.session_timeout_ms = req.session_timeout_ms;
            m.awaiting_join = true;
        }
        self.maybe_prepare_rebalance_or_complete_join(cfg, now_ms, fx);
        Outcome::Parked(req.member_id.clone())
    }

    /// A known group.instance.id joined with an empty member id: the new member id takes
    /// over the old member (assignment included) and the old one is fenced.
    fn update_static_member(
        &mut self,
        req: &JoinRequest,
        old_id: &str,
        new_id: &str,
        cfg: &GroupConfig,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Outcome<JoinResponse> {
        let current_leader = self.leader_id.clone();
        let Some(index) = self.members.get_index_of(old_id) else {
            return Outcome::Reply(JoinResponse::error(
                GroupError::UnknownMemberId(old_id.into()),
                "",
            ));
        };
        let Some(old) = self.members.shift_remove(old_id) else {
            return Outcome::Reply(JoinResponse::error(
                GroupError::UnknownMemberId(old_id.into()),
                "",
            ));
        };
        let instance = old.group_instance_id.clone().unwrap_or_default();
        let fenced = GroupError::FencedInstanceId {
            instance_id: instance.clone(),
            member_id: old_id.into(),
        };
        if old.awaiting_join {
            fx.join_replies.push((
                old_id.to_string(),
                JoinResponse::error(fenced.clone(), old_id),
            ));
        }
        if old.awaiting_sync {
            fx.sync_replies
                .push((old_id.to_string(), SyncResponse::error(fenced)));
        }
        self.pending_sync.remove(old_id);
        let new_member = Member {
            member_id: new_id.to_string(),
            protocols: req.protocols.clone(),
            rebalance_timeout_ms: req.effective_rebalance_timeout_ms(),
            session_timeout_ms: req.session_timeout_ms,
            awaiting_join: true,
            awaiting_sync: false,
            is_new: false,
            heartbeat_deadline_ms: now_ms.saturating_add(i64::from(old.session_timeout_ms.max(0))),
            ..old
        };
        self.members
            .shift_insert(index, new_id.to_string(), new_member);
        if self.leader_id.as_deref() == Some(old_id) {
            self.leader_id = Some(new_id.to_string());
        }
        self.static_members.insert(instance, new_id.to_string());

        match self.state {
            GroupState::Stable => {
                let selected = self.select_protocol();
                if selected.is_some() && selected.as_deref() == self.protocol_name.as_deref() {
                    // No rebalance: persist the new member id and hand back the old assignment
                    // through the normal SyncGroup that follows.
                    fx.persist_metadata = true;
                    let is_leader = self.is_leader(new_id);
                    let response = if req.supports_skip_assignment {
                        let mut r = self.join_response_for(new_id, self.leader_id.clone());
                        r.skip_assignment = is_leader;
                        r
                    } else {
                        // Older clients: name the previous leader id so that this member does
                        // not run an assignment nobody asked for.
                        let mut r = self.join_response_for(new_id, current_leader);
                        r.members.clear();
                        r
                    };
                    if let Some(m) = self.members.get_mut(new_id) {
                        m.awaiting_join = false;
                    }
                    fx.join_replies.push((new_id.to_string(), response));
                } else {
                    self.maybe_prepare_rebalance_or_complete_join(cfg, now_ms, fx);
                }
            }
            GroupState::CompletingRebalance => {
                // The leader may already be assigning to the old member id: start over.
                self.prepare_rebalance(cfg, now_ms, fx);
            }
            GroupState::PreparingRebalance => self.maybe_complete_join_phase(cfg, now_ms, fx),
            GroupState::Empty | GroupState::Dead => {}
        }
        Outcome::Parked(new_id.to_string())
    }

    /// The JoinGroup answer for `member_id` in the current generation; the member list is
    /// filled when `member_id` is the leader.
    fn join_response_for(&self, member_id: &str, leader: Option<String>) -> JoinResponse {
        let members = if self.is_leader(member_id) {
            self.join_members()
        } else {
            Vec::new()
        };
        JoinResponse {
            error: None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: leader.unwrap_or_default(),
            member_id: member_id.to_string(),
            members,
            skip_assignment: false,
        }
    }

    fn join_members(&self) -> Vec<JoinMember> {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinMember {
                member_id: m.member_id.clone(),
                group_instance_id: m.group_instance_id.clone(),
                metadata: m.metadata(&protocol),
            })
            .collect()
    }

    // ----- SyncGroup -------------------------------------------------------------------

    /// SyncGroup. Followers park until the leader's assignment arrives.
    pub fn sync(
        &mut self,
        req: &SyncRequest,
        cfg: &GroupConfig,
        now_ms: i64,
    ) -> (Outcome<SyncResponse>, Effects) {
        let mut fx = Effects::default();
        let outcome = self.sync_inner(req, now_ms, &mut fx);
        self.fire_due(cfg, now_ms, &mut fx);
        (outcome, fx)
    }

    fn sync_inner(
        &mut self,
        req: &SyncRequest,
        now_ms: i64,
        fx: &mut Effects,
    ) -> Outcome<SyncResponse> {
        if self.state == GroupState::Empty {
            return Outcome::Reply(SyncResponse::error(GroupError::UnknownMemberId(
                req.member_id.clone(),
            )));
        }
        if let Err(e) = self.validate_sync(req) {
            return Outcome::Reply(SyncResponse::error(e));
        }
        match self.state {
            GroupState::PreparingRebalance => {
                Outcome::Reply(SyncResponse::error(GroupError::RebalanceInProgress))
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    m.awaiting_sync = true;
                }
                self.remove_pending_sync(&req.member_id);
                if self.is_leader(&req.member_id) {
                    let mut given: HashMap<&str, &Bytes> = HashMap::new();
                    for (member_id, assignment) in &req.assignments {
                        given.insert(member_id.as_str(), assignment);
                    }
                    for m in self.members.values_mut() {
                        m.assignment = given
                            .get(m.member_id.as_str())
                            .map(|b| (*b).clone())
                            .unwrap_or_default();
                    }
                    self.propagate_assignment(None, now_ms, fx);
                    self.transition(GroupState::Stable, now_ms);
                    fx.persist_metadata = true;
                }
                Outcome::Parked(req.member_id.clone())
            }
            GroupState::Stable => {
                self.remove_pending_sync(&req.member_id);
                let protocol_type = self.protocol_type.clone();
                let protocol_name = self.protocol_name.clone();
                match self.members.get_mut(&req.member_id) {
                    Some(m) => {
                        m.heartbeat_deadline_ms =
                            now_ms.saturating_add(i64::from(m.session_timeout_ms.max(0)));
                        Outcome::Reply(SyncResponse {
                            error: None,
                            protocol_type,
                            protocol_name,
                            assignment: m.assignment.clone(),
                        })
                    }
                    None => Outcome::Reply(SyncResponse::error(GroupError::UnknownMemberId(
                        req.member_id.clone(),
                    ))),
                }
            }
            GroupState::Empty | GroupState::Dead => Outcome::Reply(SyncResponse::error(
                GroupError::UnknownMemberId(req.member_id.clone()),
            )),
        }
    }

    fn validate_sync(&self, req: &SyncRequest) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable(format!(
                "group {} is dead",
                self.group_id
            )));
        }
        self.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration {
                requested: req.generation_id,
                current: self.generation_id,
            });
        }
        let inconsistent = |asked: &Option<String>, ours: &Option<String>| match (asked, ours) {
            (Some(a), Some(o)) => a != o,
            _ => false,
        };
        if inconsistent(&req.protocol_type, &self.protocol_type)
            || inconsistent(&req.protocol_name, &self.protocol_name)
        {
            return Err(GroupError::InconsistentGroupProtocol(format!(
                "sync with protocol {:?}/{:?}, group uses {:?}/{:?}",
                req.protocol_type, req.protocol_name, self.protocol_type, self.protocol_name
            )));
        }
        Ok(())
    }

    fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_timer = None;
        }
    }

    /// Answers every parked SyncGroup with its assignment (or `error`) and restarts the
    /// answered members' session timers.
    fn propagate_assignment(&mut self, error: Option<GroupError>, now_ms: i64, fx: &mut Effects) {
        let (protocol_type, protocol_name) = if error.is_none() {
            (self.protocol_type.clone(), self.protocol_name.clone())
        } else {
            (None, None)
        };
        for m in self.members.values_mut() {
            if m.awaiting_sync {
                m.awaiting_sync = false;
                m.heartbeat_deadline_ms =
                    now_ms.saturating_add(i64::from(m.session_timeout_ms.max(0)));
                fx.sync_replies.push((
                    m.member_id.clone(),
                    SyncResponse {
                        error: error.clone(),
                        protocol_type: protocol_type.clone(),
                        protocol_name: protocol_name.clone(),
                        assignment: if error.is_none() {
                            m.assignment.clone()
                        } else {
                            Bytes::new()
                        },
                    },
                ));
            }
        }
    }

    /// The leader's assignment could not be persisted: Kafka answers the parked syncs with
    /// the error (done by the coordinator) and rebalances.
    pub fn on_assignment_persist_failed(&mut self, cfg: &GroupConfig, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        if self.state == GroupState::Stable {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
            }
            self.prepare_rebalance(cfg, now_ms, &mut fx);
        }
        fx
    }

    // ----- Heartbeat -------------------------------------------------------------------

    /// Heartbeat: keeps the member alive and tells it whether to rejoin.
    pub fn heartbeat(
        &mut self,
        req: &HeartbeatRequest,
        cfg: &GroupConfig,
        now_ms: i64,
    ) -> (Result<(), GroupError>, Effects) {
        let mut fx = Effects::default();
        let result = self.heartbeat_inner(req, now_ms);
        self.fire_due(cfg, now_ms, &mut fx);
        (result, fx)
    }

    fn heartbeat_inner(&mut self, req: &HeartbeatRequest, now_ms: i64) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable(format!(
                "group {} is dead",
                self.group_id
            )));
        }
        self.validate_member(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != self.generation_id {
            return Err(GroupError::IllegalGeneration {
                requested: req.generation_id,
                current: self.generation_id,
            });
        }
        let state = self.state;
        let member = self
            .members
            .get_mut(&req.member_id)
            .ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
        match state {
            GroupState::Empty | GroupState::Dead => {
                Err(GroupError::UnknownMemberId(req.member_id.clone()))
            }
            GroupState::PreparingRebalance => {
                member.heartbeat_deadline_ms =
                    now_ms.saturating_add(i64::from(member.session_timeout_ms.max(0)));
                Err(GroupError::RebalanceInProgress)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                member.heartbeat_deadline_ms =
                    now_ms.saturating_add(i64::from(member.session_timeout_ms.max(0)));
                Ok(())
            }
        }
    }

    /// Restarts a member's session timer (an offset commit from a live member counts).
    pub fn touch_member(&mut self, member_id: &str, now_ms: i64) {
        if let Some(m) = self.members.get_mut(member_id) {
            if !m.has_satisfied_heartbeat() {
                m.heartbeat_deadline_ms =
                    now_ms.saturating_add(i64::from(m.session_timeout_ms.max(0)));
            }
        }
    }

    // ----- LeaveGroup ------------------------------------------------------------------

    /// LeaveGroup (batched from v3). Errors are per member; the outer error is for the group.
    pub fn leave(
        &mut self,
        leaving: &[LeaveMember],
        cfg: &GroupConfig,
        now_ms: i64,
    ) -> (Result<Vec<LeaveMemberResult>, GroupError>, Effects) {
        let mut fx = Effects::default();
        if self.state == GroupState::Dead {
            return (
                Err(GroupError::CoordinatorNotAvailable(format!(
                    "group {} is dead",
                    self.group_id
                ))),
                fx,
            );
        }
        let mut results = Vec::with_capacity(leaving.len());
        let mut any_left = false;
        for l in leaving {
            let error = if l.member_id.is_empty() {
                match l
                    .group_instance_id
                    .as_deref()
                    .and_then(|i| self.static_members.get(i).cloned())
                {
                    Some(member_id) => {
                        self.remove_current_member(&member_id, &mut fx);
                        None
                    }
                    None => Some(GroupError::UnknownMemberId(String::new())),
                }
            } else if self.pending_join.remove(&l.member_id).is_some() {
                None
            } else {
                match self.validate_member(&l.member_id, l.group_instance_id.as_deref()) {
                    Ok(()) => {
                        self.remove_current_member(&l.member_id, &mut fx);
                        None
                    }
                    Err(e) => Some(e),
                }
            };
            any_left |= error.is_none();
            results.push(LeaveMemberResult {
                member_id: l.member_id.clone(),
                group_instance_id: l.group_instance_id.clone(),
                error,
            });
        }
        if any_left {
            match self.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(cfg, now_ms, &mut fx)
                }
                GroupState::PreparingRebalance => {
                    self.maybe_complete_join_phase(cfg, now_ms, &mut fx)
                }
                GroupState::Empty | GroupState::Dead => {}
            }
        }
        self.fire_due(cfg, now_ms, &mut fx);
        (Ok(results), fx)
    }

    /// Removes a member, answering its parked JoinGroup/SyncGroup with UNKNOWN_MEMBER_ID so
    /// that a still-running client rejoins.
    fn remove_current_member(&mut self, member_id: &str, fx: &mut Effects) {
        if let Some(m) = self.members.get(member_id) {
            if m.awaiting_join {
                fx.join_replies.push((
                    member_id.to_string(),
                    JoinResponse::error(GroupError::UnknownMemberId(member_id.into()), ""),
                ));
            }
            if m.awaiting_sync {
                fx.sync_replies.push((
                    member_id.to_string(),
                    SyncResponse::error(GroupError::UnknownMemberId(member_id.into())),
                ));
            }
        }
        self.remove(member_id);
    }

    fn remove_member_silently(&mut self, member_id: &str, fx: &mut Effects) {
        self.remove_current_member(member_id, fx);
        self.pending_join.remove(member_id);
    }

    fn remove(&mut self, member_id: &str) {
        if let Some(m) = self.members.shift_remove(member_id) {
            if let Some(instance) = &m.group_instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.pending_join.remove(member_id);
        self.pending_sync.remove(member_id);
    }

    // ----- rebalance machinery ---------------------------------------------------------

    fn can_rebalance(&self) -> bool {
        GroupState::PreparingRebalance
            .valid_previous_states()
            .contains(&self.state)
    }

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

    fn num_awaiting_join(&self) -> usize {
        self.members.values().filter(|m| m.awaiting_join).count()
    }

    fn has_all_members_joined(&self) -> bool {
        self.members.values().all(|m| m.awaiting_join) && self.pending_join.is_empty()
    }

    /// The group's rebalance timeout: the largest of its members'.
    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms.max(0)))
            .max()
            .unwrap_or(0)
    }

    fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    fn maybe_prepare_rebalance_or_complete_join(
        &mut self,
        cfg: &GroupConfig,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        if self.can_rebalance() {
            self.prepare_rebalance(cfg, now_ms, fx);
        } else {
            self.maybe_complete_join_phase(cfg, now_ms, fx);
        }
    }

    /// Completes the join phase if everyone has rejoined, except during the initial
    /// (delayed) rebalance, which only its timer completes.
    fn maybe_complete_join_phase(&mut self, cfg: &GroupConfig, now_ms: i64, fx: &mut Effects) {
        if self.state == GroupState::PreparingRebalance
            && self.previous_state != GroupState::Empty
            && self.has_all_members_joined()
        {
            self.complete_join(cfg, now_ms, fx);
        }
    }

    fn prepare_rebalance(&mut self, cfg: &GroupConfig, now_ms: i64, fx: &mut Effects) {
        if self.state == GroupState::CompletingRebalance {
            for m in self.members.values_mut() {
                m.assignment = Bytes::new();
            }
            self.propagate_assignment(Some(GroupError::RebalanceInProgress), now_ms, fx);
        }
        self.pending_sync.clear();
        self.sync_timer = None;
        let initial = self.state == GroupState::Empty;
        if initial {
            let delay = cfg.initial_rebalance_delay_ms.max(0);
            let remaining = (self.rebalance_timeout_ms() - delay).max(0);
            self.join_timer = Some(JoinTimer::Initial {
                deadline_ms: now_ms.saturating_add(delay),
                delay_ms: delay,
                remaining_ms: remaining,
            });
        }
        self.transition(GroupState::PreparingRebalance, now_ms);
        if !initial {
            if self.has_all_members_joined() {
                self.complete_join(cfg, now_ms, fx);
            } else {
                let deadline = now_ms.saturating_add(self.rebalance_timeout_ms());
                self.join_timer = Some(JoinTimer::Rebalance {
                    deadline_ms: deadline,
                });
            }
        }
    }

    /// Ends the join phase: drops dynamic members that did not rejoin, bumps the
    /// generation and answers every parked JoinGroup.
    fn complete_join(&mut self, cfg: &GroupConfig, now_ms: i64, fx: &mut Effects) {
        let _ = cfg;
        self.join_timer = None;
        let not_rejoined: Vec<String> = self
            .members
            .values()
            .filter(|m| !m.awaiting_join && m.group_instance_id.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in &not_rejoined {
            self.remove_current_member(id, fx);
        }
        if self.state == GroupState::Dead {
            return;
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            // Only static members that did not rejoin are left: wait for them (or for their
            // sessions to expire).
            let deadline = now_ms.saturating_add(self.rebalance_timeout_ms().max(1));
            self.join_timer = Some(JoinTimer::Rebalance {
                deadline_ms: deadline,
            });
            return;
        }
        self.init_next_generation(now_ms);
        if self.state == GroupState::Empty {
            fx.persist_metadata = true;
            return;
        }
        let leader = self.leader_id.clone();
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let awaiting = self.members.get(&id).is_some_and(|m| m.awaiting_join);
            if awaiting {
                let response = self.join_response_for(&id, leader.clone());
                fx.join_replies.push((id.clone(), response));
            }
            if let Some(m) = self.members.get_mut(&id) {
                m.awaiting_join = false;
                m.is_new = false;
                m.heartbeat_deadline_ms =
                    now_ms.saturating_add(i64::from(m.session_timeout_ms.max(0)));
            }
            self.pending_sync.insert(id);
        }
        self.sync_timer = Some((
            now_ms.saturating_add(self.rebalance_timeout_ms()),
            self.generation_id,
        ));
    }

    /// Keeps the leader if it rejoined, else picks the first member that did.
    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.clone() else {
            return false;
        };
        if self.members.get(&leader).is_some_and(|m| m.awaiting_join) {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join) {
            Some(m) => {
                self.leader_id = Some(m.member_id.clone());
                true
            }
            None => false,
        }
    }

    fn init_next_generation(&mut self, now_ms: i64) {
        self.generation_id = self.generation_id.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::Empty, now_ms);
        } else {
            self.protocol_name = self.select_protocol();
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::CompletingRebalance, now_ms);
        }
        self.pending_sync.clear();
    }

    /// Kafka's vote: among the protocols every member supports, each member votes for its
    /// most preferred; most votes wins (ties: the earliest member's preference).
    pub fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<String> = first
            .protocols
            .iter()
            .map(|p| p.name.clone())
            .filter(|name| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|p| &p.name == name))
            })
            .collect();
        let mut votes: HashMap<String, usize> = HashMap::new();
        for m in self.members.values() {
            if let Some(v) = m.vote(&candidates) {
                *votes.entry(v).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        candidates.into_iter().find(|c| votes.get(c) == Some(&best))
    }

    /// Can a member with this protocol type and these protocols join?
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.state == GroupState::Empty {
            !protocol_type.is_empty() && !protocols.is_empty()
        } else {
            self.protocol_type.as_deref() == Some(protocol_type)
                && protocols.iter().any(|p| {
                    self.members
                        .values()
                        .all(|m| m.protocols.iter().any(|q| q.name == p.name))
                })
        }
    }

    fn inconsistent(&self, protocol_type: &str) -> GroupError {
        GroupError::InconsistentGroupProtocol(format!(
            "member protocol type {protocol_type:?} / protocols not supported by group {} ({:?})",
            self.group_id, self.protocol_type
        ))
    }

    /// Kafka's `validateMember`: the instance id (if any) must map to this member id, and
    /// the member must exist.
    pub fn validate_member(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
    ) -> Result<(), GroupError> {
        if let Some(instance) = group_instance_id {
            match self.static_members.get(instance) {
                None => return Err(GroupError::UnknownMemberId(member_id.into())),
                Some(existing) if existing != member_id => {
                    return Err(GroupError::FencedInstanceId {
                        instance_id: instance.into(),
                        member_id: member_id.into(),
                    })
                }
                Some(_) => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(GroupError::UnknownMemberId(member_id.into()));
        }
        Ok(())
    }

    fn compute_subscribed_topics(&self) -> Option<HashSet<String>> {
        if self.protocol_type.as_deref() != Some(CONSUMER_PROTOCOL_TYPE) {
            return None;
        }
        if self.members.is_empty() {
            return Some(HashSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut all = HashSet::new();
        for m in self.members.values() {
            match subscribed_topics(&m.metadata(protocol)) {
                Ok(topics) => all.extend(topics),
                Err(e) => {
                    tracing::warn!(group = %self.group_id, error = %e, "cannot parse consumer subscription");
                    return None;
                }
            }
        }
        Some(all)
    }

    /// Is the group actively subscribed to `topic`? Unknown subscriptions count as
    /// subscribed for consumer groups (Kafka's rule).
    pub fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        match &self.subscribed_topics {
            Some(topics) => topics.contains(topic),
            None => self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE),
        }
    }

    // ----- timers ----------------------------------------------------------------------

    /// The earliest pending deadline, for the coordinator's timer.
    pub fn next_deadline(&self) -> Option<i64> {
        let members = self.members.values().map(|m| m.heartbeat_deadline_ms);
        let pending = self.pending_join.values().copied();
        let join = self.join_timer.map(|t| t.deadline());
        let sync = self.sync_timer.map(|(d, _)| d);
        members
            .chain(pending)
            .chain(join)
            .chain(sync)
            .filter(|d| *d != NEVER)
            .min()
    }

    /// Fires every deadline that is due at `now_ms`.
    pub fn tick(&mut self, cfg: &GroupConfig, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        self.fire_due(cfg, now_ms, &mut fx);
        fx
    }

    fn next_due(&self, now_ms: i64) -> Option<Due> {
        let mut best: Option<(i64, Due)> = None;
        let mut consider = |deadline: i64, due: Due| {
            if deadline <= now_ms && best.as_ref().is_none_or(|(d, _)| deadline < *d) {
                best = Some((deadline, due));
            }
        };
        for m in self.members.values() {
            consider(m.heartbeat_deadline_ms, Due::Heartbeat(m.member_id.clone()));
        }
        for (id, d) in &self.pending_join {
            consider(*d, Due::Pending(id.clone()));
        }
        if let Some(t) = self.join_timer {
            consider(t.deadline(), Due::Join);
        }
        if let Some((d, _)) = self.sync_timer {
            consider(d, Due::Sync);
        }
        best.map(|(_, due)| due)
    }

    fn fire_due(&mut self, cfg: &GroupConfig, now_ms: i64, fx: &mut Effects) {
        // Every firing clears or pushes back its deadline; the cap is a guard, not a limit
        // that normal operation reaches.
        let cap = 16 + 4 * (self.members.len() + self.pending_join.len());
        for _ in 0..cap {
            let Some(due) = self.next_due(now_ms) else {
                return;
            };
            match due {
                Due::Heartbeat(id) => self.expire_heartbeat(&id, cfg, now_ms, fx),
                Due::Pending(id) => {
                    tracing::info!(group = %self.group_id, member = %id, "pending member expired");
                    self.pending_join.remove(&id);
                    if self.state == GroupState::PreparingRebalance && self.has_all_members_joined()
                    {
                        self.complete_join(cfg, now_ms, fx);
                    }
                }
                Due::Join => self.fire_join_timer(cfg, now_ms, fx),
                Due::Sync => self.fire_sync_timer(cfg, now_ms, fx),
            }
        }
        tracing::warn!(group = %self.group_id, "timer loop capped");
    }

    fn expire_heartbeat(
        &mut self,
        member_id: &str,
        cfg: &GroupConfig,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        if self.state == GroupState::Dead || m.has_satisfied_heartbeat() {
            // Parked members are kept; their timer restarts when their request is answered.
            m.heartbeat_deadline_ms = NEVER;
            return;
        }
        tracing::info!(group = %self.group_id, member = %member_id, "member session expired");
        self.remove_current_member(member_id, fx);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(cfg, now_ms, fx)
            }
            GroupState::PreparingRebalance if self.has_all_members_joined() => {
                self.complete_join(cfg, now_ms, fx)
            }
            _ => {}
        }
    }

    fn fire_join_timer(&mut self, cfg: &GroupConfig, now_ms: i64, fx: &mut Effects) {
        match self.join_timer.take() {
            Some(JoinTimer::Initial {
                delay_ms,
                remaining_ms,
                ..
            }) if self.new_member_added && remaining_ms != 0 => {
                self.new_member_added = false;
                let new_delay = cfg.initial_rebalance_delay_ms.max(0).min(remaining_ms);
                let new_remaining = (remaining_ms - delay_ms).max(0);
                self.join_timer = Some(JoinTimer::Initial {
                    deadline_ms: now_ms.saturating_add(new_delay),
                    delay_ms: new_delay,
                    remaining_ms: new_remaining,
                });
            }
            Some(_) if self.state == GroupState::PreparingRebalance => {
                self.complete_join(cfg, now_ms, fx);
            }
            Some(_) | None => {}
        }
    }

    fn fire_sync_timer(&mut self, cfg: &GroupConfig, now_ms: i64, fx: &mut Effects) {
        let Some((_, generation)) = self.sync_timer.take() else {
            return;
        };
        if generation != self.generation_id
            || !matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            )
            || self.pending_sync.is_empty()
        {
            return;
        }
        let missing: Vec<String> = self.pending_sync.iter().cloned().collect();
        tracing::info!(group = %self.group_id, members = ?missing, "members did not sync in time");
        for id in &missing {
            self.remove_current_member(id, fx);
        }
        self.prepare_rebalance(cfg, now_ms, fx);
    }

    // ----- offsets ---------------------------------------------------------------------

    /// Kafka's `validateOffsetCommit` for classic groups (non-transactional).
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable(format!(
                "group {} is dead",
                self.group_id
            )));
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            // Admin client or a consumer without group management: allowed on Empty groups.
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(GroupError::IllegalGeneration {
                    requested: generation_id,
                    current: self.generation_id,
                });
            }
        } else if self.state != GroupState::Empty {
            return Err(GroupError::UnknownMemberId(member_id.into()));
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Kafka's `validateOffsetDelete` for classic groups.
    pub fn validate_offset_delete(&self) -> Result<(), GroupError> {
        match self.state {
            GroupState::Dead => Err(GroupError::GroupIdNotFound(self.group_id.clone())),
            GroupState::Empty => Ok(()),
            _ if self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE) => Ok(()),
            _ => Err(GroupError::NonEmptyGroup(self.group_id.clone())),
        }
    }

    /// Kafka's `validateDeleteGroup`.
    pub fn validate_delete(&self) -> Result<(), GroupError> {
        match self.state {
            GroupState::Dead => Err(GroupError::GroupIdNotFound(self.group_id.clone())),
            GroupState::Empty => Ok(()),
            _ => Err(GroupError::NonEmptyGroup(self.group_id.clone())),
        }
    }

    pub fn offset(&self, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.offsets.get(&(topic.to_string(), partition))
    }

    /// All committed offsets, ordered by topic then partition.
    pub fn offsets(&self) -> impl Iterator<Item = (&str, i32, &CommittedOffset)> {
        self.offsets.iter().map(|((t, p), o)| (t.as_str(), *p, o))
    }

    pub fn has_offsets(&self) -> bool {
        !self.offsets.is_empty()
    }

    pub fn put_offset(&mut self, topic: &str, partition: i32, offset: CommittedOffset) {
        self.offsets.insert((topic.to_string(), partition), offset);
    }

    pub fn remove_offset(&mut self, topic: &str, partition: i32) -> bool {
        self.offsets
            .remove(&(topic.to_string(), partition))
            .is_some()
    }

    /// Partitions of `topic` with a committed offset.
    pub fn partitions_of(&self, topic: &str) -> Vec<i32> {
        self.offsets
            .keys()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| *p)
            .collect()
    }

    /// Offsets whose retention has passed (Kafka's `offsetExpirationCondition`):
    /// Empty groups count from when the group became Empty; simple groups and unsubscribed
    /// topics of Stable consumer groups count from the commit.
    pub fn expired_offsets(&self, now_ms: i64, retention_ms: i64) -> Vec<(String, i32)> {
        let stable_consumer = self.state == GroupState::Stable
            && self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE)
            && self.subscribed_topics.is_some();
        self.offsets
            .iter()
            .filter(|((topic, _), o)| {
                let base = match &self.protocol_type {
                    Some(_) if self.state == GroupState::Empty => {
                        self.state_timestamp_ms.unwrap_or(o.commit_timestamp_ms)
                    }
                    Some(_) if stable_consumer => {
                        if self
                            .subscribed_topics
                            .as_ref()
                            .is_some_and(|s| s.contains(topic))
                        {
                            return false;
                        }
                        o.commit_timestamp_ms
                    }
                    Some(_) => return false,
                    None => o.commit_timestamp_ms,
                };
                now_ms.saturating_sub(base) >= retention_ms
            })
            .map(|((t, p), _)| (t.clone(), *p))
            .collect()
    }

    // ----- describe / list / persist ---------------------------------------------------

    /// DescribeGroups view: metadata and assignments only when Stable (as Kafka).
    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable {
            self.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        GroupDescription {
            group_id: self.group_id.clone(),
            state: self.state.as_str(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            members: self
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    /// Everything the console shows: description plus generation and offsets.
    pub fn snapshot(&self) -> GroupSnapshot {
        let d = self.describe();
        GroupSnapshot {
            group_id: d.group_id,
            state: d.state.to_string(),
            protocol_type: d.protocol_type,
            protocol: d.protocol,
            generation_id: self.generation_id,
            members: d.members,
            offsets: self
                .offsets
                .iter()
                .map(|((topic, partition), o)| OffsetSnapshot {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.clone(),
                    commit_timestamp_ms: o.commit_timestamp_ms,
                })
                .collect(),
        }
    }

    pub fn listed(&self) -> ListedGroup {
        ListedGroup {
            group_id: self.group_id.clone(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            state: self.state.as_str(),
            group_type: "classic",
        }
    }

    /// The metadata record to persist now.
    pub fn to_record(&self) -> GroupMetadataRecord {
        GroupMetadataRecord {
            v: RECORD_VERSION,
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    protocols: m
                        .protocols
                        .iter()
                        .map(|p| ProtocolRecord {
                            name: p.name.clone(),
                            metadata: p.metadata.to_vec(),
                        })
                        .collect(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }

    /// Rebuilds a group after a restart. Like Kafka: Stable with its last generation when
    /// it had members (they must heartbeat within a session timeout or are removed), else
    /// Empty. Offsets come back as stored.
    pub fn from_persisted(p: PersistedGroup, now_ms: i64) -> Self {
        let mut g = ClassicGroup::new(p.group_id, now_ms);
        if let Some(meta) = p.metadata {
            g.generation_id = meta.generation_id;
            g.protocol_type = meta.protocol_type.filter(|t| !t.is_empty());
            g.protocol_name = meta.protocol_name;
            g.state_timestamp_ms = meta.state_timestamp_ms.or(Some(now_ms));
            let protocol_type = g.protocol_type.clone().unwrap_or_default();
            for r in meta.members {
                if let Some(instance) = &r.group_instance_id {
                    g.static_members
                        .insert(instance.clone(), r.member_id.clone());
                }
                g.members.insert(
                    r.member_id.clone(),
                    Member {
                        member_id: r.member_id,
                        group_instance_id: r.group_instance_id,
                        client_id: r.client_id,
                        client_host: r.client_host,
                        rebalance_timeout_ms: r.rebalance_timeout_ms,
                        session_timeout_ms: r.session_timeout_ms,
                        protocol_type: protocol_type.clone(),
                        protocols: r
                            .protocols
                            .into_iter()
                            .map(|p| Protocol {
                                name: p.name,
                                metadata: Bytes::from(p.metadata),
                            })
                            .collect(),
                        assignment: Bytes::from(r.assignment),
                        awaiting_join: false,
                        awaiting_sync: false,
                        is_new: false,
                        heartbeat_deadline_ms: now_ms
                            .saturating_add(i64::from(r.session_timeout_ms.max(0))),
                    },
                );
            }
            g.leader_id = meta
                .leader
                .filter(|l| g.members.contains_key(l))
                .or_else(|| g.members.keys().next().cloned());
            if !g.members.is_empty() {
                g.state = GroupState::Stable;
                g.previous_state = GroupState::CompletingRebalance;
            }
            g.subscribed_topics = g.compute_subscribed_topics();
        }
        for (topic, partition, o) in p.offsets {
            g.offsets.insert((topic, partition), o.into());
        }
        g
    }

    /// After loading: a group over `group.max.size` rebalances so members can commit and
    /// the extra ones are turned away.
    pub fn on_loaded(&mut self, cfg: &GroupConfig, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        if self.members.len() > cfg.max_size && self.can_rebalance() {
            self.prepare_rebalance(cfg, now_ms, &mut fx);
        }
        fx
    }

    /// The group is deleted (or unloaded): parked requests are told to find the
    /// coordinator again.
    pub fn mark_dead(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        let err =
            GroupError::CoordinatorNotAvailable(format!("group {} was removed", self.group_id));
        for m in self.members.values_mut() {
            if m.awaiting_join {
                m.awaiting_join = false;
                fx.join_replies.push((
                    m.member_id.clone(),
                    JoinResponse::error(err.clone(), m.member_id.clone()),
                ));
            }
            if m.awaiting_sync {
                m.awaiting_sync = false;
                fx.sync_replies
                    .push((m.member_id.clone(), SyncResponse::error(err.clone())));
            }
        }
        self.join_timer = None;
        self.sync_timer = None;
        self.pending_join.clear();
        self.transition(GroupState::Dead, now_ms);
        fx
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
