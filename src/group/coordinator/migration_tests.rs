//! Online upgrade and downgrade on paused tokio time: a classic group's assignment carried
//! over, a classic member revoking before its partitions move, the downgrade when the last
//! consumer-protocol member leaves, a restart mid-migration, and the policy refusals.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use uuid::Uuid;

use super::testutil::*;
use super::*;
use crate::config::ConsumerMigrationPolicy;
use crate::group::consumer::{Assignment, ConsumerHeartbeat, TopicMeta, TopicsImage};
use crate::group::store::MemoryGroupStore;
use crate::group::subscription::{encode_assignment, encode_subscription_v1, read_assignment};

const T: Uuid = Uuid::from_u128(7);

fn image() -> TopicsImage {
    TopicsImage {
        by_name: BTreeMap::from([(
            "t".to_string(),
            TopicMeta {
                id: T,
                partitions: 4,
                internal: false,
            },
        )]),
    }
}

async fn migrating(
    store: Arc<MemoryGroupStore>,
    policy: ConsumerMigrationPolicy,
) -> Arc<GroupCoordinator> {
    let c = coordinator(
        store,
        GroupConfig {
            migration_policy: policy,
            ..cfg()
        },
    )
    .await;
    c.on_topics(Arc::new(image));
    c
}

/// A Stable classic group "g" with one member owning all of `t`; returns its member id.
async fn classic_group(c: &GroupCoordinator) -> String {
    let r = join(c, "g", "a").await;
    assert_eq!((r.error.clone(), r.generation_id), (None, 1));
    let a = r.member_id;
    let all = Bytes::from(encode_assignment(&[("t".into(), vec![0, 1, 2, 3])]));
    let s = c.sync(sync_req("g", &a, 1, vec![(a.clone(), all)])).await;
    assert_eq!(s.error, None);
    a
}

fn cg_join(member: &str) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 20_000,
        subscribed_topic_names: Some(vec!["t".into()]),
        topic_partitions: Some(BTreeMap::new()),
        session_timeout_ms: 45_000,
        heartbeat_interval_ms: 5_000,
        ..Default::default()
    }
}

fn cg_beat(member: &str, epoch: i32, owned: &[i32]) -> ConsumerHeartbeat {
    ConsumerHeartbeat {
        group_id: "g".into(),
        member_id: member.into(),
        member_epoch: epoch,
        rebalance_timeout_ms: -1,
        topic_partitions: Some(Assignment::from([(T, owned.iter().copied().collect())])),
        session_timeout_ms: 45_000,
        heartbeat_interval_ms: 5_000,
        ..Default::default()
    }
}

fn hb(member: &str, generation: i32) -> HeartbeatRequest {
    HeartbeatRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        group_instance_id: None,
    }
}

/// A classic member's rejoin reporting the partitions it owns.
fn rejoin(member: &str, owned: Vec<i32>) -> JoinRequest {
    let mut r = join_req("g", "a", member);
    r.protocols[0].metadata = Bytes::from(encode_subscription_v1(&["t"], &[("t", owned)]));
    r
}

fn partitions(assignment: &Bytes) -> Vec<i32> {
    read_assignment(assignment)
        .unwrap()
        .into_iter()
        .flat_map(|(_, ps)| ps)
        .collect()
}

fn commit(member: &str, generation: i32) -> CommitRequest {
    CommitRequest {
        group_id: "g".into(),
        member_id: member.into(),
        generation_id: generation,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(5))],
    }
}

#[tokio::test(start_paused = true)]
async fn upgrade_revoke_then_downgrade() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = migrating(store.clone(), ConsumerMigrationPolicy::Bidirectional).await;
    let a = classic_group(&c).await;

    // The first consumer-protocol member converts the group; a keeps its four partitions, so
    // m gets nothing until a has revoked.
    let m = c
        .consumer_heartbeat(cg_join("m"), 1, &image())
        .await
        .unwrap();
    assert_eq!(m.member_epoch, 2);
    assert_eq!(m.assignment, Some(Assignment::new()));
    let d = c.consumer_describe(&["g".into()]).await;
    let d = d[0].1.as_ref().unwrap();
    let kinds: Vec<(String, bool)> = d
        .members
        .iter()
        .map(|m| (m.member_id.clone(), m.classic))
        .collect();
    assert!(kinds.contains(&(a.clone(), true)) && kinds.contains(&("m".into(), false)));
    assert!(c.is_consumer_member("g", "m").await);
    assert!(!c.is_consumer_member("g", &a).await);

    // a is told to rejoin, may still commit at its generation, and rejoins owning all four:
    // it keeps its epoch (generation) and is given only what it keeps.
    assert_eq!(
        c.heartbeat(hb(&a, 1)).await,
        Err(GroupError::RebalanceInProgress)
    );
    let r = c.commit_offsets(commit(&a, 1)).await.unwrap();
    assert_eq!(r[0].2, None);
    let r = c.commit_offsets(commit(&a, 7)).await;
    assert!(
        matches!(r, Err(GroupError::IllegalGeneration { .. })),
        "{r:?}"
    );
    let j = c.join(rejoin(&a, vec![0, 1, 2, 3])).await;
    assert_eq!(j.error, None);
    assert_eq!(j.generation_id, 1);
    assert_eq!(j.leader, "");
    assert_eq!(j.protocol_name.as_deref(), Some("range"));
    let s = c.sync(sync_req("g", &a, 1, vec![])).await;
    assert_eq!(s.error, None);
    let kept = partitions(&s.assignment);
    assert_eq!(kept.len(), 2);
    // Not released yet: m still gets nothing.
    let r = c
        .consumer_heartbeat(cg_beat("m", 2, &[]), 1, &image())
        .await
        .unwrap();
    assert_eq!(r.assignment, None);
    // a rejoins without the revoked partitions: epoch 2, and m gets the other two.
    let j = c.join(rejoin(&a, kept.clone())).await;
    assert_eq!(j.generation_id, 2);
    let s = c.sync(sync_req("g", &a, 2, vec![])).await;
    assert_eq!(partitions(&s.assignment), kept);
    assert_eq!(c.heartbeat(hb(&a, 2)).await, Ok(()));
    let r = c
        .consumer_heartbeat(cg_beat("m", 2, &[]), 1, &image())
        .await
        .unwrap();
    let mine: Vec<i32> = r.assignment.unwrap()[&T].iter().copied().collect();
    assert_eq!(mine.len(), 2);
    assert!(mine.iter().all(|p| !kept.contains(p)));

    // m leaves: only a classic member is left, the group is classic again and rebalances.
    let mut leave = cg_beat("m", -1, &[]);
    leave.topic_partitions = None;
    c.consumer_heartbeat(leave, 1, &image()).await.unwrap();
    let d = c.consumer_describe(&["g".into()]).await;
    assert_eq!(d[0].1, Err(GroupError::GroupIdNotFound("g".into())));
    let d = c.describe(&["g".into()]).await;
    assert_eq!(d[0].1.as_ref().unwrap().state, "PreparingRebalance");
    assert_eq!(
        c.heartbeat(hb(&a, 2)).await,
        Err(GroupError::RebalanceInProgress)
    );
    let j = c.join(rejoin(&a, kept)).await;
    assert_eq!((j.error, j.generation_id), (None, 3));
    assert_eq!(j.leader, a);
    assert_eq!(
        store.snapshot("g").unwrap().offsets.len(),
        1,
        "offsets kept"
    );
    c.stop().await;
}

#[tokio::test(start_paused = true)]
async fn restart_mid_migration_keeps_classic_members() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = migrating(store.clone(), ConsumerMigrationPolicy::Bidirectional).await;
    let a = classic_group(&c).await;
    c.consumer_heartbeat(cg_join("m"), 1, &image())
        .await
        .unwrap();
    c.stop().await;
    drop(c);

    let c = migrating(store, ConsumerMigrationPolicy::Bidirectional).await;
    // a is still a classic member at generation 1 that must rejoin; m keeps its epoch.
    assert_eq!(
        c.heartbeat(hb(&a, 1)).await,
        Err(GroupError::RebalanceInProgress)
    );
    let r = c
        .consumer_heartbeat(cg_beat("m", 2, &[]), 1, &image())
        .await
        .unwrap();
    assert_eq!(r.member_epoch, 2);
    let d = c.consumer_describe(&["g".into()]).await;
    assert_eq!(d[0].1.as_ref().unwrap().members.len(), 2);
    c.stop().await;
}

#[tokio::test(start_paused = true)]
async fn policy_refusals() {
    for policy in [
        ConsumerMigrationPolicy::Disabled,
        ConsumerMigrationPolicy::Downgrade,
    ] {
        let c = migrating(Arc::new(MemoryGroupStore::new()), policy).await;
        classic_group(&c).await;
        let e = c
            .consumer_heartbeat(cg_join("m"), 1, &image())
            .await
            .unwrap_err();
        assert_eq!(e.kafka_code(), 69);
        assert!(
            e.to_string().starts_with("Cannot upgrade classic group g"),
            "{e}"
        );
        c.stop().await;
    }

    // A classic group of another protocol type never upgrades.
    let c = migrating(
        Arc::new(MemoryGroupStore::new()),
        ConsumerMigrationPolicy::Bidirectional,
    )
    .await;
    let mut first = join_req("g", "a", "");
    first.protocol_type = "connect".into();
    let r = c.join(first.clone()).await;
    first.member_id = r.member_id;
    assert_eq!(c.join(first).await.error, None);
    let e = c
        .consumer_heartbeat(cg_join("m"), 1, &image())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("consumer embedded protocol"), "{e}");
    c.stop().await;

    // DISABLED: a classic member may not join a consumer group with members.
    let c = migrating(
        Arc::new(MemoryGroupStore::new()),
        ConsumerMigrationPolicy::Disabled,
    )
    .await;
    c.consumer_heartbeat(cg_join("m"), 1, &image())
        .await
        .unwrap();
    let r = c.join(join_req("g", "a", "")).await;
    assert!(matches!(
        r.error,
        Some(GroupError::InconsistentGroupProtocol(_))
    ));
    c.stop().await;

    // UPGRADE only: the last consumer member leaving leaves a consumer group of classic
    // members.
    let c = migrating(
        Arc::new(MemoryGroupStore::new()),
        ConsumerMigrationPolicy::Upgrade,
    )
    .await;
    classic_group(&c).await;
    c.consumer_heartbeat(cg_join("m"), 1, &image())
        .await
        .unwrap();
    let mut leave = cg_beat("m", -1, &[]);
    leave.topic_partitions = None;
    c.consumer_heartbeat(leave, 1, &image()).await.unwrap();
    let d = c.consumer_describe(&["g".into()]).await;
    assert_eq!(d[0].1.as_ref().unwrap().members.len(), 1);
    c.stop().await;
}

#[tokio::test(start_paused = true)]
async fn classic_member_joins_consumer_group_and_times_out() {
    let c = migrating(
        Arc::new(MemoryGroupStore::new()),
        ConsumerMigrationPolicy::Bidirectional,
    )
    .await;
    let m = c
        .consumer_heartbeat(cg_join("m"), 1, &image())
        .await
        .unwrap();
    assert_eq!(m.member_epoch, 1);
    // A new classic member: MEMBER_ID_REQUIRED, then its join bumps the epoch; it waits for
    // m to release half of the partitions.
    let first = c.join(join_req("g", "a", "")).await;
    assert!(matches!(first.error, Some(GroupError::MemberIdRequired(_))));
    let a = first.member_id;
    let j = c.join(join_req("g", "a", &a)).await;
    assert_eq!((j.error, j.generation_id), (None, 2));
    let s = c.sync(sync_req("g", &a, 2, vec![])).await;
    assert!(partitions(&s.assignment).is_empty());
    // m revokes; a is told to rejoin once the partitions are free, and gets them.
    let r = c
        .consumer_heartbeat(cg_beat("m", 1, &[0, 1, 2, 3]), 1, &image())
        .await
        .unwrap();
    let kept: Vec<i32> = r.assignment.unwrap()[&T].iter().copied().collect();
    assert_eq!(c.heartbeat(hb(&a, 2)).await, Ok(()), "still waiting on m");
    c.consumer_heartbeat(cg_beat("m", 1, &kept), 1, &image())
        .await
        .unwrap();
    assert_eq!(
        c.heartbeat(hb(&a, 2)).await,
        Err(GroupError::RebalanceInProgress)
    );
    let j = c.join(join_req("g", "a", &a)).await;
    let s = c.sync(sync_req("g", &a, j.generation_id, vec![])).await;
    assert_eq!(partitions(&s.assignment).len(), 2);
    // a goes silent: its classic session (10 s) fences it, m stays.
    let mut epoch = 2;
    for _ in 0..6 {
        tokio::time::sleep(std::time::Duration::from_secs(3)).await;
        let r = c
            .consumer_heartbeat(cg_beat("m", epoch, &kept), 1, &image())
            .await
            .unwrap();
        epoch = r.member_epoch;
    }
    assert_eq!(epoch, 3, "a's departure bumped the group epoch");
    let d = c.consumer_describe(&["g".into()]).await;
    let members = &d[0].1.as_ref().unwrap().members;
    assert_eq!(members.len(), 1);
    assert_eq!(members[0].member_id, "m");
    assert_eq!(
        c.heartbeat(hb(&a, 2)).await,
        Err(GroupError::UnknownMemberId(a))
    );
    c.stop().await;
}
