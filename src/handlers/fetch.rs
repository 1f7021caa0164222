//! Fetch (key 1): serve record batches straight from segment bytes, with long polling.
//!
//! Every requested partition appears in the response (the Java client drops a full-fetch
//! response that omits one). Reads never go past the high watermark; bytes come from the
//! log as whole batches without decoding records. `max_bytes` bounds the response,
//! `partition_max_bytes` each partition, except that the first batch of the first partition
//! with data is always returned whole (Kafka's rule, so a large batch cannot wedge a
//! consumer). When fewer than `min_bytes` are available the handler waits up to
//! `max_wait_ms`, woken by appends through each partition's high-watermark watch channel.
//! Fetch sessions (KIP-227) are not kept: session id 0, every fetch is a full fetch.
//! No transactions exist, so the last stable offset equals the high watermark and
//! `read_committed` reads the same bytes as `read_uncommitted`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use tokio::sync::watch;

use super::{codes, RequestContext};
use crate::broker::Broker;
use crate::log::{LogError, PartitionLog};

/// The most one response carries whatever the client asks (Kafka's `fetch.max.bytes`
/// default), so a response's memory is bounded (a first batch larger than this is still sent
/// whole, as Kafka does).
const FETCH_MAX_BYTES: usize = 55 * 1024 * 1024;

/// FETCH_SESSION_ID_NOT_FOUND: the client asked for a session we never created.
const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;

/// One requested partition, resolved once.
struct Slot {
    topic_index: usize,
    partition: i32,
    fetch_offset: i64,
    max_bytes: usize,
    current_leader_epoch: i32,
    log: Option<Arc<PartitionLog>>,
    leader_epoch: i32,
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: FetchRequest,
) -> FetchResponse {
    let v = ctx.api_version;
    if v >= 7 && req.session_id != 0 {
        return FetchResponse::default().with_error_code(FETCH_SESSION_ID_NOT_FOUND);
    }
    let mut topics = Vec::with_capacity(req.topics.len());
    let mut slots = Vec::new();
    for (ti, t) in req.topics.iter().enumerate() {
        let meta = broker.metadata.topic(t.topic.as_str());
        for p in &t.partitions {
            let info = meta.as_ref().and_then(|m| m.partition(p.partition));
            slots.push(Slot {
                topic_index: ti,
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes.max(0) as usize,
                current_leader_epoch: if v >= 9 { p.current_leader_epoch } else { -1 },
                log: info.and_then(|_| broker.logs.get(t.topic.as_str(), p.partition)),
                leader_epoch: info.map(|i| i.leader_epoch).unwrap_or(-1),
            });
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
        .filter_map(|s| s.log.as_ref())
        .map(|l| {
            let mut rx = l.subscribe();
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
    let mut records_out = 0u64;
    for (slot, pd) in slots.iter().zip(partitions) {
        if let Some(r) = &pd.records {
            records_out += count_records(r);
        }
        if let Some(t) = topics.get_mut(slot.topic_index) {
            if slot.log.is_some() {
                let bytes = pd.records.as_ref().map_or(0, |r| r.len() as u64);
                let topic_metrics = &broker.metrics.topics;
                topic_metrics.fetch(t.topic.as_str(), bytes, pd.error_code);
            }
            t.partitions.push(pd);
        }
    }
    broker.metrics.records_out.inc_by(records_out);
    FetchResponse::default()
        .with_session_id(0)
        .with_responses(topics)
}

/// Reads every slot once. Returns the partition entries, the bytes gathered, and whether
/// waiting could help (no slot failed in a way that new data would not fix).
fn read_all(slots: &[Slot], max_total: usize) -> (Vec<PartitionData>, usize, bool) {
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
        let Some(log) = &s.log else {
            pd.error_code = codes::UNKNOWN_TOPIC_OR_PARTITION;
            any_error = true;
            out.push(pd);
            continue;
        };
        if s.current_leader_epoch >= 0 && s.current_leader_epoch != s.leader_epoch {
            pd.error_code = if s.current_leader_epoch > s.leader_epoch {
                codes::UNKNOWN_LEADER_EPOCH
            } else {
                codes::FENCED_LEADER_EPOCH
            };
            any_error = true;
            out.push(pd);
            continue;
        }
        let budget = max_total.saturating_sub(total).min(s.max_bytes);
        // Kafka: the first batch is returned whole even when it exceeds the limits, as long
        // as nothing has been gathered yet in this response.
        let min_one = total == 0;
        match log.read(s.fetch_offset, budget, min_one) {
            Ok(r) => {
                total += r.records.len();
                pd.high_watermark = r.high_watermark;
                pd.last_stable_offset = r.high_watermark;
                pd.log_start_offset = r.log_start_offset;
                pd.records = Some(r.records);
            }
            Err(e) => {
                if !matches!(e, LogError::OffsetOutOfRange { .. }) {
                    tracing::warn!(partition = s.partition, error = %e, "fetch failed");
                }
                pd.error_code = e.kafka_code();
                pd.high_watermark = log.high_watermark();
                pd.last_stable_offset = pd.high_watermark;
                pd.log_start_offset = log.log_start_offset();
                any_error = true;
            }
        }
        out.push(pd);
    }
    // Errors are answered at once, as Kafka does, rather than after max_wait_ms.
    (out, total, !any_error)
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

/// Records in a run of whole batches, from the batch headers (RecordsCount at byte 57).
fn count_records(mut bytes: &[u8]) -> u64 {
    let mut n = 0u64;
    while bytes.len() >= 61 {
        let len = i32::from_be_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]);
        let count = i32::from_be_bytes([bytes[57], bytes[58], bytes[59], bytes[60]]);
        n += count.max(0) as u64;
        let Some(next) = usize::try_from(len).ok().and_then(|l| bytes.get(12 + l..)) else {
            break;
        };
        bytes = next;
    }
    n
}
