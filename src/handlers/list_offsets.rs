//! ListOffsets (key 2): offsets by special timestamp or by time.
//!
//! -1 latest (high watermark; the last stable offset for read_committed, v2+), -2 earliest (log start offset), -3 the record with the largest
//! timestamp (v7+), -4 earliest local (v8+, = earliest: all data is local), -5 earliest
//! pending tiered upload (v9+, none: offset -1). A timestamp ≥ 0 finds the first offset
//! whose timestamp is at or after it through the time index; none gives offset -1. A cluster
//! leader whose high watermark is still below the start of its leader epoch answers
//! OFFSET_NOT_AVAILABLE for all but earliest (Kafka's KIP-207 rule: offsets never go back).
//!
//! Timestamp lookups (≥ 0 and -3) answer the exact record, as Kafka does: the log finds the
//! batch through its time index, then walks that one batch's records as a stream and stops
//! at the first match (`PartitionLog::offset_for_timestamp_exact`). The walk reads a file and
//! may decompress, so it runs on a blocking thread, and one request may inflate at most
//! [`REQUEST_INFLATE_BUDGET`] bytes in all; past that, entries get the batch-level answer
//! (the batch's first offset at or after the log start, never later than the exact record).

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::log::records::MAX_INFLATED;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const EARLIEST_PENDING_UPLOAD: i64 = -5;

/// Decompressed (or, uncompressed, walked) bytes one ListOffsets request may spend on exact
/// timestamp lookups: one maximal batch's worth.
pub const REQUEST_INFLATE_BUDGET: usize = MAX_INFLATED;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let v = ctx.api_version;
    let mut budget = REQUEST_INFLATE_BUDGET;
    let mut topics = Vec::with_capacity(req.topics.len());
    // v0-1 have no isolation level: the field decodes as 0, read_uncommitted.
    let read_committed = req.isolation_level == 1;
    for t in req.topics {
        let denied = !authz::topic(broker, ctx, Op::Describe, t.name.as_str());
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let mut r = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(-1);
            if denied {
                r.error_code = KafkaError::TopicAuthorizationFailed.code();
                parts.push(r);
                continue;
            }
            let current_epoch = if v >= 4 { p.current_leader_epoch } else { -1 };
            let (log, leader_epoch, epoch_start) =
                match broker
                    .replicas
                    .leader(t.name.as_str(), p.partition_index, current_epoch)
                {
                    Ok(part) => (
                        part.log,
                        part.leader_epoch,
                        part.replication.map_or(-1, |s| s.epoch_start_offset),
                    ),
                    Err(e) => {
                        r.error_code = e.kafka_code();
                        parts.push(r);
                        continue;
                    }
                };
            // A new leader whose high watermark has not reached the start of its epoch yet
            // (KIP-207): offsets it would answer could go backwards, so the client retries.
            let stale = epoch_start > log.high_watermark();
            if stale && matches!(p.timestamp, LATEST | MAX_TIMESTAMP | 0..) {
                r.error_code = KafkaError::OffsetNotAvailable.code();
                parts.push(r);
                continue;
            }
            let found = match p.timestamp {
                LATEST if read_committed => Ok(Some((log.last_stable_offset(), -1))),
                LATEST => Ok(Some((log.high_watermark(), -1))),
                EARLIEST | EARLIEST_LOCAL => Ok(Some((log.log_start_offset(), -1))),
                EARLIEST_PENDING_UPLOAD if v >= 9 => Ok(None),
                ts if ts >= 0 || (ts == MAX_TIMESTAMP && v >= 7) => {
                    let b = budget;
                    let (found, left) = blocking(move || {
                        let mut b = b;
                        let found = if ts == MAX_TIMESTAMP {
                            log.max_timestamp_exact(&mut b)
                        } else {
                            log.offset_for_timestamp_exact(ts, &mut b)
                        };
                        (found, b)
                    })
                    .await;
                    budget = left;
                    found
                }
                _ => {
                    r.error_code = KafkaError::InvalidRequest.code();
                    parts.push(r);
                    continue;
                }
            };
            match found {
                Ok(Some((offset, ts))) => {
                    r.offset = offset;
                    r.timestamp = ts;
                    // Not-ignorable field: only v4+ may carry it.
                    if v >= 4 {
                        r.leader_epoch = leader_epoch;
                    }
                }
                Ok(None) => {}
                Err(e) => r.error_code = e.kafka_code(),
            }
            parts.push(r);
        }
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(t.name)
                .with_partitions(parts),
        );
    }
    ListOffsetsResponse::default().with_topics(topics)
}
