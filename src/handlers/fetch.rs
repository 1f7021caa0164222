//! Fetch (key 1): serve record batches straight from segment files, with long polling.
//!
//! Every requested partition appears in the response (the Java client drops a full-fetch
//! response that omits one). Consumer reads never go past the high watermark (the last stable
//! offset for read_committed, below); the log answers with
//! whole batches as file slices, which the reply carries beside the message ([`FetchReply`])
//! and the connection sends from the page cache: no record is decoded or copied. `max_bytes` bounds the response,
//! `partition_max_bytes` each partition, except that the first batch of the first partition
//! with data is always returned whole (Kafka's rule, so a large batch cannot wedge a
//! consumer). When fewer than `min_bytes` are available the handler waits up to
//! `max_wait_ms`, woken by appends through each partition's high-watermark watch channel.
//! Fetch sessions (KIP-227, v7+): the session is resolved first (`fetch_session` engine),
//! an incremental fetch reads the session's partitions in session order, and its response
//! keeps only the partitions with news (records, high watermark or log start offset moved,
//! an error); a full fetch that asks for a session opens one after it is answered. Session
//! errors (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH) are top-level, with no
//! partitions, answered at once. Long polling applies to incremental fetches too.
//! Isolation (v4+): a `read_committed` consumer reads below the last stable offset instead of
//! the high watermark and gets the aborted transactions overlapping the batches returned
//! (`PartitionLog::aborted_transactions`, sorted by first offset, an empty list when none);
//! `read_uncommitted` gets a null list, as Kafka answers. Every partition answers its last
//! stable offset. Both wait on the high-watermark watch: the last stable offset moves only when
//! the high watermark does (`log/partition/txn.rs`), and the bytes a read_committed long poll
//! counts are those below it. Control batches (transaction markers) are returned as stored;
//! clients skip them.
//!
//! A follower's fetch (`replica_id` ≥ 0, cluster mode) is Kafka's leader-side processing
//! (CLUSTER.md §1.3): the partition layer checks leadership, epoch and replica membership;
//! a `last_fetched_epoch` the leader's epoch cache contradicts gets a `diverging_epoch` and no
//! records; otherwise the fetch offset is recorded as the follower's progress at once (which
//! may move the high watermark and the ISR), and the read goes to the log end rather than the
//! high watermark, long-polling on appends. Followers fetch without sessions.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{
    AbortedTransaction, EpochEndOffset, FetchableTopicResponse, PartitionData,
};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse, ProducerId, TopicName};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::watch;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::{now_ms, Broker};
use crate::fetch_session::{
    FetchContext, FetchSessionError, IncrementalFetch, PartitionOutcome, PartitionRequest,
};
use crate::kafka_error::{self, KafkaError};
use crate::log::{FileSlice, LogError, PartitionLog};
use crate::protocol::splice::records_placeholder;
use crate::replica::PartitionError;

/// The most one response carries whatever the client asks (Kafka's broker `fetch.max.bytes`
/// default; a first batch larger than this is still sent whole, as Kafka does).
const FETCH_MAX_BYTES: usize = 55 * 1024 * 1024;

/// One requested partition, resolved once.
struct Slot {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: usize,
    current_leader_epoch: i32,
    /// The partition's log, or why this broker does not serve it (partition layer).
    target: Result<Arc<PartitionLog>, PartitionError>,
    /// A follower's fetch: read up to the log end, not the high watermark.
    to_end: bool,
    /// A read_committed consumer: read below the last stable offset, report aborted
    /// transactions.
    read_committed: bool,
    /// A follower's fetch whose last fetched epoch diverges: (epoch, end offset) to answer.
    diverging: Option<(i32, i64)>,
    /// The principal may not read the topic (or, as a follower, lacks CLUSTER_ACTION):
    /// TOPIC_AUTHORIZATION_FAILED, nothing resolved.
    denied: bool,
}

/// A Fetch response and the record batches it carries, which stay in their segment files
/// until the connection sends them: `files` lists them in response order, one per partition
/// whose `records` is the splice placeholder (`protocol::splice`).
#[derive(Debug)]
pub struct FetchReply {
    pub response: FetchResponse,
    pub files: Vec<FileSlice>,
}

impl From<FetchResponse> for FetchReply {
    fn from(response: FetchResponse) -> Self {
        FetchReply {
            response,
            files: Vec::new(),
        }
    }
}

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: FetchRequest) -> FetchReply {
    let v = ctx.api_version;
    let session = match begin_session(broker, v, &req) {
        Ok(s) => s,
        Err(e) => return session_error(&e, 0).into(),
    };
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut slots = Vec::new();
    // Fetch < v4 has no isolation level: the field decodes as 0, read_uncommitted.
    let read_committed = req.isolation_level == 1;
    if let FetchContext::Incremental(inc) = &session {
        session_slots(broker, ctx, inc, read_committed, &mut topics, &mut slots);
    }
    // A full or sessionless fetch reads the request's partitions, an incremental one the
    // session's (the request only carried changes).
    let request_topics = match &session {
        FetchContext::Incremental(_) => &[][..],
        _ => &req.topics[..],
    };
    // Only a cluster broker has followers; a single broker reads for anyone as a consumer.
    let follower = if broker.controller.member().is_some() {
        req.replica_id.0
    } else {
        -1
    };
    // Kafka: a follower needs CLUSTER_ACTION on the cluster, a consumer READ on each topic.
    let follower_denied =
        follower >= 0 && !authz::authorize_cluster(broker, ctx, Op::ClusterAction);
    for (ti, t) in request_topics.iter().enumerate() {
        let denied = follower_denied
            || (follower < 0 && !authz::topic(broker, ctx, Op::Read, t.topic.as_str()));
        for p in &t.partitions {
            let current_leader_epoch = if v >= 9 { p.current_leader_epoch } else { -1 };
            let mut slot = Slot {
                topic_index: ti,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
                current_leader_epoch,
                target: Err(PartitionError::UnknownTopicOrPartition),
                to_end: follower >= 0,
                read_committed: read_committed && follower < 0,
                diverging: None,
                denied,
            };
            slot.target = if denied {
                Err(PartitionError::UnknownTopicOrPartition)
            } else if follower >= 0 {
                let last_fetched_epoch = if v >= 12 { p.last_fetched_epoch } else { -1 };
                follower_slot(
                    broker,
                    t.topic.as_str(),
                    follower,
                    last_fetched_epoch,
                    &mut slot,
                )
            } else {
                broker
                    .replicas
                    .leader(t.topic.as_str(), p.partition, current_leader_epoch)
                    .map(|part| part.log)
            };
            slots.push(slot);
        }
        topics.push(FetchableTopicResponse::default().with_topic(t.topic.clone()));
    }
    let max_total = if v >= 3 {
        (req.max_bytes.max(0) as usize).min(FETCH_MAX_BYTES)
    } else {
        FETCH_MAX_BYTES
    };
    let min_bytes = req.min_bytes.max(0) as usize;
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);

    // Subscribe before the first read so an append between read and wait is not missed.
    let mut watches: Vec<watch::Receiver<i64>> = slots
        .iter()
        .filter_map(|s| s.target.as_ref().ok().map(|l| (l, s.to_end)))
        .map(|(l, to_end)| {
            let mut rx = if to_end {
                l.subscribe_end()
            } else {
                l.subscribe()
            };
            rx.borrow_and_update();
            rx
        })
        .collect();
    let mut results = read_all(&slots, max_total);
    while results.1 < min_bytes && results.2 && !watches.is_empty() {
        let woke = tokio::time::timeout_at(deadline, any_changed(&mut watches)).await;
        if woke.is_err() {
            break;
        }
        results = read_all(&slots, max_total);
    }
    let (partitions, _, _) = results;
    let (session_id, keep) = match finish_session(broker, &req, &session, &slots, &partitions) {
        Ok(r) => r,
        Err((e, id)) => return session_error(&e, id).into(),
    };
    // Per topic entry, the slice of each partition pushed to it, in the same order.
    let mut topic_files: Vec<Vec<FileSlice>> = vec![Vec::new(); topics.len()];
    let mut records_out = 0u64;
    for ((slot, (pd, slice)), keep) in slots.iter().zip(partitions).zip(keep) {
        if !keep {
            continue;
        }
        if !slot.to_end {
            records_out += slice.offset_span();
        }
        if let Some(t) = topics.get_mut(slot.topic_index) {
            if !slot.to_end && !matches!(slot.target, Err(PartitionError::UnknownTopicOrPartition))
            {
                let topic_metrics = &broker.metrics.topics;
                topic_metrics.fetch(t.topic.as_str(), slice.len() as u64, pd.error_code);
            }
            t.partitions.push(pd);
            topic_files[slot.topic_index].push(slice);
        }
    }
    broker.metrics.records_out.inc_by(records_out);
    if matches!(session, FetchContext::Incremental(_)) {
        let mut files = topic_files.into_iter();
        topic_files = Vec::new();
        topics.retain(|t| {
            let f = files.next().unwrap_or_default();
            let keep = !t.partitions.is_empty();
            if keep {
                topic_files.push(f);
            }
            keep
        });
    }
    // Each non-empty slice travels outside the message, announced by the placeholder.
    let mut files = Vec::new();
    for (t, slices) in topics.iter_mut().zip(topic_files) {
        for (pd, slice) in t.partitions.iter_mut().zip(slices) {
            if !slice.is_empty() {
                pd.records = Some(records_placeholder());
                files.push(slice);
            }
        }
    }
    FetchReply {
        response: FetchResponse::default()
            .with_session_id(session_id)
            .with_responses(topics),
        files,
    }
}

/// Reads every slot once. Returns each partition's entry (records still empty) with the slice
/// of batches read for it, the bytes gathered, and whether waiting could help (no slot failed
/// in a way that new data would not fix).
fn read_all(slots: &[Slot], max_total: usize) -> (Vec<(PartitionData, FileSlice)>, usize, bool) {
    let mut out = Vec::with_capacity(slots.len());
    let mut total = 0usize;
    let mut any_error = false;
    for s in slots {
        let mut pd = PartitionData::default()
            .with_partition_index(s.partition)
            .with_high_watermark(-1)
            .with_last_stable_offset(-1)
            .with_log_start_offset(-1)
            .with_aborted_transactions(Some(Vec::new()))
            .with_preferred_read_replica(BrokerId(-1))
            .with_records(Some(Bytes::new()));
        if s.denied {
            pd.error_code = KafkaError::TopicAuthorizationFailed.code();
            any_error = true;
            out.push((pd, FileSlice::default()));
            continue;
        }
        let log = match &s.target {
            Ok(log) => log,
            Err(e) => {
                pd.error_code = e.kafka_code();
                any_error = true;
                out.push((pd, FileSlice::default()));
                continue;
            }
        };
        if let Some((epoch, end_offset)) = s.diverging {
            pd.diverging_epoch = EpochEndOffset::default()
                .with_epoch(epoch)
                .with_end_offset(end_offset);
            pd.high_watermark = log.high_watermark();
            pd.last_stable_offset = log.last_stable_offset();
            pd.log_start_offset = log.log_start_offset();
            any_error = true;
            out.push((pd, FileSlice::default()));
            continue;
        }
        let budget = max_total.saturating_sub(total).min(s.max_bytes);
        // Kafka: the first batch is returned whole even when it exceeds the limits, as long
        // as nothing has been gathered yet in this response.
        let min_one = total == 0;
        let read = if s.to_end {
            log.read_to_end(s.fetch_offset, budget, min_one)
        } else if s.read_committed {
            log.read_committed(s.fetch_offset, budget, min_one)
        } else {
            log.read(s.fetch_offset, budget, min_one)
        };
        let slice = match read {
            Ok(r) => {
                total += r.records.len();
                pd.high_watermark = r.high_watermark;
                pd.last_stable_offset = r.last_stable_offset;
                pd.log_start_offset = r.log_start_offset;
                pd.aborted_transactions = s.read_committed.then(|| {
                    log.aborted_transactions(s.fetch_offset, r.records.end_offset())
                        .into_iter()
                        .map(|a| {
                            AbortedTransaction::default()
                                .with_producer_id(ProducerId(a.producer_id))
                                .with_first_offset(a.first_offset)
                        })
                        .collect()
                });
                r.records
            }
            Err(e) => {
                if !matches!(e, LogError::OffsetOutOfRange { .. }) {
                    tracing::warn!(partition = s.partition, error = %e, "fetch failed");
                }
                pd.error_code = e.kafka_code();
                pd.high_watermark = log.high_watermark();
                pd.last_stable_offset = log.last_stable_offset();
                pd.log_start_offset = log.log_start_offset();
                any_error = true;
                FileSlice::default()
            }
        };
        out.push((pd, slice));
    }
    // Errors are answered at once, as Kafka does, rather than after max_wait_ms.
    (out, total, !any_error)
}

/// Resolves a follower's partition (partition layer) and runs the leader's checks on arrival:
/// divergence against `last_fetched_epoch` (then no records, no progress recorded), else the
/// fetch offset recorded as the follower's progress.
fn follower_slot(
    broker: &Broker,
    topic: &str,
    follower: i32,
    last_fetched_epoch: i32,
    slot: &mut Slot,
) -> Result<Arc<PartitionLog>, PartitionError> {
    let (log, state) = broker.replicas.follower_target(
        topic,
        slot.partition,
        follower,
        slot.current_leader_epoch,
    )?;
    if last_fetched_epoch >= 0 {
        let (epoch, end) = log.end_offset_for_epoch(last_fetched_epoch);
        if epoch < last_fetched_epoch || end < slot.fetch_offset {
            slot.diverging = Some((epoch, end));
            return Ok(log);
        }
    }
    if slot.fetch_offset >= log.log_start_offset() && slot.fetch_offset <= log.log_end_offset() {
        broker.replicas.follower_fetched(
            topic,
            slot.partition,
            &log,
            &state,
            follower,
            slot.fetch_offset,
        );
    }
    Ok(log)
}

/// One partition's `watch::Receiver::changed()` future.
type ChangedFuture<'a> = dyn Future<Output = Result<(), watch::error::RecvError>> + Send + 'a;

/// Resolves when any watched high watermark changes (or its partition goes away).
async fn any_changed(watches: &mut Vec<watch::Receiver<i64>>) {
    let mut gone = Vec::new();
    {
        let mut futs: Vec<Pin<Box<ChangedFuture<'_>>>> = watches
            .iter_mut()
            .map(|w| Box::pin(w.changed()) as Pin<Box<ChangedFuture<'_>>>)
            .collect();
        std::future::poll_fn(|cx| {
            let mut ready = false;
            for (i, f) in futs.iter_mut().enumerate() {
                if let Poll::Ready(r) = f.as_mut().poll(cx) {
                    ready = true;
                    if r.is_err() {
                        gone.push(i);
                    }
                }
            }
            if ready {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
    // A deleted partition's channel is closed for good: stop watching it.
    for i in gone.into_iter().rev() {
        watches.swap_remove(i);
    }
}

/// Resolves the request's fetch session before anything is read. Fetch < v7 has no
/// sessions. Counts the request by the kind the client asked for.
fn begin_session(
    broker: &Broker,
    v: i16,
    req: &FetchRequest,
) -> Result<FetchContext, FetchSessionError> {
    use crate::fetch_session::{FINAL_EPOCH, INITIAL_EPOCH};
    let count = |kind: &str| {
        broker
            .metrics
            .fetch_requests
            .with_label_values(&[kind])
            .inc()
    };
    if v < 7 || req.session_epoch == FINAL_EPOCH {
        count("sessionless");
    } else if req.session_epoch == INITIAL_EPOCH {
        count("full");
    } else {
        count("incremental");
    }
    if v < 7 {
        return Ok(FetchContext::Sessionless);
    }
    // Only an incremental request changes a session's partitions; a full fetch's partitions
    // go to the cache after they are answered (`finish_session`).
    let incremental = req.session_epoch != INITIAL_EPOCH && req.session_epoch != FINAL_EPOCH;
    let mut partitions = Vec::new();
    let mut forgotten = Vec::new();
    if incremental {
        for t in &req.topics {
            for p in &t.partitions {
                partitions.push(PartitionRequest {
                    topic: t.topic.as_str(),
                    partition: p.partition,
                    fetch_offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes,
                    current_leader_epoch: if v >= 9 { p.current_leader_epoch } else { -1 },
                });
            }
        }
        for t in &req.forgotten_topics_data {
            for &p in &t.partitions {
                forgotten.push((t.topic.as_str(), p));
            }
        }
    }
    let r = broker.fetch_sessions.begin(
        now_ms(),
        req.session_id,
        req.session_epoch,
        &partitions,
        &forgotten,
    );
    update_session_gauges(broker);
    r
}

/// An incremental fetch reads the session's partitions, in session order; consecutive
/// partitions of one topic share a topic entry in the response.
fn session_slots(
    broker: &Broker,
    ctx: &RequestContext,
    inc: &IncrementalFetch,
    read_committed: bool,
    topics: &mut Vec<FetchableTopicResponse>,
    slots: &mut Vec<Slot>,
) {
    let v = ctx.api_version;
    let mut current: Option<&str> = None;
    let mut denied = false;
    for p in &inc.partitions {
        if current != Some(&*p.topic) {
            current = Some(&*p.topic);
            denied = !authz::topic(broker, ctx, Op::Read, &p.topic);
            topics.push(
                FetchableTopicResponse::default()
                    .with_topic(TopicName(StrBytes::from_string(p.topic.to_string()))),
            );
        }
        let current_leader_epoch = if v >= 9 { p.current_leader_epoch } else { -1 };
        slots.push(Slot {
            topic_index: topics.len().saturating_sub(1),
            partition: p.partition,
            fetch_offset: p.fetch_offset,
            max_bytes: p.max_bytes.max(0) as usize,
            current_leader_epoch,
            target: if denied {
                Err(PartitionError::UnknownTopicOrPartition)
            } else {
                broker
                    .replicas
                    .leader(&p.topic, p.partition, current_leader_epoch)
                    .map(|part| part.log)
            },
            to_end: false,
            read_committed,
            diverging: None,
            denied,
        });
    }
}

/// After the read: a full fetch that asked for a session opens one (its id goes in the
/// response, 0 if the cache had no room); an incremental fetch learns which partitions have
/// news. Returns the response's session id and, per slot, whether the response carries it;
/// on a session error, the error and the session id to answer with.
fn finish_session(
    broker: &Broker,
    req: &FetchRequest,
    session: &FetchContext,
    slots: &[Slot],
    partitions: &[(PartitionData, FileSlice)],
) -> Result<(i32, Vec<bool>), (FetchSessionError, i32)> {
    let r = match session {
        FetchContext::Sessionless => return Ok((0, vec![true; partitions.len()])),
        FetchContext::Full => {
            let answered = slots.iter().zip(partitions).filter_map(|(s, read)| {
                let topic = req.topics.get(s.topic_index)?.topic.as_str();
                let req = PartitionRequest {
                    topic,
                    partition: s.partition,
                    fetch_offset: s.fetch_offset,
                    max_bytes: i32::try_from(s.max_bytes).unwrap_or(i32::MAX),
                    current_leader_epoch: s.current_leader_epoch,
                };
                Some((req, outcome(read)))
            });
            // Not privileged: only follower sessions are, and no followers exist yet.
            let created = broker.fetch_sessions.create(now_ms(), false, answered);
            broker
                .metrics
                .fetch_session_evictions
                .inc_by(created.evicted);
            Ok((created.session_id, vec![true; partitions.len()]))
        }
        FetchContext::Incremental(inc) => {
            let outcomes: Vec<PartitionOutcome> = partitions.iter().map(outcome).collect();
            match broker.fetch_sessions.finish(inc, &outcomes) {
                Ok(keep) => Ok((inc.session_id, keep)),
                // Kafka answers a response overtaken by a newer request with the session id.
                Err(e @ FetchSessionError::InvalidEpoch { .. }) => Err((e, inc.session_id)),
                Err(e) => Err((e, 0)),
            }
        }
    };
    update_session_gauges(broker);
    r
}

/// What the session cache needs to know of one answered partition.
fn outcome((pd, records): &(PartitionData, FileSlice)) -> PartitionOutcome {
    PartitionOutcome {
        high_watermark: pd.high_watermark,
        log_start_offset: pd.log_start_offset,
        has_records: !records.is_empty(),
        error: pd.error_code != kafka_error::NONE,
    }
}

/// A session error: top-level code, no partitions, answered at once.
fn session_error(e: &FetchSessionError, session_id: i32) -> FetchResponse {
    tracing::debug!(error = %e, "fetch session error");
    FetchResponse::default()
        .with_error_code(e.kafka_code())
        .with_session_id(session_id)
}

fn update_session_gauges(broker: &Broker) {
    let stats = broker.fetch_sessions.stats();
    let m = &broker.metrics;
    m.fetch_sessions.set(stats.sessions as i64);
    m.fetch_session_partitions.set(stats.partitions as i64);
}
