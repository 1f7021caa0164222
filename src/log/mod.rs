//! Partition log engine: durable, append-only storage of Kafka record batches, one directory
//! per topic-partition. Handlers call it with opaque batch bytes and offsets; it knows nothing
//! about the network or `kafka_protocol`.
//!
//! On-disk layout (like Kafka's):
//! ```text
//! <data_dir>/<topic>-<partition>/
//!   00000000000000000000.log        record batches stored verbatim (batch.rs, segment.rs)
//!   00000000000000000000.index      sparse offset index (index.rs)
//!   00000000000000000000.timeindex  sparse time index (index.rs)
//!   00000000000000000000.txnindex   aborted transactions, only if the segment has any
//!                                   (txn_index.rs)
//!   00000000000000001234.log ...    next segment: file name = its base offset
//!   00000000000000001234.snapshot   producer state at offset 1234 (producer_state.rs)
//!   leader-epoch-checkpoint         epoch → start offset (epoch_cache.rs)
//!   log-start-offset                DeleteRecords low watermark (checkpoint.rs)
//!   recovery-point                  offset below which everything was fsynced (checkpoint.rs)
//!   partition.metadata              the owning topic's id (manager/dirs.rs)
//!   cleaner-offset                  the log cleaner's first dirty offset (cleaner/checkpoint.rs)
//!   00000000000000000000.cleaned/   a cleaned segment being written; .swap/ once committed
//!                                   (cleaner/swap.rs)
//!   .clean-shutdown                 present only between a clean close and the next open
//! ```
//!
//! Invariants:
//! - one writer per partition (`PartitionLog`'s writer mutex); readers never take it;
//! - offsets are monotonic, and dense as appended: each appended batch's base offset is the
//!   previous last offset + 1; the log cleaner (`cleaner/`) removes records without renumbering,
//!   so a compacted range has gaps and readers skip them (Kafka's rule);
//! - reads never go beyond the high watermark (single replica: HW = log end offset once the
//!   bytes are in the page cache), and never see a half-written batch;
//! - after a write or fsync error the partition is failed (fail-stop) until reopened, except a
//!   write refused for lack of space or descriptors: that append is cut off and refused, reads
//!   go on, and the next append retries (`partition/append.rs`, `partition/health.rs`);
//! - a partition keeps one descriptor open (its active `.log`); index files and sealed
//!   segments are opened on demand through a bounded shared cache (`files.rs`);
//! - start-up scans no segment after a clean shutdown; after an unclean one it validates every
//!   segment from the recovery point's on and truncates at the first invalid batch;
//! - below the high watermark a read finds its batch intact or fails (CORRUPT_MESSAGE), never
//!   returns an empty result.
//!
//! Module map: `error` (LogError + Kafka codes), `config` (LogConfig), `batch` (header,
//! validation, patching), `records` (the record walk and bounded decompression), `compress`
//! (the record compressor), `cleaner/` (log compaction), `files`
//! (descriptor cache, `FileIo` write seam), `index` (offset/time index), `segment` (one .log +
//! indexes, recovery scan), `slice` (a read's batches, left in their file), `verify` (batch
//! checks for reads and the scrubber), `recovery`
//! (start-up loading and unclean-shutdown recovery), `checkpoint` (framed checkpoint files,
//! clean-shutdown marker), `epoch_cache` (leader epochs), `producer_state` (idempotence and
//! open transactions), `control` (transaction markers), `txn_index` (aborted transactions),
//! `partition/` (PartitionLog: `lifecycle` open/close, `append`, `read`, `timestamp` lookup,
//! `retention`, `flush` and recovery point, `health` fail-stop), `manager/` (LogManager: `dirs`
//! names and scans, `lifecycle` create/delete, `flush` group commit and the flusher's pass,
//! `background` flusher, retention and scrubber tasks).

pub mod batch;
pub mod checkpoint;
pub mod cleaner;
pub mod compress;
pub mod config;
pub mod control;
pub mod epoch_cache;
pub mod error;
pub mod files;
pub mod index;
pub mod manager;
pub mod partition;
pub mod producer_state;
pub mod records;
pub mod recovery;
pub mod segment;
pub mod slice;
#[cfg(test)]
pub(crate) mod testutil;
pub mod txn_index;
pub mod verify;

pub use batch::{
    compute_crc, encode_batch, validate_produce_batch, validate_produce_batch_inline, BatchHeader,
    Compression, InlineValidation,
};
pub use config::{CleanupPolicy, LogConfig, TimestampType, TopicCompression};
pub use error::LogError;
pub use files::{FdCache, FileIo, LogFiles};
pub use manager::{BackgroundConfig, CleanerConfig, LogManager};
pub use partition::{AppendOutcome, PartitionLog, ReadResult};
pub use producer_state::ActiveProducer;
pub use slice::FileSlice;

use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

// Lock helpers: a panic while holding a lock must not turn every later call into a panic; the
// protected data is kept consistent by the code that mutates it (fail-stop covers I/O).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
pub(crate) fn read_lock<T>(m: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    m.read().unwrap_or_else(|e| e.into_inner())
}
pub(crate) fn write_lock<T>(m: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    m.write().unwrap_or_else(|e| e.into_inner())
}
