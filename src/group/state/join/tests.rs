//! JoinGroup on the state machine with a fake clock: leader and follower answers, static
//! member replacement, MEMBER_ID_REQUIRED, group.max.size.

use super::*;
use crate::group::state::testutil::*;

#[test]
fn leader_gets_members_followers_get_none() {
    let c = cfg();
    let (mut g, a) = stable_single(0);
    // B joins a Stable group: rebalance; A must rejoin.
    let (o, fx) = g.join(&join_req("c2", ""), &c, 100);
    let b = parked(o);
    assert!(fx.join_replies.is_empty());
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert_eq!(
        g.heartbeat(&hb(&a, 1), &c, 200).0,
        Err(GroupError::RebalanceInProgress)
    );
    let (o, fx) = g.join(&join_req("c1", &a), &c, 300);
    parked(o);
    let ra = join_reply(&fx, &a);
    let rb = join_reply(&fx, &b);
    assert_eq!(ra.generation_id, 2);
    assert_eq!(ra.leader, a);
    assert_eq!(ra.members.len(), 2);
    assert!(rb.members.is_empty());
    assert_eq!(rb.leader, a);
    assert_eq!(g.state(), GroupState::CompletingRebalance);
}

#[test]
fn static_member_restart_keeps_assignment_without_rebalance() {
    let c = cfg();
    let mut g = ClassicGroup::new("g", 0);
    let (o, fx) = g.join(&static_req("c1", "i1"), &c, 0);
    let old = parked(o);
    assert!(old.starts_with("i1-"));
    assert_eq!(join_reply(&fx, &old).generation_id, 1);
    let (o2, _) = g.join(&static_req("c2", "i2"), &c, 10);
    let other = parked(o2);
    // i2 joined a CompletingRebalance group → rebalance; i1 rejoins.
    let (_, fx) = g.join(
        &JoinRequest {
            member_id: old.clone(),
            ..static_req("c1", "i1")
        },
        &c,
        20,
    );
    assert_eq!(fx.join_replies.len(), 2);
    let gen = g.generation_id();
    let _ = g.sync(
        &SyncRequest {
            group_instance_id: Some("i2".into()),
            ..sync_req(&other, gen, vec![])
        },
        &c,
        30,
    );
    let leader = g.leader_id().unwrap().to_string();
    assert_eq!(leader, old);
    let assignments = vec![
        (old.clone(), Bytes::from_static(b"P0")),
        (other.clone(), Bytes::from_static(b"P1")),
    ];
    let (_, fx) = g.sync(
        &SyncRequest {
            group_instance_id: Some("i1".into()),
            ..sync_req(&old, gen, assignments)
        },
        &c,
        40,
    );
    assert_eq!(fx.sync_replies.len(), 2);
    assert_eq!(g.state(), GroupState::Stable);

    // i2 restarts: unknown member id, same instance id.
    let (o, fx) = g.join(&static_req("c2", "i2"), &c, 1_000);
    let new_id = parked(o);
    assert_ne!(new_id, other);
    assert!(fx.persist_metadata, "replacement is persisted");
    let r = join_reply(&fx, &new_id);
    assert_eq!(r.error, None);
    assert_eq!(r.generation_id, gen, "no rebalance");
    assert!(r.members.is_empty());
    assert_eq!(g.state(), GroupState::Stable);
    // The old id is fenced.
    let fenced = HeartbeatRequest {
        group_instance_id: Some("i2".into()),
        ..hb(&other, gen)
    };
    assert!(matches!(
        g.heartbeat(&fenced, &c, 1_100).0,
        Err(GroupError::FencedInstanceId { .. })
    ));
    // The new id syncs and gets the old assignment back.
    let (o, _) = g.sync(
        &SyncRequest {
            group_instance_id: Some("i2".into()),
            ..sync_req(&new_id, gen, vec![])
        },
        &c,
        1_200,
    );
    assert_eq!(replied(o).assignment, Bytes::from_static(b"P1"));
}

#[test]
fn static_member_with_new_protocol_triggers_rebalance() {
    let c = cfg();
    let mut g = ClassicGroup::new("g", 0);
    let mut req = static_req("c1", "i1");
    req.protocols.push(Protocol {
        name: "roundrobin".into(),
        metadata: sub(&["t"]),
    });
    let (o, _) = g.join(&req, &c, 0);
    let m = parked(o);
    let _ = g.sync(
        &SyncRequest {
            group_instance_id: Some("i1".into()),
            ..sync_req(&m, 1, vec![])
        },
        &c,
        1,
    );
    assert_eq!(g.state(), GroupState::Stable);
    let mut changed = static_req("c1", "i1");
    changed.protocols = vec![Protocol {
        name: "roundrobin".into(),
        metadata: sub(&["t"]),
    }];
    let (o, fx) = g.join(&changed, &c, 100);
    let new_id = parked(o);
    let r = join_reply(&fx, &new_id);
    assert_eq!(r.generation_id, 2, "selected protocol changed: rebalanced");
    assert_eq!(r.protocol_name.as_deref(), Some("roundrobin"));
}

#[test]
fn member_id_required_then_rejoin() {
    let c = cfg();
    let mut g = ClassicGroup::new("g", 0);
    let mut req = join_req("c1", "");
    req.require_known_member_id = true;
    let (o, fx) = g.join(&req, &c, 0);
    let r = replied(o);
    let id = r.member_id.clone();
    assert_eq!(r.error, Some(GroupError::MemberIdRequired(id.clone())));
    assert!(id.starts_with("c1-"));
    assert!(fx.join_replies.is_empty());
    assert!(g.is_pending_member(&id));
    let (o, fx) = g.join(
        &JoinRequest {
            member_id: id.clone(),
            ..req.clone()
        },
        &c,
        100,
    );
    assert_eq!(parked(o), id);
    assert_eq!(join_reply(&fx, &id).generation_id, 1);

    // A pending member that never comes back expires after its session timeout.
    let (o, _) = g.join(&req, &c, 200);
    let ghost = replied(o).member_id;
    assert!(g.is_pending_member(&ghost));
    let _ = g.tick(&c, 200 + SESSION as i64);
    assert!(!g.is_pending_member(&ghost));
}

#[test]
fn group_max_size_is_enforced() {
    let c = GroupConfig {
        max_size: 1,
        ..cfg()
    };
    let mut g = ClassicGroup::new("g", 0);
    let (o, _) = g.join(&join_req("c1", ""), &c, 0);
    parked(o);
    let (o, _) = g.join(&join_req("c2", ""), &c, 1);
    assert_eq!(replied(o).error, Some(GroupError::GroupMaxSizeReached(1)));
}
