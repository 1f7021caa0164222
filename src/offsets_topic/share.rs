//! Cluster mode: the share coordinator. Share-partition state (KIP-932) lives under the share
//! group's coordinator, in the group's `__consumer_offsets` partition, as share-state records
//! (`records.rs`, key version 101), written with the same acks=all append as group records
//! and applied to the RocksDB view (space `s`, the `share::persist` bytes) after the log took
//! them. Share-partition leaders read and write it through `share::remote::ClusterPersister`:
//! locally when this broker is the coordinator, else with ReadShareGroupState /
//! WriteShareGroupState (`handlers/{read,write}_share_group_state.rs`).
//!
//! Invariants:
//! - The states of an offsets partition are served only once its load replayed them
//!   (COORDINATOR_LOAD_IN_PROGRESS before) and only while this broker leads it
//!   (NOT_COORDINATOR after); an unload drops them from memory and the view.
//! - Fencing, per share-partition, checked and appended under one lock so two writers cannot
//!   interleave: a read or write at a leader epoch older than the newest seen is
//!   FENCED_LEADER_EPOCH; a read at a newer one records that epoch (acks=all) before answering,
//!   so the previous leader's later writes are refused; a write whose state epoch is older than
//!   the stored one is FENCED_STATE_EPOCH (an admin reset or delete happened since).
//! - An admin reset (AlterShareGroupOffsets) or offsets delete (DeleteShareGroupOffsets) bumps
//!   the state epoch, so a leader's cached state is fenced at its next write and reloaded.

use std::collections::HashMap;
use std::sync::MutexGuard;

use uuid::Uuid;

use super::records::{self, ShareStateKey, ShareStateRecord};
use super::{lock, OffsetsTopic};
use crate::broker::now_ms;
use crate::group::offsets_partition;
use crate::group::store::GroupStoreError;
use crate::share::partition::Snapshot;
use crate::share::persist;
use crate::share::persister::StateError;
use crate::store::{Space, StoreOp};

/// Lock shards serializing check-and-append per share-partition.
pub(super) const SHARE_LOCKS: usize = 64;

/// The share states of each loaded offsets partition.
pub(super) type LoadedShares = HashMap<i32, HashMap<ShareStateKey, ShareStateRecord>>;

fn uninitialized(state_epoch: i32) -> Snapshot {
    Snapshot {
        state_epoch,
        start_offset: -1,
        ranges: Vec::new(),
    }
}

impl OffsetsTopic {
    /// The offsets partition of `group` if this broker coordinates it and has loaded it.
    fn share_partition(&self, group: &str) -> Result<i32, StateError> {
        let partitions = self.topic.partitions();
        if partitions == 0 {
            return Err(StateError::NotCoordinator(
                "the offsets topic does not exist yet".into(),
            ));
        }
        let p = offsets_partition(group, partitions);
        if self.topic.led_epoch(p).is_none() {
            return Err(StateError::NotCoordinator(format!(
                "offsets partition {p} is not led here"
            )));
        }
        if !lock(&self.shares).contains_key(&p) {
            return Err(StateError::LoadInProgress(format!(
                "offsets partition {p} is loading"
            )));
        }
        Ok(p)
    }

    /// Whether this broker is `group`'s share coordinator with its partition loaded.
    pub fn check_share_coordinator(&self, group: &str) -> Result<(), StateError> {
        self.share_partition(group).map(|_| ())
    }

    fn share_lock(&self, key: &ShareStateKey) -> MutexGuard<'_, ()> {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        key.hash(&mut h);
        lock(&self.share_locks[(h.finish() as usize) % SHARE_LOCKS])
    }

    fn stored(&self, partition: i32, key: &ShareStateKey) -> Option<ShareStateRecord> {
        lock(&self.shares)
            .get(&partition)
            .and_then(|m| m.get(key).cloned())
    }

    /// Appends the states to the offsets partition (acks=all), then applies them to memory
    /// and the view. Blocking.
    fn commit_shares(
        &self,
        group: &str,
        partition: i32,
        states: Vec<(ShareStateKey, Option<ShareStateRecord>)>,
    ) -> Result<(), StateError> {
        if states.is_empty() {
            return Ok(());
        }
        let batch = records::encode_share_states(&states, now_ms());
        self.append(group, &batch).map_err(|e| match e {
            GroupStoreError::NotCoordinator(m) => StateError::NotCoordinator(m),
            GroupStoreError::Failed(m) => StateError::Unavailable(m),
        })?;
        let mut ops = Vec::with_capacity(states.len());
        {
            let mut all = lock(&self.shares);
            let Some(mine) = all.get_mut(&partition) else {
                return Err(StateError::NotCoordinator(format!(
                    "offsets partition {partition} was unloaded"
                )));
            };
            for (k, v) in states {
                let key = persist::key(&k.0, k.1, k.2);
                match v {
                    Some(rec) => {
                        ops.push(StoreOp::Put {
                            cf: Space::Share,
                            key,
                            value: persist::encode(&rec.snapshot),
                        });
                        mine.insert(k, rec);
                    }
                    None => {
                        ops.push(StoreOp::Delete {
                            cf: Space::Share,
                            key,
                        });
                        mine.remove(&k);
                    }
                }
            }
        }
        // The log is the record; the view follows it (repaired by the next load).
        if let Err(e) = self.view.write(ops, false) {
            tracing::error!(group, error = %e, "share state view write failed after the offsets topic took it");
        }
        Ok(())
    }

    /// ReadShareGroupState: the state at the data partition's `leader_epoch` (see the module
    /// header for fencing). Never `None` once answered: a share-partition without state is
    /// recorded as not initialized at state epoch 0. Blocking.
    pub fn read_share_state(
        &self,
        key: &ShareStateKey,
        leader_epoch: i32,
    ) -> Result<Snapshot, StateError> {
        let p = self.share_partition(&key.0)?;
        let _g = self.share_lock(key);
        let stored = self.stored(p, key);
        match stored {
            Some(s) if leader_epoch < s.leader_epoch => {
                Err(StateError::FencedLeaderEpoch(format!(
                    "leader epoch {leader_epoch} is older than {} for {}/{}/{}",
                    s.leader_epoch, key.0, key.1, key.2
                )))
            }
            Some(s) if leader_epoch == s.leader_epoch => Ok(s.snapshot),
            other => {
                let snapshot = other.map_or_else(|| uninitialized(0), |s| s.snapshot);
                let rec = ShareStateRecord {
                    leader_epoch,
                    snapshot: snapshot.clone(),
                };
                self.commit_shares(&key.0, p, vec![(key.clone(), Some(rec))])?;
                Ok(snapshot)
            }
        }
    }

    /// WriteShareGroupState: replaces the state, durable (acks=all) when it returns. Blocking.
    pub fn write_share_state(
        &self,
        key: &ShareStateKey,
        leader_epoch: i32,
        snapshot: Snapshot,
    ) -> Result<(), StateError> {
        let p = self.share_partition(&key.0)?;
        let _g = self.share_lock(key);
        if let Some(s) = self.stored(p, key) {
            if leader_epoch < s.leader_epoch {
                return Err(StateError::FencedLeaderEpoch(format!(
                    "leader epoch {leader_epoch} is older than {} for {}/{}/{}",
                    s.leader_epoch, key.0, key.1, key.2
                )));
            }
            if snapshot.state_epoch < s.snapshot.state_epoch {
                return Err(StateError::FencedStateEpoch(format!(
                    "state epoch {} is older than {} for {}/{}/{}",
                    snapshot.state_epoch, s.snapshot.state_epoch, key.0, key.1, key.2
                )));
            }
        }
        let rec = ShareStateRecord {
            leader_epoch,
            snapshot,
        };
        self.commit_shares(&key.0, p, vec![(key.clone(), Some(rec))])
    }

    /// Every initialized share-partition state of `group` (DescribeShareGroupOffsets).
    pub fn share_states(&self, group: &str) -> Result<Vec<(Uuid, i32, Snapshot)>, StateError> {
        let p = self.share_partition(group)?;
        let all = lock(&self.shares);
        let mut out: Vec<(Uuid, i32, Snapshot)> = all
            .get(&p)
            .into_iter()
            .flat_map(|m| m.iter())
            .filter(|(k, v)| k.0 == group && v.snapshot.start_offset >= 0)
            .map(|(k, v)| (k.1, k.2, v.snapshot.clone()))
            .collect();
        out.sort_by_key(|(id, p, _)| (*id, *p));
        Ok(out)
    }

    /// AlterShareGroupOffsets (`Some(start)`) and DeleteShareGroupOffsets (`None`): each
    /// share-partition restarts at `start` with nothing in flight, or becomes uninitialized,
    /// at the next state epoch; one batch. Blocking; the caller checks the group is empty.
    pub fn reset_share_states(
        &self,
        group: &str,
        resets: &[(Uuid, i32, Option<i64>)],
    ) -> Result<(), StateError> {
        let p = self.share_partition(group)?;
        let keys: Vec<ShareStateKey> = resets
            .iter()
            .map(|(id, part, _)| (group.to_string(), *id, *part))
            .collect();
        let _guards = self.share_locks_for(&keys);
        let mut states = Vec::with_capacity(resets.len());
        for (key, (_, _, start)) in keys.into_iter().zip(resets) {
            let stored = self.stored(p, &key);
            let (leader_epoch, epoch) = stored
                .as_ref()
                .map_or((-1, 0), |s| (s.leader_epoch, s.snapshot.state_epoch));
            if start.is_none() && stored.is_none() {
                continue;
            }
            let rec = ShareStateRecord {
                leader_epoch,
                snapshot: Snapshot {
                    state_epoch: epoch + 1,
                    start_offset: start.unwrap_or(-1),
                    ranges: Vec::new(),
                },
            };
            states.push((key, Some(rec)));
        }
        self.commit_shares(group, p, states)
    }

    /// Partitions `group`'s known topics gained (`group::share::added_partitions`): each
    /// share-partition not initialized yet starts at offset 0, at the next state epoch, so a
    /// leader that read it uninitialized meanwhile is fenced and reloads it. Blocking.
    pub fn initialize_share_states(
        &self,
        group: &str,
        added: &[(Uuid, i32)],
    ) -> Result<(), StateError> {
        let p = self.share_partition(group)?;
        let keys: Vec<ShareStateKey> = added
            .iter()
            .map(|(id, part)| (group.to_string(), *id, *part))
            .collect();
        let _guards = self.share_locks_for(&keys);
        let mut states = Vec::new();
        for key in keys {
            let stored = self.stored(p, &key);
            if stored
                .as_ref()
                .is_some_and(|s| s.snapshot.start_offset >= 0)
            {
                continue;
            }
            let (leader_epoch, state_epoch) =
                stored.map_or((-1, 0), |s| (s.leader_epoch, s.snapshot.state_epoch + 1));
            let rec = ShareStateRecord {
                leader_epoch,
                snapshot: Snapshot {
                    state_epoch,
                    start_offset: 0,
                    ranges: Vec::new(),
                },
            };
            states.push((key, Some(rec)));
        }
        self.commit_shares(group, p, states)
    }

    /// A deleted share group: tombstones for every share-partition state it has. Blocking.
    pub fn delete_share_group_states(&self, group: &str) -> Result<(), StateError> {
        let p = self.share_partition(group)?;
        let keys: Vec<ShareStateKey> = lock(&self.shares)
            .get(&p)
            .into_iter()
            .flat_map(|m| m.keys())
            .filter(|k| k.0 == group)
            .cloned()
            .collect();
        let _guards = self.share_locks_for(&keys);
        self.commit_shares(group, p, keys.into_iter().map(|k| (k, None)).collect())
    }

    /// A deleted topic: tombstones for every share group's state of its partitions in the
    /// offsets partitions this broker coordinates (Kafka deletes share state with the topic).
    /// An offsets partition loading or changing hands at that moment keeps its records of the
    /// topic (harmless: a topic id is never reused, and a group's deletion tombstones them).
    /// Blocking.
    pub fn delete_topic_share_states(&self, topic_id: Uuid) -> Result<(), StateError> {
        let doomed: Vec<(i32, Vec<ShareStateKey>)> = lock(&self.shares)
            .iter()
            .map(|(p, m)| (*p, m.keys().filter(|k| k.1 == topic_id).cloned().collect()))
            .filter(|(_, keys): &(i32, Vec<ShareStateKey>)| !keys.is_empty())
            .collect();
        let mut result = Ok(());
        for (p, keys) in doomed {
            let group = keys[0].0.clone();
            let _guards = self.share_locks_for(&keys);
            let tombstones = keys.into_iter().map(|k| (k, None)).collect();
            if let Err(e) = self.commit_shares(&group, p, tombstones) {
                result = Err(e);
            }
        }
        result
    }

    /// The lock shards of `keys`, taken in shard order (no two callers deadlock).
    fn share_locks_for(&self, keys: &[ShareStateKey]) -> Vec<MutexGuard<'_, ()>> {
        use std::hash::{Hash, Hasher};
        let mut shards: Vec<usize> = keys
            .iter()
            .map(|k| {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                k.hash(&mut h);
                (h.finish() as usize) % SHARE_LOCKS
            })
            .collect();
        shards.sort_unstable();
        shards.dedup();
        shards
            .into_iter()
            .map(|i| lock(&self.share_locks[i]))
            .collect()
    }

    /// A load replayed `partition`'s share states: they replace its view and are served.
    /// Blocking.
    pub(super) fn install_shares(
        &self,
        partition: i32,
        states: HashMap<ShareStateKey, ShareStateRecord>,
    ) -> Result<(), String> {
        let mut ops = self.drop_view_ops(partition);
        for (k, v) in &states {
            ops.push(StoreOp::Put {
                cf: Space::Share,
                key: persist::key(&k.0, k.1, k.2),
                value: persist::encode(&v.snapshot),
            });
        }
        self.view.write(ops, false).map_err(|e| e.to_string())?;
        lock(&self.shares).insert(partition, states);
        Ok(())
    }

    /// The leadership of `partition` went: its share states leave memory and the view.
    /// Blocking.
    pub(super) fn unload_shares(&self, partition: i32) {
        let ops = self.drop_view_ops(partition);
        lock(&self.shares).remove(&partition);
        if let Err(e) = self.view.write(ops, false) {
            tracing::warn!(partition, error = %e, "could not drop unloaded share states from the view");
        }
    }

    fn drop_view_ops(&self, partition: i32) -> Vec<StoreOp> {
        lock(&self.shares)
            .get(&partition)
            .into_iter()
            .flat_map(|m| m.keys())
            .map(|k| StoreOp::Delete {
                cf: Space::Share,
                key: persist::key(&k.0, k.1, k.2),
            })
            .collect()
    }
}

/// Clears the share-state view of a previous run (blocking): nothing is served before a load.
pub(super) fn clear_view(view: &crate::store::Store) -> Result<(), crate::store::StoreError> {
    let keys: Vec<StoreOp> = view
        .scan_prefix(Space::Share, &[])?
        .into_iter()
        .map(|(key, _)| StoreOp::Delete {
            cf: Space::Share,
            key,
        })
        .collect();
    if keys.is_empty() {
        return Ok(());
    }
    view.write(keys, true)
}
