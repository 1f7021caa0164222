//! File handles of the log engine and the seam its writes go through.
//!
//! - [`FileIo`]: the write path's file I/O — positioned write, truncate, fsync — behind a small
//!   trait so tests inject `ENOSPC`, `EIO` and torn writes (`testutil::FaultyIo`) instead of
//!   forcing a failed state. [`RealIo`] calls the OS. Reads do not go through it: a read error
//!   fails only the read.
//! - [`FdCache`]: a bounded LRU of open descriptors shared by all partitions of a broker. Only
//!   the active segment's `.log` stays open for the partition's lifetime (it takes every append
//!   and most fetches); every index file and every sealed segment's `.log` is opened through
//!   the cache when it is used and closed when it falls out. So a broker holds one descriptor
//!   per partition plus at most `log.max_open_segment_files`, instead of three per segment.
//! - [`LogFiles`]: the two together, handed to every partition by the `LogManager`.
//!
//! Invariants: the cache hands out `Arc<File>`; eviction drops only the cache's reference, so a
//! read or fsync in flight keeps its descriptor until it finishes (the cap can be exceeded
//! briefly by in-flight handles, never by cached ones). Keys carry a per-`Segment` id that is
//! never reused, so a recreated file at the same path (topic deleted and created again) never
//! meets a stale handle; a `Segment` forgets its keys when dropped or deleted.
//!
//! fsync through a descriptor other than the one that wrote is sound on Linux: fsync flushes
//! the inode's dirty pages whichever descriptor wrote them, and a writeback error not yet seen
//! by anyone is reported to a descriptor opened after it (Linux ≥ 4.16).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use super::lock;

/// Default of `log.max_open_segment_files`.
pub const DEFAULT_MAX_OPEN_FILES: usize = 1000;

/// The write path's file operations. Implementations must be thread-safe; the log calls them
/// under the partition's writer lock (writes, truncation) or from the flusher (fsync).
pub trait FileIo: Send + Sync + fmt::Debug {
    /// Writes all of `buf` at `pos`. On error a prefix may have been written (a torn write).
    fn write_at(&self, file: &File, buf: &[u8], pos: u64) -> io::Result<()>;
    /// Sets the file's length (the log only ever shrinks files with it).
    fn set_len(&self, file: &File, len: u64) -> io::Result<()>;
    /// fsync of the file's data.
    fn sync_data(&self, file: &File) -> io::Result<()>;
}

/// [`FileIo`] on the real file system.
#[derive(Debug, Default)]
pub struct RealIo;

impl FileIo for RealIo {
    fn write_at(&self, file: &File, buf: &[u8], pos: u64) -> io::Result<()> {
        file.write_all_at(buf, pos)
    }
    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        file.set_len(len)
    }
    fn sync_data(&self, file: &File) -> io::Result<()> {
        file.sync_data()
    }
}

/// True for the errors that mean "the disk (or quota) is full".
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC) | Some(libc::EDQUOT))
}

/// True for errors of a *write or open* after which nothing already written is lost, so the
/// writer may cut off its partial tail and try again later: a full disk or quota, or no file
/// descriptor left. Never use it for an fsync error: after a failed fsync the page cache may
/// have dropped dirty data, and that is fail-stop.
pub fn is_retryable_write_error(e: &io::Error) -> bool {
    is_no_space(e) || matches!(e.raw_os_error(), Some(libc::EMFILE) | Some(libc::ENFILE))
}

/// Which of a segment's three files a cache key names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum FileKind {
    Log,
    Index,
    TimeIndex,
}

/// Cache key: a segment instance and one of its files.
pub(crate) type FileKey = (u64, FileKind);

static NEXT_SEGMENT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh, never reused id for a `Segment` instance.
pub(crate) fn next_segment_id() -> u64 {
    NEXT_SEGMENT_ID.fetch_add(1, Ordering::Relaxed)
}

/// Bounded LRU of open file handles. Lock: a `std::sync::Mutex` held only for map updates,
/// never across an `open` or any other syscall.
pub struct FdCache {
    cap: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    map: HashMap<FileKey, (Arc<File>, u64)>,
    /// Last-use tick → key; the first entry is the least recently used.
    order: BTreeMap<u64, FileKey>,
    tick: u64,
    opens: u64,
}

impl Lru {
    fn touch(&mut self, key: FileKey) -> Option<Arc<File>> {
        self.tick += 1;
        let tick = self.tick;
        let (f, t) = self.map.get_mut(&key)?;
        self.order.remove(t);
        *t = tick;
        self.order.insert(tick, key);
        Some(Arc::clone(f))
    }

    fn insert(&mut self, key: FileKey, file: Arc<File>, cap: usize) {
        self.remove(key);
        self.tick += 1;
        self.map.insert(key, (file, self.tick));
        self.order.insert(self.tick, key);
        while self.map.len() > cap {
            let Some((_, k)) = self.order.pop_first() else {
                break;
            };
            self.map.remove(&k);
        }
    }

    fn remove(&mut self, key: FileKey) {
        if let Some((_, t)) = self.map.remove(&key) {
            self.order.remove(&t);
        }
    }
}

impl fmt::Debug for FdCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FdCache")
            .field("cap", &self.cap)
            .field("open", &self.open_files())
            .finish()
    }
}

impl FdCache {
    /// A cache keeping at most `cap` descriptors open (0: every use opens and closes).
    pub fn new(cap: usize) -> Self {
        FdCache {
            cap,
            inner: Mutex::new(Lru::default()),
        }
    }

    /// The configured cap.
    pub fn cap(&self) -> usize {
        self.cap
    }

    /// Descriptors currently held by the cache.
    pub fn open_files(&self) -> usize {
        lock(&self.inner).map.len()
    }

    /// Files opened because they were not cached (a miss counter, for tests and figures).
    pub fn opens(&self) -> u64 {
        lock(&self.inner).opens
    }

    /// The handle for `key`, opening `path` read-write (never creating it) on a miss.
    pub(crate) fn get(&self, key: FileKey, path: &Path) -> io::Result<Arc<File>> {
        if let Some(f) = lock(&self.inner).touch(key) {
            return Ok(f);
        }
        let file = Arc::new(OpenOptions::new().read(true).write(true).open(path)?);
        let mut g = lock(&self.inner);
        g.opens += 1;
        // Another thread may have opened it meanwhile; keep theirs, ours closes on drop.
        if let Some(f) = g.touch(key) {
            return Ok(f);
        }
        g.insert(key, Arc::clone(&file), self.cap);
        Ok(file)
    }

    /// Caches a handle the caller just opened (a freshly created file).
    pub(crate) fn put(&self, key: FileKey, file: File) -> Arc<File> {
        let file = Arc::new(file);
        lock(&self.inner).insert(key, Arc::clone(&file), self.cap);
        file
    }

    /// Drops every cached handle of a segment instance.
    pub(crate) fn forget_segment(&self, id: u64) {
        let mut g = lock(&self.inner);
        for kind in [FileKind::Log, FileKind::Index, FileKind::TimeIndex] {
            g.remove((id, kind));
        }
    }
}

/// What every partition of a broker shares for file access: the I/O seam and the descriptor
/// cache. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LogFiles {
    pub(crate) io: Arc<dyn FileIo>,
    pub(crate) cache: Arc<FdCache>,
}

impl Default for LogFiles {
    fn default() -> Self {
        LogFiles::new(DEFAULT_MAX_OPEN_FILES)
    }
}

impl LogFiles {
    /// Real file I/O with a descriptor cache of `max_open_files`.
    pub fn new(max_open_files: usize) -> Self {
        LogFiles {
            io: Arc::new(RealIo),
            cache: Arc::new(FdCache::new(max_open_files)),
        }
    }

    /// Custom I/O (fault injection in tests).
    pub fn with_io(io: Arc<dyn FileIo>, max_open_files: usize) -> Self {
        LogFiles {
            io,
            cache: Arc::new(FdCache::new(max_open_files)),
        }
    }

    /// The shared descriptor cache.
    pub fn cache(&self) -> &FdCache {
        &self.cache
    }
}

/// A [`FileIo`] that fails on demand, for tests: writes can fail with any errno after writing
/// a prefix (a torn write), fsyncs can fail; `heal` makes everything succeed again ("space
/// returns"). Truncation always succeeds (freeing space needs none).
#[cfg(test)]
#[derive(Debug, Default)]
pub(crate) struct FaultyIo {
    write_errno: std::sync::atomic::AtomicI32,
    torn_bytes: std::sync::atomic::AtomicUsize,
    sync_errno: std::sync::atomic::AtomicI32,
    /// Writes that still succeed before the failing ones start.
    skip: AtomicU64,
    failed_writes: AtomicU64,
}

#[cfg(test)]
impl FaultyIo {
    /// Every write from now on writes at most `torn` bytes, then fails with `errno`.
    pub(crate) fn fail_writes(&self, errno: i32, torn: usize) {
        self.fail_writes_after(0, errno, torn);
    }

    /// Like `fail_writes`, but the next `skip` writes still succeed.
    pub(crate) fn fail_writes_after(&self, skip: u64, errno: i32, torn: usize) {
        self.torn_bytes.store(torn, Ordering::SeqCst);
        self.skip.store(skip, Ordering::SeqCst);
        self.write_errno.store(errno, Ordering::SeqCst);
    }

    /// Every fsync from now on fails with `errno`.
    pub(crate) fn fail_syncs(&self, errno: i32) {
        self.sync_errno.store(errno, Ordering::SeqCst);
    }

    /// Writes and fsyncs succeed again.
    pub(crate) fn heal(&self) {
        self.write_errno.store(0, Ordering::SeqCst);
        self.sync_errno.store(0, Ordering::SeqCst);
    }

    /// Writes that failed so far.
    pub(crate) fn failed_writes(&self) -> u64 {
        self.failed_writes.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
impl FileIo for FaultyIo {
    fn write_at(&self, file: &File, buf: &[u8], pos: u64) -> io::Result<()> {
        let errno = self.write_errno.load(Ordering::SeqCst);
        if errno == 0
            || self
                .skip
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok()
        {
            return file.write_all_at(buf, pos);
        }
        let torn = self.torn_bytes.load(Ordering::SeqCst).min(buf.len());
        file.write_all_at(&buf[..torn], pos)?;
        self.failed_writes.fetch_add(1, Ordering::SeqCst);
        Err(io::Error::from_raw_os_error(errno))
    }
    fn set_len(&self, file: &File, len: u64) -> io::Result<()> {
        file.set_len(len)
    }
    fn sync_data(&self, file: &File) -> io::Result<()> {
        match self.sync_errno.load(Ordering::SeqCst) {
            0 => file.sync_data(),
            errno => Err(io::Error::from_raw_os_error(errno)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(dir: &Path, name: &str) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, name.as_bytes()).unwrap();
        p
    }

    #[test]
    fn lru_keeps_at_most_cap_and_evicts_least_recently_used() {
        let d = tempfile::tempdir().unwrap();
        let c = FdCache::new(2);
        let (a, b, x) = (
            touch(d.path(), "a"),
            touch(d.path(), "b"),
            touch(d.path(), "x"),
        );
        let ka = (1, FileKind::Log);
        let kb = (2, FileKind::Log);
        let kx = (3, FileKind::Index);
        c.get(ka, &a).unwrap();
        c.get(kb, &b).unwrap();
        assert_eq!(c.opens(), 2);
        c.get(ka, &a).unwrap(); // hit: a is now the most recent
        assert_eq!(c.opens(), 2);
        c.get(kx, &x).unwrap(); // evicts b
        assert_eq!(c.open_files(), 2);
        c.get(ka, &a).unwrap();
        assert_eq!(c.opens(), 3);
        c.get(kb, &b).unwrap(); // miss again
        assert_eq!(c.opens(), 4);
        assert_eq!(c.open_files(), 2);
    }

    #[test]
    fn evicted_handle_stays_usable_and_forget_drops_entries() {
        let d = tempfile::tempdir().unwrap();
        let c = FdCache::new(1);
        let a = touch(d.path(), "a");
        let b = touch(d.path(), "b");
        let held = c.get((1, FileKind::Log), &a).unwrap();
        c.get((2, FileKind::Log), &b).unwrap();
        let mut buf = [0u8; 1];
        held.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(&buf, b"a");
        c.forget_segment(2);
        assert_eq!(c.open_files(), 0);
        // Zero capacity: nothing is kept, every use opens.
        let z = FdCache::new(0);
        z.get((1, FileKind::Log), &a).unwrap();
        z.get((1, FileKind::Log), &a).unwrap();
        assert_eq!((z.open_files(), z.opens()), (0, 2));
        // Missing files are not created.
        assert!(c.get((9, FileKind::Log), &d.path().join("nope")).is_err());
    }

    #[test]
    fn no_space_errors_are_recognised() {
        assert!(is_no_space(&io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(is_no_space(&io::Error::from_raw_os_error(libc::EDQUOT)));
        assert!(!is_no_space(&io::Error::from_raw_os_error(libc::EIO)));
        assert!(is_retryable_write_error(&io::Error::from_raw_os_error(
            libc::EMFILE
        )));
        assert!(!is_retryable_write_error(&io::Error::from_raw_os_error(
            libc::EIO
        )));
    }
}
