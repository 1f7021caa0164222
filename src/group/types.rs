//! Domain types of the group coordinator: configuration, requests and responses.
//!
//! These are what handlers build from (and turn back into) wire messages. No
//! `kafka_protocol` type appears here; byte payloads (protocol metadata, assignments) are
//! opaque `Bytes`, exactly as the clients sent them.

use bytes::Bytes;

use super::error::GroupError;

/// Coordinator settings. Kafka's name for each setting is given next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an `Empty` group
    /// waits for more members (extended per new member, bounded by the rebalance timeout).
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`.
    pub max_session_timeout_ms: i32,
    /// `group.max.size`.
    pub max_size: usize,
    /// How long a brand-new member parked in JoinGroup is kept without a response
    /// (Kafka's `classicGroupNewMemberJoinTimeoutMs`, 5 minutes).
    pub new_member_join_timeout_ms: i64,
    /// `offsets.retention.minutes`, in milliseconds.
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`.
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes`.
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.session.timeout.ms`: a KIP-848 member's session (a group's
    /// `consumer.session.timeout.ms` config overrides it).
    pub consumer_session_timeout_ms: i32,
    /// `group.consumer.heartbeat.interval.ms` (a group's `consumer.heartbeat.interval.ms`
    /// overrides it).
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.share.session.timeout.ms`: a share-group member that sends no
    /// ShareGroupHeartbeat for this long is removed.
    pub share_session_timeout_ms: i64,
    /// `group.share.heartbeat.interval.ms`: the interval share-group members are told.
    pub share_heartbeat_interval_ms: i32,
    /// `group.share.max.size`.
    pub share_max_size: usize,
    /// `group.consumer.migration.policy`: online upgrade / downgrade of groups with members.
    pub migration_policy: crate::config::ConsumerMigrationPolicy,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX as usize,
            new_member_join_timeout_ms: 300_000,
            offsets_retention_ms: 10_080 * 60 * 1_000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4_096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            share_session_timeout_ms: 45_000,
            share_heartbeat_interval_ms: 5_000,
            share_max_size: 200,
            migration_policy: crate::config::ConsumerMigrationPolicy::Bidirectional,
        }
    }
}

/// The classic group states, spelled as Kafka spells them on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// Kafka's spelling, used by DescribeGroups and ListGroups.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// States from which a transition into `self` is legal (Kafka's `validPreviousStates`).
    pub fn valid_previous_states(self) -> &'static [GroupState] {
        use GroupState::*;
        match self {
            Empty => &[PreparingRebalance],
            PreparingRebalance => &[Stable, CompletingRebalance, Empty],
            CompletingRebalance => &[PreparingRebalance],
            Stable => &[CompletingRebalance],
            Dead => &[Stable, PreparingRebalance, CompletingRebalance, Empty, Dead],
        }
    }
}

/// One protocol a member supports: assignor name and its opaque metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// JoinGroup, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRequest {
    pub group_id: String,
    /// Empty for a new member.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// From the request header.
    pub client_id: String,
    /// `"/" + ip`, as Kafka prints it.
    pub client_host: String,
    pub session_timeout_ms: i32,
    /// v0 has none: pass the session timeout, as Kafka does. Values ≤ 0 (clients that leave
    /// it unset) are read through [`JoinRequest::effective_rebalance_timeout_ms`].
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    /// JoinGroup v4+: a new dynamic member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// JoinGroup v9+: a rejoining static leader may be told to skip the assignment.
    pub supports_skip_assignment: bool,
    pub reason: Option<String>,
}

impl JoinRequest {
    /// The rebalance timeout the group uses for this member. A timeout ≤ 0 would end the
    /// join phase and the pending-sync wait at once, expiring the member before it could send
    /// SyncGroup; such a client (one that leaves the field unset) gets its session timeout,
    /// the value Kafka itself uses for v0 requests, which have no rebalance timeout.
    pub fn effective_rebalance_timeout_ms(&self) -> i32 {
        if self.rebalance_timeout_ms > 0 {
            self.rebalance_timeout_ms
        } else {
            self.session_timeout_ms
        }
    }
}

/// One member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// JoinGroup response. `error` set means the other fields carry only defaults
/// (except `member_id`, which Kafka also fills for MEMBER_ID_REQUIRED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub error: Option<GroupError>,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// The full member list for the leader; empty for followers.
    pub members: Vec<JoinMember>,
    pub skip_assignment: bool,
}

impl JoinResponse {
    /// An error response (generation −1, no leader, no members).
    pub fn error(error: GroupError, member_id: impl Into<String>) -> Self {
        JoinResponse {
            error: Some(error),
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.into(),
            members: Vec::new(),
            skip_assignment: false,
        }
    }
}

/// SyncGroup, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    /// v5+ only; `None` below.
    pub protocol_type: Option<String>,
    /// v5+ only; `None` below.
    pub protocol_name: Option<String>,
    /// Only the leader's entries are used.
    pub assignments: Vec<(String, Bytes)>,
}

/// SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub error: Option<GroupError>,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Empty bytes when the member got no assignment.
    pub assignment: Bytes,
}

impl SyncResponse {
    pub fn error(error: GroupError) -> Self {
        SyncResponse {
            error: Some(error),
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// Heartbeat, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// One member of a (possibly batched, v3+) LeaveGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveMember {
    /// Empty when a static member is removed by instance id (admin removal).
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub reason: Option<String>,
}

/// Per-member result of LeaveGroup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveMemberResult {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub error: Option<GroupError>,
}

/// A member as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    /// Metadata of the selected protocol; empty unless the group is Stable.
    pub metadata: Bytes,
    /// Empty unless the group is Stable.
    pub assignment: Bytes,
}

/// DescribeGroups result for one existing group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    /// Kafka's spelling: "Empty", "PreparingRebalance", ...
    pub state: &'static str,
    /// "" for an offsets-only (simple) group.
    pub protocol_type: String,
    /// The selected assignor when Stable, "" otherwise.
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

/// ListGroups entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    pub state: &'static str,
    /// ListGroups v5 GroupType: "classic", "consumer" or "share".
    pub group_type: &'static str,
}

/// A committed offset as stored.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CommittedOffset {
    pub offset: i64,
    /// −1 when the client sent none.
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// OffsetCommit, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitRequest {
    pub group_id: String,
    /// "" for simple / admin commits.
    pub member_id: String,
    /// −1 for simple / admin commits.
    pub generation_id: i32,
    pub group_instance_id: Option<String>,
    /// (topic, partition, offset). The coordinator sets `commit_timestamp_ms` to its own clock.
    pub offsets: Vec<(String, i32, CommittedOffset)>,
}

/// Per-partition results of a commit, in request order.
pub type PartitionResults = Vec<(String, i32, Option<GroupError>)>;

/// OffsetFetch result for one topic: (partition, committed offset if any).
pub type FetchedTopic = (String, Vec<(i32, Option<CommittedOffset>)>);

/// From the `[group]` section of the broker configuration; settings it does not carry
/// keep Kafka's defaults.
impl From<&crate::config::GroupConfig> for GroupConfig {
    fn from(c: &crate::config::GroupConfig) -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: c.initial_rebalance_delay_ms,
            min_session_timeout_ms: c.min_session_timeout_ms,
            max_session_timeout_ms: c.max_session_timeout_ms,
            max_size: c.max_size,
            offsets_retention_ms: c.offsets_retention_minutes.saturating_mul(60_000),
            consumer_session_timeout_ms: c.consumer_session_timeout_ms,
            consumer_heartbeat_interval_ms: c.consumer_heartbeat_interval_ms,
            share_session_timeout_ms: c.share_session_timeout_ms,
            share_heartbeat_interval_ms: c.share_heartbeat_interval_ms,
            share_max_size: c.share_max_size,
            migration_policy: c.consumer_migration_policy,
            ..GroupConfig::default()
        }
    }
}

/// One committed offset in a `GroupSnapshot`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetSnapshot {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

/// A whole group as the console and metrics see it (`GroupCoordinator::describe_all`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    pub group_id: String,
    /// Kafka's spelling ("Stable", ...).
    pub state: String,
    pub protocol_type: String,
    /// The selected assignor when Stable, "" otherwise.
    pub protocol: String,
    pub generation_id: i32,
    pub members: Vec<MemberDescription>,
    pub offsets: Vec<OffsetSnapshot>,
}
