//! One log segment: a `.log` file of whole record batches stored verbatim, plus its offset and
//! time indexes. A segment covers offsets `[base_offset, next segment's base_offset)`.
//!
//! Files, named like Kafka's (20-digit zero-padded base offset):
//! `00000000000000000000.log`, `.index` (see `index.rs`), `.timeindex` (see `index.rs`), and
//! `.txnindex` (aborted transactions whose marker is in the segment, `txn_index.rs`; only for
//! segments that have one — it is kept in memory whole, and the log cleaner's swap leaves it
//! in place because cleaning changes no offset).
//! The `.log` file is a plain concatenation of magic-2 batches (byte table in `batch.rs`); it has
//! no header of its own — each batch carries its own CRC-32C.
//!
//! Invariants: only the partition's single writer appends, and only to the last (active)
//! segment; batch offsets inside a segment increase (dense as appended; the log cleaner's
//! rewrite leaves gaps, `cleaner/`); readers never read past the
//! byte position published with the high watermark, so they never see a half-written batch.
//! Sealed segments are immutable. At start-up they are scanned only if an index is damaged or,
//! after an unclean shutdown, if they lie at or above the recovery point (`recovery.rs`).
//! Batch-level checks used by reads and the scrubber live in `verify.rs`.
//!
//! Descriptors: only the active segment pins its `.log` handle. Index files, and the `.log` of
//! sealed segments, are opened through the broker's descriptor cache (`files.rs`) when a read,
//! an index append or an fsync needs them, so a sealed segment costs no descriptor at rest.
//! Every write, truncation and fsync goes through the `FileIo` seam. A failed append is undone
//! with [`Segment::rewind`] (see `partition/append.rs` for when that is allowed instead of
//! fail-stop).

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use super::batch::{compute_crc, BatchHeader, HEADER_SIZE};
use super::control::{parse_marker, TxnMarker};
use super::files::{next_segment_id, FileKind, LogFiles};
use super::index::{OffsetIndex, TimeIndex};
use super::txn_index::{self, AbortedTxn, TxnIndex, TXN_INDEX_SUFFIX};
use super::{lock, read_lock, write_lock};

/// Extension of segment data files.
pub const LOG_SUFFIX: &str = "log";
/// Extension of offset index files.
pub const INDEX_SUFFIX: &str = "index";
/// Extension of time index files.
pub const TIME_INDEX_SUFFIX: &str = "timeindex";
/// Read-ahead used when scanning a segment at recovery.
const SCAN_CHUNK: usize = 1 << 20;

/// `<dir>/<20-digit base offset>.<ext>`.
pub fn segment_file(dir: &Path, base_offset: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base_offset:020}.{ext}"))
}

/// Timestamp bookkeeping of a segment, updated under the partition's state lock so readers see
/// it consistent with the high watermark.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SegMeta {
    /// Largest batch MaxTimestamp, -1 if none.
    pub max_timestamp: i64,
    /// Base offset of the batch holding `max_timestamp`, -1 if none.
    pub offset_of_max_timestamp: i64,
    /// Time the segment.ms roll clock starts from (first batch's timestamp), -1 if empty.
    pub rolling_timestamp: i64,
}

/// Result of a recovery scan.
#[derive(Debug)]
pub(crate) struct Recovered {
    /// Offset after the last valid batch.
    pub next_offset: i64,
    /// Bytes cut off the tail (0 if the segment was intact).
    pub truncated_bytes: u64,
    /// Bytes appended since the last offset index entry, to continue the index cadence.
    pub bytes_since_index: u64,
}

/// One segment; shared by `Arc` between the writer and readers.
#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    dir: PathBuf,
    /// Never reused; names this instance's entries in the descriptor cache.
    id: u64,
    files: LogFiles,
    /// The `.log` handle, pinned while this is the active segment (every append and most
    /// fetches use it); `None` once sealed, when reads take a handle from the cache.
    pinned: RwLock<Option<Arc<File>>>,
    offset_index: RwLock<OffsetIndex>,
    time_index: RwLock<TimeIndex>,
    /// The aborted-transaction index (`txn_index.rs`).
    txn_index: TxnIndex,
    size: AtomicU64,
    meta: Mutex<SegMeta>,
    /// Written since the last fsync.
    dirty: AtomicBool,
    /// A read found an offset index entry pointing at the wrong batch (`verify.rs`): lookups
    /// then scan from the segment start until the index is rebuilt at the next recovery.
    index_suspect: AtomicBool,
}

/// Why [`Segment::sync`] failed. Only `Fsync` means durability is in doubt (fail-stop); `Open`
/// (e.g. no descriptor left) fsynced nothing and may be retried.
#[derive(Debug)]
pub(crate) enum SyncError {
    /// A handle could not be opened; nothing was fsynced.
    Open(io::Error),
    /// fsync itself failed.
    Fsync(io::Error),
}

const EMPTY_META: SegMeta = SegMeta {
    max_timestamp: -1,
    offset_of_max_timestamp: -1,
    rolling_timestamp: -1,
};

fn open_rw(path: &Path) -> io::Result<File> {
    OpenOptions::new().read(true).write(true).open(path)
}

fn create_truncated(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
}

impl Drop for Segment {
    fn drop(&mut self) {
        self.files.cache.forget_segment(self.id);
    }
}

impl Segment {
    fn new(dir: &Path, base_offset: i64, files: &LogFiles, pinned: Option<File>) -> Segment {
        Segment {
            base_offset,
            dir: dir.to_path_buf(),
            id: next_segment_id(),
            files: files.clone(),
            pinned: RwLock::new(pinned.map(Arc::new)),
            offset_index: RwLock::new(OffsetIndex::new()),
            time_index: RwLock::new(TimeIndex::new()),
            txn_index: TxnIndex::new(segment_file(dir, base_offset, TXN_INDEX_SUFFIX)),
            size: AtomicU64::new(0),
            meta: Mutex::new(EMPTY_META),
            dirty: AtomicBool::new(false),
            index_suspect: AtomicBool::new(false),
        }
    }

    /// Creates a new, empty active segment (files truncated if they exist). On error no file
    /// of it is left behind.
    pub(crate) fn create(dir: &Path, base_offset: i64, files: &LogFiles) -> io::Result<Segment> {
        let made = create_truncated(&segment_file(dir, base_offset, LOG_SUFFIX)).and_then(|log| {
            let idx = create_truncated(&segment_file(dir, base_offset, INDEX_SUFFIX))?;
            let tidx = create_truncated(&segment_file(dir, base_offset, TIME_INDEX_SUFFIX))?;
            Ok((log, idx, tidx))
        });
        let (log, idx, tidx) = match made {
            Ok(f) => f,
            Err(e) => {
                for ext in [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
                    let _ = std::fs::remove_file(segment_file(dir, base_offset, ext));
                }
                return Err(e);
            }
        };
        // A stale aborted-transaction index of an earlier segment at this base must not apply.
        txn_index::remove_file(&segment_file(dir, base_offset, TXN_INDEX_SUFFIX))?;
        let seg = Segment::new(dir, base_offset, files, Some(log));
        files.cache.put((seg.id, FileKind::Index), idx);
        files.cache.put((seg.id, FileKind::TimeIndex), tidx);
        seg.dirty.store(true, Ordering::Release);
        Ok(seg)
    }

    /// Opens an existing segment without scanning it; `active` pins its `.log` handle, a sealed
    /// segment keeps no descriptor open. Returns the segment and whether both index files
    /// loaded and passed their sanity check (if not, they are truncated and the caller must run
    /// [`Segment::recover`]). Timestamp metadata comes from the last time index entry, or the
    /// file's mtime if the time index is empty (as Kafka does).
    pub(crate) fn open(
        dir: &Path,
        base_offset: i64,
        files: &LogFiles,
        active: bool,
    ) -> io::Result<(Segment, bool)> {
        let log_path = segment_file(dir, base_offset, LOG_SUFFIX);
        let pinned = if active {
            Some(open_rw(&log_path)?)
        } else {
            None
        };
        let md = match &pinned {
            Some(f) => f.metadata()?,
            None => std::fs::metadata(&log_path)?,
        };
        let size = md.len();
        let idx_path = segment_file(dir, base_offset, INDEX_SUFFIX);
        let tidx_path = segment_file(dir, base_offset, TIME_INDEX_SUFFIX);
        let oi = OffsetIndex::load(&idx_path, size.max(1))?;
        let ti = TimeIndex::load(&tidx_path)?;
        let ok = oi.is_some() && ti.is_some();
        let (oi, ti) = match (oi, ti) {
            (Some(o), Some(t)) => (o, t),
            _ => {
                create_truncated(&idx_path)?;
                create_truncated(&tidx_path)?;
                (OffsetIndex::new(), TimeIndex::new())
            }
        };
        let mut meta = EMPTY_META;
        if let Some((ts, rel)) = ti.last() {
            meta.max_timestamp = ts;
            meta.offset_of_max_timestamp = base_offset + i64::from(rel);
        } else if size > 0 {
            let mtime = md
                .modified()
                .ok()
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(-1, |d| d.as_millis() as i64);
            meta.max_timestamp = mtime;
            meta.offset_of_max_timestamp = base_offset;
        }
        let txn_index = TxnIndex::open(segment_file(dir, base_offset, TXN_INDEX_SUFFIX))?;
        let mut seg = Segment::new(dir, base_offset, files, pinned);
        seg.txn_index = txn_index;
        *write_lock(&seg.offset_index) = oi;
        *write_lock(&seg.time_index) = ti;
        seg.size.store(size, Ordering::Release);
        *lock(&seg.meta) = meta;
        Ok((seg, ok))
    }

    /// The `.log` handle: the pinned one while active, else one from the descriptor cache.
    pub(super) fn log_file(&self) -> io::Result<Arc<File>> {
        if let Some(f) = read_lock(&self.pinned).as_ref() {
            return Ok(Arc::clone(f));
        }
        self.files.cache.get(
            (self.id, FileKind::Log),
            &segment_file(&self.dir, self.base_offset, LOG_SUFFIX),
        )
    }

    /// An index file's handle, from the descriptor cache.
    fn index_file(&self, kind: FileKind) -> io::Result<Arc<File>> {
        let ext = if kind == FileKind::Index {
            INDEX_SUFFIX
        } else {
            TIME_INDEX_SUFFIX
        };
        self.files.cache.get(
            (self.id, kind),
            &segment_file(&self.dir, self.base_offset, ext),
        )
    }

    /// Releases the pinned `.log` handle once the segment is sealed; later reads and the
    /// flusher's fsync go through the descriptor cache. A read in flight keeps its handle.
    pub(crate) fn unpin(&self) {
        *write_lock(&self.pinned) = None;
    }

    /// Pins the `.log` handle of a segment opened as sealed that recovery made the active one
    /// (by deleting the segments after it).
    pub(crate) fn pin(&self) -> io::Result<()> {
        let f = open_rw(&segment_file(&self.dir, self.base_offset, LOG_SUFFIX))?;
        *write_lock(&self.pinned) = Some(Arc::new(f));
        Ok(())
    }

    /// Whether the `.log` handle is pinned (active segment).
    #[cfg(test)]
    pub(crate) fn is_pinned(&self) -> bool {
        read_lock(&self.pinned).is_some()
    }

    /// Current size of the `.log` file as far as readers are concerned.
    pub(crate) fn size(&self) -> u64 {
        self.size.load(Ordering::Acquire)
    }

    /// Timestamp metadata.
    pub(crate) fn meta(&self) -> SegMeta {
        *lock(&self.meta)
    }

    /// Overrides timestamp metadata (clean-shutdown marker).
    pub(crate) fn set_meta(&self, m: SegMeta) {
        *lock(&self.meta) = m;
    }

    /// Records a batch's timestamps in the metadata. Called by the writer under the state lock.
    pub(crate) fn observe(&self, base_offset: i64, max_timestamp: i64) {
        let mut m = lock(&self.meta);
        if m.rolling_timestamp < 0 {
            m.rolling_timestamp = max_timestamp;
        }
        if max_timestamp > m.max_timestamp {
            m.max_timestamp = max_timestamp;
            m.offset_of_max_timestamp = base_offset;
        }
    }

    /// Publishes a new size after the writer appended bytes.
    pub(crate) fn set_size(&self, size: u64) {
        self.size.store(size, Ordering::Release);
    }

    /// The offset index entry a search for `offset` may start from, as `(batch base offset,
    /// byte position)`; `None` (scan from position 0) if there is none or the index has been
    /// found pointing at the wrong batch.
    pub(crate) fn index_entry(&self, offset: i64) -> Option<(i64, u64)> {
        if self.index_suspect.load(Ordering::Acquire) {
            return None;
        }
        let rel = (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        read_lock(&self.offset_index)
            .lookup_entry(rel)
            .map(|(r, p)| (self.base_offset + i64::from(r), u64::from(p)))
    }

    /// The last offset index entry at or before byte `pos`, as `(batch base offset, byte
    /// position)`; `None` if there is none or the index is not trusted.
    pub(crate) fn index_entry_at_or_before(&self, pos: u64) -> Option<(i64, u64)> {
        if self.index_suspect.load(Ordering::Acquire) {
            return None;
        }
        let pos = u32::try_from(pos).unwrap_or(u32::MAX);
        read_lock(&self.offset_index)
            .lookup_position(pos)
            .map(|(r, p)| (self.base_offset + i64::from(r), u64::from(p)))
    }

    /// Every offset index entry as `(batch base offset, byte position)`.
    pub(crate) fn index_entry_list(&self) -> Vec<(i64, u64)> {
        read_lock(&self.offset_index)
            .entries()
            .iter()
            .map(|&(r, p)| (self.base_offset + i64::from(r), u64::from(p)))
            .collect()
    }

    /// Stops trusting the offset index; returns true the first time.
    pub(crate) fn distrust_index(&self) -> bool {
        !self.index_suspect.swap(true, Ordering::AcqRel)
    }

    /// Path of the `.log` file (for messages).
    pub(crate) fn log_path(&self) -> PathBuf {
        segment_file(&self.dir, self.base_offset, LOG_SUFFIX)
    }

    /// Number of offset index entries.
    pub(crate) fn index_entries(&self) -> usize {
        read_lock(&self.offset_index).len()
    }

    /// Sizes of the two index files (for the clean-shutdown marker).
    pub(crate) fn index_file_lens(&self) -> (u64, u64) {
        (
            read_lock(&self.offset_index).file_len(),
            read_lock(&self.time_index).file_len(),
        )
    }

    /// Entry counts of both indexes: the point [`Segment::rewind`] returns to.
    pub(crate) fn index_mark(&self) -> (usize, usize) {
        (
            read_lock(&self.offset_index).len(),
            read_lock(&self.time_index).len(),
        )
    }

    /// Writes a whole batch at `pos` (the writer's view of the end of the file).
    pub(crate) fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        self.dirty.store(true, Ordering::Release);
        let f = self.log_file()?;
        self.files.io.write_at(&f, buf, pos)
    }

    /// Undoes a failed append: the indexes go back to `mark` entries (memory first, so readers
    /// never use an entry beyond the file), then the `.log` is cut to `log_len` and the index
    /// files to their entries, removing any torn bytes. Readers never looked past the published
    /// position, so nothing they saw changes. Safe to call again if it failed.
    pub(crate) fn rewind(&self, log_len: u64, mark: (usize, usize)) -> io::Result<()> {
        let (ilen, tlen) = {
            let mut oi = write_lock(&self.offset_index);
            let mut ti = write_lock(&self.time_index);
            oi.truncate(mark.0);
            ti.truncate(mark.1);
            (oi.file_len(), ti.file_len())
        };
        self.dirty.store(true, Ordering::Release);
        let io = &self.files.io;
        io.set_len(&*self.log_file()?, log_len)?;
        io.set_len(&*self.index_file(FileKind::Index)?, ilen)?;
        io.set_len(&*self.index_file(FileKind::TimeIndex)?, tlen)
    }

    /// Adds index entries for a batch about to be (or just) written at `pos`, following
    /// `index.interval.bytes`, and advances `bytes_since_index`. On error the entry may be
    /// half-written to the file: the caller rewinds.
    pub(crate) fn index_batch(
        &self,
        pos: u64,
        base_offset: i64,
        batch_size: u64,
        bytes_since_index: &mut u64,
        interval: u64,
    ) -> io::Result<()> {
        if pos > 0 && *bytes_since_index >= interval {
            let rel = (base_offset - self.base_offset) as u32;
            // Only the partition's single writer appends, so the end cannot move meanwhile.
            let at = read_lock(&self.offset_index).file_len();
            let f = self.index_file(FileKind::Index)?;
            self.dirty.store(true, Ordering::Release);
            self.files
                .io
                .write_at(&f, &OffsetIndex::encode(rel, pos as u32), at)?;
            write_lock(&self.offset_index).push(rel, pos as u32);
            let m = self.meta();
            if m.max_timestamp >= 0 {
                let mrel = (m.offset_of_max_timestamp - self.base_offset) as u32;
                self.append_time_entry(m.max_timestamp, mrel)?;
            }
            *bytes_since_index = 0;
        }
        *bytes_since_index += batch_size;
        Ok(())
    }

    /// Appends `(ts, rel)` to the time index if `ts` is larger than its last timestamp.
    fn append_time_entry(&self, ts: i64, rel: u32) -> io::Result<()> {
        let (entry, at) = {
            let ti = read_lock(&self.time_index);
            match ti.entry_for(ts, rel) {
                Some(e) => (e, ti.file_len()),
                None => return Ok(()),
            }
        };
        let f = self.index_file(FileKind::TimeIndex)?;
        self.dirty.store(true, Ordering::Release);
        self.files.io.write_at(&f, &entry, at)?;
        write_lock(&self.time_index).push(ts, rel);
        Ok(())
    }

    /// Seals the segment at roll: writes a final time index entry for the segment's largest
    /// timestamp so a reopen finds it without scanning.
    pub(crate) fn seal(&self) -> io::Result<()> {
        let m = self.meta();
        if m.max_timestamp >= 0 {
            let rel = (m.offset_of_max_timestamp - self.base_offset) as u32;
            self.append_time_entry(m.max_timestamp, rel)?;
        }
        Ok(())
    }

    /// fsync of the log and both indexes if anything was written since the last one. A sealed
    /// segment reopens its files through the cache for this (see `files.rs` on why an fsync
    /// through another descriptor is sound).
    pub(crate) fn sync(&self) -> Result<(), SyncError> {
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let io = &self.files.io;
        let r = self
            .log_file()
            .map_err(SyncError::Open)
            .and_then(|f| io.sync_data(&f).map_err(SyncError::Fsync))
            .and_then(|_| self.index_file(FileKind::Index).map_err(SyncError::Open))
            .and_then(|f| io.sync_data(&f).map_err(SyncError::Fsync))
            .and_then(|_| {
                self.index_file(FileKind::TimeIndex)
                    .map_err(SyncError::Open)
            })
            .and_then(|f| io.sync_data(&f).map_err(SyncError::Fsync))
            .and_then(|_| self.sync_txn_index());
        if r.is_err() {
            self.dirty.store(true, Ordering::Release);
        }
        r
    }

    /// fsync of the `.txnindex` if it was written since the last one.
    fn sync_txn_index(&self) -> Result<(), SyncError> {
        self.txn_index
            .sync(&*self.files.io)
            .map_err(SyncError::Fsync)
    }

    /// Appends an aborted transaction whose marker is in this segment to its index.
    pub(crate) fn append_aborted(&self, e: AbortedTxn) -> io::Result<()> {
        self.dirty.store(true, Ordering::Release);
        self.txn_index.append(&*self.files.io, e)
    }

    /// Drops the aborted transactions whose marker is at or after `offset` (a cut or replayed
    /// tail).
    pub(crate) fn truncate_aborted(&self, offset: i64) -> io::Result<()> {
        self.dirty.store(true, Ordering::Release);
        self.txn_index.truncate(&*self.files.io, offset)
    }

    /// Adds this segment's aborted transactions overlapping `[fetch_offset, upper)` to `out`;
    /// true when later segments need not be searched (`txn_index::collect`).
    pub(crate) fn collect_aborted(
        &self,
        fetch_offset: i64,
        upper: i64,
        out: &mut Vec<AbortedTxn>,
    ) -> bool {
        self.txn_index.collect(fetch_offset, upper, out)
    }

    /// Every aborted transaction of this segment's index.
    #[cfg(test)]
    pub(crate) fn aborted_entries(&self) -> Vec<AbortedTxn> {
        self.txn_index.entries()
    }

    fn read_header(file: &File, pos: u64) -> io::Result<BatchHeader> {
        let mut h = [0u8; HEADER_SIZE];
        file.read_exact_at(&mut h, pos)?;
        BatchHeader::parse(&h).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// First batch below `end_pos` with MaxTimestamp ≥ `ts` and last offset ≥ `min_offset`,
    /// starting where the time index allows.
    pub(crate) fn find_timestamp(
        &self,
        ts: i64,
        min_offset: i64,
        end_pos: u64,
    ) -> io::Result<Option<BatchHeader>> {
        let start_rel = read_lock(&self.time_index).lookup_before(ts).unwrap_or(0);
        let min_rel = (min_offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32;
        let mut pos = u64::from(read_lock(&self.offset_index).lookup(start_rel.max(min_rel)));
        let file = self.log_file()?;
        while pos + HEADER_SIZE as u64 <= end_pos {
            let h = Self::read_header(&file, pos)?;
            if h.max_timestamp >= ts && h.last_offset() >= min_offset {
                return Ok(Some(h));
            }
            pos += h.batch_size() as u64;
        }
        Ok(None)
    }

    /// Calls `f` with the header of every batch whose base offset is ≥ `from_offset`, in order,
    /// and for a transaction marker what it says (`control.rs`: only control batches are read
    /// past their header), reading sequentially in large chunks. Stops at the first invalid
    /// header (sealed segments are trusted; the active one was recovered first).
    pub(crate) fn for_each_header(
        &self,
        from_offset: i64,
        mut f: impl FnMut(&BatchHeader, Option<TxnMarker>) -> io::Result<()>,
    ) -> io::Result<()> {
        let end = self.size();
        let file = self.log_file()?;
        let mut scan = Scanner::new(&file, end);
        let mut pos = 0u64;
        while let Some(slice) = scan.get(pos, HEADER_SIZE)? {
            let Ok(h) = BatchHeader::parse(slice) else {
                break;
            };
            if h.base_offset >= from_offset {
                let marker = if h.is_control() {
                    scan.get(pos, h.batch_size())?
                        .and_then(|b| parse_marker(b, &h))
                } else {
                    None
                };
                f(&h, marker)?;
            }
            pos += h.batch_size() as u64;
        }
        Ok(())
    }

    /// Scans the whole segment, validating every batch (header, CRC, increasing offsets from
    /// the base offset) and rebuilding both indexes and the timestamp metadata from scratch.
    /// If `truncate`, a torn or corrupt tail is cut off at the last valid batch; otherwise
    /// (sealed segment with a damaged index) the data is left alone and indexing stops there.
    pub(crate) fn recover(&self, interval: u64, truncate: bool) -> io::Result<Recovered> {
        let log = self.log_file()?;
        let file_len = log.metadata()?.len();
        for (kind, ext) in [
            (FileKind::Index, INDEX_SUFFIX),
            (FileKind::TimeIndex, TIME_INDEX_SUFFIX),
        ] {
            let f = create_truncated(&segment_file(&self.dir, self.base_offset, ext))?;
            self.files.cache.put((self.id, kind), f);
        }
        *write_lock(&self.offset_index) = OffsetIndex::new();
        *write_lock(&self.time_index) = TimeIndex::new();
        *lock(&self.meta) = EMPTY_META;
        self.index_suspect.store(false, Ordering::Release);
        let mut scan = Scanner::new(&log, file_len);
        let mut pos = 0u64;
        let mut next = self.base_offset;
        let mut since = 0u64;
        let mut reason = "";
        while pos < file_len {
            let Some(hdr) = scan.get(pos, HEADER_SIZE)? else {
                reason = "torn batch header";
                break;
            };
            let h = match BatchHeader::parse(hdr) {
                Ok(h) => h,
                Err(_) => {
                    reason = "invalid batch header";
                    break;
                }
            };
            let size = h.batch_size();
            let Some(batch) = scan.get(pos, size)? else {
                reason = "torn batch";
                break;
            };
            if compute_crc(batch) != h.crc {
                reason = "CRC mismatch";
                break;
            }
            // Offsets increase; gaps are where the log cleaner removed records.
            if h.base_offset < next || h.last_offset_delta < 0 {
                reason = "offsets not increasing";
                break;
            }
            self.index_batch(pos, h.base_offset, size as u64, &mut since, interval)?;
            self.observe(h.base_offset, h.max_timestamp);
            next = h.last_offset() + 1;
            pos += size as u64;
        }
        let mut truncated = 0;
        if pos < file_len {
            if truncate {
                tracing::warn!(
                    segment = %segment_file(&self.dir, self.base_offset, LOG_SUFFIX).display(),
                    valid_bytes = pos,
                    file_bytes = file_len,
                    reason,
                    "truncating invalid tail of log segment"
                );
                self.files.io.set_len(&log, pos)?;
                self.files.io.sync_data(&log)?;
                truncated = file_len - pos;
            } else {
                tracing::warn!(
                    segment = %segment_file(&self.dir, self.base_offset, LOG_SUFFIX).display(),
                    valid_bytes = pos,
                    reason,
                    "sealed segment has an invalid region; index stops there"
                );
            }
        }
        self.set_size(if truncate { pos } else { file_len });
        self.dirty.store(true, Ordering::Release);
        Ok(Recovered {
            next_offset: next,
            truncated_bytes: truncated,
            bytes_since_index: since,
        })
    }

    /// Unlinks the segment's files and drops its descriptors (in-flight reads keep theirs, so
    /// they stay valid; the space is freed when the last one closes).
    pub(crate) fn delete_files(&self) -> io::Result<()> {
        self.unpin();
        self.files.cache.forget_segment(self.id);
        for ext in [
            LOG_SUFFIX,
            INDEX_SUFFIX,
            TIME_INDEX_SUFFIX,
            TXN_INDEX_SUFFIX,
        ] {
            match std::fs::remove_file(segment_file(&self.dir, self.base_offset, ext)) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

/// Sequential chunked reader over a file, so recovery does one `pread` per MiB, not per batch.
struct Scanner<'a> {
    file: &'a File,
    len: u64,
    buf: Vec<u8>,
    start: u64,
}

impl<'a> Scanner<'a> {
    fn new(file: &'a File, len: u64) -> Self {
        Scanner {
            file,
            len,
            buf: Vec::new(),
            start: 0,
        }
    }

    /// `n` bytes at `pos`, or `None` if the file ends first.
    fn get(&mut self, pos: u64, n: usize) -> io::Result<Option<&[u8]>> {
        if pos.checked_add(n as u64).is_none_or(|e| e > self.len) {
            return Ok(None);
        }
        let have = pos >= self.start && pos + n as u64 <= self.start + self.buf.len() as u64;
        if !have {
            let want = (n.max(SCAN_CHUNK) as u64).min(self.len - pos) as usize;
            self.buf.resize(want, 0);
            self.file.read_exact_at(&mut self.buf, pos)?;
            self.start = pos;
        }
        let off = (pos - self.start) as usize;
        Ok(Some(&self.buf[off..off + n]))
    }
}
