//! Online migration between the classic and the KIP-848 consumer protocol
//! (`group.consumer.migration.policy`, Kafka's `GroupMetadataManager`):
//! - **upgrade**: the first ConsumerGroupHeartbeat (epoch 0) into a classic group with
//!   members turns it into a consumer group whose classic members keep their partitions
//!   (`ConsumerGroup::from_classic`); refused with GROUP_ID_NOT_FOUND "Cannot upgrade classic
//!   group ..." when the policy forbids it, the group is not a `consumer` protocol group, or
//!   it has more members than `group.max.size`;
//! - **classic members of a consumer group**: JoinGroup, SyncGroup, Heartbeat and LeaveGroup
//!   into a consumer group with members are served by the consumer group (`consumer/classic.rs`);
//!   with the policy DISABLED a classic JoinGroup gets INCONSISTENT_GROUP_PROTOCOL;
//! - **downgrade**: when a member leaves or is fenced and every member left speaks the classic
//!   protocol, the group becomes a classic group again (`ClassicGroup::adopt_members`) and
//!   rebalances, if the policy allows it and it has at most `group.max.size` members.
//!
//! Invariants:
//! - a conversion and the request that caused it are one write of the group record: if the
//!   write fails the slot is put back as it was (classic and consumer parts) and nothing is
//!   answered as if it happened;
//! - the committed offsets never move: they stay in the slot's classic part.
//!
//! The coordinator reads topic names and ids for these paths through the topics hook
//! (`on_topics`), which the broker sets to its metadata image.

use std::sync::Arc;

use super::{lock, GroupCoordinator, GroupSlot, Inner};
use crate::group::consumer::{ClassicJoinOutcome, ConsumerGroup, TopicsImage};
use crate::group::error::GroupError;
use crate::group::state::{Effects, CONSUMER_PROTOCOL_TYPE};
use crate::group::store::{GroupMetadataRecord, GroupWrite, MetadataWrite};
use crate::group::types::*;

/// Returns the topics that exist now (name → id, partition count).
pub type TopicsHook = Arc<dyn Fn() -> TopicsImage + Send + Sync>;

/// The slot as it was before a change, to put back if the change cannot be written.
pub(super) struct Undo {
    group: crate::group::kind::Group,
    consumer: Option<ConsumerGroup>,
    record: GroupMetadataRecord,
}

impl Undo {
    pub(super) fn of(s: &GroupSlot) -> Undo {
        Undo {
            group: s.group.clone(),
            consumer: s.consumer.clone(),
            record: s.record(),
        }
    }

    pub(super) fn restore(self, s: &mut GroupSlot) {
        s.group = self.group;
        s.consumer = self.consumer;
    }
}

impl GroupSlot {
    /// The group metadata record of the slot as it is.
    pub(super) fn record(&self) -> GroupMetadataRecord {
        self.consumer_record()
            .unwrap_or_else(|| self.group.to_record())
    }

    /// A commit from `member_id` keeps its session alive.
    pub(super) fn touch_member(&mut self, member_id: &str, now_ms: i64) {
        match self.consumer.as_mut() {
            Some(c) => c.touch_classic_member(member_id, now_ms),
            None => self.group.touch_member(member_id, now_ms),
        }
    }
}

impl GroupCoordinator {
    /// Registers the function that gives the topics that exist (used to name the partitions
    /// of classic members of consumer groups). Without one no topic exists.
    pub fn on_topics(&self, hook: TopicsHook) {
        *lock(&self.inner.topics) = Some(hook);
    }
}

impl Inner {
    pub(super) fn topics_image(&self) -> TopicsImage {
        let hook = lock(&self.topics).clone();
        hook.map(|h| h()).unwrap_or_default()
    }

    /// Writes the slot's record if it differs from `undo`'s; on failure puts the slot back.
    pub(super) async fn persist_change(
        &self,
        s: &mut GroupSlot,
        undo: Undo,
    ) -> Result<(), GroupError> {
        let record = s.record();
        if record == undo.record {
            return Ok(());
        }
        let write = GroupWrite {
            metadata: MetadataWrite::Put(record),
            offsets_put: Vec::new(),
            offsets_delete: Vec::new(),
        };
        let gid = s.group.group_id().to_string();
        if let Err(e) = self.persist(&gid, write).await {
            undo.restore(s);
            return Err(e);
        }
        Ok(())
    }

    /// Online upgrade of the slot's classic group with members (in memory; the caller
    /// writes it). The effects answer the classic group's parked requests.
    pub(super) fn upgrade(
        &self,
        s: &mut GroupSlot,
        image: &TopicsImage,
    ) -> Result<Effects, GroupError> {
        let now = self.clock.now_ms();
        let classic = s.group.classic_mut()?;
        let id = classic.group_id().to_string();
        if !self.config.migration_policy.upgrade_enabled() {
            return Err(GroupError::CannotUpgrade(format!(
                "Cannot upgrade classic group {id} to consumer group because the online upgrade is disabled."
            )));
        }
        if classic.num_members() > self.config.max_size {
            return Err(GroupError::CannotUpgrade(format!(
                "Cannot upgrade classic group {id} to consumer group because the group size exceeds the consumer group maximum size."
            )));
        }
        let consumer = ConsumerGroup::from_classic(classic, image, now)
            .map_err(|e| GroupError::CannotUpgrade(e.0))?;
        let fx = classic.hand_over_members(now);
        tracing::info!(group = %id, members = consumer.members().count(), epoch = consumer.group_epoch(), "classic group upgraded to a consumer group");
        s.consumer = Some(consumer);
        Ok(fx)
    }

    /// Online downgrade when every member left speaks the classic protocol (in memory; the
    /// caller writes it). Returns the classic group's effects (its rebalance), if it happened.
    pub(super) fn maybe_downgrade(&self, s: &mut GroupSlot) -> Option<Effects> {
        let c = s.consumer.as_ref()?;
        if !c.only_classic_members() {
            return None;
        }
        let id = c.group_id().to_string();
        if !self.config.migration_policy.downgrade_enabled() {
            tracing::info!(group = %id, "cannot downgrade consumer group to classic group: the online downgrade is disabled");
            return None;
        }
        if c.members().count() > self.config.max_size {
            tracing::info!(group = %id, "cannot downgrade consumer group to classic group: more members than group.max.size");
            return None;
        }
        let (generation, members) = c.to_classic_members(&self.topics_image());
        let now = self.clock.now_ms();
        let classic = s.group.classic_mut().ok()?;
        let count = members.len();
        let fx = classic.adopt_members(generation, members, &self.config, now);
        s.consumer = None;
        tracing::info!(group = %id, members = count, generation, "consumer group downgraded to a classic group");
        Some(fx)
    }

    /// JoinGroup into a consumer group with members.
    pub(super) async fn classic_join_consumer(
        &self,
        s: &mut GroupSlot,
        req: &JoinRequest,
    ) -> JoinResponse {
        if self.config.migration_policy == crate::config::ConsumerMigrationPolicy::Disabled {
            let e = GroupError::InconsistentGroupProtocol(format!(
                "group {} is a consumer group with members and the migration policy is DISABLED",
                req.group_id
            ));
            return JoinResponse::error(e, req.member_id.clone());
        }
        let image = self.topics_image();
        let now = self.clock.now_ms();
        let undo = Undo::of(s);
        let Some(c) = s.consumer.as_mut() else {
            return JoinResponse::error(GroupError::UnknownMemberId(req.member_id.clone()), "");
        };
        let outcome = c.classic_join(req, &image, self.config.max_size, now);
        let response = match outcome {
            Err(e) => {
                undo.restore(s);
                JoinResponse::error(e, req.member_id.clone())
            }
            Ok(ClassicJoinOutcome::MemberIdRequired(id)) => {
                JoinResponse::error(GroupError::MemberIdRequired(id.clone()), id)
            }
            Ok(ClassicJoinOutcome::Joined {
                member_id,
                generation_id,
                protocol_name,
            }) => match self.persist_change(s, undo).await {
                Err(e) => JoinResponse::error(e, req.member_id.clone()),
                Ok(()) => JoinResponse {
                    error: None,
                    generation_id,
                    protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
                    protocol_name: Some(protocol_name),
                    leader: String::new(),
                    member_id,
                    members: Vec::new(),
                    skip_assignment: false,
                },
            },
        };
        self.schedule(s);
        response
    }

    /// SyncGroup into a consumer group: the member's assignment (no state is written).
    pub(super) fn classic_sync_consumer(
        &self,
        s: &mut GroupSlot,
        req: &SyncRequest,
    ) -> SyncResponse {
        let image = self.topics_image();
        let now = self.clock.now_ms();
        let result = match s.consumer.as_mut() {
            Some(c) => c.classic_sync(req, &image, now),
            None => Err(GroupError::UnknownMemberId(req.member_id.clone())),
        };
        self.schedule(s);
        match result {
            Ok((name, assignment)) => SyncResponse {
                error: None,
                protocol_type: Some(CONSUMER_PROTOCOL_TYPE.to_string()),
                protocol_name: Some(name),
                assignment,
            },
            Err(e) => SyncResponse::error(e),
        }
    }

    /// Heartbeat into a consumer group (no state is written).
    pub(super) fn classic_heartbeat_consumer(
        &self,
        s: &mut GroupSlot,
        req: &HeartbeatRequest,
    ) -> Result<(), GroupError> {
        let now = self.clock.now_ms();
        let result = match s.consumer.as_mut() {
            Some(c) => c.classic_heartbeat(req, now),
            None => Err(GroupError::UnknownMemberId(req.member_id.clone())),
        };
        self.schedule(s);
        result
    }

    /// LeaveGroup into a consumer group: the members go, and the group may downgrade.
    pub(super) async fn classic_leave_consumer(
        &self,
        s: &mut GroupSlot,
        members: &[LeaveMember],
    ) -> Result<Vec<LeaveMemberResult>, GroupError> {
        let undo = Undo::of(s);
        let Some(c) = s.consumer.as_mut() else {
            return Err(GroupError::UnknownMemberId(String::new()));
        };
        let results = c.classic_leave(members);
        let fx = self.maybe_downgrade(s).unwrap_or_default();
        let written = self.persist_change(s, undo).await;
        if written.is_ok() {
            s.deliver(fx);
        }
        self.schedule(s);
        written.map(|()| results)
    }
}
