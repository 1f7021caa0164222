//! The coordinator's offset APIs on paused tokio time: admin commits and their rules,
//! OffsetDelete against a live subscription, retention expiry removing an empty group.

use std::sync::Arc;
use std::time::Duration;

use super::*;
use crate::group::coordinator::testutil::*;
use crate::group::store::MemoryGroupStore;

#[tokio::test(start_paused = true)]
async fn simple_admin_commit_and_offset_rules() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    // Unknown group, generation ≥ 0: refused.
    let bad = CommitRequest {
        group_id: "tool".into(),
        member_id: "m".into(),
        generation_id: 3,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(1))],
    };
    assert_eq!(
        c.commit_offsets(bad).await,
        Err(GroupError::GroupIdNotFound("tool".into()))
    );
    // kafka-consumer-groups --reset-offsets: generation −1, member "".
    let reset = CommitRequest {
        group_id: "tool".into(),
        member_id: String::new(),
        generation_id: -1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(10)), ("u".into(), 0, offset(3))],
    };
    c.commit_offsets(reset.clone()).await.unwrap();
    let d = c.describe(&["tool".into()]).await;
    let d = d[0].1.as_ref().unwrap();
    assert_eq!(d.state, "Empty");
    assert_eq!(d.protocol_type, "");
    assert_eq!(
        store
            .snapshot("tool")
            .unwrap()
            .metadata
            .unwrap()
            .protocol_type,
        None
    );
    // Metadata over the limit fails that partition only.
    let mut big = reset.clone();
    big.offsets = vec![(
        "t".into(),
        1,
        CommittedOffset {
            metadata: "x".repeat(5_000),
            ..offset(1)
        },
    )];
    let r = c.commit_offsets(big).await.unwrap();
    assert!(matches!(
        r[0].2,
        Some(GroupError::OffsetMetadataTooLarge { .. })
    ));
    // OffsetDelete on an Empty group.
    let r = c
        .delete_offsets("tool", &[("u".into(), vec![0])])
        .await
        .unwrap();
    assert_eq!(r[0].2, None);
    assert_eq!(
        c.fetch_offsets("tool", Some(&[("u".into(), vec![0])]), false)
            .await
            .unwrap()[0]
            .1[0]
            .1,
        None
    );
    // Topic deletion.
    let c2 = c.clone();
    let removed = tokio::task::spawn_blocking(move || c2.remove_offsets_for_topic("t"))
        .await
        .unwrap();
    assert_eq!(removed, 1);
    assert!(c
        .fetch_offsets("tool", None, false)
        .await
        .unwrap()
        .is_empty());
    // Unknown group fetch: no error, no offsets.
    assert!(c
        .fetch_offsets("none", None, false)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        c.delete_offsets("none", &[]).await,
        Err(GroupError::GroupIdNotFound("none".into()))
    );
}

#[tokio::test(start_paused = true)]
async fn offset_delete_refuses_subscribed_topic() {
    let c = coordinator(Arc::new(MemoryGroupStore::new()), cfg()).await;
    let a = join(&c, "g", "a").await;
    let _ = c.sync(sync_req("g", &a.member_id, 1, vec![])).await;
    let commit = CommitRequest {
        group_id: "g".into(),
        member_id: a.member_id.clone(),
        generation_id: 1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(1)), ("other".into(), 0, offset(1))],
    };
    c.commit_offsets(commit).await.unwrap();
    let r = c
        .delete_offsets("g", &[("t".into(), vec![0]), ("other".into(), vec![0])])
        .await
        .unwrap();
    assert_eq!(r[0].2, Some(GroupError::GroupSubscribedToTopic("t".into())));
    assert_eq!(r[1].2, None);
    // Simple commit on a live group: refused.
    let simple = CommitRequest {
        group_id: "g".into(),
        member_id: String::new(),
        generation_id: -1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(5))],
    };
    assert!(matches!(
        c.commit_offsets(simple).await,
        Err(GroupError::UnknownMemberId(_))
    ));
}

#[tokio::test(start_paused = true)]
async fn offsets_expire_and_empty_group_is_removed() {
    let store = Arc::new(MemoryGroupStore::new());
    let config = GroupConfig {
        offsets_retention_ms: 60_000,
        offsets_retention_check_interval_ms: 10_000,
        ..cfg()
    };
    let c = coordinator(store.clone(), config).await;
    let reset = CommitRequest {
        group_id: "tool".into(),
        member_id: String::new(),
        generation_id: -1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(10))],
    };
    c.commit_offsets(reset).await.unwrap();
    tokio::time::sleep(Duration::from_millis(50_000)).await;
    assert_eq!(c.fetch_offsets("tool", None, false).await.unwrap().len(), 1);
    tokio::time::sleep(Duration::from_millis(20_000)).await;
    assert!(c
        .fetch_offsets("tool", None, false)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        c.describe(&["tool".into()]).await[0].1,
        Err(GroupError::GroupIdNotFound("tool".into()))
    );
    assert!(store.snapshot("tool").is_none());
}

#[tokio::test(start_paused = true)]
async fn transactional_offsets_wait_for_their_marker_and_survive_a_reload() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    let commit = |o: i64| CommitRequest {
        group_id: "eos".into(),
        member_id: String::new(),
        generation_id: -1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(o)), ("t".into(), 1, offset(o + 1))],
    };
    c.commit_offsets(commit(5)).await.unwrap();
    // Producer 7 stages offsets 20/21: invisible, and unstable for require_stable fetches.
    c.commit_txn_offsets(commit(20), 7).await.unwrap();
    let fetched = c.fetch_offsets("eos", None, true).await.unwrap();
    assert_eq!(fetched[0].1[0].1.as_ref().unwrap().offset, 5);
    assert_eq!(
        c.unstable_partitions("eos").await,
        vec![("t".to_string(), 0), ("t".to_string(), 1)]
    );
    // Producer 8's transaction aborts: its staged offsets go, producer 7's stay.
    c.commit_txn_offsets(commit(30), 8).await.unwrap();
    c.complete_transaction("eos", 8, false).await.unwrap();
    assert_eq!(c.unstable_partitions("eos").await.len(), 2);
    // A restart reloads the pending offsets from the store.
    let c = coordinator(store.clone(), cfg()).await;
    assert_eq!(c.unstable_partitions("eos").await.len(), 2);
    c.complete_transaction("eos", 7, true).await.unwrap();
    assert!(c.unstable_partitions("eos").await.is_empty());
    let fetched = c.fetch_offsets("eos", None, true).await.unwrap();
    let offsets: Vec<i64> = fetched[0]
        .1
        .iter()
        .map(|(_, o)| o.as_ref().unwrap().offset)
        .collect();
    assert_eq!(offsets, vec![20, 21]);
    // A retried marker finds nothing pending; an unknown group has nothing to complete.
    c.complete_transaction("eos", 7, true).await.unwrap();
    c.complete_transaction("nobody", 7, true).await.unwrap();
    let c = coordinator(store, cfg()).await;
    assert!(c.unstable_partitions("eos").await.is_empty());
}
