//! When partitions are fsynced: group commit for `flush.messages` on the produce path
//! (`flush_if_needed`) and the background flusher's pass for `flush.ms` (`flush_pass`); both
//! run `PartitionLog::flush` on a blocking thread and report its duration to the observer.
//!
//! Invariants: concurrent callers of one partition coalesce on its flush lock, so an append
//! already covered by a finished fsync never waits for another; the flusher measures
//! `flush.ms` from the start of a partition's last flush, and skips partitions that are
//! closed, deleted or failed under it without reporting them as errors.

use std::sync::Arc;

use super::{now_wall_ms, FsyncObserver, LogManager};
use crate::log::error::LogError;
use crate::log::partition::PartitionLog;

impl LogManager {
    /// Group commit for `flush.messages`: after an append, the produce path awaits this. If the
    /// partition has fewer unflushed messages than `flush.messages` it returns at once.
    /// Otherwise callers queue on the partition's flush lock; the first one fsyncs (in
    /// `spawn_blocking`) and every caller whose append is covered by that fsync returns without
    /// another one, so one fsync serves many appends. Coalescing is per partition, not across
    /// partitions.
    pub async fn flush_if_needed(&self, part: &Arc<PartitionLog>) -> Result<(), LogError> {
        if part.unflushed_messages() < part.config().flush_messages {
            return Ok(());
        }
        let target = part.log_end_offset();
        let _g = part.flush_lock.lock().await;
        if part.flushed_offset() >= target {
            return Ok(());
        }
        self.timed_flush(Arc::clone(part), now_wall_ms())
            .await
            .map_err(|e| LogError::Storage(format!("flush task failed: {e}")))??;
        Ok(())
    }

    /// Installs the callback told the duration of every partition flush.
    pub fn set_fsync_observer(&self, observer: FsyncObserver) {
        *self
            .fsync_observer
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(observer);
    }

    /// `PartitionLog::flush` on a blocking thread, reporting its duration to the observer.
    async fn timed_flush(
        &self,
        p: Arc<PartitionLog>,
        now_ms: i64,
    ) -> Result<Result<i64, LogError>, tokio::task::JoinError> {
        let observer = self
            .fsync_observer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        tokio::task::spawn_blocking(move || {
            let started = std::time::Instant::now();
            let r = p.flush_at(now_ms);
            if let Some(o) = observer {
                o(started.elapsed());
            }
            r
        })
        .await
    }

    /// One pass of the background flusher at time `now`: fsyncs, one after the other, every
    /// partition of `parts` that holds unflushed records and whose last flush started at least
    /// `flush.ms` ago. A partition deleted or closed meanwhile (the list is a snapshot) is
    /// skipped quietly, as retention does; one already failed is skipped too (its failure was
    /// logged when it happened, and it stays failed until reopened). Returns the earliest time
    /// after `now` at which a partition falls due, if any.
    pub async fn flush_pass(
        &self,
        parts: Vec<(String, i32, Arc<PartitionLog>)>,
        now: i64,
    ) -> Option<i64> {
        let mut next_due: Option<i64> = None;
        for (topic, partition, p) in parts {
            let flush_ms = p.config().flush_ms;
            if flush_ms == i64::MAX || p.is_failed() {
                continue;
            }
            let due = p.last_flush_ms().saturating_add(flush_ms);
            if due <= now && p.unflushed_messages() > 0 {
                let q = Arc::clone(&p);
                match self.timed_flush(q, now).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(LogError::Closed | LogError::Deleted)) => {
                        tracing::debug!(
                            topic,
                            partition,
                            "skipping flush of a closed or deleted partition"
                        );
                        continue;
                    }
                    Ok(Err(e)) => {
                        tracing::error!(topic, partition, error = %e, "background flush failed");
                        continue;
                    }
                    Err(e) => {
                        tracing::error!(topic, partition, error = %e, "background flush task failed");
                        continue;
                    }
                }
            }
            let due = p.last_flush_ms().saturating_add(flush_ms);
            if due > now {
                next_due = Some(next_due.map_or(due, |d| d.min(due)));
            }
        }
        next_due
    }
}
