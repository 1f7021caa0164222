//! One cleaning pass over one partition (Kafka's `Cleaner.clean`):
//!
//! 1. take a [`CleanView`] and its [`Plan`](super::plan::Plan);
//! 2. build the offset map over the dirty range, batch by batch, until the range ends or the
//!    map's byte budget would be passed; the map's end (one past its last batch) becomes the
//!    next checkpoint, and what lies beyond is left for the next pass;
//! 3. rewrite every sealed segment from the log start whose base is below the map's end
//!    (`filter.rs` decides per batch), each into `<base>.cleaned/` with fresh indexes, and
//!    install it (`swap.rs`, `partition/compaction.rs`); a segment whose every batch is kept
//!    whole is left alone;
//! 4. write the checkpoint.
//!
//! Tombstones: a segment keeps its tombstones unless it lay wholly in the clean range when the
//! pass started and its `.log` was last modified at least `delete.retention.ms` before `now`.
//! A cleaned segment's modification time is `now` if it held dirty records (so a tombstone
//! lives at least `delete.retention.ms` after its first cleaning, which is what consumers
//! reading a compacted topic from the start rely on) and the old one's otherwise (so later
//! passes do not extend it). Kafka ≥ 3.1 stores that horizon in the batch instead (KIP-534);
//! the mtime rule is the one Kafka used before.
//!
//! Every batch read is CRC-checked; a damaged one stops the pass (`CleanError::Corrupt`), and
//! nothing of the partition changes. Reads go through a chunked reader (bounded memory: one
//! chunk plus the largest batch), writes through the log's `FileIo` seam. A stop request
//! (shutdown) is honoured between batches; an unfinished cleaned copy is discarded.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::filter::{filter_batch, for_each_record, records_of, Kept, Rules};
use super::offset_map::OffsetMap;
use super::plan::{plan, Plan};
use super::swap;
use super::throttle::Throttle;
use super::CleanError;
use crate::log::batch::{compute_crc, BatchHeader, HEADER_SIZE};
use crate::log::files::LogFiles;
use crate::log::partition::{CleanView, PartitionLog};
use crate::log::segment::{segment_file, Segment, SyncError, LOG_SUFFIX};

/// Read-ahead of the segment reader.
const READ_CHUNK: usize = 1 << 20;

/// How a pass runs.
pub struct PassOptions<'a> {
    /// Byte budget of the offset map (`log.cleaner_dedupe_buffer_size` / threads).
    pub map_bytes: usize,
    /// Clean even if the partition is not due (tests, and a pass that only drops tombstones).
    pub force: bool,
    /// Shared I/O throttle, if any.
    pub throttle: Option<&'a Throttle>,
    /// Set at shutdown: the pass stops between batches.
    pub stop: &'a AtomicBool,
}

/// What a pass did.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PassStats {
    /// Whether the partition was due (or forced) and cleaned.
    pub cleaned: bool,
    /// Dirty ratio when the pass started.
    pub dirty_ratio: f64,
    /// Segments replaced by a cleaned copy.
    pub segments_rewritten: u64,
    /// Bytes read (map building and rewriting).
    pub bytes_read: u64,
    /// Bytes of cleaned segments written.
    pub bytes_written: u64,
    /// Records looked at while rewriting.
    pub records_read: u64,
    /// Records removed.
    pub records_removed: u64,
    /// The new first dirty offset.
    pub checkpoint: i64,
}

/// The plan of `log` now, for choosing the dirtiest partition.
pub(crate) fn plan_of(log: &PartitionLog, now_ms: i64) -> Result<Plan, CleanError> {
    Ok(plan(&log.clean_view()?, now_ms))
}

/// One pass over `log` at `now_ms` (see the module docs).
pub fn clean(
    log: &PartitionLog,
    files: &LogFiles,
    opts: &PassOptions<'_>,
    now_ms: i64,
) -> Result<PassStats, CleanError> {
    let view = log.clean_view()?;
    let p = plan(&view, now_ms);
    let mut stats = PassStats {
        dirty_ratio: p.dirty_ratio(),
        checkpoint: p.first_dirty,
        ..PassStats::default()
    };
    if !opts.force && !p.is_due(view.config.min_cleanable_dirty_ratio_ppm) {
        return Ok(stats);
    }
    let mut map = OffsetMap::new(opts.map_bytes);
    let map_end = build_map(&view, &p, &mut map, opts, &mut stats)?;
    log.begin_cleaning_below(map_end)?;
    for (seg, next) in &view.sealed {
        if seg.base_offset >= map_end {
            break;
        }
        if opts.stop.load(Ordering::Acquire) {
            return Err(CleanError::Stopped);
        }
        let was_clean = *next <= p.first_dirty;
        let src_mtime = mtime_ms(&seg.log_path())
            .map_err(|e| io_err("reading the mtime of", &seg.log_path(), e))?;
        let rules = Rules {
            map: &map,
            keep_tombstones: !(was_clean
                && src_mtime.saturating_add(view.config.delete_retention_ms) <= now_ms),
            producer_last: &view.producer_last,
        };
        let out_mtime = if was_clean { src_mtime } else { now_ms };
        let changed = rewrite(
            log.dir(),
            seg,
            files,
            &view,
            &rules,
            out_mtime,
            opts,
            &mut stats,
        )?;
        if changed {
            if log.install_cleaned(seg)? {
                stats.segments_rewritten += 1;
            }
        } else {
            swap::discard(log.dir(), seg.base_offset)
                .map_err(|e| io_err("discarding a cleaned copy in", log.dir(), e))?;
        }
    }
    log.set_cleaner_offset(map_end)?;
    stats.cleaned = true;
    stats.checkpoint = map_end;
    Ok(stats)
}

fn io_err(what: &str, path: &Path, e: io::Error) -> CleanError {
    CleanError::Io {
        what: format!("{what} {}", path.display()),
        source: e,
    }
}

fn mtime_ms(path: &Path) -> io::Result<i64> {
    let m = std::fs::metadata(path)?.modified()?;
    Ok(m.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64))
}

/// Builds the offset map over the dirty range; returns its end (the next checkpoint).
fn build_map(
    view: &CleanView,
    p: &Plan,
    map: &mut OffsetMap,
    opts: &PassOptions<'_>,
    stats: &mut PassStats,
) -> Result<i64, CleanError> {
    let mut end = p.first_dirty;
    let mut keys: Vec<(Vec<u8>, i64)> = Vec::new();
    for (seg, next) in &view.sealed {
        if *next <= p.first_dirty {
            continue;
        }
        if seg.base_offset >= p.first_uncleanable {
            break;
        }
        let mut r = BatchReader::open(seg)?;
        while let Some((h, batch)) = r.next()? {
            if opts.stop.load(Ordering::Acquire) {
                return Err(CleanError::Stopped);
            }
            stats.bytes_read += batch.len() as u64;
            if let Some(t) = opts.throttle {
                t.acquire(batch.len() as u64);
            }
            if h.last_offset() < p.first_dirty || h.is_control() {
                end = end.max(h.last_offset() + 1);
                continue;
            }
            let raw = records_of(batch, &h)?;
            keys.clear();
            let mut cost = 0;
            for_each_record(&raw, &h, |rec| {
                if let Some(k) = rec.key {
                    keys.push((k.to_vec(), h.base_offset + i64::from(rec.meta.offset_delta)));
                }
            })?;
            for (k, _) in &keys {
                if !map.contains(k) {
                    cost += OffsetMap::cost(k);
                }
            }
            if cost > map.room() {
                if end == p.first_dirty {
                    return Err(CleanError::MapTooSmall {
                        budget: opts.map_bytes,
                        offset: h.base_offset,
                    });
                }
                return Ok(end);
            }
            for (k, o) in &keys {
                map.put(k, *o);
            }
            end = h.last_offset() + 1;
        }
        end = end.max(*next);
    }
    Ok(end.min(p.first_uncleanable.max(p.first_dirty)))
}

/// Writes the cleaned copy of `seg` into `<base>.cleaned/`; returns whether it differs from
/// the segment (if not, the copy is left for the caller to discard).
#[allow(clippy::too_many_arguments)]
fn rewrite(
    dir: &Path,
    seg: &Arc<Segment>,
    files: &LogFiles,
    view: &CleanView,
    rules: &Rules<'_>,
    out_mtime: i64,
    opts: &PassOptions<'_>,
    stats: &mut PassStats,
) -> Result<bool, CleanError> {
    let base = seg.base_offset;
    let cdir =
        swap::prepare(dir, base).map_err(|e| io_err("creating a cleaned segment in", dir, e))?;
    let werr = |e| io_err("writing the cleaned segment", &cdir, e);
    let out = Segment::create(&cdir, base, files).map_err(werr)?;
    let mut r = BatchReader::open(seg)?;
    let (mut pos, mut since, mut changed) = (0u64, 0u64, false);
    let interval = view.config.index_interval_bytes;
    while let Some((h, batch)) = r.next()? {
        if opts.stop.load(Ordering::Acquire) {
            drop(out);
            let _ = swap::discard(dir, base);
            return Err(CleanError::Stopped);
        }
        stats.bytes_read += batch.len() as u64;
        if let Some(t) = opts.throttle {
            t.acquire(batch.len() as u64);
        }
        let (kept, counts) = filter_batch(batch, &h, rules)?;
        stats.records_read += counts.read;
        stats.records_removed += counts.removed;
        let bytes: &[u8] = match &kept {
            Kept::Whole(b) => b,
            Kept::Rebuilt(b) => {
                changed = true;
                b
            }
            Kept::Dropped => {
                changed = true;
                continue;
            }
        };
        out.write_at(bytes, pos).map_err(werr)?;
        out.index_batch(pos, h.base_offset, bytes.len() as u64, &mut since, interval)
            .map_err(werr)?;
        out.observe(h.base_offset, h.max_timestamp);
        pos += bytes.len() as u64;
        out.set_size(pos);
    }
    if !changed {
        return Ok(false);
    }
    stats.bytes_written += pos;
    out.seal().map_err(werr)?;
    out.sync().map_err(|e| match e {
        SyncError::Open(e) | SyncError::Fsync(e) => werr(e),
    })?;
    let log = segment_file(&cdir, base, LOG_SUFFIX);
    drop(out);
    let mtime = UNIX_EPOCH + Duration::from_millis(u64::try_from(out_mtime).unwrap_or(0));
    OpenOptions::new()
        .write(true)
        .open(&log)
        .and_then(|f| f.set_modified(mtime.max(SystemTime::UNIX_EPOCH)))
        .map_err(werr)?;
    Ok(true)
}

/// Reads a sealed segment's batches in order through a chunk buffer, checking each one's
/// header, bounds and CRC.
struct BatchReader {
    file: Arc<File>,
    path: std::path::PathBuf,
    end: u64,
    pos: u64,
    buf: Vec<u8>,
    buf_start: u64,
}

impl BatchReader {
    fn open(seg: &Segment) -> Result<Self, CleanError> {
        let path = seg.log_path();
        let file = seg.log_file().map_err(|e| io_err("opening", &path, e))?;
        Ok(BatchReader {
            file,
            path,
            end: seg.size(),
            pos: 0,
            buf: Vec::new(),
            buf_start: 0,
        })
    }

    fn corrupt(&self, why: String) -> CleanError {
        CleanError::Corrupt {
            offset: -1,
            why: format!("{} at byte {}: {why}", self.path.display(), self.pos),
        }
    }

    /// Makes `[pos, pos + n)` available in the buffer.
    fn fill(&mut self, n: usize) -> Result<(), CleanError> {
        let have = self.pos >= self.buf_start
            && self.pos + n as u64 <= self.buf_start + self.buf.len() as u64;
        if have {
            return Ok(());
        }
        let want = (n.max(READ_CHUNK) as u64).min(self.end - self.pos) as usize;
        self.buf.resize(want, 0);
        self.file
            .read_exact_at(&mut self.buf, self.pos)
            .map_err(|e| io_err("reading", &self.path, e))?;
        self.buf_start = self.pos;
        Ok(())
    }

    fn next(&mut self) -> Result<Option<(BatchHeader, &[u8])>, CleanError> {
        if self.pos >= self.end {
            return Ok(None);
        }
        if self.pos + HEADER_SIZE as u64 > self.end {
            return Err(self.corrupt("torn batch header".into()));
        }
        self.fill(HEADER_SIZE)?;
        let at = (self.pos - self.buf_start) as usize;
        let h = BatchHeader::parse(&self.buf[at..at + HEADER_SIZE])
            .map_err(|e| self.corrupt(e.to_string()))?;
        let size = h.batch_size();
        if self.pos + size as u64 > self.end || h.last_offset_delta < 0 {
            return Err(self.corrupt(format!("batch of {size} bytes runs past the segment")));
        }
        self.fill(size)?;
        let at = (self.pos - self.buf_start) as usize;
        let batch = &self.buf[at..at + size];
        if compute_crc(batch) != h.crc {
            return Err(CleanError::Corrupt {
                offset: h.base_offset,
                why: format!("{}: CRC mismatch", self.path.display()),
            });
        }
        self.pos += size as u64;
        Ok(Some((h, batch)))
    }
}
