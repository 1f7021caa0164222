//! The cleaner checkpoint of a partition: its first dirty offset (Kafka's
//! `cleaner-offset-checkpoint`, kept here as one file per partition like `recovery-point`),
//! written with the framing and atomic replace of `log/checkpoint.rs`:
//!
//! ```text
//! file `cleaner-offset`, magic `RNCO`, version 1, payload:
//! offset size field
//!  0     8    first dirty offset i64   every offset below it was cleaned at least once
//!  8     8    cleaned below i64        no segment at or above it was ever rewritten
//! 16     8    tombstones due i64       ms when the earliest tombstone kept by the last pass
//!                                      becomes removable (i64::MAX: none); absent in files
//!                                      written before it existed, read as i64::MAX
//! ```
//! "Tombstones due" makes a fully cleaned log with expired tombstones cleanable without new
//! data (KIP-534's goal; `plan.rs`).
//! "Cleaned below" is raised before a pass installs its first segment, so after a crash it
//! still covers every rewritten segment. Recovery (`recovery.rs`) uses it: a segment below it
//! may end short of the next segment's base (its last records were compacted away); one above
//! it that does is damaged (a lost tail) and the log is cut there, as before compaction.
//!
//! A missing or damaged file means "nothing cleaned yet". The first dirty offset is only a
//! hint: a too-high value (a follower truncation before it was lowered on disk) makes the
//! cleaner treat new records as clean, which keeps them — less compaction, never a lost record.
//! The partition clamps it into [log start, log end] and lowers it on truncation.

use std::io;
use std::path::Path;

use crate::log::checkpoint::{read_framed, write_framed, Reader};

/// File name of the cleaner checkpoint.
pub const CLEANER_OFFSET_FILE: &str = "cleaner-offset";
/// Magic of `cleaner-offset`.
pub const CLEANER_OFFSET_MAGIC: u32 = u32::from_be_bytes(*b"RNCO");

/// What the file records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Progress {
    /// Every offset below it was cleaned at least once.
    pub first_dirty: i64,
    /// No segment whose base offset is at or above it was ever rewritten.
    pub cleaned_below: i64,
    /// When the earliest tombstone the last pass kept becomes removable (ms, `i64::MAX`: none).
    pub tombstones_due_ms: i64,
}

/// The progress on disk, if any.
pub(crate) fn read(dir: &Path) -> io::Result<Option<Progress>> {
    Ok(
        read_framed(&dir.join(CLEANER_OFFSET_FILE), CLEANER_OFFSET_MAGIC)?.and_then(|p| {
            let mut r = Reader::new(&p);
            Some(Progress {
                first_dirty: r.i64()?,
                cleaned_below: r.i64()?,
                tombstones_due_ms: r.i64().unwrap_or(i64::MAX),
            })
        }),
    )
}

/// Writes the progress atomically and durably.
pub(crate) fn write(dir: &Path, p: Progress) -> io::Result<()> {
    let mut payload = [0u8; 24];
    payload[..8].copy_from_slice(&p.first_dirty.to_be_bytes());
    payload[8..16].copy_from_slice(&p.cleaned_below.to_be_bytes());
    payload[16..].copy_from_slice(&p.tombstones_due_ms.to_be_bytes());
    write_framed(dir, CLEANER_OFFSET_FILE, CLEANER_OFFSET_MAGIC, &payload)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roundtrip_and_damage() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read(d.path()).unwrap(), None);
        let p = Progress {
            first_dirty: 1234,
            cleaned_below: 2000,
            tombstones_due_ms: 99,
        };
        write(d.path(), p).unwrap();
        assert_eq!(read(d.path()).unwrap(), Some(p));
        // A file written before "tombstones due" existed: none known.
        let mut old = [0u8; 16];
        old[..8].copy_from_slice(&7i64.to_be_bytes());
        old[8..].copy_from_slice(&9i64.to_be_bytes());
        write_framed(d.path(), CLEANER_OFFSET_FILE, CLEANER_OFFSET_MAGIC, &old).unwrap();
        assert_eq!(
            read(d.path()).unwrap(),
            Some(Progress {
                first_dirty: 7,
                cleaned_below: 9,
                tombstones_due_ms: i64::MAX
            })
        );
        write(d.path(), p).unwrap();
        let f = d.path().join(CLEANER_OFFSET_FILE);
        let mut b = std::fs::read(&f).unwrap();
        let last = b.len() - 1;
        b[last] ^= 1;
        std::fs::write(&f, b).unwrap();
        assert_eq!(read(d.path()).unwrap(), None);
    }
}
