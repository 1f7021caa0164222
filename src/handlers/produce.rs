//! Produce (key 0): append client record batches to partition logs.
//!
//! One batch per partition is validated as Kafka's LogValidator does (size, magic, CRC,
//! counts — PROTOCOL.md §6 — then every record's framing, compressed batches through a bounded
//! streaming decoder) and stored verbatim; the log engine patches the base offset and leader
//! epoch in place. The record walk allocates nothing per record and runs inline while a
//! compressed batch inflates to at most [`INLINE_INFLATE`] bytes; a batch that inflates more is
//! validated again on a blocking thread, so large decompression never stalls the async workers.
//! Only a topic whose `compression.type` names a codec has batches in another codec
//! recompressed (`protocol::recompress`). Errors are per partition. The partition layer
//! (`replica`) resolves each partition (leader only) and owns the ack policy. acks=0 gets no
//! response (a failed acks=0 write closes the connection, as in Kafka).
//! A partition led elsewhere answers NOT_LEADER_OR_FOLLOWER with KIP-951's hint (v10+): the
//! current leader and epoch, and the leader's endpoint in `node_endpoints`.
//! Transactional batches are appended only to partitions of the producer's open
//! transaction ([`check_transactional`]) when this broker coordinates the transactional id.
//! In a cluster the coordinator is often another broker: then the batch is appended without
//! that check, as Kafka did before KIP-890 (AddPartitionsToTxn v4 verification between
//! brokers is not built); the producer's epoch is still fenced by the partition's producer
//! state, and the coordinator's markers close the transaction.
//! v0–2 never arrive here (the codec refuses them); v13+ (topic ids) is not advertised.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{
    LeaderIdAndEpoch, NodeEndpoint, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{BrokerId, ProduceRequest, ProduceResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::blocking;
use super::{Reply, RequestContext};
use crate::broker::{now_ms, Broker};
use crate::kafka_error::{self, KafkaError};
use crate::log::{
    validate_produce_batch, validate_produce_batch_inline, AppendOutcome, BatchHeader,
    InlineValidation, LogError, TopicCompression,
};
use crate::protocol::recompress::recompress;
use crate::replica::{LeaderPartition, PartitionError};

/// Decompressed bytes a Produce batch may inflate to while validated on the async worker
/// (about 100 µs of zstd or lz4); beyond it the walk moves to a blocking thread.
pub const INLINE_INFLATE: usize = 256 << 10;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ProduceRequest) -> Reply {
    let acks = req.acks;
    let ack_timeout = Duration::from_millis(req.timeout_ms.max(0) as u64);
    let allow_zstd = ctx.api_version >= 7;
    let now = now_ms();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    let mut to_flush = Vec::new();
    // Leaders named in NOT_LEADER_OR_FOLLOWER answers, whose endpoints go in the response.
    let mut hinted: Vec<i32> = Vec::new();
    // A transactional produce holds its transactional id until its batches are appended, so
    // the transaction cannot end (and its markers be written) between check and append.
    let txn_id = req.transactional_id.as_ref().filter(|t| !t.is_empty());
    // Kafka: transactional records need WRITE on the transactional id, else every partition
    // fails; idempotent producers were authorized by InitProducerId.
    let txn_denied =
        txn_id.is_some_and(|id| !authz::transactional_id(broker, ctx, Op::Write, id.as_str()));
    let txn_permit = match txn_id.filter(|_| !txn_denied) {
        None => None,
        Some(id) => Some(match &broker.txns {
            None => Err(KafkaError::TransactionalIdAuthorizationFailed),
            Some(t) => match t.lock_for_append(id.as_str()).await {
                Ok(p) => Ok(Some(p)),
                // Another broker coordinates the id (module header).
                Err(KafkaError::NotCoordinator) if broker.txn_topic.is_some() => Ok(None),
                Err(e) => Err(e),
            },
        }),
    };
    for topic in req.topic_data {
        let meta = broker.metadata.topic(topic.name.as_str());
        let topic_denied = !authz::topic(broker, ctx, Op::Write, topic.name.as_str());
        let mut parts = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let mut resp = PartitionProduceResponse::default()
                .with_index(p.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let outcome = if !matches!(acks, -1..=1) {
                Err(KafkaError::InvalidRequiredAcks.code())
            } else if txn_denied {
                Err(KafkaError::TransactionalIdAuthorizationFailed.code())
            } else if topic_denied {
                Err(KafkaError::TopicAuthorizationFailed.code())
            } else if let Err(code) = check_transactional(
                txn_permit.as_ref(),
                p.records.as_deref(),
                topic.name.as_str(),
                p.index,
                ctx.api_version,
            ) {
                Err(code)
            } else {
                match broker.replicas.leader(topic.name.as_str(), p.index, -1) {
                    Err(PartitionError::NotLeader {
                        leader,
                        leader_epoch,
                    }) => {
                        // KIP-951: tell the client where the partition went (v10+).
                        if ctx.api_version >= 10 {
                            resp.current_leader = LeaderIdAndEpoch::default()
                                .with_leader_id(BrokerId(leader))
                                .with_leader_epoch(leader_epoch);
                            if leader >= 0 && !hinted.contains(&leader) {
                                hinted.push(leader);
                            }
                        }
                        Err(KafkaError::NotLeaderOrFollower.code())
                    }
                    Err(e) => Err(e.kafka_code()),
                    Ok(part) => match broker.replicas.check_min_insync(&part, acks) {
                        Err(e) => {
                            resp.error_message = Some(StrBytes::from_string(e.to_string()));
                            Err(e.kafka_code())
                        }
                        Ok(()) => append(
                            broker,
                            topic.name.as_str(),
                            part,
                            p.records,
                            allow_zstd,
                            now,
                        )
                        .await
                        .map_err(|e| {
                            let code = e.kafka_code();
                            if broker.replicas.sequence_verdict_in_doubt(code) {
                                resp.error_message = Some(StrBytes::from_static_str(
                                    "this broker may no longer lead the partition: the controller quorum has not heard from it",
                                ));
                                return KafkaError::NotLeaderOrFollower.code();
                            }
                            resp.error_message = Some(StrBytes::from_string(e.to_string()));
                            code
                        }),
                    },
                }
            };
            match outcome {
                Ok((out, part)) => {
                    let (base, last, start, append_time) = match out {
                        AppendOutcome::Appended {
                            base_offset,
                            last_offset,
                            log_append_time,
                            log_start_offset,
                        } => (base_offset, last_offset, log_start_offset, log_append_time),
                        AppendOutcome::Duplicate {
                            base_offset,
                            last_offset,
                            log_start_offset,
                        } => (base_offset, last_offset, log_start_offset, -1),
                    };
                    resp.base_offset = base;
                    resp.log_start_offset = start;
                    resp.log_append_time_ms = append_time;
                    if acks != 0 {
                        to_flush.push((parts.len(), responses.len(), part, last + 1));
                    }
                }
                Err(code) => {
                    if code != KafkaError::UnknownTopicOrPartition.code()
                        && code != KafkaError::NotLeaderOrFollower.code()
                    {
                        tracing::warn!(
                            topic = topic.name.as_str(),
                            partition = p.index,
                            code,
                            error = kafka_error::name(code),
                            reason = resp
                                .error_message
                                .as_ref()
                                .map(|m| m.as_str())
                                .unwrap_or(""),
                            "produce rejected"
                        );
                    }
                    resp.error_code = code;
                }
            }
            if meta.is_some() {
                broker
                    .metrics
                    .topics
                    .produce(topic.name.as_str(), resp.error_code);
            }
            parts.push(resp);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(parts),
        );
    }
    drop(txn_permit);
    // Acknowledge under the ack policy (an fsync where the flush policy asks for one;
    // concurrent producers share it; acks=all waits for the in-sync replicas, all partitions
    // within one request timeout).
    let deadline = tokio::time::Instant::now() + ack_timeout;
    for (pi, ti, part, end) in to_flush {
        if let Err(e) = broker.replicas.await_ack(&part, acks, end, deadline).await {
            if let Some(r) = responses
                .get_mut(ti)
                .and_then(|t| t.partition_responses.get_mut(pi))
            {
                r.error_code = e.kafka_code();
                r.error_message = Some(StrBytes::from_string(e.to_string()));
            }
            if let Some(t) = responses.get(ti) {
                // Counted once as a request already; this adds the failure.
                broker
                    .metrics
                    .topics
                    .produce_failed(t.name.as_str(), e.kafka_code());
            }
        }
    }
    if acks == 0 {
        // No response exists to carry an error: close the connection instead, so the
        // producer notices, refreshes metadata and reconnects.
        let failed = responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.error_code != kafka_error::NONE);
        return match failed {
            Some(p) => Reply::Close(format!(
                "acks=0 produce failed with error {} ({}) on partition {}",
                p.error_code,
                kafka_error::name(p.error_code),
                p.index
            )),
            None => Reply::Silent,
        };
    }
    Reply::Respond(Box::new(ResponseKind::Produce(
        ProduceResponse::default()
            .with_responses(responses)
            .with_node_endpoints(node_endpoints(broker, &hinted)),
    )))
}

/// The transactional rules of one partition's batch: a transactional batch needs the
/// request's transactional id, and its partition must be in that id's open transaction
/// (AddPartitionsToTxn first, KIP-890 part 1), at the producer's current epoch; a request
/// with a transactional id carries only transactional batches. Errors as Kafka's Produce
/// reports them: a fenced or unknown producer is INVALID_PRODUCER_EPOCH (abortable, never
/// the fatal PRODUCER_FENCED), a transaction being completed NOT_ENOUGH_REPLICAS (retriable),
/// a partition not in the transaction INVALID_TXN_STATE (TRANSACTION_ABORTABLE from v11). A
/// batch whose header does not parse is left to the batch validator.
fn check_transactional(
    permit: Option<&Result<Option<crate::txn::AppendPermit>, KafkaError>>,
    records: Option<&[u8]>,
    topic: &str,
    partition: i32,
    version: i16,
) -> Result<(), i16> {
    let Some(header) = records.and_then(|r| BatchHeader::parse(r).ok()) else {
        return Ok(());
    };
    let verdict = match permit {
        None if header.is_transactional() => Err(KafkaError::InvalidRecord),
        None => return Ok(()),
        Some(_) if !header.is_transactional() => Err(KafkaError::InvalidRecord),
        Some(Err(e)) => Err(*e),
        Some(Ok(None)) => return Ok(()),
        Some(Ok(Some(p))) => p.verify(header.producer_id, header.producer_epoch, topic, partition),
    };
    verdict.map_err(|e| {
        match e {
            KafkaError::ProducerFenced
            | KafkaError::InvalidProducerIdMapping
            | KafkaError::InvalidProducerEpoch => KafkaError::InvalidProducerEpoch,
            KafkaError::ConcurrentTransactions | KafkaError::CoordinatorLoadInProgress => {
                KafkaError::NotEnoughReplicas
            }
            KafkaError::InvalidTxnState if version >= 11 => KafkaError::TransactionAbortable,
            e => e,
        }
        .code()
    })
}

/// KIP-951's endpoints of the leaders named in `current_leader` hints.
fn node_endpoints(broker: &Broker, leaders: &[i32]) -> Vec<NodeEndpoint> {
    if leaders.is_empty() {
        return Vec::new();
    }
    broker
        .live_brokers()
        .into_iter()
        .filter(|n| leaders.contains(&n.node_id))
        .map(|n| {
            NodeEndpoint::default()
                .with_node_id(BrokerId(n.node_id))
                .with_host(StrBytes::from_string(n.host))
                .with_port(n.port)
                .with_rack(n.rack.map(StrBytes::from_string))
        })
        .collect()
}

async fn append(
    broker: &Broker,
    topic: &str,
    leader: LeaderPartition,
    records: Option<Bytes>,
    allow_zstd: bool,
    now: i64,
) -> Result<(AppendOutcome, LeaderPartition), LogError> {
    let part = &leader.log;
    let records = records.unwrap_or_default();
    let cfg = part.config();
    let header = match validate_produce_batch_inline(&records, &cfg, allow_zstd, INLINE_INFLATE)? {
        InlineValidation::Valid(h) => h,
        InlineValidation::Deferred => {
            let batch = records.clone();
            blocking(move || validate_produce_batch(&batch, &cfg, allow_zstd)).await?
        }
    };
    // A topic with its own codec gets batches in that codec (Kafka's LogValidator); the
    // default `producer` keeps the verbatim path.
    let records = if cfg.compression == TopicCompression::Producer {
        records
    } else {
        // Kafka refuses to store zstd for a producer that cannot read it (Produce < 7).
        if matches!(cfg.compression, TopicCompression::Zstd(_)) && !allow_zstd {
            return Err(LogError::UnsupportedCompression(4));
        }
        match recompress(&records, cfg.compression)? {
            Some(b) => Bytes::from(b),
            None => records,
        }
    };
    let out = part.append(&records, leader.leader_epoch, now)?;
    broker.replicas.appended(&leader);
    if matches!(out, AppendOutcome::Appended { .. }) {
        let records_count = header.records_count.max(0) as u64;
        broker.metrics.records_in.inc_by(records_count);
        broker
            .metrics
            .topics
            .appended(topic, records.len() as u64, records_count);
    }
    Ok((out, leader))
}
