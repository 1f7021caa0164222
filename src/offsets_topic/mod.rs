//! Cluster mode: consumer groups kept in the replicated `__consumer_offsets` topic, as Kafka
//! keeps them. The coordinator of a group is the leader of the group's offsets partition
//! (`group::offsets_partition`); it writes every group change there and rebuilds its groups
//! from there when it becomes leader, so committed offsets and group metadata survive the loss
//! of any broker that is not the whole ISR.
//!
//! - **Write** ([`GroupStore::persist`]): one `GroupWrite` = one batch (`records.rs`) appended
//!   to the offsets partition this broker leads at the epoch it loaded, acknowledged like a
//!   produce with acks=all (`min.insync.replicas` before the append, the high watermark after
//!   it, bounded by `group.offsets_commit_timeout_ms`, Kafka's `offsets.commit.timeout.ms`).
//!   Only then is the write applied to the RocksDB view and answered. Losing the leadership is
//!   NOT_COORDINATOR; too few in-sync replicas or a timeout is COORDINATOR_NOT_AVAILABLE, as
//!   Kafka maps them; the client retries either way.
//! - **Load**: when a metadata image makes this broker leader of offsets partition `p` (and the
//!   partition layer has taken the leadership up), the partition's log is replayed from its log
//!   start to its log end into groups; they replace `p`'s groups in the RocksDB view (this
//!   broker's materialized view) and the coordinator serves them. Until then they answer
//!   COORDINATOR_LOAD_IN_PROGRESS.
//! - **Unload**: when the leadership goes (or its epoch changes), `p`'s groups leave the
//!   coordinator (parked requests get NOT_COORDINATOR) and the view.
//!
//! - **Transactional offsets** ([`GroupStore::persist_pending`]): staged and completed through
//!   the same write path, as pending-offsets records (`records.rs`); a load restores the
//!   pending offsets of transactions still open, which the transaction's marker (local, or a
//!   WriteTxnMarkers from the transaction coordinator's broker) completes.
//!
//! - **Share state** (`share.rs`): the share coordinator's share-partition states, as
//!   share-state records in the same partitions, loaded and unloaded with them.
//!
//! Loads and unloads run in image order on one task, so an unload never overtakes the load
//! that follows it. A single broker never builds this: its coordinator writes RocksDB directly.
//! The offsets topic is compacted, so retention never deletes it, and the log cleaner keeps
//! the latest record of every key: `records.rs` keys every record so that a compacted log
//! replays to the same groups. Following the leadership, replaying and appending are
//! `cluster::internal_topic`.

mod records;
mod share;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::broker::now_ms;
use crate::cluster::image::Image;
use crate::cluster::internal_topic::{replay_log, AppendError, Change, InternalTopic};
use crate::cluster::OFFSETS_TOPIC;
use crate::group::store::{
    GroupStore, GroupStoreError, GroupWrite, MetadataWrite, PendingWrite, PersistedGroup,
};
use crate::group::{offsets_partition, GroupCoordinator};
use crate::replica::ReplicaManager;
use crate::store::Store;

/// Pause before a failed load is tried again.
const LOAD_RETRY: Duration = Duration::from_secs(1);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The group store of a cluster member (see the module header).
pub struct OffsetsTopic {
    topic: InternalTopic,
    /// The RocksDB view of the groups this broker coordinates.
    view: Arc<Store>,
    /// Share-partition states of the loaded offsets partitions (`share.rs`).
    shares: Mutex<share::LoadedShares>,
    /// Serialize a share-partition's check-and-append (`share.rs`), sharded by key.
    share_locks: Vec<Mutex<()>>,
}

impl OffsetsTopic {
    /// The group store of a cluster member. The view starts empty: groups a previous run
    /// left in it are not coordinated here until a leadership loads them again. Blocking.
    pub fn new(
        node_id: i32,
        replicas: Arc<ReplicaManager>,
        view: Arc<Store>,
        commit_timeout: Duration,
    ) -> Result<Arc<Self>, crate::store::StoreError> {
        view.replace_groups(|_| true, &[])?;
        share::clear_view(&view)?;
        Ok(Arc::new(OffsetsTopic {
            topic: InternalTopic::new(OFFSETS_TOPIC, node_id, replicas, commit_timeout),
            view,
            shares: Mutex::new(HashMap::new()),
            share_locks: (0..share::SHARE_LOCKS).map(|_| Mutex::new(())).collect(),
        }))
    }

    /// Starts the task that loads and unloads offsets partitions for `groups`. Needs a tokio
    /// runtime; a second call does nothing.
    pub fn start(self: &Arc<Self>, groups: Arc<GroupCoordinator>) {
        if let Some(rx) = self.topic.take_changes() {
            tokio::spawn(self.clone().run(rx, groups));
        }
    }

    /// Follows one metadata image, after the partition layer applied it
    /// (`InternalTopic::apply_image`).
    pub fn apply_image(&self, image: &Image) {
        self.topic.apply_image(image);
    }

    async fn run(
        self: Arc<Self>,
        mut rx: tokio::sync::mpsc::UnboundedReceiver<Change>,
        groups: Arc<GroupCoordinator>,
    ) {
        while let Some(change) = rx.recv().await {
            match change {
                Change::Unload { partition } => {
                    groups.unload(partition).await;
                    let this = self.clone();
                    let _ =
                        tokio::task::spawn_blocking(move || this.unload_shares(partition)).await;
                    let count = self.topic.partitions();
                    let view = self.view.clone();
                    let dropped = tokio::task::spawn_blocking(move || {
                        view.replace_groups(|g| offsets_partition(g, count) == partition, &[])
                    })
                    .await;
                    if !matches!(dropped, Ok(Ok(()))) {
                        tracing::warn!(
                            partition,
                            "could not drop an unloaded offsets partition from the group view"
                        );
                    }
                }
                Change::Load {
                    partition,
                    leader_epoch,
                    partitions,
                } => {
                    self.load(&groups, partition, leader_epoch, partitions)
                        .await
                }
            }
        }
    }

    /// Loads one partition, retrying while this broker still leads it at `leader_epoch`.
    async fn load(
        self: &Arc<Self>,
        groups: &GroupCoordinator,
        partition: i32,
        leader_epoch: i32,
        partitions: i32,
    ) {
        let Some(token) = groups.begin_load(partition, partitions).await else {
            return;
        };
        loop {
            if self.topic.led_epoch(partition) != Some(leader_epoch) {
                return; // superseded: an Unload or a newer Load is queued
            }
            let this = self.clone();
            let started = std::time::Instant::now();
            let loaded = tokio::task::spawn_blocking(move || {
                this.read_partition(partition, leader_epoch, partitions)
            })
            .await
            .unwrap_or_else(|e| Err(format!("load task failed: {e}")));
            match loaded {
                Ok(loaded) => {
                    if groups.finish_load(partition, token, loaded) {
                        tracing::debug!(
                            partition,
                            leader_epoch,
                            elapsed_ms = started.elapsed().as_millis() as u64,
                            "offsets partition loaded"
                        );
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!(partition, leader_epoch, error = %e, "loading an offsets partition failed; retrying");
                    tokio::time::sleep(LOAD_RETRY).await;
                }
            }
        }
    }

    /// Replays the partition's log into groups and stores them as the partition's view.
    /// Blocking.
    fn read_partition(
        &self,
        partition: i32,
        leader_epoch: i32,
        partitions: i32,
    ) -> Result<Vec<PersistedGroup>, String> {
        let log = self.topic.leader_log(partition, leader_epoch)?;
        let mut replay = records::Replay::default();
        replay_log(&log, |batch| replay.apply_batch(batch))?;
        if replay.skipped > 0 {
            tracing::warn!(
                partition,
                skipped = replay.skipped,
                "offsets-topic records skipped while loading"
            );
        }
        self.install_shares(partition, replay.take_shares())?;
        let groups = replay.finish();
        self.view
            .replace_groups(|g| offsets_partition(g, partitions) == partition, &groups)
            .map_err(|e| e.to_string())?;
        Ok(groups)
    }
}

impl GroupStore for OffsetsTopic {
    /// Nothing is coordinated before the leadership of an offsets partition loads it.
    fn load(&self) -> Result<Vec<PersistedGroup>, GroupStoreError> {
        Ok(Vec::new())
    }

    /// Blocking: called on a blocking thread, it waits for the replicas on the runtime.
    fn persist(&self, group_id: &str, write: &GroupWrite) -> Result<(), GroupStoreError> {
        self.append(group_id, &records::encode_write(group_id, write, now_ms()))?;
        // The log is the record; the view follows it (a failed view write is repaired by the
        // next load).
        if let Err(e) = self.view.write_group(group_id, write) {
            tracing::error!(group = group_id, error = %e, "group view write failed after the offsets topic took it");
        }
        Ok(())
    }

    /// Transactional offsets (TxnOffsetCommit, and the marker that completes them) as a
    /// pending-offsets record (`records.rs`). Blocking. The view keeps committed offsets
    /// only: pending ones live in the log and in the coordinator's memory.
    fn persist_pending(&self, group_id: &str, write: &PendingWrite) -> Result<(), GroupStoreError> {
        self.append(
            group_id,
            &records::encode_pending(group_id, write, now_ms()),
        )?;
        if !write.commit.is_empty() {
            let committed = GroupWrite {
                metadata: MetadataWrite::Unchanged,
                offsets_put: write.commit.clone(),
                offsets_delete: Vec::new(),
            };
            if let Err(e) = self.view.write_group(group_id, &committed) {
                tracing::error!(group = group_id, error = %e, "group view write failed after the offsets topic took it");
            }
        }
        Ok(())
    }
}

impl OffsetsTopic {
    /// Appends `batch` to the offsets partition of `group_id`, which this broker must lead at
    /// the epoch it loaded, and waits until it is acknowledged as acks=all. Blocking.
    fn append(&self, group_id: &str, batch: &[u8]) -> Result<(), GroupStoreError> {
        let partition = offsets_partition(group_id, self.topic.partitions());
        self.topic.append(partition, batch).map_err(|e| match e {
            AppendError::NotLeader(why) => GroupStoreError::NotCoordinator(why),
            AppendError::Failed(why) => GroupStoreError::Failed(why),
        })
    }
}
