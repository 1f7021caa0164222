//! Helpers for the state machine's tests: request builders, a one-member Stable group, and
//! extractors for parked outcomes and the replies carried by `Effects`. Time is a plain `now`
//! integer passed to every call (a fake clock). Not compiled outside tests.

use super::*;

pub(super) const SESSION: i32 = 10_000;
pub(super) const REBALANCE: i32 = 30_000;

pub(super) fn cfg() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

pub(super) fn sub(topics: &[&str]) -> Bytes {
    Bytes::from(crate::group::subscription::encode_subscription_v0(topics))
}

pub(super) fn join_req(client: &str, member_id: &str) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member_id.into(),
        group_instance_id: None,
        client_id: client.into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: SESSION,
        rebalance_timeout_ms: REBALANCE,
        protocol_type: "consumer".into(),
        protocols: vec![Protocol {
            name: "range".into(),
            metadata: sub(&["t"]),
        }],
        require_known_member_id: false,
        supports_skip_assignment: false,
        reason: None,
    }
}

pub(super) fn static_req(client: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.into()),
        ..join_req(client, "")
    }
}

pub(super) fn sync_req(
    member_id: &str,
    generation: i32,
    assignments: Vec<(String, Bytes)>,
) -> SyncRequest {
    SyncRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member_id.into(),
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments,
    }
}

pub(super) fn hb(member_id: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member_id.into(),
        group_instance_id: None,
    }
}

pub(super) fn parked<T: std::fmt::Debug>(o: Outcome<T>) -> String {
    match o {
        Outcome::Parked(id) => id,
        Outcome::Reply(r) => panic!("expected parked, got {r:?}"),
    }
}

pub(super) fn replied<T: std::fmt::Debug>(o: Outcome<T>) -> T {
    match o {
        Outcome::Reply(r) => r,
        Outcome::Parked(id) => panic!("expected reply, parked {id}"),
    }
}

pub(super) fn join_reply(fx: &Effects, member: &str) -> JoinResponse {
    fx.join_replies
        .iter()
        .find(|(m, _)| m == member)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no join reply for {member} in {fx:?}"))
}

pub(super) fn sync_reply(fx: &Effects, member: &str) -> SyncResponse {
    fx.sync_replies
        .iter()
        .find(|(m, _)| m == member)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no sync reply for {member} in {fx:?}"))
}

/// One member joins and syncs: returns (group, member id) at generation 1, Stable.
pub(super) fn stable_single(now: i64) -> (ClassicGroup, String) {
    let c = cfg();
    let mut g = ClassicGroup::new("g", now);
    let (o, fx) = g.join(&join_req("c1", ""), &c, now);
    let m = parked(o);
    let r = join_reply(&fx, &m);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader, m);
    let (o, fx) = g.sync(
        &sync_req(&m, 1, vec![(m.clone(), Bytes::from_static(b"A"))]),
        &c,
        now,
    );
    assert_eq!(parked(o), m);
    assert!(fx.persist_metadata);
    assert_eq!(sync_reply(&fx, &m).assignment, Bytes::from_static(b"A"));
    (g, m)
}
