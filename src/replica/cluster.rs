//! Cluster mode of the partition layer: taking each metadata image's leaderships up (Kafka's
//! `ReplicaManager.applyDelta` → `makeLeader` / `makeFollower`), the leader's follower fetch
//! handling, the high watermark, and ISR changes proposed to the controller.
//!
//! Transitions, per partition this broker hosts:
//! - **leader** at a new leader epoch: the epoch starts at the log end
//!   (`PartitionLog::begin_leader_epoch`), every follower's state starts afresh
//!   ([`LeaderState::new`]), the fetcher forgets the partition; with one replica the log keeps
//!   its high watermark at its end, otherwise the high watermark moves only over the ISR.
//! - **leader** at the same epoch: a newer partition epoch (ISR change, reassignment) updates
//!   the state, and the high watermark is recomputed.
//! - **follower** (or no leader): the leader state resigns (parked acks=all produces answer
//!   NOT_LEADER_OR_FOLLOWER), and the fetcher follows the new leader at the new epoch.
//! - A partition this broker no longer is a replica of (a reassignment moved it away) is
//!   neither led nor followed any more; the controller layer has deleted its log.
//! - A partition seen for the first time since start whose log kept its high watermark at its
//!   end (how a log opens) is reset to its log start: the true high watermark is learned from
//!   the leader or from the followers' fetches, never guessed upward (no high-watermark
//!   checkpoint is kept).
//!
//! ISR changes go to the controller one at a time per partition (`leader.rs`); a refused one is
//! dropped and the committed ISR stands until the next image. Every `replica.lag.time.max.ms
//! / 2` the leader checks for lagging ISR members (Kafka's "isr-expiration" task).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::fetcher::Fetchers;
use super::leader::{IsrProposal, LeaderState};
use super::PartitionError;
use crate::broker::now_ms;
use crate::cluster::image::Image;
use crate::cluster::member::Member;
use crate::kafka_error::KafkaError;
use crate::log::{LogManager, PartitionLog};

/// Replication state of one cluster broker.
pub(super) struct Replication {
    node_id: i32,
    member: Arc<Member>,
    logs: Arc<LogManager>,
    fetchers: Fetchers,
    /// Partitions this broker leads, by topic then partition.
    leaders: RwLock<HashMap<String, HashMap<i32, Arc<LeaderState>>>>,
    /// Partitions taken up since start (leader or follower).
    known: std::sync::Mutex<BTreeSet<(String, i32)>>,
    lag_max_ms: i64,
    runtime: tokio::runtime::Handle,
}

impl super::ReplicaManager {
    /// Whether a produce rejection `code` is a sequence verdict (OUT_OF_ORDER_SEQUENCE_NUMBER,
    /// INVALID_PRODUCER_EPOCH) from a broker that may have been replaced as leader without
    /// knowing it yet (`Member::leadership_in_doubt`: fenced, or no heartbeat acknowledged for
    /// a session timeout). Its producer state may be stale: answered as it is, an idempotent
    /// producer resets its sequences (librdkafka bumps its epoch and re-sends what it had not
    /// seen acknowledged, so records the new leader already holds are written twice).
    /// NOT_LEADER_OR_FOLLOWER sends the batch to the current leader instead. False on a
    /// single broker.
    pub fn sequence_verdict_in_doubt(&self, code: i16) -> bool {
        (code == KafkaError::OutOfOrderSequenceNumber.code()
            || code == KafkaError::InvalidProducerEpoch.code())
            && self
                .replication
                .get()
                .is_some_and(|r| r.member.leadership_in_doubt())
    }

    /// Enters cluster mode: replication through `member`'s controller quorum. Spawns the ISR
    /// expiration task. Call once, before the first image is applied.
    pub fn join_cluster(&self, member: Arc<Member>, lag_max_ms: i64) {
        let runtime = tokio::runtime::Handle::current();
        let r = Arc::new(Replication {
            node_id: self.node_id,
            member,
            logs: self.logs.clone(),
            fetchers: Fetchers::new(self.node_id, runtime.clone()),
            leaders: RwLock::new(HashMap::new()),
            known: std::sync::Mutex::new(BTreeSet::new()),
            lag_max_ms: lag_max_ms.max(1),
            runtime: runtime.clone(),
        });
        if self.replication.set(r.clone()).is_ok() {
            runtime.spawn(isr_expiration(r));
        }
    }

    /// Takes up the leaderships and followerships of `image` (see the module header).
    /// Blocking (truncation, epoch checkpoints); call after the image is applied to the
    /// metadata view and the logs exist.
    pub fn apply_image(&self, image: &Image) {
        if let Some(r) = self.replication.get() {
            r.apply_image(image);
        }
    }

    /// A follower's fetch of a partition this broker leads: the log and the leader state,
    /// if this broker leads it at `current_leader_epoch` (-1: unchecked) and `replica` is one
    /// of its replicas (otherwise UNKNOWN_LEADER_EPOCH when an epoch was given, as Kafka answers
    /// during a reassignment, else NOT_LEADER_OR_FOLLOWER).
    pub fn follower_target(
        &self,
        topic: &str,
        partition: i32,
        replica: i32,
        current_leader_epoch: i32,
    ) -> Result<(Arc<PartitionLog>, Arc<LeaderState>), PartitionError> {
        let part = self.leader(topic, partition, current_leader_epoch)?;
        let state = part.replication.ok_or(PartitionError::NotLeader {
            leader: self.node_id,
            leader_epoch: part.leader_epoch,
        })?;
        if !state.is_replica(replica) {
            return Err(if current_leader_epoch >= 0 {
                PartitionError::UnknownLeaderEpoch {
                    requested: current_leader_epoch,
                    current: part.leader_epoch,
                }
            } else {
                PartitionError::NotLeader {
                    leader: self.node_id,
                    leader_epoch: part.leader_epoch,
                }
            });
        }
        Ok((part.log, state))
    }

    /// Records a follower's fetch at `fetch_offset` (after the divergence check passed): its
    /// progress, a possible ISR expansion, the high watermark.
    pub fn follower_fetched(
        &self,
        topic: &str,
        partition: i32,
        log: &PartitionLog,
        state: &Arc<LeaderState>,
        replica: i32,
        fetch_offset: i64,
    ) {
        let Some(r) = self.replication.get() else {
            return;
        };
        let leo = log.log_end_offset();
        if let Some(p) =
            state.follower_fetched(replica, fetch_offset, leo, log.high_watermark(), now_ms())
        {
            r.propose(topic, partition, state.clone(), p);
        }
        r.advance_high_watermark(state, log);
    }

    /// Shutdown (after the controlled shutdown moved the leaderships away): stops every
    /// fetcher and takes no image up any more, so that nothing writes to the logs once they
    /// close, and resigns every leadership at once, so that parked acks=all produces answer
    /// NOT_LEADER_OR_FOLLOWER now (the client retries them at the new leader, in order)
    /// instead of timing out while the producer moves on.
    pub fn stop_replication(&self) {
        if let Some(r) = self.replication.get() {
            r.fetchers.stop();
            let mut leaders = r.leaders.write().unwrap_or_else(|p| p.into_inner());
            for s in leaders.values().flat_map(|m| m.values()) {
                s.resign();
            }
            leaders.clear();
        }
    }

    /// Partitions this broker leads whose ISR is smaller than their replica set (Kafka's
    /// UnderReplicatedPartitions); 0 outside cluster mode.
    pub fn under_replicated(&self) -> usize {
        self.replication.get().map_or(0, |r| {
            r.all_leaders()
                .iter()
                .filter(|(_, _, s)| s.is_under_replicated())
                .count()
        })
    }
}

impl Replication {
    pub(super) fn leader_state(
        &self,
        topic: &str,
        partition: i32,
        leader_epoch: i32,
    ) -> Option<Arc<LeaderState>> {
        let leaders = self.leaders.read().unwrap_or_else(|p| p.into_inner());
        leaders
            .get(topic)?
            .get(&partition)
            .filter(|s| s.leader_epoch == leader_epoch)
            .cloned()
    }

    /// Publishes the high watermark the leader state allows now.
    pub(super) fn advance_high_watermark(&self, state: &LeaderState, log: &PartitionLog) {
        let hw = state.high_watermark(
            log.log_end_offset(),
            log.high_watermark(),
            log.config().min_insync_replicas,
            self.lag_max_ms,
            now_ms(),
        );
        log.advance_high_watermark(hw);
    }

    /// Sends an ISR change to the controller in the background.
    fn propose(
        self: &Arc<Self>,
        topic: &str,
        partition: i32,
        state: Arc<LeaderState>,
        p: IsrProposal,
    ) {
        let r = self.clone();
        let topic = topic.to_string();
        self.runtime.spawn(async move {
            tracing::info!(topic, partition, isr = ?p.isr, "proposing an ISR change");
            match r
                .member
                .alter_partition(&topic, partition, p.leader_epoch, p.partition_epoch, p.isr)
                .await
            {
                // An ISR change that completed a reassignment may have moved the leadership
                // or bumped its epoch: the next image takes that up, this state must not.
                Ok(done) if done.leader_epoch != state.leader_epoch => {}
                Ok(done) => {
                    state.update(&done.replicas, &done.isr, done.partition_epoch, now_ms());
                    if let Some(log) = r.logs.get(&topic, partition) {
                        r.advance_high_watermark(&state, &log);
                    }
                }
                Err(e) => {
                    tracing::info!(topic, partition, error = %e, "ISR change refused");
                    state.proposal_refused();
                }
            }
        });
    }

    fn apply_image(self: &Arc<Self>, image: &Image) {
        if self.fetchers.is_stopped() {
            return;
        }
        let me = self.node_id;
        let now = now_ms();
        let mut hosted: BTreeSet<(String, i32)> = BTreeSet::new();
        for t in image.topics.values() {
            for p in &t.partitions {
                if !p.replicas.contains(&me) {
                    continue;
                }
                let Some(log) = self.logs.get(&t.name, p.index) else {
                    continue;
                };
                let key = (t.name.clone(), p.index);
                let first_sight = lock(&self.known).insert(key.clone());
                if first_sight && p.replicas.len() > 1 {
                    log.set_hw_follows_leo(false);
                    log.restore_high_watermark(log.log_start_offset());
                }
                hosted.insert(key);
                if p.leader == me {
                    self.fetchers.unfollow(&t.name, p.index);
                    let ineligible = p
                        .replicas
                        .iter()
                        .copied()
                        .filter(|r| image.brokers.get(r).is_none_or(|b| b.fenced))
                        .collect();
                    self.lead(&t.name, p, &log, ineligible, now);
                } else {
                    self.resign(&t.name, p.index);
                    log.set_hw_follows_leo(false);
                    match image.brokers.get(&p.leader).filter(|b| !b.fenced) {
                        Some(b) => self.fetchers.follow(
                            p.leader,
                            (b.host.clone(), b.port),
                            &t.name,
                            p.index,
                            p.leader_epoch,
                            log,
                        ),
                        None => self.fetchers.unfollow(&t.name, p.index),
                    }
                }
            }
        }
        self.fetchers
            .retain(|t, p| hosted.contains(&(t.to_string(), p)));
        let mut leaders = self.leaders.write().unwrap_or_else(|p| p.into_inner());
        for (t, parts) in leaders.iter_mut() {
            parts.retain(|p, s| {
                let keep = hosted.contains(&(t.clone(), *p));
                if !keep {
                    s.resign();
                }
                keep
            });
        }
        leaders.retain(|_, parts| !parts.is_empty());
        lock(&self.known).retain(|k| hosted.contains(k));
    }

    /// Leads `p` at its current epoch (a new leader state if the epoch is new).
    fn lead(
        &self,
        topic: &str,
        p: &crate::cluster::image::PartitionState,
        log: &Arc<PartitionLog>,
        ineligible: Vec<i32>,
        now: i64,
    ) {
        if let Some(s) = self.leader_state(topic, p.index, p.leader_epoch) {
            s.update(&p.replicas, &p.isr, p.partition_epoch, now);
            s.set_ineligible(ineligible);
            self.advance_high_watermark(&s, log);
            return;
        }
        if let Err(e) = log.begin_leader_epoch(p.leader_epoch) {
            tracing::error!(topic, partition = p.index, error = %e, "cannot start a leader epoch");
            return;
        }
        let start = log.log_end_offset();
        let state = Arc::new(LeaderState::new(
            self.node_id,
            p.leader_epoch,
            start,
            &p.replicas,
            &p.isr,
            p.partition_epoch,
            now,
        ));
        state.set_ineligible(ineligible);
        log.set_hw_follows_leo(p.replicas.len() == 1);
        self.advance_high_watermark(&state, log);
        tracing::info!(topic, partition = p.index, leader_epoch = p.leader_epoch, log_end = start, isr = ?p.isr, "leading");
        let old = self
            .leaders
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .entry(topic.to_string())
            .or_default()
            .insert(p.index, state);
        if let Some(old) = old {
            old.resign();
        }
    }

    /// Stops leading `topic`/`partition`, if it did.
    fn resign(&self, topic: &str, partition: i32) {
        let mut leaders = self.leaders.write().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = leaders.get_mut(topic).and_then(|m| m.remove(&partition)) {
            tracing::info!(topic, partition, "no longer leading");
            s.resign();
        }
    }

    fn all_leaders(&self) -> Vec<(String, i32, Arc<LeaderState>)> {
        let leaders = self.leaders.read().unwrap_or_else(|p| p.into_inner());
        leaders
            .iter()
            .flat_map(|(t, m)| m.iter().map(|(p, s)| (t.clone(), *p, s.clone())))
            .collect()
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Every `replica.lag.time.max.ms / 2`: shrink the ISR of lagging followers, and let the high
/// watermark pass followers that stopped counting as caught up.
async fn isr_expiration(r: Arc<Replication>) {
    let period = Duration::from_millis((r.lag_max_ms / 2).max(100) as u64);
    loop {
        tokio::time::sleep(period).await;
        for (topic, partition, state) in r.all_leaders() {
            let Some(log) = r.logs.get(&topic, partition) else {
                continue;
            };
            if let Some(p) = state.shrink_proposal(log.log_end_offset(), r.lag_max_ms, now_ms()) {
                r.propose(&topic, partition, state.clone(), p);
            }
            r.advance_high_watermark(&state, &log);
        }
    }
}
