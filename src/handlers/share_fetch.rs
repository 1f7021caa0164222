//! ShareFetch (key 78, v1): a share-group member's fetch with piggy-backed acknowledgements
//! (KIP-932). Partitions are named by topic id.
//!
//! Order, as Kafka's `KafkaApis.handleShareFetchRequest`: the session is resolved first
//! (epoch 0 opens it and may carry no acknowledgements — INVALID_REQUEST; −1 closes it after
//! its acknowledgements; any other epoch must match — INVALID_SHARE_SESSION_EPOCH /
//! SHARE_SESSION_NOT_FOUND, top-level, no partitions). Then the acknowledgements, per
//! partition atomic and durable before they are reported (`AcknowledgeErrorCode`), then the
//! fetch: every session partition this broker leads is asked for records
//! ([`crate::share::ShareManager::fetch`]); the acquired batches travel as file slices
//! spliced into `Records` like a Fetch's, `AcquiredRecords` naming the offsets that are the
//! member's. With nothing acquired the request waits up to `MaxWaitMs` for appends or for
//! records made available again. `MinBytes` counts as one record: the request completes as
//! soon as anything is acquired. A full fetch (epoch 0) answers every requested partition, an
//! incremental one those with records, errors or acknowledgements.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, PartitionData, ShareFetchableTopicResponse,
};
use kafka_protocol::messages::{ShareFetchRequest, ShareFetchResponse};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::authz::{self, Op};
use super::share_common::{self, AckOutcome, ResolvedAcks};
use super::RequestContext;
use crate::broker::{now_ms, Broker};
use crate::kafka_error::{self, KafkaError};
use crate::log::FileSlice;
use crate::protocol::splice::records_placeholder;
use crate::share::manager::ShareRead;
use crate::share::session::{SessionKey, TopicIdPartition, FINAL_EPOCH, INITIAL_EPOCH};
use crate::share::{GroupSettings, ShareKey};

/// The most one response carries (Kafka's broker `fetch.max.bytes` default).
const SHARE_FETCH_MAX_BYTES: usize = 55 * 1024 * 1024;

/// A ShareFetch response and the record batches it carries (see `protocol::splice`).
#[derive(Debug)]
pub struct ShareFetchReply {
    pub response: ShareFetchResponse,
    pub files: Vec<FileSlice>,
}

fn top_level(code: i16, message: String) -> ShareFetchReply {
    ShareFetchReply {
        response: ShareFetchResponse::default()
            .with_error_code(code)
            .with_error_message(Some(StrBytes::from_string(message))),
        files: Vec::new(),
    }
}

/// One partition the fetch reads.
struct Target {
    tp: TopicIdPartition,
    name: Option<String>,
    max_bytes: usize,
}

/// A partition's answer before encoding.
#[derive(Default)]
struct Answer {
    error: i16,
    ack: Option<AckOutcome>,
    read: Option<ShareRead>,
    leader: (i32, i32),
    requested: bool,
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ShareFetchRequest,
) -> ShareFetchReply {
    let group = req.group_id.as_ref().map(|g| g.as_str()).unwrap_or("");
    let member = req.member_id.as_ref().map(|m| m.as_str()).unwrap_or("");
    if group.is_empty() || member.is_empty() {
        return top_level(
            KafkaError::InvalidRequest.code(),
            "ShareFetch needs a group id and a member id".into(),
        );
    }
    if !authz::group(broker, ctx, Op::Read, group) {
        return top_level(
            KafkaError::GroupAuthorizationFailed.code(),
            format!("not authorized to read group {group}"),
        );
    }
    let key: SessionKey = (Arc::from(group), Arc::from(member));
    let epoch = req.share_session_epoch;
    let has_acks = req.topics.iter().any(|t| {
        t.partitions
            .iter()
            .any(|p| !p.acknowledgement_batches.is_empty())
    });
    let requested: Vec<TopicIdPartition> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(move |p| (t.topic_id, p.partition_index))
        })
        .collect();
    let forgotten: Vec<TopicIdPartition> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |&p| (t.topic_id, p)))
        .collect();
    let shares = &broker.shares;
    // The session decides which partitions are read.
    let session_parts: Vec<TopicIdPartition> = match epoch {
        INITIAL_EPOCH => {
            if has_acks {
                return top_level(
                    KafkaError::InvalidRequest.code(),
                    "acknowledgements are not allowed when opening a share session (epoch 0)"
                        .into(),
                );
            }
            if let Err(e) = shares.open_session(key.clone(), ctx.connection_id, requested.clone()) {
                return top_level(e.kafka_code(), e.to_string());
            }
            requested.clone()
        }
        FINAL_EPOCH => {
            if !shares.has_session(&key) {
                return top_level(
                    KafkaError::ShareSessionNotFound.code(),
                    format!("share session for member {member} not found"),
                );
            }
            Vec::new()
        }
        e => match shares.update_session(&key, e, ctx.connection_id, requested.clone(), &forgotten)
        {
            Ok(parts) => parts,
            Err(err) => return top_level(err.kafka_code(), err.to_string()),
        },
    };
    let settings = GroupSettings::from_overrides(&broker.controller.group_overrides(group));
    let member_id: Arc<str> = key.1.clone();
    let group_id: Arc<str> = key.0.clone();

    // Acknowledgements first, each partition atomic and durable.
    let mut answers: BTreeMap<TopicIdPartition, Answer> = BTreeMap::new();
    let resolved: ResolvedAcks = share_common::resolve_acks(
        broker,
        ctx,
        req.topics.iter().flat_map(|t| {
            t.partitions
                .iter()
                .filter(|p| !p.acknowledgement_batches.is_empty())
                .map(move |p| {
                    (
                        t.topic_id,
                        p.partition_index,
                        p.acknowledgement_batches
                            .iter()
                            .map(|b| (b.first_offset, b.last_offset, b.acknowledge_types.clone()))
                            .collect::<Vec<_>>(),
                    )
                })
        }),
    );
    let outcomes =
        share_common::apply_acks(broker, &group_id, &member_id, settings, resolved).await;
    for (tp, outcome) in outcomes {
        answers.entry(tp).or_default().ack = Some(outcome);
    }
    if epoch == FINAL_EPOCH {
        let b = broker.clone();
        let k = key.clone();
        let _ = super::blocking(move || b.shares.close_session(&k)).await;
    }

    // Then the fetch.
    // v1 has no per-partition limit (PartitionMaxBytes was v0 only): the request's MaxBytes
    // bounds the response, the first batch always whole.
    let max_total = (req.max_bytes.max(0) as usize).min(SHARE_FETCH_MAX_BYTES);
    let mut targets = Vec::new();
    let mut names: BTreeMap<Uuid, Option<String>> = BTreeMap::new();
    for &tp in &session_parts {
        let name = names
            .entry(tp.0)
            .or_insert_with(|| broker.metadata.topic_by_id(tp.0).map(|t| t.name.clone()))
            .clone();
        targets.push(Target {
            tp,
            name,
            max_bytes: max_total,
        });
    }
    let full = epoch == INITIAL_EPOCH;
    for t in &targets {
        let a = answers.entry(t.tp).or_default();
        a.requested = full;
        match &t.name {
            None => a.error = KafkaError::UnknownTopicId.code(),
            Some(n) if !authz::topic(broker, ctx, Op::Read, n) => {
                a.error = KafkaError::TopicAuthorizationFailed.code()
            }
            Some(_) => {}
        }
    }
    if epoch != FINAL_EPOCH && !targets.is_empty() {
        let deadline =
            tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
        let max_records = if req.max_records > 0 {
            req.max_records as i64
        } else {
            i64::MAX
        };
        loop {
            // Register interest before reading, so a release in between is not missed.
            let available = broker.shares.available.notified();
            tokio::pin!(available);
            available.as_mut().enable();
            let mut watches = Vec::new();
            let reads = read_all(
                broker,
                &targets,
                &answers,
                &group_id,
                &member_id,
                settings,
                max_total,
                max_records,
                &mut watches,
            )
            .await;
            let mut got = false;
            let mut failed = false;
            for (tp, r) in reads {
                let a = answers.entry(tp).or_default();
                match r {
                    Ok((leader, read)) => {
                        a.leader = leader;
                        got |= read.is_some();
                        a.read = read;
                    }
                    Err(code) => {
                        a.error = code;
                        failed = true;
                    }
                }
            }
            if got || failed || watches.is_empty() || tokio::time::Instant::now() >= deadline {
                break;
            }
            let hw_changed = async {
                let mut futs: Vec<_> = watches
                    .iter_mut()
                    .map(|w: &mut tokio::sync::watch::Receiver<i64>| Box::pin(w.changed()))
                    .collect();
                futures_select_any(&mut futs).await
            };
            let woke = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    _ = hw_changed => {}
                    _ = &mut available => {}
                }
            })
            .await;
            if woke.is_err() {
                break;
            }
        }
    }
    build(broker, answers, settings, full)
}

/// Reads every target once (blocking work off the async workers). Per partition: the
/// leader (id, epoch) and what was acquired, or an error code. Fills `watches` with the
/// high-watermark watch of each readable partition.
/// One partition's read: the leader (id, epoch) and what was acquired, or an error code.
type PartitionRead = (
    TopicIdPartition,
    Result<((i32, i32), Option<ShareRead>), i16>,
);

#[allow(clippy::too_many_arguments)]
async fn read_all(
    broker: &Arc<Broker>,
    targets: &[Target],
    answers: &BTreeMap<TopicIdPartition, Answer>,
    group: &Arc<str>,
    member: &Arc<str>,
    settings: GroupSettings,
    max_total: usize,
    max_records: i64,
    watches: &mut Vec<tokio::sync::watch::Receiver<i64>>,
) -> Vec<PartitionRead> {
    let mut work = Vec::new();
    let mut out = Vec::new();
    for t in targets {
        if answers
            .get(&t.tp)
            .is_some_and(|a| a.error != kafka_error::NONE)
        {
            continue;
        }
        let Some(name) = &t.name else { continue };
        match broker.replicas.leader(name, t.tp.1, -1) {
            Ok(lp) => {
                let mut rx = lp.log.subscribe();
                rx.borrow_and_update();
                watches.push(rx);
                work.push((t.tp, t.max_bytes, lp.log, lp.leader_epoch));
            }
            Err(e) => out.push((t.tp, Err(e.kafka_code()))),
        }
    }
    let b = broker.clone();
    let group = group.clone();
    let member = member.clone();
    let node = broker.node.node_id;
    let reads = super::blocking(move || {
        let now = now_ms();
        let mut total = 0usize;
        let mut res = Vec::with_capacity(work.len());
        for (tp, part_max, log, epoch) in work {
            let key = ShareKey {
                group: group.clone(),
                topic_id: tp.0,
                partition: tp.1,
            };
            let budget = max_total.saturating_sub(total).min(part_max);
            let r = b.shares.fetch(
                &key,
                &settings,
                &member,
                &log,
                epoch,
                budget,
                max_records,
                total == 0,
                now,
            );
            match r {
                Ok(read) => {
                    if let Some(r) = &read {
                        total += r.records.len();
                    }
                    res.push((tp, Ok(((node, epoch), read))));
                }
                Err(e) => {
                    tracing::debug!(error = %e, "share fetch failed");
                    res.push((tp, Err(e.kafka_code())));
                }
            }
        }
        res
    })
    .await;
    out.extend(reads);
    out
}

/// Resolves when any of the futures does.
async fn futures_select_any<F: std::future::Future + Unpin>(futs: &mut [F]) {
    if futs.is_empty() {
        return std::future::pending().await;
    }
    std::future::poll_fn(|cx| {
        for f in futs.iter_mut() {
            if std::pin::Pin::new(f).poll(cx).is_ready() {
                return std::task::Poll::Ready(());
            }
        }
        std::task::Poll::Pending
    })
    .await
}

fn build(
    broker: &Broker,
    answers: BTreeMap<TopicIdPartition, Answer>,
    settings: GroupSettings,
    full: bool,
) -> ShareFetchReply {
    let mut topics: Vec<ShareFetchableTopicResponse> = Vec::new();
    let mut files = Vec::new();
    let mut records_out = 0u64;
    for ((topic_id, partition), a) in answers {
        let has_news =
            a.requested || a.error != kafka_error::NONE || a.ack.is_some() || a.read.is_some();
        if !has_news && !full {
            continue;
        }
        let (ack_code, ack_message) = match &a.ack {
            Some(o) => (o.code, o.message.clone()),
            None => (kafka_error::NONE, None),
        };
        let mut pd = PartitionData::default()
            .with_partition_index(partition)
            .with_error_code(a.error)
            .with_acknowledge_error_code(ack_code)
            .with_acknowledge_error_message(ack_message.map(StrBytes::from_string))
            .with_current_leader(
                LeaderIdAndEpoch::default()
                    .with_leader_id(if a.error == kafka_error::NONE {
                        a.leader.0
                    } else {
                        -1
                    })
                    .with_leader_epoch(if a.error == kafka_error::NONE {
                        a.leader.1
                    } else {
                        -1
                    }),
            )
            .with_records(Some(Bytes::new()));
        if let Some(read) = a.read {
            records_out += read
                .acquired
                .iter()
                .map(|r| (r.last - r.first + 1) as u64)
                .sum::<u64>();
            pd.acquired_records = read
                .acquired
                .iter()
                .map(|r| {
                    AcquiredRecords::default()
                        .with_first_offset(r.first)
                        .with_last_offset(r.last)
                        .with_delivery_count(r.delivery_count)
                })
                .collect();
            if !read.records.is_empty() {
                pd.records = Some(records_placeholder());
                files.push(read.records);
            }
        }
        match topics.last_mut() {
            Some(t) if t.topic_id == topic_id => t.partitions.push(pd),
            _ => topics.push(
                ShareFetchableTopicResponse::default()
                    .with_topic_id(topic_id)
                    .with_partitions(vec![pd]),
            ),
        }
    }
    broker.metrics.records_out.inc_by(records_out);
    ShareFetchReply {
        response: ShareFetchResponse::default()
            .with_acquisition_lock_timeout_ms(
                i32::try_from(settings.limits.lock_duration_ms).unwrap_or(i32::MAX),
            )
            .with_responses(topics),
        files,
    }
}
