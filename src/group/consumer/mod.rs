//! The KIP-848 consumer group state machine: one `ConsumerGroup` per group id whose members
//! speak ConsumerGroupHeartbeat (`group.protocol=consumer`).
//!
//! Semantics follow Kafka 4.3's `GroupMetadataManager.consumerGroupHeartbeat`,
//! `ConsumerGroup` and `CurrentAssignmentBuilder`:
//! - the **group epoch** is bumped on every membership, subscription, assignor or subscribed
//!   topic metadata change (a topic created, deleted or given partitions);
//! - the **target assignment** is recomputed by the server assignor (`assignor.rs`) when the
//!   group epoch is ahead of the assignment epoch;
//! - each member **reconciles** towards its target (`reconcile.rs`): partitions to give up
//!   are revoked first (the member keeps its epoch and must report it no longer owns them),
//!   partitions still owned by another member are never handed out (unreleased), and the
//!   member epoch advances to the assignment epoch only when it owns nothing it must give up.
//!
//! This module does no I/O and reads no clock: every method takes `now_ms`. Topics are known
//! by id; the caller passes a `TopicsImage` (name → id, partition count) taken at the request.
//!
//! Invariants:
//! - a partition is in at most one member's `assigned ∪ pending_revocation`;
//! - every static member's instance id maps to its member id in `static_members`;
//! - `rebalance_deadline_ms` is set exactly while a member is `UnrevokedPartitions`;
//! - `assignment_epoch <= group_epoch`; a member's epoch is ≤ the assignment epoch (or −2 for
//!   a static member that left temporarily).
//!
//! - `assignor`   the server-side `uniform` and `range` assignors (both sticky)
//! - `classic`    classic-protocol members and the conversions from / to a classic group
//! - `reconcile`  the member's next assignment (revoke before assign)
//! - `record`     the persisted form (the `"consumer"` object of the group metadata record)

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;
use uuid::Uuid;

use super::error::GroupError;

pub use classic::{ClassicJoinOutcome, ClassicMember, UpgradeError};

pub mod assignor;
mod classic;
mod reconcile;
pub mod record;
#[cfg(test)]
mod tests;

/// Epoch a member sends to leave the group.
pub const LEAVE_EPOCH: i32 = -1;
/// Epoch a static member sends to leave temporarily (it keeps its assignment until its
/// session times out).
pub const STATIC_LEAVE_EPOCH: i32 = -2;
/// The server assignors, the first being the default.
pub const ASSIGNORS: &[&str] = &["uniform", "range"];

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// One topic as the assignor sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicMeta {
    pub id: Uuid,
    pub partitions: i32,
    /// Internal topics (`__consumer_offsets`, ...) never match a regex subscription.
    pub internal: bool,
}

/// The topics that exist, by name, as of one request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicsImage {
    pub by_name: BTreeMap<String, TopicMeta>,
}

impl TopicsImage {
    pub fn name_of(&self, id: Uuid) -> Option<&str> {
        self.by_name
            .iter()
            .find(|(_, t)| t.id == id)
            .map(|(n, _)| n.as_str())
    }
}

/// A member's reconciliation state (Kafka's `MemberState`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MemberState {
    Stable,
    /// It must first give up `pending_revocation`; its epoch does not move.
    UnrevokedPartitions,
    /// Some partitions of its target are still owned by another member.
    UnreleasedPartitions,
}

impl MemberState {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Stable => "stable",
            MemberState::UnrevokedPartitions => "unrevoked_partitions",
            MemberState::UnreleasedPartitions => "unreleased_partitions",
        }
    }
}

/// The group states, as Kafka spells them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsumerGroupState {
    Empty,
    Assigning,
    Reconciling,
    Stable,
}

impl ConsumerGroupState {
    pub fn as_str(self) -> &'static str {
        match self {
            ConsumerGroupState::Empty => "Empty",
            ConsumerGroupState::Assigning => "Assigning",
            ConsumerGroupState::Reconciling => "Reconciling",
            ConsumerGroupState::Stable => "Stable",
        }
    }
}

/// One member of a consumer group.
#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_names: Vec<String>,
    pub subscribed_regex: Option<String>,
    /// `subscribed_regex` compiled for a whole-name match.
    regex: Option<Regex>,
    /// The topics its regex matched that its principal may DESCRIBE, as of its last
    /// heartbeat (Kafka filters resolved regexes by DESCRIBE ACLs); `None`: not filtered (no
    /// authorizer).
    pub regex_topics: Option<BTreeSet<String>>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    /// Owned partitions → the epoch at which each was assigned (the 4.3 offset-commit rule).
    pub assigned: BTreeMap<Uuid, BTreeMap<i32, i32>>,
    /// Partitions it must give up before its epoch advances.
    pub pending_revocation: Assignment,
    session_deadline_ms: i64,
    rebalance_deadline_ms: Option<i64>,
    /// Set while the member speaks the classic protocol (JoinGroup, SyncGroup, Heartbeat)
    /// inside this consumer group (`classic.rs`).
    pub classic: Option<ClassicMember>,
}

impl ConsumerMember {
    fn new(member_id: &str, now_ms: i64) -> Self {
        ConsumerMember {
            member_id: member_id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_names: Vec::new(),
            subscribed_regex: None,
            regex: None,
            regex_topics: None,
            server_assignor: None,
            rebalance_timeout_ms: 300_000,
            member_epoch: 0,
            previous_member_epoch: -1,
            state: MemberState::Stable,
            assigned: BTreeMap::new(),
            pending_revocation: BTreeMap::new(),
            session_deadline_ms: now_ms,
            rebalance_deadline_ms: None,
            classic: None,
        }
    }

    /// The owned partitions without their epochs.
    pub fn assigned_partitions(&self) -> Assignment {
        self.assigned
            .iter()
            .map(|(t, ps)| (*t, ps.keys().copied().collect()))
            .collect()
    }

    /// The topic names this member subscribes to that exist: its names, plus every
    /// non-internal topic its regex matches in full (and its principal may describe, when
    /// `regex_topics` says).
    pub fn subscribed_topics<'a>(&self, image: &'a TopicsImage) -> BTreeSet<&'a str> {
        image
            .by_name
            .iter()
            .filter(|(name, meta)| {
                self.subscribed_names.iter().any(|n| n == *name)
                    || (self.regex_matches(name, meta)
                        && self
                            .regex_topics
                            .as_ref()
                            .is_none_or(|t| t.contains(name.as_str())))
            })
            .map(|(name, _)| name.as_str())
            .collect()
    }

    fn regex_matches(&self, name: &str, meta: &TopicMeta) -> bool {
        !meta.internal && self.regex.as_ref().is_some_and(|r| r.is_match(name))
    }

    /// Re-resolves `regex_topics` against `image` with the topics the member's principal may
    /// describe now (`None`: no authorizer). Returns whether it changed.
    fn filter_regex(
        &mut self,
        describable: Option<&BTreeSet<String>>,
        image: &TopicsImage,
    ) -> bool {
        let new = match (describable, &self.regex) {
            (Some(allowed), Some(_)) => Some(
                image
                    .by_name
                    .iter()
                    .filter(|(name, meta)| {
                        self.regex_matches(name, meta) && allowed.contains(*name)
                    })
                    .map(|(name, _)| name.clone())
                    .collect(),
            ),
            _ => None,
        };
        let changed = new != self.regex_topics;
        self.regex_topics = new;
        changed
    }

    fn set_regex(&mut self, regex: Option<String>) -> Result<(), GroupError> {
        self.regex = match regex.as_deref() {
            None | Some("") => None,
            Some(r) => Some(compile_regex(r)?),
        };
        self.subscribed_regex = regex.filter(|r| !r.is_empty());
        Ok(())
    }
}

/// Compiles a subscription regex to match whole topic names (RE2J's `matches()`).
pub fn compile_regex(r: &str) -> Result<Regex, GroupError> {
    Regex::new(&format!("^(?:{r})$"))
        .map_err(|e| GroupError::InvalidRegularExpression(format!("{r}: {e}")))
}

/// ConsumerGroupHeartbeat in domain terms. `None` means "unchanged since my last heartbeat".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConsumerHeartbeat {
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    /// −1 = unchanged.
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub topic_partitions: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
    /// The group's `consumer.session.timeout.ms` (resolved by the caller).
    pub session_timeout_ms: i32,
    /// The group's `consumer.heartbeat.interval.ms` (resolved by the caller).
    pub heartbeat_interval_ms: i32,
    /// The topics the member's principal may DESCRIBE, which bound what its regex matches;
    /// `None`: no authorizer, every topic.
    pub describable_topics: Option<BTreeSet<String>>,
}

impl ConsumerHeartbeat {
    /// The checks Kafka makes before touching any state (`throwIfConsumerGroupHeartbeatRequestIsInvalid`).
    pub fn validate(&self, version: i16) -> Result<(), GroupError> {
        let invalid = |m: &str| Err(GroupError::InvalidRequest(m.to_string()));
        if self.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId(self.group_id.clone()));
        }
        if (version >= 1 || self.member_epoch > 0 || self.member_epoch == LEAVE_EPOCH)
            && self.member_id.is_empty()
        {
            return invalid("MemberId can't be empty.");
        }
        if self.instance_id.as_deref() == Some("") {
            return invalid("InstanceId can't be empty.");
        }
        if self.rack_id.as_deref() == Some("") {
            return invalid("RackId can't be empty.");
        }
        match self.member_epoch {
            0 => {
                if self.rebalance_timeout_ms == -1 {
                    return invalid("RebalanceTimeoutMs must be provided in first request.");
                }
                if !self.topic_partitions.as_ref().is_some_and(|t| t.is_empty()) {
                    return invalid("TopicPartitions must be empty when (re-)joining.");
                }
                if self.subscribed_topic_names.is_none() && self.subscribed_topic_regex.is_none() {
                    return invalid("SubscribedTopicNames or SubscribedTopicRegex must be set in first request.");
                }
            }
            STATIC_LEAVE_EPOCH if self.instance_id.is_none() => {
                return invalid("InstanceId can't be null.");
            }
            e if e < STATIC_LEAVE_EPOCH => return invalid("MemberEpoch is invalid."),
            _ => {}
        }
        if let Some(a) = &self.server_assignor {
            if !ASSIGNORS.contains(&a.as_str()) {
                return Err(GroupError::UnsupportedAssignor(a.clone()));
            }
        }
        if let Some(r) = self
            .subscribed_topic_regex
            .as_deref()
            .filter(|r| !r.is_empty())
        {
            compile_regex(r)?;
        }
        Ok(())
    }
}

/// What ConsumerGroupHeartbeat answers on success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerHeartbeatResponse {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The full set the member may own now; `None` = unchanged.
    pub assignment: Option<Assignment>,
}

/// One consumer group: membership, epochs, target and current assignments.
#[derive(Debug, Clone)]
pub struct ConsumerGroup {
    group_id: String,
    group_epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, ConsumerMember>,
    /// member id → its target assignment at `assignment_epoch`.
    target: BTreeMap<String, Assignment>,
    /// instance id → member id.
    static_members: BTreeMap<String, String>,
    /// Hash of the subscribed topics' metadata at the last group epoch bump.
    metadata_hash: u64,
    /// Names of the topics members subscribed to, as of the last heartbeat (offset commits
    /// name topics, assignments use ids).
    topic_ids: BTreeMap<String, Uuid>,
}

impl ConsumerGroup {
    pub fn new(group_id: impl Into<String>) -> Self {
        ConsumerGroup {
            group_id: group_id.into(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            static_members: BTreeMap::new(),
            metadata_hash: 0,
            topic_ids: BTreeMap::new(),
        }
    }

    pub fn group_id(&self) -> &str {
        &self.group_id
    }
    pub fn group_epoch(&self) -> i32 {
        self.group_epoch
    }
    pub fn assignment_epoch(&self) -> i32 {
        self.assignment_epoch
    }
    pub fn members(&self) -> impl Iterator<Item = &ConsumerMember> {
        self.members.values()
    }
    pub fn member(&self, id: &str) -> Option<&ConsumerMember> {
        self.members.get(id)
    }
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
    pub fn target_of(&self, member_id: &str) -> Option<&Assignment> {
        self.target.get(member_id)
    }

    pub fn state(&self) -> ConsumerGroupState {
        if self.members.is_empty() {
            ConsumerGroupState::Empty
        } else if self.group_epoch > self.assignment_epoch {
            ConsumerGroupState::Assigning
        } else if self
            .members
            .values()
            .any(|m| m.member_epoch != self.assignment_epoch || m.state != MemberState::Stable)
        {
            ConsumerGroupState::Reconciling
        } else {
            ConsumerGroupState::Stable
        }
    }

    /// The assignor the group uses: the one most members prefer, else the default.
    pub fn assignor_name(&self) -> &'static str {
        let mut best = ASSIGNORS[0];
        let mut best_count = 0;
        for name in ASSIGNORS {
            let n = self
                .members
                .values()
                .filter(|m| m.server_assignor.as_deref() == Some(name))
                .count();
            if n > best_count {
                best = name;
                best_count = n;
            }
        }
        best
    }

    /// Whether any member subscribes to `topic` (OffsetDelete refuses those).
    pub fn is_subscribed_to(&self, topic: &str) -> bool {
        self.topic_ids.contains_key(topic)
    }

    /// The earliest session or rebalance deadline.
    pub fn next_deadline(&self) -> Option<i64> {
        self.members
            .values()
            .flat_map(|m| {
                [
                    Some(m.session_deadline_ms),
                    m.rebalance_deadline_ms,
                    m.classic.as_ref().and_then(|c| c.join_or_sync_deadline_ms),
                ]
            })
            .flatten()
            .min()
    }

    /// ConsumerGroupHeartbeat, after `ConsumerHeartbeat::validate`.
    pub fn heartbeat(
        &mut self,
        req: &ConsumerHeartbeat,
        image: &TopicsImage,
        max_size: usize,
        now_ms: i64,
    ) -> Result<ConsumerHeartbeatResponse, GroupError> {
        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
            return self.leave(req);
        }
        let mut bump = if req.member_epoch == 0 {
            self.join(req, max_size, now_ms)?
        } else {
            self.check_epoch(req)?;
            false
        };
        let m = self
            .members
            .get_mut(&req.member_id)
            .ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
        bump |= update_member(m, req)?;
        bump |= m.filter_regex(req.describable_topics.as_ref(), image);
        m.session_deadline_ms = now_ms.saturating_add(i64::from(req.session_timeout_ms));
        let hash = self.refresh_topics(image);
        if hash != self.metadata_hash {
            self.metadata_hash = hash;
            bump = true;
        }
        if bump {
            self.group_epoch += 1;
        }
        if self.group_epoch > self.assignment_epoch {
            self.compute_target(image);
        }
        let before = self
            .members
            .get(&req.member_id)
            .map(|m| m.assigned_partitions());
        let received = req.member_epoch;
        self.reconcile(&req.member_id, req.topic_partitions.as_ref(), now_ms);
        let m = self
            .members
            .get(&req.member_id)
            .ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
        let after = m.assigned_partitions();
        let full = req.member_epoch == 0
            || (req.rebalance_timeout_ms != -1
                && (req.subscribed_topic_names.is_some() || req.subscribed_topic_regex.is_some())
                && req.topic_partitions.is_some());
        let changed = before.as_ref() != Some(&after) || received != m.member_epoch;
        Ok(ConsumerHeartbeatResponse {
            member_id: m.member_id.clone(),
            member_epoch: m.member_epoch,
            heartbeat_interval_ms: req.heartbeat_interval_ms,
            assignment: (full || changed).then_some(after),
        })
    }

    /// Epoch 0: a new member, a rejoin of a known one, or a static member taking over its
    /// instance. Returns whether the group epoch must be bumped.
    fn join(
        &mut self,
        req: &ConsumerHeartbeat,
        max_size: usize,
        now_ms: i64,
    ) -> Result<bool, GroupError> {
        if self.members.contains_key(&req.member_id) {
            return Ok(false);
        }
        if let Some(instance) = &req.instance_id {
            if let Some(old_id) = self.static_members.get(instance).cloned() {
                let old_epoch = self.members.get(&old_id).map(|m| m.member_epoch);
                if old_epoch != Some(STATIC_LEAVE_EPOCH) {
                    return Err(GroupError::UnreleasedInstanceId(instance.clone()));
                }
                // Kafka's replaceMember: the new member id takes over the assignment, no
                // rebalance.
                if let Some(mut m) = self.members.remove(&old_id) {
                    m.member_id = req.member_id.clone();
                    m.member_epoch = 0;
                    self.members.insert(req.member_id.clone(), m);
                }
                if let Some(t) = self.target.remove(&old_id) {
                    self.target.insert(req.member_id.clone(), t);
                }
                self.static_members
                    .insert(instance.clone(), req.member_id.clone());
                return Ok(false);
            }
        }
        if self.members.len() >= max_size {
            return Err(GroupError::GroupMaxSizeReached(max_size));
        }
        let mut m = ConsumerMember::new(&req.member_id, now_ms);
        m.instance_id = req.instance_id.clone();
        if let Some(instance) = &req.instance_id {
            self.static_members
                .insert(instance.clone(), req.member_id.clone());
        }
        self.members.insert(req.member_id.clone(), m);
        Ok(true)
    }

    /// Epoch > 0: the member must exist, own its instance id, and send its current epoch
    /// (or its previous one with a subset of its partitions: the response with the bump was
    /// lost).
    fn check_epoch(&self, req: &ConsumerHeartbeat) -> Result<(), GroupError> {
        let m = self
            .members
            .get(&req.member_id)
            .ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
        if let Some(instance) = &req.instance_id {
            match self.static_members.get(instance) {
                None => return Err(GroupError::UnknownMemberId(req.member_id.clone())),
                Some(owner) if *owner != req.member_id => {
                    return Err(GroupError::FencedInstanceId {
                        instance_id: instance.clone(),
                        member_id: req.member_id.clone(),
                    })
                }
                Some(_) => {}
            }
        }
        let fenced = || GroupError::FencedMemberEpoch {
            received: req.member_epoch,
            current: m.member_epoch,
        };
        if req.member_epoch > m.member_epoch {
            return Err(fenced());
        }
        if req.member_epoch < m.member_epoch {
            let subset = req.topic_partitions.as_ref().is_none_or(|owned| {
                owned.iter().all(|(t, ps)| {
                    ps.iter()
                        .all(|p| m.assigned.get(t).is_some_and(|a| a.contains_key(p)))
                })
            });
            if req.member_epoch != m.previous_member_epoch || !subset {
                return Err(fenced());
            }
        }
        Ok(())
    }

    /// Epoch −1 (leave: the member goes, the group epoch is bumped) or −2 (a static member
    /// leaves temporarily and keeps its partitions until its session times out).
    fn leave(&mut self, req: &ConsumerHeartbeat) -> Result<ConsumerHeartbeatResponse, GroupError> {
        let member_id = match &req.instance_id {
            Some(instance) => {
                let owner = self
                    .static_members
                    .get(instance)
                    .ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
                if *owner != req.member_id {
                    return Err(GroupError::FencedInstanceId {
                        instance_id: instance.clone(),
                        member_id: req.member_id.clone(),
                    });
                }
                owner.clone()
            }
            None => req.member_id.clone(),
        };
        if !self.members.contains_key(&member_id) {
            return Err(GroupError::UnknownMemberId(member_id));
        }
        if req.member_epoch == STATIC_LEAVE_EPOCH {
            if let Some(m) = self.members.get_mut(&member_id) {
                m.member_epoch = STATIC_LEAVE_EPOCH;
                // 4.3: its partitions may be committed only by its successor's epochs.
                for ps in m.assigned.values_mut() {
                    ps.values_mut().for_each(|e| *e = 0);
                }
            }
        } else {
            self.remove_member(&member_id);
        }
        Ok(ConsumerHeartbeatResponse {
            member_id: req.member_id.clone(),
            member_epoch: req.member_epoch,
            heartbeat_interval_ms: 0,
            assignment: None,
        })
    }

    /// Fences a member: it goes with its partitions, and the group epoch is bumped.
    pub fn remove_member(&mut self, member_id: &str) {
        if let Some(m) = self.members.remove(member_id) {
            if let Some(instance) = &m.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
            self.target.remove(member_id);
            self.group_epoch += 1;
        }
    }

    /// Fires the deadlines due at `now_ms` (session timeouts, rebalance timeouts of members
    /// that did not revoke in time). Returns the members fenced.
    pub fn tick(&mut self, now_ms: i64) -> Vec<String> {
        let due: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.session_deadline_ms <= now_ms
                    || m.rebalance_deadline_ms.is_some_and(|d| d <= now_ms)
                    || m.classic
                        .as_ref()
                        .and_then(|c| c.join_or_sync_deadline_ms)
                        .is_some_and(|d| d <= now_ms)
            })
            .map(|m| m.member_id.clone())
            .collect();
        for id in &due {
            self.remove_member(id);
        }
        due
    }

    /// After a restart: every member must heartbeat within its session timeout; a member that
    /// was revoking gets a full rebalance timeout again.
    pub fn on_loaded(&mut self, session_timeout_ms: i32, now_ms: i64) {
        for m in self.members.values_mut() {
            let session = m
                .classic
                .as_ref()
                .map_or(session_timeout_ms, |c| c.session_timeout_ms);
            m.session_deadline_ms = now_ms.saturating_add(i64::from(session));
            if m.state == MemberState::UnrevokedPartitions {
                m.rebalance_deadline_ms =
                    Some(now_ms.saturating_add(i64::from(m.rebalance_timeout_ms)));
            }
        }
    }

    /// Resolves the members' subscriptions against `image`; returns the hash of the
    /// subscribed topics' metadata.
    fn refresh_topics(&mut self, image: &TopicsImage) -> u64 {
        let mut names: BTreeSet<&str> = BTreeSet::new();
        for m in self.members.values() {
            names.extend(m.subscribed_topics(image));
        }
        let mut hash = Fnv::default();
        self.topic_ids.clear();
        for name in names {
            if let Some(t) = image.by_name.get(name) {
                hash.write(name.as_bytes());
                hash.write(t.id.as_bytes());
                hash.write(&t.partitions.to_be_bytes());
                self.topic_ids.insert(name.to_string(), t.id);
            }
        }
        hash.0
    }

    /// Runs the assignor over every member's subscription: the new target at the group epoch.
    fn compute_target(&mut self, image: &TopicsImage) {
        let specs: Vec<assignor::MemberSpec> = self
            .members
            .values()
            .map(|m| assignor::MemberSpec {
                member_id: m.member_id.clone(),
                instance_id: m.instance_id.clone(),
                topics: m
                    .subscribed_topics(image)
                    .into_iter()
                    .filter_map(|n| image.by_name.get(n).map(|t| t.id))
                    .collect(),
            })
            .collect();
        let topics: BTreeMap<Uuid, i32> = image
            .by_name
            .values()
            .map(|t| (t.id, t.partitions))
            .collect();
        self.target = assignor::assign(self.assignor_name(), &specs, &topics, &self.target);
        self.assignment_epoch = self.group_epoch;
    }

    /// OffsetCommit / TxnOffsetCommit validation (Kafka 4.3 `ConsumerGroup.validateOffsetCommit`
    /// with the per-partition assignment-epoch rule). `partitions` name the topics committed.
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        epoch: i32,
        partitions: &[(String, i32)],
    ) -> Result<(), GroupError> {
        if epoch < 0 && self.members.is_empty() {
            return Ok(());
        }
        let m = self
            .members
            .get(member_id)
            .ok_or_else(|| GroupError::UnknownMemberId(member_id.to_string()))?;
        let stale = || GroupError::StaleMemberEpoch {
            received: epoch,
            current: m.member_epoch,
        };
        if epoch == m.member_epoch {
            return Ok(());
        }
        if m.classic.is_some() {
            // A classic member commits with its generation, which is its member epoch.
            return Err(GroupError::IllegalGeneration {
                requested: epoch,
                current: m.member_epoch,
            });
        }
        if epoch > m.member_epoch {
            return Err(stale());
        }
        for (topic, p) in partitions {
            let id = self.topic_ids.get(topic).ok_or_else(stale)?;
            let assigned_at = m.assigned.get(id).and_then(|ps| ps.get(p)).copied();
            let revoking = m
                .pending_revocation
                .get(id)
                .is_some_and(|ps| ps.contains(p));
            let ok = match assigned_at {
                Some(at) => epoch >= at,
                None => revoking,
            };
            if !ok {
                return Err(stale());
            }
        }
        Ok(())
    }

    /// OffsetFetch v9 validation: a member fetching with its id must send its current epoch.
    pub fn validate_offset_fetch(&self, member_id: &str, epoch: i32) -> Result<(), GroupError> {
        let m = self
            .members
            .get(member_id)
            .ok_or_else(|| GroupError::UnknownMemberId(member_id.to_string()))?;
        if epoch != m.member_epoch {
            return Err(GroupError::StaleMemberEpoch {
                received: epoch,
                current: m.member_epoch,
            });
        }
        Ok(())
    }
}

/// Applies the fields the heartbeat carries (null = unchanged). Returns whether the group
/// epoch must be bumped (subscription or preferred assignor changed).
fn update_member(m: &mut ConsumerMember, req: &ConsumerHeartbeat) -> Result<bool, GroupError> {
    let mut bump = false;
    if let Some(names) = &req.subscribed_topic_names {
        let mut sorted = names.clone();
        sorted.sort();
        sorted.dedup();
        if sorted != m.subscribed_names {
            m.subscribed_names = sorted;
            bump = true;
        }
    }
    if let Some(regex) = &req.subscribed_topic_regex {
        let new = Some(regex.clone()).filter(|r| !r.is_empty());
        if new != m.subscribed_regex {
            m.set_regex(new)?;
            bump = true;
        }
    }
    if req.server_assignor.is_some() && req.server_assignor != m.server_assignor {
        m.server_assignor = req.server_assignor.clone();
        bump = true;
    }
    if req.rack_id.is_some() {
        m.rack_id = req.rack_id.clone();
    }
    if req.rebalance_timeout_ms != -1 {
        m.rebalance_timeout_ms = req.rebalance_timeout_ms;
    }
    if !req.client_id.is_empty() {
        m.client_id = req.client_id.clone();
    }
    if !req.client_host.is_empty() {
        m.client_host = req.client_host.clone();
    }
    Ok(bump)
}

/// FNV-1a, 64 bits: a hash that stays the same across builds (it is persisted).
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// ConsumerGroupDescribe result for one member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerMemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub member_epoch: i32,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub assignment: Assignment,
    pub target_assignment: Assignment,
    /// The member speaks the classic protocol (ConsumerGroupDescribe v1 MemberType).
    pub classic: bool,
}

/// ConsumerGroupDescribe result for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupDescription {
    pub group_id: String,
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor_name: &'static str,
    pub members: Vec<ConsumerMemberDescription>,
}

impl ConsumerGroup {
    pub fn describe(&self) -> ConsumerGroupDescription {
        ConsumerGroupDescription {
            group_id: self.group_id.clone(),
            state: self.state().as_str(),
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            assignor_name: self.assignor_name(),
            members: self
                .members
                .values()
                .map(|m| ConsumerMemberDescription {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    member_epoch: m.member_epoch,
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed_names.clone(),
                    subscribed_topic_regex: m.subscribed_regex.clone(),
                    assignment: m.assigned_partitions(),
                    target_assignment: self.target.get(&m.member_id).cloned().unwrap_or_default(),
                    classic: m.classic.is_some(),
                })
                .collect(),
        }
    }
}

impl ConsumerGroup {
    /// The ListGroups entry of a consumer group.
    pub fn listed(&self) -> crate::group::types::ListedGroup {
        crate::group::types::ListedGroup {
            group_id: self.group_id.clone(),
            protocol_type: crate::group::state::CONSUMER_PROTOCOL_TYPE.to_string(),
            state: self.state().as_str(),
            group_type: crate::group::kind::GroupType::Consumer.as_str(),
        }
    }
}
