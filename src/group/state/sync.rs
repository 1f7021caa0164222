//! SyncGroup: the second phase of a rebalance. Followers park until the leader's SyncGroup
//! brings the assignment; then every parked member gets its share and the group is Stable.
//!
//! Invariants kept here:
//! - only the leader's SyncGroup, in CompletingRebalance, sets assignments, and it sets every
//!   member's (a member the leader left out gets empty bytes);
//! - the assignment is delivered in the same `Effects` that ask to persist it, so the
//!   coordinator writes it before any member sees it; if the write fails, the group drops the
//!   assignment and rebalances (`on_assignment_persist_failed`);
//! - a member answered with its assignment restarts its session timer;
//! - the pending-sync timer is cleared once every member has synced.

use std::collections::HashMap;

use bytes::Bytes;

use super::{ClassicGroup, Effects, Outcome};
use crate::group::error::GroupError;
use crate::group::types::*;

impl ClassicGroup {
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
    pub(super) fn propagate_assignment(
        &mut self,
        error: Option<GroupError>,
        now_ms: i64,
        fx: &mut Effects,
    ) {
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
}

#[cfg(test)]
mod tests;
