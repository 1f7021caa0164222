//! SyncGroup on the state machine with a fake clock: the happy path to Stable, followers
//! parked until the leader's assignment.

use super::*;
use crate::group::state::testutil::*;

#[test]
fn join_sync_heartbeat_happy_path() {
    let c = cfg();
    let (mut g, m) = stable_single(0);
    assert_eq!(g.state(), GroupState::Stable);
    assert_eq!(g.protocol_name(), Some("range"));
    assert!(m.starts_with("c1-"));
    let (r, _) = g.heartbeat(&hb(&m, 1), &c, 5_000);
    assert_eq!(r, Ok(()));
    // Kept alive past the original deadline by the heartbeat.
    let fx = g.tick(&c, 12_000);
    assert!(fx.is_empty());
    assert_eq!(g.num_members(), 1);
    let d = g.describe();
    assert_eq!(d.state, "Stable");
    assert_eq!(d.protocol, "range");
    assert_eq!(d.members[0].assignment, Bytes::from_static(b"A"));
    assert_eq!(d.members[0].client_host, "/127.0.0.1");
}

/// Three members; the follower's SyncGroup waits for the leader's.
#[test]
fn three_members_follower_sync_waits_for_leader() {
    let c = GroupConfig {
        initial_rebalance_delay_ms: 3_000,
        ..cfg()
    };
    let mut g = ClassicGroup::new("g", 0);
    let (o1, fx) = g.join(&join_req("c1", ""), &c, 0);
    assert!(
        fx.join_replies.is_empty(),
        "initial delay holds the first join"
    );
    let (o2, _) = g.join(&join_req("c2", ""), &c, 1_000);
    let (o3, _) = g.join(&join_req("c3", ""), &c, 2_000);
    let (m1, m2, m3) = (parked(o1), parked(o2), parked(o3));
    // The delay is extended once per round with new members, bounded by the rebalance timeout.
    let fx = g.tick(&c, 3_000);
    assert!(fx.join_replies.is_empty());
    let fx = g.tick(&c, 6_000);
    assert_eq!(fx.join_replies.len(), 3);
    assert_eq!(join_reply(&fx, &m1).members.len(), 3);
    assert_eq!(g.generation_id(), 1);

    let (o, fx) = g.sync(&sync_req(&m2, 1, vec![]), &c, 6_100);
    parked(o);
    assert!(fx.sync_replies.is_empty());
    let assignments = vec![
        (m1.clone(), Bytes::from_static(b"1")),
        (m2.clone(), Bytes::from_static(b"2")),
    ];
    let (o, fx) = g.sync(&sync_req(&m1, 1, assignments), &c, 6_200);
    parked(o);
    assert_eq!(sync_reply(&fx, &m1).assignment, Bytes::from_static(b"1"));
    assert_eq!(sync_reply(&fx, &m2).assignment, Bytes::from_static(b"2"));
    assert_eq!(g.state(), GroupState::Stable);
    // m3 syncs late: gets its (empty) assignment at once.
    let (o, _) = g.sync(&sync_req(&m3, 1, vec![]), &c, 6_300);
    let r = replied(o);
    assert_eq!(r.error, None);
    assert!(r.assignment.is_empty());
}
