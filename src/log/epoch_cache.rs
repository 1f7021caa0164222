//! Leader epoch cache: which leader epoch started at which offset, for OffsetForLeaderEpoch
//! (consumers use it to detect log truncation). An entry is added when an append carries an
//! epoch larger than the latest one.
//!
//! File `leader-epoch-checkpoint`, framed as described in `checkpoint.rs` with magic `RNLE`
//! (Kafka's own file is text; ours follows the house rule of fixed-width fields plus a CRC).
//! Payload:
//! ```text
//! offset size field
//!  0     4    count u32
//!  4     12×n entries: epoch i32, start offset i64   (epochs and start offsets increasing)
//! ```

use std::io;
use std::path::Path;

use super::checkpoint::{read_framed, write_framed, Reader};

/// File name of the cache checkpoint.
pub const EPOCH_FILE: &str = "leader-epoch-checkpoint";
/// Magic of the cache checkpoint.
pub const EPOCH_MAGIC: u32 = u32::from_be_bytes(*b"RNLE");

/// In-memory epoch → start offset list, sorted by epoch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct LeaderEpochCache {
    entries: Vec<(i32, i64)>,
}

impl LeaderEpochCache {
    /// Loads the checkpoint; an absent or invalid file gives an empty cache.
    pub(crate) fn load(dir: &Path) -> io::Result<Self> {
        let Some(p) = read_framed(&dir.join(EPOCH_FILE), EPOCH_MAGIC)? else {
            return Ok(Self::default());
        };
        let mut r = Reader::new(&p);
        let parsed = (|| {
            let n = r.u32()?;
            let mut entries: Vec<(i32, i64)> = Vec::new();
            for _ in 0..n {
                let e = (r.i32()?, r.i64()?);
                if entries.last().is_some_and(|l| l.0 >= e.0 || l.1 > e.1) {
                    return None;
                }
                entries.push(e);
            }
            r.is_empty().then_some(entries)
        })();
        Ok(LeaderEpochCache {
            entries: parsed.unwrap_or_default(),
        })
    }

    /// Durably writes the checkpoint.
    pub(crate) fn persist(&self, dir: &Path) -> io::Result<()> {
        let mut p = Vec::with_capacity(4 + 12 * self.entries.len());
        p.extend_from_slice(&(self.entries.len() as u32).to_be_bytes());
        for (e, o) in &self.entries {
            p.extend_from_slice(&e.to_be_bytes());
            p.extend_from_slice(&o.to_be_bytes());
        }
        write_framed(dir, EPOCH_FILE, EPOCH_MAGIC, &p)
    }

    /// The latest epoch, if any.
    pub(crate) fn latest_epoch(&self) -> Option<i32> {
        self.entries.last().map(|e| e.0)
    }

    /// Records that `epoch` starts at `start_offset`. Returns true if the cache changed (the
    /// caller then persists it). Epochs below the latest are ignored.
    pub(crate) fn assign(&mut self, epoch: i32, start_offset: i64) -> bool {
        if epoch < 0 || self.latest_epoch().is_some_and(|l| epoch <= l) {
            return false;
        }
        self.entries.push((epoch, start_offset));
        true
    }

    /// Drops entries that start at or after `end_offset` (log tail truncated at recovery).
    pub(crate) fn truncate_from_end(&mut self, end_offset: i64) -> bool {
        let before = self.entries.len();
        self.entries.retain(|e| e.1 < end_offset);
        before != self.entries.len()
    }

    /// OffsetForLeaderEpoch, following Kafka's `LeaderEpochFileCache.endOffsetFor`:
    /// - unknown cache, requested -1, or requested above every known epoch → `(-1, -1)`;
    /// - requested == latest epoch → `(latest, log_end_offset)`;
    /// - otherwise `(largest epoch ≤ requested, start offset of the next higher epoch)`; if the
    ///   requested epoch is older than all known epochs, Kafka answers
    ///   `(requested, first epoch's start offset)` and so do we.
    pub(crate) fn end_offset_for(&self, requested: i32, log_end_offset: i64) -> (i32, i64) {
        if requested < 0 || self.entries.is_empty() {
            return (-1, -1);
        }
        if self.latest_epoch() == Some(requested) {
            return (requested, log_end_offset);
        }
        let hi = self.entries.partition_point(|e| e.0 <= requested);
        let Some(&(_, higher_start)) = self.entries.get(hi) else {
            return (-1, -1);
        };
        if hi == 0 {
            (requested, higher_start)
        } else {
            (self.entries[hi - 1].0, higher_start)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_follow_kafka() {
        let mut c = LeaderEpochCache::default();
        assert_eq!(c.end_offset_for(0, 10), (-1, -1));
        assert!(c.assign(1, 0));
        assert!(!c.assign(1, 5));
        assert!(c.assign(3, 10));
        assert!(c.assign(5, 20));
        assert_eq!(c.end_offset_for(5, 30), (5, 30));
        assert_eq!(c.end_offset_for(3, 30), (3, 20));
        assert_eq!(c.end_offset_for(4, 30), (3, 20));
        assert_eq!(c.end_offset_for(1, 30), (1, 10));
        assert_eq!(c.end_offset_for(0, 30), (0, 0));
        assert_eq!(c.end_offset_for(6, 30), (-1, -1));
        assert_eq!(c.end_offset_for(-1, 30), (-1, -1));
    }

    #[test]
    fn persist_roundtrip_and_truncate() {
        let d = tempfile::tempdir().unwrap();
        let mut c = LeaderEpochCache::default();
        c.assign(0, 0);
        c.assign(2, 7);
        c.persist(d.path()).unwrap();
        let mut l = LeaderEpochCache::load(d.path()).unwrap();
        assert_eq!(l, c);
        assert!(l.truncate_from_end(7));
        assert_eq!(l.latest_epoch(), Some(0));
    }
}
