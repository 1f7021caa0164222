//! What the coordinators kept in a replicated internal topic (`offsets_topic` for
//! `__consumer_offsets`, `txn_topic` for `__transaction_state`) share: following which of the
//! topic's partitions this broker leads, replaying a partition's log, and appending a
//! coordinator record acknowledged like a produce with acks=all.
//!
//! - **Leadership** ([`InternalTopic::apply_image`]): after the partition layer applied an
//!   image, every partition this broker leads *and* whose leadership the partition layer took
//!   up is compared with what was led before; a partition that is new or led at a new epoch
//!   becomes a [`Change::Load`], one no longer led (or led at another epoch) a
//!   [`Change::Unload`]. Changes go, in image order, to one channel that the owning module's
//!   task drains, so an unload never overtakes the load that follows it.
//! - **Loaded** ([`InternalTopic::mark_loaded`]): the owner records the epoch it finished
//!   loading a partition at; it is forgotten with the leadership.
//! - **Append** ([`InternalTopic::append`]): one batch to a partition this broker leads at
//!   the epoch it follows, `min.insync.replicas` checked before, the high watermark awaited
//!   after, bounded by the commit timeout. A write at any other epoch is refused, so a deposed
//!   coordinator never adds a record after its successor loaded the log.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::broker::now_ms;
use crate::cluster::image::Image;
use crate::log::{AppendOutcome, BatchHeader, PartitionLog};
use crate::replica::{AckError, PartitionError, ReplicaManager};

/// Bytes read from the log per step of a replay.
const REPLAY_READ_BYTES: usize = 1 << 20;

/// A leadership change of one partition, applied in order by the owner's task.
#[derive(Debug)]
pub enum Change {
    Load {
        partition: i32,
        leader_epoch: i32,
        /// Partitions of the topic when the change was made.
        partitions: i32,
    },
    Unload {
        partition: i32,
    },
}

/// Why an append was not acknowledged.
#[derive(Debug)]
pub enum AppendError {
    /// This broker does not lead the partition (at the epoch it follows): the client must
    /// find the coordinator again (NOT_COORDINATOR).
    NotLeader(String),
    /// Too few in-sync replicas, a log error, or the acknowledgement timed out: retriable
    /// (COORDINATOR_NOT_AVAILABLE).
    Failed(String),
}

impl std::fmt::Display for AppendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AppendError::NotLeader(why) | AppendError::Failed(why) => f.write_str(why),
        }
    }
}

/// What this broker leads of the topic, as last applied from an image.
#[derive(Default)]
struct Led {
    /// Partitions of the topic (0 before it exists).
    partitions: i32,
    /// Partition → the leader epoch this broker leads it at.
    epochs: HashMap<i32, i32>,
    /// Partition → the leader epoch its owner finished loading it at.
    loaded: HashMap<i32, i32>,
}

/// One internal topic as seen by this broker (see the module header).
pub struct InternalTopic {
    topic: &'static str,
    node_id: i32,
    replicas: Arc<ReplicaManager>,
    commit_timeout: Duration,
    state: Mutex<Led>,
    changes: mpsc::UnboundedSender<Change>,
    /// Taken by the owner's task.
    pending: Mutex<Option<mpsc::UnboundedReceiver<Change>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl InternalTopic {
    pub fn new(
        topic: &'static str,
        node_id: i32,
        replicas: Arc<ReplicaManager>,
        commit_timeout: Duration,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        InternalTopic {
            topic,
            node_id,
            replicas,
            commit_timeout,
            state: Mutex::new(Led::default()),
            changes: tx,
            pending: Mutex::new(Some(rx)),
        }
    }

    /// The leadership changes, for the owner's task; `None` after the first call.
    pub fn take_changes(&self) -> Option<mpsc::UnboundedReceiver<Change>> {
        lock(&self.pending).take()
    }

    /// Follows one metadata image, after the partition layer applied it: partitions this
    /// broker now leads are queued for loading, those it stopped leading for unloading.
    pub fn apply_image(&self, image: &Image) {
        let mut led = lock(&self.state);
        let mut now: HashMap<i32, i32> = HashMap::new();
        let partitions = match image.topics.get(self.topic) {
            None => 0,
            Some(t) => {
                for p in &t.partitions {
                    let taken_up = p.leader == self.node_id
                        && self
                            .replicas
                            .leader(self.topic, p.index, p.leader_epoch)
                            .is_ok();
                    if taken_up {
                        now.insert(p.index, p.leader_epoch);
                    }
                }
                t.partitions.len() as i32
            }
        };
        let gone: Vec<i32> = led
            .epochs
            .iter()
            .filter(|(p, e)| now.get(p) != Some(e))
            .map(|(p, _)| *p)
            .collect();
        for partition in gone {
            led.epochs.remove(&partition);
            led.loaded.remove(&partition);
            let _ = self.changes.send(Change::Unload { partition });
        }
        for (partition, leader_epoch) in now {
            if led.epochs.insert(partition, leader_epoch) != Some(leader_epoch) {
                let _ = self.changes.send(Change::Load {
                    partition,
                    leader_epoch,
                    partitions,
                });
            }
        }
        led.partitions = partitions;
    }

    /// Partitions of the topic (0 before this broker saw it).
    pub fn partitions(&self) -> i32 {
        lock(&self.state).partitions
    }

    /// The epoch this broker leads `partition` at, if it still does.
    pub fn led_epoch(&self, partition: i32) -> Option<i32> {
        lock(&self.state).epochs.get(&partition).copied()
    }

    /// The epoch `partition` was loaded at, if it is still led at that epoch.
    pub fn loaded_epoch(&self, partition: i32) -> Option<i32> {
        let led = lock(&self.state);
        match (led.epochs.get(&partition), led.loaded.get(&partition)) {
            (Some(e), Some(l)) if e == l => Some(*e),
            _ => None,
        }
    }

    /// Records that `partition` finished loading at `leader_epoch`; ignored if the leadership
    /// moved on meanwhile. Returns whether it was recorded.
    pub fn mark_loaded(&self, partition: i32, leader_epoch: i32) -> bool {
        let mut led = lock(&self.state);
        if led.epochs.get(&partition) == Some(&leader_epoch) {
            led.loaded.insert(partition, leader_epoch);
            true
        } else {
            false
        }
    }

    /// Whether the partition layer names this broker leader of `partition`, even if the
    /// image that did so is still being applied.
    pub fn named_leader(&self, partition: i32) -> bool {
        match self.replicas.leader(self.topic, partition, -1) {
            Ok(_) => true,
            Err(PartitionError::NotLeader { leader, .. }) => leader == self.node_id,
            Err(_) => false,
        }
    }

    /// The log of `partition`, if this broker leads it at `leader_epoch`.
    pub fn leader_log(
        &self,
        partition: i32,
        leader_epoch: i32,
    ) -> Result<Arc<PartitionLog>, String> {
        self.replicas
            .leader(self.topic, partition, leader_epoch)
            .map(|p| p.log.clone())
            .map_err(|e| e.to_string())
    }

    /// Appends `batch` to `partition`, which this broker must lead at the epoch it follows,
    /// and waits until it is acknowledged as acks=all. Blocking: called on a blocking thread,
    /// it waits for the replicas on the runtime.
    pub fn append(&self, partition: i32, batch: &[u8]) -> Result<(), AppendError> {
        let epoch = self.led_epoch(partition).ok_or_else(|| {
            AppendError::NotLeader(format!(
                "{} partition {partition} is not led here",
                self.topic
            ))
        })?;
        let part = self
            .replicas
            .leader(self.topic, partition, epoch)
            .map_err(|e| match e {
                PartitionError::NotEnoughReplicas { .. } => AppendError::Failed(e.to_string()),
                other => AppendError::NotLeader(other.to_string()),
            })?;
        self.replicas
            .check_min_insync(&part, -1)
            .map_err(|e| AppendError::Failed(e.to_string()))?;
        let now = now_ms();
        let end = match part.log.append(batch, epoch, now) {
            Ok(AppendOutcome::Appended { last_offset, .. }) => last_offset + 1,
            // Without a producer id nothing is a retry.
            Ok(AppendOutcome::Duplicate { last_offset, .. }) => last_offset + 1,
            Err(e) => return Err(AppendError::Failed(e.to_string())),
        };
        self.replicas.appended(&part);
        let deadline = tokio::time::Instant::now() + self.commit_timeout;
        tokio::runtime::Handle::current()
            .block_on(self.replicas.await_ack(&part, -1, end, deadline))
            .map_err(|e| match e {
                AckError::NotLeader => AppendError::NotLeader(e.to_string()),
                other => AppendError::Failed(other.to_string()),
            })
    }
}

/// Feeds every whole batch of `log` from its start to its end to `apply`, in log order.
/// Blocking.
pub fn replay_log(
    log: &PartitionLog,
    mut apply: impl FnMut(Bytes) -> Result<(), String>,
) -> Result<(), String> {
    let mut pos = log.log_start_offset();
    let end = log.log_end_offset();
    while pos < end {
        let before = pos;
        let read = log
            .read_to_end(pos, REPLAY_READ_BYTES, true)
            .map_err(|e| e.to_string())?;
        let mut buf: Bytes = read.records.to_bytes().map_err(|e| e.to_string())?;
        if buf.is_empty() {
            break;
        }
        while let Ok(h) = BatchHeader::parse(&buf) {
            let size = h.batch_size();
            if buf.len() < size {
                break; // cut at the read limit: read again from here
            }
            let batch = buf.split_to(size);
            if h.last_offset() >= pos {
                apply(batch)?;
            }
            pos = pos.max(h.last_offset() + 1);
        }
        if pos == before {
            return Err(format!("no whole batch at offset {pos}"));
        }
    }
    Ok(())
}
