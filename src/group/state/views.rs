//! Read-only answers: DescribeGroups, ListGroups and the console's snapshot. Nothing here
//! changes the group.
//!
//! As in Kafka, member metadata and assignments are shown only while the group is Stable:
//! during a rebalance they are stale or half set.

use bytes::Bytes;

use super::ClassicGroup;
use crate::group::types::*;

impl ClassicGroup {
    /// DescribeGroups view: metadata and assignments only when Stable (as Kafka).
    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable {
            self.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        GroupDescription {
            group_id: self.group_id.clone(),
            state: self.state.as_str(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            members: self
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.group_instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    /// Everything the console shows: description plus generation and offsets.
    pub fn snapshot(&self) -> GroupSnapshot {
        let d = self.describe();
        GroupSnapshot {
            group_id: d.group_id,
            state: d.state.to_string(),
            protocol_type: d.protocol_type,
            protocol: d.protocol,
            generation_id: self.generation_id,
            members: d.members,
            offsets: self
                .offsets
                .iter()
                .map(|((topic, partition), o)| OffsetSnapshot {
                    topic: topic.clone(),
                    partition: *partition,
                    offset: o.offset,
                    leader_epoch: o.leader_epoch,
                    metadata: o.metadata.clone(),
                    commit_timestamp_ms: o.commit_timestamp_ms,
                })
                .collect(),
        }
    }

    pub fn listed(&self) -> ListedGroup {
        ListedGroup {
            group_id: self.group_id.clone(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            state: self.state.as_str(),
            group_type: "classic",
        }
    }
}
