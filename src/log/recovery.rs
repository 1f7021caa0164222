//! Start-up loading of a partition's segments, and recovery after an unclean shutdown (Kafka's
//! `LogLoader.recoverLog`).
//!
//! - Clean shutdown (the `.clean-shutdown` marker is present and the active segment's file sizes
//!   match it): nothing is scanned; sealed segments whose index fails its load-time sanity check
//!   get their indexes rebuilt.
//! - Unclean shutdown: the data below the recovery point (`recovery-point`, see
//!   `checkpoint.rs`) was fsynced and is trusted. Every segment from the one containing the
//!   recovery point to the end — sealed ones included, because a power cut can tear a sealed
//!   segment whose data was still in the unflushed window — is validated batch by batch
//!   (header, length within the file, CRC-32C, increasing offsets from the segment's base) and
//!   its indexes are rebuilt. At the first invalid batch the segment is truncated, and every
//!   later segment is deleted (data after a torn batch cannot be served). A segment whose valid
//!   batches end past the next segment's base is treated the same way, and so is one ending
//!   before it, unless it lies below the cleaner's "cleaned below" mark (`cleaner/checkpoint.rs`):
//!   there compaction may have removed its last records. Pending cleaner swaps are completed before any of
//!   this (`cleaner/swap.rs`). Then the
//!   recovered segments and the directory are fsynced and the recovery point is set to the new
//!   log end, so the next crash does not scan them again.
//!
//! Descriptors: every segment is opened through the descriptor cache (`files.rs`); sealed ones
//! keep no descriptor once recovery is done, and the last surviving segment — the active one,
//! even if recovery made it so by deleting the segments after it — pins its `.log` handle.
//!
//! Invariant on return: the segments are ordered (each one's batches end at or before the next
//! one's base offset, as far as recovery looked) and the log end offset is the end of the last.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::checkpoint::{self, CleanMarker};
use super::error::LogError;
use super::files::LogFiles;
use super::segment::{SegMeta, Segment, SyncError};

/// The segments of a partition as loaded by [`load_segments`].
pub(crate) struct Loaded {
    pub segments: BTreeMap<i64, Arc<Segment>>,
    /// Log end offset.
    pub leo: i64,
    /// Size of the active segment's `.log` file.
    pub write_pos: u64,
    /// Bytes since the active segment's last offset index entry.
    pub bytes_since_index: u64,
    /// Recovery point now on disk (`i64::MIN` if none was written yet).
    pub recovery_point: i64,
    /// Segments validated by an unclean-shutdown recovery (0 after a clean shutdown).
    pub recovered_segments: usize,
}

/// Opens the segments `bases` (sorted, non-empty) of the partition in `dir`, recovering them as
/// described in the module docs. `marker` is the consumed clean-shutdown marker, if any.
/// Segments are opened through `files` (the descriptor cache); only the last one, the active
/// segment, pins its `.log` handle.
pub(crate) fn load_segments(
    dir: &Path,
    bases: &[i64],
    interval: u64,
    marker: Option<CleanMarker>,
    files: &LogFiles,
) -> Result<Loaded, LogError> {
    let ioe = |what: &str, e| LogError::io(format!("{what} in {}", dir.display()), e);
    let rp = checkpoint::read_recovery_point(dir).map_err(|e| ioe("reading recovery-point", e))?;
    let cleaned_below = crate::log::cleaner::checkpoint::read(dir)
        .map_err(|e| ioe("reading cleaner-offset", e))?
        .map_or(i64::MIN, |p| p.cleaned_below);
    let mut opened = Vec::with_capacity(bases.len());
    for (i, &b) in bases.iter().enumerate() {
        let active = i + 1 == bases.len();
        let (seg, ok) =
            Segment::open(dir, b, files, active).map_err(|e| ioe("opening segment", e))?;
        opened.push((seg, ok));
    }
    let Some((active, active_ok)) = opened.last() else {
        return Err(LogError::Storage(format!(
            "no segment to load in {}",
            dir.display()
        )));
    };
    let (ilen, tlen) = active.index_file_lens();
    let clean = marker.filter(|m| {
        *active_ok
            && m.active_base == active.base_offset
            && m.log_size == active.size()
            && m.index_size == ilen
            && m.time_index_size == tlen
    });

    // Segments below `first_recovered` are only opened (indexes rebuilt if damaged).
    let first_recovered = match clean {
        Some(_) => opened.len(),
        None => {
            let rp = rp.unwrap_or(i64::MIN);
            opened
                .iter()
                .rposition(|(s, _)| s.base_offset <= rp)
                .unwrap_or(0)
        }
    };
    for (seg, ok) in &opened[..first_recovered] {
        if !ok {
            tracing::warn!(dir = %dir.display(), base = seg.base_offset, "rebuilding segment indexes");
            seg.recover(interval, false)
                .map_err(|e| ioe("rebuilding indexes", e))?;
        }
    }

    if let Some(m) = clean {
        let segments: BTreeMap<_, _> = opened
            .into_iter()
            .map(|(s, _)| (s.base_offset, Arc::new(s)))
            .collect();
        let active = segments.values().next_back().map(Arc::clone);
        let write_pos = active.as_ref().map_or(0, |a| a.size());
        if let Some(a) = active {
            a.set_meta(SegMeta {
                max_timestamp: m.max_timestamp,
                offset_of_max_timestamp: m.offset_of_max_timestamp,
                rolling_timestamp: m.rolling_timestamp,
            });
        }
        return Ok(Loaded {
            segments,
            leo: m.log_end_offset,
            write_pos,
            bytes_since_index: 0,
            recovery_point: rp.unwrap_or(i64::MIN),
            recovered_segments: 0,
        });
    }

    // Unclean shutdown: validate from the recovery point's segment on.
    let mut leo = opened[first_recovered].0.base_offset;
    let mut bytes_since_index = 0;
    let mut keep = opened.len();
    for (i, (seg, _)) in opened.iter().enumerate().skip(first_recovered) {
        let r = seg
            .recover(interval, true)
            .map_err(|e| ioe("recovering segment", e))?;
        leo = r.next_offset;
        bytes_since_index = r.bytes_since_index;
        if let Some((next, _)) = opened.get(i + 1) {
            // Ending past the next segment's base is damage; ending before it is too (a lost
            // tail), unless the cleaner may have rewritten this segment (compaction removed
            // its last records).
            let short = r.next_offset < next.base_offset && next.base_offset > cleaned_below;
            if r.truncated_bytes > 0 || r.next_offset > next.base_offset || short {
                tracing::warn!(
                    dir = %dir.display(),
                    segment = seg.base_offset,
                    valid_end_offset = r.next_offset,
                    next_segment = next.base_offset,
                    deleted_segments = opened.len() - i - 1,
                    "recovery found damage before the end of the log: truncating it there"
                );
                keep = i + 1;
                break;
            }
        } else if r.truncated_bytes > 0 {
            tracing::warn!(dir = %dir.display(), bytes = r.truncated_bytes, "recovery truncated the log tail");
        }
    }
    let removed = opened.split_off(keep);
    for (seg, _) in &removed {
        seg.delete_files()
            .map_err(|e| ioe("deleting segment after the recovered end", e))?;
    }
    if !removed.is_empty() {
        if let Some((last, _)) = opened.last() {
            last.pin()
                .map_err(|e| ioe("opening the new active segment", e))?;
        }
    }
    let recovered = keep - first_recovered;
    for (i, (seg, _)) in opened.iter().enumerate().skip(first_recovered) {
        if i + 1 < keep {
            // Still sealed: record its largest timestamp like a roll does.
            seg.seal()
                .map_err(|e| ioe("sealing recovered segment", e))?;
        }
        seg.sync().map_err(|e| match e {
            SyncError::Open(e) => ioe("opening recovered segment for fsync", e),
            SyncError::Fsync(e) => ioe("fsync of recovered segment", e),
        })?;
    }
    if !removed.is_empty() {
        checkpoint::sync_dir(dir).map_err(|e| ioe("fsync of partition directory", e))?;
    }
    checkpoint::write_recovery_point(dir, leo).map_err(|e| ioe("writing recovery-point", e))?;
    tracing::info!(
        dir = %dir.display(),
        from_segment = opened[first_recovered].0.base_offset,
        segments = recovered,
        deleted_segments = removed.len(),
        log_end_offset = leo,
        "recovered partition log after an unclean shutdown"
    );
    let write_pos = opened.last().map_or(0, |(s, _)| s.size());
    Ok(Loaded {
        segments: opened
            .into_iter()
            .map(|(s, _)| (s.base_offset, Arc::new(s)))
            .collect(),
        leo,
        write_pos,
        bytes_since_index,
        recovery_point: leo,
        recovered_segments: recovered,
    })
}
