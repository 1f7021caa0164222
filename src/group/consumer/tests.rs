//! The consumer group state machine on a fake clock: joins, epochs, revoke-before-assign,
//! unreleased partitions, lost responses, leave, static members, timeouts, topic changes,
//! offset-commit validation and the record round trip.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::*;

const T: Uuid = Uuid::from_u128(7);

fn image(partitions: i32) -> TopicsImage {
    let mut by_name = BTreeMap::from([(
        "t".to_string(),
        TopicMeta {
            id: T,
            partitions,
            internal: false,
        },
    )]);
    by_name.insert(
        "__consumer_offsets".into(),
        TopicMeta {
            id: Uuid::from_u128(1),
            partitions: 50,
            internal: true,
        },
    );
    TopicsImage { by_name }
}

fn join(member: &str) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 1_000,
        subscribed_topic_names: Some(vec!["t".into()]),
        topic_partitions: Some(BTreeMap::new()),
        session_timeout_ms: 45_000,
        heartbeat_interval_ms: 5_000,
        ..Default::default()
    }
}

fn beat(member: &str, epoch: i32, owned: Option<&[i32]>) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        topic_partitions: owned.map(|ps| BTreeMap::from([(T, ps.iter().copied().collect())])),
        session_timeout_ms: 45_000,
        heartbeat_interval_ms: 5_000,
        ..Default::default()
    }
}

fn parts(r: &ConsumerHeartbeatResponse) -> Vec<i32> {
    r.assignment
        .as_ref()
        .and_then(|a| a.get(&T))
        .map(|ps| ps.iter().copied().collect())
        .unwrap_or_default()
}

/// Every partition in at most one member's assigned ∪ pending revocation.
fn check_exclusive(g: &ConsumerGroup) {
    let mut seen = BTreeSet::new();
    for m in g.members() {
        for (t, ps) in &m.assigned {
            for p in ps.keys() {
                assert!(seen.insert((*t, *p)), "{p} owned twice");
            }
        }
        for (t, ps) in &m.pending_revocation {
            for p in ps {
                assert!(seen.insert((*t, *p)), "{p} owned twice");
            }
        }
    }
}

#[test]
fn first_member_gets_everything() {
    let mut g = ConsumerGroup::new("g");
    let r = g.heartbeat(&join("a"), &image(4), usize::MAX, 0).unwrap();
    assert_eq!(r.member_epoch, 1);
    assert_eq!(parts(&r), vec![0, 1, 2, 3]);
    assert_eq!(g.state(), ConsumerGroupState::Stable);
    // A keep-alive gets no assignment.
    let r = g
        .heartbeat(&beat("a", 1, None), &image(4), usize::MAX, 10)
        .unwrap();
    assert_eq!(r.assignment, None);
    assert_eq!(r.member_epoch, 1);
}

#[test]
fn revoke_before_assign() {
    let img = image(4);
    let mut g = ConsumerGroup::new("g");
    g.heartbeat(&join("a"), &img, usize::MAX, 0).unwrap();
    // b joins: epoch 2; b's target partitions are still a's, so b gets nothing yet.
    let rb = g.heartbeat(&join("b"), &img, usize::MAX, 1).unwrap();
    assert_eq!(rb.member_epoch, 2);
    assert!(parts(&rb).is_empty());
    assert_eq!(
        g.member("b").unwrap().state,
        MemberState::UnreleasedPartitions
    );
    check_exclusive(&g);
    // a heartbeats at epoch 1: it must revoke; its epoch stays 1, assignment shrinks.
    let ra = g
        .heartbeat(&beat("a", 1, None), &img, usize::MAX, 2)
        .unwrap();
    assert_eq!(ra.member_epoch, 1);
    let kept = parts(&ra);
    assert_eq!(kept.len(), 2);
    assert_eq!(
        g.member("a").unwrap().state,
        MemberState::UnrevokedPartitions
    );
    assert_eq!(g.state(), ConsumerGroupState::Reconciling);
    // b still gets nothing while a owns them.
    let rb = g
        .heartbeat(&beat("b", 2, Some(&[])), &img, usize::MAX, 3)
        .unwrap();
    assert!(parts(&rb).is_empty());
    check_exclusive(&g);
    // a reports it revoked: it moves to epoch 2.
    let ra = g
        .heartbeat(&beat("a", 1, Some(&kept)), &img, usize::MAX, 4)
        .unwrap();
    assert_eq!(ra.member_epoch, 2);
    // b now gets the freed partitions.
    let rb = g
        .heartbeat(&beat("b", 2, Some(&[])), &img, usize::MAX, 5)
        .unwrap();
    assert_eq!(parts(&rb).len(), 2);
    check_exclusive(&g);
    assert_eq!(g.state(), ConsumerGroupState::Stable);
}

#[test]
fn lost_response_previous_epoch_with_subset_is_accepted() {
    let img = image(2);
    let mut g = ConsumerGroup::new("g");
    g.heartbeat(&join("a"), &img, usize::MAX, 0).unwrap();
    g.heartbeat(&join("b"), &img, usize::MAX, 0).unwrap();
    g.heartbeat(&beat("a", 1, Some(&[0, 1])), &img, usize::MAX, 0)
        .unwrap();
    let kept: Vec<i32> = g.member("a").unwrap().assigned[&T]
        .keys()
        .copied()
        .collect();
    let r = g
        .heartbeat(&beat("a", 1, Some(&kept)), &img, usize::MAX, 0)
        .unwrap();
    assert_eq!(r.member_epoch, 2);
    // The response was lost: a resends epoch 1 with a subset.
    let r = g
        .heartbeat(&beat("a", 1, Some(&kept)), &img, usize::MAX, 0)
        .unwrap();
    assert_eq!(r.member_epoch, 2);
    assert!(r.assignment.is_some());
    // But not with a partition it does not own, nor with an epoch from the future.
    let other = if kept == [0] { 1 } else { 0 };
    let e = g.heartbeat(&beat("a", 1, Some(&[other])), &img, usize::MAX, 0);
    assert_eq!(e.unwrap_err().kafka_code(), 110);
    let e = g.heartbeat(&beat("a", 9, None), &img, usize::MAX, 0);
    assert_eq!(e.unwrap_err().kafka_code(), 110);
    let e = g.heartbeat(&beat("zz", 1, None), &img, usize::MAX, 0);
    assert_eq!(e.unwrap_err().kafka_code(), 25);
}

#[test]
fn leave_frees_partitions_and_bumps_epoch() {
    let img = image(2);
    let mut g = ConsumerGroup::new("g");
    g.heartbeat(&join("a"), &img, usize::MAX, 0).unwrap();
    g.heartbeat(&join("b"), &img, usize::MAX, 0).unwrap();
    let r = g
        .heartbeat(&beat("a", -1, None), &img, usize::MAX, 0)
        .unwrap();
    assert_eq!(r.member_epoch, -1);
    assert_eq!(g.group_epoch(), 3);
    let r = g
        .heartbeat(&beat("b", 2, Some(&[])), &img, usize::MAX, 0)
        .unwrap();
    assert_eq!(r.member_epoch, 3);
    assert_eq!(parts(&r), vec![0, 1]);
}

#[test]
fn session_and_rebalance_timeouts_fence() {
    let img = image(2);
    let mut g = ConsumerGroup::new("g");
    g.heartbeat(&join("a"), &img, usize::MAX, 0).unwrap();
    g.heartbeat(&join("b"), &img, usize::MAX, 100).unwrap();
    // a must revoke; rebalance timeout is 1 s.
    g.heartbeat(&beat("a", 1, None), &img, usize::MAX, 200)
        .unwrap();
    assert_eq!(g.next_deadline(), Some(1_200));
    assert!(g.tick(1_199).is_empty());
    assert_eq!(g.tick(1_200), vec!["a".to_string()]);
    // b's session (45 s from its last heartbeat) ends later.
    assert_eq!(g.tick(45_100), vec!["b".to_string()]);
    assert_eq!(g.state(), ConsumerGroupState::Empty);
}

#[test]
fn static_members() {
    let img = image(2);
    let mut g = ConsumerGroup::new("g");
    let mut a = join("a");
    a.instance_id = Some("i1".into());
    g.heartbeat(&a, &img, usize::MAX, 0).unwrap();
    // Another member with the same instance while a is in: UNRELEASED_INSTANCE_ID.
    let mut a2 = join("a2");
    a2.instance_id = Some("i1".into());
    assert_eq!(
        g.heartbeat(&a2, &img, usize::MAX, 0)
            .unwrap_err()
            .kafka_code(),
        111
    );
    // A heartbeat naming i1 from another member id: FENCED_INSTANCE_ID.
    let mut wrong = beat("x", 1, None);
    wrong.instance_id = Some("i1".into());
    assert!(g.heartbeat(&wrong, &img, usize::MAX, 0).is_err());
    // a leaves temporarily (−2): partitions kept, no epoch bump.
    let mut leave = beat("a", -2, None);
    leave.instance_id = Some("i1".into());
    let epoch = g.group_epoch();
    g.heartbeat(&leave, &img, usize::MAX, 0).unwrap();
    assert_eq!(g.group_epoch(), epoch);
    // a2 takes over i1 with a's partitions, without a rebalance.
    let r = g.heartbeat(&a2, &img, usize::MAX, 0).unwrap();
    assert_eq!(parts(&r), vec![0, 1]);
    assert_eq!(g.group_epoch(), epoch);
    assert!(g.member("a").is_none());
}

#[test]
fn new_partitions_bump_the_epoch() {
    let mut g = ConsumerGroup::new("g");
    g.heartbeat(&join("a"), &image(2), usize::MAX, 0).unwrap();
    let r = g
        .heartbeat(&beat("a", 1, None), &image(3), usize::MAX, 0)
        .unwrap();
    assert_eq!(r.member_epoch, 2);
    assert_eq!(parts(&r), vec![0, 1, 2]);
}

#[test]
fn regex_matches_whole_names_and_skips_internal_topics() {
    let mut g = ConsumerGroup::new("g");
    let mut req = join("a");
    req.subscribed_topic_names = None;
    req.subscribed_topic_regex = Some(".*".into());
    let r = g.heartbeat(&req, &image(1), usize::MAX, 0).unwrap();
    assert_eq!(r.assignment.unwrap().len(), 1);
    let mut prefix = join("b");
    prefix.subscribed_topic_names = None;
    prefix.subscribed_topic_regex = Some("^tt".into());
    assert!(prefix.validate(1).is_ok());
    let mut bad = join("c");
    bad.subscribed_topic_regex = Some("(".into());
    assert_eq!(bad.validate(1).unwrap_err().kafka_code(), 128);
    let m = ConsumerMember {
        subscribed_names: vec![],
        regex: Some(compile_regex("t").unwrap()),
        ..ConsumerMember::new("x", 0)
    };
    assert_eq!(m.subscribed_topics(&image(1)).len(), 1);
    let m = ConsumerMember {
        regex: Some(compile_regex("^t.").unwrap()),
        ..ConsumerMember::new("x", 0)
    };
    assert!(m.subscribed_topics(&image(1)).is_empty());
}

#[test]
fn validation_of_requests() {
    let mut r = join("a");
    r.topic_partitions = None;
    assert_eq!(r.validate(1).unwrap_err().kafka_code(), 42);
    let mut r = join("");
    assert_eq!(r.validate(1).unwrap_err().kafka_code(), 42);
    r.member_id = "a".into();
    r.server_assignor = Some("sticky".into());
    assert_eq!(r.validate(1).unwrap_err().kafka_code(), 112);
    let r = beat("a", -3, None);
    assert_eq!(r.validate(1).unwrap_err().kafka_code(), 42);
    let r = beat("a", -2, None);
    assert_eq!(r.validate(1).unwrap_err().kafka_code(), 42);
}

#[test]
fn offset_commit_epoch_rules() {
    let img = image(2);
    let mut g = ConsumerGroup::new("g");
    g.heartbeat(&join("a"), &img, usize::MAX, 0).unwrap();
    let p0 = [("t".to_string(), 0)];
    assert!(g.validate_offset_commit("a", 1, &p0).is_ok());
    assert_eq!(
        g.validate_offset_commit("a", 2, &p0)
            .unwrap_err()
            .kafka_code(),
        113
    );
    assert_eq!(
        g.validate_offset_commit("b", 1, &p0)
            .unwrap_err()
            .kafka_code(),
        25
    );
    // After b joins and a moves to epoch 2, a commit at epoch 1 for a partition a still
    // owns since epoch 1 is fine (4.3 per-partition rule).
    g.heartbeat(&join("b"), &img, usize::MAX, 0).unwrap();
    g.heartbeat(&beat("a", 1, Some(&[0, 1])), &img, usize::MAX, 0)
        .unwrap();
    let kept: Vec<i32> = g.member("a").unwrap().assigned[&T]
        .keys()
        .copied()
        .collect();
    g.heartbeat(&beat("a", 1, Some(&kept)), &img, usize::MAX, 0)
        .unwrap();
    let kept_p = [("t".to_string(), kept[0])];
    assert!(g.validate_offset_commit("a", 1, &kept_p).is_ok());
    assert!(g.validate_offset_fetch("a", 2).is_ok());
    assert_eq!(
        g.validate_offset_fetch("a", 1).unwrap_err().kafka_code(),
        113
    );
}

#[test]
fn record_round_trip() {
    let img = image(4);
    let mut g = ConsumerGroup::new("g");
    let mut a = join("a");
    a.subscribed_topic_regex = Some("t.*".into());
    g.heartbeat(&a, &img, usize::MAX, 0).unwrap();
    g.heartbeat(&join("b"), &img, usize::MAX, 0).unwrap();
    g.heartbeat(&beat("a", 1, None), &img, usize::MAX, 0)
        .unwrap();
    let rec = g.to_record();
    let json = serde_json::to_string(&rec).unwrap();
    let back: record::ConsumerGroupRecord = serde_json::from_str(&json).unwrap();
    let mut g2 = ConsumerGroup::from_record("g", back, 0).unwrap();
    assert_eq!(g2.to_record(), rec);
    g2.on_loaded(45_000, 1_000);
    assert_eq!(g2.state(), g.state());
    // The revoking member keeps going after the restart.
    let kept: Vec<i32> = g2.member("a").unwrap().assigned[&T]
        .keys()
        .copied()
        .collect();
    let r = g2
        .heartbeat(&beat("a", 1, Some(&kept)), &img, usize::MAX, 2_000)
        .unwrap();
    assert_eq!(r.member_epoch, 2);
}

/// With an authorizer a regex only gets the topics the member's principal may describe;
/// the filtered matches are re-resolved at each heartbeat and survive the record.
#[test]
fn regex_matches_are_filtered_by_describe_rights() {
    const U: Uuid = Uuid::from_u128(8);
    let mut img = image(2);
    img.by_name.insert(
        "u".into(),
        TopicMeta {
            id: U,
            partitions: 2,
            internal: false,
        },
    );
    let only = |names: &[&str]| Some(names.iter().map(|n| n.to_string()).collect());
    let mut g = ConsumerGroup::new("g");
    let mut req = join("a");
    req.subscribed_topic_names = None;
    req.subscribed_topic_regex = Some("t|u|__consumer_offsets".into());
    req.describable_topics = only(&["t"]);
    let r = g.heartbeat(&req, &img, usize::MAX, 0).unwrap();
    let topics: Vec<Uuid> = r.assignment.unwrap().into_keys().collect();
    assert_eq!(topics, vec![T]);
    let epoch = g.group_epoch();
    // The principal may now describe u: the next heartbeat brings it in.
    let mut b = beat("a", r.member_epoch, Some(&[0, 1]));
    b.describable_topics = only(&["t", "u"]);
    let r = g.heartbeat(&b, &img, usize::MAX, 10).unwrap();
    assert_eq!(g.group_epoch(), epoch + 1);
    let topics: Vec<Uuid> = r.assignment.unwrap().into_keys().collect();
    assert_eq!(topics, vec![T, U]);
    let rec = g.to_record();
    assert_eq!(
        rec.members[0].regex_topics,
        Some(vec!["t".to_string(), "u".to_string()])
    );
    let back = ConsumerGroup::from_record("g", rec, 20).unwrap();
    assert_eq!(
        back.member("a").unwrap().regex_topics,
        g.member("a").unwrap().regex_topics
    );
    // Without an authorizer nothing is filtered, and the record field is left out.
    let mut b = beat("a", r.member_epoch, Some(&[0, 1]));
    b.describable_topics = None;
    g.heartbeat(&b, &img, usize::MAX, 30).unwrap();
    assert_eq!(g.member("a").unwrap().regex_topics, None);
    let json = serde_json::to_string(&g.to_record()).unwrap();
    assert!(!json.contains("regex_topics"), "{json}");
}
