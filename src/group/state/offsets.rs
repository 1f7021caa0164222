//! The group's committed offsets: Kafka's commit and delete validation for classic groups
//! (non-transactional), the offsets themselves, and which of them have expired.
//!
//! Invariants kept here:
//! - offsets are keyed by (topic, partition) and listed in that order;
//! - nothing here writes the store: the coordinator persists a change before it applies it
//!   (`put_offset`, `remove_offset`);
//! - a commit is refused while the group is CompletingRebalance, and a commit with a
//!   generation must come from a current member of that generation;
//! - an offset of a topic that a Stable consumer group subscribes to never expires.

use super::{ClassicGroup, CONSUMER_PROTOCOL_TYPE};
use crate::group::error::GroupError;
use crate::group::types::*;

impl ClassicGroup {
    /// Kafka's `validateOffsetCommit` for classic groups (non-transactional).
    pub fn validate_offset_commit(
        &self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
    ) -> Result<(), GroupError> {
        if self.state == GroupState::Dead {
            return Err(GroupError::CoordinatorNotAvailable(format!(
                "group {} is dead",
                self.group_id
            )));
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            // Admin client or a consumer without group management: allowed on Empty groups.
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(GroupError::IllegalGeneration {
                    requested: generation_id,
                    current: self.generation_id,
                });
            }
        } else if self.state != GroupState::Empty {
            return Err(GroupError::UnknownMemberId(member_id.into()));
        }
        if self.state == GroupState::CompletingRebalance {
            return Err(GroupError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Kafka's `validateOffsetDelete` for classic groups.
    pub fn validate_offset_delete(&self) -> Result<(), GroupError> {
        match self.state {
            GroupState::Dead => Err(GroupError::GroupIdNotFound(self.group_id.clone())),
            GroupState::Empty => Ok(()),
            _ if self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE) => Ok(()),
            _ => Err(GroupError::NonEmptyGroup(self.group_id.clone())),
        }
    }

    pub fn offset(&self, topic: &str, partition: i32) -> Option<&CommittedOffset> {
        self.offsets.get(&(topic.to_string(), partition))
    }

    /// All committed offsets, ordered by topic then partition.
    pub fn offsets(&self) -> impl Iterator<Item = (&str, i32, &CommittedOffset)> {
        self.offsets.iter().map(|((t, p), o)| (t.as_str(), *p, o))
    }

    pub fn put_offset(&mut self, topic: &str, partition: i32, offset: CommittedOffset) {
        self.offsets.insert((topic.to_string(), partition), offset);
    }

    pub fn remove_offset(&mut self, topic: &str, partition: i32) -> bool {
        self.offsets
            .remove(&(topic.to_string(), partition))
            .is_some()
    }

    /// Partitions of `topic` with a committed offset.
    pub fn partitions_of(&self, topic: &str) -> Vec<i32> {
        self.offsets
            .keys()
            .filter(|(t, _)| t == topic)
            .map(|(_, p)| *p)
            .collect()
    }

    /// Offsets whose retention has passed (Kafka's `offsetExpirationCondition`):
    /// Empty groups count from when the group became Empty; simple groups and unsubscribed
    /// topics of Stable consumer groups count from the commit.
    pub fn expired_offsets(&self, now_ms: i64, retention_ms: i64) -> Vec<(String, i32)> {
        let stable_consumer = self.state == GroupState::Stable
            && self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE)
            && self.subscribed_topics.is_some();
        self.offsets
            .iter()
            .filter(|((topic, _), o)| {
                let base = match &self.protocol_type {
                    Some(_) if self.state == GroupState::Empty => {
                        self.state_timestamp_ms.unwrap_or(o.commit_timestamp_ms)
                    }
                    Some(_) if stable_consumer => {
                        if self
                            .subscribed_topics
                            .as_ref()
                            .is_some_and(|s| s.contains(topic))
                        {
                            return false;
                        }
                        o.commit_timestamp_ms
                    }
                    Some(_) => return false,
                    None => o.commit_timestamp_ms,
                };
                now_ms.saturating_sub(base) >= retention_ms
            })
            .map(|((t, p), _)| (t.clone(), *p))
            .collect()
    }
}

#[cfg(test)]
mod tests;
