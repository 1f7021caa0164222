//! `LogConfig`: per-topic log settings, named after Kafka's topic configs. The struct is `Copy`
//! so the append path reads it without allocation; `PartitionLog::update_config` swaps it.
//!
//! Compiled standalone by the fuzz crate (`protocol-tests/fuzz`) with `batch.rs`: no imports of
//! other Runnel modules (`scripts/fuzz` fails on one).

/// `message.timestamp.type`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TimestampType {
    /// Keep the producer's timestamps (Kafka default).
    #[default]
    CreateTime,
    /// The broker stamps each batch with its append time.
    LogAppendTime,
}

/// `cleanup.policy`: which of time/size retention and compaction apply. Every policy with
/// `compact` makes keys mandatory at produce time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// Delete old segments by retention (Kafka default).
    #[default]
    Delete,
    /// Compacted topic: the log cleaner keeps the latest record per key; no time/size
    /// retention.
    Compact,
    /// `compact,delete`: compaction and time/size retention both apply.
    CompactDelete,
}

impl CleanupPolicy {
    /// Whether the log cleaner compacts this topic (and keys are required).
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }

    /// Whether time and size retention delete old segments.
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }
}

/// `compression.type` of a topic: `Producer` stores batches as the producer compressed them
/// (the fast path); any other value makes the broker recompress batches whose codec differs
/// (with the `compression.<codec>.level` of the topic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TopicCompression {
    /// Keep the producer's codec (Kafka default).
    #[default]
    Producer,
    /// Store uncompressed.
    Uncompressed,
    /// gzip at this level (-1 = the codec's default).
    Gzip(i32),
    /// snappy (no levels).
    Snappy,
    /// lz4 at this level.
    Lz4(i32),
    /// zstd at this level.
    Zstd(i32),
}

/// Per-topic log settings. `Default` gives Kafka's defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogConfig {
    /// `segment.bytes`: roll the active segment before it would exceed this size (default 1 GiB,
    /// clamped to `i32::MAX` because index positions are 32-bit).
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment when its first batch is older than this (7 days).
    pub segment_ms: i64,
    /// `retention.ms`: delete sealed segments whose largest timestamp is older (7 days; -1 = never).
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest sealed segments while the log is larger (-1 = no limit).
    pub retention_bytes: i64,
    /// `flush.messages`: fsync after this many unflushed messages (`i64::MAX` = leave it to the OS).
    pub flush_messages: i64,
    /// `flush.ms`: fsync when the last flush is older than this (`i64::MAX` = never).
    pub flush_ms: i64,
    /// `max.message.bytes`: largest accepted batch, in bytes (1048588).
    pub max_message_bytes: usize,
    /// `message.timestamp.type` (CreateTime).
    pub message_timestamp_type: TimestampType,
    /// `segment.index.bytes`: roll when the offset index would exceed this size (10 MiB).
    pub segment_index_bytes: u64,
    /// `index.interval.bytes`: bytes of batches between two offset index entries (4096).
    pub index_interval_bytes: u64,
    /// `cleanup.policy` (delete).
    pub cleanup_policy: CleanupPolicy,
    /// `message.timestamp.before.max.ms`: how far in the past a CreateTime may be (`i64::MAX`).
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far in the future a CreateTime may be (`i64::MAX`).
    pub message_timestamp_after_max_ms: i64,
    /// `compression.type` (producer).
    pub compression: TopicCompression,
    /// `delete.retention.ms`: how long the cleaner keeps a tombstone after the segment holding
    /// it was first cleaned (1 day).
    pub delete_retention_ms: i64,
    /// `min.cleanable.dirty.ratio` in parts per million (500000 = 0.5): the cleaner compacts a
    /// partition once its dirty bytes are at least this share of its cleanable bytes.
    pub min_cleanable_dirty_ratio_ppm: u32,
    /// `min.compaction.lag.ms`: a segment whose newest record is younger stays dirty (0).
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a partition whose oldest dirty record is older is compacted
    /// whatever its dirty ratio (`i64::MAX`).
    pub max_compaction_lag_ms: i64,
    /// `min.insync.replicas` (1): not used by the log itself; the partition layer's acks=all
    /// policy reads it here, resolved through the same config layers as the rest.
    pub min_insync_replicas: i32,
}

impl Default for LogConfig {
    fn default() -> Self {
        const DAY_MS: i64 = 24 * 60 * 60 * 1000;
        LogConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * DAY_MS,
            retention_ms: 7 * DAY_MS,
            retention_bytes: -1,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            max_message_bytes: 1_048_588,
            message_timestamp_type: TimestampType::CreateTime,
            segment_index_bytes: 10 * 1024 * 1024,
            index_interval_bytes: 4096,
            cleanup_policy: CleanupPolicy::Delete,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: i64::MAX,
            compression: TopicCompression::Producer,
            delete_retention_ms: DAY_MS,
            min_cleanable_dirty_ratio_ppm: 500_000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            min_insync_replicas: 1,
        }
    }
}

impl LogConfig {
    /// `segment.bytes` clamped to what 32-bit index positions can address.
    pub(crate) fn effective_segment_bytes(&self) -> u64 {
        self.segment_bytes.clamp(1, i32::MAX as u64)
    }

    /// How old the active segment may grow before it is rolled, in ms (Kafka's
    /// `UnifiedLog.maxSegmentMs`): `segment.ms`, and for a topic the cleaner compacts at most
    /// `max.compaction.lag.ms` too (KIP-354), because the active segment is never cleaned and
    /// a record waiting in it would otherwise outlive the maximum lag. Used by the append
    /// path's roll and by the idle roll of `PartitionLog::roll_if_idle`.
    pub(crate) fn roll_ms(&self) -> i64 {
        if self.cleanup_policy.compacts() {
            self.segment_ms.min(self.max_compaction_lag_ms)
        } else {
            self.segment_ms
        }
    }

    /// Maximum number of offset index entries (8 bytes each) per segment, at least 1.
    pub(crate) fn max_index_entries(&self) -> usize {
        ((self.segment_index_bytes / 8).max(1)).min(usize::MAX as u64) as usize
    }
}
