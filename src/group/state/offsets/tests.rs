//! Offset commit and delete rules and offset expiry on the state machine.

use super::*;
use crate::group::state::testutil::*;

#[test]
fn offsets_commit_rules_and_expiry() {
    let c = cfg();
    let mut g = ClassicGroup::new("g", 0);
    // Simple group: −1 / "" accepted while Empty.
    assert_eq!(g.validate_offset_commit("", None, -1), Ok(()));
    g.put_offset(
        "t",
        0,
        CommittedOffset {
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
        },
    );
    assert_eq!(g.expired_offsets(999, 1_000), vec![]);
    assert_eq!(g.expired_offsets(1_000, 1_000), vec![("t".to_string(), 0)]);
    assert_eq!(g.validate_offset_delete(), Ok(()));
    assert!(!g.is_subscribed_to_topic("t"));

    let (mut g, m) = stable_single(0);
    g.put_offset(
        "t",
        0,
        CommittedOffset {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
        },
    );
    g.put_offset(
        "old",
        0,
        CommittedOffset {
            offset: 1,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
        },
    );
    // Stable consumer group: only unsubscribed topics expire.
    assert_eq!(
        g.expired_offsets(10_000_000, 1_000),
        vec![("old".to_string(), 0)]
    );
    assert!(g.is_subscribed_to_topic("t"));
    assert_eq!(g.validate_offset_delete(), Ok(()));
    assert_eq!(
        g.validate_delete(),
        Err(GroupError::NonEmptyGroup("g".into()))
    );
    // CompletingRebalance refuses commits.
    let _ = g.join(&join_req("c2", ""), &c, 10);
    let _ = g.join(&join_req("c1", &m), &c, 20);
    assert_eq!(g.state(), GroupState::CompletingRebalance);
    assert_eq!(
        g.validate_offset_commit(&m, None, 2),
        Err(GroupError::RebalanceInProgress)
    );
}
