//! The coordinator's share-group APIs (KIP-932): ShareGroupHeartbeat, ShareGroupDescribe, and
//! the hooks that tell the share-partition layer a share group was deleted or that its known
//! topics gained partitions. The state machine is `group::share::ShareGroup`; this file adds
//! the group lookup in the one namespace, the write before the answer, and the timer.
//!
//! Invariants:
//! - partitions a known topic gained are initialized at offset 0 (the partitions-added hook)
//!   before the heartbeat that first saw them is persisted and answered, so no member is
//!   assigned one before its share-partition starts at 0; if that fails the heartbeat fails
//!   and the group is as before (the next heartbeat sees the new partitions again);
//! - a heartbeat that changes the group's persisted state is answered only after the store
//!   write succeeded; if the write fails the group is restored to what it was before the
//!   request (a group the request created is dropped) and the member gets the store error
//!   (COORDINATOR_NOT_AVAILABLE or NOT_COORDINATOR) and retries;
//! - only a join (epoch 0) creates a share group; a group id held by a classic group answers
//!   GROUP_ID_NOT_FOUND "Group X is not a share group.";
//! - session expiry runs on the coordinator's timer task (`Group::tick`), persisted like any
//!   other change.

use std::sync::Arc;

use uuid::Uuid;

use super::{lock, GroupCoordinator, SlotRef};
use crate::group::error::GroupError;
use crate::group::kind::{Group, GroupType};
use crate::group::share::{
    added_partitions, validate_request, ShareGroupDescription, ShareHeartbeatRequest,
    ShareHeartbeatResponse, TopicLookup,
};
use crate::group::store::{GroupWrite, MetadataWrite};
use crate::group::types::GroupState;

/// Called with the group id after DeleteGroups removed a share group, while the group's lock
/// is held: it must not block (hand the work to a task).
pub type ShareGroupDeletedHook = Arc<dyn Fn(&str) + Send + Sync>;

/// Called (on a blocking thread) with a share group's id and the (topic id, partition) pairs
/// its known topics gained (`group::share::added_partitions`): each share-partition without
/// state starts at offset 0. Durable when it returns; an error fails the heartbeat.
pub type SharePartitionsAddedHook =
    Arc<dyn Fn(&str, &[(Uuid, i32)]) -> Result<(), GroupError> + Send + Sync>;

impl GroupCoordinator {
    /// ShareGroupHeartbeat: join (epoch 0), heartbeat, leave (epoch −1). `topics` resolves the
    /// subscribed topic names (ids and partition counts) at the time of the request.
    pub async fn share_heartbeat(
        &self,
        req: ShareHeartbeatRequest,
        topics: &(dyn TopicLookup + Sync),
    ) -> ShareHeartbeatResponse {
        let fail = |e: GroupError| ShareHeartbeatResponse::error(e, String::new(), 0);
        if let Err(e) = validate_request(&req) {
            return fail(e);
        }
        let create = (req.member_epoch == 0).then_some(GroupType::Share);
        let (slot, created) = match self.inner.served_slot_of(&req.group_id, create) {
            Ok(Some(found)) => found,
            Ok(None) => return fail(GroupError::GroupIdNotFound(req.group_id.clone())),
            Err(e) => return fail(e),
        };
        let mut s = slot.lock().await;
        let now = self.now_ms();
        let group = match s.group.share_mut() {
            Ok(g) => g,
            Err(e) => return fail(e),
        };
        let before = group.clone();
        let before_record = group.share_record();
        let resp = match group.heartbeat(&req, topics, &self.inner.config, now) {
            Ok(r) => r,
            Err(e) => {
                drop(s);
                if created {
                    self.inner.forget_created(&req.group_id, &slot).await;
                }
                return fail(e);
            }
        };
        let added = added_partitions(before.topics(), group.topics());
        if !added.is_empty() {
            // A group this request created knows no topics yet: nothing to forget here.
            if let Err(e) = self
                .inner
                .share_partitions_added(&req.group_id, added)
                .await
            {
                *group = before;
                return fail(e);
            }
        }
        if group.share_record() != before_record {
            let write = GroupWrite {
                metadata: MetadataWrite::Put(group.to_record()),
                offsets_put: Vec::new(),
                offsets_delete: Vec::new(),
            };
            if let Err(e) = self.inner.persist(&req.group_id, write).await {
                *group = before;
                drop(s);
                if created {
                    self.inner.forget_created(&req.group_id, &slot).await;
                }
                return fail(e);
            }
        }
        self.inner.schedule(&s);
        resp
    }

    /// ShareGroupDescribe: per group, its description, GROUP_ID_NOT_FOUND when unknown or of
    /// another kind ("Group X is not a share group."), INVALID_GROUP_ID for "".
    pub async fn share_describe(
        &self,
        group_ids: &[String],
    ) -> Vec<(String, Result<ShareGroupDescription, GroupError>)> {
        let mut out = Vec::with_capacity(group_ids.len());
        for id in group_ids {
            let result = if id.is_empty() {
                Err(GroupError::InvalidGroupId(id.clone()))
            } else {
                match self.inner.served_slot(id, false) {
                    Err(e) => Err(e),
                    Ok(None) => Err(GroupError::GroupIdNotFound(id.clone())),
                    Ok(Some((slot, _))) => {
                        let s = slot.lock().await;
                        if s.group.state() == GroupState::Dead {
                            Err(GroupError::GroupIdNotFound(id.clone()))
                        } else {
                            s.group.share().map(|g| g.describe())
                        }
                    }
                }
            };
            out.push((id.clone(), result));
        }
        out
    }

    /// Every share group's description, for the console and the share-partition layer. Never
    /// waits: a group busy with a request is left out of this pass.
    pub fn describe_share_groups(&self) -> Vec<ShareGroupDescription> {
        let mut out: Vec<ShareGroupDescription> = self
            .inner
            .all_slots()
            .iter()
            .filter_map(|slot| {
                let s = slot.try_lock().ok()?;
                match &s.group {
                    Group::Share(g) if g.state() != GroupState::Dead => Some(g.describe()),
                    _ => None,
                }
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// Registers the function called after a share group is deleted (DeleteGroups), so the
    /// share-partition state of the group can be deleted too. A second call replaces it.
    pub fn on_share_group_deleted(&self, hook: ShareGroupDeletedHook) {
        *lock(&self.inner.share_deleted) = Some(hook);
    }

    /// Registers the function that starts the partitions a share group's known topics gained
    /// at offset 0. A second call replaces it.
    pub fn on_share_partitions_added(&self, hook: SharePartitionsAddedHook) {
        *lock(&self.inner.share_added) = Some(hook);
    }
}

impl super::Inner {
    /// Runs the deletion hook, if any, for share group `group_id`.
    pub(super) fn share_group_deleted(&self, group_id: &str) {
        let hook = lock(&self.share_deleted).clone();
        if let Some(hook) = hook {
            hook(group_id);
        }
    }

    /// Runs the partitions-added hook, if any, on a blocking thread.
    async fn share_partitions_added(
        &self,
        group_id: &str,
        added: Vec<(Uuid, i32)>,
    ) -> Result<(), GroupError> {
        let Some(hook) = lock(&self.share_added).clone() else {
            return Ok(());
        };
        let group = group_id.to_string();
        tokio::task::spawn_blocking(move || hook(&group, &added))
            .await
            .map_err(|e| {
                GroupError::CoordinatorNotAvailable(format!("initializing new partitions: {e}"))
            })?
    }

    /// Drops a share group that a failed join created (nothing of it was persisted): it is
    /// marked Dead first, so a request that raced and holds the slot retries.
    async fn forget_created(&self, group_id: &str, slot: &SlotRef) {
        let mut s = slot.lock().await;
        if s.group.num_members() > 0 {
            return;
        }
        let err = GroupError::CoordinatorNotAvailable(format!("group {group_id} was removed"));
        let _ = s.group.mark_dead(self.clock.now_ms(), err);
        let mut groups = lock(&self.groups);
        if groups
            .get(group_id)
            .is_some_and(|cur| Arc::ptr_eq(cur, slot))
        {
            groups.remove(group_id);
        }
    }
}
