//! The health of a `PartitionLog`: fail-stop after an I/O error, and the one exception to it,
//! write suspension when the disk (or quota, or descriptor table) is full.
//!
//! Invariants: once `fail` has run, every call that touches the log answers
//! `LogError::Storage` (through `check_usable`) until the partition is reopened; an fsync is
//! never retried. `suspend` refuses one request without failing the log: it is used only when
//! nothing durable was lost and nothing of the request was published, so reads go on and the
//! next write retries (the append path's `write_error` cuts the partial tail off first).
//! An I/O error on a log whose topic is being deleted is `Deleted`, not a failure.

use std::sync::atomic::Ordering;

use super::{PartitionLog, CLOSED, DELETED};
use crate::log::error::LogError;
use crate::log::files::is_no_space;
use crate::log::lock;

impl PartitionLog {
    /// Marks the partition failed and returns the error to report.
    pub(super) fn fail(&self, what: &str, err: std::io::Error) -> LogError {
        let msg = format!("{what} in {}: {err}", self.dir.display());
        tracing::error!(error = %msg, "partition log failed; it stays offline until reopened");
        *lock(&self.fail_reason) = msg.clone();
        self.failed.store(true, Ordering::Release);
        LogError::Storage(msg)
    }

    /// Refuses one append after a retryable write error (see `write_error`).
    pub(super) fn suspend(&self, what: &str, err: &std::io::Error) -> LogError {
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

    /// Whether the last append was refused for lack of space or descriptors (the partition is
    /// readable and retries writes; see the module docs).
    pub fn is_write_suspended(&self) -> bool {
        self.write_suspended.load(Ordering::Acquire)
    }

    /// Errors if the partition is failed, closed or deleted.
    pub(super) fn check_usable(&self) -> Result<(), LogError> {
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

    /// Like `fail`, but an I/O error on a partition whose topic is being deleted (its directory
    /// renamed and removed under a running flush) is just `Deleted`, not a storage failure.
    pub(super) fn fail_unless_deleted(&self, what: &str, err: std::io::Error) -> LogError {
        if self.status.load(Ordering::Acquire) == DELETED {
            return LogError::Deleted;
        }
        self.fail(what, err)
    }
}
