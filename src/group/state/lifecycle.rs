//! A group's life outside requests: the metadata record it persists, its rebuild after a
//! restart, and its deletion.
//!
//! Invariants kept here:
//! - `from_persisted(to_record())` keeps generation, protocol, leader and members: a group
//!   that had members comes back Stable, and they must heartbeat within a session timeout;
//! - only an Empty group may be deleted (`validate_delete`);
//! - `mark_dead` answers every parked request with the error it is given (the client finds
//!   the coordinator again) and clears the join, sync and pending-member timers; a Dead group's
//!   session deadlines fire as no-ops.

use bytes::Bytes;

use super::{ClassicGroup, Effects, Member};

/// A member a downgraded consumer group hands to its classic group
/// (`ClassicGroup::adopt_members`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdoptedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocols: Vec<Protocol>,
    /// Its current assignment, as a consumer-protocol assignment.
    pub assignment: Bytes,
}
use crate::group::error::GroupError;
use crate::group::store::{
    GroupMetadataRecord, MemberRecord, PersistedGroup, ProtocolRecord, RECORD_VERSION,
};
use crate::group::types::*;

impl ClassicGroup {
    /// The metadata record to persist now.
    pub fn to_record(&self) -> GroupMetadataRecord {
        GroupMetadataRecord {
            v: RECORD_VERSION,
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            state_timestamp_ms: self.state_timestamp_ms,
            members: self
                .members
                .values()
                .map(|m| MemberRecord {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    protocols: m
                        .protocols
                        .iter()
                        .map(|p| ProtocolRecord {
                            name: p.name.clone(),
                            metadata: p.metadata.to_vec(),
                        })
                        .collect(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
            group_type: crate::group::kind::GroupType::Classic,
            consumer: None,
            share: None,
        }
    }

    /// Rebuilds a group after a restart. Like Kafka: Stable with its last generation when
    /// it had members (they must heartbeat within a session timeout or are removed), else
    /// Empty. Offsets come back as stored.
    pub fn from_persisted(p: PersistedGroup, now_ms: i64) -> Self {
        let mut g = ClassicGroup::new(p.group_id, now_ms);
        if let Some(meta) = p.metadata {
            g.generation_id = meta.generation_id;
            g.protocol_type = meta.protocol_type.filter(|t| !t.is_empty());
            g.protocol_name = meta.protocol_name;
            g.state_timestamp_ms = meta.state_timestamp_ms.or(Some(now_ms));
            let protocol_type = g.protocol_type.clone().unwrap_or_default();
            for r in meta.members {
                if let Some(instance) = &r.group_instance_id {
                    g.static_members
                        .insert(instance.clone(), r.member_id.clone());
                }
                g.members.insert(
                    r.member_id.clone(),
                    Member {
                        member_id: r.member_id,
                        group_instance_id: r.group_instance_id,
                        client_id: r.client_id,
                        client_host: r.client_host,
                        rebalance_timeout_ms: r.rebalance_timeout_ms,
                        session_timeout_ms: r.session_timeout_ms,
                        protocol_type: protocol_type.clone(),
                        protocols: r
                            .protocols
                            .into_iter()
                            .map(|p| Protocol {
                                name: p.name,
                                metadata: Bytes::from(p.metadata),
                            })
                            .collect(),
                        assignment: Bytes::from(r.assignment),
                        awaiting_join: false,
                        awaiting_sync: false,
                        is_new: false,
                        heartbeat_deadline_ms: now_ms
                            .saturating_add(i64::from(r.session_timeout_ms.max(0))),
                    },
                );
            }
            g.leader_id = meta
                .leader
                .filter(|l| g.members.contains_key(l))
                .or_else(|| g.members.keys().next().cloned());
            if !g.members.is_empty() {
                g.state = GroupState::Stable;
                g.previous_state = GroupState::CompletingRebalance;
            }
            g.subscribed_topics = g.compute_subscribed_topics();
        }
        for (topic, partition, o) in p.offsets {
            g.offsets.insert((topic, partition), o.into());
        }
        g
    }

    /// After loading: a group over `group.max.size` rebalances so members can commit and
    /// the extra ones are turned away.
    pub fn on_loaded(&mut self, cfg: &GroupConfig, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        if self.members.len() > cfg.max_size && self.can_rebalance() {
            self.prepare_rebalance(cfg, now_ms, &mut fx);
        }
        fx
    }

    /// Kafka's `validateDeleteGroup`.
    pub fn validate_delete(&self) -> Result<(), GroupError> {
        match self.state {
            GroupState::Dead => Err(GroupError::GroupIdNotFound(self.group_id.clone())),
            GroupState::Empty => Ok(()),
            _ => Err(GroupError::NonEmptyGroup(self.group_id.clone())),
        }
    }

    /// Online upgrade (`ConsumerGroup::from_classic` read the members first): the members
    /// move to the consumer group, their parked JoinGroup / SyncGroup get
    /// REBALANCE_IN_PROGRESS (they rejoin, now into the consumer group), and this group
    /// stays behind Empty with the offsets and the generation.
    pub fn hand_over_members(&mut self, now_ms: i64) -> Effects {
        let mut fx = Effects::default();
        for m in self.members.values() {
            if m.awaiting_join {
                fx.join_replies.push((
                    m.member_id.clone(),
                    JoinResponse::error(GroupError::RebalanceInProgress, m.member_id.clone()),
                ));
            }
            if m.awaiting_sync {
                fx.sync_replies.push((
                    m.member_id.clone(),
                    SyncResponse::error(GroupError::RebalanceInProgress),
                ));
            }
        }
        let mut empty = ClassicGroup::new(self.group_id.clone(), now_ms);
        empty.generation_id = self.generation_id;
        empty.offsets = std::mem::take(&mut self.offsets);
        *self = empty;
        fx
    }

    /// Online downgrade: this Empty group (the offsets part of a consumer group) takes the
    /// consumer group's classic members at `generation`, as if Stable, and starts a
    /// rebalance: the members are told REBALANCE_IN_PROGRESS by their next heartbeat and
    /// rejoin; the group record must be written (`Effects::persist_metadata`).
    pub fn adopt_members(
        &mut self,
        generation: i32,
        members: Vec<AdoptedMember>,
        cfg: &GroupConfig,
        now_ms: i64,
    ) -> Effects {
        let mut fx = Effects::default();
        self.generation_id = generation;
        self.protocol_type = Some(super::CONSUMER_PROTOCOL_TYPE.to_string());
        for a in members {
            if let Some(instance) = &a.group_instance_id {
                self.static_members
                    .insert(instance.clone(), a.member_id.clone());
            }
            self.members.insert(
                a.member_id.clone(),
                Member {
                    member_id: a.member_id,
                    group_instance_id: a.group_instance_id,
                    client_id: a.client_id,
                    client_host: a.client_host,
                    rebalance_timeout_ms: a.rebalance_timeout_ms,
                    session_timeout_ms: a.session_timeout_ms,
                    protocol_type: super::CONSUMER_PROTOCOL_TYPE.to_string(),
                    protocols: a.protocols,
                    assignment: a.assignment,
                    awaiting_join: false,
                    awaiting_sync: false,
                    is_new: false,
                    heartbeat_deadline_ms: now_ms
                        .saturating_add(i64::from(a.session_timeout_ms.max(0))),
                },
            );
        }
        if self.members.is_empty() {
            return fx;
        }
        self.leader_id = self.members.keys().next().cloned();
        self.protocol_name = self.select_protocol();
        self.subscribed_topics = self.compute_subscribed_topics();
        self.previous_state = GroupState::CompletingRebalance;
        self.state = GroupState::Stable;
        self.state_timestamp_ms = Some(now_ms);
        self.prepare_rebalance(cfg, now_ms, &mut fx);
        fx.persist_metadata = true;
        fx
    }

    /// The group is deleted or unloaded: parked requests get `err` (COORDINATOR_NOT_AVAILABLE
    /// after a deletion, NOT_COORDINATOR after an unload) and find the coordinator again.
    pub fn mark_dead(&mut self, now_ms: i64, err: GroupError) -> Effects {
        let mut fx = Effects::default();
        for m in self.members.values_mut() {
            if m.awaiting_join {
                m.awaiting_join = false;
                fx.join_replies.push((
                    m.member_id.clone(),
                    JoinResponse::error(err.clone(), m.member_id.clone()),
                ));
            }
            if m.awaiting_sync {
                m.awaiting_sync = false;
                fx.sync_replies
                    .push((m.member_id.clone(), SyncResponse::error(err.clone())));
            }
        }
        self.join_timer = None;
        self.sync_timer = None;
        self.pending_join.clear();
        self.transition(GroupState::Dead, now_ms);
        fx
    }
}

#[cfg(test)]
mod tests;
