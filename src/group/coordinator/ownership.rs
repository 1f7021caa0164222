//! Which groups a cluster member coordinates: the groups of the `__consumer_offsets`
//! partitions it leads, loaded from that partition and dropped when the leadership goes.
//!
//! A partition goes `begin_load` (Loading: its groups answer COORDINATOR_LOAD_IN_PROGRESS) →
//! `finish_load` (Loaded: served) → `unload` (not owned: NOT_COORDINATOR). Each load carries a
//! token, so a load that finishes after its partition was unloaded, or after a newer load began
//! (the leadership went and came back), installs nothing.
//!
//! Invariants:
//! - the table is locked only while the coordinator's `groups` map is locked, so a request
//!   either sees the partition owned and its group in the map, or not owned;
//! - an unloaded group is marked Dead under its lock and its parked JoinGroup/SyncGroup
//!   requests are answered NOT_COORDINATOR (the client finds the new coordinator);
//! - a single broker has no table and serves every group.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;

use super::{loaded_slot, lock, GroupCoordinator, SlotRef};
use crate::group::error::GroupError;
use crate::group::offsets_partition;
use crate::group::store::PersistedGroup;

/// Load state of one owned offsets partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Load {
    Loading(u64),
    Loaded,
}

/// The offsets partitions this broker coordinates.
#[derive(Debug)]
pub(super) struct Owned {
    /// Partitions of the offsets topic (group → partition hashing).
    partitions: i32,
    state: HashMap<i32, Load>,
    next_token: u64,
}

impl Owned {
    pub(super) fn new(partitions: i32) -> Self {
        Owned {
            partitions: partitions.max(1),
            state: HashMap::new(),
            next_token: 1,
        }
    }

    /// Whether `group_id` is served here now.
    pub(super) fn check(&self, group_id: &str) -> Result<(), GroupError> {
        match self
            .state
            .get(&offsets_partition(group_id, self.partitions))
        {
            Some(Load::Loaded) => Ok(()),
            Some(Load::Loading(_)) => Err(GroupError::CoordinatorLoadInProgress),
            None => Err(GroupError::NotCoordinator(group_id.to_string())),
        }
    }

    fn loading(&self) -> bool {
        self.state.values().any(|l| matches!(l, Load::Loading(_)))
    }
}

impl GroupCoordinator {
    /// Cluster mode: this broker became leader of offsets partition `partition` (of
    /// `partitions`); its groups answer COORDINATOR_LOAD_IN_PROGRESS until `finish_load` with
    /// the returned token. Groups of the partition still in memory from an earlier leadership
    /// are dropped first. `None` on a single broker.
    pub async fn begin_load(&self, partition: i32, partitions: i32) -> Option<u64> {
        let (token, stale) = {
            let mut groups = lock(&self.inner.groups);
            let mut owned = lock(self.inner.owned.as_ref()?);
            owned.partitions = partitions.max(1);
            let token = owned.next_token;
            owned.next_token += 1;
            owned.state.insert(partition, Load::Loading(token));
            (
                token,
                take_partition(&mut groups, partition, owned.partitions),
            )
        };
        self.drop_groups(stale).await;
        Some(token)
    }

    /// The groups of `partition` as read from its log: they are served from now on, unless
    /// the partition was unloaded or loaded again since `begin_load` gave `token`. Returns
    /// whether they were installed.
    pub fn finish_load(&self, partition: i32, token: u64, loaded: Vec<PersistedGroup>) -> bool {
        let now = self.now_ms();
        let mut groups = lock(&self.inner.groups);
        let Some(owned) = self.inner.owned.as_ref() else {
            return false;
        };
        let mut owned = lock(owned);
        if owned.state.get(&partition) != Some(&Load::Loading(token)) {
            return false;
        }
        let count = loaded.len();
        for p in loaded {
            let slot = loaded_slot(p, &self.inner.config, now);
            let id = slot.group.group_id().to_string();
            lock(&self.inner.timers).set(&id, slot.next_deadline());
            groups.insert(id, Arc::new(Mutex::new(slot)));
        }
        owned.state.insert(partition, Load::Loaded);
        drop(owned);
        drop(groups);
        self.inner.wake.notify_one();
        tracing::info!(
            partition,
            groups = count,
            "coordinating the groups of an offsets partition"
        );
        true
    }

    /// Cluster mode: this broker no longer leads offsets partition `partition`; its groups are
    /// dropped and their parked requests answered NOT_COORDINATOR.
    pub async fn unload(&self, partition: i32) {
        let stale = {
            let mut groups = lock(&self.inner.groups);
            let Some(owned) = self.inner.owned.as_ref() else {
                return;
            };
            let mut owned = lock(owned);
            if owned.state.remove(&partition).is_none() {
                return;
            }
            take_partition(&mut groups, partition, owned.partitions)
        };
        let n = stale.len();
        self.drop_groups(stale).await;
        tracing::info!(
            partition,
            groups = n,
            "stopped coordinating the groups of an offsets partition"
        );
    }

    /// ListGroups must fail with COORDINATOR_LOAD_IN_PROGRESS while a partition loads (Kafka:
    /// the list would be incomplete).
    pub(super) fn check_not_loading(&self) -> Result<(), GroupError> {
        let _groups = lock(&self.inner.groups);
        match &self.inner.owned {
            Some(owned) if lock(owned).loading() => Err(GroupError::CoordinatorLoadInProgress),
            _ => Ok(()),
        }
    }

    /// Marks each group Dead and answers its parked requests NOT_COORDINATOR.
    async fn drop_groups(&self, slots: Vec<(String, SlotRef)>) {
        for (id, slot) in slots {
            lock(&self.inner.timers).set(&id, None);
            let mut s = slot.lock().await;
            let err = GroupError::NotCoordinator(id.clone());
            let fx = s.group.mark_dead(self.now_ms(), err);
            s.deliver(fx);
        }
    }
}

/// Removes the groups of `partition` from the map.
fn take_partition(
    groups: &mut HashMap<String, SlotRef>,
    partition: i32,
    partitions: i32,
) -> Vec<(String, SlotRef)> {
    let ids: Vec<String> = groups
        .keys()
        .filter(|id| offsets_partition(id, partitions) == partition)
        .cloned()
        .collect();
    ids.into_iter()
        .filter_map(|id| groups.remove(&id).map(|s| (id, s)))
        .collect()
}

#[cfg(test)]
mod tests;
