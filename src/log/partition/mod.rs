//! `PartitionLog`: the log of one topic-partition — an ordered set of segments, the high
//! watermark, the last stable offset, the producer state (idempotence and open transactions)
//! and the leader epoch cache.
//!
//! Concurrency (stated once, here):
//! - `writer` (`std::sync::Mutex`, never held across `.await`) serializes every mutation:
//!   append, roll, DeleteRecords, retention, close. It owns the producer state, the reusable
//!   copy buffer and the active segment's write position. File writes happen under it.
//! - `state` (`std::sync::RwLock`) holds the segment map, log start offset, log end offset, high
//!   watermark, the unstable transactions (for the last stable offset) and the byte position
//!   of the log end in the active segment. The writer
//!   takes it for writing only for in-memory updates (publishing an append, inserting or
//!   removing a segment); readers take it for reading just long enough to pick a segment and
//!   clone its `Arc`, then `pread` without any lock.
//! - `flush` takes neither lock during fsync: it snapshots the segment list and the log end
//!   offset, fsyncs, then publishes the flushed offset.
//!
//! Invariants: offsets are monotonic (dense as appended; compaction leaves gaps); log start ≤ high watermark ≤ log end offset, and
//! the high watermark lies on a batch boundary. By default (`hw_follows_leo`, a single replica)
//! every append publishes high watermark = log end offset; a replicated partition turns that
//! off and the high watermark moves only by `advance_high_watermark` (monotonic) and by
//! truncation (`replica.rs`). The last stable offset (`txn.rs`) is derived from the high
//! watermark and the unstable transactions under the same lock, so it needs no watch of its
//! own: it moves only when the high watermark does (or at truncation). Both are published only after the batch bytes are written to the
//! page cache; consumers never read at or beyond the high watermark, followers
//! (`read_to_end`) never beyond the published log end; after a write/fsync error every call
//! returns `LogError::Storage` until the partition is reopened (fail-stop, no fsync retry).
//!
//! The one exception to fail-stop: a *write* (or an open) that fails because the disk or quota
//! is full or no descriptor is left (`files::is_retryable_write_error`). Nothing durable was
//! lost — the batch was never published — so the writer cuts its partial tail back to the last
//! good position (`Segment::rewind`), answers that append with `KAFKA_STORAGE_ERROR`, and
//! keeps serving reads up to the high watermark; the next append tries again, so the
//! partition heals by itself once space returns. An fsync error is always fail-stop.
//!
//! The state and its types live here; each file below adds the `impl PartitionLog` methods of
//! one concern. The fields are private to this module (so shared by its files); a helper one
//! file lends another is `pub(super)`.
//! - `lifecycle`  open (directory scan, recovery hand-off), clean close, deletion mark
//! - `append`     the append path: checks, idempotence, segment roll, the full-disk rewind;
//!   the idle roll of a quiet compacted partition
//! - `read`       the read path and the reader-visible offsets (log start, high watermark)
//! - `txn`        transactions: markers, the last stable offset, aborted transactions for
//!   read_committed fetches, and the rebuild of all three from the log
//! - `replica`    replication: the high watermark, verbatim follower appends, leader epochs,
//!   truncation of a diverged tail, restart at a leader's log start
//! - `timestamp`  ListOffsets by timestamp: batch-level lookup and the exact record walk
//! - `retention`  DeleteRecords, time/size retention, producer-id expiry
//! - `compaction` what the log cleaner sees of the partition, and installing a cleaned segment
//!   in place of a group of old ones
//! - `flush`      fsync of written segments, recovery-point and flushed-offset bookkeeping
//! - `health`     fail-stop and write suspension: how an I/O error changes what the log answers

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use super::config::LogConfig;
use super::epoch_cache::LeaderEpochCache;
use super::files::LogFiles;
use super::producer_state::ProducerStateManager;
use super::segment::Segment;
use super::slice::FileSlice;
use super::{read_lock, write_lock};

mod append;
mod compaction;
mod flush;
mod health;
mod lifecycle;
mod read;
mod replica;
mod retention;
mod timestamp;
mod txn;

pub(crate) use compaction::CleanView;
pub use retention::PRODUCER_ID_EXPIRATION_MS;

const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const DELETED: u8 = 2;

/// Result of [`PartitionLog::append`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppendOutcome {
    /// The batch was written.
    Appended {
        /// Offset assigned to the first record.
        base_offset: i64,
        /// Offset assigned to the last record.
        last_offset: i64,
        /// Broker append time for LogAppendTime topics, -1 for CreateTime.
        log_append_time: i64,
        /// Log start offset after the append.
        log_start_offset: i64,
    },
    /// Retry of one of the producer's last 5 batches; nothing was written.
    Duplicate {
        /// Offset of the original batch's first record.
        base_offset: i64,
        /// Offset of the original batch's last record.
        last_offset: i64,
        /// Current log start offset.
        log_start_offset: i64,
    },
}

/// Result of [`PartitionLog::read`].
#[derive(Clone, Debug)]
pub struct ReadResult {
    /// Whole record batches exactly as stored, left in the segment file (sent from there);
    /// empty if nothing is available.
    pub records: FileSlice,
    /// High watermark when the read started.
    pub high_watermark: i64,
    /// Last stable offset when the read started (the high watermark while no transaction is
    /// open).
    pub last_stable_offset: i64,
    /// Log start offset when the read started.
    pub log_start_offset: i64,
}

/// Writer-only state, behind `PartitionLog::writer`.
struct Writer {
    producers: ProducerStateManager,
    /// Reusable copy of the batch being appended (patched in place).
    scratch: Vec<u8>,
    /// End of the active segment's `.log` as written by us.
    write_pos: u64,
    /// Bytes since the last offset index entry in the active segment.
    bytes_since_index: u64,
    /// A failed append could not be cut off yet: the active segment's files may extend past
    /// `write_pos` / the in-memory index ends. Retried before the next write.
    rewind_pending: bool,
    /// (active segment base, ms) of the first `roll_if_idle` that saw the active segment
    /// non-empty without a rolling timestamp: its age is counted from then.
    idle_since: Option<(i64, i64)>,
}

/// Reader-visible state, behind `PartitionLog::state`.
struct State {
    segments: BTreeMap<i64, Arc<Segment>>,
    log_start: i64,
    /// Log end offset.
    leo: i64,
    /// High watermark: consumers read below it. Equals `leo` while `hw_follows_leo`.
    hw: i64,
    /// Byte position of `leo` in the active segment: no read goes past it.
    leo_pos: u64,
    /// Transactions that may still hold the last stable offset: first offset → offset of the
    /// marker that ended it, `i64::MAX` while it is open. An ended one stays until the high
    /// watermark passes its marker (a marker not yet replicated may still be lost, reopening
    /// the transaction: Kafka's "unreplicated" transactions). See `txn.rs`.
    txns: BTreeMap<i64, i64>,
}

impl State {
    fn active(&self) -> &Arc<Segment> {
        // Invariant: there is always at least one segment (open creates one, retention never
        // deletes the active one).
        self.segments
            .values()
            .next_back()
            .expect("partition has an active segment")
    }

    /// Readable end of `seg`: the published log end position for the active segment, the full
    /// size for sealed ones.
    fn end_pos(&self, seg: &Segment) -> u64 {
        if seg.base_offset == self.active().base_offset {
            self.leo_pos
        } else {
            seg.size()
        }
    }
}

/// The log of one topic-partition. `Send + Sync`; share it as `Arc<PartitionLog>`.
pub struct PartitionLog {
    dir: PathBuf,
    config: RwLock<LogConfig>,
    /// Serializes mutations; see the module docs. Sync mutex: never held across `.await`.
    writer: Mutex<Writer>,
    state: RwLock<State>,
    epochs: RwLock<LeaderEpochCache>,
    failed: AtomicBool,
    fail_reason: Mutex<String>,
    /// The last append failed for lack of space or descriptors (reads still work; the next
    /// append retries). Cleared by the next successful append.
    write_suspended: AtomicBool,
    files: LogFiles,
    status: AtomicU8,
    /// Every append publishes high watermark = log end offset (single replica). Read and
    /// changed under the writer lock.
    hw_follows_leo: AtomicBool,
    /// High watermark watch (consumer long polls).
    hw_tx: watch::Sender<i64>,
    /// Log end offset watch, woken by every append (follower long polls).
    leo_tx: watch::Sender<i64>,
    messages_appended: AtomicI64,
    messages_flushed: AtomicI64,
    flushed_offset: AtomicI64,
    last_flush_ms: AtomicI64,
    /// Recovery point last written to `recovery-point` (`i64::MIN`: none). The mutex also
    /// serializes writers of that file (two flushes may run at once); held only for that write.
    recovery_point: Mutex<i64>,
    /// A segment file was created or deleted since the last directory fsync.
    dir_dirty: AtomicBool,
    /// The log cleaner's first dirty offset (`cleaner/checkpoint.rs`), as loaded or last
    /// written; lowered by truncation, clamped into [log start, log end] when used.
    cleaner_offset: AtomicI64,
    /// No segment at or above this offset was ever rewritten by the cleaner (`i64::MIN`:
    /// none); persisted with `cleaner_offset`, read by recovery.
    cleaned_below: AtomicI64,
    /// When tombstones kept by the cleaner's last pass become removable, ms (`i64::MAX`:
    /// none known); persisted with `cleaner_offset`, read by the cleaner's plan.
    tombstones_due: AtomicI64,
    /// Async mutex used by `LogManager::flush_if_needed` to coalesce concurrent flushers; held
    /// across the `spawn_blocking` fsync, which is why it is a tokio mutex.
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
}

fn now_wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl std::fmt::Debug for PartitionLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = read_lock(&self.state);
        f.debug_struct("PartitionLog")
            .field("dir", &self.dir)
            .field("log_start_offset", &s.log_start)
            .field("log_end_offset", &s.leo)
            .field("segments", &s.segments.len())
            .field("failed", &self.is_failed())
            .finish()
    }
}

impl PartitionLog {
    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Current configuration.
    pub fn config(&self) -> LogConfig {
        *read_lock(&self.config)
    }

    /// Replaces the configuration; takes effect from the next append/retention run.
    pub fn update_config(&self, cfg: LogConfig) {
        *write_lock(&self.config) = cfg;
    }

    /// OffsetForLeaderEpoch: `(epoch, end offset)` — see `LeaderEpochCache::end_offset_for`
    /// (Kafka semantics: `(-1, -1)` for an unknown cache or an epoch above all known ones; an
    /// epoch older than all known ones answers `(requested, first epoch's start offset)`).
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        let leo = self.log_end_offset();
        read_lock(&self.epochs).end_offset_for(epoch, leo)
    }

    /// The latest leader epoch seen by an append, if any.
    pub fn latest_epoch(&self) -> Option<i32> {
        read_lock(&self.epochs).latest_epoch()
    }
}

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod replica_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod timestamp_tests;
#[cfg(test)]
mod txn_tests;
