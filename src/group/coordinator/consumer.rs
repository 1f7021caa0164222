//! The coordinator's KIP-848 APIs: ConsumerGroupHeartbeat and ConsumerGroupDescribe, the
//! consumer groups' timers and persistence, and the conversions between an *empty* classic
//! group and a consumer group (offsets are kept: they belong to the group id).
//!
//! Invariants:
//! - a heartbeat's state change is persisted (the group metadata record with its
//!   `"consumer"` object) before the response leaves; if the write fails the group is put
//!   back as it was and the member gets COORDINATOR_NOT_AVAILABLE;
//! - a non-empty classic group is never turned into a consumer group (GROUP_ID_NOT_FOUND,
//!   as Kafka answers when it cannot upgrade online) and a non-empty consumer group never
//!   into a classic one (INCONSISTENT_GROUP_PROTOCOL to the JoinGroup).

use super::{GroupCoordinator, GroupSlot, Inner};
use crate::group::consumer::{
    ConsumerGroup, ConsumerGroupDescription, ConsumerHeartbeat, ConsumerHeartbeatResponse,
    TopicsImage,
};
use crate::group::error::GroupError;
use crate::group::store::{GroupWrite, MetadataWrite, PersistedGroup};
use crate::group::types::*;

impl GroupSlot {
    /// The earliest deadline of the classic and the consumer state.
    pub(super) fn next_deadline(&self) -> Option<i64> {
        let classic = self.group.next_deadline();
        let consumer = self
            .consumer
            .as_ref()
            .and_then(ConsumerGroup::next_deadline);
        match (classic, consumer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The console's view: a consumer group shows its state, assignor, group epoch (as the
    /// generation) and members.
    pub(super) fn snapshot(&self) -> GroupSnapshot {
        let mut snap = self.group.snapshot();
        if let Some(c) = &self.consumer {
            let d = c.describe();
            snap.state = d.state.to_string();
            snap.protocol_type = crate::group::state::CONSUMER_PROTOCOL_TYPE.to_string();
            snap.protocol = d.assignor_name.to_string();
            snap.generation_id = d.group_epoch;
            snap.members = d
                .members
                .into_iter()
                .map(|m| MemberDescription {
                    member_id: m.member_id,
                    group_instance_id: m.instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    metadata: Default::default(),
                    assignment: Default::default(),
                })
                .collect();
        }
        snap
    }

    /// The group metadata record of a consumer group.
    fn consumer_record(&self) -> Option<crate::group::store::GroupMetadataRecord> {
        let c = self.consumer.as_ref()?;
        let mut rec = self.group.to_record();
        rec.group_type = Some(crate::group::kind::GroupType::Consumer.as_str().to_string());
        rec.consumer = Some(c.to_record());
        Some(rec)
    }
}

/// The consumer group of a stored record, if it is one (taken out of `p`, whose classic part
/// is then an Empty group holding the offsets).
pub(super) fn loaded(
    p: &mut PersistedGroup,
    config: &GroupConfig,
    now_ms: i64,
) -> Option<ConsumerGroup> {
    let rec = p.metadata.as_mut()?.consumer.take()?;
    match ConsumerGroup::from_record(&p.group_id, rec, now_ms) {
        Ok(mut g) => {
            g.on_loaded(config.consumer_session_timeout_ms, now_ms);
            tracing::info!(group = %p.group_id, epoch = g.group_epoch(), members = g.members().count(), "loaded consumer group");
            Some(g)
        }
        Err(e) => {
            tracing::error!(group = %p.group_id, error = %e, "unreadable consumer group record; loaded as an empty group");
            None
        }
    }
}

impl Inner {
    /// Writes a consumer group's record (its state after a change).
    async fn persist_consumer(&self, s: &GroupSlot) -> Result<(), GroupError> {
        let Some(rec) = s.consumer_record() else {
            return Ok(());
        };
        let write = GroupWrite {
            metadata: MetadataWrite::Put(rec),
            offsets_put: Vec::new(),
            offsets_delete: Vec::new(),
        };
        self.persist(s.group.group_id(), write).await
    }

    /// A classic JoinGroup arrived: an empty consumer group becomes a classic one again (its
    /// record rewritten as classic); a non-empty one refuses the join.
    pub(super) async fn leave_consumer_protocol(
        &self,
        s: &mut GroupSlot,
    ) -> Result<(), GroupError> {
        match &s.consumer {
            None => Ok(()),
            Some(c) if !c.is_empty() => Err(GroupError::InconsistentGroupProtocol(format!(
                "group {} is a consumer group with members",
                c.group_id()
            ))),
            Some(_) => {
                let write = GroupWrite {
                    metadata: MetadataWrite::Put(s.group.to_record()),
                    offsets_put: Vec::new(),
                    offsets_delete: Vec::new(),
                };
                self.persist(s.group.group_id(), write).await?;
                s.consumer = None;
                Ok(())
            }
        }
    }

    /// Fires a consumer group's session and rebalance timeouts; fenced members are
    /// persisted as gone (on a failed write they stay, and the timer fires again).
    pub(super) async fn tick_consumer(&self, s: &mut GroupSlot, now_ms: i64) {
        let Some(c) = s.consumer.as_mut() else {
            return;
        };
        let before = c.clone();
        let fenced = c.tick(now_ms);
        if fenced.is_empty() {
            return;
        }
        tracing::info!(group = %before.group_id(), members = ?fenced, "consumer group members fenced by timeout");
        if self.persist_consumer(s).await.is_err() {
            s.consumer = Some(before);
        }
    }
}

impl GroupCoordinator {
    /// ConsumerGroupHeartbeat (`version` is the request's). `image` holds the topics that
    /// exist now. A group is created by an epoch-0 heartbeat only; an epoch > 0 for an
    /// unknown group answers UNKNOWN_MEMBER_ID, so the member rejoins (Kafka answers
    /// GROUP_ID_NOT_FOUND, fatal to the Java client, which would kill consumers of a group
    /// whose state was lost).
    pub async fn consumer_heartbeat(
        &self,
        req: ConsumerHeartbeat,
        version: i16,
        image: &TopicsImage,
    ) -> Result<ConsumerHeartbeatResponse, GroupError> {
        req.validate(version)?;
        let create = req.member_epoch == 0;
        let Some((slot, _)) = self.inner.served_slot(&req.group_id, create)? else {
            return Err(GroupError::UnknownMemberId(req.member_id));
        };
        let mut s = slot.lock().await;
        if s.group.state() == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable(format!(
                "group {} was removed",
                req.group_id
            )));
        }
        if s.consumer.is_none() {
            if s.group.state() != GroupState::Empty
                || s.group.num_members() > 0
                || s.group.has_pending_members()
            {
                return Err(GroupError::GroupIdNotFound(req.group_id));
            }
            if !create {
                return Err(GroupError::UnknownMemberId(req.member_id));
            }
            s.consumer = Some(ConsumerGroup::new(req.group_id.clone()));
        }
        let now = self.now_ms();
        let max_size = self.inner.config.max_size;
        let Some(c) = s.consumer.as_mut() else {
            return Err(GroupError::CoordinatorNotAvailable(
                "no consumer group".into(),
            ));
        };
        let before = c.clone();
        let was_new = before.is_empty() && before.group_epoch() == 0;
        let result = c.heartbeat(&req, image, max_size, now);
        let changed = c.to_record() != before.to_record();
        let result = match result {
            Err(e) => {
                s.consumer = (!was_new).then_some(before);
                Err(e)
            }
            Ok(r) if changed => match self.inner.persist_consumer(&s).await {
                Ok(()) => Ok(r),
                Err(e) => {
                    s.consumer = (!was_new).then_some(before);
                    Err(e)
                }
            },
            Ok(r) => Ok(r),
        };
        self.inner.schedule(&s);
        result
    }

    /// ConsumerGroupDescribe: GROUP_ID_NOT_FOUND for unknown and classic groups.
    pub async fn consumer_describe(
        &self,
        group_ids: &[String],
    ) -> Vec<(String, Result<ConsumerGroupDescription, GroupError>)> {
        let mut out = Vec::with_capacity(group_ids.len());
        for id in group_ids {
            let result = match self.inner.served_slot(id, false) {
                Err(e) => Err(e),
                Ok(None) => Err(GroupError::GroupIdNotFound(id.clone())),
                Ok(Some((slot, _))) => {
                    let s = slot.lock().await;
                    match &s.consumer {
                        Some(c) if s.group.state() != GroupState::Dead => Ok(c.describe()),
                        _ => Err(GroupError::GroupIdNotFound(id.clone())),
                    }
                }
            };
            out.push((id.clone(), result));
        }
        out
    }

    /// OffsetFetch v9 from a member of a consumer group: its epoch must be current. Classic
    /// and unknown groups, and admin fetches (no member id), are not checked.
    pub async fn validate_offset_fetch(
        &self,
        group_id: &str,
        member_id: &str,
        member_epoch: i32,
    ) -> Result<(), GroupError> {
        let Some((slot, _)) = self.inner.served_slot(group_id, false)? else {
            return Ok(());
        };
        let s = slot.lock().await;
        match &s.consumer {
            Some(c) if !member_id.is_empty() || member_epoch >= 0 => {
                c.validate_offset_fetch(member_id, member_epoch)
            }
            _ => Ok(()),
        }
    }

    /// Whether `member_id` is a member of consumer group `group_id` (OffsetCommit below v9
    /// from such a member is refused with UNSUPPORTED_VERSION).
    pub async fn is_consumer_member(&self, group_id: &str, member_id: &str) -> bool {
        let Ok(Some((slot, _))) = self.inner.served_slot(group_id, false) else {
            return false;
        };
        let s = slot.lock().await;
        s.consumer
            .as_ref()
            .is_some_and(|c| c.member(member_id).is_some())
    }
}
