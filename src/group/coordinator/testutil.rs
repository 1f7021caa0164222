//! Helpers for the coordinator's tests: a coordinator over an in-memory store, request
//! builders, and the two-step v4+ join. Not compiled outside tests.

use std::sync::Arc;

use bytes::Bytes;

use super::*;
use crate::group::store::MemoryGroupStore;
use crate::group::subscription::encode_subscription_v0;

pub(super) const SESSION: i32 = 10_000;

pub(super) fn cfg() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

pub(super) async fn coordinator(
    store: Arc<MemoryGroupStore>,
    config: GroupConfig,
) -> Arc<GroupCoordinator> {
    GroupCoordinator::start(1, config, store).await.unwrap()
}

pub(super) fn join_req(group: &str, client: &str, member_id: &str) -> JoinRequest {
    JoinRequest {
        group_id: group.into(),
        member_id: member_id.into(),
        group_instance_id: None,
        client_id: client.into(),
        client_host: "/10.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: 20_000,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: Bytes::from(encode_subscription_v0(&["t"])),
        }],
        require_known_member_id: true,
        supports_skip_assignment: true,
        reason: None,
    }
}

pub(super) fn sync_req(
    group: &str,
    member: &str,
    generation: i32,
    assignments: Vec<(String, Bytes)>,
) -> SyncRequest {
    SyncRequest {
        group_id: group.into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments,
    }
}

/// Full v4+ join: MEMBER_ID_REQUIRED, then the real join.
pub(super) async fn join(c: &GroupCoordinator, group: &str, client: &str) -> JoinResponse {
    let first = c.join(join_req(group, client, "")).await;
    assert!(matches!(first.error, Some(GroupError::MemberIdRequired(_))));
    c.join(join_req(group, client, &first.member_id)).await
}

pub(super) fn offset(o: i64) -> CommittedOffset {
    CommittedOffset {
        offset: o,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp_ms: 0,
    }
}
