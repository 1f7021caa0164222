//! Partition directories on disk: their names, the states those names encode, the
//! `partition.metadata` file naming the owning topic, and the scans of the data directory.
//!
//! Layout: `<data_dir>/<topic>-<partition>/` (see `log/mod.rs`). Only a directory with a live name
//! is ever opened. Every other state of a partition directory has its own suffix, so a crash
//! between two steps of a topic change leaves a name that says what to do with it:
//!
//! | name                                  | meaning                                   | at boot        |
//! |---------------------------------------|-------------------------------------------|----------------|
//! | `<topic>-<p>`                         | live: opened if the store has the topic   | see controller |
//! | `<topic>-<p>.<nanos>.creating`        | created, store record not yet committed   | removed        |
//! | `<topic>-<p>.<nanos>.deleted`         | renamed away by a delete                  | removed        |
//! | `<topic>-<p>.<nanos>.orphan`          | quarantined: no topic in the store owns it | kept, ignored  |
//!
//! (`<topic>` is shortened in the suffixed names when needed to stay within the 255-byte file
//! name limit; live names never are.) Renames are atomic and the directory is fsynced after
//! each batch of them. Which topic a directory belongs to is recorded inside it, in
//! `partition.metadata` (Kafka keeps a file of that name for the same purpose), in the
//! checkpoint framing of `checkpoint.rs` with magic `RNPM`:
//!
//! ```text
//! offset size field
//!  0     16   topic id u128 BE (the topic's UUID)
//! ```
//!
//! Invariants: a live name is exactly `<topic>-<partition>` with a legal Kafka topic name (so
//! it is a safe path component); it ends in `-<partition>` and a set-aside name in its suffix,
//! so a scan never mistakes one for the other.

use std::fs;
use std::path::{Path, PathBuf};

use super::LogManager;
use crate::log::checkpoint::{read_framed, write_framed};
use crate::log::error::LogError;

/// Suffix of directories being deleted.
pub const DELETED_SUFFIX: &str = ".deleted";
/// Suffix of partition directories staged by a create whose store record is not committed.
pub const CREATING_SUFFIX: &str = ".creating";
/// Suffix of quarantined directories that no topic owns (kept for the operator, never opened).
pub const ORPHAN_SUFFIX: &str = ".orphan";
/// File in each partition directory naming the topic id it belongs to.
pub const PARTITION_METADATA_FILE: &str = "partition.metadata";
/// Magic of `partition.metadata`: "RNPM".
pub const PARTITION_METADATA_MAGIC: u32 = u32::from_be_bytes(*b"RNPM");
/// Longest file name the common Linux file systems accept.
pub(super) const NAME_MAX: usize = 255;

/// What `LogManager::scan` found in the data directory.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DirScan {
    /// Directories with a live name: `(topic, partition, path)`, sorted.
    pub live: Vec<(String, i32, PathBuf)>,
    /// `*.deleted` directories (an interrupted or unfinished delete).
    pub deleted: Vec<PathBuf>,
    /// `*.creating` directories (an interrupted create).
    pub creating: Vec<PathBuf>,
    /// `*.orphan` directories (quarantined earlier).
    pub orphans: Vec<PathBuf>,
}

/// A partition directory staged under a `.creating` name, waiting for the store commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPartition {
    pub partition: i32,
    pub path: PathBuf,
}

/// Kafka's legal topic names: 1..=249 of `[a-zA-Z0-9._-]`, not `.` or `..`. Checked here too
/// because the name becomes a path component.
pub(super) fn check_topic(topic: &str) -> Result<(), LogError> {
    let ok = !topic.is_empty()
        && topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(LogError::InvalidRequest(format!(
            "illegal topic name {topic:?}"
        )))
    }
}

/// Splits `<topic>-<partition>` (the topic may itself contain '-').
pub(super) fn parse_dir_name(name: &str) -> Option<(String, i32)> {
    let (topic, p) = name.rsplit_once('-')?;
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let p: i32 = p.parse().ok()?;
    (p >= 0 && check_topic(topic).is_ok()).then(|| (topic.to_string(), p))
}

/// Nanoseconds since the epoch: makes set-aside names unique.
pub(super) fn unique_tag() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// `<topic>-<partition>.<tag><suffix>`, the topic shortened to fit in a file name. Topic
/// names are ASCII (checked), so cutting at any byte is safe.
pub(super) fn aside_name(topic: &str, partition: i32, tag: u128, suffix: &str) -> String {
    let tail = format!("-{partition}.{tag}{suffix}");
    let keep = NAME_MAX.saturating_sub(tail.len()).min(topic.len());
    format!("{}{tail}", topic.get(..keep).unwrap_or(topic))
}

/// The partition index in a set-aside name `<topic>-<partition>.<tag><suffix>` (the tail is
/// never shortened, so the index is there even when the topic was cut).
pub fn aside_partition(dir: &Path) -> Option<i32> {
    let name = dir.file_name()?.to_str()?;
    let stem = [DELETED_SUFFIX, CREATING_SUFFIX, ORPHAN_SUFFIX]
        .iter()
        .find_map(|s| name.strip_suffix(s))?;
    let (live, _tag) = stem.rsplit_once('.')?;
    let (_, p) = live.rsplit_once('-')?;
    if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    p.parse().ok()
}

/// The topic id recorded in a partition directory; `None` when the file is missing or
/// damaged (directories written before the file existed have none).
pub fn read_topic_id(dir: &Path) -> Result<Option<u128>, LogError> {
    let payload = read_framed(&dir.join(PARTITION_METADATA_FILE), PARTITION_METADATA_MAGIC)
        .map_err(|e| LogError::io(format!("reading topic id in {}", dir.display()), e))?;
    Ok(payload
        .and_then(|p| <[u8; 16]>::try_from(p.as_slice()).ok())
        .map(u128::from_be_bytes))
}

/// Records `topic_id` in the partition directory `dir` (atomic, durable).
pub fn write_topic_id(dir: &Path, topic_id: u128) -> Result<(), LogError> {
    write_framed(
        dir,
        PARTITION_METADATA_FILE,
        PARTITION_METADATA_MAGIC,
        &topic_id.to_be_bytes(),
    )
    .map_err(|e| LogError::io(format!("writing topic id in {}", dir.display()), e))
}

impl LogManager {
    /// `(topic, partition)` of every partition directory on disk, sorted.
    pub fn existing_partitions(&self) -> Result<Vec<(String, i32)>, LogError> {
        let ioe = |e| LogError::io(format!("listing {}", self.data_dir.display()), e);
        let mut v = Vec::new();
        for ent in fs::read_dir(&self.data_dir).map_err(ioe)? {
            let ent = ent.map_err(ioe)?;
            if ent.file_type().map_err(ioe)?.is_dir() {
                if let Some(tp) = parse_dir_name(&ent.file_name().to_string_lossy()) {
                    v.push(tp);
                }
            }
        }
        v.sort();
        Ok(v)
    }

    /// Every directory entry, classified by name (see the table in the module header).
    pub fn scan(&self) -> Result<DirScan, LogError> {
        let ioe = |e| LogError::io(format!("listing {}", self.data_dir.display()), e);
        let mut scan = DirScan::default();
        for ent in fs::read_dir(&self.data_dir).map_err(ioe)? {
            let ent = ent.map_err(ioe)?;
            if !ent.file_type().map_err(ioe)?.is_dir() {
                continue;
            }
            let name = ent.file_name().to_string_lossy().into_owned();
            if name.ends_with(DELETED_SUFFIX) {
                scan.deleted.push(ent.path());
            } else if name.ends_with(CREATING_SUFFIX) {
                scan.creating.push(ent.path());
            } else if name.ends_with(ORPHAN_SUFFIX) {
                scan.orphans.push(ent.path());
            } else if let Some((t, p)) = parse_dir_name(&name) {
                scan.live.push((t, p, ent.path()));
            }
        }
        scan.live.sort();
        scan.deleted.sort();
        scan.creating.sort();
        scan.orphans.sort();
        Ok(scan)
    }

    /// The live directory of a partition.
    pub fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{partition}"))
    }
}
