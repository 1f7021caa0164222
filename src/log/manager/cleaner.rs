//! The log cleaner's background threads (Kafka's `CleanerThread`s): each repeatedly picks the
//! dirtiest due partition among those whose `cleanup.policy` compacts and runs one pass over it
//! (`cleaner/pass.rs`), or sleeps `log.cleaner_backoff_ms` when none is due. The same scan
//! first rolls the idle active segment of each compacted partition once it is older than its
//! roll time (`PartitionLog::roll_if_idle`), so a topic that stopped receiving records still
//! gets compacted.
//!
//! Threads are tokio tasks that run each pass on a blocking thread. Settings reach a partition
//! through its `LogConfig`, read at every pick, so a topic switched to `compact` (AlterConfigs)
//! is cleaned without a restart. A broker with no compacted topic pays one scan of its
//! partition list's configs per backoff and nothing on the request path.
//!
//! Invariants: two threads never clean one partition at once (`busy`); a partition whose pass
//! found a damaged batch is not picked again until restart (logged at ERROR and counted), and
//! nothing of it is changed; at shutdown a running pass stops between batches and the tasks
//! return. Memory: each thread's offset map gets `dedupe_buffer_bytes / threads`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::background::Clock;
use super::LogManager;
use crate::log::cleaner::pass::plan_of;
use crate::log::cleaner::{clean, CleanError, PassOptions, Throttle};
use crate::log::error::LogError;
use crate::log::lock;

/// Settings of the log cleaner (the broker's `[log]` section).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CleanerConfig {
    /// Cleaner threads (`log.cleaner.threads`); 0 turns compaction off. Default 1.
    pub threads: usize,
    /// Sleep when no partition is due (`log.cleaner.backoff.ms`). Default 15000.
    pub backoff_ms: u64,
    /// Read rate limit shared by all threads (`log.cleaner.io.max.bytes.per.second`);
    /// `u64::MAX` = unlimited (the default).
    pub io_max_bytes_per_second: u64,
    /// Total offset map memory (`log.cleaner.dedupe.buffer.size`). Default 128 MiB.
    pub dedupe_buffer_bytes: usize,
}

impl Default for CleanerConfig {
    fn default() -> Self {
        CleanerConfig {
            threads: 1,
            backoff_ms: 15_000,
            io_max_bytes_per_second: u64::MAX,
            dedupe_buffer_bytes: 128 << 20,
        }
    }
}

/// Counters and per-partition state of the cleaner, for metrics.
#[derive(Debug, Default)]
pub struct CleanerStats {
    passes: AtomicU64,
    bytes_read: AtomicU64,
    bytes_written: AtomicU64,
    records_removed: AtomicU64,
    errors: AtomicU64,
    /// (topic, partition) → what the cleaner knows of it. Only partitions whose policy
    /// compacts, as of the last look (a deleted topic, or one switched back to `delete`,
    /// drops out), so the map and its metric series stay bounded by the live partitions.
    partitions: Mutex<HashMap<(String, i32), PartitionCleaning>>,
    /// Partitions being cleaned now.
    busy: Mutex<HashSet<PathBuf>>,
    /// Partitions not cleaned again until restart (damaged batch).
    uncleanable: Mutex<HashSet<PathBuf>>,
}

/// A copy of the cleaner's counters.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CleanerSnapshot {
    /// Passes that cleaned a partition.
    pub passes: u64,
    /// Bytes read by passes.
    pub bytes_read: u64,
    /// Bytes of cleaned segments written.
    pub bytes_written: u64,
    /// Records removed.
    pub records_removed: u64,
    /// Passes that failed (damaged batch, I/O error, dedupe buffer too small).
    pub errors: u64,
    /// Per compacted partition, sorted by (topic, partition).
    pub partitions: Vec<PartitionCleaning>,
}

/// The cleaner's figures of one compacted partition.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PartitionCleaning {
    /// Topic name.
    pub topic: String,
    /// Partition index.
    pub partition: i32,
    /// Dirty bytes / (clean + dirty bytes) at the last look (0 right after a pass).
    pub dirty_ratio: f64,
    /// Wall time of the last pass that cleaned it, ms; -1 if none since start-up.
    pub last_clean_ms: i64,
    /// Passes that cleaned it since start-up.
    pub passes: u64,
    /// Bytes those passes read.
    pub bytes_read: u64,
    /// Bytes of cleaned segments those passes wrote.
    pub bytes_written: u64,
    /// Records those passes removed.
    pub records_removed: u64,
}

impl PartitionCleaning {
    fn new(topic: String, partition: i32) -> Self {
        PartitionCleaning {
            topic,
            partition,
            last_clean_ms: -1,
            ..PartitionCleaning::default()
        }
    }
}

impl CleanerStats {
    /// A copy of the counters, partitions sorted.
    pub fn snapshot(&self) -> CleanerSnapshot {
        let mut partitions: Vec<_> = lock(&self.partitions).values().cloned().collect();
        partitions.sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        CleanerSnapshot {
            passes: self.passes.load(Ordering::Relaxed),
            bytes_read: self.bytes_read.load(Ordering::Relaxed),
            bytes_written: self.bytes_written.load(Ordering::Relaxed),
            records_removed: self.records_removed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            partitions,
        }
    }
}

impl LogManager {
    /// The cleaner's counters.
    pub fn cleaner_stats(&self) -> CleanerSnapshot {
        self.cleaner.snapshot()
    }

    /// Spawns `cfg.threads` cleaner tasks; they stop when `shutdown` fires (a running pass
    /// stops between batches).
    pub(super) fn spawn_cleaner(
        self: &Arc<Self>,
        cfg: CleanerConfig,
        shutdown: watch::Receiver<bool>,
        clock: Clock,
    ) -> Vec<JoinHandle<()>> {
        if cfg.threads == 0 {
            return Vec::new();
        }
        let stop = Arc::new(AtomicBool::new(false));
        let throttle = (cfg.io_max_bytes_per_second != u64::MAX)
            .then(|| Arc::new(Throttle::new(cfg.io_max_bytes_per_second)));
        let mut handles = Vec::with_capacity(cfg.threads + 1);
        {
            let stop = Arc::clone(&stop);
            let mut rx = shutdown.clone();
            handles.push(tokio::spawn(async move {
                while !*rx.borrow() {
                    if rx.changed().await.is_err() {
                        break;
                    }
                }
                stop.store(true, Ordering::Release);
            }));
        }
        for _ in 0..cfg.threads {
            let mgr = Arc::clone(self);
            let stop = Arc::clone(&stop);
            let throttle = throttle.clone();
            let clock = Arc::clone(&clock);
            let mut rx = shutdown.clone();
            handles.push(tokio::spawn(async move {
                loop {
                    if stop.load(Ordering::Acquire) || *rx.borrow() {
                        return;
                    }
                    let (m, s, t, now) = (
                        Arc::clone(&mgr),
                        Arc::clone(&stop),
                        throttle.clone(),
                        clock(),
                    );
                    let worked = tokio::task::spawn_blocking(move || {
                        m.clean_dirtiest(&cfg, t.as_deref(), &s, now)
                    })
                    .await
                    .unwrap_or(false);
                    if worked {
                        continue;
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(cfg.backoff_ms.max(1))) => {}
                        r = rx.changed() => {
                            if r.is_err() || *rx.borrow() {
                                return;
                            }
                        }
                    }
                }
            }));
        }
        handles
    }

    /// Cleans the dirtiest due compacted partition, if any; returns whether one was cleaned.
    /// Blocking.
    pub fn clean_dirtiest(
        &self,
        cfg: &CleanerConfig,
        throttle: Option<&Throttle>,
        stop: &AtomicBool,
        now_ms: i64,
    ) -> bool {
        let mut best: Option<(f64, String, i32, Arc<crate::log::PartitionLog>)> = None;
        let mut compacted = HashSet::new();
        for (topic, partition, p) in self.partitions() {
            let lc = p.config();
            if !lc.cleanup_policy.compacts() {
                continue;
            }
            compacted.insert((topic.clone(), partition));
            let dir = p.dir().to_path_buf();
            if lock(&self.cleaner.uncleanable).contains(&dir)
                || lock(&self.cleaner.busy).contains(&dir)
            {
                continue;
            }
            // A quiet partition's records wait in its active segment, which is never cleaned.
            match p.roll_if_idle(now_ms) {
                Ok(_) | Err(LogError::Closed | LogError::Deleted) => {}
                Err(e) => tracing::warn!(topic, partition, error = %e,
                    "could not roll an idle active segment for the cleaner"),
            }
            let Ok(plan) = plan_of(&p, now_ms) else {
                continue;
            };
            let ratio = plan.dirty_ratio();
            lock(&self.cleaner.partitions)
                .entry((topic.clone(), partition))
                .or_insert_with(|| PartitionCleaning::new(topic.clone(), partition))
                .dirty_ratio = ratio;
            if plan.is_due(lc.min_cleanable_dirty_ratio_ppm)
                && best.as_ref().is_none_or(|(r, ..)| ratio > *r)
            {
                best = Some((ratio, topic, partition, p));
            }
        }
        lock(&self.cleaner.partitions).retain(|k, _| compacted.contains(k));
        let Some((_, topic, partition, p)) = best else {
            return false;
        };
        let dir = p.dir().to_path_buf();
        if !lock(&self.cleaner.busy).insert(dir.clone()) {
            return false;
        }
        let opts = PassOptions {
            map_bytes: (cfg.dedupe_buffer_bytes / cfg.threads.max(1)).max(1 << 20),
            force: false,
            throttle,
            stop,
        };
        let started = std::time::Instant::now();
        let result = clean(&p, &self.files, &opts, now_ms);
        lock(&self.cleaner.busy).remove(&dir);
        let c = &self.cleaner;
        match result {
            Ok(s) if s.cleaned => {
                c.passes.fetch_add(1, Ordering::Relaxed);
                c.bytes_read.fetch_add(s.bytes_read, Ordering::Relaxed);
                c.bytes_written
                    .fetch_add(s.bytes_written, Ordering::Relaxed);
                c.records_removed
                    .fetch_add(s.records_removed, Ordering::Relaxed);
                let mut parts = lock(&c.partitions);
                let e = parts
                    .entry((topic.clone(), partition))
                    .or_insert_with(|| PartitionCleaning::new(topic.clone(), partition));
                e.dirty_ratio = 0.0;
                e.last_clean_ms = now_ms;
                e.passes += 1;
                e.bytes_read += s.bytes_read;
                e.bytes_written += s.bytes_written;
                e.records_removed += s.records_removed;
                drop(parts);
                tracing::info!(
                    topic,
                    partition,
                    dirty_ratio = s.dirty_ratio,
                    segments_replaced = s.segments_rewritten,
                    segments_written = s.segments_written,
                    read = s.bytes_read,
                    written = s.bytes_written,
                    removed = s.records_removed,
                    first_dirty = s.checkpoint,
                    took_ms = started.elapsed().as_millis() as u64,
                    "log cleaner pass"
                );
                true
            }
            Ok(_) | Err(CleanError::Stopped) => false,
            Err(e) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                if matches!(
                    e,
                    CleanError::Corrupt { .. } | CleanError::MapTooSmall { .. }
                ) {
                    lock(&c.uncleanable).insert(dir);
                    tracing::error!(topic, partition, error = %e,
                        "log cleaner stopped cleaning this partition until restart");
                } else {
                    tracing::warn!(topic, partition, error = %e, "log cleaner pass failed");
                }
                false
            }
        }
    }
}
