//! Crash-safe replacement of a group of consecutive old segments by one cleaned segment
//! (Kafka's `.cleaned` / `.swap` protocol with `groupSegmentsBySize`), with one directory per
//! cleaned segment so that its files move as one. The cleaned segment takes the base offset
//! (and so the file names) of the group's first old segment, `<first>`; the group's other
//! old segments, `<other>`, are listed in the directory's `replaces` manifest:
//!
//! ```text
//! file `<first>.{cleaned,swap}/replaces`, magic `RNSW`, version 1 (framing of
//! `log/checkpoint.rs`), payload:
//! offset size field
//!  0     4    count u32            old segments replaced besides `<first>` (0: one-for-one)
//!  4     8×n  base offset i64 ×n   their base offsets, increasing
//! ```
//!
//! ```text
//! step  on disk (partition directory)                          a crash here reopens with
//!  1    <first>.cleaned/<first>.{log,index,timeindex} and      every old segment (`.cleaned`
//!       `replaces` written, fsynced (outside any lock)         directories are deleted)
//!  2    rename <first>.cleaned → <first>.swap, fsync the        the new segment (a `.swap`
//!       directory: the swap is committed                        directory is finished)
//!  3    rename <first>.swap/<first>.index and .timeindex over   the new segment
//!       the old ones, then <first>.swap/<first>.log over the
//!       old .log (log last)
//!  4    delete every <other>.{index,timeindex,log} listed in     the new segment
//!       `replaces`, fsync the directory
//!  5    remove <first>.swap (with `replaces`)                    the new segment
//! ```
//! Steps 2-5 run under the partition's writer lock, after checking that every old segment of
//! the group is still in the log, consecutive and sealed (retention or truncation may have
//! removed some meanwhile: then the cleaned copy is discarded, never installed).
//!
//! Invariants: at any instant either every old segment of the group is whole under its final
//! names and no `.swap` directory exists for it, or the swap is committed (`.swap` exists,
//! with its manifest) and a reopen ends with exactly the new segment — never records of both,
//! so nothing is lost or duplicated. The `.log` of `<first>` moves last, so while a `.swap`
//! directory still holds a `.log` the final index files are either the old segment's (and are
//! replaced before the log) or already the new one's. `<other>` segments are deleted only
//! after the commit, and the manifest is removed only after they are. Recovery
//! ([`complete_pending`], called before the partition directory is scanned) deletes
//! `.cleaned` directories and finishes `.swap` directories; a `.swap` without a manifest (from
//! before grouping) is one-for-one, a damaged manifest fails the open (guessing could
//! duplicate records). A reader that opened an old `.log` keeps reading the old file (it stays
//! readable until its last descriptor closes); the partition pins every old segment's handle
//! before the commit so no reader of it opens the new file, or a deleted name, by name.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use crate::log::checkpoint::{read_framed, sync_dir, write_framed, Reader};
use crate::log::segment::{segment_file, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};

/// Suffix of the directory a cleaned segment is written in.
pub const CLEANED_SUFFIX: &str = "cleaned";
/// Suffix of a committed cleaned segment's directory.
pub const SWAP_SUFFIX: &str = "swap";
/// The manifest of a cleaned segment's directory: the other old segments it replaces.
pub const REPLACES_FILE: &str = "replaces";
/// Magic of [`REPLACES_FILE`].
pub const REPLACES_MAGIC: u32 = u32::from_be_bytes(*b"RNSW");

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

/// End of step 1: writes the manifest of `<base>.cleaned` (`others`: base offsets of the
/// group's old segments after the first, increasing) and fsyncs the directory, which also
/// makes the segment files' entries in it durable.
pub(crate) fn write_manifest(cleaned: &Path, others: &[i64]) -> io::Result<()> {
    let count = u32::try_from(others.len())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "too many segments in a group"))?;
    let mut payload = Vec::with_capacity(4 + 8 * others.len());
    payload.extend_from_slice(&count.to_be_bytes());
    for b in others {
        payload.extend_from_slice(&b.to_be_bytes());
    }
    write_framed(cleaned, REPLACES_FILE, REPLACES_MAGIC, &payload)
}

/// The other old segments a committed `<base>.swap` replaces: empty if it has no manifest
/// (one-for-one), an error if the manifest is damaged.
fn read_manifest(swap: &Path) -> io::Result<Vec<i64>> {
    let path = swap.join(REPLACES_FILE);
    if !path.exists() {
        return Ok(Vec::new());
    }
    let damaged = || {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("damaged cleaner manifest {}", path.display()),
        )
    };
    let payload = read_framed(&path, REPLACES_MAGIC)?.ok_or_else(damaged)?;
    let mut r = Reader::new(&payload);
    let n = r.u32().ok_or_else(damaged)?;
    let mut bases = Vec::with_capacity((n as usize).min(payload.len() / 8));
    for _ in 0..n {
        bases.push(r.i64().ok_or_else(damaged)?);
    }
    Ok(bases)
}

fn remove_file_if_exists(p: &Path) -> io::Result<()> {
    match fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Steps 3 to 5: moves a committed copy over the final names of `<base>`, deletes the other
/// old segments of its manifest, then the `.swap` directory. Idempotent, so recovery can
/// finish a swap interrupted anywhere in these steps.
pub(crate) fn finish(dir: &Path, base: i64) -> io::Result<()> {
    let swap = staging(dir, base, SWAP_SUFFIX);
    let others = read_manifest(&swap)?;
    for ext in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX] {
        let from = segment_file(&swap, base, ext);
        match fs::rename(&from, segment_file(dir, base, ext)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
    }
    for b in others {
        for ext in [INDEX_SUFFIX, TIME_INDEX_SUFFIX, LOG_SUFFIX] {
            remove_file_if_exists(&segment_file(dir, b, ext))?;
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
