//! Followers: one replica fetcher per leader broker (Kafka's `ReplicaFetcherThread`), which
//! copies the partitions that broker leads into this broker's logs with Kafka's own follower
//! Fetch (v12: `replica_id`, `current_leader_epoch`, `last_fetched_epoch`, diverging-epoch
//! truncation), over the leader's ordinary Kafka listener.
//!
//! Per response partition (CLUSTER.md §1.3, follower side):
//! - a `diverging_epoch` → truncate to min(leader's end offset for that epoch, this log's end
//!   offset for the largest epoch ≤ it, this log's end) and fetch again;
//! - records → appended verbatim (`PartitionLog::append_replica`: the leader's offsets,
//!   epochs and producer ids, so this log can become the leader with the same producer state);
//! - the high watermark becomes min(leader's high watermark, this log's end), and the log
//!   start follows the leader's (DeleteRecords, retention) up to that high watermark;
//! - OFFSET_OUT_OF_RANGE → behind the leader's log start: start over there; otherwise truncate
//!   to the leader's high watermark (only after an unclean election);
//! - leadership errors → the partition waits for the next metadata image.
//!
//! Invariants: a response is applied only if the partition is still followed at the leader
//! epoch the request was built for (a leadership change in between drops it); the fetch offset
//! is always this log's end, read when the request is built; the fetcher never writes a
//! partition this broker leads (the partition layer removes it from here first).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::Notify;

use crate::cluster::peer::Peer;
use crate::kafka_error::KafkaError;
use crate::log::PartitionLog;

/// The Fetch version followers speak (the newest without topic ids).
const FETCH_VERSION: i16 = 12;
/// Kafka's `replica.fetch.wait.max.ms`.
const FETCH_WAIT_MS: i32 = 500;
/// Kafka's `replica.fetch.max.bytes` (per partition) and `replica.fetch.response.max.bytes`.
const PARTITION_MAX_BYTES: i32 = 1 << 20;
const RESPONSE_MAX_BYTES: i32 = 10 << 20;
/// Largest response frame accepted from a leader.
const MAX_FRAME: usize = 64 << 20;
/// How long one fetch exchange may take (the leader long-polls for `FETCH_WAIT_MS`).
const FETCH_TIMEOUT: Duration = Duration::from_secs(30);
/// Kafka's `replica.fetch.backoff.ms`.
const BACKOFF: Duration = Duration::from_secs(1);

/// One partition followed from a leader.
#[derive(Clone)]
struct Followed {
    log: Arc<PartitionLog>,
    leader_epoch: i32,
    /// Skipped until this instant (a leadership error: wait for metadata).
    paused_until: Option<tokio::time::Instant>,
}

/// The fetcher of one leader broker.
struct Fetcher {
    leader: i32,
    endpoint: Mutex<(String, i32)>,
    partitions: Mutex<BTreeMap<(String, i32), Followed>>,
    changed: Notify,
}

/// Every fetcher of this broker, by leader id.
pub struct Fetchers {
    node_id: i32,
    runtime: tokio::runtime::Handle,
    by_leader: Mutex<BTreeMap<i32, Arc<Fetcher>>>,
    stopped: Arc<AtomicBool>,
}

impl Fetchers {
    pub fn new(node_id: i32, runtime: tokio::runtime::Handle) -> Self {
        Fetchers {
            node_id,
            runtime,
            by_leader: Mutex::new(BTreeMap::new()),
            stopped: Arc::new(AtomicBool::new(false)),
        }
    }

    /// Stops every fetcher for good (shutdown): once this returns no fetcher writes a log.
    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        for f in lock(&self.by_leader).values() {
            lock(&f.partitions).clear();
            f.changed.notify_one();
        }
    }

    /// Whether [`Fetchers::stop`] ran.
    pub fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// Follows `topic`/`partition` from `leader` (at `endpoint`) at `leader_epoch`; moves it
    /// from any other leader's fetcher. Idempotent.
    pub fn follow(
        &self,
        leader: i32,
        endpoint: (String, i32),
        topic: &str,
        partition: i32,
        leader_epoch: i32,
        log: Arc<PartitionLog>,
    ) {
        let key = (topic.to_string(), partition);
        let mut all = lock(&self.by_leader);
        if self.is_stopped() {
            return;
        }
        for (id, f) in all.iter() {
            if *id != leader && lock(&f.partitions).remove(&key).is_some() {
                f.changed.notify_one();
            }
        }
        let f = all.entry(leader).or_insert_with(|| {
            let f = Arc::new(Fetcher {
                leader,
                endpoint: Mutex::new(endpoint.clone()),
                partitions: Mutex::new(BTreeMap::new()),
                changed: Notify::new(),
            });
            self.runtime
                .spawn(run(self.node_id, f.clone(), self.stopped.clone()));
            f
        });
        *lock(&f.endpoint) = endpoint;
        let mut parts = lock(&f.partitions);
        let current = parts.get(&key).map(|p| p.leader_epoch);
        if current != Some(leader_epoch) {
            tracing::info!(topic, partition, leader, leader_epoch, "following");
            parts.insert(
                key,
                Followed {
                    log,
                    leader_epoch,
                    paused_until: None,
                },
            );
            f.changed.notify_one();
        }
    }

    /// Stops following `topic`/`partition` (this broker leads it, or it has no leader).
    pub fn unfollow(&self, topic: &str, partition: i32) {
        let key = (topic.to_string(), partition);
        for f in lock(&self.by_leader).values() {
            lock(&f.partitions).remove(&key);
        }
    }

    /// Stops following every partition not in `keep`.
    pub fn retain(&self, keep: impl Fn(&str, i32) -> bool) {
        for f in lock(&self.by_leader).values() {
            lock(&f.partitions).retain(|(t, p), _| keep(t, *p));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One leader's fetch loop: connect, fetch, apply, until shutdown (idle while nothing is
/// followed).
async fn run(node_id: i32, f: Arc<Fetcher>, stopped: Arc<AtomicBool>) {
    let mut conn: Option<Peer> = None;
    while !stopped.load(Ordering::Acquire) {
        let now = tokio::time::Instant::now();
        let batch: Vec<((String, i32), Followed)> = lock(&f.partitions)
            .iter()
            .filter(|(_, p)| p.paused_until.is_none_or(|t| t <= now))
            .map(|(k, p)| (k.clone(), p.clone()))
            .collect();
        if batch.is_empty() {
            let _ = tokio::time::timeout(BACKOFF, f.changed.notified()).await;
            continue;
        }
        if conn.is_none() {
            let (host, port) = lock(&f.endpoint).clone();
            match Peer::open(&host, port, format!("runnel-replica-{node_id}")).await {
                Ok(c) => conn = Some(c),
                Err(e) => {
                    tracing::debug!(leader = f.leader, error = %e, "cannot reach the leader");
                    tokio::time::sleep(BACKOFF).await;
                    continue;
                }
            }
        }
        let Some(c) = conn.as_mut() else { continue };
        let req = build_request(node_id, &batch);
        let resp = tokio::select! {
            r = c.call(&req, FETCH_VERSION, MAX_FRAME, FETCH_TIMEOUT) => r,
            // A new partition to follow (or a leadership change) interrupts a long poll; the
            // answer in flight is abandoned with its connection.
            () = f.changed.notified() => {
                conn = None;
                continue;
            }
        };
        match resp {
            Ok(resp) => apply_response(&f, &batch, resp),
            Err(e) => {
                tracing::debug!(leader = f.leader, error = %e, "replica fetch failed");
                conn = None;
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

fn build_request(node_id: i32, batch: &[((String, i32), Followed)]) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for ((topic, partition), p) in batch {
        let part = FetchPartition::default()
            .with_partition(*partition)
            .with_current_leader_epoch(p.leader_epoch)
            .with_fetch_offset(p.log.log_end_offset())
            .with_last_fetched_epoch(p.log.latest_epoch().unwrap_or(-1))
            .with_log_start_offset(p.log.log_start_offset())
            .with_partition_max_bytes(PARTITION_MAX_BYTES);
        match topics.last_mut() {
            Some(t) if t.topic.as_str() == topic => t.partitions.push(part),
            _ => topics.push(
                FetchTopic::default()
                    .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                    .with_partitions(vec![part]),
            ),
        }
    }
    FetchRequest::default()
        .with_replica_id(BrokerId(node_id))
        .with_max_wait_ms(FETCH_WAIT_MS)
        .with_min_bytes(1)
        .with_max_bytes(RESPONSE_MAX_BYTES)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(topics)
}

/// Applies a response under the fetcher's partition lock, so that once `unfollow` returns no
/// write of this fetcher is in progress or still to come for that partition.
fn apply_response(f: &Fetcher, batch: &[((String, i32), Followed)], resp: FetchResponse) {
    let mut parts = lock(&f.partitions);
    for t in resp.responses {
        for pd in t.partitions {
            let key = (t.topic.to_string(), pd.partition_index);
            let Some((_, sent)) = batch.iter().find(|(k, _)| *k == key) else {
                continue;
            };
            // Still followed at the epoch the request was built for?
            let Some(p) = parts
                .get_mut(&key)
                .filter(|p| p.leader_epoch == sent.leader_epoch)
            else {
                continue;
            };
            if let Err(why) = apply_partition(&p.log, &pd) {
                // Leadership errors are expected while metadata propagates.
                if is_leadership_error(pd.error_code) {
                    tracing::debug!(topic = %key.0, partition = key.1, leader = f.leader, why, "replica fetch not applied");
                } else {
                    tracing::warn!(topic = %key.0, partition = key.1, leader = f.leader, why, "replica fetch not applied");
                }
                p.paused_until = Some(tokio::time::Instant::now() + BACKOFF);
            }
        }
    }
}

fn is_leadership_error(code: i16) -> bool {
    [
        KafkaError::NotLeaderOrFollower,
        KafkaError::UnknownTopicOrPartition,
        KafkaError::FencedLeaderEpoch,
        KafkaError::UnknownLeaderEpoch,
    ]
    .iter()
    .any(|e| e.code() == code)
}

/// Applies one partition's answer to its log (see the module header). `Err` pauses it.
fn apply_partition(log: &PartitionLog, pd: &PartitionData) -> Result<(), String> {
    let code = pd.error_code;
    if code == KafkaError::OffsetOutOfRange.code() {
        let leo = log.log_end_offset();
        let r = if leo < pd.log_start_offset {
            log.truncate_fully_and_start_at(pd.log_start_offset)
        } else {
            log.truncate_to(pd.high_watermark.max(log.log_start_offset()))
        };
        tracing::warn!(
            leo,
            leader_log_start = pd.log_start_offset,
            leader_hw = pd.high_watermark,
            "follower out of the leader's range; truncated"
        );
        return r.map_err(|e| e.to_string());
    }
    if code != 0 {
        return Err(format!(
            "leader answered {}",
            crate::kafka_error::name(code)
        ));
    }
    let div = &pd.diverging_epoch;
    if div.epoch >= 0 || div.end_offset >= 0 {
        let leo = log.log_end_offset();
        let (mine, my_end) = log.end_offset_for_epoch(div.epoch);
        let mut to = div.end_offset.min(leo);
        if mine >= 0 && my_end >= 0 {
            to = to.min(my_end);
        }
        let before = log.latest_epoch();
        log.truncate_to(to.max(log.log_start_offset()))
            .map_err(|e| e.to_string())?;
        if log.log_end_offset() == leo && log.latest_epoch() == before {
            // The next fetch would diverge the same way: wait rather than spin.
            return Err(format!(
                "diverging epoch {} ending at {} changed nothing at log end {leo}",
                div.epoch, div.end_offset
            ));
        }
        tracing::info!(
            leo,
            to,
            leader_epoch = div.epoch,
            leader_end = div.end_offset,
            "truncated a diverging tail"
        );
        return Ok(());
    }
    if let Some(records) = pd.records.as_ref().filter(|r| !r.is_empty()) {
        log.append_replica(records).map_err(|e| e.to_string())?;
    }
    log.advance_high_watermark(pd.high_watermark.min(log.log_end_offset()));
    // DeleteRecords and retention on the leader: the log start follows, up to this high watermark.
    let start = pd.log_start_offset.min(log.high_watermark());
    if start > log.log_start_offset() {
        log.delete_records_before(start)
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}
