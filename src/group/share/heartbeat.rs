//! ShareGroupHeartbeat on one share group, and session expiry. Kafka's
//! `GroupMetadataManager.shareGroupHeartbeat` in three steps: update the member (bumping the
//! group epoch when its subscription or the subscribed topics changed), recompute the target
//! assignment when the group epoch is ahead of it, then move the member straight to the
//! target (no revocation handshake).

use std::collections::BTreeMap;

use super::assignor::{self, AssignorMember};
use super::{
    ShareGroup, ShareHeartbeatRequest, ShareHeartbeatResponse, ShareMember, TopicLookup, TopicMeta,
    LEAVE_GROUP_MEMBER_EPOCH,
};
use crate::group::error::GroupError;
use crate::group::types::GroupConfig;

/// Kafka's `throwIfShareGroupHeartbeatRequestIsInvalid`: checked before the group is looked up.
pub fn validate_request(req: &ShareHeartbeatRequest) -> Result<(), GroupError> {
    let invalid = |m: &str| Err(GroupError::InvalidRequest(m.to_string()));
    if req.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req.member_id.is_empty() {
        return invalid("MemberId can't be empty.");
    }
    if req.rack_id.as_deref() == Some("") {
        return invalid("RackId can't be empty.");
    }
    if req.member_epoch < LEAVE_GROUP_MEMBER_EPOCH {
        return invalid("MemberEpoch is invalid.");
    }
    if req.member_epoch == 0
        && req
            .subscribed_topic_names
            .as_ref()
            .is_none_or(Vec::is_empty)
    {
        return invalid("SubscribedTopicNames must be set in first request.");
    }
    Ok(())
}

impl ShareGroup {
    /// One heartbeat (the request passed `validate_request`). Leaves, joins and regular
    /// heartbeats; the member's session is extended on success. The caller persists the
    /// group when its record changed, before answering.
    pub fn heartbeat(
        &mut self,
        req: &ShareHeartbeatRequest,
        topics: &dyn TopicLookup,
        cfg: &GroupConfig,
        now_ms: i64,
    ) -> Result<ShareHeartbeatResponse, GroupError> {
        if self.dead {
            return Err(GroupError::CoordinatorNotAvailable(format!(
                "share group {} is being removed",
                self.group_id
            )));
        }
        let interval_ms = req
            .heartbeat_interval_ms
            .unwrap_or(cfg.share_heartbeat_interval_ms);
        if req.member_epoch == LEAVE_GROUP_MEMBER_EPOCH {
            self.remove_member(&req.member_id)?;
            return Ok(ShareHeartbeatResponse {
                error: None,
                member_id: req.member_id.clone(),
                member_epoch: LEAVE_GROUP_MEMBER_EPOCH,
                heartbeat_interval_ms: interval_ms,
                assignment: None,
            });
        }
        let joining = req.member_epoch == 0;
        if self.members.len() >= cfg.share_max_size && !self.members.contains_key(&req.member_id) {
            return Err(GroupError::GroupMaxSizeReached(cfg.share_max_size));
        }
        let member = match self.members.get(&req.member_id) {
            Some(m) => m.clone(),
            None if joining => ShareMember::new(&req.member_id),
            None => return Err(GroupError::UnknownMemberId(req.member_id.clone())),
        };
        check_epoch(&member, req.member_epoch)?;

        // 1. The member, and the group epoch.
        let mut updated = member.clone();
        if let Some(rack) = &req.rack_id {
            updated.rack_id = Some(rack.clone());
        }
        if let Some(names) = &req.subscribed_topic_names {
            updated.subscribed = names.iter().cloned().collect();
        }
        updated.client_id = req.client_id.clone();
        updated.client_host = req.client_host.clone();
        let subscription_changed =
            updated.subscribed != member.subscribed || !self.members.contains_key(&req.member_id);
        self.members.insert(req.member_id.clone(), updated);
        let metadata = self.subscription_metadata(topics);
        let metadata_changed = metadata != self.topics;
        if subscription_changed || metadata_changed {
            self.topics = metadata;
            self.group_epoch += 1;
        }

        // 2. The target assignment.
        if self.group_epoch > self.assignment_epoch {
            self.compute_target();
        }

        // 3. Reconcile: straight to the target.
        let target = self.target.get(&req.member_id).cloned().unwrap_or_default();
        let epoch = self.assignment_epoch;
        let m = self
            .members
            .get_mut(&req.member_id)
            .ok_or_else(|| GroupError::UnknownMemberId(req.member_id.clone()))?;
        let assignment_changed = m.assignment != target;
        if m.member_epoch != epoch || assignment_changed {
            m.previous_member_epoch = m.member_epoch;
            m.member_epoch = epoch;
            m.assignment = target;
        }
        let session_ms = req
            .session_timeout_ms
            .unwrap_or(cfg.share_session_timeout_ms);
        m.session_deadline_ms = now_ms.saturating_add(session_ms);
        let assignment = (joining || assignment_changed).then(|| {
            m.assignment
                .iter()
                .map(|(id, ps)| (*id, ps.iter().copied().collect()))
                .collect()
        });
        Ok(ShareHeartbeatResponse {
            error: None,
            member_id: m.member_id.clone(),
            member_epoch: m.member_epoch,
            heartbeat_interval_ms: interval_ms,
            assignment,
        })
    }

    /// Removes the members whose session expired at `now_ms`; true when any was removed
    /// (the caller persists the group).
    pub fn expire_sessions(&mut self, now_ms: i64) -> bool {
        if self.dead {
            return false;
        }
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_deadline_ms <= now_ms)
            .map(|m| m.member_id.clone())
            .collect();
        for id in &expired {
            tracing::info!(group = %self.group_id, member = %id, "share group member session expired");
            // The member exists: it was just listed.
            let _ = self.remove_member(id);
        }
        !expired.is_empty()
    }

    /// A member leaves or is fenced: it goes, and the group epoch is bumped so the others get
    /// its partitions at their next heartbeat.
    fn remove_member(&mut self, member_id: &str) -> Result<(), GroupError> {
        if self.members.remove(member_id).is_none() {
            return Err(GroupError::UnknownMemberId(member_id.to_string()));
        }
        self.target.remove(member_id);
        self.group_epoch += 1;
        Ok(())
    }

    /// The subscribed topics that exist now.
    fn subscription_metadata(&self, topics: &dyn TopicLookup) -> BTreeMap<String, TopicMeta> {
        self.subscribed_topics()
            .into_iter()
            .filter_map(|name| topics.topic(&name).map(|t| (name, t)))
            .collect()
    }

    /// Recomputes the target assignment at the group epoch.
    fn compute_target(&mut self) {
        let empty = super::Assignment::new();
        let members: BTreeMap<String, AssignorMember<'_>> = self
            .members
            .iter()
            .map(|(id, m)| {
                (
                    id.clone(),
                    AssignorMember {
                        subscribed: &m.subscribed,
                        previous: self.target.get(id).unwrap_or(&empty),
                    },
                )
            })
            .collect();
        let target = assignor::assign(&members, &self.topics);
        self.target = target;
        self.assignment_epoch = self.group_epoch;
    }
}

/// Kafka's `throwIfShareGroupMemberEpochIsInvalid`: ahead of the coordinator, or behind it
/// by more than the one epoch whose response may have been lost, is fenced.
fn check_epoch(member: &ShareMember, received: i32) -> Result<(), GroupError> {
    if received > member.member_epoch {
        return Err(GroupError::FencedMemberEpoch {
            received,
            current: member.member_epoch,
        });
    }
    if received < member.member_epoch && received != member.previous_member_epoch {
        return Err(GroupError::FencedMemberEpoch {
            received,
            current: member.member_epoch,
        });
    }
    Ok(())
}
