//! Persist and reload a group; a Dead group refuses everything.

use super::*;
use crate::group::state::testutil::*;

#[test]
fn persisted_round_trip_restores_generation_and_members() {
    let (g, m) = stable_single(0);
    let record = g.to_record();
    let p = PersistedGroup {
        group_id: "g".into(),
        metadata: Some(record),
        offsets: vec![],
        pending: vec![],
    };
    let c = cfg();
    let mut loaded = ClassicGroup::from_persisted(p, 50_000);
    assert_eq!(loaded.state(), GroupState::Stable);
    assert_eq!(loaded.generation_id(), 1);
    assert_eq!(loaded.leader_id(), Some(m.as_str()));
    // The member may carry on where it left off...
    assert_eq!(loaded.heartbeat(&hb(&m, 1), &c, 50_001).0, Ok(()));
    let (o, _) = loaded.sync(&sync_req(&m, 1, vec![]), &c, 50_002);
    assert_eq!(replied(o).assignment, Bytes::from_static(b"A"));
    // ...or expire after a session timeout without heartbeats.
    let _ = loaded.tick(&c, 50_002 + SESSION as i64);
    assert_eq!(loaded.state(), GroupState::Empty);
}

#[test]
fn dead_group_refuses_everything() {
    let c = cfg();
    let (mut g, m) = stable_single(0);
    let _ = g.mark_dead(5, GroupError::CoordinatorNotAvailable("removed".into()));
    assert!(matches!(
        g.heartbeat(&hb(&m, 1), &c, 6).0,
        Err(GroupError::CoordinatorNotAvailable(_))
    ));
    let (o, _) = g.join(&join_req("c1", ""), &c, 6);
    assert!(matches!(
        replied(o).error,
        Some(GroupError::CoordinatorNotAvailable(_))
    ));
    assert!(matches!(
        g.validate_offset_commit(&m, None, 1),
        Err(GroupError::CoordinatorNotAvailable(_))
    ));
}
