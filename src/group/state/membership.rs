//! Members staying and going: Heartbeat, LeaveGroup (batched from v3), removal, and the
//! member check most requests run first (Kafka's `validateMember`).
//!
//! Invariants kept here:
//! - a static member is known only under its current member id: any other id with its
//!   instance id is FENCED_INSTANCE_ID;
//! - a removed member's parked JoinGroup/SyncGroup is answered UNKNOWN_MEMBER_ID (so a live
//!   client rejoins), never left hanging;
//! - removal drops the id from `members`, `static_members` (when it still maps to this id),
//!   `pending_join` and `pending_sync`; a removed leader is replaced by the first member left;
//! - a parked member need not heartbeat: its session timer restarts when it is answered.

use super::{ClassicGroup, Effects};
use crate::group::error::GroupError;
use crate::group::types::*;

impl ClassicGroup {
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
    pub(super) fn remove_current_member(&mut self, member_id: &str, fx: &mut Effects) {
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

    pub(super) fn remove_member_silently(&mut self, member_id: &str, fx: &mut Effects) {
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

    // ----- member validation -----------------------------------------------------------

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
}

#[cfg(test)]
mod tests;
