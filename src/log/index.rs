//! Sparse per-segment indexes, kept whole in memory (a `Vec`) and mirrored to a plain append-only
//! file. They are caches: anything they say can be recomputed by scanning the segment's batch
//! headers, which recovery does whenever a file is missing, has a ragged length, or is not
//! monotonic. The layouts match Kafka's `.index` / `.timeindex` files (big-endian, no header), so
//! they carry no magic or checksum; the sanity check on load stands in for one.
//!
//! These types hold no file descriptor: `Segment` writes the entry bytes through the log's
//! `FileIo` seam with a handle from the descriptor cache (`files.rs`), then records the entry
//! here. Loading reads the file once and closes it.
//!
//! Offset index (`<base>.index`), one entry per `index.interval.bytes` of batches:
//! ```text
//! offset size field
//!  0     4    relative offset u32   batch base offset - segment base offset
//!  4     4    position u32          byte position of that batch in the .log file
//! ```
//! Invariants: relative offsets and positions strictly increase; no entry for position 0 is
//! needed (a lookup that finds nothing starts at position 0).
//!
//! Time index (`<base>.timeindex`), appended alongside offset index entries and at segment seal,
//! only when the segment's largest timestamp grew:
//! ```text
//! offset size field
//!  0     8    timestamp i64         largest batch MaxTimestamp in the segment so far
//!  8     4    relative offset u32   base offset of the batch holding that timestamp - segment base
//! ```
//! Invariants: timestamps strictly increase, relative offsets never decrease. Every batch before
//! the entry's batch has a MaxTimestamp ≤ the entry's timestamp.

use std::fs;
use std::io;
use std::path::Path;

/// Bytes per offset index entry.
pub const OFFSET_ENTRY_SIZE: usize = 8;
/// Bytes per time index entry.
pub const TIME_ENTRY_SIZE: usize = 12;

/// The whole file, or `None` if it does not exist. No descriptor outlives the call.
fn read_all(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match fs::read(path) {
        Ok(buf) => Ok(Some(buf)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The sparse offset index of one segment, in memory. The segment writes each entry's bytes
/// ([`OffsetIndex::encode`]) at [`OffsetIndex::file_len`] and then [`OffsetIndex::push`]es it,
/// so memory never runs ahead of the file.
#[derive(Debug, Default)]
pub(crate) struct OffsetIndex {
    entries: Vec<(u32, u32)>,
}

impl OffsetIndex {
    /// An empty index.
    pub(crate) fn new() -> Self {
        OffsetIndex::default()
    }

    /// Loads an index file; `Ok(None)` if it is missing or fails the sanity check against a log
    /// file of `log_size` bytes, in which case the caller rebuilds it.
    pub(crate) fn load(path: &Path, log_size: u64) -> io::Result<Option<Self>> {
        let Some(buf) = read_all(path)? else {
            return Ok(None);
        };
        if buf.len() % OFFSET_ENTRY_SIZE != 0 {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(buf.len() / OFFSET_ENTRY_SIZE);
        for c in buf.chunks_exact(OFFSET_ENTRY_SIZE) {
            let rel = u32::from_be_bytes([c[0], c[1], c[2], c[3]]);
            let pos = u32::from_be_bytes([c[4], c[5], c[6], c[7]]);
            if let Some(&(lr, lp)) = entries.last() {
                if rel <= lr || pos <= lp {
                    return Ok(None);
                }
            }
            if u64::from(pos) >= log_size {
                return Ok(None);
            }
            entries.push((rel, pos));
        }
        Ok(Some(OffsetIndex { entries }))
    }

    /// The file bytes of one entry.
    pub(crate) fn encode(rel: u32, pos: u32) -> [u8; OFFSET_ENTRY_SIZE] {
        let mut e = [0u8; OFFSET_ENTRY_SIZE];
        e[..4].copy_from_slice(&rel.to_be_bytes());
        e[4..].copy_from_slice(&pos.to_be_bytes());
        e
    }

    /// Records an entry whose bytes are already in the file.
    pub(crate) fn push(&mut self, rel: u32, pos: u32) {
        self.entries.push((rel, pos));
    }

    /// Keeps the first `n` entries (rewinding a failed append).
    pub(crate) fn truncate(&mut self, n: usize) {
        self.entries.truncate(n);
    }

    /// Position of the last indexed batch whose base offset is ≤ `rel`, or 0.
    pub(crate) fn lookup(&self, rel: u32) -> u32 {
        let i = self.entries.partition_point(|&(r, _)| r <= rel);
        if i == 0 {
            0
        } else {
            self.entries[i - 1].1
        }
    }

    /// The last entry whose relative offset is ≤ `rel`, as `(relative offset, position)`, so
    /// a reader can check that the batch at that position really starts at that offset.
    pub(crate) fn lookup_entry(&self, rel: u32) -> Option<(u32, u32)> {
        let i = self.entries.partition_point(|&(r, _)| r <= rel);
        i.checked_sub(1).and_then(|i| self.entries.get(i).copied())
    }

    /// The last entry whose position is ≤ `pos`, as `(relative offset, position)` (positions
    /// grow with offsets, so the entries are sorted by both).
    pub(crate) fn lookup_position(&self, pos: u32) -> Option<(u32, u32)> {
        let i = self.entries.partition_point(|&(_, p)| p <= pos);
        i.checked_sub(1).and_then(|i| self.entries.get(i).copied())
    }

    /// All entries, in order (for the scrubber's check against the log).
    pub(crate) fn entries(&self) -> &[(u32, u32)] {
        &self.entries
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Size of the index file in bytes (where the next entry goes).
    pub(crate) fn file_len(&self) -> u64 {
        (self.entries.len() * OFFSET_ENTRY_SIZE) as u64
    }
}

/// The sparse time index of one segment, in memory; written like [`OffsetIndex`].
#[derive(Debug, Default)]
pub(crate) struct TimeIndex {
    entries: Vec<(i64, u32)>,
}

impl TimeIndex {
    /// An empty time index.
    pub(crate) fn new() -> Self {
        TimeIndex::default()
    }

    /// Loads a time index file; `Ok(None)` if it is missing or not monotonic.
    pub(crate) fn load(path: &Path) -> io::Result<Option<Self>> {
        let Some(buf) = read_all(path)? else {
            return Ok(None);
        };
        if buf.len() % TIME_ENTRY_SIZE != 0 {
            return Ok(None);
        }
        let mut entries: Vec<(i64, u32)> = Vec::with_capacity(buf.len() / TIME_ENTRY_SIZE);
        for c in buf.chunks_exact(TIME_ENTRY_SIZE) {
            let mut ts = [0u8; 8];
            ts.copy_from_slice(&c[..8]);
            let ts = i64::from_be_bytes(ts);
            let rel = u32::from_be_bytes([c[8], c[9], c[10], c[11]]);
            if let Some(&(lt, lr)) = entries.last() {
                if ts <= lt || rel < lr {
                    return Ok(None);
                }
            }
            entries.push((ts, rel));
        }
        Ok(Some(TimeIndex { entries }))
    }

    /// The file bytes of `(ts, rel)` if it should be appended (`ts` larger than the last
    /// entry's), else `None`.
    pub(crate) fn entry_for(&self, ts: i64, rel: u32) -> Option<[u8; TIME_ENTRY_SIZE]> {
        if self.entries.last().is_some_and(|&(lt, _)| ts <= lt) {
            return None;
        }
        let mut e = [0u8; TIME_ENTRY_SIZE];
        e[..8].copy_from_slice(&ts.to_be_bytes());
        e[8..].copy_from_slice(&rel.to_be_bytes());
        Some(e)
    }

    /// Records an entry whose bytes are already in the file.
    pub(crate) fn push(&mut self, ts: i64, rel: u32) {
        self.entries.push((ts, rel));
    }

    /// Keeps the first `n` entries (rewinding a failed append).
    pub(crate) fn truncate(&mut self, n: usize) {
        self.entries.truncate(n);
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Relative offset of the last entry whose timestamp is strictly below `ts`: every batch
    /// before that entry's batch is older than `ts`, so a search may start there.
    pub(crate) fn lookup_before(&self, ts: i64) -> Option<u32> {
        let i = self.entries.partition_point(|&(t, _)| t < ts);
        if i == 0 {
            None
        } else {
            Some(self.entries[i - 1].1)
        }
    }

    /// The last entry: the segment's largest indexed timestamp and where it is.
    pub(crate) fn last(&self) -> Option<(i64, u32)> {
        self.entries.last().copied()
    }

    /// Size of the time index file in bytes (where the next entry goes).
    pub(crate) fn file_len(&self) -> u64 {
        (self.entries.len() * TIME_ENTRY_SIZE) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_index_roundtrip_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.index");
        let mut idx = OffsetIndex::new();
        let mut file = Vec::new();
        for (rel, pos) in [(10, 4000), (20, 8000)] {
            assert_eq!(idx.file_len(), file.len() as u64);
            file.extend_from_slice(&OffsetIndex::encode(rel, pos));
            idx.push(rel, pos);
        }
        assert_eq!(idx.lookup(5), 0);
        assert_eq!(idx.lookup(10), 4000);
        assert_eq!(idx.lookup(19), 4000);
        assert_eq!(idx.lookup(1000), 8000);
        assert_eq!(idx.lookup_entry(5), None);
        assert_eq!(idx.lookup_entry(19), Some((10, 4000)));
        assert_eq!(idx.lookup_entry(20), Some((20, 8000)));
        assert_eq!(idx.lookup_position(3999), None);
        assert_eq!(idx.lookup_position(4000), Some((10, 4000)));
        assert_eq!(idx.lookup_position(7999), Some((10, 4000)));
        assert_eq!(idx.lookup_position(u32::MAX), Some((20, 8000)));
        std::fs::write(&p, &file).unwrap();
        let mut idx = OffsetIndex::load(&p, 9000).unwrap().unwrap();
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.lookup(25), 8000);
        idx.truncate(1);
        assert_eq!((idx.len(), idx.file_len(), idx.lookup(25)), (1, 8, 4000));
        // Position beyond the log: rejected, rebuilt by the caller.
        assert!(OffsetIndex::load(&p, 8000).unwrap().is_none());
        // Ragged length: rejected.
        std::fs::write(&p, [0u8; 7]).unwrap();
        assert!(OffsetIndex::load(&p, 9000).unwrap().is_none());
        assert!(OffsetIndex::load(&dir.path().join("missing"), 1)
            .unwrap()
            .is_none());
    }

    #[test]
    fn time_index_roundtrip_and_lookup() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("0.timeindex");
        let mut t = TimeIndex::new();
        let mut file = Vec::new();
        for (ts, rel) in [(100, 0), (100, 3), (200, 5)] {
            // Not larger than the last timestamp: skipped.
            if let Some(e) = t.entry_for(ts, rel) {
                file.extend_from_slice(&e);
                t.push(ts, rel);
            }
        }
        assert_eq!(t.lookup_before(100), None);
        assert_eq!(t.lookup_before(150), Some(0));
        assert_eq!(t.lookup_before(201), Some(5));
        assert_eq!(t.last(), Some((200, 5)));
        std::fs::write(&p, &file).unwrap();
        let t = TimeIndex::load(&p).unwrap().unwrap();
        assert_eq!((t.file_len(), t.len()), (24, 2));
    }
}
