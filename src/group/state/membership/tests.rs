//! Heartbeat, LeaveGroup and member validation on the state machine with a fake clock.

use super::*;
use crate::group::state::testutil::*;

#[test]
fn illegal_generation_and_unknown_member() {
    let c = cfg();
    let (mut g, m) = stable_single(0);
    assert_eq!(
        g.heartbeat(&hb(&m, 7), &c, 1).0,
        Err(GroupError::IllegalGeneration {
            requested: 7,
            current: 1
        })
    );
    let (o, _) = g.sync(&sync_req(&m, 0, vec![]), &c, 1);
    assert_eq!(
        replied(o).error,
        Some(GroupError::IllegalGeneration {
            requested: 0,
            current: 1
        })
    );
    assert!(matches!(
        g.heartbeat(&hb("nobody", 1), &c, 1).0,
        Err(GroupError::UnknownMemberId(_))
    ));
    let (o, _) = g.join(&join_req("c9", "nobody"), &c, 1);
    assert!(matches!(
        replied(o).error,
        Some(GroupError::UnknownMemberId(_))
    ));
    assert_eq!(
        g.validate_offset_commit(&m, None, 0),
        Err(GroupError::IllegalGeneration {
            requested: 0,
            current: 1
        })
    );
    assert_eq!(g.validate_offset_commit(&m, None, 1), Ok(()));
    // Generation −1 without member on a non-empty group is refused.
    assert!(matches!(
        g.validate_offset_commit("", None, -1),
        Err(GroupError::UnknownMemberId(_))
    ));
}

#[test]
fn leave_of_last_member_empties_group() {
    let c = cfg();
    let (mut g, m) = stable_single(0);
    let leave = vec![LeaveMember {
        member_id: m.clone(),
        group_instance_id: None,
        reason: None,
    }];
    let (r, fx) = g.leave(&leave, &c, 10);
    let results = r.unwrap();
    assert_eq!(results[0].error, None);
    assert_eq!(g.state(), GroupState::Empty);
    assert_eq!(g.num_members(), 0);
    assert!(fx.persist_metadata);
    assert_eq!(g.describe().state, "Empty");
}

#[test]
fn batched_leave_reports_per_member_errors() {
    let c = cfg();
    let mut g = ClassicGroup::new("g", 0);
    let (o, _) = g.join(&static_req("c1", "i1"), &c, 0);
    let m = parked(o);
    let _ = g.sync(
        &SyncRequest {
            group_instance_id: Some("i1".into()),
            ..sync_req(&m, 1, vec![])
        },
        &c,
        1,
    );
    let leave = vec![
        LeaveMember {
            member_id: "ghost".into(),
            group_instance_id: None,
            reason: None,
        },
        LeaveMember {
            member_id: "wrong".into(),
            group_instance_id: Some("i1".into()),
            reason: None,
        },
        LeaveMember {
            member_id: String::new(),
            group_instance_id: Some("i1".into()),
            reason: None,
        },
    ];
    let (r, _) = g.leave(&leave, &c, 5);
    let r = r.unwrap();
    assert!(matches!(r[0].error, Some(GroupError::UnknownMemberId(_))));
    assert!(matches!(
        r[1].error,
        Some(GroupError::FencedInstanceId { .. })
    ));
    assert_eq!(r[2].error, None);
    assert_eq!(g.state(), GroupState::Empty);
}
