//! `PartitionLog`: the log of one topic-partition — an ordered set of segments, the high
//! watermark, the idempotent producer state and the leader epoch cache.
//!
//! Concurrency (stated once, here):
//! - `writer` (`std::sync::Mutex`, never held across `.await`) serializes every mutation:
//!   append, roll, DeleteRecords, retention, close. It owns the producer state, the reusable
//!   copy buffer and the active segment's write position. File writes happen under it.
//! - `state` (`std::sync::RwLock`) holds the segment map, log start offset, log end offset / high
//!   watermark and the byte position of the high watermark in the active segment. The writer
//!   takes it for writing only for in-memory updates (publishing an append, inserting or
//!   removing a segment); readers take it for reading just long enough to pick a segment and
//!   clone its `Arc`, then `pread` without any lock.
//! - `flush` takes neither lock during fsync: it snapshots the segment list and the log end
//!   offset, fsyncs, then publishes the flushed offset.
//!
//! Invariants: offsets are dense and monotonic; the high watermark equals the log end offset
//! (single replica) and is published only after the batch bytes are written to the page cache;
//! readers never read beyond the published position; after a write/fsync error every call
//! returns `LogError::Storage` until the partition is reopened (fail-stop, no fsync retry).
//!
//! The one exception to fail-stop: a *write* (or an open) that fails because the disk or quota
//! is full or no descriptor is left (`files::is_retryable_write_error`). Nothing durable was
//! lost — the batch was never published — so the writer cuts its partial tail back to the last
//! good position (`Segment::rewind`), answers that append with `KAFKA_STORAGE_ERROR`, and
//! keeps serving reads up to the high watermark; the next append tries again, so the
//! partition heals by itself once space returns. An fsync error is always fail-stop.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use super::batch::{patch_for_append, BatchHeader, BatchTimestampType, Compression};
use super::checkpoint::{self, CleanMarker};
use super::config::{LogConfig, TimestampType};
use super::epoch_cache::LeaderEpochCache;
use super::error::LogError;
use super::files::{is_no_space, is_retryable_write_error, LogFiles};
use super::producer_state::{ActiveProducer, ProducerStateManager, SeqCheck};
use super::records;
use super::recovery::{load_segments, Loaded};
use super::segment::{Segment, SyncError, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use super::slice::FileSlice;
use super::verify::Fault;
use super::{lock, read_lock, write_lock};

/// Kafka's `producer.id.expiration.ms` default (1 day); applied by `enforce_retention`.
pub const PRODUCER_ID_EXPIRATION_MS: i64 = 24 * 60 * 60 * 1000;

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
}

/// Reader-visible state, behind `PartitionLog::state`.
struct State {
    segments: BTreeMap<i64, Arc<Segment>>,
    log_start: i64,
    /// Log end offset; equals the high watermark (single replica).
    leo: i64,
    /// Byte position in the active segment up to which readers may read.
    hw_pos: u64,
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

    /// Readable end of `seg`: the published HW position for the active segment, the full size
    /// for sealed ones.
    fn end_pos(&self, seg: &Segment) -> u64 {
        if seg.base_offset == self.active().base_offset {
            self.hw_pos
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
    hw_tx: watch::Sender<i64>,
    messages_appended: AtomicI64,
    messages_flushed: AtomicI64,
    flushed_offset: AtomicI64,
    last_flush_ms: AtomicI64,
    /// Recovery point last written to `recovery-point` (`i64::MIN`: none). The mutex also
    /// serializes writers of that file (two flushes may run at once); held only for that write.
    recovery_point: Mutex<i64>,
    /// A segment file was created or deleted since the last directory fsync.
    dir_dirty: AtomicBool,
    /// Async mutex used by `LogManager::flush_if_needed` to coalesce concurrent flushers; held
    /// across the `spawn_blocking` fsync, which is why it is a tokio mutex.
    pub(crate) flush_lock: tokio::sync::Mutex<()>,
}

fn now_wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Lists segment base offsets in `dir` and removes leftovers (temp files, orphan indexes).
fn scan_dir(dir: &Path) -> Result<Vec<i64>, LogError> {
    let mut bases = Vec::new();
    let mut orphans = Vec::new();
    let rd =
        fs::read_dir(dir).map_err(|e| LogError::io(format!("listing {}", dir.display()), e))?;
    for ent in rd {
        let ent = ent.map_err(|e| LogError::io(format!("listing {}", dir.display()), e))?;
        let name = ent.file_name().to_string_lossy().into_owned();
        if name.ends_with(".tmp") || name.ends_with(".deleted") {
            orphans.push(ent.path());
            continue;
        }
        let Some((stem, ext)) = name.split_once('.') else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        if ext == LOG_SUFFIX {
            bases.push(base);
        } else if (ext == INDEX_SUFFIX || ext == TIME_INDEX_SUFFIX)
            && !dir.join(format!("{stem}.{LOG_SUFFIX}")).exists()
        {
            orphans.push(ent.path());
        }
    }
    for p in orphans {
        let _ = fs::remove_file(p);
    }
    bases.sort_unstable();
    Ok(bases)
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
    /// Opens (creating if missing) the partition directory and recovers it (`recovery.rs`).
    ///
    /// After a clean shutdown (marker present and file sizes matching) nothing is scanned.
    /// After an unclean one every segment from the one holding the recovery point to the end is
    /// validated batch by batch — header, CRC and dense offsets — and the log is truncated at
    /// the first invalid batch (later segments deleted); their indexes are rebuilt by that scan.
    /// Other sealed segments are not scanned unless an index file is missing or fails its
    /// sanity check. Producer state comes from the newest snapshot ≤ the recovered log end, plus
    /// a replay of the batch headers after it.
    pub fn open(dir: &Path, cfg: LogConfig, now_ms: i64) -> Result<Self, LogError> {
        Self::open_with(dir, cfg, now_ms, &LogFiles::default())
    }

    /// [`PartitionLog::open`] with the broker's shared descriptor cache and I/O seam.
    pub fn open_with(
        dir: &Path,
        cfg: LogConfig,
        now_ms: i64,
        files: &LogFiles,
    ) -> Result<Self, LogError> {
        let ioe = |what: &str, e| LogError::io(format!("{what} in {}", dir.display()), e);
        let created = !dir.exists();
        fs::create_dir_all(dir).map_err(|e| ioe("creating partition directory", e))?;
        if created {
            // The new directory entry must survive a power cut along with the data under it.
            if let Some(parent) = dir.parent() {
                checkpoint::sync_dir(parent).map_err(|e| ioe("fsync of the data directory", e))?;
            }
        }
        let marker = CleanMarker::take(dir).map_err(|e| ioe("reading clean-shutdown marker", e))?;
        let ckpt_start =
            checkpoint::read_log_start(dir).map_err(|e| ioe("reading log-start-offset", e))?;
        let bases = scan_dir(dir)?;
        let interval = cfg.index_interval_bytes;

        let loaded = if bases.is_empty() {
            let base = ckpt_start.unwrap_or(0).max(0);
            let seg =
                Segment::create(dir, base, files).map_err(|e| ioe("creating first segment", e))?;
            Loaded {
                segments: BTreeMap::from([(base, Arc::new(seg))]),
                leo: base,
                write_pos: 0,
                bytes_since_index: 0,
                recovery_point: i64::MIN,
                recovered_segments: 0,
            }
        } else {
            load_segments(dir, &bases, interval, marker, files)?
        };
        let Loaded {
            segments,
            leo,
            write_pos,
            bytes_since_index,
            recovery_point,
            recovered_segments,
        } = loaded;

        let mut epochs =
            LeaderEpochCache::load(dir).map_err(|e| ioe("reading leader-epoch-checkpoint", e))?;
        if epochs.truncate_from_end(leo) {
            epochs
                .persist(dir)
                .map_err(|e| ioe("writing leader-epoch-checkpoint", e))?;
        }

        let first_base = *segments.keys().next().unwrap_or(&0);
        let log_start = ckpt_start.unwrap_or(first_base).max(first_base).min(leo);

        let (snap, mut producers) = ProducerStateManager::load_latest(dir, leo)
            .map_err(|e| ioe("loading producer snapshot", e))?;
        let from = snap.unwrap_or(first_base);
        if from < leo {
            let start_seg = segments
                .range(..=from)
                .next_back()
                .map_or(first_base, |(b, _)| *b);
            for seg in segments.range(start_seg..).map(|(_, s)| s) {
                seg.for_each_header(from, |h| producers.update(h))
                    .map_err(|e| ioe("replaying producer state", e))?;
            }
        }

        let (hw_tx, _) = watch::channel(leo);
        tracing::debug!(
            dir = %dir.display(),
            log_start,
            leo,
            segments = segments.len(),
            recovered_segments,
            producers = producers.len(),
            "opened partition log"
        );
        Ok(PartitionLog {
            dir: dir.to_path_buf(),
            config: RwLock::new(cfg),
            writer: Mutex::new(Writer {
                producers,
                scratch: Vec::new(),
                write_pos,
                bytes_since_index,
                rewind_pending: false,
            }),
            state: RwLock::new(State {
                segments,
                log_start,
                leo,
                hw_pos: write_pos,
            }),
            epochs: RwLock::new(epochs),
            failed: AtomicBool::new(false),
            fail_reason: Mutex::new(String::new()),
            write_suspended: AtomicBool::new(false),
            files: files.clone(),
            status: AtomicU8::new(OPEN),
            hw_tx,
            messages_appended: AtomicI64::new(0),
            messages_flushed: AtomicI64::new(0),
            flushed_offset: AtomicI64::new(leo),
            last_flush_ms: AtomicI64::new(now_ms),
            recovery_point: Mutex::new(recovery_point),
            dir_dirty: AtomicBool::new(bases.is_empty()),
            flush_lock: tokio::sync::Mutex::new(()),
        })
    }

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

    /// Marks the partition failed and returns the error to report.
    fn fail(&self, what: &str, err: std::io::Error) -> LogError {
        let msg = format!("{what} in {}: {err}", self.dir.display());
        tracing::error!(error = %msg, "partition log failed; it stays offline until reopened");
        *lock(&self.fail_reason) = msg.clone();
        self.failed.store(true, Ordering::Release);
        LogError::Storage(msg)
    }

    /// A write-path error. Fail-stop, unless it is one after which nothing durable was lost
    /// (full disk or quota, no descriptor): then the active segment is cut back to `write_pos`
    /// and the index `mark`, and the append is refused without failing the partition. Call
    /// with the writer lock held, before anything of the append was published.
    fn write_error(
        &self,
        w: &mut Writer,
        active: &Segment,
        mark: (usize, usize),
        what: &str,
        err: std::io::Error,
    ) -> LogError {
        if !is_retryable_write_error(&err) {
            return self.fail(what, err);
        }
        if let Err(e) = active.rewind(w.write_pos, mark) {
            if !is_retryable_write_error(&e) {
                return self.fail("cutting off a failed write", e);
            }
            w.rewind_pending = true;
        }
        self.suspend(what, &err)
    }

    /// Refuses one append after a retryable write error (see `write_error`).
    fn suspend(&self, what: &str, err: &std::io::Error) -> LogError {
        let why = if is_no_space(err) {
            "out of disk space"
        } else {
            "out of file descriptors"
        };
        let msg = format!(
            "{what} in {}: {err} ({why}); nothing was written, reads still work and the next \
             write retries",
            self.dir.display()
        );
        if !self.write_suspended.swap(true, Ordering::AcqRel) {
            tracing::warn!(error = %msg, "partition refuses writes until space is available");
        }
        LogError::Storage(msg)
    }

    /// Retries cutting off an earlier failed write before anything else is written.
    fn finish_rewind(&self, w: &mut Writer) -> Result<(), LogError> {
        if !w.rewind_pending {
            return Ok(());
        }
        let active = Arc::clone(read_lock(&self.state).active());
        match active.rewind(w.write_pos, active.index_mark()) {
            Ok(()) => {
                w.rewind_pending = false;
                Ok(())
            }
            Err(e) if is_retryable_write_error(&e) => {
                Err(self.suspend("cutting off a failed write", &e))
            }
            Err(e) => Err(self.fail("cutting off a failed write", e)),
        }
    }

    /// Whether the last append was refused for lack of space or descriptors (the partition is
    /// readable and retries writes; see the module docs).
    pub fn is_write_suspended(&self) -> bool {
        self.write_suspended.load(Ordering::Acquire)
    }

    /// Errors if the partition is failed, closed or deleted.
    fn check_usable(&self) -> Result<(), LogError> {
        match self.status.load(Ordering::Acquire) {
            CLOSED => return Err(LogError::Closed),
            DELETED => return Err(LogError::Deleted),
            _ => {}
        }
        if self.failed.load(Ordering::Acquire) {
            return Err(LogError::Storage(format!(
                "partition offline after an earlier I/O error: {}",
                lock(&self.fail_reason)
            )));
        }
        Ok(())
    }

    /// Whether the partition is failed (fail-stop after an I/O error).
    pub fn is_failed(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Appends one client batch that already passed [`super::validate_produce_batch`] (bytes
    /// exactly as the client sent them). Assigns offsets by patching BaseOffset and
    /// PartitionLeaderEpoch in a reused private copy; for LogAppendTime also sets MaxTimestamp
    /// and attribute bit 3 and recomputes the CRC (BaseTimestamp is left as sent, like Kafka).
    /// For CreateTime, checks `message.timestamp.before/after.max.ms` at batch level (base and
    /// max timestamp, not every record).
    ///
    /// Idempotence (producer id ≥ 0): see `producer_state.rs` — a retry of one of the last 5
    /// batches returns `Duplicate` with the original offsets; gaps, stale epochs and a new
    /// epoch not starting at 0 are rejected; unknown producers are accepted at any sequence
    /// (Kafka's current, KIP-360 behaviour).
    ///
    /// Rolls the segment first if the batch would overflow `segment.bytes`, the segment is older
    /// than `segment.ms`, or its index is full. Then advances the high watermark and wakes
    /// `subscribe` receivers. A new `leader_epoch` (≥ 0, above the latest) is recorded in the
    /// epoch cache. Does not fsync (see `flush` / `LogManager::flush_if_needed`).
    pub fn append(
        &self,
        batch: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendOutcome, LogError> {
        self.check_usable()?;
        let h = BatchHeader::parse(batch)?;
        if h.batch_size() != batch.len() {
            return Err(LogError::InvalidRecord(format!(
                "append expects exactly one whole batch: header says {} bytes, got {}",
                h.batch_size(),
                batch.len()
            )));
        }
        let cfg = self.config();
        if batch.len() > cfg.max_message_bytes {
            return Err(LogError::MessageTooLarge {
                size: batch.len(),
                max: cfg.max_message_bytes,
            });
        }
        let log_append_time = match cfg.message_timestamp_type {
            TimestampType::LogAppendTime => Some(now_ms),
            TimestampType::CreateTime => {
                if now_ms.saturating_sub(h.base_timestamp) > cfg.message_timestamp_before_max_ms {
                    return Err(LogError::InvalidTimestamp {
                        timestamp: h.base_timestamp,
                        now: now_ms,
                    });
                }
                if h.max_timestamp.saturating_sub(now_ms) > cfg.message_timestamp_after_max_ms {
                    return Err(LogError::InvalidTimestamp {
                        timestamp: h.max_timestamp,
                        now: now_ms,
                    });
                }
                None
            }
        };

        let mut guard = lock(&self.writer);
        let w = &mut *guard;
        self.check_usable()?;
        self.finish_rewind(w)?;
        if let SeqCheck::Duplicate(b) = w.producers.check(&h)? {
            return Ok(AppendOutcome::Duplicate {
                base_offset: b.first_offset,
                last_offset: b.last_offset,
                log_start_offset: self.log_start_offset(),
            });
        }

        let (leo, mut active) = {
            let s = read_lock(&self.state);
            (s.leo, Arc::clone(s.active()))
        };
        let size = batch.len() as u64;
        let meta = active.meta();
        let need_roll = w.write_pos > 0
            && (w.write_pos + size > cfg.effective_segment_bytes()
                // Kafka's segment.ms rule: the incoming batch's timestamp against the first
                // batch's, so producers with old CreateTime timestamps do not roll every batch.
                || (meta.rolling_timestamp >= 0
                    && log_append_time
                        .unwrap_or(h.max_timestamp)
                        .saturating_sub(meta.rolling_timestamp)
                        > cfg.segment_ms)
                || active.index_entries() >= cfg.max_index_entries()
                || leo + i64::from(h.last_offset_delta) - active.base_offset > i64::from(i32::MAX));
        if need_roll {
            active = self.roll(w, leo)?;
        }

        w.scratch.clear();
        w.scratch.extend_from_slice(batch);
        patch_for_append(&mut w.scratch, leo, leader_epoch, log_append_time);
        let pos = w.write_pos;
        let mark = active.index_mark();
        let since = w.bytes_since_index;
        if let Err(e) = active.write_at(&w.scratch, pos) {
            return Err(self.write_error(w, &active, mark, "writing batch", e));
        }
        if let Err(e) = active.index_batch(
            pos,
            leo,
            size,
            &mut w.bytes_since_index,
            cfg.index_interval_bytes,
        ) {
            w.bytes_since_index = since;
            return Err(self.write_error(w, &active, mark, "writing index", e));
        }
        let fin = BatchHeader {
            base_offset: leo,
            partition_leader_epoch: leader_epoch,
            max_timestamp: log_append_time.unwrap_or(h.max_timestamp),
            ..h
        };
        {
            let mut ep = write_lock(&self.epochs);
            if ep.assign(leader_epoch, leo) {
                if let Err(e) = ep.persist(&self.dir) {
                    // Undo the assignment: the epoch starts at `leo`, nothing else does.
                    ep.truncate_from_end(leo);
                    drop(ep);
                    w.bytes_since_index = since;
                    return Err(self.write_error(
                        w,
                        &active,
                        mark,
                        "writing leader-epoch-checkpoint",
                        e,
                    ));
                }
            }
        }
        w.producers.update(&fin);
        w.write_pos += size;
        let new_leo = fin.last_offset() + 1;
        let log_start = {
            let mut s = write_lock(&self.state);
            active.observe(leo, fin.max_timestamp);
            active.set_size(w.write_pos);
            s.leo = new_leo;
            s.hw_pos = w.write_pos;
            s.log_start
        };
        self.messages_appended
            .fetch_add(i64::from(h.records_count.max(0)), Ordering::AcqRel);
        self.hw_tx.send_replace(new_leo);
        if self.write_suspended.swap(false, Ordering::AcqRel) {
            tracing::info!(dir = %self.dir.display(), "partition accepts writes again");
        }
        Ok(AppendOutcome::Appended {
            base_offset: leo,
            last_offset: fin.last_offset(),
            log_append_time: log_append_time.unwrap_or(-1),
            log_start_offset: log_start,
        })
    }

    /// Seals the active segment, snapshots producer state at `leo` and starts a new segment.
    /// A full disk at any step leaves the old segment active (cut back to its last good
    /// position) and refuses the append; the next append rolls again.
    fn roll(&self, w: &mut Writer, leo: i64) -> Result<Arc<Segment>, LogError> {
        let old = Arc::clone(read_lock(&self.state).active());
        let mark = old.index_mark();
        if let Err(e) = old.seal() {
            return Err(self.write_error(w, &old, mark, "sealing segment", e));
        }
        if let Err(e) = w.producers.write_snapshot(&self.dir, leo) {
            return Err(self.write_error(
                w,
                &old,
                old.index_mark(),
                "writing producer snapshot",
                e,
            ));
        }
        let seg = match Segment::create(&self.dir, leo, &self.files) {
            Ok(s) => Arc::new(s),
            Err(e) => {
                return Err(self.write_error(w, &old, old.index_mark(), "creating segment", e))
            }
        };
        // Marked before the segment becomes visible: a flush that sees the new segment (and
        // may put the recovery point in it) also fsyncs the directory entry.
        self.dir_dirty.store(true, Ordering::Release);
        {
            let mut s = write_lock(&self.state);
            s.segments.insert(leo, Arc::clone(&seg));
            s.hw_pos = 0;
        }
        // Sealed: its descriptor goes back to the cache's budget (reads reopen it on demand).
        old.unpin();
        w.write_pos = 0;
        w.bytes_since_index = 0;
        tracing::debug!(dir = %self.dir.display(), base_offset = leo, "rolled segment");
        Ok(seg)
    }

    /// Reads whole batches starting with the batch that contains `offset`, never past the high
    /// watermark, from one segment. At most `max_bytes`, except that with `min_one` the first
    /// batch is returned even if it is larger (Kafka's fetch semantics). `offset` below the log
    /// start or above the log end → `OffsetOutOfRange`; `offset == log end` → empty. Below the
    /// high watermark the batch holding `offset` must be found intact (header, length, dense
    /// offsets, index entry; `verify.rs`): damage is `CorruptMessage`, never an empty read that
    /// would stall the consumer. The bytes come straight from the file with one `pread` (two if
    /// the first batch exceeds `max_bytes`), without holding the writer lock.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one: bool,
    ) -> Result<ReadResult, LogError> {
        self.check_usable()?;
        let (seg, end_pos, hw, log_start) = {
            let s = read_lock(&self.state);
            if offset < s.log_start || offset > s.leo {
                return Err(LogError::OffsetOutOfRange {
                    requested: offset,
                    start: s.log_start,
                    end: s.leo,
                });
            }
            if offset == s.leo {
                return Ok(ReadResult {
                    records: FileSlice::default(),
                    high_watermark: s.leo,
                    log_start_offset: s.log_start,
                });
            }
            let Some((_, seg)) = s.segments.range(..=offset).next_back() else {
                return Err(LogError::OffsetOutOfRange {
                    requested: offset,
                    start: s.log_start,
                    end: s.leo,
                });
            };
            (Arc::clone(seg), s.end_pos(seg), s.leo, s.log_start)
        };
        let rerr = |e| LogError::io(format!("reading {}", self.dir.display()), e);
        let empty = ReadResult {
            records: FileSlice::default(),
            high_watermark: hw,
            log_start_offset: log_start,
        };
        // `offset` is below the high watermark, so this segment must hold it (offsets are
        // dense and each segment ends where the next begins).
        let (pos, h) = match seg.locate(offset, end_pos) {
            Ok(Some(found)) => found,
            Ok(None) => {
                return Err(LogError::CorruptMessage(format!(
                    "offset {offset} is below the high watermark {hw} but {} ends before it",
                    seg.log_path().display()
                )));
            }
            Err(Fault::Io(e)) => return Err(rerr(e)),
            Err(Fault::Corrupt(why)) => return Err(LogError::CorruptMessage(why)),
        };
        let file = seg.log_file().map_err(rerr)?;
        let first = h.batch_size();
        let (end, next) = if first > max_bytes {
            if !min_one {
                return Ok(empty);
            }
            (pos + first as u64, h.last_offset() + 1)
        } else {
            let limit = pos + (max_bytes as u64).min(end_pos - pos);
            seg.whole_batches_end(&file, pos, &h, limit).map_err(rerr)?
        };
        Ok(ReadResult {
            records: FileSlice::new(file, pos, (end - pos) as usize, h.base_offset, next),
            high_watermark: hw,
            log_start_offset: log_start,
        })
    }

    /// First offset of the log (advanced by retention and DeleteRecords).
    pub fn log_start_offset(&self) -> i64 {
        read_lock(&self.state).log_start
    }

    /// Offset the next appended record will get.
    pub fn log_end_offset(&self) -> i64 {
        read_lock(&self.state).leo
    }

    /// High watermark; equals the log end offset (single replica, no follower to wait for).
    pub fn high_watermark(&self) -> i64 {
        read_lock(&self.state).leo
    }

    /// Total bytes of all segment `.log` files.
    pub fn size_bytes(&self) -> u64 {
        read_lock(&self.state)
            .segments
            .values()
            .map(|s| s.size())
            .sum()
    }

    /// The sealed (immutable) segments, oldest first: what the scrubber checks.
    pub(crate) fn sealed_segments(&self) -> Vec<Arc<Segment>> {
        let s = read_lock(&self.state);
        let n = s.segments.len().saturating_sub(1);
        s.segments.values().take(n).cloned().collect()
    }

    /// The idempotent producers this partition tracks (DescribeProducers), by producer id.
    /// Takes the writer lock for the copy only.
    pub fn active_producers(&self) -> Result<Vec<ActiveProducer>, LogError> {
        self.check_usable()?;
        Ok(lock(&self.writer).producers.active())
    }

    /// Number of segments (including the active one).
    pub fn segment_count(&self) -> usize {
        read_lock(&self.state).segments.len()
    }

    /// A `watch` receiver of the high watermark, for long-poll fetches.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.hw_tx.subscribe()
    }

    /// ListOffsets by timestamp: the first batch (at or after the log start) whose MaxTimestamp
    /// is ≥ `ts`, found via segment max timestamps, the time index, then a header scan within
    /// one segment. Batch-level approximation: returns `(batch base offset (clamped to the log
    /// start), batch MaxTimestamp)`, not the exact record — records before the matching one in
    /// the same batch may be older than `ts`. `None` if no batch qualifies.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, LogError> {
        self.check_usable()?;
        let (segs, log_start) = {
            let s = read_lock(&self.state);
            let v: Vec<_> = s
                .segments
                .values()
                .map(|seg| (Arc::clone(seg), s.end_pos(seg)))
                .collect();
            (v, s.log_start)
        };
        for (seg, end) in segs {
            if seg.meta().max_timestamp < ts {
                continue;
            }
            let found = seg
                .find_timestamp(ts, log_start, end)
                .map_err(|e| LogError::io(format!("reading {}", self.dir.display()), e))?;
            if let Some(h) = found {
                return Ok(Some((h.base_offset.max(log_start), h.max_timestamp)));
            }
        }
        Ok(None)
    }

    /// ListOffsets MAX_TIMESTAMP (-3): `(offset, timestamp)` of the batch with the largest
    /// MaxTimestamp (the earliest such batch on ties). Batch-level approximation: the offset is
    /// that batch's base offset (clamped to the log start), not the exact record's. For sealed
    /// segments without time index entries the file mtime stands in, as in Kafka.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        self.check_usable()?;
        let s = read_lock(&self.state);
        let mut best: Option<(i64, i64)> = None;
        for seg in s.segments.values() {
            let m = seg.meta();
            if m.max_timestamp >= 0 && best.is_none_or(|(_, t)| m.max_timestamp > t) {
                best = Some((m.offset_of_max_timestamp.max(s.log_start), m.max_timestamp));
            }
        }
        Ok(best)
    }

    /// ListOffsets by timestamp, exact: the first record (at or after the log start) whose
    /// timestamp is ≥ `ts`, as `(offset, timestamp)`, like Kafka. The batch comes from
    /// [`Self::offset_for_timestamp`]; its records are then walked as a stream and the walk stops
    /// at the first match (see [`Self::refine_to_record`]). Blocking: reads a file and may
    /// decompress; call from a blocking thread.
    pub fn offset_for_timestamp_exact(
        &self,
        ts: i64,
        budget: &mut usize,
    ) -> Result<Option<(i64, i64)>, LogError> {
        Ok(self
            .offset_for_timestamp(ts)?
            .map(|found| self.refine_to_record(found, |t| t >= ts, budget)))
    }

    /// ListOffsets MAX_TIMESTAMP, exact: the first record carrying the largest timestamp, found
    /// like [`Self::offset_for_timestamp_exact`]. Blocking.
    pub fn max_timestamp_exact(&self, budget: &mut usize) -> Result<Option<(i64, i64)>, LogError> {
        Ok(self
            .max_timestamp()?
            .map(|found| self.refine_to_record(found, |t| t >= found.1, budget)))
    }

    /// Turns a batch-level answer `(offset in the batch, batch MaxTimestamp)` into the first
    /// record at or after that offset whose timestamp satisfies `hit`. LogAppendTime batches
    /// need no walk (every record has the batch's timestamp). A compressed batch inflates at
    /// most `*budget` bytes, which is charged (an uncompressed one its size); when the budget is spent, or the batch cannot be
    /// read or walked, the batch-level answer stands (it is never later than the exact one).
    pub fn refine_to_record(
        &self,
        (offset, batch_ts): (i64, i64),
        hit: impl Fn(i64) -> bool,
        budget: &mut usize,
    ) -> (i64, i64) {
        let fallback = (offset, batch_ts);
        let Ok(batch) = self.read(offset, 1, true).and_then(|r| {
            r.records
                .to_bytes()
                .map_err(|e| LogError::io(format!("reading {}", self.dir.display()), e))
        }) else {
            return fallback;
        };
        let Ok(h) = BatchHeader::parse(&batch) else {
            return fallback;
        };
        if h.is_control() || h.timestamp_type() == BatchTimestampType::LogAppendTime {
            return fallback;
        }
        if *budget == 0 {
            return fallback;
        }
        let limit = (*budget).min(records::MAX_INFLATED);
        match records::first_record_at_or_after(&batch, &h, offset, limit, hit) {
            Ok((found, inflated)) => {
                // An uncompressed walk costs its batch; a compressed one what it inflated.
                let cost = match h.compression() {
                    Compression::None => batch.len(),
                    _ => inflated,
                };
                *budget = budget.saturating_sub(cost);
                found.unwrap_or(fallback)
            }
            Err(e) => {
                *budget = budget.saturating_sub(limit);
                tracing::debug!(dir = %self.dir.display(), offset, error = %e,
                    "exact timestamp lookup fell back to the batch");
                fallback
            }
        }
    }

    /// DeleteRecords: advances the log start offset to `offset` (`-1` means the high
    /// watermark), which must be ≤ the high watermark, persists it in `log-start-offset` so it
    /// survives restart, and deletes segments wholly below it. Returns the new log start offset
    /// (unchanged if `offset` is not above it).
    pub fn delete_records_before(&self, offset: i64) -> Result<i64, LogError> {
        self.check_usable()?;
        let _w = lock(&self.writer);
        self.check_usable()?;
        let (log_start, hw) = {
            let s = read_lock(&self.state);
            (s.log_start, s.leo)
        };
        let offset = if offset == -1 { hw } else { offset };
        if offset < 0 || offset > hw {
            return Err(LogError::OffsetOutOfRange {
                requested: offset,
                start: log_start,
                end: hw,
            });
        }
        if offset <= log_start {
            return Ok(log_start);
        }
        if let Err(e) = checkpoint::write_log_start(&self.dir, offset) {
            // Nothing changed yet, so a full disk only refuses this request.
            if is_retryable_write_error(&e) {
                return Err(self.suspend("writing log-start-offset", &e));
            }
            return Err(self.fail("writing log-start-offset", e));
        }
        let removed = {
            let mut s = write_lock(&self.state);
            s.log_start = offset;
            Self::remove_prefix(&mut s, |seg, next_base, _| {
                let _ = seg;
                next_base <= offset
            })
        };
        self.delete_segment_files(&removed);
        Ok(offset)
    }

    /// Removes the longest prefix of sealed segments for which `pred(segment, next_base,
    /// bytes_remaining)` holds; returns them. Never removes the active segment.
    fn remove_prefix(
        s: &mut State,
        mut pred: impl FnMut(&Segment, i64, u64) -> bool,
    ) -> Vec<Arc<Segment>> {
        let mut total: u64 = s.segments.values().map(|x| x.size()).sum();
        let bases: Vec<i64> = s.segments.keys().copied().collect();
        let mut removed = Vec::new();
        for pair in bases.windows(2) {
            let seg = &s.segments[&pair[0]];
            if !pred(seg, pair[1], total) {
                break;
            }
            total -= seg.size();
            removed.push(pair[0]);
        }
        let removed: Vec<_> = removed
            .iter()
            .filter_map(|b| s.segments.remove(b))
            .collect();
        if let Some(&first) = s.segments.keys().next() {
            s.log_start = s.log_start.max(first);
        }
        removed
    }

    fn delete_segment_files(&self, segs: &[Arc<Segment>]) {
        if !segs.is_empty() {
            // The unlinks become durable with the next flush's directory fsync.
            self.dir_dirty.store(true, Ordering::Release);
        }
        for seg in segs {
            if let Err(e) = seg.delete_files() {
                tracing::warn!(dir = %self.dir.display(), base = seg.base_offset, error = %e,
                    "could not delete segment files");
            } else {
                tracing::info!(dir = %self.dir.display(), base = seg.base_offset, "deleted segment");
            }
        }
    }

    /// Retention: deletes the oldest sealed segments while any of these holds for the oldest
    /// one: it lies wholly below the log start offset; its largest timestamp is older than
    /// `now_ms - retention.ms` (when ≥ 0); the log minus this segment is still ≥
    /// `retention.bytes` (when ≥ 0). The active segment is never deleted (Kafka would roll an
    /// expired active segment first; we wait for the next roll). Also expires idle producer
    /// state (`PRODUCER_ID_EXPIRATION_MS`). Returns the number of segments deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, LogError> {
        self.check_usable()?;
        let cfg = self.config();
        let mut w = lock(&self.writer);
        self.check_usable()?;
        w.producers
            .remove_expired(now_ms, PRODUCER_ID_EXPIRATION_MS);
        let removed = {
            let mut s = write_lock(&self.state);
            let log_start = s.log_start;
            Self::remove_prefix(&mut s, |seg, next_base, total| {
                let by_start = next_base <= log_start;
                let by_time = cfg.retention_ms >= 0
                    && now_ms.saturating_sub(seg.meta().max_timestamp) > cfg.retention_ms;
                let by_size = cfg.retention_bytes >= 0
                    && total.saturating_sub(seg.size()) >= cfg.retention_bytes as u64;
                by_start || by_time || by_size
            })
        };
        drop(w);
        self.delete_segment_files(&removed);
        Ok(removed.len())
    }

    /// fsync of every segment written since the last flush (normally only the active one and a
    /// just-sealed one), their indexes, and the directory if segments were created or deleted.
    /// Does not block appends. Returns the offset up to which the log is durable. Blocking: call
    /// from a blocking thread. An fsync error fails the partition (never retried).
    pub fn flush(&self) -> Result<i64, LogError> {
        self.flush_at(now_wall_ms())
    }

    /// [`PartitionLog::flush`] started at `now_ms` (the caller's clock), which becomes
    /// [`PartitionLog::last_flush_ms`]: everything appended before `now_ms` is durable once it
    /// returns, so the `flush.ms` schedule is measured from the start of a flush, not its end.
    pub fn flush_at(&self, now_ms: i64) -> Result<i64, LogError> {
        self.check_usable()?;
        self.flush_inner(now_ms)
    }

    fn flush_inner(&self, started_ms: i64) -> Result<i64, LogError> {
        let appended = self.messages_appended.load(Ordering::Acquire);
        let (segs, leo) = {
            let s = read_lock(&self.state);
            (s.segments.values().cloned().collect::<Vec<_>>(), s.leo)
        };
        for seg in &segs {
            match seg.sync() {
                Ok(()) => {}
                // Nothing was fsynced and nothing lost: the next flush tries again.
                Err(SyncError::Open(e)) => {
                    if self.status.load(Ordering::Acquire) == DELETED {
                        return Err(LogError::Deleted);
                    }
                    return Err(LogError::io(
                        format!("opening a segment file to fsync in {}", self.dir.display()),
                        e,
                    ));
                }
                Err(SyncError::Fsync(e)) => {
                    return Err(self.fail_unless_deleted("fsync of segment", e))
                }
            }
        }
        if self.dir_dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = checkpoint::sync_dir(&self.dir) {
                self.dir_dirty.store(true, Ordering::Release);
                return Err(self.fail_unless_deleted("fsync of partition directory", e));
            }
        }
        if let Some(active) = segs.last() {
            self.advance_recovery_point(active.base_offset, leo)?;
        }
        self.flushed_offset.fetch_max(leo, Ordering::AcqRel);
        self.messages_flushed.fetch_max(appended, Ordering::AcqRel);
        self.last_flush_ms.store(started_ms, Ordering::Release);
        Ok(self.flushed_offset.load(Ordering::Acquire))
    }

    /// A flush made everything below `flushed` durable; `active_base` is the base of the
    /// newest segment it covered. Rewrites `recovery-point` only if the recorded point lies in
    /// an older segment (recovery works segment by segment, so a point inside the active
    /// segment is as good as any later one): about once per roll, not once per flush.
    fn advance_recovery_point(&self, active_base: i64, flushed: i64) -> Result<(), LogError> {
        let mut rp = lock(&self.recovery_point);
        if *rp >= active_base || flushed <= *rp {
            return Ok(());
        }
        if let Err(e) = checkpoint::write_recovery_point(&self.dir, flushed) {
            return Err(self.fail_unless_deleted("writing recovery-point", e));
        }
        *rp = flushed;
        Ok(())
    }

    /// The recovery point last written to disk (`i64::MIN` if none yet).
    pub fn recovery_point(&self) -> i64 {
        *lock(&self.recovery_point)
    }

    /// Like `fail`, but an I/O error on a partition whose topic is being deleted (its directory
    /// renamed and removed under a running flush) is just `Deleted`, not a storage failure.
    fn fail_unless_deleted(&self, what: &str, err: std::io::Error) -> LogError {
        if self.status.load(Ordering::Acquire) == DELETED {
            return LogError::Deleted;
        }
        self.fail(what, err)
    }

    /// Offset below which everything is fsynced (as of the last flush).
    pub fn flushed_offset(&self) -> i64 {
        self.flushed_offset.load(Ordering::Acquire)
    }

    /// Records appended since the last flush.
    pub fn unflushed_messages(&self) -> i64 {
        self.messages_appended.load(Ordering::Acquire)
            - self.messages_flushed.load(Ordering::Acquire)
    }

    /// Wall-clock time of the last successful flush (open time before the first one).
    pub fn last_flush_ms(&self) -> i64 {
        self.last_flush_ms.load(Ordering::Acquire)
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

    /// Clean shutdown: flush, write a producer state snapshot at the log end and the
    /// clean-shutdown marker, then refuse further calls (`LogError::Closed`). A failed partition
    /// is closed without a marker so the next open recovers it.
    pub fn close(&self) -> Result<(), LogError> {
        let w = lock(&self.writer);
        if self.status.load(Ordering::Acquire) != OPEN {
            return Ok(());
        }
        let result = if self.failed.load(Ordering::Acquire) {
            Ok(())
        } else {
            self.close_inner(&w)
        };
        self.status.store(CLOSED, Ordering::Release);
        result
    }

    fn close_inner(&self, w: &Writer) -> Result<(), LogError> {
        let leo = self.flush_inner(now_wall_ms())?;
        if let Err(e) = w.producers.write_snapshot(&self.dir, leo) {
            return Err(self.fail("writing producer snapshot", e));
        }
        let active = Arc::clone(read_lock(&self.state).active());
        let (index_size, time_index_size) = active.index_file_lens();
        let m = active.meta();
        let marker = CleanMarker {
            active_base: active.base_offset,
            log_size: w.write_pos,
            index_size,
            time_index_size,
            log_end_offset: leo,
            max_timestamp: m.max_timestamp,
            offset_of_max_timestamp: m.offset_of_max_timestamp,
            rolling_timestamp: m.rolling_timestamp,
        };
        if let Err(e) = marker.write(&self.dir) {
            return Err(self.fail("writing clean-shutdown marker", e));
        }
        Ok(())
    }

    /// Marks the log deleted (its directory is being removed): every later call returns
    /// `LogError::Deleted`.
    pub(crate) fn mark_deleted(&self) {
        let _w = lock(&self.writer);
        self.status.store(DELETED, Ordering::Release);
    }
}

#[cfg(test)]
mod fault_tests;
#[cfg(test)]
mod recovery_tests;
#[cfg(test)]
mod tests;
