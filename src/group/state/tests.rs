//! State machine tests, driven by a fake clock (plain `now` integers).

use super::*;

const SESSION: i32 = 10_000;
const REBALANCE: i32 = 30_000;

fn cfg() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        ..GroupConfig::default()
    }
}

fn sub(topics: &[&str]) -> Bytes {
    Bytes::from(crate::group::subscription::encode_subscription_v0(topics))
}

fn join_req(client: &str, member_id: &str) -> JoinRequest {
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

fn static_req(client: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        group_instance_id: Some(instance.into()),
        ..join_req(client, "")
    }
}

fn sync_req(member_id: &str, generation: i32, assignments: Vec<(String, Bytes)>) -> SyncRequest {
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

fn hb(member_id: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member_id.into(),
        group_instance_id: None,
    }
}

fn parked<T: std::fmt::Debug>(o: Outcome<T>) -> String {
    match o {
        Outcome::Parked(id) => id,
        Outcome::Reply(r) => panic!("expected parked, got {r:?}"),
    }
}

fn replied<T: std::fmt::Debug>(o: Outcome<T>) -> T {
    match o {
        Outcome::Reply(r) => r,
        Outcome::Parked(id) => panic!("expected reply, parked {id}"),
    }
}

fn join_reply(fx: &Effects, member: &str) -> JoinResponse {
    fx.join_replies
        .iter()
        .find(|(m, _)| m == member)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no join reply for {member} in {fx:?}"))
}

fn sync_reply(fx: &Effects, member: &str) -> SyncResponse {
    fx.sync_replies
        .iter()
        .find(|(m, _)| m == member)
        .map(|(_, r)| r.clone())
        .unwrap_or_else(|| panic!("no sync reply for {member} in {fx:?}"))
}

/// One member joins and syncs: returns (group, member id) at generation 1, Stable.
fn stable_single(now: i64) -> (ClassicGroup, String) {
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

#[test]
fn persisted_round_trip_restores_generation_and_members() {
    let (g, m) = stable_single(0);
    let record = g.to_record();
    let p = PersistedGroup {
        group_id: "g".into(),
        metadata: Some(record),
        offsets: vec![],
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
    let _ = g.mark_dead(5);
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
