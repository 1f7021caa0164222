//! The group's timers, as plain deadlines: nothing here reads a clock. `next_deadline` tells
//! the coordinator when to call `tick(now_ms)`; every operation also fires whatever is due at
//! its own `now_ms` once it has run.
//!
//! What fires when its deadline passes:
//! - a member's session (heartbeat) deadline: the member is removed and the group rebalances,
//!   unless it is parked after a completed join (its deadline is set to never until it is
//!   answered); a new member's parked wait is bounded by the new-member join timeout;
//! - a pending member's deadline to rejoin after MEMBER_ID_REQUIRED: it is forgotten, and the
//!   join phase may complete without it;
//! - the join timer: the initial delay of an Empty group's first rebalance is extended while
//!   new members keep arriving (bounded by the rebalance timeout); otherwise the join phase
//!   completes with whoever rejoined;
//! - the pending-sync timer: members that did not sync in the generation it was set for are
//!   removed and the group rebalances.
//!
//! Invariant: every firing clears or pushes back the deadline that fired, so one `tick`
//! terminates; the loop's cap in `fire_due` is a guard, not a limit that is reached.

use super::{ClassicGroup, Effects};
use crate::group::types::*;

/// A deadline that is never reached.
const NEVER: i64 = i64::MAX;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum JoinTimer {
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

impl ClassicGroup {
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

    pub(super) fn fire_due(&mut self, cfg: &GroupConfig, now_ms: i64, fx: &mut Effects) {
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
}

#[cfg(test)]
mod tests;
