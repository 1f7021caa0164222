//! Classic-protocol members inside a consumer group, and the conversions between a classic
//! group and a consumer group (KIP-848 online upgrade and downgrade), after Kafka 4.3's
//! `GroupMetadataManager` (`classicGroupJoinToConsumerGroup`, `classicGroupSyncToConsumerGroup`,
//! `classicGroupHeartbeatToConsumerGroup`, `ConsumerGroup.fromClassicGroup`,
//! `ClassicGroup.fromConsumerGroup`).
//!
//! A classic member is a `ConsumerMember` with `classic` set. Its subscription is the
//! consumer-protocol subscription embedded in its JoinGroup; the server assignor computes its
//! target, and it reconciles like any member, but only when it (re)joins, with the partitions
//! its subscription says it owns as its report. Its generation is its member epoch. SyncGroup
//! hands it its current assignment as a consumer-protocol assignment; Heartbeat answers
//! REBALANCE_IN_PROGRESS when it must rejoin: the group epoch moved past its epoch, it has
//! partitions to revoke, or the partitions it waited for were released.
//!
//! Invariants (on top of the module's):
//! - a classic member's session is the session timeout of its last JoinGroup;
//! - a partition a classic member must give up stays in its `pending_revocation` (so no other
//!   member gets it) until a JoinGroup no longer reports it owned;
//! - `join_or_sync_deadline_ms` is set while the member owes a JoinGroup (it was told to
//!   rejoin) or the SyncGroup after its join; it is fenced when that deadline passes;
//! - an upgraded group starts at the classic generation: group, assignment and member epochs
//!   equal it, and each member owns (and targets) what its classic assignment gave it.

use std::collections::BTreeSet;

use bytes::Bytes;
use uuid::Uuid;

use super::{Assignment, ConsumerGroup, ConsumerMember, MemberState, TopicsImage};
use crate::group::error::GroupError;
use crate::group::state::{AdoptedMember, ClassicGroup, CONSUMER_PROTOCOL_TYPE};
use crate::group::subscription::{encode_assignment, read_assignment, read_subscription};
use crate::group::types::{
    HeartbeatRequest, JoinRequest, LeaveMember, LeaveMemberResult, Protocol, SyncRequest,
};

/// What a consumer group keeps of a member that speaks the classic protocol (Kafka's
/// `ClassicMemberMetadata`, plus its pending JoinGroup / SyncGroup deadline).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClassicMember {
    pub session_timeout_ms: i32,
    /// The protocols of its last JoinGroup, in its order of preference; the first one is
    /// the protocol name it is answered with.
    pub protocols: Vec<Protocol>,
    /// Not persisted: after a restart the member has a session timeout to come back.
    pub join_or_sync_deadline_ms: Option<i64>,
}

impl ClassicMember {
    fn protocol_name(&self) -> &str {
        self.protocols.first().map_or("", |p| p.name.as_str())
    }
}

/// JoinGroup from a classic member of a consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassicJoinOutcome {
    /// A new dynamic member of JoinGroup v4+: it must rejoin with this id
    /// (MEMBER_ID_REQUIRED).
    MemberIdRequired(String),
    Joined {
        member_id: String,
        generation_id: i32,
        protocol_name: String,
    },
}

/// Why a classic group with members cannot become a consumer group: Kafka answers the
/// heartbeat GROUP_ID_NOT_FOUND with this reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeError(pub String);

/// Partitions by topic name → by topic id; topics that do not exist are dropped.
fn to_ids(image: &TopicsImage, partitions: &[(String, Vec<i32>)]) -> Assignment {
    let mut out = Assignment::new();
    for (name, ps) in partitions {
        if let Some(t) = image.by_name.get(name) {
            let set = out.entry(t.id).or_default();
            set.extend(ps.iter().copied().filter(|p| (0..t.partitions).contains(p)));
        }
    }
    out.retain(|_, ps| !ps.is_empty());
    out
}

/// Partitions by topic id → by topic name (unknown ids dropped), for an assignment payload.
fn to_names(image: &TopicsImage, a: &Assignment) -> Vec<(String, Vec<i32>)> {
    a.iter()
        .filter_map(|(id, ps)| {
            let name = image.name_of(*id)?;
            Some((name.to_string(), ps.iter().copied().collect()))
        })
        .collect()
}

impl ConsumerGroup {
    /// Online upgrade: the consumer group a classic group with members becomes. Every
    /// classic member becomes a classic member of the consumer group at the classic
    /// generation, owning its classic assignment (plus, for a member whose assignment is
    /// not known yet, the partitions its subscription says it owns, unless another member
    /// has them), so no partition changes hands here.
    pub fn from_classic(
        classic: &ClassicGroup,
        image: &TopicsImage,
        now_ms: i64,
    ) -> Result<ConsumerGroup, UpgradeError> {
        let id = classic.group_id();
        if classic.protocol_type() != Some(CONSUMER_PROTOCOL_TYPE) {
            return Err(UpgradeError(format!(
                "Cannot upgrade classic group {id} to consumer group because the group does not use the consumer embedded protocol."
            )));
        }
        let malformed = || {
            UpgradeError(format!(
                "Cannot upgrade the classic group {id} to consumer group because the embedded consumer protocol is malformed."
            ))
        };
        let generation = classic.generation_id();
        let mut g = ConsumerGroup::new(id);
        g.group_epoch = generation;
        g.assignment_epoch = generation;
        let mut taken: BTreeSet<(Uuid, i32)> = BTreeSet::new();
        let mut reported: Vec<(String, Assignment)> = Vec::new();
        for cm in classic.members() {
            let metadata = match classic.protocol_name() {
                Some(p) => cm.metadata(p),
                None => cm
                    .protocols
                    .first()
                    .map(|p| p.metadata.clone())
                    .unwrap_or_default(),
            };
            let sub = read_subscription(&metadata).map_err(|_| malformed())?;
            let assigned = read_assignment(&cm.assignment).map_err(|_| malformed())?;
            let mut m = ConsumerMember::new(&cm.member_id, now_ms);
            m.instance_id = cm.group_instance_id.clone();
            m.rack_id = sub.rack_id.clone().filter(|r| !r.is_empty());
            m.client_id = cm.client_id.clone();
            m.client_host = cm.client_host.clone();
            let mut names = sub.topics.clone();
            names.sort();
            names.dedup();
            m.subscribed_names = names;
            m.rebalance_timeout_ms = cm.rebalance_timeout_ms;
            m.member_epoch = generation;
            m.previous_member_epoch = generation;
            m.session_deadline_ms = now_ms.saturating_add(i64::from(cm.session_timeout_ms));
            m.classic = Some(ClassicMember {
                session_timeout_ms: cm.session_timeout_ms,
                protocols: cm.protocols.clone(),
                join_or_sync_deadline_ms: None,
            });
            for (t, ps) in to_ids(image, &assigned) {
                for p in ps {
                    if taken.insert((t, p)) {
                        m.assigned.entry(t).or_default().insert(p, generation);
                    }
                }
            }
            if let Some(instance) = &m.instance_id {
                g.static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            reported.push((m.member_id.clone(), to_ids(image, &sub.owned)));
            g.members.insert(m.member_id.clone(), m);
        }
        for (member_id, owned) in reported {
            let Some(m) = g.members.get_mut(&member_id) else {
                continue;
            };
            for (t, ps) in owned {
                for p in ps {
                    if taken.insert((t, p)) {
                        m.assigned.entry(t).or_default().insert(p, generation);
                    }
                }
            }
        }
        g.target = g
            .members
            .values()
            .map(|m| (m.member_id.clone(), m.assigned_partitions()))
            .collect();
        g.metadata_hash = g.refresh_topics(image);
        Ok(g)
    }

    /// Whether every member speaks the classic protocol (and there is one): the group may
    /// be downgraded.
    pub fn only_classic_members(&self) -> bool {
        !self.members.is_empty() && self.members.values().all(|m| m.classic.is_some())
    }

    /// Online downgrade: the members of the classic group this one becomes (all classic,
    /// see `only_classic_members`), each with its current assignment, and the generation
    /// they are at (the highest member epoch, so their commits stay valid until they rejoin).
    pub fn to_classic_members(&self, image: &TopicsImage) -> (i32, Vec<AdoptedMember>) {
        let generation = self
            .members
            .values()
            .map(|m| m.member_epoch)
            .max()
            .unwrap_or(self.group_epoch);
        let members = self
            .members
            .values()
            .filter_map(|m| {
                let c = m.classic.as_ref()?;
                Some(AdoptedMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: c.session_timeout_ms,
                    protocols: c.protocols.clone(),
                    assignment: Bytes::from(encode_assignment(&to_names(
                        image,
                        &m.assigned_partitions(),
                    ))),
                })
            })
            .collect();
        (generation, members)
    }

    /// JoinGroup from a classic member (the coordinator checked the session timeout).
    pub fn classic_join(
        &mut self,
        req: &JoinRequest,
        image: &TopicsImage,
        max_size: usize,
        now_ms: i64,
    ) -> Result<ClassicJoinOutcome, GroupError> {
        let Some(first) = req
            .protocols
            .first()
            .filter(|_| req.protocol_type == CONSUMER_PROTOCOL_TYPE)
        else {
            return Err(GroupError::InconsistentGroupProtocol(format!(
                "group {} is a consumer group: a classic member must join with protocol type {CONSUMER_PROTOCOL_TYPE} (got {:?})",
                self.group_id, req.protocol_type
            )));
        };
        let unknown = req.member_id.is_empty();
        let member_id = if unknown {
            Uuid::new_v4().to_string()
        } else {
            req.member_id.clone()
        };
        let known = !unknown && self.members.contains_key(&member_id);
        let replaces = req
            .group_instance_id
            .as_ref()
            .is_some_and(|i| self.static_members.contains_key(i));
        if self.members.len() >= max_size && !known && !replaces {
            return Err(GroupError::GroupMaxSizeReached(max_size));
        }
        if unknown && req.require_known_member_id && req.group_instance_id.is_none() {
            return Ok(ClassicJoinOutcome::MemberIdRequired(member_id));
        }
        let sub = read_subscription(&first.metadata).map_err(|e| {
            GroupError::InconsistentGroupProtocol(format!(
                "member {member_id} sent a malformed consumer subscription: {e}"
            ))
        })?;
        let mut bump = false;
        if let Some(instance) = &req.group_instance_id {
            match self.static_members.get(instance).cloned() {
                Some(owner) if owner == member_id => {}
                Some(owner) if unknown => self.replace_static(&owner, &member_id),
                Some(_) => {
                    return Err(GroupError::FencedInstanceId {
                        instance_id: instance.clone(),
                        member_id: member_id.clone(),
                    })
                }
                None => {
                    if !self.members.contains_key(&member_id) {
                        let mut m = ConsumerMember::new(&member_id, now_ms);
                        m.instance_id = Some(instance.clone());
                        self.members.insert(member_id.clone(), m);
                        bump = true;
                    }
                    self.static_members
                        .insert(instance.clone(), member_id.clone());
                }
            }
        } else if !self.members.contains_key(&member_id) {
            self.members
                .insert(member_id.clone(), ConsumerMember::new(&member_id, now_ms));
            bump = true;
        }
        let m = self
            .members
            .get_mut(&member_id)
            .ok_or_else(|| GroupError::UnknownMemberId(member_id.clone()))?;
        let mut names = sub.topics.clone();
        names.sort();
        names.dedup();
        if names != m.subscribed_names {
            m.subscribed_names = names;
            bump = true;
        }
        if m.subscribed_regex.is_some() {
            m.set_regex(None)?;
            bump = true;
        }
        if let Some(rack) = sub.rack_id.clone().filter(|r| !r.is_empty()) {
            m.rack_id = Some(rack);
        }
        m.rebalance_timeout_ms = req.effective_rebalance_timeout_ms();
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.session_deadline_ms = now_ms.saturating_add(i64::from(req.session_timeout_ms));
        m.classic = Some(ClassicMember {
            session_timeout_ms: req.session_timeout_ms,
            protocols: req.protocols.clone(),
            // The SyncGroup that follows the join.
            join_or_sync_deadline_ms: Some(
                now_ms.saturating_add(i64::from(req.effective_rebalance_timeout_ms())),
            ),
        });
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
        let owned = to_ids(image, &sub.owned);
        self.reconcile(&member_id, Some(&owned), now_ms);
        let m = self
            .members
            .get(&member_id)
            .ok_or_else(|| GroupError::UnknownMemberId(member_id.clone()))?;
        Ok(ClassicJoinOutcome::Joined {
            member_id: member_id.clone(),
            generation_id: m.member_epoch,
            protocol_name: first.name.clone(),
        })
    }

    /// A static member rejoining with a new member id takes over the old one: its
    /// assignment, epoch and target (Kafka's `replaceMember`).
    fn replace_static(&mut self, old_id: &str, new_id: &str) {
        if let Some(mut m) = self.members.remove(old_id) {
            m.member_id = new_id.to_string();
            if let Some(instance) = &m.instance_id {
                self.static_members
                    .insert(instance.clone(), new_id.to_string());
            }
            self.members.insert(new_id.to_string(), m);
        }
        if let Some(t) = self.target.remove(old_id) {
            self.target.insert(new_id.to_string(), t);
        }
    }

    /// The classic member a SyncGroup / Heartbeat names: it must exist, own its instance id
    /// and speak the classic protocol.
    fn classic_member_mut(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<&mut ConsumerMember, GroupError> {
        let id = match instance_id {
            Some(instance) => {
                let owner = self
                    .static_members
                    .get(instance)
                    .ok_or_else(|| GroupError::UnknownMemberId(member_id.to_string()))?;
                if owner != member_id {
                    return Err(GroupError::FencedInstanceId {
                        instance_id: instance.to_string(),
                        member_id: member_id.to_string(),
                    });
                }
                owner.clone()
            }
            None => member_id.to_string(),
        };
        self.members
            .get_mut(&id)
            .filter(|m| m.classic.is_some())
            .ok_or_else(|| GroupError::UnknownMemberId(member_id.to_string()))
    }

    /// SyncGroup from a classic member: its current assignment, encoded, with the protocol
    /// type and name it joined with.
    pub fn classic_sync(
        &mut self,
        req: &SyncRequest,
        image: &TopicsImage,
        now_ms: i64,
    ) -> Result<(String, Bytes), GroupError> {
        let group_epoch = self.group_epoch;
        let m = self.classic_member_mut(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != m.member_epoch {
            return Err(GroupError::IllegalGeneration {
                requested: req.generation_id,
                current: m.member_epoch,
            });
        }
        let Some(c) = m.classic.as_mut() else {
            return Err(GroupError::UnknownMemberId(req.member_id.clone()));
        };
        let name = c.protocol_name().to_string();
        if req
            .protocol_type
            .as_deref()
            .is_some_and(|t| t != CONSUMER_PROTOCOL_TYPE)
            || req.protocol_name.as_deref().is_some_and(|n| n != name)
        {
            return Err(GroupError::InconsistentGroupProtocol(format!(
                "member {} syncs with protocol {:?}/{:?}, it joined with {CONSUMER_PROTOCOL_TYPE}/{name}",
                req.member_id, req.protocol_type, req.protocol_name
            )));
        }
        if group_epoch > m.member_epoch && m.state != MemberState::UnrevokedPartitions {
            let deadline = now_ms.saturating_add(i64::from(m.rebalance_timeout_ms));
            c.join_or_sync_deadline_ms.get_or_insert(deadline);
            return Err(GroupError::RebalanceInProgress);
        }
        c.join_or_sync_deadline_ms = None;
        m.session_deadline_ms = now_ms.saturating_add(i64::from(c.session_timeout_ms));
        let assignment = encode_assignment(&to_names(image, &m.assigned_partitions()));
        Ok((name, Bytes::from(assignment)))
    }

    /// Heartbeat from a classic member: REBALANCE_IN_PROGRESS when it must rejoin (see the
    /// header), after which it has its rebalance timeout to do so.
    pub fn classic_heartbeat(
        &mut self,
        req: &HeartbeatRequest,
        now_ms: i64,
    ) -> Result<(), GroupError> {
        let group_epoch = self.group_epoch;
        let id = match req.group_instance_id.as_deref() {
            Some(i) => self.static_members.get(i).cloned().unwrap_or_default(),
            None => req.member_id.clone(),
        };
        let waiting = self.waiting_on_unreleased(&id);
        let m = self.classic_member_mut(&req.member_id, req.group_instance_id.as_deref())?;
        if req.generation_id != m.member_epoch {
            return Err(GroupError::IllegalGeneration {
                requested: req.generation_id,
                current: m.member_epoch,
            });
        }
        let Some(c) = m.classic.as_mut() else {
            return Err(GroupError::UnknownMemberId(req.member_id.clone()));
        };
        m.session_deadline_ms = now_ms.saturating_add(i64::from(c.session_timeout_ms));
        let rejoin = m.member_epoch < group_epoch
            || m.state == MemberState::UnrevokedPartitions
            || (m.state == MemberState::UnreleasedPartitions && !waiting);
        if rejoin {
            let deadline = now_ms.saturating_add(i64::from(m.rebalance_timeout_ms));
            c.join_or_sync_deadline_ms.get_or_insert(deadline);
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Whether some partition of the member's target that it does not own yet is still
    /// owned by another member (Kafka's `waitingOnUnreleasedPartition`).
    fn waiting_on_unreleased(&self, member_id: &str) -> bool {
        let Some(m) = self.members.get(member_id) else {
            return false;
        };
        let taken = self.owned_by_others(member_id);
        self.target.get(member_id).is_some_and(|t| {
            t.iter().any(|(topic, ps)| {
                ps.iter().any(|p| {
                    !m.assigned.get(topic).is_some_and(|a| a.contains_key(p))
                        && taken.contains(&(*topic, *p))
                })
            })
        })
    }

    /// LeaveGroup: each named member leaves (by member id, or by instance id for static
    /// members); the group epoch is bumped for each.
    pub fn classic_leave(&mut self, members: &[LeaveMember]) -> Vec<LeaveMemberResult> {
        members
            .iter()
            .map(|lm| {
                let found = match &lm.group_instance_id {
                    Some(instance) => match self.static_members.get(instance) {
                        None => Err(GroupError::UnknownMemberId(lm.member_id.clone())),
                        Some(owner) if !lm.member_id.is_empty() && *owner != lm.member_id => {
                            Err(GroupError::FencedInstanceId {
                                instance_id: instance.clone(),
                                member_id: lm.member_id.clone(),
                            })
                        }
                        Some(owner) => Ok(owner.clone()),
                    },
                    None if self.members.contains_key(&lm.member_id) => Ok(lm.member_id.clone()),
                    None => Err(GroupError::UnknownMemberId(lm.member_id.clone())),
                };
                let error = match found {
                    Ok(id) => {
                        self.remove_member(&id);
                        None
                    }
                    Err(e) => Some(e),
                };
                LeaveMemberResult {
                    member_id: lm.member_id.clone(),
                    group_instance_id: lm.group_instance_id.clone(),
                    error,
                }
            })
            .collect()
    }

    /// Whether `member_id` is a member that speaks the consumer protocol (its OffsetCommit
    /// below v9 is refused; a classic member commits with any version).
    pub fn is_consumer_protocol_member(&self, member_id: &str) -> bool {
        self.members
            .get(member_id)
            .is_some_and(|m| m.classic.is_none())
    }

    /// A classic member's commit keeps its session alive, as a classic group's does.
    pub fn touch_classic_member(&mut self, member_id: &str, now_ms: i64) {
        if let Some(m) = self.members.get_mut(member_id) {
            if let Some(c) = &m.classic {
                m.session_deadline_ms = now_ms.saturating_add(i64::from(c.session_timeout_ms));
            }
        }
    }
}
