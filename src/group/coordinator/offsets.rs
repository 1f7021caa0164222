//! The coordinator's committed-offset APIs: OffsetCommit, OffsetFetch, OffsetDelete, the
//! cleanup after a topic is deleted, and the retention pass the timer task runs.
//!
//! Invariants:
//! - under the group's lock the store write comes first and memory changes only once it has
//!   succeeded, so a fetch never returns an offset that a restart would lose;
//! - commit timestamps come from the coordinator's clock, not from the client;
//! - the retention pass deletes an Empty group once it has no offsets, members or pending
//!   members left.

use super::{GroupCoordinator, GroupSlot, Inner};
use crate::group::error::GroupError;
use crate::group::state::Effects;
use crate::group::store::{GroupWrite, MetadataWrite, OffsetRecord, PendingWrite};
use crate::group::types::*;

/// An offset commit past its checks, with its group's lock held.
struct Checked {
    s: tokio::sync::OwnedMutexGuard<GroupSlot>,
    /// The group was created by this commit (a simple group: generation < 0).
    created: bool,
    /// Per-partition results (metadata too large fails that partition only).
    results: PartitionResults,
    /// The offsets to write, stamped with the coordinator's clock.
    accepted: Vec<(String, i32, CommittedOffset)>,
    now: i64,
}

impl GroupCoordinator {
    /// What OffsetCommit and TxnOffsetCommit check alike: the group (created as a simple
    /// group for generation < 0, else GroupIdNotFound), the member and generation, the
    /// metadata size per partition.
    async fn check_commit(&self, req: &CommitRequest) -> Result<Checked, GroupError> {
        if req.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId(req.group_id.clone()));
        }
        let (slot, created) = match self.inner.served_slot(&req.group_id, false)? {
            Some(found) => found,
            None if req.generation_id < 0 => match self.inner.served_slot(&req.group_id, true)? {
                Some(found) => found,
                None => {
                    return Err(GroupError::CoordinatorNotAvailable(
                        "group creation failed".into(),
                    ))
                }
            },
            None => return Err(GroupError::GroupIdNotFound(req.group_id.clone())),
        };
        let s = slot.lock_owned().await;
        let now = self.now_ms();
        match &s.consumer {
            Some(c) => {
                let parts: Vec<(String, i32)> = req
                    .offsets
                    .iter()
                    .map(|(t, p, _)| (t.clone(), *p))
                    .collect();
                c.validate_offset_commit(&req.member_id, req.generation_id, &parts)?
            }
            None => s.group.validate_offset_commit(
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id,
            )?,
        }
        let max = self.inner.config.offset_metadata_max_bytes;
        let mut results = Vec::with_capacity(req.offsets.len());
        let mut accepted = Vec::new();
        for (topic, partition, offset) in &req.offsets {
            if offset.metadata.len() > max {
                let e = GroupError::OffsetMetadataTooLarge {
                    len: offset.metadata.len(),
                    max,
                };
                results.push((topic.clone(), *partition, Some(e)));
                continue;
            }
            let mut offset = offset.clone();
            offset.commit_timestamp_ms = now;
            accepted.push((topic.clone(), *partition, offset));
            results.push((topic.clone(), *partition, None));
        }
        Ok(Checked {
            s,
            created,
            results,
            accepted,
            now,
        })
    }

    /// OffsetCommit. `Err` applies to every partition. For an unknown group with
    /// generation ≥ 0 the error is `GroupIdNotFound`; OffsetCommit below v9 reports it as
    /// ILLEGAL_GENERATION (Kafka does the same mapping by version).
    /// Commit timestamps are set from the coordinator clock.
    pub async fn commit_offsets(&self, req: CommitRequest) -> Result<PartitionResults, GroupError> {
        let Checked {
            mut s,
            created,
            results,
            accepted: puts,
            now,
        } = self.check_commit(&req).await?;
        let metadata = if created {
            MetadataWrite::Put(s.group.to_record())
        } else {
            MetadataWrite::Unchanged
        };
        let write = GroupWrite {
            metadata,
            offsets_put: puts
                .iter()
                .map(|(t, p, o)| (t.clone(), *p, OffsetRecord::from(o)))
                .collect(),
            offsets_delete: Vec::new(),
        };
        self.inner.persist(s.group.group_id(), write).await?;
        for (t, p, o) in puts {
            s.group.put_offset(&t, p, o);
        }
        if !req.member_id.is_empty() {
            s.touch_member(&req.member_id, now);
        }
        self.inner.finish(&mut s, Effects::default()).await;
        Ok(results)
    }

    /// OffsetFetch. `topics = None` means every committed partition. Unknown groups and
    /// unknown partitions give `None` (offset −1), not an error. The committed offsets only:
    /// with `require_stable` the caller also asks [`GroupCoordinator::unstable_partitions`]
    /// which partitions must answer UNSTABLE_OFFSET_COMMIT instead.
    pub async fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
        require_stable: bool,
    ) -> Result<Vec<FetchedTopic>, GroupError> {
        let _ = require_stable;
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId(group_id.into()));
        }
        let slot = self.inner.served_slot(group_id, false)?.map(|(s, _)| s);
        let guard = match &slot {
            Some(slot) => Some(slot.lock().await),
            None => None,
        };
        let group = guard
            .as_ref()
            .map(|s| &s.group)
            .filter(|g| g.state() != GroupState::Dead);
        let out = match topics {
            Some(topics) => topics
                .iter()
                .map(|(topic, partitions)| {
                    let parts = partitions
                        .iter()
                        .map(|p| (*p, group.and_then(|g| g.offset(topic, *p)).cloned()))
                        .collect();
                    (topic.clone(), parts)
                })
                .collect(),
            None => {
                let mut by_topic: Vec<FetchedTopic> = Vec::new();
                if let Some(g) = group {
                    for (topic, partition, o) in g.offsets() {
                        match by_topic.last_mut() {
                            Some((t, parts)) if t == topic => {
                                parts.push((partition, Some(o.clone())))
                            }
                            _ => by_topic
                                .push((topic.to_string(), vec![(partition, Some(o.clone()))])),
                        }
                    }
                }
                by_topic
            }
        };
        Ok(out)
    }

    /// OffsetDelete. Refuses (per partition) topics the live consumer group subscribes to.
    pub async fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, Vec<i32>)],
    ) -> Result<PartitionResults, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId(group_id.into()));
        }
        let Some((slot, _)) = self.inner.served_slot(group_id, false)? else {
            return Err(GroupError::GroupIdNotFound(group_id.into()));
        };
        let mut s = slot.lock().await;
        s.group.validate_offset_delete()?;
        let mut results = Vec::new();
        let mut deletes = Vec::new();
        for (topic, parts) in partitions {
            let subscribed = match &s.consumer {
                Some(c) => !c.is_empty() && c.is_subscribed_to(topic),
                None => s.group.is_subscribed_to_topic(topic),
            };
            for p in parts {
                if subscribed {
                    results.push((
                        topic.clone(),
                        *p,
                        Some(GroupError::GroupSubscribedToTopic(topic.clone())),
                    ));
                } else {
                    if s.group.offset(topic, *p).is_some() {
                        deletes.push((topic.clone(), *p));
                    }
                    results.push((topic.clone(), *p, None));
                }
            }
        }
        let write = GroupWrite {
            metadata: MetadataWrite::Unchanged,
            offsets_put: Vec::new(),
            offsets_delete: deletes.clone(),
        };
        self.inner.persist(s.group.group_id(), write).await?;
        for (t, p) in deletes {
            s.group.remove_offset(&t, p);
        }
        Ok(results)
    }

    /// A topic was deleted: drop every group's offsets for it; returns how many went.
    /// Blocking (group locks and store writes): call it from a blocking thread, never from
    /// async code. A store failure is logged and that group's offsets are kept.
    pub fn remove_offsets_for_topic(&self, topic: &str) -> usize {
        let mut removed = 0;
        for slot in self.inner.all_slots() {
            let mut s = slot.blocking_lock();
            let parts = s.group.partitions_of(topic);
            if parts.is_empty() {
                continue;
            }
            let write = GroupWrite {
                metadata: MetadataWrite::Unchanged,
                offsets_put: Vec::new(),
                offsets_delete: parts.iter().map(|p| (topic.to_string(), *p)).collect(),
            };
            if let Err(e) = self.inner.store.persist(s.group.group_id(), &write) {
                tracing::error!(group = %s.group.group_id(), topic, error = %e, "cannot delete offsets of deleted topic");
                continue;
            }
            for p in parts {
                s.group.remove_offset(topic, p);
                removed += 1;
            }
        }
        removed
    }

    /// TxnOffsetCommit: stages `req.offsets` as pending offsets of `producer_id`'s open
    /// transaction (the caller verified with the transaction coordinator that the group is in
    /// it). They become committed offsets at the transaction's commit marker
    /// ([`GroupCoordinator::complete_transaction`]) and are dropped at its abort marker.
    /// Member and generation are validated as for OffsetCommit when given (KIP-447).
    pub async fn commit_txn_offsets(
        &self,
        req: CommitRequest,
        producer_id: i64,
    ) -> Result<PartitionResults, GroupError> {
        let Checked {
            mut s,
            created,
            results,
            accepted: stage,
            now,
        } = self.check_commit(&req).await?;
        if created {
            let write = GroupWrite {
                metadata: MetadataWrite::Put(s.group.to_record()),
                offsets_put: Vec::new(),
                offsets_delete: Vec::new(),
            };
            self.inner.persist(s.group.group_id(), write).await?;
        }
        let write = PendingWrite {
            producer_id,
            stage: stage
                .iter()
                .map(|(t, p, o)| (t.clone(), *p, OffsetRecord::from(o)))
                .collect(),
            ..Default::default()
        };
        self.inner
            .persist_pending(s.group.group_id(), write)
            .await?;
        let mine = s.pending.entry(producer_id).or_default();
        for (t, p, o) in stage {
            mine.insert((t, p), o);
        }
        if !req.member_id.is_empty() {
            s.touch_member(&req.member_id, now);
        }
        self.inner.finish(&mut s, Effects::default()).await;
        Ok(results)
    }

    /// A transaction's marker reached this group: its pending offsets of `producer_id`
    /// become committed offsets (`commit`) or are dropped. Idempotent (a retried marker finds
    /// nothing pending); a group unknown here has nothing pending.
    pub async fn complete_transaction(
        &self,
        group_id: &str,
        producer_id: i64,
        commit: bool,
    ) -> Result<(), GroupError> {
        let Some((slot, _)) = self.inner.served_slot(group_id, false)? else {
            return Ok(());
        };
        let mut s = slot.lock().await;
        let Some(staged) = s.pending.get(&producer_id) else {
            return Ok(());
        };
        let write = PendingWrite {
            producer_id,
            stage: Vec::new(),
            unstage: staged.keys().cloned().collect(),
            commit: if commit {
                staged
                    .iter()
                    .map(|((t, p), o)| (t.clone(), *p, OffsetRecord::from(o)))
                    .collect()
            } else {
                Vec::new()
            },
        };
        self.inner.persist_pending(group_id, write).await?;
        if let Some(staged) = s.pending.remove(&producer_id) {
            if commit {
                for ((t, p), o) in staged {
                    s.group.put_offset(&t, p, o);
                }
            }
        }
        Ok(())
    }

    /// Cluster mode, a transaction marker for an offsets partition (WriteTxnMarkers from the
    /// transaction coordinator's broker): completes `producer_id`'s transaction in every
    /// group of that partition (`in_partition`), as Kafka's group coordinator does on
    /// `onTransactionCompleted`.
    pub async fn complete_transaction_in(
        &self,
        in_partition: impl Fn(&str) -> bool,
        producer_id: i64,
        commit: bool,
    ) -> Result<(), GroupError> {
        let ids: Vec<String> = super::lock(&self.inner.groups)
            .keys()
            .filter(|g| in_partition(g))
            .cloned()
            .collect();
        for id in ids {
            self.complete_transaction(&id, producer_id, commit).await?;
        }
        Ok(())
    }

    /// The partitions of `group_id` with transactional offsets waiting for a marker
    /// (OffsetFetch with `require_stable` answers UNSTABLE_OFFSET_COMMIT for them).
    pub async fn unstable_partitions(&self, group_id: &str) -> Vec<(String, i32)> {
        let Ok(Some((slot, _))) = self.inner.served_slot(group_id, false) else {
            return Vec::new();
        };
        let s = slot.lock().await;
        let mut out: Vec<(String, i32)> =
            s.pending.values().flat_map(|m| m.keys().cloned()).collect();
        out.sort();
        out.dedup();
        out
    }

    /// Offset retention pass (`offsets.retention.minutes`); also deletes Empty groups left
    /// without offsets. Runs every `offsets_retention_check_interval_ms` on the timer task;
    /// public so tests and tools can run it. Returns the number of offsets removed.
    pub async fn expire_offsets(&self, now_ms: i64) -> usize {
        self.inner.expire_offsets(now_ms).await
    }
}

impl Inner {
    pub(super) async fn expire_offsets(&self, now_ms: i64) -> usize {
        let mut removed = 0;
        for slot in self.all_slots() {
            let mut s = slot.lock().await;
            if s.group.state() == GroupState::Dead
                || s.consumer.as_ref().is_some_and(|c| !c.is_empty())
            {
                continue;
            }
            let expired = s
                .group
                .expired_offsets(now_ms, self.config.offsets_retention_ms);
            let remaining = s.group.offsets().count() - expired.len();
            let drop_group = s.group.state() == GroupState::Empty
                && remaining == 0
                && s.group.num_members() == 0
                && s.group.expires_when_empty()
                && s.pending.is_empty();
            if drop_group {
                let n = expired.len();
                if self.remove_group(&slot, &mut s).await.is_ok() {
                    tracing::info!(group = %s.group.group_id(), offsets = n, "removed empty group after offset expiry");
                    removed += n;
                }
                continue;
            }
            if expired.is_empty() {
                continue;
            }
            let write = GroupWrite {
                metadata: MetadataWrite::Unchanged,
                offsets_put: Vec::new(),
                offsets_delete: expired.clone(),
            };
            if self.persist(s.group.group_id(), write).await.is_ok() {
                for (t, p) in &expired {
                    s.group.remove_offset(t, *p);
                }
                removed += expired.len();
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests;
