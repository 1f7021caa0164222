//! The aborted-transaction index of one segment (Kafka's `TransactionIndex`, `.txnindex`): one
//! entry per transaction whose ABORT marker lies in the segment, so that a `read_committed`
//! fetch can tell the client which producers' records to skip without the broker reading any
//! record.
//!
//! File `<20-digit base offset>.txnindex`, created with the segment's first entry (most
//! segments have none and no file), fixed-width, all integers big-endian:
//! ```text
//! header  offset size field
//!          0     4    magic u32 = "RNTX"
//!          4     2    version u16 = 1
//!          6     2    reserved u16 = 0
//! entry   (36 bytes each, from offset 8, in marker order)
//!          0     8    producer id i64
//!          8     8    first offset i64          of the transaction's first batch
//!         16     8    last offset i64           of its ABORT marker (in this segment)
//!         24     8    last stable offset i64    when it was aborted (Kafka's
//!                                               `ProducerStateManager.lastStableOffset`)
//!         32     4    crc u32                   CRC-32C of bytes 0..32 of the entry
//! ```
//! Loading stops at the first short or failing entry (a torn append): that entry and any after
//! it are dropped and the file is cut back. A bad header means no entry. Entries lost this way
//! are rebuilt by the partition's replay (`partition/lifecycle.rs`), which rewrites every entry
//! whose marker lies at or above the replay start; below it the index was fsynced with its
//! segment.
//!
//! Invariant: entries are in increasing `last_offset` (markers are appended in offset order),
//! and every entry's marker lies in the segment.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

use super::files::FileIo;
use super::{read_lock, write_lock};

/// Extension of aborted-transaction index files.
pub const TXN_INDEX_SUFFIX: &str = "txnindex";
/// Magic of the file header.
pub const TXN_INDEX_MAGIC: u32 = u32::from_be_bytes(*b"RNTX");
/// Format version.
pub const TXN_INDEX_VERSION: u16 = 1;
/// Header bytes.
pub const HEADER_LEN: u64 = 8;
/// Bytes per entry.
pub const ENTRY_LEN: u64 = 36;

/// One aborted transaction (Kafka's `AbortedTxn`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    /// Offset of the transaction's first batch.
    pub first_offset: i64,
    /// Offset of its ABORT marker.
    pub last_offset: i64,
    /// Last stable offset right after the abort: no aborted transaction that a fetch ending
    /// below it must report lies beyond this entry (ends the search early).
    pub last_stable_offset: i64,
}

/// The file header.
pub fn header() -> [u8; HEADER_LEN as usize] {
    let mut h = [0u8; HEADER_LEN as usize];
    h[..4].copy_from_slice(&TXN_INDEX_MAGIC.to_be_bytes());
    h[4..6].copy_from_slice(&TXN_INDEX_VERSION.to_be_bytes());
    h
}

/// The aborted-transaction index of one segment: all of its entries in memory (aborts are rare),
/// the file written through the log's `FileIo` seam. Appended and truncated only by the
/// partition's writer; searched by readers under the read lock.
#[derive(Debug)]
pub(crate) struct TxnIndex {
    path: PathBuf,
    entries: RwLock<Vec<AbortedTxn>>,
    /// Written since the last fsync.
    dirty: AtomicBool,
}

impl TxnIndex {
    /// An empty index whose file (created with the first entry) is `path`.
    pub(crate) fn new(path: PathBuf) -> Self {
        TxnIndex {
            path,
            entries: RwLock::new(Vec::new()),
            dirty: AtomicBool::new(false),
        }
    }

    /// Loads the index at `path` (see [`load`]).
    pub(crate) fn open(path: PathBuf) -> io::Result<Self> {
        let entries = load(&path)?;
        Ok(TxnIndex {
            path,
            entries: RwLock::new(entries),
            dirty: AtomicBool::new(false),
        })
    }

    /// Appends one entry: to the file (created with its header for the first), then to memory.
    pub(crate) fn append(&self, io: &dyn FileIo, e: AbortedTxn) -> io::Result<()> {
        let n = read_lock(&self.entries).len();
        let f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(&self.path)?;
        self.dirty.store(true, Ordering::Release);
        let (bytes, at) = append_bytes(&e, n);
        io.write_at(&f, &bytes, at)?;
        write_lock(&self.entries).push(e);
        Ok(())
    }

    /// Drops the entries whose marker is at or after `offset`, in memory first, then from the
    /// file (removed when no entry is left).
    pub(crate) fn truncate(&self, io: &dyn FileIo, offset: i64) -> io::Result<()> {
        let n = {
            let mut a = write_lock(&self.entries);
            let keep = a.partition_point(|e| e.last_offset < offset);
            if keep == a.len() {
                return Ok(());
            }
            a.truncate(keep);
            keep
        };
        if n == 0 {
            return remove_file(&self.path);
        }
        self.dirty.store(true, Ordering::Release);
        io.set_len(
            &OpenOptions::new().write(true).open(&self.path)?,
            file_len(n),
        )
    }

    /// fsync of the file if it was written since the last one. An error leaves it to do again.
    pub(crate) fn sync(&self, io: &dyn FileIo) -> io::Result<()> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let r = match File::open(&self.path) {
            Ok(f) => io.sync_data(&f),
            // Truncated away meanwhile: nothing to make durable.
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e),
        };
        if r.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        r
    }

    /// Adds the entries overlapping `[fetch_offset, upper)` to `out` (see [`collect`]).
    pub(crate) fn collect(&self, fetch_offset: i64, upper: i64, out: &mut Vec<AbortedTxn>) -> bool {
        collect(&read_lock(&self.entries), fetch_offset, upper, out)
    }

    /// Every entry.
    #[cfg(test)]
    pub(crate) fn entries(&self) -> Vec<AbortedTxn> {
        read_lock(&self.entries).clone()
    }
}

/// Removes `path`; a missing file is fine.
pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// The 36 bytes of one entry.
pub fn encode_entry(e: &AbortedTxn) -> [u8; ENTRY_LEN as usize] {
    let mut b = [0u8; ENTRY_LEN as usize];
    b[0..8].copy_from_slice(&e.producer_id.to_be_bytes());
    b[8..16].copy_from_slice(&e.first_offset.to_be_bytes());
    b[16..24].copy_from_slice(&e.last_offset.to_be_bytes());
    b[24..32].copy_from_slice(&e.last_stable_offset.to_be_bytes());
    let crc = crc32c::crc32c(&b[..32]);
    b[32..].copy_from_slice(&crc.to_be_bytes());
    b
}

fn decode_entry(b: &[u8]) -> Option<AbortedTxn> {
    let b: &[u8; ENTRY_LEN as usize] = b.try_into().ok()?;
    let i64_at = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[at..at + 8]);
        i64::from_be_bytes(a)
    };
    let crc = u32::from_be_bytes([b[32], b[33], b[34], b[35]]);
    (crc32c::crc32c(&b[..32]) == crc).then(|| AbortedTxn {
        producer_id: i64_at(0),
        first_offset: i64_at(8),
        last_offset: i64_at(16),
        last_stable_offset: i64_at(24),
    })
}

/// Loads the index at `path` (no file: no entry), cutting a torn or corrupt tail off the file
/// (a bad header removes the file).
pub fn load(path: &Path) -> io::Result<Vec<AbortedTxn>> {
    let buf = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    if buf.get(..HEADER_LEN as usize) != Some(&header()[..]) {
        tracing::warn!(file = %path.display(), "removing a transaction index with a bad header");
        fs::remove_file(path)?;
        return Ok(Vec::new());
    }
    let mut entries = Vec::new();
    let body = &buf[HEADER_LEN as usize..];
    for chunk in body.chunks(ENTRY_LEN as usize) {
        match decode_entry(chunk) {
            Some(e)
                if entries
                    .last()
                    .is_none_or(|l: &AbortedTxn| l.last_offset < e.last_offset) =>
            {
                entries.push(e)
            }
            _ => break,
        }
    }
    let valid = file_len(entries.len());
    if valid < buf.len() as u64 {
        tracing::warn!(file = %path.display(), valid_bytes = valid, file_bytes = buf.len(),
            "dropping the torn tail of a transaction index");
        OpenOptions::new().write(true).open(path)?.set_len(valid)?;
    }
    Ok(entries)
}

/// File length holding `n` entries.
pub fn file_len(n: usize) -> u64 {
    HEADER_LEN + ENTRY_LEN * n as u64
}

/// The bytes that append entry number `n` (from 0): the header first for entry 0 — a file
/// without entries does not exist (`Segment::truncate_aborted` removes it) or holds only a
/// header — and the position to write them at.
fn append_bytes(e: &AbortedTxn, n: usize) -> (Vec<u8>, u64) {
    if n == 0 {
        let mut b = header().to_vec();
        b.extend_from_slice(&encode_entry(e));
        (b, 0)
    } else {
        (encode_entry(e).to_vec(), file_len(n))
    }
}

/// Appends the aborted transactions of `entries` that overlap `[fetch_offset, upper)` — marker
/// at or after `fetch_offset`, first offset below `upper` — to `out`. Returns true when the
/// search may stop: an entry's last stable offset reaches `upper`, so no later entry (in this
/// or a later segment) can overlap (Kafka's `TransactionIndex.collectAbortedTxns`).
pub fn collect(
    entries: &[AbortedTxn],
    fetch_offset: i64,
    upper: i64,
    out: &mut Vec<AbortedTxn>,
) -> bool {
    for e in entries {
        if e.last_offset >= fetch_offset && e.first_offset < upper {
            out.push(*e);
        }
        if e.last_stable_offset >= upper {
            return true;
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    fn e(pid: i64, first: i64, last: i64, lso: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: lso,
        }
    }

    fn write(path: &Path, entries: &[AbortedTxn]) {
        let idx = TxnIndex::new(path.to_path_buf());
        let io = crate::log::files::LogFiles::default().io;
        for x in entries {
            idx.append(&*io, *x).unwrap();
        }
    }

    #[test]
    fn entry_layout() {
        let b = encode_entry(&e(1, 2, 3, 4));
        assert_eq!(&b[..8], &1i64.to_be_bytes());
        assert_eq!(&b[24..32], &4i64.to_be_bytes());
        assert_eq!(decode_entry(&b), Some(e(1, 2, 3, 4)));
        assert_eq!(&header()[..], b"RNTX\x00\x01\x00\x00");
    }

    #[test]
    fn load_roundtrip_and_torn_tail() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("x.txnindex");
        assert!(load(&p).unwrap().is_empty());
        let all = [e(1, 0, 5, 6), e(2, 3, 9, 10), e(1, 11, 12, 13)];
        write(&p, &all);
        assert_eq!(load(&p).unwrap(), all);
        // A torn last entry is dropped and cut off.
        let len = file_len(3);
        OpenOptions::new()
            .write(true)
            .open(&p)
            .unwrap()
            .set_len(len - 5)
            .unwrap();
        assert_eq!(load(&p).unwrap(), all[..2]);
        assert_eq!(fs::metadata(&p).unwrap().len(), file_len(2));
        // A corrupt entry ends the index there.
        let f = OpenOptions::new().write(true).open(&p).unwrap();
        f.write_all_at(&[0xff], file_len(1) + 3).unwrap();
        assert_eq!(load(&p).unwrap(), all[..1]);
        // A bad header: no entries, no file.
        f.write_all_at(b"XXXX", 0).unwrap();
        assert!(load(&p).unwrap().is_empty());
        assert!(!p.exists());
    }

    #[test]
    fn collect_overlapping_and_stop() {
        let idx = [e(1, 0, 5, 6), e(2, 3, 9, 10), e(3, 20, 30, 31)];
        let mut out = Vec::new();
        // Includes a transaction that began before the fetch offset.
        assert!(collect(&idx, 6, 10, &mut out));
        assert_eq!(out, vec![idx[1]]);
        out.clear();
        assert!(!collect(&idx, 0, 40, &mut out));
        assert_eq!(out, idx.to_vec());
        out.clear();
        assert!(collect(&idx, 0, 3, &mut out));
        assert_eq!(out, vec![idx[0]]);
    }
}
