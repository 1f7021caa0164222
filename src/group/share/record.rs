//! The persisted form of a share group: the `"share"` object of a `GroupMetadataRecord` whose
//! `"type"` is `"share"` (see `group::store`). It goes through `GroupStore::persist`, so the
//! same JSON lands in RocksDB on a single broker and in `__consumer_offsets` in a cluster.
//!
//! ```text
//! "share": {"group_epoch":4,"assignment_epoch":4,
//!           "topics":[{"name":"t","id":"<uuid>","partitions":3}],
//!           "members":[{"member_id","rack_id"|null,"client_id","client_host",
//!                       "subscribed_topic_names":["t"],"member_epoch":4,
//!                       "previous_member_epoch":3,
//!                       "assignment":[{"topic_id":"<uuid>","partitions":[0,2]}],
//!                       "target":[{"topic_id":"<uuid>","partitions":[0,2]}]}]}
//! ```
//! Kafka persists the same things as separate records (ShareGroupMetadata, MemberMetadata,
//! PartitionMetadata, TargetAssignment*, CurrentMemberAssignment). Session deadlines are not
//! persisted: after a load every member has a full session timeout to heartbeat again.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Assignment, ShareGroup, ShareMember, TopicMeta};
use crate::group::store::{GroupMetadataRecord, RECORD_VERSION};

/// The `"share"` object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareGroupRecord {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub topics: Vec<TopicRecord>,
    pub members: Vec<ShareMemberRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareMemberRecord {
    pub member_id: String,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub assignment: Vec<TopicPartitionsRecord>,
    pub target: Vec<TopicPartitionsRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicPartitionsRecord {
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
}

fn to_parts(a: &Assignment) -> Vec<TopicPartitionsRecord> {
    a.iter()
        .map(|(id, ps)| TopicPartitionsRecord {
            topic_id: *id,
            partitions: ps.iter().copied().collect(),
        })
        .collect()
}

fn from_parts(parts: Vec<TopicPartitionsRecord>) -> Assignment {
    parts
        .into_iter()
        .map(|t| (t.topic_id, t.partitions.into_iter().collect()))
        .collect()
}

impl ShareGroup {
    /// The share state alone (what decides whether a write is needed).
    pub fn share_record(&self) -> ShareGroupRecord {
        let empty = Assignment::new();
        ShareGroupRecord {
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            topics: self
                .topics
                .iter()
                .map(|(name, t)| TopicRecord {
                    name: name.clone(),
                    id: t.id,
                    partitions: t.partitions,
                })
                .collect(),
            members: self
                .members
                .values()
                .map(|m| ShareMemberRecord {
                    member_id: m.member_id.clone(),
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed.iter().cloned().collect(),
                    member_epoch: m.member_epoch,
                    previous_member_epoch: m.previous_member_epoch,
                    assignment: to_parts(&m.assignment),
                    target: to_parts(self.target.get(&m.member_id).unwrap_or(&empty)),
                })
                .collect(),
        }
    }

    /// The group metadata record to persist.
    pub fn to_record(&self) -> GroupMetadataRecord {
        GroupMetadataRecord {
            v: RECORD_VERSION,
            group_type: crate::group::kind::GroupType::Share,
            consumer: None,
            protocol_type: Some(super::PROTOCOL_TYPE.to_string()),
            generation_id: self.group_epoch,
            protocol_name: None,
            leader: None,
            state_timestamp_ms: None,
            members: Vec::new(),
            share: Some(self.share_record()),
        }
    }

    /// Rebuilds a group after a restart (or a load in a cluster): members keep their epochs
    /// and assignments and must heartbeat within a session timeout from `now_ms`.
    pub fn from_record(
        group_id: impl Into<String>,
        r: ShareGroupRecord,
        session_timeout_ms: i64,
        now_ms: i64,
    ) -> Self {
        let mut g = ShareGroup::new(group_id);
        g.group_epoch = r.group_epoch;
        g.assignment_epoch = r.assignment_epoch.min(r.group_epoch);
        g.topics = r
            .topics
            .into_iter()
            .map(|t| {
                (
                    t.name,
                    TopicMeta {
                        id: t.id,
                        partitions: t.partitions,
                    },
                )
            })
            .collect::<BTreeMap<_, _>>();
        for m in r.members {
            g.target.insert(m.member_id.clone(), from_parts(m.target));
            g.members.insert(
                m.member_id.clone(),
                ShareMember {
                    member_id: m.member_id,
                    rack_id: m.rack_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    subscribed: m.subscribed_topic_names.into_iter().collect(),
                    member_epoch: m.member_epoch,
                    previous_member_epoch: m.previous_member_epoch,
                    assignment: from_parts(m.assignment),
                    session_deadline_ms: now_ms.saturating_add(session_timeout_ms),
                },
            );
        }
        g
    }
}
