//! Reconciliation of one member towards its target (Kafka's `CurrentAssignmentBuilder`).
//!
//! For each topic: `keep = assigned ∩ target`, `revoke = assigned − target`,
//! `add = target − assigned`, and of `add` only the partitions no other member owns
//! (assigned or pending revocation) may be handed out; the others are *unreleased*.
//! - revocations the member still reports owning (a `None` report counts as owning) ⇒
//!   `UnrevokedPartitions`: the member keeps only `keep`, its epoch does not move, and its
//!   rebalance timeout starts;
//! - otherwise the member gets `keep + free adds` at the assignment epoch, and is
//!   `UnreleasedPartitions` while some of its target is still owned elsewhere, else `Stable`.
//!
//! An `UnrevokedPartitions` member moves on only once a heartbeat's reported partitions no
//! longer include any pending revocation.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::{Assignment, ConsumerGroup, ConsumerMember, MemberState};

impl ConsumerGroup {
    /// Moves `member_id` as far towards its target as it may go now. `owned` is what the
    /// member reported owning (`None` = unchanged since its last heartbeat).
    pub(super) fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now_ms: i64) {
        let target_epoch = self.assignment_epoch;
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let taken = self.owned_by_others(member_id);
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        match m.state {
            MemberState::UnrevokedPartitions => {
                if owns_any(owned, &m.pending_revocation) {
                    return;
                }
                m.pending_revocation.clear();
                next_assignment(m, target_epoch, &target, &taken, owned, now_ms);
            }
            MemberState::Stable | MemberState::UnreleasedPartitions => {
                if m.member_epoch != target_epoch || m.state == MemberState::UnreleasedPartitions {
                    next_assignment(m, target_epoch, &target, &taken, owned, now_ms);
                }
            }
        }
    }

    /// Every partition another member owns (assigned or pending revocation).
    pub(super) fn owned_by_others(&self, member_id: &str) -> BTreeSet<(Uuid, i32)> {
        let mut out = BTreeSet::new();
        for m in self.members.values().filter(|m| m.member_id != member_id) {
            for (t, ps) in &m.assigned {
                out.extend(ps.keys().map(|p| (*t, *p)));
            }
            for (t, ps) in &m.pending_revocation {
                out.extend(ps.iter().map(|p| (*t, *p)));
            }
        }
        out
    }
}

/// Whether the member's report includes any of `partitions` (`None` counts as yes).
fn owns_any(owned: Option<&Assignment>, partitions: &Assignment) -> bool {
    let Some(owned) = owned else {
        return true;
    };
    partitions.iter().any(|(t, ps)| {
        owned
            .get(t)
            .is_some_and(|o| ps.iter().any(|p| o.contains(p)))
    })
}

fn next_assignment(
    m: &mut ConsumerMember,
    target_epoch: i32,
    target: &Assignment,
    taken: &BTreeSet<(Uuid, i32)>,
    owned: Option<&Assignment>,
    now_ms: i64,
) {
    let mut keep: BTreeMap<Uuid, BTreeMap<i32, i32>> = BTreeMap::new();
    let mut revoke: Assignment = BTreeMap::new();
    for (t, ps) in &m.assigned {
        for (p, epoch) in ps {
            if target.get(t).is_some_and(|tp| tp.contains(p)) {
                keep.entry(*t).or_default().insert(*p, *epoch);
            } else {
                revoke.entry(*t).or_default().insert(*p);
            }
        }
    }
    if !revoke.is_empty() && owns_any(owned, &revoke) {
        m.assigned = keep;
        m.pending_revocation = revoke;
        m.state = MemberState::UnrevokedPartitions;
        m.rebalance_deadline_ms = Some(now_ms.saturating_add(i64::from(m.rebalance_timeout_ms)));
        return;
    }
    let mut unreleased = false;
    for (t, ps) in target {
        for p in ps {
            let entry = keep.entry(*t).or_default();
            if entry.contains_key(p) {
                continue;
            }
            if taken.contains(&(*t, *p)) {
                unreleased = true;
            } else {
                entry.insert(*p, target_epoch);
            }
        }
    }
    keep.retain(|_, ps| !ps.is_empty());
    m.assigned = keep;
    m.pending_revocation.clear();
    if m.member_epoch != target_epoch {
        m.previous_member_epoch = m.member_epoch;
        m.member_epoch = target_epoch;
    }
    m.state = if unreleased {
        MemberState::UnreleasedPartitions
    } else {
        MemberState::Stable
    };
    m.rebalance_deadline_ms = None;
}
