//! Partition reassignment in the image (KIP-455 on the controller side: Kafka's
//! `ReplicationControlManager.changePartitionReassignment`, `PartitionReassignmentReplicas`,
//! `PartitionReassignmentRevert` and `PartitionChangeBuilder.completeReassignmentIfNeeded`).
//!
//! A reassignment of replicas `current` to `target`:
//! - **start**: `adding` = target − current, `removing` = current − target (both sorted),
//!   `replicas` = target in the operator's order, then `removing`. The brokers in `adding`
//!   create the log and follow the leader; the ISR is unchanged, so nobody waits for them.
//!   A new target over a reassignment in progress is computed against that union, as Kafka
//!   does (replicas of the old target not in the new one are removed); a target replica that
//!   was still being added stays in `adding`. A target equal to the replicas changes nothing.
//! - **completion** ([`complete_if_ready`], after the start and after every accepted ISR
//!   change): once every adding replica is in the ISR without the removing ones (and, when
//!   the replica set shrinks, every remaining replica is in it), `replicas` = target, the ISR
//!   loses the removing replicas, both lists are cleared.
//! - **cancel**: back to `replicas` − `adding`, the ISR loses the adding replicas; an ISR left
//!   empty needs `unclean.leader.election.enable` (its first replica becomes the ISR).
//!
//! Every change goes through [`settle`]: the leader stays if still in the ISR, otherwise the
//! first live ISR member in replica order leads (or none); the leader epoch grows when the
//! leader changes or a replica leaves the set (so the removed broker's fetches are fenced),
//! the partition epoch grows with every change.
//!
//! Invariants: `adding` ⊆ `replicas`, `removing` ⊆ `replicas`, the two are disjoint and
//! either both empty or the reassignment is in progress; the ISR ⊆ `replicas` throughout.

use std::collections::BTreeSet;

use super::PartitionState;
use crate::cluster::leadership::ReassignError;

/// One AlterPartitionReassignments entry, with the image facts it is validated against.
pub(super) struct Change<'a> {
    pub topic: &'a str,
    /// `None` cancels.
    pub target: Option<&'a [i32]>,
    pub allow_rf_change: bool,
    pub registered: &'a BTreeSet<i32>,
    pub live: &'a BTreeSet<i32>,
    /// The topic's `unclean.leader.election.enable` (a cancel may need it).
    pub unclean: bool,
}

impl PartitionState {
    /// Whether a reassignment is in progress.
    pub fn is_reassigning(&self) -> bool {
        !self.adding_replicas.is_empty() || !self.removing_replicas.is_empty()
    }

    /// The replica set the partition is headed for (all replicas when none is in progress).
    pub fn target_replicas(&self) -> Vec<i32> {
        without(&self.replicas, &self.removing_replicas)
    }
}

/// Starts, replaces or cancels the reassignment of `p` (validated in Kafka's order). A
/// request that changes nothing leaves `p` and its epochs as they are.
pub(super) fn apply(p: &mut PartitionState, c: &Change) -> Result<(), ReassignError> {
    let before = p.clone();
    match c.target {
        None => revert(p, c)?,
        Some(target) => {
            if !c.allow_rf_change {
                let headed = p.target_replicas().len();
                if headed != target.len() {
                    return Err(ReassignError::ReplicationFactorChanged {
                        from: headed,
                        to: target.len(),
                    });
                }
            }
            validate_target(target, c.registered)?;
            start(p, target);
            complete_if_ready(p);
        }
    }
    if *p != before {
        settle(&before, p, c.live);
    }
    Ok(())
}

/// Kafka's manual-assignment rules for a target: non-empty, registered brokers, each once.
fn validate_target(target: &[i32], registered: &BTreeSet<i32>) -> Result<(), ReassignError> {
    if target.is_empty() {
        return Err(ReassignError::InvalidReplicaAssignment(
            "The manual partition assignment includes an empty replica list.".into(),
        ));
    }
    let mut seen = BTreeSet::new();
    for &b in target {
        if !registered.contains(&b) {
            return Err(ReassignError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes broker {b}, but no such broker is registered."
            )));
        }
        if !seen.insert(b) {
            return Err(ReassignError::InvalidReplicaAssignment(format!(
                "The manual partition assignment includes the broker {b} more than once."
            )));
        }
    }
    Ok(())
}

/// The union replica set and the adding/removing lists. Over a reassignment in progress, a
/// target replica still being added stays in `adding` (Kafka keeps the whole old list when the
/// new difference is empty, which can leave a replica both adding and removing).
fn start(p: &mut PartitionState, target: &[i32]) {
    let adding: BTreeSet<i32> = target
        .iter()
        .copied()
        .filter(|r| !p.replicas.contains(r) || p.adding_replicas.contains(r))
        .collect();
    let removing: BTreeSet<i32> = p
        .replicas
        .iter()
        .copied()
        .filter(|r| !target.contains(r))
        .collect();
    let mut replicas = target.to_vec();
    replicas.extend(removing.iter().copied());
    p.replicas = replicas;
    p.adding_replicas = adding.into_iter().collect();
    p.removing_replicas = removing.into_iter().collect();
}

/// `PartitionReassignmentRevert`: drop the adding replicas from the replicas and the ISR.
fn revert(p: &mut PartitionState, c: &Change) -> Result<(), ReassignError> {
    if !p.is_reassigning() {
        return Err(ReassignError::NoReassignmentInProgress);
    }
    let replicas = without(&p.replicas, &p.adding_replicas);
    let mut isr = without(&p.isr, &p.adding_replicas);
    if isr.is_empty() {
        let Some(&first) = replicas.first() else {
            return Err(ReassignError::InvalidReplicaAssignment(
                "Invalid replica assignment: addingReplicas contains all replicas.".into(),
            ));
        };
        if !c.unclean {
            return Err(ReassignError::UnsafeRevert(c.topic.to_string(), p.index));
        }
        isr.push(first);
    }
    p.replicas = replicas;
    p.isr = isr;
    p.adding_replicas.clear();
    p.removing_replicas.clear();
    Ok(())
}

/// Completes the reassignment in progress if its new replicas are in sync (see the header).
/// True if it did.
pub(super) fn complete_if_ready(p: &mut PartitionState) -> bool {
    if !p.is_reassigning() {
        return false;
    }
    let isr = without(&p.isr, &p.removing_replicas);
    let replicas = without(&p.replicas, &p.removing_replicas);
    if isr.is_empty() || replicas.is_empty() {
        return false;
    }
    if !p.adding_replicas.iter().all(|r| isr.contains(r)) {
        return false;
    }
    // A smaller replica set must not lose an in-sync copy it would still need.
    if p.adding_replicas.len() < p.removing_replicas.len()
        && !replicas.iter().all(|r| isr.contains(r))
    {
        return false;
    }
    p.replicas = replicas;
    p.isr = isr;
    p.adding_replicas.clear();
    p.removing_replicas.clear();
    true
}

/// Leader and epochs after a change from `before` (see the header).
pub(super) fn settle(before: &PartitionState, p: &mut PartitionState, live: &BTreeSet<i32>) {
    if p.leader < 0 || !p.isr.contains(&p.leader) || !live.contains(&p.leader) {
        p.leader = p
            .replicas
            .iter()
            .copied()
            .find(|r| p.isr.contains(r) && live.contains(r))
            .unwrap_or(-1);
    }
    let replica_left = before.replicas.iter().any(|r| !p.replicas.contains(r));
    if p.leader != before.leader || replica_left {
        p.leader_epoch = before.leader_epoch + 1;
    }
    p.partition_epoch = before.partition_epoch + 1;
}

/// `list` without the members of `drop`, in order.
fn without(list: &[i32], drop: &[i32]) -> Vec<i32> {
    list.iter().copied().filter(|r| !drop.contains(r)).collect()
}
