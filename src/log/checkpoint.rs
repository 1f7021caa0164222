//! Small checkpoint files in the partition directory, all with one framing, written atomically
//! (write `<name>.tmp`, fsync, rename, fsync the directory):
//!
//! ```text
//! offset size field
//!  0     4    magic u32        identifies the file kind (constants below)
//!  4     2    version u16      1
//!  6     4    length u32       payload bytes
//! 10     4    crc u32          CRC-32C of the payload
//! 14     n    payload
//! ```
//! All integers big-endian. A file that is missing, short, has the wrong magic/version or a bad
//! CRC is treated as absent (with a warning): every checkpoint here can be rebuilt or defaulted.
//!
//! `log-start-offset` (magic `RNLS`), payload: `log_start_offset i64`. Written by DeleteRecords.
//!
//! `recovery-point` (magic `RNRP`), payload: `recovery_point i64`. Every batch below this offset
//! was fsynced before the file was written (Kafka's `recovery-point-offset-checkpoint`, one file
//! per partition here). Rewritten by a flush only when the flushed offset has moved into a newer
//! segment than the one holding the recorded point (so about once per roll, not per flush), and
//! after a recovery. After an unclean shutdown every segment from the one containing this offset
//! to the end is validated batch by batch (`recovery.rs`); a missing or invalid file means 0:
//! every segment is validated.
//!
//! `.clean-shutdown` (magic `RNCS`), payload, written by `close` after the final flush and
//! removed at open; if present and the active segment's file sizes still match, the active
//! segment is not scanned:
//! ```text
//!  0  active base offset i64     8  log file size u64       16 offset index size u64
//! 24  time index size u64       32  log end offset i64     40 max timestamp i64
//! 48  offset of max timestamp i64                          56 rolling timestamp i64
//! ```

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Header bytes before the payload.
pub const FRAME_HEADER: usize = 14;
/// Version written and accepted.
pub const FRAME_VERSION: u16 = 1;
/// Magic of `log-start-offset`.
pub const LOG_START_MAGIC: u32 = u32::from_be_bytes(*b"RNLS");
/// Magic of `.clean-shutdown`.
pub const CLEAN_MAGIC: u32 = u32::from_be_bytes(*b"RNCS");
/// File name of the log start offset checkpoint.
pub const LOG_START_FILE: &str = "log-start-offset";
/// File name of the clean-shutdown marker.
pub const CLEAN_FILE: &str = ".clean-shutdown";
/// Magic of `recovery-point`.
pub const RECOVERY_POINT_MAGIC: u32 = u32::from_be_bytes(*b"RNRP");
/// File name of the recovery point checkpoint.
pub const RECOVERY_POINT_FILE: &str = "recovery-point";

/// fsync of a directory, so renames and new files in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Frames `payload` and writes it to `dir/name` atomically and durably.
pub(crate) fn write_framed(dir: &Path, name: &str, magic: u32, payload: &[u8]) -> io::Result<()> {
    let mut buf = Vec::with_capacity(FRAME_HEADER + payload.len());
    buf.extend_from_slice(&magic.to_be_bytes());
    buf.extend_from_slice(&FRAME_VERSION.to_be_bytes());
    buf.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    buf.extend_from_slice(&crc32c::crc32c(payload).to_be_bytes());
    buf.extend_from_slice(payload);
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&tmp)?;
        f.write_all(&buf)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// Reads and checks a framed file; `Ok(None)` if missing or invalid.
pub(crate) fn read_framed(path: &Path, magic: u32) -> io::Result<Option<Vec<u8>>> {
    let buf = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    match unframe(&buf, magic) {
        Some(p) => Ok(Some(p.to_vec())),
        None => {
            tracing::warn!(file = %path.display(), "ignoring invalid checkpoint file");
            Ok(None)
        }
    }
}

fn unframe(buf: &[u8], magic: u32) -> Option<&[u8]> {
    let hdr = buf.get(..FRAME_HEADER)?;
    let m = u32::from_be_bytes(hdr[0..4].try_into().ok()?);
    let v = u16::from_be_bytes(hdr[4..6].try_into().ok()?);
    let len = u32::from_be_bytes(hdr[6..10].try_into().ok()?) as usize;
    let crc = u32::from_be_bytes(hdr[10..14].try_into().ok()?);
    let payload = buf.get(FRAME_HEADER..)?;
    (m == magic && v == FRAME_VERSION && payload.len() == len && crc32c::crc32c(payload) == crc)
        .then_some(payload)
}

/// Big-endian cursor over a checkpoint payload; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let s = self.buf.get(self.pos..self.pos.checked_add(N)?)?;
        self.pos += N;
        s.try_into().ok()
    }
    pub(crate) fn i64(&mut self) -> Option<i64> {
        self.take::<8>().map(i64::from_be_bytes)
    }
    pub(crate) fn u64(&mut self) -> Option<u64> {
        self.take::<8>().map(u64::from_be_bytes)
    }
    pub(crate) fn i32(&mut self) -> Option<i32> {
        self.take::<4>().map(i32::from_be_bytes)
    }
    pub(crate) fn u32(&mut self) -> Option<u32> {
        self.take::<4>().map(u32::from_be_bytes)
    }
    pub(crate) fn i16(&mut self) -> Option<i16> {
        self.take::<2>().map(i16::from_be_bytes)
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    pub(crate) fn is_empty(&self) -> bool {
        self.pos == self.buf.len()
    }
}

/// Reads the log start offset checkpoint, if any.
pub(crate) fn read_log_start(dir: &Path) -> io::Result<Option<i64>> {
    Ok(
        read_framed(&dir.join(LOG_START_FILE), LOG_START_MAGIC)?
            .and_then(|p| Reader::new(&p).i64()),
    )
}

/// Durably writes the log start offset checkpoint.
pub(crate) fn write_log_start(dir: &Path, offset: i64) -> io::Result<()> {
    write_framed(dir, LOG_START_FILE, LOG_START_MAGIC, &offset.to_be_bytes())
}

/// Reads the recovery point checkpoint, if any (`None`: validate every segment).
pub(crate) fn read_recovery_point(dir: &Path) -> io::Result<Option<i64>> {
    Ok(
        read_framed(&dir.join(RECOVERY_POINT_FILE), RECOVERY_POINT_MAGIC)?
            .and_then(|p| Reader::new(&p).i64()),
    )
}

/// Durably writes the recovery point checkpoint. The caller guarantees that everything below
/// `offset` is fsynced.
pub(crate) fn write_recovery_point(dir: &Path, offset: i64) -> io::Result<()> {
    write_framed(
        dir,
        RECOVERY_POINT_FILE,
        RECOVERY_POINT_MAGIC,
        &offset.to_be_bytes(),
    )
}

/// Contents of the clean-shutdown marker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CleanMarker {
    pub active_base: i64,
    pub log_size: u64,
    pub index_size: u64,
    pub time_index_size: u64,
    pub log_end_offset: i64,
    pub max_timestamp: i64,
    pub offset_of_max_timestamp: i64,
    pub rolling_timestamp: i64,
}

impl CleanMarker {
    pub(crate) fn write(&self, dir: &Path) -> io::Result<()> {
        let mut p = Vec::with_capacity(64);
        p.extend_from_slice(&self.active_base.to_be_bytes());
        p.extend_from_slice(&self.log_size.to_be_bytes());
        p.extend_from_slice(&self.index_size.to_be_bytes());
        p.extend_from_slice(&self.time_index_size.to_be_bytes());
        p.extend_from_slice(&self.log_end_offset.to_be_bytes());
        p.extend_from_slice(&self.max_timestamp.to_be_bytes());
        p.extend_from_slice(&self.offset_of_max_timestamp.to_be_bytes());
        p.extend_from_slice(&self.rolling_timestamp.to_be_bytes());
        write_framed(dir, CLEAN_FILE, CLEAN_MAGIC, &p)
    }

    /// Reads and removes the marker: it vouches only for the shutdown that wrote it.
    pub(crate) fn take(dir: &Path) -> io::Result<Option<CleanMarker>> {
        let path = dir.join(CLEAN_FILE);
        let Some(p) = read_framed(&path, CLEAN_MAGIC)? else {
            let _ = fs::remove_file(&path);
            return Ok(None);
        };
        fs::remove_file(&path)?;
        let mut r = Reader::new(&p);
        Ok((|| {
            Some(CleanMarker {
                active_base: r.i64()?,
                log_size: r.u64()?,
                index_size: r.u64()?,
                time_index_size: r.u64()?,
                log_end_offset: r.i64()?,
                max_timestamp: r.i64()?,
                offset_of_max_timestamp: r.i64()?,
                rolling_timestamp: r.i64()?,
            })
        })())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framed_roundtrip_and_corruption() {
        let d = tempfile::tempdir().unwrap();
        write_log_start(d.path(), 1234).unwrap();
        assert_eq!(read_log_start(d.path()).unwrap(), Some(1234));
        let p = d.path().join(LOG_START_FILE);
        let mut b = fs::read(&p).unwrap();
        let n = b.len();
        b[n - 1] ^= 1;
        fs::write(&p, &b).unwrap();
        assert_eq!(read_log_start(d.path()).unwrap(), None);
        fs::write(&p, b"xx").unwrap();
        assert_eq!(read_log_start(d.path()).unwrap(), None);
    }

    #[test]
    fn recovery_point_roundtrip_and_corruption() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_recovery_point(d.path()).unwrap(), None);
        write_recovery_point(d.path(), 77).unwrap();
        assert_eq!(read_recovery_point(d.path()).unwrap(), Some(77));
        let p = d.path().join(RECOVERY_POINT_FILE);
        let b = fs::read(&p).unwrap();
        assert_eq!(&b[..4], b"RNRP");
        assert_eq!(b.len(), FRAME_HEADER + 8);
        // A torn write (short file) reads as absent: recovery then validates everything.
        fs::write(&p, &b[..b.len() - 3]).unwrap();
        assert_eq!(read_recovery_point(d.path()).unwrap(), None);
    }

    #[test]
    fn clean_marker_is_consumed() {
        let d = tempfile::tempdir().unwrap();
        let m = CleanMarker {
            active_base: 5,
            log_size: 100,
            index_size: 8,
            time_index_size: 12,
            log_end_offset: 9,
            max_timestamp: 77,
            offset_of_max_timestamp: 6,
            rolling_timestamp: 70,
        };
        m.write(d.path()).unwrap();
        assert_eq!(CleanMarker::take(d.path()).unwrap(), Some(m));
        assert_eq!(CleanMarker::take(d.path()).unwrap(), None);
    }
}
