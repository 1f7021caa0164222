//! Rebalances on the state machine with a fake clock: leader re-election, joins landing in
//! one generation, parked syncs cancelled, protocol agreement and the vote.

use super::*;
use crate::group::state::testutil::*;

#[test]
fn leader_failure_elects_new_leader() {
    let c = cfg();
    let (mut g, a) = stable_single(0);
    let (o, _) = g.join(&join_req("c2", ""), &c, 100);
    let b = parked(o);
    let (_, fx) = g.join(&join_req("c1", &a), &c, 200);
    assert_eq!(join_reply(&fx, &a).leader, a);
    let _ = g.sync(&sync_req(&b, 2, vec![]), &c, 300);
    let (_, fx) = g.sync(&sync_req(&a, 2, vec![]), &c, 300);
    assert_eq!(fx.sync_replies.len(), 2);
    // Only B heartbeats; A (the leader) dies.
    for t in (1_000..=12_000).step_by(2_000) {
        assert_eq!(g.heartbeat(&hb(&b, 2), &c, t).0, Ok(()));
    }
    let fx = g.tick(&c, 10_301);
    assert!(g.member(&a).is_none(), "leader expired");
    // A rebalance started; B is told and rejoins, becoming leader of generation 3.
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    assert!(fx.join_replies.is_empty());
    assert_eq!(
        g.heartbeat(&hb(&b, 2), &c, 10_400).0,
        Err(GroupError::RebalanceInProgress)
    );
    let (_, fx) = g.join(&join_req("c2", &b), &c, 10_500);
    let r = join_reply(&fx, &b);
    assert_eq!(r.leader, b);
    assert_eq!(r.generation_id, 3);
    assert_eq!(r.members.len(), 1);
}

#[test]
fn inconsistent_protocols_are_refused() {
    let c = cfg();
    let (mut g, m) = stable_single(0);
    let mut other = join_req("c2", "");
    other.protocol_type = "connect".into();
    let (o, _) = g.join(&other, &c, 1);
    assert!(matches!(
        replied(o).error,
        Some(GroupError::InconsistentGroupProtocol(_))
    ));
    let mut other = join_req("c2", "");
    other.protocols = vec![Protocol {
        name: "sticky".into(),
        metadata: Bytes::new(),
    }];
    let (o, _) = g.join(&other, &c, 1);
    assert!(matches!(
        replied(o).error,
        Some(GroupError::InconsistentGroupProtocol(_))
    ));
    let mut s = sync_req(&m, 1, vec![]);
    s.protocol_name = Some("roundrobin".into());
    let (o, _) = g.sync(&s, &c, 2);
    assert!(matches!(
        replied(o).error,
        Some(GroupError::InconsistentGroupProtocol(_))
    ));
}

/// Joins arriving while a rebalance is in progress all land in the same generation.
#[test]
fn concurrent_joins_during_rebalance() {
    let c = cfg();
    let (mut g, a) = stable_single(0);
    let (ob, _) = g.join(&join_req("c2", ""), &c, 10);
    let (oc, _) = g.join(&join_req("c3", ""), &c, 20);
    let (b, cc) = (parked(ob), parked(oc));
    assert_eq!(g.state(), GroupState::PreparingRebalance);
    // B re-sends its JoinGroup while parked: still one member, still waiting for A.
    let (o, fx) = g.join(&join_req("c2", &b), &c, 30);
    parked(o);
    assert!(fx.join_replies.is_empty());
    let (_, fx) = g.join(&join_req("c1", &a), &c, 40);
    assert_eq!(fx.join_replies.len(), 3);
    for m in [&a, &b, &cc] {
        assert_eq!(join_reply(&fx, m).generation_id, 2);
    }
}

#[test]
fn member_joining_during_completing_rebalance_cancels_parked_syncs() {
    let c = cfg();
    let (mut g, a) = stable_single(0);
    let (o, _) = g.join(&join_req("c2", ""), &c, 10);
    let b = parked(o);
    let _ = g.join(&join_req("c1", &a), &c, 20);
    let (o, _) = g.sync(&sync_req(&b, 2, vec![]), &c, 30);
    parked(o);
    // A third member arrives before the leader's assignment.
    let (_, fx) = g.join(&join_req("c3", ""), &c, 40);
    assert_eq!(
        sync_reply(&fx, &b).error,
        Some(GroupError::RebalanceInProgress)
    );
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn protocol_vote_picks_most_common_supported() {
    let c = GroupConfig {
        initial_rebalance_delay_ms: 100,
        ..cfg()
    };
    let mut g = ClassicGroup::new("g", 0);
    let p = |n: &str| Protocol {
        name: n.into(),
        metadata: sub(&["t"]),
    };
    let mut r1 = join_req("c1", "");
    r1.protocols = vec![p("range"), p("sticky")];
    let mut r2 = join_req("c2", "");
    r2.protocols = vec![p("sticky"), p("range")];
    let mut r3 = join_req("c3", "");
    r3.protocols = vec![p("sticky"), p("range"), p("rr")];
    let _ = g.join(&r1, &c, 0);
    let _ = g.join(&r2, &c, 1);
    let _ = g.join(&r3, &c, 2);
    let _ = g.tick(&c, 100);
    let fx = g.tick(&c, 200);
    assert_eq!(fx.join_replies.len(), 3);
    assert_eq!(g.protocol_name(), Some("sticky"));
}
