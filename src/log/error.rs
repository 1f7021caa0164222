//! `LogError`: the one error type of the partition log engine, and its single mapping to Kafka
//! error codes (`kafka_code`, numbers from the broker's table in `kafka_error`). Handlers put the
//! code into the per-partition response; nothing in this module knows about the wire.
//!
//! Compiled standalone by the fuzz crate (`protocol-tests/fuzz`) with `batch.rs` and
//! `kafka_error.rs`: no imports of other Runnel modules (`scripts/fuzz` fails on one).

use std::io;

use crate::kafka_error::KafkaError;

/// Every failure the log engine can report. Messages are meant for operators and logs; the
/// protocol layer only needs [`LogError::kafka_code`].
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The batch bytes are damaged: truncated, bad CRC, impossible lengths (CORRUPT_MESSAGE).
    #[error("corrupt record batch: {0}")]
    CorruptMessage(String),
    /// A fetch, ListOffsets or DeleteRecords offset outside the log (OFFSET_OUT_OF_RANGE).
    #[error("offset {requested} outside [{start}, {end}]")]
    OffsetOutOfRange {
        /// The offset the client asked for.
        requested: i64,
        /// Log start offset at the time of the request.
        start: i64,
        /// Upper bound (high watermark) at the time of the request.
        end: i64,
    },
    /// The batch is bigger than `max.message.bytes` (MESSAGE_TOO_LARGE).
    #[error("record batch of {size} bytes exceeds max.message.bytes {max}")]
    MessageTooLarge {
        /// Size of the batch in bytes.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// Well-formed bytes that break a rule: wrong magic, two batches, control batch, base offset
    /// not 0, missing key on a compacted topic (INVALID_RECORD).
    #[error("invalid record batch: {0}")]
    InvalidRecord(String),
    /// A timestamp outside `message.timestamp.before/after.max.ms` (INVALID_TIMESTAMP).
    #[error("timestamp {timestamp} is outside the allowed range around broker time {now}")]
    InvalidTimestamp {
        /// The offending timestamp.
        timestamp: i64,
        /// Broker time used for the check.
        now: i64,
    },
    /// Compression codec not allowed for this request, e.g. zstd below Produce v7
    /// (UNSUPPORTED_COMPRESSION_TYPE).
    #[error("unsupported compression codec {0}")]
    UnsupportedCompression(u8),
    /// Idempotent producer sent a sequence that does not follow the last one
    /// (OUT_OF_ORDER_SEQUENCE_NUMBER).
    #[error("out of order sequence for producer {producer_id}: expected {expected}, got {got}")]
    OutOfOrderSequence {
        /// Producer id.
        producer_id: i64,
        /// The sequence the log expected next (-1 if the epoch changed and 0 was required).
        expected: i32,
        /// The first sequence of the batch.
        got: i32,
    },
    /// Kept for the code table; duplicates of the last 5 batches are answered with
    /// `AppendOutcome::Duplicate` instead (DUPLICATE_SEQUENCE_NUMBER).
    #[error("duplicate sequence {seq} for producer {producer_id}")]
    DuplicateSequence {
        /// Producer id.
        producer_id: i64,
        /// The duplicated first sequence.
        seq: i32,
    },
    /// The producer epoch is older than the one the log knows (INVALID_PRODUCER_EPOCH).
    #[error("producer {producer_id} epoch {got} is older than current epoch {current}")]
    InvalidProducerEpoch {
        /// Producer id.
        producer_id: i64,
        /// Epoch currently recorded for the producer.
        current: i16,
        /// Epoch in the batch.
        got: i16,
    },
    /// A transaction marker from a coordinator older than the last one that wrote a marker for
    /// this producer (TRANSACTION_COORDINATOR_FENCED).
    #[error("producer {producer_id}: coordinator epoch {got} is older than {current}")]
    CoordinatorFenced {
        /// Producer id.
        producer_id: i64,
        /// Coordinator epoch of the producer's last marker.
        current: i32,
        /// Coordinator epoch of the refused marker.
        got: i32,
    },
    /// A batch the producer's transaction state does not allow, e.g. a non-transactional batch
    /// while its transaction is open (INVALID_TXN_STATE).
    #[error("invalid transaction state: {0}")]
    InvalidTxnState(String),
    /// Kept for the code table; the log accepts unknown producers like Kafka (UNKNOWN_PRODUCER_ID).
    #[error("unknown producer id {0}")]
    UnknownProducerId(i64),
    /// A request argument that can never be valid (INVALID_REQUEST).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// A disk read/write/fsync failed, or the partition is offline after an earlier failure
    /// (KAFKA_STORAGE_ERROR). The partition stays failed until it is reopened.
    #[error("storage error: {0}")]
    Storage(String),
    /// The partition was closed (broker shutting down) (NOT_LEADER_OR_FOLLOWER, so clients retry).
    #[error("partition log is closed")]
    Closed,
    /// The partition's topic was deleted (UNKNOWN_TOPIC_OR_PARTITION).
    #[error("partition log was deleted")]
    Deleted,
}

impl LogError {
    /// The Kafka protocol error code for this error.
    pub fn kafka_code(&self) -> i16 {
        match self {
            LogError::CorruptMessage(_) => KafkaError::CorruptMessage,
            LogError::OffsetOutOfRange { .. } => KafkaError::OffsetOutOfRange,
            LogError::MessageTooLarge { .. } => KafkaError::MessageTooLarge,
            LogError::InvalidRecord(_) => KafkaError::InvalidRecord,
            LogError::InvalidTimestamp { .. } => KafkaError::InvalidTimestamp,
            LogError::UnsupportedCompression(_) => KafkaError::UnsupportedCompressionType,
            LogError::OutOfOrderSequence { .. } => KafkaError::OutOfOrderSequenceNumber,
            LogError::DuplicateSequence { .. } => KafkaError::DuplicateSequenceNumber,
            LogError::InvalidProducerEpoch { .. } => KafkaError::InvalidProducerEpoch,
            LogError::CoordinatorFenced { .. } => KafkaError::TransactionCoordinatorFenced,
            LogError::InvalidTxnState(_) => KafkaError::InvalidTxnState,
            LogError::UnknownProducerId(_) => KafkaError::UnknownProducerId,
            LogError::InvalidRequest(_) => KafkaError::InvalidRequest,
            LogError::Storage(_) => KafkaError::KafkaStorageError,
            LogError::Closed => KafkaError::NotLeaderOrFollower,
            LogError::Deleted => KafkaError::UnknownTopicOrPartition,
        }
        .code()
    }

    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl std::fmt::Display, err: io::Error) -> Self {
        LogError::Storage(format!("{context}: {err}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_match_kafka() {
        assert_eq!(LogError::CorruptMessage("x".into()).kafka_code(), 2);
        assert_eq!(
            LogError::OffsetOutOfRange {
                requested: 1,
                start: 2,
                end: 3
            }
            .kafka_code(),
            1
        );
        assert_eq!(
            LogError::MessageTooLarge { size: 1, max: 0 }.kafka_code(),
            10
        );
        assert_eq!(LogError::InvalidRecord("x".into()).kafka_code(), 87);
        assert_eq!(LogError::Storage("x".into()).kafka_code(), 56);
        assert_eq!(
            LogError::OutOfOrderSequence {
                producer_id: 1,
                expected: 1,
                got: 3
            }
            .kafka_code(),
            45
        );
        assert_eq!(
            LogError::DuplicateSequence {
                producer_id: 1,
                seq: 0
            }
            .kafka_code(),
            46
        );
        assert_eq!(
            LogError::InvalidProducerEpoch {
                producer_id: 1,
                current: 2,
                got: 1
            }
            .kafka_code(),
            47
        );
        assert_eq!(LogError::UnknownProducerId(1).kafka_code(), 59);
        assert_eq!(
            LogError::InvalidTimestamp {
                timestamp: 0,
                now: 0
            }
            .kafka_code(),
            32
        );
        assert_eq!(LogError::UnsupportedCompression(4).kafka_code(), 76);
        assert_eq!(LogError::InvalidRequest("x".into()).kafka_code(), 42);
        let msg = LogError::OffsetOutOfRange {
            requested: 9,
            start: 0,
            end: 5,
        }
        .to_string();
        assert_eq!(msg, "offset 9 outside [0, 5]");
    }
}
