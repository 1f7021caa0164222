//! The log cleaner: compaction of `cleanup.policy=compact` (and `compact,delete`) partitions,
//! keeping the latest record of every key (Kafka's `LogCleaner`).
//!
//! Module map, bottom up:
//! - `offset_map`  key → latest offset over the dirty range, full keys, bounded in bytes
//! - `filter`      what is kept of one batch: whole, rebuilt with fewer records, empty, nothing
//! - `plan`        clean / dirty / uncleanable ranges, dirty ratio, whether a pass is due
//! - `pass`        one pass over one partition: map, rewrite, swap, checkpoint
//! - `swap`        the crash-safe `.cleaned` → `.swap` → final replacement of a group of old
//!   segments by one cleaned segment, and its recovery
//! - `checkpoint`  the first dirty offset of a partition, persisted (`cleaner-offset`)
//! - `throttle`    the shared I/O rate limit
//!
//! The background threads that pick the dirtiest partition and run passes live in
//! `manager/cleaner.rs`; what the cleaner sees of a partition, and the install under its
//! writer lock, in `partition/compaction.rs`.
//!
//! Invariants: offsets never change (a cleaned log has gaps, never renumbered records); only
//! sealed segments wholly below the high watermark are rewritten, never the active one (a
//! quiet compacted partition's active segment is rolled for the cleaner instead,
//! `PartitionLog::roll_if_idle`); a record is removed only if a later record of its key exists
//! in the log (or it is a tombstone past `delete.retention.ms`, or it has no key); a failure at
//! any point leaves every old segment of a group or the complete new one, never a mix; a
//! damaged batch stops the pass for that partition without changing it.

use std::io;

use super::error::LogError;

pub mod checkpoint;
pub(crate) mod filter;
pub(crate) mod offset_map;
pub mod pass;
pub mod plan;
pub mod swap;
#[cfg(test)]
pub(crate) mod tests;
pub mod throttle;

pub use pass::{clean, PassOptions, PassStats};
pub use plan::Plan;
pub use throttle::Throttle;

/// Why a cleaning pass failed. The partition's data is unchanged by a failed pass (except
/// segments installed before the failure, each complete).
#[derive(Debug, thiserror::Error)]
pub enum CleanError {
    /// A stored batch is damaged (or cannot be decompressed): the partition is not cleaned
    /// until it is repaired.
    #[error("damaged batch (offset {offset}): {why}")]
    Corrupt {
        /// Base offset of the batch, -1 if its header is unreadable.
        offset: i64,
        /// What is wrong.
        why: String,
    },
    /// One batch holds more distinct keys than the whole dedupe buffer.
    #[error("the cleaner's dedupe buffer of {budget} bytes cannot hold the keys of the batch at offset {offset}")]
    MapTooSmall {
        /// The buffer size.
        budget: usize,
        /// Base offset of the batch.
        offset: i64,
    },
    /// Reading or writing cleaner files failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The partition refused (closed, deleted, failed).
    #[error(transparent)]
    Log(#[from] LogError),
    /// The broker is shutting down.
    #[error("cleaning stopped for shutdown")]
    Stopped,
}
