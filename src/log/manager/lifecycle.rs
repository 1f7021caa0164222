//! Creating, opening and deleting partitions: the directory moves of a topic change (stage
//! under `.creating`, activate, retire to `.deleted`, purge, quarantine to `.orphan`; see
//! `dirs.rs` for the names) and the map of open logs.
//!
//! This module only moves directories; deciding which ones are live (comparing them with the
//! metadata store) is the controller's job at boot (`cluster::controller`).
//!
//! Invariants: `create_lock` serializes every change of the map of open logs (create, retire,
//! delete), so one partition is never opened twice; a log removed from the map is marked deleted before its
//! directory is renamed, so later calls on it answer `Deleted`; each batch of renames is
//! followed by an fsync of the data directory.

use std::fs;
use std::path::PathBuf;
use std::sync::Arc;

use super::dirs::{aside_name, check_topic, unique_tag};
use super::{
    write_topic_id, LogManager, StagedPartition, CREATING_SUFFIX, DELETED_SUFFIX, ORPHAN_SUFFIX,
};
use crate::log::checkpoint::sync_dir;
use crate::log::config::LogConfig;
use crate::log::error::LogError;
use crate::log::partition::PartitionLog;
use crate::log::{lock, write_lock};

impl LogManager {
    /// Creates empty directories for `partitions` of `topic` under `.creating` names, each
    /// recording `topic_id`, and fsyncs the data directory. Nothing is opened or visible yet;
    /// on error whatever was made is removed again.
    pub fn stage_partitions(
        &self,
        topic: &str,
        topic_id: u128,
        partitions: &[i32],
    ) -> Result<Vec<StagedPartition>, LogError> {
        check_topic(topic)?;
        let tag = unique_tag();
        let mut staged = Vec::with_capacity(partitions.len());
        let mut stage_one = |p: i32| -> Result<(), LogError> {
            if p < 0 {
                return Err(LogError::InvalidRequest(format!("negative partition {p}")));
            }
            let path = self
                .data_dir
                .join(aside_name(topic, p, tag, CREATING_SUFFIX));
            fs::create_dir(&path)
                .map_err(|e| LogError::io(format!("creating {}", path.display()), e))?;
            staged.push(StagedPartition {
                partition: p,
                path: path.clone(),
            });
            write_topic_id(&path, topic_id)
        };
        let mut result = partitions.iter().try_for_each(|&p| stage_one(p));
        if result.is_ok() {
            result = sync_dir(&self.data_dir)
                .map_err(|e| LogError::io(format!("syncing {}", self.data_dir.display()), e));
        }
        match result {
            Ok(()) => Ok(staged),
            Err(e) => {
                self.purge(staged.iter().map(|s| s.path.clone()).collect());
                Err(e)
            }
        }
    }

    /// Gives staged directories their live names (after the store commit). A live directory
    /// already in the way belongs to no topic (the controller checked): it is quarantined,
    /// never reused. Fsyncs the data directory.
    pub fn activate_staged(&self, topic: &str, staged: &[StagedPartition]) -> Result<(), LogError> {
        let _g = lock(&self.create_lock);
        for s in staged {
            let live = self.partition_dir(topic, s.partition);
            if live.exists() {
                let moved = self.quarantine(topic, s.partition)?;
                tracing::warn!(topic, partition = s.partition, moved_to = %moved.display(),
                    "a directory with the new partition's name was in the way: quarantined");
            }
            fs::rename(&s.path, &live)
                .map_err(|e| LogError::io(format!("renaming {}", s.path.display()), e))?;
        }
        sync_dir(&self.data_dir)
            .map_err(|e| LogError::io(format!("syncing {}", self.data_dir.display()), e))
    }

    /// Removes directories (set-aside or staged ones); failures are logged and left for the
    /// next boot, which removes every `.deleted` and `.creating` directory.
    pub fn purge(&self, paths: Vec<PathBuf>) {
        for p in paths {
            if let Err(e) = fs::remove_dir_all(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), error = %e, "could not remove directory; retried at next start");
                }
            }
        }
    }

    /// Moves the live directory of `topic`-`partition` aside to a `.orphan` name (kept for the
    /// operator, never opened again) and fsyncs the data directory. Returns the new path.
    pub fn quarantine(&self, topic: &str, partition: i32) -> Result<PathBuf, LogError> {
        let from = self.partition_dir(topic, partition);
        let to = self
            .data_dir
            .join(aside_name(topic, partition, unique_tag(), ORPHAN_SUFFIX));
        fs::rename(&from, &to)
            .map_err(|e| LogError::io(format!("quarantining {}", from.display()), e))?;
        sync_dir(&self.data_dir)
            .map_err(|e| LogError::io(format!("syncing {}", self.data_dir.display()), e))?;
        Ok(to)
    }

    /// Opens the partition's log, creating its directory if needed. Idempotent: if it is
    /// already open, the existing log is returned unchanged (use `update_config` to change it).
    pub fn create(
        &self,
        topic: &str,
        partition: i32,
        cfg: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<PartitionLog>, LogError> {
        check_topic(topic)?;
        if partition < 0 {
            return Err(LogError::InvalidRequest(format!(
                "negative partition {partition}"
            )));
        }
        if let Some(l) = self.get(topic, partition) {
            return Ok(l);
        }
        let _g = lock(&self.create_lock);
        if let Some(l) = self.get(topic, partition) {
            return Ok(l);
        }
        let log = Arc::new(PartitionLog::open_with(
            &self.partition_dir(topic, partition),
            cfg,
            now_ms,
            &self.files,
        )?);
        write_lock(&self.logs).insert((topic.to_string(), partition), Arc::clone(&log));
        Ok(log)
    }

    /// Same as [`LogManager::create`]; the name used by the broker at start-up.
    pub fn open_partition(
        &self,
        topic: &str,
        partition: i32,
        cfg: LogConfig,
        now_ms: i64,
    ) -> Result<Arc<PartitionLog>, LogError> {
        self.create(topic, partition, cfg, now_ms)
    }

    /// Deletes every partition of `topic` at once: [`LogManager::retire_topic`], then
    /// [`LogManager::purge`].
    pub fn delete_topic(&self, topic: &str) -> Result<(), LogError> {
        let retired = self.retire_topic(topic)?;
        self.purge(retired);
        Ok(())
    }

    /// First half of a delete: closes `topic`'s open logs (later calls on them return
    /// `LogError::Deleted`) and renames every live directory of it to a `.deleted` name, then
    /// fsyncs the data directory. Returns the new paths for [`LogManager::purge`]. After this
    /// no live-named directory of the topic is left, so nothing of it can be opened again —
    /// whatever happens to the store record afterwards. On a rename error the directories
    /// renamed so far stay renamed (the controller finishes the delete at the next boot).
    pub fn retire_topic(&self, topic: &str) -> Result<Vec<PathBuf>, LogError> {
        check_topic(topic)?;
        let _g = lock(&self.create_lock);
        let removed: Vec<_> = {
            let mut logs = write_lock(&self.logs);
            let keys: Vec<_> = logs.keys().filter(|k| k.0 == topic).cloned().collect();
            keys.into_iter().filter_map(|k| logs.remove(&k)).collect()
        };
        for log in &removed {
            log.mark_deleted();
        }
        let tag = unique_tag();
        let mut retired = Vec::new();
        for (t, p) in self.existing_partitions()? {
            if t != topic {
                continue;
            }
            let from = self.partition_dir(&t, p);
            let to = self.data_dir.join(aside_name(&t, p, tag, DELETED_SUFFIX));
            fs::rename(&from, &to)
                .map_err(|e| LogError::io(format!("renaming {}", from.display()), e))?;
            retired.push(to);
        }
        // Make the removal durable, so a power cut cannot bring the topic's data back.
        sync_dir(&self.data_dir)
            .map_err(|e| LogError::io(format!("syncing {}", self.data_dir.display()), e))?;
        Ok(retired)
    }

    /// Deletes the given partitions of `topic` (rolling back a failed create, or replicas a
    /// reassignment moved to other brokers, after the store no longer lists them): each open log is
    /// marked deleted and dropped from the map, its directory renamed to `*.deleted` and
    /// removed. Partitions without a log or directory are skipped. Tries every partition and
    /// returns the first error.
    pub fn delete_partitions(&self, topic: &str, partitions: &[i32]) -> Result<(), LogError> {
        check_topic(topic)?;
        let _g = lock(&self.create_lock);
        let removed: Vec<_> = {
            let mut logs = write_lock(&self.logs);
            partitions
                .iter()
                .filter_map(|&p| logs.remove(&(topic.to_string(), p)))
                .collect()
        };
        for log in &removed {
            log.mark_deleted();
        }
        drop(removed);
        let tag = unique_tag();
        let mut first = None;
        let mut renamed = false;
        for &p in partitions {
            let from = self.partition_dir(topic, p);
            if !from.is_dir() {
                continue;
            }
            renamed = true;
            let to = self
                .data_dir
                .join(aside_name(topic, p, tag, DELETED_SUFFIX));
            let r = fs::rename(&from, &to)
                .map_err(|e| LogError::io(format!("renaming {}", from.display()), e))
                .and_then(|()| {
                    fs::remove_dir_all(&to)
                        .map_err(|e| LogError::io(format!("removing {}", to.display()), e))
                });
            if let Err(e) = r {
                first.get_or_insert(e);
            }
        }
        if renamed {
            // Make the removal durable, so a power cut cannot bring the partitions back.
            if let Err(e) = sync_dir(&self.data_dir) {
                first.get_or_insert(LogError::io(
                    format!("syncing {}", self.data_dir.display()),
                    e,
                ));
            }
        }
        first.map_or(Ok(()), Err)
    }
}
