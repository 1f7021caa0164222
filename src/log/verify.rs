//! Batch-level checks of stored segment bytes, used where the log must not trust what it reads:
//! the fetch path ([`Segment::locate`]) and the background scrubber ([`Segment::check`]).
//!
//! What a stored segment guarantees (see `segment.rs`): batches are whole, back to back from
//! position 0, the first one starts at or after the segment's base offset and each next one
//! after the previous last offset (offsets increase; they are dense except where the log cleaner
//! removed records, `cleaner/`), and every offset index entry points at the
//! start of a batch whose base offset is the entry's offset. Below the high watermark a segment
//! that breaks any of these is damaged (torn by a power cut inside the unflushed window, or
//! rotted): readers get `Fault::Corrupt` — mapped to CORRUPT_MESSAGE like Kafka's
//! `CorruptRecordException` on a fetch — never an empty read that would stall a consumer below
//! the high watermark. The read path checks the headers it walks only (no CRC: it hands out the
//! bytes unread, as a [`FileSlice`](super::slice::FileSlice)); the scrubber checks every batch and
//! CRC-32C.
//!
//! An index entry that points at the wrong batch is not trusted: the segment's index is marked
//! suspect (reads then scan from position 0) and rebuilt by the next recovery.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::batch::{compute_crc, BatchHeader, HEADER_SIZE};
use super::segment::Segment;

/// Why a check of stored bytes failed.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The read itself failed (KAFKA_STORAGE_ERROR).
    Io(io::Error),
    /// The bytes are not what the log wrote (CORRUPT_MESSAGE).
    Corrupt(String),
}

impl From<io::Error> for Fault {
    fn from(e: io::Error) -> Self {
        Fault::Io(e)
    }
}

/// Result of a full check of one segment by [`Segment::check`].
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CheckReport {
    /// Bytes of valid batches from position 0.
    pub valid_bytes: u64,
    /// Offset after the last valid batch.
    pub next_offset: i64,
    /// First problem found in the batches, if any (the batch check stops there).
    pub damage: Option<String>,
    /// First offset index entry (below `valid_bytes`) that is not a batch start, if any.
    pub index_damage: Option<String>,
}

/// Where a batch header must start: offsets increase from batch to batch, with gaps where the
/// log cleaner removed records; an index entry names its batch's base offset exactly.
#[derive(Clone, Copy, Debug)]
enum Start {
    Exactly(i64),
    AtLeast(i64),
}

impl std::fmt::Display for Start {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Start::Exactly(o) => write!(f, "{o}"),
            Start::AtLeast(o) => write!(f, "at least {o}"),
        }
    }
}

impl Segment {
    /// Reads the batch header at `pos` of `file` (this segment's `.log`) and checks that it
    /// parses, fits below `end_pos` and starts at offset `expect` (`Start::Exactly`, for an
    /// index entry) or at or after it (`Start::AtLeast`: compaction leaves gaps) with a sane
    /// last offset delta.
    fn header_matching(
        &self,
        file: &File,
        pos: u64,
        end_pos: u64,
        expect: Start,
    ) -> Result<BatchHeader, Fault> {
        if pos + HEADER_SIZE as u64 > end_pos {
            return Err(Fault::Corrupt(format!(
                "torn batch header at byte {pos} of {} (readable end {end_pos})",
                self.log_path().display()
            )));
        }
        let mut buf = [0u8; HEADER_SIZE];
        file.read_exact_at(&mut buf, pos)?;
        let h = BatchHeader::parse(&buf).map_err(|e| {
            Fault::Corrupt(format!(
                "invalid batch header at byte {pos} of {}: {e}",
                self.log_path().display()
            ))
        })?;
        let ok = match expect {
            Start::Exactly(o) => h.base_offset == o,
            Start::AtLeast(o) => h.base_offset >= o,
        };
        if !ok || h.last_offset_delta < 0 {
            return Err(Fault::Corrupt(format!(
                "batch at byte {pos} of {} starts at offset {} (last offset delta {}), expected {expect}",
                self.log_path().display(),
                h.base_offset,
                h.last_offset_delta
            )));
        }
        Ok(h)
    }

    /// Checks that the batch `h` at `pos` ends at or before `end_pos`.
    fn check_fits(&self, pos: u64, h: &BatchHeader, end_pos: u64) -> Result<(), Fault> {
        if pos + h.batch_size() as u64 > end_pos {
            return Err(Fault::Corrupt(format!(
                "batch of {} bytes at byte {pos} of {} runs past the readable end {end_pos}",
                h.batch_size(),
                self.log_path().display()
            )));
        }
        Ok(())
    }

    /// Finds the batch containing `offset` (the first whose last offset is ≥ it) below
    /// `end_pos`, starting at the offset index entry for it once that entry is confirmed to
    /// point at a batch starting at the entry's offset. Every header walked is checked (parses,
    /// dense offsets, fits below `end_pos`): any damage is `Fault::Corrupt`. `Ok(None)` only if
    /// the segment's batches end before `offset`. One `pread` of a header per batch walked,
    /// on the `.log` handle from the descriptor cache (or the pinned one while active).
    pub(crate) fn locate(
        &self,
        offset: i64,
        end_pos: u64,
    ) -> Result<Option<(u64, BatchHeader)>, Fault> {
        let file = self.log_file()?;
        let (mut pos, mut expect) = (0u64, self.base_offset);
        let mut known = None;
        if let Some((entry_offset, entry_pos)) = self.index_entry(offset) {
            match self.header_matching(&file, entry_pos, end_pos, Start::Exactly(entry_offset)) {
                Ok(h) => {
                    (pos, expect) = (entry_pos, entry_offset);
                    known = Some(h);
                }
                Err(Fault::Io(e)) => return Err(Fault::Io(e)),
                Err(Fault::Corrupt(why)) => {
                    if self.distrust_index() {
                        tracing::warn!(
                            segment = %self.log_path().display(),
                            entry_offset,
                            entry_pos,
                            reason = %why,
                            "offset index entry does not match the log; scanning from the segment start until the index is rebuilt"
                        );
                    }
                }
            }
        }
        while pos < end_pos {
            let h = match known.take() {
                Some(h) => h,
                None => self.header_matching(&file, pos, end_pos, Start::AtLeast(expect))?,
            };
            self.check_fits(pos, &h, end_pos)?;
            if h.last_offset() >= offset {
                return Ok(Some((pos, h)));
            }
            expect = h.last_offset() + 1;
            pos += h.batch_size() as u64;
        }
        Ok(None)
    }

    /// Where the run of whole batches that starts with the batch at `start` (header `first`,
    /// found by [`Segment::locate`]) ends without passing byte `limit` or taking a batch whose
    /// base offset is ≥ `end_offset`, as `(end position, offset after its last batch)`; the
    /// first batch must fit below `limit` and start below `end_offset`. Jumps to the last offset
    /// index entry at or before `limit` when that entry checks out, then walks headers, so a
    /// large read costs a few header `pread`s, not a pass over its bytes. Batches between are
    /// not checked here (recovery and the scrubber check them, consumers check CRCs); a damaged
    /// header ends the run early, and the read that starts there reports it.
    pub(crate) fn whole_batches_end(
        &self,
        file: &File,
        start: u64,
        first: &BatchHeader,
        limit: u64,
        end_offset: i64,
    ) -> io::Result<(u64, i64)> {
        let mut end = start + first.batch_size() as u64;
        let mut next = first.last_offset() + 1;
        if let Some((entry_offset, entry_pos)) = self.index_entry_at_or_before(limit) {
            if entry_pos > end && entry_offset <= end_offset {
                match self.header_matching(file, entry_pos, limit, Start::Exactly(entry_offset)) {
                    Ok(_) => (end, next) = (entry_pos, entry_offset),
                    Err(Fault::Io(e)) => return Err(e),
                    Err(Fault::Corrupt(_)) => {} // walk from the first batch instead
                }
            }
        }
        while next < end_offset && end + HEADER_SIZE as u64 <= limit {
            let h = match self.header_matching(file, end, limit, Start::AtLeast(next)) {
                Ok(h) => h,
                Err(Fault::Io(e)) => return Err(e),
                Err(Fault::Corrupt(_)) => break,
            };
            if end + h.batch_size() as u64 > limit {
                break;
            }
            end += h.batch_size() as u64;
            next = h.last_offset() + 1;
        }
        Ok((end, next))
    }

    /// Checks the whole segment up to `end_pos` without changing it: every batch's header,
    /// length, CRC-32C and offset density, then every offset index entry against the batch
    /// starts found. Reads one batch at a time (a batch's size is checked against the file
    /// before its buffer is allocated). For the background scrubber.
    pub(crate) fn check(&self, end_pos: u64) -> io::Result<CheckReport> {
        let mut report = CheckReport {
            next_offset: self.base_offset,
            ..CheckReport::default()
        };
        let file = self.log_file()?;
        let mut starts = Vec::new();
        let mut pos = 0u64;
        while pos < end_pos {
            let checked = self
                .header_matching(&file, pos, end_pos, Start::AtLeast(report.next_offset))
                .and_then(|h| self.check_fits(pos, &h, end_pos).map(|()| h));
            let h = match checked {
                Ok(h) => h,
                Err(Fault::Io(e)) => return Err(e),
                Err(Fault::Corrupt(why)) => {
                    report.damage = Some(why);
                    break;
                }
            };
            let mut batch = vec![0u8; h.batch_size()];
            file.read_exact_at(&mut batch, pos)?;
            if compute_crc(&batch) != h.crc {
                report.damage = Some(format!(
                    "CRC mismatch in batch at byte {pos} (offset {}) of {}",
                    h.base_offset,
                    self.log_path().display()
                ));
                break;
            }
            starts.push((h.base_offset, pos));
            report.next_offset = h.last_offset() + 1;
            pos += h.batch_size() as u64;
            report.valid_bytes = pos;
        }
        for (off, p) in self.index_entry_list() {
            if p >= report.valid_bytes {
                continue; // beyond what was checked (damaged region, or not yet readable)
            }
            if starts.binary_search(&(off, p)).is_err() {
                report.index_damage = Some(format!(
                    "offset index of {} maps offset {off} to byte {p}, which is not that batch's start",
                    self.log_path().display()
                ));
                break;
            }
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::files::LogFiles;
    use crate::log::testutil::BatchBuilder;

    /// A sealed-like segment with `n` two-record batches at offsets 0, 2, 4, ... and an index
    /// entry for every batch after the first. Returns (segment, batch size).
    fn seg(dir: &std::path::Path, n: i64) -> (Segment, u64) {
        let s = Segment::create(dir, 0, &LogFiles::default()).unwrap();
        let mut since = 0;
        let mut pos = 0u64;
        let mut size = 0u64;
        for i in 0..n {
            let mut b = BatchBuilder::new().records(2).build();
            b[..8].copy_from_slice(&(2 * i).to_be_bytes());
            size = b.len() as u64;
            s.index_batch(pos, 2 * i, size, &mut since, 1).unwrap();
            s.write_at(&b, pos).unwrap();
            pos += size;
        }
        s.set_size(pos);
        (s, size)
    }

    fn file(dir: &std::path::Path) -> std::fs::File {
        std::fs::OpenOptions::new()
            .write(true)
            .open(crate::log::segment::segment_file(dir, 0, "log"))
            .unwrap()
    }

    #[test]
    fn locate_intact_segment() {
        let d = tempfile::tempdir().unwrap();
        let (s, size) = seg(d.path(), 5);
        let end = s.size();
        for o in 0..10 {
            let (pos, h) = s.locate(o, end).unwrap().unwrap();
            assert_eq!(h.base_offset, o - o % 2);
            assert_eq!(pos, (o as u64 / 2) * size);
        }
        assert!(s.locate(10, end).unwrap().is_none());
        let r = s.check(end).unwrap();
        assert_eq!((r.damage, r.index_damage), (None, None));
        assert_eq!((r.valid_bytes, r.next_offset), (end, 10));
    }

    #[test]
    fn zeroed_tail_is_corrupt_not_empty() {
        let d = tempfile::tempdir().unwrap();
        let (s, size) = seg(d.path(), 5);
        let end = s.size();
        // A power cut zeroed the last two batches (the file size survived).
        file(d.path())
            .write_all_at(&vec![0u8; 2 * size as usize], 3 * size)
            .unwrap();
        assert!(s.locate(5, end).unwrap().is_some());
        for o in [6, 7, 9] {
            match s.locate(o, end) {
                Err(Fault::Corrupt(m)) => assert!(m.contains("byte"), "{m}"),
                other => panic!("offset {o}: expected corrupt, got {other:?}"),
            }
        }
        let r = s.check(end).unwrap();
        assert_eq!((r.valid_bytes, r.next_offset), (3 * size, 6));
        assert!(r.damage.is_some());
    }

    #[test]
    fn batch_running_past_the_end_is_corrupt() {
        let d = tempfile::tempdir().unwrap();
        let (s, size) = seg(d.path(), 3);
        // Readable end cut inside the last batch, as after a lost file-size update.
        let end = s.size() - 10;
        assert!(matches!(s.locate(4, end), Err(Fault::Corrupt(_))));
        assert!(s.locate(2, end).unwrap().is_some());
        assert_eq!(s.check(end).unwrap().valid_bytes, 2 * size);
    }

    #[test]
    fn crc_damage_found_by_check_only() {
        let d = tempfile::tempdir().unwrap();
        let (s, size) = seg(d.path(), 3);
        let end = s.size();
        // Flip a record byte of the middle batch: headers stay valid.
        file(d.path()).write_all_at(&[0xff], size + 70).unwrap();
        assert!(s.locate(3, end).unwrap().is_some());
        let r = s.check(end).unwrap();
        assert_eq!(r.valid_bytes, size);
        assert!(r.damage.unwrap().contains("CRC"));
    }

    #[test]
    fn index_entry_into_garbage_is_distrusted() {
        let d = tempfile::tempdir().unwrap();
        let (s, size) = seg(d.path(), 4);
        let end = s.size();
        // Index file rewritten by hand: entry for offset 4 points one batch too early.
        let idx = crate::log::segment::segment_file(d.path(), 0, "index");
        drop(s);
        let mut bytes = Vec::new();
        for (rel, pos) in [
            (2u32, size as u32),
            (4, size as u32 + 1),
            (6, 3 * size as u32),
        ] {
            bytes.extend_from_slice(&rel.to_be_bytes());
            bytes.extend_from_slice(&pos.to_be_bytes());
        }
        std::fs::write(&idx, &bytes).unwrap();
        let (s, ok) = Segment::open(d.path(), 0, &LogFiles::default(), false).unwrap();
        assert!(ok, "monotonic entries pass the load-time sanity check");
        // The lookup for offset 5 finds the bad entry, falls back to a scan, and still answers.
        let (pos, h) = s.locate(5, end).unwrap().unwrap();
        assert_eq!((pos, h.base_offset), (2 * size, 4));
        assert!(s.index_entry(7).is_none(), "index no longer trusted");
        assert_eq!(s.locate(7, end).unwrap().unwrap().1.base_offset, 6);
        let r = s.check(end).unwrap();
        assert_eq!((r.valid_bytes, r.damage), (end, None));
        assert!(r.index_damage.unwrap().contains("offset index"));
    }
}
