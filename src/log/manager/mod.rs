//! `LogManager`: owns every partition log of the broker under one data directory, creates and
//! deletes them, and runs the background flusher and retention checker.
//!
//! Start-up is lazy: `open` only checks the directory; the broker, which knows its topics and
//! their configs from the metadata store, calls `open_partition` for each (each open recovers
//! that partition, see `recovery.rs`). `scan` lists what is on disk, `existing_partitions` its
//! live partitions. Creating a partition fsyncs the data directory (in `PartitionLog::open`);
//! deleting a topic or partitions fsyncs it after the renames.
//!
//! File descriptors: all partitions share one `LogFiles` (descriptor cache + I/O seam, see
//! `files.rs`): a partition pins one descriptor (its active `.log`), everything else is opened
//! on demand within `log.max_open_segment_files`.
//!
//! Locks: `logs` is a `std::sync::RwLock` held only for map lookups/updates; `create_lock` is a
//! `std::sync::Mutex` serializing creation so two creators of one partition cannot both open it.
//! Neither is held across `.await`.
//!
//! The manager and its map live here; each file below adds the `impl LogManager` methods of
//! one concern. The fields are private to this module (so shared by its files); a helper one
//! file lends another is `pub(super)`.
//! - `dirs`        partition directory names and their states, `partition.metadata`, scans
//! - `lifecycle`   create/open, staging and activation, delete, quarantine and purge
//! - `flush`       group commit for `flush.messages` and the flusher's pass over partitions
//! - `background`  the background tasks (flusher, retention checker, scrubber) and their clock
//! - `cleaner`     the log cleaner's threads: pick the dirtiest compacted partition, clean it

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use super::error::LogError;
use super::files::LogFiles;
use super::partition::PartitionLog;
use super::read_lock;

mod background;
mod cleaner;
mod dirs;
mod flush;
mod lifecycle;

pub use background::{
    wall_clock, BackgroundConfig, Clock, SCRUB_BYTES_PER_SEC, SCRUB_ROUND_INTERVAL_MS,
    SCRUB_START_DELAY_MS,
};
pub use cleaner::{CleanerConfig, CleanerSnapshot, CleanerStats, PartitionCleaning};
pub use dirs::{
    aside_partition, read_topic_id, write_topic_id, DirScan, StagedPartition, CREATING_SUFFIX,
    DELETED_SUFFIX, ORPHAN_SUFFIX, PARTITION_METADATA_FILE, PARTITION_METADATA_MAGIC,
};

/// All partition logs of the broker. Share it as `Arc<LogManager>`.
pub struct LogManager {
    data_dir: PathBuf,
    logs: RwLock<HashMap<(String, i32), Arc<PartitionLog>>>,
    create_lock: Mutex<()>,
    files: LogFiles,
    /// Told the duration of every partition flush (the broker feeds its fsync histogram);
    /// a callback keeps this engine free of any metrics dependency.
    fsync_observer: RwLock<Option<FsyncObserver>>,
    /// Damaged sealed segments found by the scrubber since start-up (a counter for metrics).
    scrub_damage: std::sync::atomic::AtomicU64,
    /// The log cleaner's counters and bookkeeping (`cleaner.rs`).
    cleaner: CleanerStats,
}

/// Receives the duration of each partition flush (one or more fsyncs).
pub type FsyncObserver = Arc<dyn Fn(Duration) + Send + Sync>;

fn now_wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl LogManager {
    /// Opens the data directory (creating it). Leftovers of interrupted changes are left in
    /// place: the controller inspects them at boot (see [`LogManager::scan`]) before anything
    /// is removed. Partitions are opened by [`LogManager::open_partition`].
    pub fn open(data_dir: &Path) -> Result<Self, LogError> {
        Self::open_with(data_dir, LogFiles::default())
    }

    /// [`LogManager::open`] with a given descriptor cache and I/O seam, shared by every
    /// partition it opens.
    pub fn open_with(data_dir: &Path, files: LogFiles) -> Result<Self, LogError> {
        let ioe = |e| LogError::io(format!("opening data directory {}", data_dir.display()), e);
        fs::create_dir_all(data_dir).map_err(ioe)?;
        Ok(LogManager {
            data_dir: data_dir.to_path_buf(),
            logs: RwLock::new(HashMap::new()),
            create_lock: Mutex::new(()),
            files,
            fsync_observer: RwLock::new(None),
            scrub_damage: std::sync::atomic::AtomicU64::new(0),
            cleaner: CleanerStats::default(),
        })
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The descriptor cache and I/O seam shared by all partitions.
    pub fn files(&self) -> &LogFiles {
        &self.files
    }

    /// Number of open partition logs.
    pub fn partition_count(&self) -> usize {
        read_lock(&self.logs).len()
    }

    /// The open log of a partition, if any.
    pub fn get(&self, topic: &str, partition: i32) -> Option<Arc<PartitionLog>> {
        read_lock(&self.logs)
            .get(&(topic.to_string(), partition))
            .cloned()
    }

    /// Every open partition log, sorted by topic and partition.
    pub fn partitions(&self) -> Vec<(String, i32, Arc<PartitionLog>)> {
        let mut v: Vec<_> = read_lock(&self.logs)
            .iter()
            .map(|((t, p), l)| (t.clone(), *p, Arc::clone(l)))
            .collect();
        v.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        v
    }

    /// Closes every partition cleanly (flush, producer snapshot, clean-shutdown marker). Tries
    /// all of them and returns the first error.
    pub fn close_all(&self) -> Result<(), LogError> {
        let mut first = None;
        for (topic, partition, p) in self.partitions() {
            if let Err(e) = p.close() {
                tracing::error!(topic, partition, error = %e, "close failed");
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod cleaner_tests;
#[cfg(test)]
mod tests;
