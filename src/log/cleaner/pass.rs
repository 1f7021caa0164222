//! One cleaning pass over one partition (Kafka's `Cleaner.clean`):
//!
//! 1. take a [`CleanView`] and its [`Plan`](super::plan::Plan);
//! 2. build the offset map over the dirty range, batch by batch, until the range ends or the
//!    map's byte budget would be passed; the map's end (one past its last batch) becomes the
//!    next checkpoint, and what lies beyond is left for the next pass;
//! 3. rewrite every sealed segment from the log start whose base is below the map's end
//!    (`filter.rs` decides per batch), grouping consecutive ones into one cleaned segment
//!    (Kafka's `groupSegmentsBySize`, below), each group into `<first base>.cleaned/` with
//!    fresh indexes, and install it (`swap.rs`, `partition/compaction.rs`); a group of one
//!    segment whose every batch is kept whole is left alone;
//! 4. write the checkpoint, with the time the tombstones the pass kept become removable.
//!
//! Grouping: cleaned segments shrink (10% unique keys leave 10% of the bytes), so without it
//! a long-lived compacted log ends up as thousands of tiny segments (descriptors, index
//! memory). Old segments join the group being written while its cleaned output stays within
//! `segment.bytes` and the offset index within `segment.index.bytes`, and the group's offset
//! span (last offset − first base) within `i32::MAX` (relative offsets are 32-bit). The sizes
//! checked are those of the output as it is written, not of the old segments (Kafka's
//! estimate), so a first pass already merges: an old segment whose kept batches would
//! overflow the group is cut off again (`Segment::rewind` to where it started) and begins the
//! next group instead, costing one extra read of that segment per group. The first member of
//! a group is never cut: its output is at most about its own size.
//!
//! Tombstones: a segment keeps its tombstones unless it lay wholly in the clean range when the
//! pass started and its `.log` was last modified at least `delete.retention.ms` before `now`.
//! A cleaned segment's modification time is `now` if one of its old segments held dirty
//! records (so a tombstone lives at least `delete.retention.ms` after its first cleaning,
//! which is what consumers reading a compacted topic from the start rely on) and the newest
//! of its old segments' otherwise (so later passes do not extend it, and grouping never
//! shortens it). The earliest time at which a kept tombstone becomes removable is recorded
//! with the checkpoint, so the plan schedules a pass then even without new records. Kafka ≥
//! 3.1 stores that horizon in the batch instead (KIP-534); the mtime rule is the one Kafka
//! used before.
//!
//! Every batch read is CRC-checked; a damaged one stops the pass (`CleanError::Corrupt`), and
//! nothing of the partition changes. Reads go through a chunked reader (bounded memory: one
//! chunk plus the largest batch), writes through the log's `FileIo` seam. A stop request
//! (shutdown) is honoured between batches; an unfinished cleaned copy is discarded.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::filter::{filter_batch, for_each_record, in_aborted_txn, records_of, Kept, Rules};
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
    /// Old segments replaced by cleaned ones.
    pub segments_rewritten: u64,
    /// Cleaned segments installed (each replaces a group of one or more old segments).
    pub segments_written: u64,
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
    let cfg = &view.config;
    let limits = Limits {
        bytes: cfg.effective_segment_bytes(),
        index_entries: cfg.max_index_entries(),
        interval: cfg.index_interval_bytes,
    };
    let sources = view
        .sealed
        .iter()
        .take_while(|(seg, _)| seg.base_offset < map_end)
        .count();
    let mut tombstones_due = i64::MAX;
    let mut group: Option<Group> = None;
    let mut i = 0;
    while i < sources {
        let (seg, next) = &view.sealed[i];
        let was_clean = *next <= p.first_dirty;
        let src_mtime = mtime_ms(&seg.log_path())
            .map_err(|e| io_err("reading the mtime of", &seg.log_path(), e))?;
        let rules = Rules {
            map: &map,
            keep_tombstones: !(was_clean
                && src_mtime.saturating_add(cfg.delete_retention_ms) <= now_ms),
            producer_last: &view.producer_last,
            aborted: &view.aborted,
        };
        let src = Source {
            seg,
            next: *next,
            rules: &rules,
            src_mtime,
            out_mtime: if was_clean { src_mtime } else { now_ms },
        };
        let mut g = match group.take() {
            Some(g) => g,
            None => Group::start(log.dir(), seg, files)?,
        };
        match g.take(&src, &limits, opts, &mut stats) {
            Ok(true) => {
                group = Some(g);
                i += 1;
            }
            // `seg` did not fit: it starts the next group.
            Ok(false) => {
                let due = g.install(log, &mut stats)?;
                tombstones_due = tombstones_due.min(due);
            }
            Err(e) => {
                let base = g.out.base_offset;
                drop(g);
                let _ = swap::discard(log.dir(), base);
                return Err(e);
            }
        }
    }
    if let Some(g) = group.take() {
        let due = g.install(log, &mut stats)?;
        tombstones_due = tombstones_due.min(due);
    }
    let tombstones_due = if tombstones_due == i64::MAX {
        i64::MAX
    } else {
        tombstones_due.saturating_add(cfg.delete_retention_ms)
    };
    log.set_cleaner_offset(map_end, tombstones_due)?;
    stats.cleaned = true;
    stats.checkpoint = map_end;
    Ok(stats)
}

/// Bounds of one cleaned segment.
struct Limits {
    /// `segment.bytes`, clamped.
    bytes: u64,
    /// Offset index entries at most.
    index_entries: usize,
    /// `index.interval.bytes`.
    interval: u64,
}

/// One old segment to rewrite, with what its filtering depends on.
struct Source<'a> {
    seg: &'a Arc<Segment>,
    /// Base offset of the segment after it.
    next: i64,
    rules: &'a Rules<'a>,
    /// Modification time of its `.log`, ms.
    src_mtime: i64,
    /// What the cleaned segment's modification time must be at least, for it.
    out_mtime: i64,
}

/// The cleaned segment being written in `<base>.cleaned/`: the kept batches of a run of
/// consecutive old segments (`members`).
struct Group {
    cdir: PathBuf,
    out: Segment,
    members: Vec<Arc<Segment>>,
    /// Write position (bytes of the output so far).
    pos: u64,
    /// Bytes since the last offset index entry.
    since: u64,
    /// The output differs from the single old segment (a batch rebuilt or dropped, or more
    /// than one member).
    changed: bool,
    /// Modification time the output gets, ms.
    out_mtime: i64,
    /// Modification time of the first member's `.log` (kept if nothing changed), ms.
    first_mtime: i64,
    /// The output holds a tombstone.
    tombstones: bool,
}

impl Group {
    /// A new, empty group whose first member will be `seg`.
    fn start(dir: &Path, seg: &Segment, files: &LogFiles) -> Result<Group, CleanError> {
        let base = seg.base_offset;
        let cdir = swap::prepare(dir, base)
            .map_err(|e| io_err("creating a cleaned segment in", dir, e))?;
        let out = Segment::create(&cdir, base, files)
            .map_err(|e| io_err("writing the cleaned segment", &cdir, e))?;
        Ok(Group {
            cdir,
            out,
            members: Vec::new(),
            pos: 0,
            since: 0,
            changed: false,
            out_mtime: i64::MIN,
            first_mtime: -1,
            tombstones: false,
        })
    }

    /// Appends the kept batches of `src` if the group's bounds allow; returns false, with the
    /// output as it was before, if they do not (never for the first member).
    fn take(
        &mut self,
        src: &Source<'_>,
        limits: &Limits,
        opts: &PassOptions<'_>,
        stats: &mut PassStats,
    ) -> Result<bool, CleanError> {
        let first = self.members.is_empty();
        let span = src
            .next
            .saturating_sub(1)
            .saturating_sub(self.out.base_offset);
        if !first && (span > i64::from(i32::MAX) || self.pos >= limits.bytes) {
            return Ok(false);
        }
        let werr = |e| io_err("writing the cleaned segment", &self.cdir, e);
        let mark = (self.pos, self.out.index_mark(), self.since, self.out.meta());
        let (mut read, mut removed, mut changed, mut tombstones) = (0, 0, false, false);
        let mut r = BatchReader::open(src.seg)?;
        while let Some((h, batch)) = r.next()? {
            if opts.stop.load(Ordering::Acquire) {
                return Err(CleanError::Stopped);
            }
            stats.bytes_read += batch.len() as u64;
            if let Some(t) = opts.throttle {
                t.acquire(batch.len() as u64);
            }
            let (kept, counts) = filter_batch(batch, &h, src.rules)?;
            read += counts.read;
            removed += counts.removed;
            tombstones |= counts.tombstones_kept > 0;
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
            let full = self.pos + bytes.len() as u64 > limits.bytes
                || self.out.index_entries() >= limits.index_entries;
            if !first && full {
                let (pos, index_mark, since, meta) = mark;
                self.out.rewind(pos, index_mark).map_err(werr)?;
                self.out.set_size(pos);
                self.out.set_meta(meta);
                (self.pos, self.since) = (pos, since);
                return Ok(false);
            }
            self.out.write_at(bytes, self.pos).map_err(werr)?;
            self.out
                .index_batch(
                    self.pos,
                    h.base_offset,
                    bytes.len() as u64,
                    &mut self.since,
                    limits.interval,
                )
                .map_err(werr)?;
            self.out.observe(h.base_offset, h.max_timestamp);
            self.pos += bytes.len() as u64;
            self.out.set_size(self.pos);
        }
        stats.records_read += read;
        stats.records_removed += removed;
        self.changed |= changed || !first;
        self.tombstones |= tombstones;
        self.out_mtime = self.out_mtime.max(src.out_mtime);
        if first {
            self.first_mtime = src.src_mtime;
        }
        self.members.push(Arc::clone(src.seg));
        Ok(true)
    }

    /// Seals, syncs and installs the output in place of the members, or discards it if it is
    /// the unchanged single member. Returns the modification time of the segment that now
    /// holds the group's records if it keeps a tombstone (`i64::MAX` otherwise, or if the
    /// install was refused).
    fn install(self, log: &PartitionLog, stats: &mut PassStats) -> Result<i64, CleanError> {
        let Group {
            cdir,
            out,
            members,
            pos,
            changed,
            out_mtime,
            first_mtime,
            tombstones,
            ..
        } = self;
        let base = out.base_offset;
        let dir = log.dir();
        if !changed {
            drop(out);
            swap::discard(dir, base).map_err(|e| io_err("discarding a cleaned copy in", dir, e))?;
            return Ok(if tombstones { first_mtime } else { i64::MAX });
        }
        if let Err(e) = stage(out, &cdir, &members, out_mtime) {
            let _ = swap::discard(dir, base);
            return Err(e);
        }
        stats.bytes_written += pos;
        if !log.install_cleaned(&members)? {
            return Ok(i64::MAX);
        }
        stats.segments_rewritten += members.len() as u64;
        stats.segments_written += 1;
        Ok(if tombstones { out_mtime } else { i64::MAX })
    }
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
            // Markers and aborted transactions' records never supersede a key's value.
            if h.last_offset() < p.first_dirty
                || h.is_control()
                || in_aborted_txn(&h, &view.aborted)
            {
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

/// Finishes step 1 of `swap.rs` for a group's output: seals and fsyncs it, gives its `.log`
/// the modification time `out_mtime`, writes the manifest naming the other `members`.
fn stage(
    out: Segment,
    cdir: &Path,
    members: &[Arc<Segment>],
    out_mtime: i64,
) -> Result<(), CleanError> {
    let werr = |e| io_err("writing the cleaned segment", cdir, e);
    let base = out.base_offset;
    out.seal().map_err(werr)?;
    out.sync().map_err(|e| match e {
        SyncError::Open(e) | SyncError::Fsync(e) => werr(e),
    })?;
    drop(out);
    let mtime = UNIX_EPOCH + Duration::from_millis(u64::try_from(out_mtime).unwrap_or(0));
    OpenOptions::new()
        .write(true)
        .open(segment_file(cdir, base, LOG_SUFFIX))
        .and_then(|f| f.set_modified(mtime.max(SystemTime::UNIX_EPOCH)))
        .map_err(werr)?;
    let others: Vec<i64> = members.iter().skip(1).map(|s| s.base_offset).collect();
    swap::write_manifest(cdir, &others).map_err(werr)
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
