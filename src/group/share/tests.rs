//! ShareGroup on a fake clock: joins, epochs, leaves, fencing, session expiry, metadata
//! changes, the persisted record.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::record::ShareGroupRecord;
use super::*;
use crate::group::kind::GroupType;
use crate::group::store::GroupMetadataRecord;
use crate::group::types::GroupConfig;

const T: u128 = 1;

fn topics(partitions: i32) -> BTreeMap<String, TopicMeta> {
    BTreeMap::from([(
        "t".to_string(),
        TopicMeta {
            id: Uuid::from_u128(T),
            partitions,
        },
    )])
}

fn hb(member: &str, epoch: i32, subscribe: bool) -> ShareHeartbeatRequest {
    ShareHeartbeatRequest {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rack_id: None,
        subscribed_topic_names: subscribe.then(|| vec!["t".to_string()]),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: None,
        heartbeat_interval_ms: None,
    }
}

fn parts(r: &ShareHeartbeatResponse) -> Option<Vec<i32>> {
    r.assignment.as_ref().map(|a| {
        a.iter()
            .filter(|(id, _)| *id == Uuid::from_u128(T))
            .flat_map(|(_, ps)| ps.clone())
            .collect()
    })
}

fn cfg() -> GroupConfig {
    GroupConfig::default()
}

#[test]
fn join_then_second_member_splits_partitions() {
    let mut g = ShareGroup::new("g");
    let t = topics(4);
    assert_eq!(g.state(), GroupState::Empty);
    let a = g.heartbeat(&hb("a", 0, true), &t, &cfg(), 0).unwrap();
    assert_eq!(a.member_epoch, 1);
    assert_eq!(a.heartbeat_interval_ms, 5_000);
    assert_eq!(parts(&a), Some(vec![0, 1, 2, 3]));
    assert_eq!(g.state(), GroupState::Stable);

    // Nothing changed: no assignment in the answer.
    let a = g.heartbeat(&hb("a", 1, false), &t, &cfg(), 10).unwrap();
    assert_eq!((a.member_epoch, a.assignment.clone()), (1, None));

    let b = g.heartbeat(&hb("b", 0, true), &t, &cfg(), 20).unwrap();
    assert_eq!(b.member_epoch, 2);
    assert_eq!(parts(&b).map(|p| p.len()), Some(2));
    // a moves straight to epoch 2 with its half: no revocation step.
    let a = g.heartbeat(&hb("a", 1, false), &t, &cfg(), 30).unwrap();
    assert_eq!(a.member_epoch, 2);
    let pa = parts(&a).unwrap();
    let pb = parts(&b).unwrap();
    assert_eq!(pa.len(), 2);
    assert!(pa.iter().all(|p| !pb.contains(p)));
    assert_eq!((g.group_epoch(), g.assignment_epoch()), (2, 2));
}

#[test]
fn more_members_than_partitions_share_them() {
    let mut g = ShareGroup::new("g");
    let t = topics(1);
    for (i, m) in ["a", "b", "c"].iter().enumerate() {
        let r = g.heartbeat(&hb(m, 0, true), &t, &cfg(), i as i64).unwrap();
        assert_eq!(parts(&r), Some(vec![0]));
    }
    let d = g.describe();
    assert_eq!(d.members.len(), 3);
    assert_eq!(d.assignor_name, "simple");
}

#[test]
fn leave_removes_member_and_bumps_epoch() {
    let mut g = ShareGroup::new("g");
    let t = topics(2);
    g.heartbeat(&hb("a", 0, true), &t, &cfg(), 0).unwrap();
    g.heartbeat(&hb("b", 0, true), &t, &cfg(), 0).unwrap();
    let a = g.heartbeat(&hb("a", 1, false), &t, &cfg(), 0).unwrap();
    assert_eq!((a.member_epoch, parts(&a).map(|p| p.len())), (2, Some(1)));
    let r = g.heartbeat(&hb("b", -1, false), &t, &cfg(), 0).unwrap();
    assert_eq!(r.member_epoch, -1);
    assert_eq!(g.group_epoch(), 3);
    assert!(g.member("b").is_none());
    // a gets everything back at its next heartbeat.
    let a = g.heartbeat(&hb("a", 2, false), &t, &cfg(), 0).unwrap();
    assert_eq!((a.member_epoch, parts(&a)), (3, Some(vec![0, 1])));
    // Leaving twice: UNKNOWN_MEMBER_ID.
    let e = g.heartbeat(&hb("b", -1, false), &t, &cfg(), 0).unwrap_err();
    assert!(matches!(e, GroupError::UnknownMemberId(_)));
    g.heartbeat(&hb("a", -1, false), &t, &cfg(), 0).unwrap();
    assert_eq!(g.state(), GroupState::Empty);
    assert!(g.validate_delete().is_ok());
}

#[test]
fn epochs_are_fenced_except_the_previous_one() {
    let mut g = ShareGroup::new("g");
    let t = topics(2);
    g.heartbeat(&hb("a", 0, true), &t, &cfg(), 0).unwrap(); // a at 1
    g.heartbeat(&hb("b", 0, true), &t, &cfg(), 0).unwrap();
    g.heartbeat(&hb("a", 1, false), &t, &cfg(), 0).unwrap(); // a at 2, previous 1
    let ahead = g.heartbeat(&hb("a", 3, false), &t, &cfg(), 0).unwrap_err();
    assert_eq!(ahead.kafka_code(), 110);
    // The previous epoch is accepted (the answer with the new one may have been lost).
    let r = g.heartbeat(&hb("a", 1, false), &t, &cfg(), 0).unwrap();
    assert_eq!(r.member_epoch, 2);
    // A retried join is accepted once (previous epoch 0), not later.
    let fresh = g.heartbeat(&hb("c", 0, true), &t, &cfg(), 0).unwrap();
    assert_eq!(fresh.member_epoch, 3);
    let again = g.heartbeat(&hb("c", 0, true), &t, &cfg(), 0).unwrap();
    assert_eq!(again.member_epoch, 3);
    // a at 2 with previous 1: epoch 0 is neither.
    let e = g.heartbeat(&hb("a", 0, true), &t, &cfg(), 0).unwrap_err();
    assert_eq!(e.kafka_code(), 110);
    // Unknown member with an epoch: UNKNOWN_MEMBER_ID.
    let e = g.heartbeat(&hb("zz", 5, false), &t, &cfg(), 0).unwrap_err();
    assert_eq!(e.kafka_code(), 25);
}

#[test]
fn group_size_is_capped() {
    let mut g = ShareGroup::new("g");
    let t = topics(1);
    let c = GroupConfig {
        share_max_size: 2,
        ..cfg()
    };
    g.heartbeat(&hb("a", 0, true), &t, &c, 0).unwrap();
    g.heartbeat(&hb("b", 0, true), &t, &c, 0).unwrap();
    let e = g.heartbeat(&hb("c", 0, true), &t, &c, 0).unwrap_err();
    assert_eq!(e.kafka_code(), 81);
    // Members already in keep heartbeating.
    assert!(g.heartbeat(&hb("a", 1, false), &t, &c, 0).is_ok());
}

#[test]
fn silent_members_expire_after_the_session_timeout() {
    let mut g = ShareGroup::new("g");
    let t = topics(2);
    g.heartbeat(&hb("a", 0, true), &t, &cfg(), 1_000).unwrap();
    g.heartbeat(&hb("b", 0, true), &t, &cfg(), 2_000).unwrap();
    assert_eq!(g.next_deadline(), Some(46_000));
    assert!(!g.expire_sessions(45_999));
    assert!(g.expire_sessions(46_000));
    assert!(g.member("a").is_none());
    assert_eq!(g.group_epoch(), 3);
    assert_eq!(g.next_deadline(), Some(47_000));
    // b's heartbeat extends it and brings the whole topic.
    let b = g.heartbeat(&hb("b", 2, false), &t, &cfg(), 46_500).unwrap();
    assert_eq!(parts(&b), Some(vec![0, 1]));
    assert_eq!(g.next_deadline(), Some(91_500));
    // The expired member must rejoin.
    let e = g
        .heartbeat(&hb("a", 1, false), &t, &cfg(), 46_600)
        .unwrap_err();
    assert_eq!(e.kafka_code(), 25);
}

#[test]
fn new_partitions_and_new_topics_bump_the_epoch() {
    let mut g = ShareGroup::new("g");
    let r = g
        .heartbeat(&hb("a", 0, true), &BTreeMap::new(), &cfg(), 0)
        .unwrap();
    // Subscribed to a topic that does not exist yet: empty assignment.
    assert_eq!((r.member_epoch, parts(&r)), (1, Some(vec![])));
    let before = g.topics().clone();
    let r = g
        .heartbeat(&hb("a", 1, false), &topics(1), &cfg(), 0)
        .unwrap();
    assert_eq!((r.member_epoch, parts(&r)), (2, Some(vec![0])));
    // A topic seen for the first time: its partitions start where the reset config says.
    assert_eq!(added_partitions(&before, g.topics()), vec![]);
    let before = g.topics().clone();
    let r = g
        .heartbeat(&hb("a", 2, false), &topics(3), &cfg(), 0)
        .unwrap();
    assert_eq!((r.member_epoch, parts(&r)), (3, Some(vec![0, 1, 2])));
    // Partitions a known topic gained start at offset 0.
    let id = Uuid::from_u128(T);
    assert_eq!(
        added_partitions(&before, g.topics()),
        vec![(id, 1), (id, 2)]
    );
    // A topic deleted and created again under the same name is a new topic.
    let recreated = BTreeMap::from([(
        "t".to_string(),
        TopicMeta {
            id: Uuid::from_u128(T + 1),
            partitions: 5,
        },
    )]);
    assert_eq!(added_partitions(g.topics(), &recreated), vec![]);
    let r = g
        .heartbeat(&hb("a", 3, false), &topics(3), &cfg(), 0)
        .unwrap();
    assert_eq!((r.member_epoch, r.assignment), (3, None));
}

#[test]
fn requests_are_validated_as_kafka_does() {
    let ok = hb("a", 0, true);
    assert!(validate_request(&ok).is_ok());
    let bad = |f: &dyn Fn(&mut ShareHeartbeatRequest)| {
        let mut r = ok.clone();
        f(&mut r);
        validate_request(&r).unwrap_err().kafka_code()
    };
    assert_eq!(bad(&|r| r.group_id.clear()), 42);
    assert_eq!(bad(&|r| r.member_id.clear()), 42);
    assert_eq!(bad(&|r| r.rack_id = Some(String::new())), 42);
    assert_eq!(bad(&|r| r.member_epoch = -2), 42);
    assert_eq!(bad(&|r| r.subscribed_topic_names = None), 42);
    assert_eq!(bad(&|r| r.subscribed_topic_names = Some(vec![])), 42);
    // Later heartbeats may omit the subscription.
    assert!(validate_request(&hb("a", 3, false)).is_ok());
    assert!(validate_request(&hb("a", -1, false)).is_ok());
}

#[test]
fn record_round_trips_through_json() {
    let mut g = ShareGroup::new("g");
    let t = topics(3);
    g.heartbeat(&hb("a", 0, true), &t, &cfg(), 0).unwrap();
    g.heartbeat(&hb("b", 0, true), &t, &cfg(), 0).unwrap();
    let rec = g.to_record();
    let json = String::from_utf8(rec.to_json()).unwrap();
    assert!(json.contains(r#""type":"share""#), "{json}");
    let back = GroupMetadataRecord::from_json(json.as_bytes()).unwrap();
    assert_eq!(back.group_type, GroupType::Share);
    let share: ShareGroupRecord = back.share.unwrap();
    let loaded = ShareGroup::from_record("g", share, 45_000, 1_000);
    assert_eq!(loaded.share_record(), g.share_record());
    assert_eq!(loaded.next_deadline(), Some(46_000));
    assert_eq!(loaded.state(), GroupState::Stable);
    // A member keeps its epoch across the reload: b (epoch 2) and a (still at 1).
    let mut loaded = loaded;
    let a = loaded
        .heartbeat(&hb("a", 1, false), &t, &cfg(), 2_000)
        .unwrap();
    assert_eq!(a.member_epoch, 2);
}

#[test]
fn records_without_a_type_are_classic() {
    let json = br#"{"v":1,"protocol_type":"consumer","generation_id":1,"protocol_name":"range","leader":null,"state_timestamp_ms":null,"members":[]}"#;
    let r = GroupMetadataRecord::from_json(json).unwrap();
    assert_eq!(r.group_type, GroupType::Classic);
    assert!(r.share.is_none());
}

#[test]
fn dead_group_refuses_heartbeats() {
    let mut g = ShareGroup::new("g");
    g.heartbeat(&hb("a", 0, true), &topics(1), &cfg(), 0)
        .unwrap();
    assert_eq!(g.validate_delete().unwrap_err().kafka_code(), 68);
    g.mark_dead();
    assert_eq!(g.state(), GroupState::Dead);
    let e = g
        .heartbeat(&hb("a", 1, false), &topics(1), &cfg(), 0)
        .unwrap_err();
    assert_eq!(e.kafka_code(), 15);
    assert_eq!(g.next_deadline(), None);
}

#[test]
fn group_timing_overrides_the_broker_settings() {
    let mut g = ShareGroup::new("g");
    let t = topics(2);
    let with = |mut r: ShareHeartbeatRequest| {
        r.session_timeout_ms = Some(50_000);
        r.heartbeat_interval_ms = Some(7_000);
        r
    };
    let a = g.heartbeat(&with(hb("a", 0, true)), &t, &cfg(), 0).unwrap();
    assert_eq!(a.heartbeat_interval_ms, 7_000);
    // The broker's 45 s session would have expired the member; the group's 50 s has not.
    assert!(!g.expire_sessions(49_999));
    assert!(g.expire_sessions(50_000));
    let b = g.heartbeat(&hb("b", 0, true), &t, &cfg(), 60_000).unwrap();
    assert_eq!(b.heartbeat_interval_ms, 5_000);
    assert!(!g.expire_sessions(60_000 + 44_999));
    assert!(g.expire_sessions(60_000 + 45_000));
}
