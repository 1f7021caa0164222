//! A cluster member's coordinator: which groups it serves while it loads, owns and unloads
//! offsets partitions.

use std::sync::Arc;

use super::super::testutil::*;
use super::super::*;
use crate::group::offsets_partition;
use crate::group::store::{MemoryGroupStore, OffsetRecord, RECORD_VERSION};

fn cluster_coordinator(partitions: i32) -> Arc<GroupCoordinator> {
    let c =
        GroupCoordinator::open_in_cluster(1, cfg(), Arc::new(MemoryGroupStore::new()), partitions);
    c.spawn_background(tokio_util::sync::CancellationToken::new());
    c
}

/// A group id that lands in `partition` of `partitions`.
fn group_in(partition: i32, partitions: i32) -> String {
    (0..)
        .map(|i| format!("g{i}"))
        .find(|g| offsets_partition(g, partitions) == partition)
        .unwrap()
}

fn with_offset(group: &str, offset: i64) -> PersistedGroup {
    PersistedGroup {
        group_id: group.into(),
        metadata: None,
        offsets: vec![(
            "t".into(),
            0,
            OffsetRecord {
                v: RECORD_VERSION,
                offset,
                leader_epoch: -1,
                metadata: String::new(),
                commit_timestamp_ms: 1,
            },
        )],
        pending: vec![],
    }
}

#[tokio::test(start_paused = true)]
async fn serves_only_loaded_partitions() {
    let c = cluster_coordinator(2);
    let (mine, theirs) = (group_in(0, 2), group_in(1, 2));
    // Nothing is owned at start.
    let r = c.join(join_req(&mine, "app", "")).await;
    assert!(matches!(r.error, Some(GroupError::NotCoordinator(_))));
    assert!(c.list(&[], &[]).await.unwrap().is_empty());

    let token = c.begin_load(0, 2).await.unwrap();
    let r = c.join(join_req(&mine, "app", "")).await;
    assert_eq!(r.error, Some(GroupError::CoordinatorLoadInProgress));
    assert_eq!(
        c.fetch_offsets(&mine, None, false).await.unwrap_err(),
        GroupError::CoordinatorLoadInProgress
    );
    assert_eq!(
        c.list(&[], &[]).await.unwrap_err(),
        GroupError::CoordinatorLoadInProgress
    );

    assert!(c.finish_load(0, token, vec![with_offset(&mine, 42)]));
    let fetched = c.fetch_offsets(&mine, None, false).await.unwrap();
    assert_eq!(fetched[0].1[0].1.as_ref().map(|o| o.offset), Some(42));
    assert_eq!(c.list(&[], &[]).await.unwrap().len(), 1);
    // The other partition's groups are someone else's.
    assert!(matches!(
        c.fetch_offsets(&theirs, None, false).await,
        Err(GroupError::NotCoordinator(_))
    ));
    let commit = CommitRequest {
        group_id: theirs.clone(),
        member_id: String::new(),
        generation_id: -1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(1))],
    };
    assert!(matches!(
        c.commit_offsets(commit).await,
        Err(GroupError::NotCoordinator(_))
    ));
    // Joining a loaded partition works as on a single broker.
    let r = join(&c, &mine, "app").await;
    assert_eq!((r.error, r.generation_id), (None, 1));

    c.unload(0).await;
    assert!(matches!(
        c.fetch_offsets(&mine, None, false).await,
        Err(GroupError::NotCoordinator(_))
    ));
    assert!(c.describe_all().is_empty());
}

#[tokio::test(start_paused = true)]
async fn unloading_answers_parked_joins_not_coordinator() {
    let c = cluster_coordinator(1);
    let token = c.begin_load(0, 1).await.unwrap();
    assert!(c.finish_load(0, token, Vec::new()));
    let a = join(&c, "g", "a").await;
    let s = c
        .sync(sync_req(
            "g",
            &a.member_id,
            1,
            vec![(a.member_id.clone(), bytes::Bytes::from_static(b"A"))],
        ))
        .await;
    assert_eq!(s.error, None);
    // A second member starts a rebalance and waits for the first to rejoin.
    let first = c.join(join_req("g", "b", "")).await;
    let c2 = c.clone();
    let parked = tokio::spawn(async move { c2.join(join_req("g", "b", &first.member_id)).await });
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    assert!(!parked.is_finished());
    c.unload(0).await;
    let r = parked.await.unwrap();
    assert!(
        matches!(r.error, Some(GroupError::NotCoordinator(_))),
        "{r:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn a_superseded_load_installs_nothing() {
    let c = cluster_coordinator(1);
    let old = c.begin_load(0, 1).await.unwrap();
    let new = c.begin_load(0, 1).await.unwrap();
    assert!(!c.finish_load(0, old, vec![with_offset("g", 1)]));
    assert!(c.finish_load(0, new, vec![with_offset("g", 2)]));
    let fetched = c.fetch_offsets("g", None, false).await.unwrap();
    assert_eq!(fetched[0].1[0].1.as_ref().map(|o| o.offset), Some(2));
    // A load that finishes after its partition was unloaded is dropped too.
    let late = c.begin_load(0, 1).await.unwrap();
    c.unload(0).await;
    assert!(!c.finish_load(0, late, vec![with_offset("g", 3)]));
    assert!(matches!(
        c.fetch_offsets("g", None, false).await,
        Err(GroupError::NotCoordinator(_))
    ));
    // A single broker has no partitions to load.
    let single = coordinator(Arc::new(MemoryGroupStore::new()), cfg()).await;
    assert_eq!(single.begin_load(0, 1).await, None);
}
