//! Crash-safe replacement of a segment by its cleaned copy (Kafka's `.cleaned` / `.swap`
//! protocol, with one directory per cleaned segment so that its three files move as one).
//!
//! ```text
//! step  on disk (partition directory)                          a crash here reopens with
//!  1    <base>.cleaned/<base>.{log,index,timeindex} written,    the old segment (`.cleaned`
//!       fsynced (outside any lock)                              directories are deleted)
//!  2    rename <base>.cleaned → <base>.swap, fsync the          the new segment (a `.swap`
//!       directory: the swap is committed                        directory is finished)
//!  3    rename <base>.swap/<base>.index and .timeindex over      the new segment
//!       the old ones, then <base>.swap/<base>.log over the
//!       old .log (log last), fsync the directory
//!  4    remove the empty <base>.swap                             the new segment
//! ```
//! Steps 2-4 run under the partition's writer lock, after checking that the old segment is
//! still in the log (retention or truncation may have removed it meanwhile: then the cleaned
//! copy is discarded, never installed).
//!
//! Invariants: at any instant the final names hold either the old `.log` or the new one,
//! never a mix of records of both; the `.log` moves last, so while a `.swap` directory still
//! holds a `.log` the final index files are either the old segment's (and are replaced
//! before the log) or already the new one's. Recovery ([`complete_pending`], called before the
//! partition directory is scanned) deletes `.cleaned` directories and finishes `.swap`
//! directories. A reader that opened the old `.log` keeps reading the old file (it stays
//! readable until its last descriptor closes); the partition pins the old segment's handle
//! before the rename so no reader of it opens the new file by name.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::log::checkpoint::sync_dir;
use crate::log::segment::{segment_file, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};

/// Suffix of the directory a cleaned segment is written in.
pub const CLEANED_SUFFIX: &str = "cleaned";
/// Suffix of a committed cleaned segment's directory.
pub const SWAP_SUFFIX: &str = "swap";

/// `<dir>/<20-digit base>.<suffix>`.
fn staging(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}.{suffix}"))
}

/// Step 1: a fresh, empty `<base>.cleaned` directory (a stale one is removed first).
pub(crate) fn prepare(dir: &Path, base: i64) -> io::Result<PathBuf> {
    let p = staging(dir, base, CLEANED_SUFFIX);
    remove_dir_if_exists(&p)?;
    fs::create_dir(&p)?;
    Ok(p)
}

/// Removes a `<base>.cleaned` directory that will not be installed.
pub(crate) fn discard(dir: &Path, base: i64) -> io::Result<()> {
    remove_dir_if_exists(&staging(dir, base, CLEANED_SUFFIX))
}

fn remove_dir_if_exists(p: &Path) -> io::Result<()> {
    match fs::remove_dir_all(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Step 2: commits the cleaned copy of segment `base` (its files fsynced by the caller).
pub(crate) fn commit(dir: &Path, base: i64) -> io::Result<()> {
    fs::rename(
        staging(dir, base, CLEANED_SUFFIX),
        staging(dir, base, SWAP_SUFFIX),
    )?;
    sync_dir(dir)
}

/// Steps 3 and 4: moves a committed copy over the segment's final names. Idempotent, so
/// recovery can finish a swap interrupted anywhere in these steps.
pub(crate) fn finish(dir: &Path, base: i64) -> io::Result<()> {
    let swap = staging(dir, base, SWAP_SUFFIX);
    for ext in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX] {
        let from = segment_file(&swap, base, ext);
        match fs::rename(&from, segment_file(dir, base, ext)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    sync_dir(dir)?;
    remove_dir_if_exists(&swap)
}

/// At open, before the directory is scanned: deletes every `.cleaned` directory (an
/// uncommitted copy) and finishes every `.swap` directory. Returns the swaps finished.
pub(crate) fn complete_pending(dir: &Path) -> io::Result<usize> {
    let mut finished = 0;
    for ent in fs::read_dir(dir)? {
        let ent = ent?;
        let name = ent.file_name().to_string_lossy().into_owned();
        let Some((stem, suffix)) = name.split_once('.') else {
            continue;
        };
        let Ok(base) = stem.parse::<i64>() else {
            continue;
        };
        if suffix == CLEANED_SUFFIX {
            remove_dir_if_exists(&ent.path())?;
        } else if suffix == SWAP_SUFFIX {
            tracing::info!(dir = %dir.display(), base, "finishing an interrupted cleaner swap");
            finish(dir, base)?;
            finished += 1;
        }
    }
    Ok(finished)
}
