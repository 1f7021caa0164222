//! The persisted form of a consumer group: the `"consumer"` object of the group metadata
//! record (Kafka keeps the same facts in its ConsumerGroupMetadata, ConsumerGroupMemberMetadata,
//! TargetAssignment and CurrentMemberAssignment records).
//!
//! ```text
//! "consumer": {"group_epoch":5,"assignment_epoch":5,"metadata_hash":123,
//!   "members":[{"member_id","instance_id"|null,"rack_id"|null,"client_id","client_host",
//!     "subscribed_names":["t"],"subscribed_regex":"t.*"|null,"server_assignor":"uniform"|null,
//!     "regex_topics":["t1"] (only with an authorizer: what the regex may match),
//!     "rebalance_timeout_ms","member_epoch","previous_member_epoch","state":"Stable",
//!     "assigned":[{"topic_id":"<uuid>","partitions":[[0,5],[1,3]]}],   (partition, epoch)
//!     "pending_revocation":[{"topic_id","partitions":[2]}],
//!     "target":[{"topic_id","partitions":[0,1]}],
//!     "classic":{"session_timeout_ms":45000,"protocols":[{"name","metadata":"<hex>"}]}}]}
//! ```
//! `"classic"` (absent in records written before migration existed) marks a member that
//! speaks the classic protocol: its JoinGroup's session timeout and protocols.
//! Session and rebalance deadlines are not persisted: after a restart every member gets a
//! fresh session timeout (`ConsumerGroup::on_loaded`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Assignment, ClassicMember, ConsumerGroup, ConsumerMember, MemberState};
use crate::group::error::GroupError;
use crate::group::store::ProtocolRecord;
use crate::group::types::Protocol;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerGroupRecord {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub metadata_hash: u64,
    pub members: Vec<ConsumerMemberRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsumerMemberRecord {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_names: Vec<String>,
    pub subscribed_regex: Option<String>,
    /// Absent in records written before it existed, and without an authorizer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex_topics: Option<Vec<String>>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    pub assigned: Vec<EpochTopicRecord>,
    pub pending_revocation: Vec<TopicRecord>,
    pub target: Vec<TopicRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classic: Option<ClassicMemberRecord>,
}

/// A classic-protocol member's JoinGroup settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClassicMemberRecord {
    pub session_timeout_ms: i32,
    pub protocols: Vec<ProtocolRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
}

/// Owned partitions with the epoch each was assigned at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochTopicRecord {
    pub topic_id: Uuid,
    pub partitions: Vec<(i32, i32)>,
}

fn topics(a: &Assignment) -> Vec<TopicRecord> {
    a.iter()
        .map(|(t, ps)| TopicRecord {
            topic_id: *t,
            partitions: ps.iter().copied().collect(),
        })
        .collect()
}

fn assignment(r: Vec<TopicRecord>) -> Assignment {
    r.into_iter()
        .map(|t| (t.topic_id, t.partitions.into_iter().collect()))
        .collect()
}

impl ConsumerGroup {
    pub fn to_record(&self) -> ConsumerGroupRecord {
        ConsumerGroupRecord {
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            metadata_hash: self.metadata_hash,
            members: self
                .members
                .values()
                .map(|m| ConsumerMemberRecord {
                    member_id: m.member_id.clone(),
                    instance_id: m.instance_id.clone(),
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_names: m.subscribed_names.clone(),
                    subscribed_regex: m.subscribed_regex.clone(),
                    regex_topics: m.regex_topics.as_ref().map(|t| t.iter().cloned().collect()),
                    server_assignor: m.server_assignor.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    member_epoch: m.member_epoch,
                    previous_member_epoch: m.previous_member_epoch,
                    state: m.state,
                    assigned: m
                        .assigned
                        .iter()
                        .map(|(t, ps)| EpochTopicRecord {
                            topic_id: *t,
                            partitions: ps.iter().map(|(p, e)| (*p, *e)).collect(),
                        })
                        .collect(),
                    pending_revocation: topics(&m.pending_revocation),
                    target: self
                        .target
                        .get(&m.member_id)
                        .map(topics)
                        .unwrap_or_default(),
                    classic: m.classic.as_ref().map(|c| ClassicMemberRecord {
                        session_timeout_ms: c.session_timeout_ms,
                        protocols: c
                            .protocols
                            .iter()
                            .map(|p| ProtocolRecord {
                                name: p.name.clone(),
                                metadata: p.metadata.to_vec(),
                            })
                            .collect(),
                    }),
                })
                .collect(),
        }
    }

    /// Rebuilds a group from its record; deadlines start with `on_loaded`. A regex that no
    /// longer compiles (it was checked when stored) is an error.
    pub fn from_record(
        group_id: &str,
        r: ConsumerGroupRecord,
        now_ms: i64,
    ) -> Result<ConsumerGroup, GroupError> {
        let mut g = ConsumerGroup::new(group_id);
        g.group_epoch = r.group_epoch;
        g.assignment_epoch = r.assignment_epoch;
        g.metadata_hash = r.metadata_hash;
        for mr in r.members {
            let mut m = ConsumerMember::new(&mr.member_id, now_ms);
            m.instance_id = mr.instance_id;
            m.rack_id = mr.rack_id;
            m.client_id = mr.client_id;
            m.client_host = mr.client_host;
            m.subscribed_names = mr.subscribed_names;
            m.set_regex(mr.subscribed_regex)?;
            m.regex_topics = mr.regex_topics.map(|t| t.into_iter().collect());
            m.server_assignor = mr.server_assignor;
            m.rebalance_timeout_ms = mr.rebalance_timeout_ms;
            m.member_epoch = mr.member_epoch;
            m.previous_member_epoch = mr.previous_member_epoch;
            m.state = mr.state;
            m.assigned = mr
                .assigned
                .into_iter()
                .map(|t| {
                    (
                        t.topic_id,
                        t.partitions.into_iter().collect::<BTreeMap<_, _>>(),
                    )
                })
                .collect();
            m.pending_revocation = assignment(mr.pending_revocation);
            m.classic = mr.classic.map(|c| ClassicMember {
                session_timeout_ms: c.session_timeout_ms,
                protocols: c
                    .protocols
                    .into_iter()
                    .map(|p| Protocol {
                        name: p.name,
                        metadata: bytes::Bytes::from(p.metadata),
                    })
                    .collect(),
                join_or_sync_deadline_ms: None,
            });
            if let Some(instance) = &m.instance_id {
                g.static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            g.target.insert(m.member_id.clone(), assignment(mr.target));
            g.members.insert(m.member_id.clone(), m);
        }
        Ok(g)
    }
}
