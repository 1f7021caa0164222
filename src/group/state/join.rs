//! JoinGroup: a member enters the group, or rejoins it for a rebalance.
//!
//! A new member gets an id (`generate_member_id`); a client that asks to be told its id first
//! (JoinGroup v4+) gets MEMBER_ID_REQUIRED and is held as pending until it rejoins with it.
//! A known group.instance.id joining with an empty member id takes over the old member
//! (static membership), without a rebalance when the selected protocol stays the same.
//! Everyone else is parked until the join phase completes (`rebalance`).
//!
//! Invariants kept here:
//! - a group never takes more than `group.max.size` members; a known member over capacity
//!   (one that did not rejoin in time) is evicted;
//! - a member is accepted only with the group's protocol type and a protocol every member
//!   supports;
//! - the first member of an Empty group sets the protocol type, and a group without a leader
//!   takes the joining member as leader;
//! - a replaced static member's parked requests are answered FENCED_INSTANCE_ID and its old
//!   id is gone from `members`, `pending_sync` and `leader_id`.

use bytes::Bytes;

use super::{generate_member_id, ClassicGroup, Effects, Member, Outcome};
use crate::group::error::GroupError;
use crate::group::types::*;

impl ClassicGroup {
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
    pub(super) fn join_response_for(
        &self,
        member_id: &str,
        leader: Option<String>,
    ) -> JoinResponse {
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
}

#[cfg(test)]
mod tests;
