//! ListOffsets (key 2): offsets by special timestamp or by time.
//!
//! -1 latest (high watermark; also the last stable offset for read_committed, as there
//! are no transactions), -2 earliest (log start offset), -3 the record with the largest
//! timestamp (v7+), -4 earliest local (v8+, = earliest: all data is local), -5 earliest
//! pending tiered upload (v9+, none: offset -1). A timestamp ≥ 0 finds the first offset
//! whose timestamp is at or after it through the time index; none gives offset -1.

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};
use kafka_protocol::records::TimestampType;

use super::{codes, RequestContext};
use crate::broker::Broker;
use crate::log::PartitionLog;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const EARLIEST_PENDING_UPLOAD: i64 = -5;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ListOffsetsRequest,
) -> ListOffsetsResponse {
    let v = ctx.api_version;
    let mut topics = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let meta = broker.metadata.topic(t.name.as_str());
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let mut r = ListOffsetsPartitionResponse::default()
                .with_partition_index(p.partition_index)
                .with_timestamp(-1)
                .with_offset(-1)
                .with_leader_epoch(-1);
            let info = meta.as_ref().and_then(|m| m.partition(p.partition_index));
            let log = info.and_then(|_| broker.logs.get(t.name.as_str(), p.partition_index));
            let (Some(info), Some(log)) = (info, log) else {
                r.error_code = codes::UNKNOWN_TOPIC_OR_PARTITION;
                parts.push(r);
                continue;
            };
            if v >= 4 && p.current_leader_epoch >= 0 && p.current_leader_epoch != info.leader_epoch
            {
                r.error_code = if p.current_leader_epoch > info.leader_epoch {
                    codes::UNKNOWN_LEADER_EPOCH
                } else {
                    codes::FENCED_LEADER_EPOCH
                };
                parts.push(r);
                continue;
            }
            let found = match p.timestamp {
                LATEST => Ok(Some((log.high_watermark(), -1))),
                EARLIEST | EARLIEST_LOCAL => Ok(Some((log.log_start_offset(), -1))),
                MAX_TIMESTAMP if v >= 7 => log
                    .max_timestamp()
                    .map(|f| f.map(|found| exact_record(&log, found, |ts| ts >= found.1))),
                EARLIEST_PENDING_UPLOAD if v >= 9 => Ok(None),
                ts if ts >= 0 => log
                    .offset_for_timestamp(ts)
                    .map(|f| f.map(|found| exact_record(&log, found, |t| t >= ts))),
                _ => {
                    r.error_code = codes::INVALID_REQUEST;
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
                        r.leader_epoch = info.leader_epoch;
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

/// The log answers timestamp lookups per batch: `(base offset, batch max timestamp)`. Kafka
/// answers with the exact record, so the batch is read and its records decoded (this handles
/// compression, with a size cap; a cold path, one batch) to find the first record whose timestamp matches.
/// LogAppendTime batches carry one timestamp for every record. If the batch cannot be read or
/// decoded, the batch-level answer stands.
fn exact_record(
    log: &PartitionLog,
    (base, batch_ts): (i64, i64),
    matches: impl Fn(i64) -> bool,
) -> (i64, i64) {
    let Ok(read) = log.read(base, 1, true) else {
        return (base, batch_ts);
    };
    let mut bytes = read.records;
    let Ok(set) = crate::protocol::records::decode_batch(&mut bytes) else {
        return (base, batch_ts);
    };
    set.records
        .iter()
        .filter(|r| r.offset >= base && !r.control)
        .map(|r| {
            let ts = if r.timestamp_type == TimestampType::LogAppend {
                batch_ts
            } else {
                r.timestamp
            };
            (r.offset, ts)
        })
        .find(|(_, ts)| matches(*ts))
        .unwrap_or((base, batch_ts))
}
