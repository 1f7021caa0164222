//! Coordinator tests on paused tokio time: timers fire when the test sleeps, never on a
//! real clock.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::testutil::*;
use super::*;
use crate::group::store::MemoryGroupStore;

#[tokio::test(start_paused = true)]
async fn join_sync_heartbeat_commit_fetch() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    let r = join(&c, "g", "app").await;
    assert_eq!(r.error, None);
    assert_eq!(r.generation_id, 1);
    assert_eq!(r.leader, r.member_id);
    let m = r.member_id.clone();
    let s = c
        .sync(sync_req(
            "g",
            &m,
            1,
            vec![(m.clone(), Bytes::from_static(b"A"))],
        ))
        .await;
    assert_eq!(s.error, None);
    assert_eq!(s.assignment, Bytes::from_static(b"A"));
    assert_eq!(s.protocol_name.as_deref(), Some("range"));
    assert!(
        store.snapshot("g").unwrap().metadata.is_some(),
        "Stable group persisted"
    );

    let hb = HeartbeatRequest {
        group_id: "g".into(),
        generation_id: 1,
        member_id: m.clone(),
        group_instance_id: None,
    };
    assert_eq!(c.heartbeat(hb).await, Ok(()));

    let commit = CommitRequest {
        group_id: "g".into(),
        member_id: m.clone(),
        generation_id: 1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(42)), ("t".into(), 1, offset(7))],
    };
    let results = c.commit_offsets(commit).await.unwrap();
    assert!(results.iter().all(|(_, _, e)| e.is_none()));
    let all = c.fetch_offsets("g", None, false).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].1.len(), 2);
    assert_eq!(all[0].1[0].1.as_ref().unwrap().offset, 42);
    let some = c
        .fetch_offsets("g", Some(&[("t".into(), vec![1, 9])]), true)
        .await
        .unwrap();
    assert_eq!(some[0].1[0].1.as_ref().unwrap().offset, 7);
    assert_eq!(some[0].1[1].1, None);
    assert_eq!(store.snapshot("g").unwrap().offsets.len(), 2);

    let d = c.describe(&["g".into(), "nope".into()]).await;
    let desc = d[0].1.as_ref().unwrap();
    assert_eq!(desc.state, "Stable");
    assert_eq!(desc.protocol_type, "consumer");
    assert_eq!(desc.protocol, "range");
    assert_eq!(desc.members[0].client_id, "app");
    assert_eq!(desc.members[0].client_host, "/10.0.0.1");
    assert_eq!(d[1].1, Err(GroupError::GroupIdNotFound("nope".into())));
    assert_eq!(c.coordinator_for("g"), 1);
    c.stop().await;
}

#[tokio::test(start_paused = true)]
async fn parked_joins_complete_together() {
    let c = coordinator(
        Arc::new(MemoryGroupStore::new()),
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            ..cfg()
        },
    )
    .await;
    let a = tokio::spawn({
        let c = c.clone();
        async move { join(&c, "g", "a").await }
    });
    let b = tokio::spawn({
        let c = c.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(1_000)).await;
            join(&c, "g", "b").await
        }
    });
    let (ra, rb) = (a.await.unwrap(), b.await.unwrap());
    assert_eq!(ra.generation_id, 1);
    assert_eq!(rb.generation_id, 1);
    assert_eq!(ra.leader, rb.leader);
    let leader = if ra.leader == ra.member_id { &ra } else { &rb };
    let follower = if ra.leader == ra.member_id { &rb } else { &ra };
    assert_eq!(leader.members.len(), 2);
    assert!(follower.members.is_empty());

    // The follower's SyncGroup parks until the leader's arrives.
    let fsync = tokio::spawn({
        let c = c.clone();
        let f = follower.member_id.clone();
        async move { c.sync(sync_req("g", &f, 1, vec![])).await }
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!fsync.is_finished());
    let assignments = vec![(follower.member_id.clone(), Bytes::from_static(b"F"))];
    let ls = c
        .sync(sync_req("g", &leader.member_id, 1, assignments))
        .await;
    assert_eq!(ls.error, None);
    assert!(
        ls.assignment.is_empty(),
        "no assignment for the leader = empty bytes"
    );
    assert_eq!(fsync.await.unwrap().assignment, Bytes::from_static(b"F"));
}

#[tokio::test(start_paused = true)]
async fn timer_task_expires_sessions() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    let r = join(&c, "g", "a").await;
    let _ = c.sync(sync_req("g", &r.member_id, 1, vec![])).await;
    tokio::time::sleep(Duration::from_millis(SESSION as u64 - 1)).await;
    assert_eq!(
        c.describe(&["g".into()]).await[0].1.as_ref().unwrap().state,
        "Stable"
    );
    tokio::time::sleep(Duration::from_millis(2)).await;
    let d = c.describe(&["g".into()]).await;
    let d = d[0].1.as_ref().unwrap();
    assert_eq!(d.state, "Empty");
    assert!(d.members.is_empty());
    let listed = c.list(&["empty".into()], &[]).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].group_type, "classic");
    assert!(c.list(&["stable".into()], &[]).await.unwrap().is_empty());
    assert_eq!(
        store.snapshot("g").unwrap().metadata.unwrap().generation_id,
        2
    );
}

#[tokio::test(start_paused = true)]
async fn rebalance_timeout_drops_silent_member() {
    let c = coordinator(Arc::new(MemoryGroupStore::new()), cfg()).await;
    let a = join(&c, "g", "a").await;
    let _ = c.sync(sync_req("g", &a.member_id, 1, vec![])).await;
    // b joins: rebalance. a keeps heartbeating but never rejoins.
    let b = tokio::spawn({
        let c = c.clone();
        async move { join(&c, "g", "b").await }
    });
    for _ in 0..8 {
        tokio::time::sleep(Duration::from_millis(3_000)).await;
        let hb = HeartbeatRequest {
            group_id: "g".into(),
            generation_id: 1,
            member_id: a.member_id.clone(),
            group_instance_id: None,
        };
        let r = c.heartbeat(hb).await;
        if r.is_err() && r != Err(GroupError::RebalanceInProgress) {
            break;
        }
    }
    let rb = b.await.unwrap();
    assert_eq!(rb.generation_id, 2);
    assert_eq!(rb.leader, rb.member_id);
    assert_eq!(rb.members.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn leave_last_member_then_delete_group() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    let a = join(&c, "g", "a").await;
    let _ = c.sync(sync_req("g", &a.member_id, 1, vec![])).await;
    let commit = CommitRequest {
        group_id: "g".into(),
        member_id: a.member_id.clone(),
        generation_id: 1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(1))],
    };
    c.commit_offsets(commit).await.unwrap();
    assert_eq!(
        c.delete(&["g".into()]).await[0].1,
        Err(GroupError::NonEmptyGroup("g".into()))
    );
    let left = c
        .leave(
            "g",
            vec![LeaveMember {
                member_id: a.member_id.clone(),
                group_instance_id: None,
                reason: None,
            }],
        )
        .await
        .unwrap();
    assert_eq!(left[0].error, None);
    assert_eq!(
        c.describe(&["g".into()]).await[0].1.as_ref().unwrap().state,
        "Empty"
    );
    let deleted = c.delete(&["g".into(), "x".into()]).await;
    assert_eq!(deleted[0].1, Ok(()));
    assert_eq!(deleted[1].1, Err(GroupError::GroupIdNotFound("x".into())));
    assert!(store.snapshot("g").is_none());
    assert!(c.list(&[], &[]).await.unwrap().is_empty());
}

#[tokio::test(start_paused = true)]
async fn restart_restores_group_and_offsets() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    let a = join(&c, "g", "a").await;
    let _ = c
        .sync(sync_req(
            "g",
            &a.member_id,
            1,
            vec![(a.member_id.clone(), Bytes::from_static(b"A"))],
        ))
        .await;
    let commit = CommitRequest {
        group_id: "g".into(),
        member_id: a.member_id.clone(),
        generation_id: 1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(99))],
    };
    c.commit_offsets(commit).await.unwrap();
    c.stop().await;
    drop(c);

    let c2 = coordinator(store.clone(), cfg()).await;
    let d = c2.describe(&["g".into()]).await;
    let d = d[0].1.as_ref().unwrap();
    assert_eq!(d.state, "Stable");
    assert_eq!(d.members[0].assignment, Bytes::from_static(b"A"));
    let hb = HeartbeatRequest {
        group_id: "g".into(),
        generation_id: 1,
        member_id: a.member_id.clone(),
        group_instance_id: None,
    };
    assert_eq!(c2.heartbeat(hb).await, Ok(()));
    let f = c2.fetch_offsets("g", None, false).await.unwrap();
    assert_eq!(f[0].1[0].1.as_ref().unwrap().offset, 99);
    // Without heartbeats the restored member expires.
    tokio::time::sleep(Duration::from_millis(SESSION as u64 + 1)).await;
    assert_eq!(
        c2.describe(&["g".into()]).await[0]
            .1
            .as_ref()
            .unwrap()
            .state,
        "Empty"
    );
}

#[tokio::test(start_paused = true)]
async fn store_failure_is_reported_not_acknowledged() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    let a = join(&c, "g", "a").await;
    store.set_failing(true);
    let s = c.sync(sync_req("g", &a.member_id, 1, vec![])).await;
    assert!(matches!(
        s.error,
        Some(GroupError::CoordinatorNotAvailable(_))
    ));
    let commit = CommitRequest {
        group_id: "x".into(),
        member_id: String::new(),
        generation_id: -1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(1))],
    };
    assert!(matches!(
        c.commit_offsets(commit).await,
        Err(GroupError::CoordinatorNotAvailable(_))
    ));
    store.set_failing(false);
    // The group rebalanced after the failed write; the member rejoins and carries on.
    let r = c.join(join_req("g", "a", &a.member_id)).await;
    assert_eq!(r.error, None);
    assert_eq!(r.generation_id, 2);
}

#[tokio::test(start_paused = true)]
async fn request_validation() {
    let c = coordinator(Arc::new(MemoryGroupStore::new()), cfg()).await;
    let mut r = join_req("g", "a", "");
    r.session_timeout_ms = 1_000;
    assert!(matches!(
        c.join(r).await.error,
        Some(GroupError::InvalidSessionTimeout { .. })
    ));
    assert!(matches!(
        c.join(join_req("", "a", "")).await.error,
        Some(GroupError::InvalidGroupId(_))
    ));
    assert!(matches!(
        c.join(join_req("g2", "a", "ghost")).await.error,
        Some(GroupError::UnknownMemberId(_))
    ));
    let hb = HeartbeatRequest {
        group_id: "nope".into(),
        generation_id: 1,
        member_id: "m".into(),
        group_instance_id: None,
    };
    assert!(matches!(
        c.heartbeat(hb).await,
        Err(GroupError::UnknownMemberId(_))
    ));
    assert!(matches!(
        c.sync(sync_req("nope", "m", 1, vec![])).await.error,
        Some(GroupError::UnknownMemberId(_))
    ));
    assert!(matches!(
        c.leave("nope", vec![]).await,
        Err(GroupError::UnknownMemberId(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_timer_task() {
    let c = coordinator(Arc::new(MemoryGroupStore::new()), cfg()).await;
    c.stop().await;
    assert!(lock(&c.timer_task).is_none());
}

#[tokio::test(start_paused = true)]
async fn describe_all_snapshots_groups_with_offsets() {
    let c = coordinator(Arc::new(MemoryGroupStore::new()), cfg()).await;
    let a = join(&c, "g", "a").await;
    let _ = c
        .sync(sync_req(
            "g",
            &a.member_id,
            1,
            vec![(a.member_id.clone(), Bytes::from_static(b"A"))],
        ))
        .await;
    let commit = CommitRequest {
        group_id: "g".into(),
        member_id: a.member_id.clone(),
        generation_id: 1,
        group_instance_id: None,
        offsets: vec![("t".into(), 3, offset(17))],
    };
    c.commit_offsets(commit).await.unwrap();
    let all = c.describe_all();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].state, "Stable");
    assert_eq!(all[0].protocol, "range");
    assert_eq!(all[0].generation_id, 1);
    assert_eq!(all[0].members[0].assignment, Bytes::from_static(b"A"));
    assert_eq!(
        (
            all[0].offsets[0].topic.as_str(),
            all[0].offsets[0].partition,
            all[0].offsets[0].offset
        ),
        ("t", 3, 17)
    );
}

#[tokio::test(start_paused = true)]
async fn cancellation_token_stops_timer_task() {
    let c = GroupCoordinator::open(1, cfg(), Arc::new(MemoryGroupStore::new())).unwrap();
    let token = tokio_util::sync::CancellationToken::new();
    c.spawn_background(token.clone());
    token.cancel();
    let task = lock(&c.timer_task).take().unwrap();
    task.await.unwrap();
}

#[test]
fn config_conversion_keeps_kafka_defaults() {
    let broker_cfg = crate::config::GroupConfig {
        initial_rebalance_delay_ms: 0,
        min_session_timeout_ms: 1,
        max_session_timeout_ms: 2,
        max_size: 3,
        offsets_retention_minutes: 10,
        ..Default::default()
    };
    let g = GroupConfig::from(&broker_cfg);
    assert_eq!(g.offsets_retention_ms, 600_000);
    assert_eq!(g.max_size, 3);
    assert_eq!(g.offset_metadata_max_bytes, 4_096);
}
