//! The coordinator's KIP-848 APIs: ConsumerGroupHeartbeat and ConsumerGroupDescribe, the
//! consumer groups' timers and persistence, and the conversions between an *empty* classic
//! group and a consumer group (offsets are kept: they belong to the group id).
//!
//! Invariants:
//! - a heartbeat's state change is persisted (the group metadata record with its
//!   `"consumer"` object) before the response leaves; if the write fails the group is put
//!   back as it was and the member gets COORDINATOR_NOT_AVAILABLE;
//! - a classic group with members becomes a consumer group only through the online upgrade,
//!   and a consumer group with members a classic one only through the online downgrade
//!   (`migration`).

use super::migration::Undo;
use super::{GroupCoordinator, GroupSlot, Inner};
use crate::group::consumer::{
    ConsumerGroup, ConsumerGroupDescription, ConsumerHeartbeat, ConsumerHeartbeatResponse,
    TopicsImage,
};
use crate::group::error::GroupError;
use crate::group::state::Effects;
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
    pub(super) fn consumer_record(&self) -> Option<crate::group::store::GroupMetadataRecord> {
        let c = self.consumer.as_ref()?;
        let mut rec = self.group.to_record();
        rec.group_type = crate::group::kind::GroupType::Consumer;
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
    /// A classic JoinGroup arrived at an empty consumer group: it becomes a classic one
    /// again (its record rewritten as classic). A consumer group with members serves the
    /// join itself (`migration`).
    pub(super) async fn leave_consumer_protocol(
        &self,
        s: &mut GroupSlot,
    ) -> Result<(), GroupError> {
        if s.consumer.is_none() {
            return Ok(());
        }
        let write = GroupWrite {
            metadata: MetadataWrite::Put(s.group.to_record()),
            offsets_put: Vec::new(),
            offsets_delete: Vec::new(),
        };
        self.persist(s.group.group_id(), write).await?;
        s.consumer = None;
        Ok(())
    }

    /// Fires a consumer group's session and rebalance timeouts; fenced members are
    /// persisted as gone, and the group downgraded if only classic members are left (on a
    /// failed write the group stays as it was, and the timer fires again).
    pub(super) async fn tick_consumer(&self, s: &mut GroupSlot, now_ms: i64) {
        let undo = Undo::of(s);
        let Some(c) = s.consumer.as_mut() else {
            return;
        };
        let fenced = c.tick(now_ms);
        if fenced.is_empty() {
            return;
        }
        tracing::info!(group = %c.group_id(), members = ?fenced, "consumer group members fenced by timeout");
        let fx = self.maybe_downgrade(s).unwrap_or_default();
        if self.persist_change(s, undo).await.is_ok() {
            s.deliver(fx);
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
        let undo = Undo::of(&s);
        let mut fx = Effects::default();
        if s.consumer.is_none() {
            // A share group (GROUP_ID_NOT_FOUND), an empty classic group (converted freely)
            // or a classic group with members (online upgrade, epoch 0 only).
            let group = s.group.classic()?;
            let empty = group.state() == GroupState::Empty
                && group.num_members() == 0
                && !group.has_pending_members();
            if !create {
                return Err(match empty {
                    true => GroupError::UnknownMemberId(req.member_id),
                    false => GroupError::GroupIdNotFound(req.group_id),
                });
            }
            if empty {
                s.consumer = Some(ConsumerGroup::new(req.group_id.clone()));
            } else {
                fx = self.inner.upgrade(&mut s, image)?;
            }
        }
        let now = self.now_ms();
        let max_size = self.inner.config.max_size;
        let Some(c) = s.consumer.as_mut() else {
            return Err(GroupError::CoordinatorNotAvailable(
                "no consumer group".into(),
            ));
        };
        let result = match c.heartbeat(&req, image, max_size, now) {
            Err(e) => {
                undo.restore(&mut s);
                Err(e)
            }
            Ok(r) => {
                if let Some(more) = self.inner.maybe_downgrade(&mut s) {
                    fx.merge(more);
                }
                self.inner.persist_change(&mut s, undo).await.map(|()| r)
            }
        };
        if result.is_ok() {
            s.deliver(fx);
        }
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

    /// Whether `member_id` is a consumer-protocol member of consumer group `group_id`
    /// (OffsetCommit below v9 from such a member is refused with UNSUPPORTED_VERSION; a
    /// classic member of the group commits with its classic client's version).
    pub async fn is_consumer_member(&self, group_id: &str, member_id: &str) -> bool {
        let Ok(Some((slot, _))) = self.inner.served_slot(group_id, false) else {
            return false;
        };
        let s = slot.lock().await;
        s.consumer
            .as_ref()
            .is_some_and(|c| c.is_consumer_protocol_member(member_id))
    }
}
