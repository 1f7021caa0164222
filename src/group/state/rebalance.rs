//! The rebalance: PreparingRebalance (members rejoin) → CompletingRebalance (a new
//! generation waits for the leader's assignment, see `sync`).
//!
//! A rebalance starts when membership or member metadata changes. The join phase completes
//! when every member has rejoined, or when the rebalance timeout drops those that did not;
//! the initial rebalance of an Empty group waits for its delay timer instead, so that a
//! starting consumer fleet lands in one generation. Completion bumps the generation, selects
//! the protocol by vote, keeps or re-elects the leader, and answers every parked JoinGroup.
//!
//! Invariants kept here:
//! - the generation goes up by one at every join completion, including one that leaves the
//!   group Empty;
//! - the leader of a new generation is a member that rejoined for it;
//! - dynamic members that did not rejoin are removed; missing static members are waited for
//!   (until they rejoin or their session expires);
//! - leaving CompletingRebalance for a new rebalance clears the assignments and answers the
//!   parked SyncGroups REBALANCE_IN_PROGRESS;
//! - the selected protocol is one every member supports.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;

use super::timers::JoinTimer;
use super::{ClassicGroup, Effects, CONSUMER_PROTOCOL_TYPE};
use crate::group::error::GroupError;
use crate::group::subscription::subscribed_topics;
use crate::group::types::*;

impl ClassicGroup {
    // ----- rebalance machinery ---------------------------------------------------------

    pub(super) fn can_rebalance(&self) -> bool {
        GroupState::PreparingRebalance
            .valid_previous_states()
            .contains(&self.state)
    }

    pub(super) fn num_awaiting_join(&self) -> usize {
        self.members.values().filter(|m| m.awaiting_join).count()
    }

    pub(super) fn has_all_members_joined(&self) -> bool {
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

    pub(super) fn is_leader(&self, member_id: &str) -> bool {
        self.leader_id.as_deref() == Some(member_id)
    }

    pub(super) fn maybe_prepare_rebalance_or_complete_join(
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
    pub(super) fn maybe_complete_join_phase(
        &mut self,
        cfg: &GroupConfig,
        now_ms: i64,
        fx: &mut Effects,
    ) {
        if self.state == GroupState::PreparingRebalance
            && self.previous_state != GroupState::Empty
            && self.has_all_members_joined()
        {
            self.complete_join(cfg, now_ms, fx);
        }
    }

    pub(super) fn prepare_rebalance(&mut self, cfg: &GroupConfig, now_ms: i64, fx: &mut Effects) {
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
    pub(super) fn complete_join(&mut self, cfg: &GroupConfig, now_ms: i64, fx: &mut Effects) {
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

    // ----- protocols and subscriptions -------------------------------------------------

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

    pub(super) fn inconsistent(&self, protocol_type: &str) -> GroupError {
        GroupError::InconsistentGroupProtocol(format!(
            "member protocol type {protocol_type:?} / protocols not supported by group {} ({:?})",
            self.group_id, self.protocol_type
        ))
    }

    pub(super) fn compute_subscribed_topics(&self) -> Option<HashSet<String>> {
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
}

#[cfg(test)]
mod tests;
