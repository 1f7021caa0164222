//! DeleteRecords (key 21, v0–2): advance partitions' log start offsets.
//!
//! Per partition, as Kafka's `Partition.deleteRecordsOnLeader`: offset -1 means the high
//! watermark; any other negative offset, or one past the high watermark, is
//! OFFSET_OUT_OF_RANGE. An offset at or below the current log start changes nothing. The
//! result's `low_watermark` is the log start offset afterwards, or -1 on error. Unknown
//! topics or partitions answer UNKNOWN_TOPIC_OR_PARTITION. The log engine does the work
//! (whole segments below the new start are removed, reads below it fail); it runs off the
//! async workers because it touches files. With one replica there is nothing to wait for,
//! so `timeout_ms` is not needed.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::{self, KafkaError};

/// DeleteRecordsRequest.HIGH_WATERMARK: delete everything below the high watermark.
const HIGH_WATERMARK: i64 = -1;
/// The low watermark reported with an error.
const INVALID_LOW_WATERMARK: i64 = -1;

/// The offset the log start moves to, or the error code for an out-of-range request.
fn target_offset(requested: i64, high_watermark: i64) -> Result<i64, i16> {
    let offset = if requested == HIGH_WATERMARK {
        high_watermark
    } else {
        requested
    };
    if offset < 0 || offset > high_watermark {
        Err(KafkaError::OffsetOutOfRange.code())
    } else {
        Ok(offset)
    }
}

fn partition_result(index: i32, outcome: Result<i64, i16>) -> DeleteRecordsPartitionResult {
    let (low_watermark, error_code) = match outcome {
        Ok(start) => (start, kafka_error::NONE),
        Err(code) => (INVALID_LOW_WATERMARK, code),
    };
    DeleteRecordsPartitionResult::default()
        .with_partition_index(index)
        .with_low_watermark(low_watermark)
        .with_error_code(error_code)
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    // Kafka: DELETE on the topic, else TOPIC_AUTHORIZATION_FAILED on its partitions.
    let denied: Vec<bool> = req
        .topics
        .iter()
        .map(|t| !authz::topic(broker, ctx, Op::Delete, t.name.as_str()))
        .collect();
    let broker = broker.clone();
    let topics = blocking(move || {
        req.topics
            .into_iter()
            .zip(denied)
            .map(|(t, denied)| {
                let name = t.name.as_str();
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let outcome = match broker.replicas.leader(name, p.partition_index, -1) {
                            _ if denied => Err(KafkaError::TopicAuthorizationFailed.code()),
                            Err(e) => Err(e.kafka_code()),
                            Ok(part) => target_offset(p.offset, part.log.high_watermark())
                                .and_then(|offset| {
                                    part.log.delete_records_before(offset).map_err(|e| {
                                        tracing::debug!(topic = name, partition = p.partition_index, error = %e, "delete records refused");
                                        e.kafka_code()
                                    })
                                }),
                        };
                        partition_result(p.partition_index, outcome)
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect::<Vec<_>>()
    })
    .await;
    DeleteRecordsResponse::default().with_topics(topics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_resolve_like_kafka() {
        assert_eq!(target_offset(-1, 10), Ok(10));
        assert_eq!(target_offset(0, 10), Ok(0));
        assert_eq!(target_offset(10, 10), Ok(10));
        assert_eq!(
            target_offset(11, 10),
            Err(KafkaError::OffsetOutOfRange.code())
        );
        assert_eq!(
            target_offset(-2, 10),
            Err(KafkaError::OffsetOutOfRange.code())
        );
        assert_eq!(
            target_offset(i64::MIN, 10),
            Err(KafkaError::OffsetOutOfRange.code())
        );
        assert_eq!(target_offset(-1, 0), Ok(0));
    }

    #[test]
    fn errors_report_minus_one() {
        let r = partition_result(3, Err(KafkaError::UnknownTopicOrPartition.code()));
        assert_eq!(
            (r.partition_index, r.low_watermark, r.error_code),
            (3, -1, 3)
        );
        let r = partition_result(0, Ok(42));
        assert_eq!((r.low_watermark, r.error_code), (42, 0));
    }
}
