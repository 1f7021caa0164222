//! Opening and closing a `PartitionLog`: `open` finishes an interrupted cleaner swap
//! (`cleaner/swap.rs`), scans the directory (removing leftovers),
//! hands the segments to `recovery.rs`, rebuilds producer state (with open transactions and
//! the aborted-transaction indexes, `txn.rs`) and the epoch cache, and
//! builds the in-memory state; `close` flushes, snapshots producer state and writes the
//! clean-shutdown marker; `mark_deleted` retires a log whose directory is going away.
//!
//! Invariants: an opened log has at least one segment, and its log end offset, write position
//! and high-watermark position agree with what recovery found on disk; a clean-shutdown marker
//! is written only by a close of a log that is not failed (so the next open of a failed one
//! recovers it); after `close` or `mark_deleted` appends, reads, retention and flushes answer
//! `Closed` / `Deleted`.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;

use super::txn::load_producers;
use super::{now_wall_ms, PartitionLog, State, Writer, CLOSED, DELETED, OPEN};
use crate::log::checkpoint::{self, CleanMarker};
use crate::log::config::LogConfig;
use crate::log::epoch_cache::LeaderEpochCache;
use crate::log::error::LogError;
use crate::log::files::LogFiles;
use crate::log::recovery::{load_segments, Loaded};
use crate::log::segment::{Segment, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::log::txn_index::TXN_INDEX_SUFFIX;
use crate::log::{lock, read_lock};

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
        } else if (ext == INDEX_SUFFIX || ext == TIME_INDEX_SUFFIX || ext == TXN_INDEX_SUFFIX)
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
        crate::log::cleaner::swap::complete_pending(dir)
            .map_err(|e| ioe("finishing an interrupted cleaner swap", e))?;
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

        let (producers, txns) =
            load_producers(dir, &segments, leo).map_err(|e| ioe("rebuilding producer state", e))?;

        let progress = crate::log::cleaner::checkpoint::read(dir)
            .map_err(|e| ioe("reading cleaner-offset", e))?;
        let (hw_tx, _) = watch::channel(leo);
        let (leo_tx, _) = watch::channel(leo);
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
                idle_since: None,
            }),
            state: RwLock::new(State {
                segments,
                log_start,
                leo,
                hw: leo,
                leo_pos: write_pos,
                txns,
            }),
            epochs: RwLock::new(epochs),
            failed: AtomicBool::new(false),
            fail_reason: Mutex::new(String::new()),
            write_suspended: AtomicBool::new(false),
            files: files.clone(),
            status: AtomicU8::new(OPEN),
            hw_follows_leo: AtomicBool::new(true),
            hw_tx,
            leo_tx,
            messages_appended: AtomicI64::new(0),
            messages_flushed: AtomicI64::new(0),
            flushed_offset: AtomicI64::new(leo),
            last_flush_ms: AtomicI64::new(now_ms),
            recovery_point: Mutex::new(recovery_point),
            dir_dirty: AtomicBool::new(bases.is_empty()),
            cleaner_offset: AtomicI64::new(progress.map_or(log_start, |p| p.first_dirty)),
            cleaned_below: AtomicI64::new(progress.map_or(i64::MIN, |p| p.cleaned_below)),
            tombstones_due: AtomicI64::new(progress.map_or(i64::MAX, |p| p.tombstones_due_ms)),
            flush_lock: tokio::sync::Mutex::new(()),
        })
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
