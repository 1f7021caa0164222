//! Produce (key 0): append client record batches to partition logs.
//!
//! The hot path does header-level work only: one batch per partition is validated
//! (size, magic, CRC, counts — PROTOCOL.md §6) and stored verbatim; the log engine patches
//! the base offset and leader epoch in place. Only a topic whose `compression.type` names a
//! codec has batches in another codec recompressed (`protocol::recompress`). Errors are per partition. acks=0 gets no
//! response (a failed acks=0 write closes the connection, as in Kafka); acks=1 and acks=all are the same on a single replica, and both wait for an
//! fsync only when the topic's flush policy (`flush.messages`) asks for one.
//! v0–2 never arrive here (the codec refuses them); v13+ (topic ids) is not advertised.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, ResponseKind};
use kafka_protocol::protocol::StrBytes;

use super::{codes, Reply, RequestContext};
use crate::broker::{now_ms, Broker};
use crate::log::{validate_produce_batch, AppendOutcome, LogError, TopicCompression};
use crate::protocol::recompress::recompress;

pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: ProduceRequest) -> Reply {
    let acks = req.acks;
    let allow_zstd = ctx.api_version >= 7;
    let now = now_ms();
    let mut responses = Vec::with_capacity(req.topic_data.len());
    let mut to_flush = Vec::new();
    for topic in req.topic_data {
        let meta = broker.metadata.topic(topic.name.as_str());
        let mut parts = Vec::with_capacity(topic.partition_data.len());
        for p in topic.partition_data {
            let mut resp = PartitionProduceResponse::default()
                .with_index(p.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            let outcome = if !matches!(acks, -1..=1) {
                Err(codes::INVALID_REQUIRED_ACKS)
            } else if req.transactional_id.is_some() {
                Err(codes::TRANSACTIONAL_ID_AUTHORIZATION_FAILED)
            } else {
                match meta.as_ref().and_then(|t| t.partition(p.index)) {
                    None => Err(codes::UNKNOWN_TOPIC_OR_PARTITION),
                    Some(info) => append(
                        broker,
                        topic.name.as_str(),
                        p.index,
                        info.leader_epoch,
                        p.records,
                        allow_zstd,
                        now,
                    )
                    .map_err(|e| {
                        resp.error_message = Some(StrBytes::from_string(e.to_string()));
                        e.kafka_code()
                    }),
                }
            };
            match outcome {
                Ok((out, part)) => {
                    let (base, start, append_time) = match out {
                        AppendOutcome::Appended {
                            base_offset,
                            log_append_time,
                            log_start_offset,
                            ..
                        } => (base_offset, log_start_offset, log_append_time),
                        AppendOutcome::Duplicate {
                            base_offset,
                            log_start_offset,
                            ..
                        } => (base_offset, log_start_offset, -1),
                    };
                    resp.base_offset = base;
                    resp.log_start_offset = start;
                    resp.log_append_time_ms = append_time;
                    if acks != 0 {
                        to_flush.push((parts.len(), responses.len(), part));
                    }
                }
                Err(code) => {
                    if code != codes::UNKNOWN_TOPIC_OR_PARTITION {
                        tracing::warn!(
                            topic = topic.name.as_str(),
                            partition = p.index,
                            code,
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
            parts.push(resp);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_partition_responses(parts),
        );
    }
    // Wait for an fsync where the flush policy asks for one; concurrent producers share it.
    for (pi, ti, part) in to_flush {
        if let Err(e) = broker.logs.flush_if_needed(&part).await {
            if let Some(r) = responses
                .get_mut(ti)
                .and_then(|t| t.partition_responses.get_mut(pi))
            {
                r.error_code = e.kafka_code();
                r.error_message = Some(StrBytes::from_string(e.to_string()));
            }
        }
    }
    if acks == 0 {
        // No response exists to carry an error: close the connection instead, so the
        // producer notices, refreshes metadata and reconnects.
        let failed = responses
            .iter()
            .flat_map(|t| t.partition_responses.iter())
            .find(|p| p.error_code != codes::NONE);
        return match failed {
            Some(p) => Reply::Close(format!(
                "acks=0 produce failed with error {} on partition {}",
                p.error_code, p.index
            )),
            None => Reply::Silent,
        };
    }
    Reply::Respond(Box::new(ResponseKind::Produce(
        ProduceResponse::default().with_responses(responses),
    )))
}

#[allow(clippy::too_many_arguments)]
fn append(
    broker: &Broker,
    topic: &str,
    partition: i32,
    leader_epoch: i32,
    records: Option<Bytes>,
    allow_zstd: bool,
    now: i64,
) -> Result<(AppendOutcome, Arc<crate::log::PartitionLog>), LogError> {
    let part = broker.logs.get(topic, partition).ok_or(LogError::Deleted)?;
    let records = records.unwrap_or_default();
    let cfg = part.config();
    let header = validate_produce_batch(&records, &cfg, allow_zstd)?;
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
    let out = part.append(&records, leader_epoch, now)?;
    if matches!(out, AppendOutcome::Appended { .. }) {
        broker
            .metrics
            .records_in
            .inc_by(header.records_count.max(0) as u64);
    }
    Ok((out, part))
}
