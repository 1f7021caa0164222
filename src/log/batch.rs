//! The magic-2 record batch header, produce-time validation, and the in-place patches the broker
//! makes when it appends a client batch. Batches are stored verbatim; only the fields marked
//! "broker" below are rewritten, and the CRC only when LogAppendTime changes covered bytes.
//!
//! ```text
//! offset size field                  notes
//!  0     8    BaseOffset int64        broker writes it (outside the CRC)
//!  8     4    Length int32            bytes after this field: batch size = Length + 12
//! 12     4    PartitionLeaderEpoch    broker writes it (outside the CRC)
//! 16     1    Magic int8 = 2
//! 17     4    CRC uint32              CRC-32C (Castagnoli) of bytes 21..end
//! 21     2    Attributes int16        bits 0-2 codec (0 none 1 gzip 2 snappy 3 lz4 4 zstd),
//!                                     bit 3 LogAppendTime, bit 4 transactional, bit 5 control
//! 23     4    LastOffsetDelta int32
//! 27     8    BaseTimestamp int64
//! 35     8    MaxTimestamp int64      broker writes it for LogAppendTime
//! 43     8    ProducerId int64
//! 51     2    ProducerEpoch int16
//! 53     4    BaseSequence int32
//! 57     4    RecordsCount int32
//! 61     ...  Records
//! ```
//! All integers are big-endian. Records are varint-framed (zigzag); their one parser is
//! `records.rs`, which [`validate_produce_batch`] calls to walk every record of every batch
//! (compressed ones through a bounded streaming decoder), as Kafka's LogValidator does.
//!
//! Compiled standalone by the fuzz crate (`protocol-tests/fuzz`, targets `batch_validate` and
//! `batch_read`) together with `records.rs`, `error.rs` and `config.rs` only: it may import
//! those siblings and external crates, nothing else of Runnel (`scripts/fuzz` fails on it).

use super::config::LogConfig;
use super::error::LogError;
use super::records::{self, WalkError};

/// Byte offset of BaseOffset.
pub const BASE_OFFSET_OFFSET: usize = 0;
/// Byte offset of Length.
pub const LENGTH_OFFSET: usize = 8;
/// Byte offset of PartitionLeaderEpoch.
pub const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Byte offset of Magic.
pub const MAGIC_OFFSET: usize = 16;
/// Byte offset of CRC.
pub const CRC_OFFSET: usize = 17;
/// Byte offset of Attributes; the CRC covers from here to the end.
pub const ATTRIBUTES_OFFSET: usize = 21;
/// Byte offset of LastOffsetDelta.
pub const LAST_OFFSET_DELTA_OFFSET: usize = 23;
/// Byte offset of BaseTimestamp.
pub const BASE_TIMESTAMP_OFFSET: usize = 27;
/// Byte offset of MaxTimestamp.
pub const MAX_TIMESTAMP_OFFSET: usize = 35;
/// Byte offset of ProducerId.
pub const PRODUCER_ID_OFFSET: usize = 43;
/// Byte offset of ProducerEpoch.
pub const PRODUCER_EPOCH_OFFSET: usize = 51;
/// Byte offset of BaseSequence.
pub const BASE_SEQUENCE_OFFSET: usize = 53;
/// Byte offset of RecordsCount.
pub const RECORDS_COUNT_OFFSET: usize = 57;
/// Size of the batch header; records start here.
pub const HEADER_SIZE: usize = 61;
/// Bytes before the Length field's coverage starts (BaseOffset + Length).
pub const LOG_OVERHEAD: usize = 12;
/// The only supported magic.
pub const MAGIC_V2: i8 = 2;

/// Attribute bits 0-2: compression codec.
pub const ATTR_COMPRESSION_MASK: i16 = 0x07;
/// Attribute bit 3: timestamps are LogAppendTime.
pub const ATTR_LOG_APPEND_TIME: i16 = 0x08;
/// Attribute bit 4: transactional batch.
pub const ATTR_TRANSACTIONAL: i16 = 0x10;
/// Attribute bit 5: control batch (transaction marker).
pub const ATTR_CONTROL: i16 = 0x20;

/// Compression codec of a batch (attribute bits 0-2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Compression {
    /// 0
    None,
    /// 1
    Gzip,
    /// 2
    Snappy,
    /// 3
    Lz4,
    /// 4
    Zstd,
    /// 5-7: not defined by Kafka.
    Unknown(u8),
}

/// Timestamp type of a batch (attribute bit 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BatchTimestampType {
    /// Producer timestamps.
    CreateTime,
    /// Broker append time, stored in MaxTimestamp.
    LogAppendTime,
}

/// The parsed 61-byte header of a magic-2 record batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the Length field; the batch is `length + 12` bytes.
    pub length: i32,
    /// Leader epoch when the batch was appended.
    pub partition_leader_epoch: i32,
    /// Format version, always 2 after a successful parse.
    pub magic: i8,
    /// Stored CRC-32C of bytes 21..end.
    pub crc: u32,
    /// Attribute bits (codec, timestamp type, transactional, control).
    pub attributes: i16,
    /// Offset of the last record minus `base_offset`.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch (append time for LogAppendTime).
    pub max_timestamp: i64,
    /// Idempotent/transactional producer id, -1 if none.
    pub producer_id: i64,
    /// Producer epoch, -1 if none.
    pub producer_epoch: i16,
    /// Sequence of the first record, -1 if none.
    pub base_sequence: i32,
    /// Number of records.
    pub records_count: i32,
}

fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}
fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}

impl BatchHeader {
    /// The header of a batch of `count` records the broker writes itself: no producer, no
    /// compression, every timestamp `timestamp`; base offset 0 and leader epoch -1 (the log
    /// assigns them), `length` and `crc` 0 (`assemble` computes them).
    pub fn unstamped(count: i32, timestamp: i64) -> BatchHeader {
        BatchHeader {
            base_offset: 0,
            length: 0,
            partition_leader_epoch: -1,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: timestamp,
            max_timestamp: timestamp,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            records_count: count,
        }
    }

    /// The whole batch: this header in front of `records` (framed by [`put_record`], compressed
    /// if `attributes` says so), with `length` and `crc` computed here (the fields' values are
    /// ignored) and magic 2.
    pub fn assemble(&self, records: &[u8]) -> Vec<u8> {
        let mut b = Vec::with_capacity(HEADER_SIZE + records.len());
        b.extend_from_slice(&self.base_offset.to_be_bytes());
        b.extend_from_slice(&((HEADER_SIZE - 12 + records.len()) as i32).to_be_bytes());
        b.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        b.push(2);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&self.attributes.to_be_bytes());
        b.extend_from_slice(&self.last_offset_delta.to_be_bytes());
        b.extend_from_slice(&self.base_timestamp.to_be_bytes());
        b.extend_from_slice(&self.max_timestamp.to_be_bytes());
        b.extend_from_slice(&self.producer_id.to_be_bytes());
        b.extend_from_slice(&self.producer_epoch.to_be_bytes());
        b.extend_from_slice(&self.base_sequence.to_be_bytes());
        b.extend_from_slice(&self.records_count.to_be_bytes());
        b.extend_from_slice(records);
        let crc = compute_crc(&b);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        b
    }

    /// Parses the header at the start of `buf` (at least 61 bytes, magic 2). Checks only what a
    /// header can say about itself: `length` covers at least the header. Does not check the CRC.
    pub fn parse(buf: &[u8]) -> Result<Self, LogError> {
        if buf.len() <= MAGIC_OFFSET {
            return Err(LogError::CorruptMessage(format!(
                "{} bytes is too short for a record batch",
                buf.len()
            )));
        }
        let magic = buf[MAGIC_OFFSET] as i8;
        if magic != MAGIC_V2 {
            return Err(LogError::InvalidRecord(format!(
                "unsupported magic {magic}, only magic 2 record batches are accepted"
            )));
        }
        if buf.len() < HEADER_SIZE {
            return Err(LogError::CorruptMessage(format!(
                "{} bytes is shorter than the {HEADER_SIZE}-byte batch header",
                buf.len()
            )));
        }
        let length = be_i32(buf, LENGTH_OFFSET);
        if length < (HEADER_SIZE - LOG_OVERHEAD) as i32 {
            return Err(LogError::CorruptMessage(format!(
                "batch length {length} is shorter than the header"
            )));
        }
        Ok(BatchHeader {
            base_offset: be_i64(buf, BASE_OFFSET_OFFSET),
            length,
            partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_OFFSET),
            magic,
            crc: be_i32(buf, CRC_OFFSET) as u32,
            attributes: be_i16(buf, ATTRIBUTES_OFFSET),
            last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_OFFSET),
            base_timestamp: be_i64(buf, BASE_TIMESTAMP_OFFSET),
            max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
            producer_id: be_i64(buf, PRODUCER_ID_OFFSET),
            producer_epoch: be_i16(buf, PRODUCER_EPOCH_OFFSET),
            base_sequence: be_i32(buf, BASE_SEQUENCE_OFFSET),
            records_count: be_i32(buf, RECORDS_COUNT_OFFSET),
        })
    }

    /// Total size of the batch on disk and on the wire (`length + 12`).
    pub fn batch_size(&self) -> usize {
        self.length as usize + LOG_OVERHEAD
    }

    /// Offset of the last record (`base_offset + last_offset_delta`).
    pub fn last_offset(&self) -> i64 {
        self.base_offset + i64::from(self.last_offset_delta)
    }

    /// Compression codec (attribute bits 0-2).
    pub fn compression(&self) -> Compression {
        match (self.attributes & ATTR_COMPRESSION_MASK) as u8 {
            0 => Compression::None,
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            n => Compression::Unknown(n),
        }
    }

    /// Whether the batch belongs to a transaction (attribute bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & ATTR_TRANSACTIONAL != 0
    }

    /// Whether the batch holds control records (attribute bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }

    /// Timestamp type (attribute bit 3).
    pub fn timestamp_type(&self) -> BatchTimestampType {
        if self.attributes & ATTR_LOG_APPEND_TIME != 0 {
            BatchTimestampType::LogAppendTime
        } else {
            BatchTimestampType::CreateTime
        }
    }

    /// Sequence of the last record, wrapping at `i32::MAX` like Kafka.
    pub fn last_sequence(&self) -> i32 {
        if self.base_sequence < 0 {
            return -1;
        }
        let last = i64::from(self.base_sequence) + i64::from(self.last_offset_delta);
        if last > i64::from(i32::MAX) {
            (last - i64::from(i32::MAX) - 1) as i32
        } else {
            last as i32
        }
    }
}

/// CRC-32C of the CRC-covered part of a whole batch (bytes 21..end).
pub fn compute_crc(batch: &[u8]) -> u32 {
    crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..])
}

/// Appends one record's framing (see `records.rs` for the layout): record `index` of its batch,
/// `timestamp_delta` from the batch's BaseTimestamp, no headers.
pub fn put_record(
    out: &mut Vec<u8>,
    index: i32,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
) {
    fn put_varlong(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8 & 0x7f) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }
    let mut body =
        Vec::with_capacity(16 + key.map_or(0, <[u8]>::len) + value.map_or(0, <[u8]>::len));
    body.push(0); // attributes
    put_varlong(&mut body, timestamp_delta);
    put_varlong(&mut body, i64::from(index));
    for field in [key, value] {
        match field {
            Some(b) => {
                put_varlong(&mut body, b.len() as i64);
                body.extend_from_slice(b);
            }
            None => put_varlong(&mut body, -1),
        }
    }
    put_varlong(&mut body, 0); // headers
    put_varlong(out, body.len() as i64);
    out.extend_from_slice(&body);
}

/// A record's key and value (`None`: null) for [`encode_batch`].
pub type KeyValue<'a> = (Option<&'a [u8]>, Option<&'a [u8]>);

/// One uncompressed batch written by the broker itself (no producer id, one timestamp), e.g.
/// the group coordinator's records in `__consumer_offsets`.
pub fn encode_batch(records: &[KeyValue<'_>], timestamp: i64) -> Vec<u8> {
    let mut body = Vec::new();
    for (i, (k, v)) in records.iter().enumerate() {
        put_record(&mut body, i as i32, 0, *k, *v);
    }
    BatchHeader::unstamped(records.len() as i32, timestamp).assemble(&body)
}

/// Validates one client Produce payload for one partition the way Kafka does (PROTOCOL.md §6):
/// exactly one magic-2 batch, client base offset 0, size ≤ `max.message.bytes`, CRC-32C over
/// bytes 21.., `RecordsCount == LastOffsetDelta + 1 > 0`, no control batch, a transactional batch
/// has a producer id, zstd only if `allow_zstd` (Produce ≥ 7), then every record walked
/// (`records::validate_records`: framing, count, offset deltas, keys on compacted topics),
/// compressed batches inflating at most [`records::MAX_INFLATED`] bytes.
///
/// Errors: CRC mismatch and an unknown codec → CORRUPT_MESSAGE; framing, counts and keys →
/// INVALID_RECORD (Kafka's `InvalidRecordException`).
pub fn validate_produce_batch(
    buf: &[u8],
    cfg: &LogConfig,
    allow_zstd: bool,
) -> Result<BatchHeader, LogError> {
    let h = validate_produce_header(buf, cfg, allow_zstd)?;
    records::validate_records(buf, &h, requires_keys(cfg), records::MAX_INFLATED)?;
    Ok(h)
}

/// Outcome of [`validate_produce_batch_inline`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InlineValidation {
    /// The batch is valid.
    Valid(BatchHeader),
    /// The header is valid but the records inflate beyond the inline budget: run
    /// [`validate_produce_batch`] on a blocking thread.
    Deferred,
}

/// [`validate_produce_batch`] for the async request path: the same checks, but a compressed
/// batch that inflates beyond `inline_limit` bytes is not finished here (`Deferred`), so that
/// large decompression work can move off the async workers.
pub fn validate_produce_batch_inline(
    buf: &[u8],
    cfg: &LogConfig,
    allow_zstd: bool,
    inline_limit: usize,
) -> Result<InlineValidation, LogError> {
    let h = validate_produce_header(buf, cfg, allow_zstd)?;
    match records::validate_records(buf, &h, requires_keys(cfg), inline_limit) {
        Ok(_) => Ok(InlineValidation::Valid(h)),
        Err(WalkError::OverLimit(l)) if l < records::MAX_INFLATED => Ok(InlineValidation::Deferred),
        Err(e) => Err(e.into()),
    }
}

fn requires_keys(cfg: &LogConfig) -> bool {
    cfg.cleanup_policy.compacts()
}

/// The header-level half of [`validate_produce_batch`]: everything but the record walk.
pub fn validate_produce_header(
    buf: &[u8],
    cfg: &LogConfig,
    allow_zstd: bool,
) -> Result<BatchHeader, LogError> {
    // Kafka iterates the payload as batches; a payload too short to hold one whole batch
    // yields none, which is "not exactly one batch": INVALID_RECORD, not CORRUPT_MESSAGE.
    let h = match BatchHeader::parse(buf) {
        Ok(h) => h,
        Err(LogError::CorruptMessage(m)) => return Err(LogError::InvalidRecord(m)),
        Err(e) => return Err(e),
    };
    let size = h.batch_size();
    if size > buf.len() {
        return Err(LogError::InvalidRecord(format!(
            "batch length says {size} bytes but only {} were sent",
            buf.len()
        )));
    }
    if size < buf.len() {
        return Err(LogError::InvalidRecord(
            "a produce request must carry exactly one record batch per partition".into(),
        ));
    }
    if size > cfg.max_message_bytes {
        return Err(LogError::MessageTooLarge {
            size,
            max: cfg.max_message_bytes,
        });
    }
    if h.base_offset != 0 {
        return Err(LogError::InvalidRecord(format!(
            "client batch base offset must be 0, got {}",
            h.base_offset
        )));
    }
    let crc = compute_crc(buf);
    if crc != h.crc {
        return Err(LogError::CorruptMessage(format!(
            "CRC mismatch: stored {:#010x}, computed {crc:#010x}",
            h.crc
        )));
    }
    if h.records_count <= 0 || i64::from(h.records_count) != i64::from(h.last_offset_delta) + 1 {
        return Err(LogError::InvalidRecord(format!(
            "records count {} does not match last offset delta {}",
            h.records_count, h.last_offset_delta
        )));
    }
    if h.is_control() {
        return Err(LogError::InvalidRecord(
            "clients may not send control batches".into(),
        ));
    }
    if h.is_transactional() && h.producer_id < 0 {
        return Err(LogError::InvalidRecord(
            "transactional batch without a producer id".into(),
        ));
    }
    match h.compression() {
        Compression::Unknown(n) => {
            return Err(LogError::CorruptMessage(format!(
                "unknown compression codec {n}"
            )));
        }
        Compression::Zstd if !allow_zstd => return Err(LogError::UnsupportedCompression(4)),
        _ => {}
    }
    Ok(h)
}

/// Rewrites the broker-owned fields of a batch held in `buf` (a private copy): base offset and
/// partition leader epoch, and for LogAppendTime also MaxTimestamp and attribute bit 3, followed
/// by a CRC recomputation. BaseTimestamp is left alone, as Kafka does.
pub(crate) fn patch_for_append(
    buf: &mut [u8],
    base_offset: i64,
    leader_epoch: i32,
    log_append_time: Option<i64>,
) {
    buf[BASE_OFFSET_OFFSET..BASE_OFFSET_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
    buf[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    if let Some(now) = log_append_time {
        let attrs = be_i16(buf, ATTRIBUTES_OFFSET) | ATTR_LOG_APPEND_TIME;
        buf[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attrs.to_be_bytes());
        buf[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8].copy_from_slice(&now.to_be_bytes());
        let crc = compute_crc(buf);
        buf[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::config::CleanupPolicy;
    use crate::log::testutil::{BatchBuilder, Rec};
    use proptest::prelude::*;

    fn cfg() -> LogConfig {
        LogConfig::default()
    }

    #[test]
    fn parses_builder_output() {
        let b = BatchBuilder::new().records(3).timestamp(1000).build();
        let h = validate_produce_batch(&b, &cfg(), false).unwrap();
        assert_eq!(h.records_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.batch_size(), b.len());
        assert_eq!(h.compression(), Compression::None);
        assert_eq!(h.timestamp_type(), BatchTimestampType::CreateTime);
        assert!(!h.is_control() && !h.is_transactional());
    }

    #[test]
    fn bad_crc_is_corrupt() {
        let mut b = BatchBuilder::new().records(1).build();
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert_eq!(
            validate_produce_batch(&b, &cfg(), false)
                .unwrap_err()
                .kafka_code(),
            2
        );
    }

    #[test]
    fn magic_1_is_invalid_record() {
        let mut b = BatchBuilder::new().records(1).build();
        b[MAGIC_OFFSET] = 1;
        assert_eq!(
            validate_produce_batch(&b, &cfg(), false)
                .unwrap_err()
                .kafka_code(),
            87
        );
    }

    #[test]
    fn nonzero_base_offset_is_invalid() {
        let mut b = BatchBuilder::new().records(1).build();
        b[7] = 5;
        assert_eq!(
            validate_produce_batch(&b, &cfg(), false)
                .unwrap_err()
                .kafka_code(),
            87
        );
    }

    #[test]
    fn two_batches_are_invalid() {
        let mut b = BatchBuilder::new().records(1).build();
        let b2 = b.clone();
        b.extend_from_slice(&b2);
        assert_eq!(
            validate_produce_batch(&b, &cfg(), false)
                .unwrap_err()
                .kafka_code(),
            87
        );
    }

    #[test]
    fn truncated_is_not_exactly_one_batch() {
        // Kafka finds no whole batch in a truncated payload: INVALID_RECORD.
        let b = BatchBuilder::new().records(2).build();
        let e = validate_produce_batch(&b[..b.len() - 3], &cfg(), false).unwrap_err();
        assert_eq!(e.kafka_code(), 87);
        let e = validate_produce_batch(&b[..40], &cfg(), false).unwrap_err();
        assert_eq!(e.kafka_code(), 87);
    }

    #[test]
    fn control_batch_is_invalid() {
        let b = BatchBuilder::new()
            .records(1)
            .attributes(ATTR_CONTROL)
            .build();
        assert_eq!(
            validate_produce_batch(&b, &cfg(), false)
                .unwrap_err()
                .kafka_code(),
            87
        );
    }

    #[test]
    fn too_large() {
        let b = BatchBuilder::new().value_size(2000).build();
        let c = LogConfig {
            max_message_bytes: 1000,
            ..cfg()
        };
        assert_eq!(
            validate_produce_batch(&b, &c, false)
                .unwrap_err()
                .kafka_code(),
            10
        );
    }

    #[test]
    fn zstd_needs_v7() {
        let b = BatchBuilder::new()
            .records(1)
            .compress(Compression::Zstd)
            .build();
        assert_eq!(
            validate_produce_batch(&b, &cfg(), false)
                .unwrap_err()
                .kafka_code(),
            76
        );
        assert!(validate_produce_batch(&b, &cfg(), true).is_ok());
    }

    #[test]
    fn count_mismatch_is_invalid() {
        let mut b = BatchBuilder::new().records(2).build();
        b[RECORDS_COUNT_OFFSET + 3] = 5;
        let crc = compute_crc(&b);
        b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        assert_eq!(
            validate_produce_batch(&b, &cfg(), false)
                .unwrap_err()
                .kafka_code(),
            87
        );
    }

    #[test]
    fn compacted_topic_requires_keys() {
        let c = LogConfig {
            cleanup_policy: CleanupPolicy::Compact,
            ..cfg()
        };
        let keyed = BatchBuilder::new()
            .recs(vec![
                Rec::kv(Some(b"k"), Some(b"v")),
                Rec::kv(Some(b"k2"), None),
            ])
            .build();
        assert!(validate_produce_batch(&keyed, &c, false).is_ok());
        let unkeyed = BatchBuilder::new()
            .recs(vec![
                Rec::kv(Some(b"k"), Some(b"v")),
                Rec::kv(None, Some(b"v")),
            ])
            .build();
        assert_eq!(
            validate_produce_batch(&unkeyed, &c, false)
                .unwrap_err()
                .kafka_code(),
            87
        );
        // Same bytes are fine on a delete-policy topic.
        assert!(validate_produce_batch(&unkeyed, &cfg(), false).is_ok());
        // Compressed batches are walked too: a null key inside gzip is refused.
        let gz = BatchBuilder::new()
            .recs(vec![Rec::kv(Some(b"k"), None), Rec::kv(None, Some(b"v"))])
            .compress(Compression::Gzip)
            .build();
        let e = validate_produce_batch(&gz, &c, false).unwrap_err();
        assert_eq!(e.kafka_code(), 87, "{e}");
        assert!(e.to_string().contains("without a key"), "{e}");
        assert!(validate_produce_batch(&gz, &cfg(), false).is_ok());
    }

    #[test]
    fn patch_log_append_time_recomputes_crc() {
        let mut b = BatchBuilder::new().records(2).timestamp(5).build();
        patch_for_append(&mut b, 42, 7, Some(999));
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.partition_leader_epoch, 7);
        assert_eq!(h.max_timestamp, 999);
        assert_eq!(h.base_timestamp, 5);
        assert_eq!(h.timestamp_type(), BatchTimestampType::LogAppendTime);
        assert_eq!(compute_crc(&b), h.crc);
    }

    #[test]
    fn last_sequence_wraps() {
        let mut b = BatchBuilder::new()
            .records(3)
            .producer(1, 0, i32::MAX - 1)
            .build();
        let h = BatchHeader::parse(&b).unwrap();
        assert_eq!(h.last_sequence(), 0);
        b[BASE_SEQUENCE_OFFSET..BASE_SEQUENCE_OFFSET + 4].copy_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(BatchHeader::parse(&b).unwrap().last_sequence(), -1);
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = BatchHeader::parse(&bytes);
            let c = LogConfig { cleanup_policy: CleanupPolicy::Compact, ..LogConfig::default() };
            let _ = validate_produce_batch(&bytes, &c, true);
        }

        #[test]
        fn mutated_batches_never_panic(idx in 0usize..200, val in any::<u8>(), n in 1usize..5) {
            let c = LogConfig { cleanup_policy: CleanupPolicy::Compact, ..LogConfig::default() };
            let mut b = BatchBuilder::new().records(n).build();
            let i = idx % b.len();
            b[i] = val;
            // Fix the CRC so that validation gets as far as the record walk.
            let crc = compute_crc(&b);
            b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
            let _ = validate_produce_batch(&b, &c, true);
        }
    }
}
