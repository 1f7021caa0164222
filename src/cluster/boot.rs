//! Boot reconciliation: make the partition directories agree with the metadata store before
//! anything is served, then publish the stored topics.
//!
//! The store is the source of truth for which topics exist; a directory is opened only if a
//! stored topic owns it (same name, a partition index the topic has, and the same topic id
//! recorded inside it). Steps, in order:
//!
//! 1. **Unfinished deletes.** A `.deleted` directory whose recorded topic id is still a stored
//!    topic means a delete crashed before its store commit. The delete is finished: the rest
//!    of the topic's live directories are retired, its offsets dropped, its record deleted.
//!    Except when the stored topic no longer places that partition on this broker (cluster
//!    mode): a replica a reassignment moved away, set aside after its store commit; it is a
//!    leftover like any other.
//! 2. **Leftovers.** Every `.deleted` and `.creating` directory is removed (creates that never
//!    committed, deletes that committed but were not cleaned up).
//! 3. **Live directories.** One owned by a stored topic is kept; one without a recorded id (a
//!    data directory from before ids were recorded) gets its topic's id written. Anything
//!    else — no such topic, no such partition, or another topic id (an older incarnation of
//!    the name) — is an orphan: renamed to `.orphan` with a WARN, kept for the operator, never
//!    opened. One exception: a directory with the stored topic's id for a partition this
//!    cluster node no longer hosts is a replica a reassignment moved away, whose delete was
//!    interrupted after its store commit: it is deleted, as Kafka deletes stray replicas.
//!    Refusing to start would turn debris from a crash into an outage; silently
//!    adopting would serve records of a deleted topic or attach old data to a new topic id.
//!    (A store that *lost* topics is caught earlier, by the data-directory marker in
//!    `store::marker`, and the broker refuses to start.)
//! 4. **Open.** Every partition of every stored topic hosted here (in a cluster: those this
//!    node is a replica of) is opened; a missing directory (a create
//!    that crashed after its commit) is created empty with the topic id recorded.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::controller::{Controller, TopicError};
use super::metadata::TopicInfo;
use crate::log::manager::{aside_partition, read_topic_id, write_topic_id};

/// What boot reconciliation did, for the start-up log and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Topics whose interrupted delete was finished.
    pub finished_deletes: Vec<String>,
    /// `.deleted` / `.creating` directories removed.
    pub removed_leftovers: usize,
    /// Live-named directories moved aside to `.orphan` names.
    pub quarantined: Vec<std::path::PathBuf>,
    /// Partition directories that were missing and were created empty.
    pub created_missing: usize,
}

impl Controller {
    /// Reconciles the log directory with the store and publishes every stored topic in the
    /// view. Called once at boot, before serving; blocking.
    pub fn recover(&self, now_ms: i64) -> Result<RecoveryReport, TopicError> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut report = RecoveryReport::default();
        let mut topics: BTreeMap<String, TopicInfo> = self
            .store
            .load_topics()?
            .iter()
            .map(|r| (r.name.clone(), TopicInfo::from_record(r)))
            .collect();
        let scan = self.logs.scan()?;

        // 1. Deletes that crashed before their commit.
        let by_id: HashMap<u128, &str> = topics
            .values()
            .map(|t| (t.id.as_u128(), t.name.as_str()))
            .collect();
        let mut unfinished = BTreeSet::new();
        for dir in &scan.deleted {
            let id = read_topic_id(dir).unwrap_or_else(|e| {
                tracing::warn!(path = %dir.display(), error = %e, "unreadable topic id in a deleted directory");
                None
            });
            let Some(name) = id.and_then(|id| by_id.get(&id)) else {
                continue;
            };
            // A replica moved off this broker is set aside after its store commit: the
            // stored topic no longer places that partition here, and the topic stays.
            let removed_replica = aside_partition(dir)
                .and_then(|p| topics.get(*name)?.partition(p))
                .is_some_and(|p| !self.hosts(p));
            if !removed_replica {
                unfinished.insert(name.to_string());
            }
        }
        let mut leftovers: Vec<_> = scan.deleted.iter().chain(&scan.creating).cloned().collect();
        for name in unfinished {
            tracing::warn!(topic = %name, "finishing a topic deletion interrupted by a crash");
            leftovers.extend(self.logs.retire_topic(&name)?);
            self.groups.remove_offsets_for_topic(&name);
            if let Some(t) = topics.get(&name) {
                crate::share::persist::delete_topic(&self.store, t.id)?;
            }
            self.store.delete_topic(&name)?;
            topics.remove(&name);
            report.finished_deletes.push(name);
        }

        // 2. Leftovers of interrupted changes.
        report.removed_leftovers = leftovers.len();
        self.logs.purge(leftovers);

        // 3. Live directories: owned, legacy (no id yet) or orphan.
        for (name, p, dir) in self.logs.scan()?.live {
            let owner = topics
                .get(&name)
                .filter(|t| t.partition(p).is_some_and(|p| self.hosts(p)));
            let stored = topics.get(&name);
            let recorded = read_topic_id(&dir)?;
            if owner.is_none()
                && stored
                    .is_some_and(|t| t.partition(p).is_some() && recorded == Some(t.id.as_u128()))
            {
                // A reassignment moved this replica to other brokers and the broker stopped
                // after the store commit, before the directory was gone: finish that.
                self.logs.delete_partitions(&name, &[p])?;
                tracing::info!(topic = %name, partition = p,
                    "deleted the log of a replica moved off this broker (interrupted by a stop)");
                report.removed_leftovers += 1;
                continue;
            }
            let why = match (owner, recorded) {
                (Some(t), Some(id)) if id == t.id.as_u128() => continue,
                (Some(t), None) => {
                    write_topic_id(&dir, t.id.as_u128())?;
                    tracing::info!(topic = %name, partition = p, id = %t.id,
                        "recorded the topic id in a partition directory from an older version");
                    continue;
                }
                (Some(_), Some(_)) => "it belongs to an earlier topic of the same name",
                (None, _) if topics.get(&name).is_some_and(|t| t.partition(p).is_some()) => {
                    "this broker is not one of the partition's replicas"
                }
                (None, _) if topics.contains_key(&name) => "the topic has no such partition",
                (None, _) => "no topic in the metadata store owns it",
            };
            let moved = self.logs.quarantine(&name, p)?;
            tracing::warn!(
                topic = %name,
                partition = p,
                moved_to = %moved.display(),
                reason = why,
                "orphan partition directory quarantined, not opened; its data is kept there \
                 (delete it when no longer needed)"
            );
            report.quarantined.push(moved);
        }

        // 4. Open every stored partition hosted here; create the ones a crash left without a
        //    directory.
        for topic in topics.into_values() {
            let missing: Vec<i32> = topic
                .partitions
                .iter()
                .filter(|p| self.hosts(p))
                .map(|p| p.index)
                .filter(|&i| !self.logs.partition_dir(&topic.name, i).is_dir())
                .collect();
            if !missing.is_empty() {
                tracing::warn!(topic = %topic.name, partitions = ?missing,
                    "partition directories missing (a create interrupted after its commit, or lost): created empty");
                let staged =
                    self.logs
                        .stage_partitions(&topic.name, topic.id.as_u128(), &missing)?;
                self.logs.activate_staged(&topic.name, &staged)?;
                report.created_missing += missing.len();
            }
            let cfg = super::topic_config::log_config(&self.broker_layers(), &topic.configs);
            for p in topic.partitions.iter().filter(|p| self.hosts(p)) {
                self.logs
                    .open_partition(&topic.name, p.index, cfg, now_ms)?;
            }
            self.view.upsert(topic);
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests;
