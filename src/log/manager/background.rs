//! The log manager's background tasks (`spawn_background`): the flusher loop (its pass is in
//! `flush.rs`), the retention checker, the sealed-segment scrubber with its rounds, and the
//! log cleaner's threads (`cleaner.rs`).
//!
//! Background tasks run on an injected [`Clock`]: the flusher is deadline-driven (a partition
//! is fsynced once its unflushed data has waited `flush.ms` since the start of its last flush)
//! and skips partitions deleted, closed or failed under it; retention runs every
//! `retention_check_interval_ms`; a low-rate scrubber re-checks sealed segments (CRCs, offsets,
//! index entries) and reports damage, which a single broker cannot repair.
//!
//! Invariants: every task stops when the shutdown signal fires or its sender is dropped;
//! blocking work (fsync, file deletion, scrubbing reads) runs in `spawn_blocking`, never on a
//! runtime thread; a partition closed or deleted under a task is skipped quietly.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::cleaner::CleanerConfig;
use super::{now_wall_ms, LogManager};
use crate::log::error::LogError;

/// Intervals of the background tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackgroundConfig {
    /// Longest sleep of the flusher between passes (Kafka's `log.flush.scheduler.interval.ms`);
    /// it wakes earlier when a partition falls due, so this only bounds how late the first
    /// append to an idle partition is noticed; default 1000.
    pub flush_check_interval_ms: u64,
    /// How often retention runs (Kafka's `log.retention.check.interval.ms`); default 300000.
    pub retention_check_interval_ms: u64,
    /// The log cleaner (`cleaner.rs`).
    pub cleaner: CleanerConfig,
}

impl Default for BackgroundConfig {
    fn default() -> Self {
        BackgroundConfig {
            flush_check_interval_ms: 1000,
            retention_check_interval_ms: 300_000,
            cleaner: CleanerConfig::default(),
        }
    }
}

/// The scrubber reads sealed segments at most this fast, so it never competes with the
/// produce and fetch paths for disk bandwidth.
pub const SCRUB_BYTES_PER_SEC: u64 = 8 << 20;
/// Delay before the scrubber's first round, so start-up is not slowed, ms.
pub const SCRUB_START_DELAY_MS: u64 = 10 * 60 * 1000;
/// Pause between two scrubber rounds over every sealed segment, ms.
pub const SCRUB_ROUND_INTERVAL_MS: u64 = 6 * 60 * 60 * 1000;

/// The clock of the background tasks, in milliseconds (wall clock since the Unix epoch in
/// production, see [`wall_clock`]); injected so tests drive the flusher with a fake clock.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The production [`Clock`]: wall-clock milliseconds since the Unix epoch.
pub fn wall_clock() -> Clock {
    Arc::new(now_wall_ms)
}

impl LogManager {
    /// Spawns the background flusher (`flush.ms`), retention checker and scrubber on the
    /// current tokio runtime, on the wall clock. See [`LogManager::spawn_background_with_clock`].
    pub fn spawn_background(
        self: &Arc<Self>,
        bg: BackgroundConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        self.spawn_background_with_clock(bg, shutdown, wall_clock())
    }

    /// Spawns the background flusher, retention checker and sealed-segment scrubber, reading
    /// time from `clock`. All stop when `shutdown` becomes `true` or its sender is dropped.
    /// Blocking work (fsync, file deletion, scrubbing reads) runs in `spawn_blocking`. The
    /// scrubber ([`LogManager::scrub_round`]) starts `SCRUB_START_DELAY_MS` after spawning and
    /// repeats every `SCRUB_ROUND_INTERVAL_MS`, at most `SCRUB_BYTES_PER_SEC`.
    ///
    /// The flusher is deadline-driven: after each pass ([`LogManager::flush_pass`]) it sleeps
    /// until the next partition falls due (`last flush + flush.ms`), and at most
    /// `flush_check_interval_ms` (which bounds how late data arriving in an idle partition is
    /// noticed). So a partition with a steady stream of appends is fsynced every `flush.ms`,
    /// measured from the start of one flush to the start of the next.
    pub fn spawn_background_with_clock(
        self: &Arc<Self>,
        bg: BackgroundConfig,
        shutdown: watch::Receiver<bool>,
        clock: Clock,
    ) -> Vec<JoinHandle<()>> {
        let flusher = {
            let mgr = Arc::clone(self);
            let mut stop = shutdown.clone();
            let clock = Arc::clone(&clock);
            let check_ms = bg.flush_check_interval_ms.max(1);
            tokio::spawn(async move {
                loop {
                    if *stop.borrow() {
                        return;
                    }
                    let next_due = mgr.flush_pass(mgr.partitions(), clock()).await;
                    let mut wait_ms = check_ms;
                    if let Some(due) = next_due {
                        let until = due.saturating_sub(clock()).max(1);
                        wait_ms = wait_ms.min(u64::try_from(until).unwrap_or(1));
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(wait_ms)) => {}
                        r = stop.changed() => {
                            if r.is_err() || *stop.borrow() {
                                return;
                            }
                        }
                    }
                }
            })
        };
        let cleaners = self.spawn_cleaner(bg.cleaner, shutdown.clone(), Arc::clone(&clock));
        let shutdown_for_scrubber = shutdown.clone();
        let retention = {
            let mgr = Arc::clone(self);
            let mut stop = shutdown;
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(
                    bg.retention_check_interval_ms.max(1),
                ));
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                while wait_tick(&mut tick, &mut stop).await {
                    let now = clock();
                    for (topic, partition, p) in mgr.partitions() {
                        let r = tokio::task::spawn_blocking(move || p.enforce_retention(now)).await;
                        match r {
                            Ok(Ok(0)) => {}
                            Ok(Ok(n)) => tracing::info!(
                                topic,
                                partition,
                                segments = n,
                                "retention deleted segments"
                            ),
                            Ok(Err(LogError::Closed | LogError::Deleted)) => {}
                            Ok(Err(e)) => {
                                tracing::error!(topic, partition, error = %e, "retention failed")
                            }
                            Err(e) => {
                                tracing::error!(topic, partition, error = %e, "retention task failed")
                            }
                        }
                    }
                }
            })
        };
        let scrubber = {
            let mgr = Arc::clone(self);
            let mut stop = shutdown_for_scrubber;
            tokio::spawn(async move {
                let mut delay = SCRUB_START_DELAY_MS;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(delay)) => {}
                        r = stop.changed() => {
                            if r.is_err() || *stop.borrow() {
                                return;
                            }
                            continue;
                        }
                    }
                    if !mgr.scrub_round(SCRUB_BYTES_PER_SEC, &mut stop).await {
                        return;
                    }
                    delay = SCRUB_ROUND_INTERVAL_MS;
                }
            })
        };
        let mut all = vec![flusher, retention, scrubber];
        all.extend(cleaners);
        all
    }

    /// One scrubber round: checks every sealed segment of every partition (`Segment::check`:
    /// headers, lengths, CRC-32C, dense offsets, offset index entries), pacing itself to
    /// `bytes_per_sec`. Damage is logged at ERROR and counted ([`LogManager::scrub_damage`]);
    /// a segment whose only damage is its offset index stops trusting it (reads scan from the
    /// segment start; the next recovery rebuilds it). Data damage cannot be repaired on a
    /// single broker: reads of it answer CORRUPT_MESSAGE (header damage) or hand the client
    /// a batch whose CRC it rejects. Returns false if `stop` fired.
    pub async fn scrub_round(&self, bytes_per_sec: u64, stop: &mut watch::Receiver<bool>) -> bool {
        for (topic, partition, p) in self.partitions() {
            for seg in p.sealed_segments() {
                if *stop.borrow() {
                    return false;
                }
                let size = seg.size();
                let s = Arc::clone(&seg);
                let report = match tokio::task::spawn_blocking(move || s.check(size)).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(e)) => {
                        tracing::warn!(topic, partition, segment = seg.base_offset, error = %e, "scrubber could not read segment");
                        continue;
                    }
                    Err(e) => {
                        tracing::warn!(topic, partition, error = %e, "scrubber task failed");
                        continue;
                    }
                };
                if let Some(why) = &report.damage {
                    self.scrub_damage
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    tracing::error!(topic, partition, segment = seg.base_offset,
                        valid_bytes = report.valid_bytes, size, reason = %why,
                        "scrubber found a damaged sealed segment");
                } else if let Some(why) = &report.index_damage {
                    self.scrub_damage
                        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    seg.distrust_index();
                    tracing::error!(topic, partition, segment = seg.base_offset, reason = %why,
                        "scrubber found a damaged offset index; reads scan the segment instead");
                }
                let pause_ms = size.saturating_mul(1000) / bytes_per_sec.max(1);
                if pause_ms > 0 {
                    let stopped = tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(pause_ms)) => false,
                        r = stop.changed() => r.is_err() || *stop.borrow(),
                    };
                    if stopped {
                        return false;
                    }
                }
            }
        }
        !*stop.borrow()
    }

    /// Damaged sealed segments the scrubber has found since start-up.
    pub fn scrub_damage(&self) -> u64 {
        self.scrub_damage.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Waits for the next tick; false once shutdown is signalled.
async fn wait_tick(tick: &mut tokio::time::Interval, stop: &mut watch::Receiver<bool>) -> bool {
    if *stop.borrow() {
        return false;
    }
    tokio::select! {
        _ = tick.tick() => !*stop.borrow(),
        r = stop.changed() => r.is_ok() && !*stop.borrow(),
    }
}
