//! Cluster mode: the transaction coordinators' state kept in the replicated internal topic
//! `__transaction_state`, as Kafka keeps it, mirroring `offsets_topic` for groups. The
//! coordinator of a transactional id is the leader of the id's partition
//! ([`txn_partition`], Kafka's `abs(hashCode) % transaction.state.log.num.partitions`); its
//! coordinator epoch (the one in its markers) is that partition's leader epoch.
//!
//! - **Write** ([`TxnStore::put`] / [`TxnStore::delete`]): one state change = one batch of one
//!   record (key: Kafka's `TransactionLogKey` v0, i16 0 + string transactional id; value: the
//!   JSON document of `txn::store`, or null for an expired id) appended to the partition this
//!   broker leads at the epoch it loaded, acknowledged like a produce with acks=all
//!   (`min.insync.replicas` before, the high watermark after, bounded by the group's
//!   `offsets_commit_timeout_ms`, as Kafka bounds it by `transaction.state.log` acks). Only then
//!   is it applied to the RocksDB view (`Txns` key space) and the coordinator answers.
//! - **Load**: when an image makes this broker leader of partition `p` (and the partition
//!   layer took the leadership up), `p`'s log is replayed from its start to its end (last
//!   record per id wins), the result replaces `p`'s ids in the view and is handed to the
//!   coordinator ([`TxnCoordinator::load`]), which resumes the markers of every Prepare*
//!   state: a transaction the old coordinator decided but did not complete is completed by
//!   the new one. Until then the ids answer COORDINATOR_LOAD_IN_PROGRESS.
//! - **Unload**: when the leadership goes (or its epoch changes), `p`'s ids leave the
//!   coordinator and the view; they answer NOT_COORDINATOR, and their marker drivers stop.
//!
//! Invariants: loads and unloads run in image order on one task; an id is served only while
//! its partition is loaded at the epoch this broker leads it at
//! ([`TxnStore::coordinator_epoch`]); a write at any other epoch is refused, so a deposed
//! coordinator never adds a record after its successor loaded the log. The topic is compacted:
//! one key per id, last record wins, so a compacted log replays to the same ids.
//! Following the leadership, replaying and appending are `cluster::internal_topic`.

pub mod markers;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::broker::now_ms;
use crate::cluster::image::Image;
use crate::cluster::internal_topic::{replay_log, Change, InternalTopic};
use crate::cluster::TXN_TOPIC;
use crate::kafka_error::KafkaError;
use crate::replica::ReplicaManager;
use crate::store::{Space, Store, StoreOp};
use crate::txn::store::{decode, encode};
use crate::txn::{TxnCoordinator, TxnMetadata, TxnStore};

/// Pause before a failed load is tried again.
const LOAD_RETRY: Duration = Duration::from_secs(1);
/// Kafka's `TransactionLogKey` version.
const KEY_VERSION: i16 = 0;

/// The `__transaction_state` partition of `transactional_id` (Kafka's hash, the same as for
/// groups).
pub fn txn_partition(transactional_id: &str, partitions: i32) -> i32 {
    crate::group::offsets_partition(transactional_id, partitions)
}

fn encode_key(transactional_id: &str) -> Vec<u8> {
    let b = &transactional_id.as_bytes()[..transactional_id.len().min(i16::MAX as usize)];
    let mut out = Vec::with_capacity(4 + b.len());
    out.extend_from_slice(&KEY_VERSION.to_be_bytes());
    out.extend_from_slice(&(b.len() as i16).to_be_bytes());
    out.extend_from_slice(b);
    out
}

fn decode_key(key: &[u8]) -> Result<String, String> {
    if key.len() < 4 {
        return Err("transaction-log key too short".into());
    }
    let version = i16::from_be_bytes([key[0], key[1]]);
    if version != KEY_VERSION {
        return Err(format!("unknown transaction-log key version {version}"));
    }
    let len = usize::try_from(i16::from_be_bytes([key[2], key[3]]))
        .map_err(|_| "null transactional id in a key")?;
    let id = key.get(4..4 + len).ok_or("transaction-log key too short")?;
    String::from_utf8(id.to_vec()).map_err(|_| "transactional id is not UTF-8".into())
}

/// The batch of one state change (`None`: the id is forgotten).
fn encode_change(transactional_id: &str, meta: Option<&TxnMetadata>, now_ms: i64) -> Vec<u8> {
    let key = encode_key(transactional_id);
    let value = meta.map(encode);
    crate::log::encode_batch(&[(Some(key.as_slice()), value.as_deref())], now_ms)
}

/// The ids of one partition, folded from its batches in log order.
#[derive(Default)]
struct Replay {
    ids: HashMap<String, TxnMetadata>,
    skipped: usize,
}

impl Replay {
    fn apply_batch(&mut self, batch: Bytes) -> Result<(), String> {
        let mut buf = batch;
        let set = crate::protocol::records::decode_batch(&mut buf).map_err(|e| e.to_string())?;
        for r in set.records {
            if r.control {
                continue;
            }
            let decoded = r
                .key
                .as_deref()
                .ok_or_else(|| "a record without a key".to_string())
                .and_then(decode_key)
                .and_then(|id| match r.value.as_deref() {
                    None => Ok((id, None)),
                    Some(v) => decode(v).map(|m| (id, Some(m))),
                });
            match decoded {
                Ok((id, Some(m))) => {
                    self.ids.insert(id, m);
                }
                Ok((id, None)) => {
                    self.ids.remove(&id);
                }
                Err(e) => {
                    tracing::warn!(offset = r.offset, error = %e, "skipping a transaction-log record that does not decode");
                    self.skipped += 1;
                }
            }
        }
        Ok(())
    }
}

/// The transaction store of a cluster member (see the module header).
pub struct TxnTopic {
    topic: InternalTopic,
    /// The RocksDB view of the ids this broker coordinates.
    view: Arc<Store>,
}

impl TxnTopic {
    /// The transaction store of a cluster member. The view starts empty: ids a previous run
    /// left in it are not coordinated here until a leadership loads them again. Blocking.
    pub fn new(
        node_id: i32,
        replicas: Arc<ReplicaManager>,
        view: Arc<Store>,
        commit_timeout: Duration,
    ) -> Result<Arc<Self>, crate::store::StoreError> {
        replace_view(&view, |_| true, &[])?;
        Ok(Arc::new(TxnTopic {
            topic: InternalTopic::new(TXN_TOPIC, node_id, replicas, commit_timeout),
            view,
        }))
    }

    /// Starts the task that loads and unloads partitions into `coordinator`. Needs a tokio
    /// runtime; a second call does nothing.
    pub fn start(self: &Arc<Self>, coordinator: TxnCoordinator) {
        if let Some(rx) = self.topic.take_changes() {
            tokio::spawn(self.clone().run(rx, coordinator));
        }
    }

    /// Follows one metadata image, after the partition layer applied it
    /// (`InternalTopic::apply_image`).
    pub fn apply_image(&self, image: &Image) {
        self.topic.apply_image(image);
    }

    async fn run(self: Arc<Self>, mut rx: mpsc::UnboundedReceiver<Change>, coord: TxnCoordinator) {
        while let Some(change) = rx.recv().await {
            match change {
                Change::Unload { partition } => {
                    let count = self.topic.partitions();
                    let mine = move |id: &str| txn_partition(id, count) == partition;
                    coord.unload(mine).await;
                    let view = self.view.clone();
                    let dropped =
                        tokio::task::spawn_blocking(move || replace_view(&view, mine, &[])).await;
                    if !matches!(dropped, Ok(Ok(()))) {
                        tracing::warn!(
                            partition,
                            "could not drop an unloaded transaction-log partition from the view"
                        );
                    }
                    tracing::debug!(
                        partition,
                        "no longer coordinating the transactions of a transaction-log partition"
                    );
                }
                Change::Load {
                    partition,
                    leader_epoch,
                    ..
                } => self.load(&coord, partition, leader_epoch).await,
            }
        }
    }

    /// Loads one partition, retrying while this broker still leads it at `leader_epoch`.
    async fn load(self: &Arc<Self>, coord: &TxnCoordinator, partition: i32, leader_epoch: i32) {
        loop {
            if self.topic.led_epoch(partition) != Some(leader_epoch) {
                return; // superseded: an Unload or a newer Load is queued
            }
            let this = self.clone();
            let loaded =
                tokio::task::spawn_blocking(move || this.read_partition(partition, leader_epoch))
                    .await
                    .unwrap_or_else(|e| Err(format!("load task failed: {e}")));
            match loaded {
                Ok(ids) => {
                    let count = ids.len();
                    coord.load(ids, leader_epoch).await;
                    if self.topic.mark_loaded(partition, leader_epoch) {
                        tracing::debug!(
                            partition,
                            leader_epoch,
                            transactional_ids = count,
                            "coordinating the transactions of a transaction-log partition"
                        );
                    }
                    return;
                }
                Err(e) => {
                    tracing::error!(partition, leader_epoch, error = %e, "loading a transaction-log partition failed; retrying");
                    tokio::time::sleep(LOAD_RETRY).await;
                }
            }
        }
    }

    /// Replays the partition's log and stores the result as the partition's view. Blocking.
    fn read_partition(
        &self,
        partition: i32,
        leader_epoch: i32,
    ) -> Result<Vec<TxnMetadata>, String> {
        let log = self.topic.leader_log(partition, leader_epoch)?;
        let mut replay = Replay::default();
        replay_log(&log, |batch| replay.apply_batch(batch))?;
        if replay.skipped > 0 {
            tracing::warn!(
                partition,
                skipped = replay.skipped,
                "transaction-log records skipped while loading"
            );
        }
        let mut ids: Vec<TxnMetadata> = replay.ids.into_values().collect();
        ids.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        let count = self.topic.partitions();
        replace_view(&self.view, |id| txn_partition(id, count) == partition, &ids)
            .map_err(|e| e.to_string())?;
        Ok(ids)
    }

    /// Appends one state change of `transactional_id` to its partition, which this broker
    /// must lead at the epoch it loaded, and waits for its acks=all acknowledgement. Blocking
    /// (on a blocking thread; it waits for the replicas on the runtime).
    fn append(&self, transactional_id: &str, meta: Option<&TxnMetadata>) -> Result<(), String> {
        let epoch = self.coordinator_epoch(transactional_id).map_err(|e| {
            format!("not the coordinator of transactional id {transactional_id}: {e:?}")
        })?;
        let partition = txn_partition(transactional_id, self.topic.partitions());
        if self.topic.led_epoch(partition) != Some(epoch) {
            return Err(format!(
                "transaction-log partition {partition} is no longer led at epoch {epoch}"
            ));
        }
        let batch = encode_change(transactional_id, meta, now_ms());
        self.topic
            .append(partition, &batch)
            .map_err(|e| e.to_string())
    }
}

/// Replaces the view's ids for which `owns` holds by `ids`. Blocking.
fn replace_view(
    view: &Store,
    owns: impl Fn(&str) -> bool,
    ids: &[TxnMetadata],
) -> Result<(), crate::store::StoreError> {
    let mut ops = Vec::new();
    for (k, _) in view.scan_prefix(Space::Txns, b"")? {
        if std::str::from_utf8(&k).is_ok_and(&owns) {
            ops.push(StoreOp::Delete {
                cf: Space::Txns,
                key: k,
            });
        }
    }
    for m in ids {
        ops.push(StoreOp::Put {
            cf: Space::Txns,
            key: m.transactional_id.as_bytes().to_vec(),
            value: encode(m),
        });
    }
    if ops.is_empty() {
        return Ok(());
    }
    view.write(ops, false)
}

impl TxnStore for TxnTopic {
    /// Nothing is coordinated before a leadership loads it.
    fn load(&self) -> Result<Vec<TxnMetadata>, String> {
        Ok(Vec::new())
    }

    fn put(&self, meta: &TxnMetadata) -> Result<(), String> {
        self.append(&meta.transactional_id, Some(meta))?;
        // The log is the record; the view follows it (repaired by the next load).
        if let Err(e) = TxnStore::put(self.view.as_ref(), meta) {
            tracing::error!(transactional_id = %meta.transactional_id, error = %e,
                "transaction view write failed after the transaction log took it");
        }
        Ok(())
    }

    fn delete(&self, transactional_id: &str) -> Result<(), String> {
        self.append(transactional_id, None)?;
        if let Err(e) = TxnStore::delete(self.view.as_ref(), transactional_id) {
            tracing::error!(transactional_id, error = %e,
                "transaction view delete failed after the transaction log took it");
        }
        Ok(())
    }

    /// Kafka's answers: the partition's leader answers COORDINATOR_LOAD_IN_PROGRESS until its
    /// load finished (also while the image that made it leader is still being applied, or
    /// before this broker saw the topic at all: FindCoordinator may name it first); any other
    /// broker NOT_COORDINATOR.
    fn coordinator_epoch(&self, transactional_id: &str) -> Result<i32, KafkaError> {
        let partitions = self.topic.partitions();
        if partitions == 0 {
            return Err(KafkaError::CoordinatorLoadInProgress);
        }
        let partition = txn_partition(transactional_id, partitions);
        if let Some(epoch) = self.topic.loaded_epoch(partition) {
            return Ok(epoch);
        }
        if self.topic.led_epoch(partition).is_some() || self.topic.named_leader(partition) {
            Err(KafkaError::CoordinatorLoadInProgress)
        } else {
            Err(KafkaError::NotCoordinator)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::{Participant, TxnState};

    #[test]
    fn keys_use_kafkas_layout() {
        assert_eq!(encode_key("t1"), [0, 0, 0, 2, b't', b'1']);
        assert_eq!(decode_key(&encode_key("tx-é")).unwrap(), "tx-é");
        assert!(decode_key(&[0, 1, 0, 0]).unwrap_err().contains("version 1"));
        assert!(decode_key(&[0, 0, 0, 5, b'a']).is_err());
    }

    #[test]
    fn the_partition_is_javas_string_hash() {
        // "my-group".hashCode() == -1_906_497_762 in Java.
        assert_eq!(txn_partition("my-group", 50), 1_906_497_762 % 50);
    }

    /// The last record per id wins; a tombstone forgets the id; a Prepare* state comes back
    /// as it was written, participants included.
    #[test]
    fn replay_keeps_the_last_state_of_each_id() {
        let mut a = TxnMetadata::new("a", 1, 60_000, 5);
        let b = TxnMetadata::new("b", 2, 60_000, 5);
        let mut replay = Replay::default();
        let mut feed = |id: &str, m: Option<&TxnMetadata>| {
            replay
                .apply_batch(Bytes::from(encode_change(id, m, 9)))
                .unwrap()
        };
        feed("a", Some(&a));
        feed("b", Some(&b));
        a.state = TxnState::PrepareCommit;
        a.participants.insert(Participant::Partition {
            topic: "t".into(),
            partition: 3,
        });
        feed("a", Some(&a));
        feed("b", None);
        assert_eq!(replay.skipped, 0);
        assert_eq!(replay.ids.len(), 1);
        assert_eq!(replay.ids["a"], a);
    }
}
