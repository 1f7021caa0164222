//! What the timers fire, driven by a fake clock: session expiry, the rebalance timeout, the
//! pending-sync timeout, and a rebalance timeout the client left at 0.

use bytes::Bytes;

use super::*;
use crate::group::error::GroupError;
use crate::group::state::testutil::*;

#[test]
fn session_expiry_of_last_member_empties_group() {
    let c = cfg();
    let (mut g, m) = stable_single(0);
    assert_eq!(g.next_deadline(), Some(SESSION as i64));
    let fx = g.tick(&c, SESSION as i64);
    assert!(g.member(&m).is_none());
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.generation_id(), 2);
    assert!(fx.persist_metadata);
    assert_eq!(
        g.heartbeat(&hb(&m, 1), &c, SESSION as i64 + 1).0,
        Err(GroupError::UnknownMemberId(m.clone()))
    );
}

#[test]
fn rebalance_timeout_drops_member_that_did_not_rejoin() {
    let c = cfg();
    let (mut g, a) = stable_single(0);
    let (o, _) = g.join(&join_req("c2", ""), &c, 100);
    let b = parked(o);
    // A keeps heartbeating (REBALANCE_IN_PROGRESS) but never rejoins.
    for t in (1_000..30_100).step_by(3_000) {
        assert_eq!(
            g.heartbeat(&hb(&a, 1), &c, t).0,
            Err(GroupError::RebalanceInProgress)
        );
    }
    let fx = g.tick(&c, 100 + REBALANCE as i64);
    assert!(g.member(&a).is_none());
    let r = join_reply(&fx, &b);
    assert_eq!(r.leader, b, "new leader among rejoined members");
    assert_eq!(r.generation_id, 2);
    assert_eq!(r.members.len(), 1);
}

#[test]
fn sync_during_rebalance_and_pending_sync_expiry() {
    let c = cfg();
    let (mut g, a) = stable_single(0);
    let (o, _) = g.join(&join_req("c2", ""), &c, 10);
    let b = parked(o);
    let (o, _) = g.sync(&sync_req(&a, 1, vec![]), &c, 20);
    assert_eq!(replied(o).error, Some(GroupError::RebalanceInProgress));
    let _ = g.join(&join_req("c1", &a), &c, 30);
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    // The leader syncs, B never does: after the rebalance timeout B is removed.
    let (_, fx) = g.sync(&sync_req(&a, 2, vec![]), &c, 40);
    assert_eq!(fx.sync_replies.len(), 1);
    assert_eq!(g.state(), GroupState::Stable);
    for t in (1_000..=30_000).step_by(3_000) {
        let _ = g.heartbeat(&hb(&a, 2), &c, t);
    }
    let _ = g.tick(&c, 30 + REBALANCE as i64);
    assert!(g.member(&b).is_none());
    assert_eq!(g.state(), GroupState::PreparingRebalance);
}

#[test]
fn zero_rebalance_timeout_uses_session_timeout_and_completes_rebalance() {
    // Some clients leave the rebalance timeout unset (0). Read literally, the pending-sync
    // timer would fire at once and expire the member before its SyncGroup arrives.
    let c = cfg();
    let mut g = ClassicGroup::new("g", 0);
    let req = JoinRequest {
        rebalance_timeout_ms: 0,
        ..join_req("c1", "")
    };
    let (o, fx) = g.join(&req, &c, 0);
    let m = parked(o);
    assert_eq!(join_reply(&fx, &m).generation_id, 1);
    assert_eq!(g.member(&m).map(|x| x.rebalance_timeout_ms), Some(SESSION));
    // Time passes before the SyncGroup: the member is still there and the sync completes.
    let fx = g.tick(&c, 500);
    assert!(fx.is_empty(), "{fx:?}");
    let (o, fx) = g.sync(
        &sync_req(&m, 1, vec![(m.clone(), Bytes::from_static(b"A"))]),
        &c,
        1_000,
    );
    assert_eq!(parked(o), m);
    assert_eq!(sync_reply(&fx, &m).error, None);
    assert_eq!(g.state(), GroupState::Stable);
    // A second member with timeout 0 rejoins the same way; the rebalance completes.
    let (o, _) = g.join(
        &JoinRequest {
            rebalance_timeout_ms: 0,
            ..join_req("c2", "")
        },
        &c,
        1_100,
    );
    let b = parked(o);
    let (_, fx) = g.join(
        &JoinRequest {
            rebalance_timeout_ms: 0,
            ..join_req("c1", &m)
        },
        &c,
        1_200,
    );
    assert_eq!(join_reply(&fx, &b).generation_id, 2);
    let _ = g.tick(&c, 2_000);
    let (o, _) = g.sync(&sync_req(&b, 2, vec![]), &c, 2_500);
    parked(o);
    let (_, fx) = g.sync(&sync_req(&m, 2, vec![]), &c, 2_600);
    assert_eq!(sync_reply(&fx, &b).error, None);
    assert!(g.member(&b).is_some());
    assert_eq!(g.state(), GroupState::Stable);
}
