//! Share groups through the coordinator, on paused tokio time: one namespace with classic
//! groups, persistence before the answer and across a restart, session expiry on the timer
//! task, ListGroups / DeleteGroups, the deletion hook.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use super::testutil::*;
use super::*;
use crate::group::share::{ShareHeartbeatRequest, TopicMeta};
use crate::group::store::MemoryGroupStore;

fn topics() -> BTreeMap<String, TopicMeta> {
    BTreeMap::from([(
        "t".to_string(),
        TopicMeta {
            id: Uuid::from_u128(9),
            partitions: 2,
        },
    )])
}

fn hb(group: &str, member: &str, epoch: i32) -> ShareHeartbeatRequest {
    ShareHeartbeatRequest {
        group_id: group.into(),
        member_id: member.into(),
        member_epoch: epoch,
        rack_id: None,
        subscribed_topic_names: (epoch == 0).then(|| vec!["t".to_string()]),
        client_id: "share-app".into(),
        client_host: "/10.0.0.2".into(),
        session_timeout_ms: None,
        heartbeat_interval_ms: None,
    }
}

#[tokio::test(start_paused = true)]
async fn heartbeat_persists_and_survives_a_restart() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    let r = c.share_heartbeat(hb("sg", "a", 0), &topics()).await;
    assert_eq!(r.error, None);
    assert_eq!(r.member_epoch, 1);
    let stored = store.snapshot("sg").unwrap().metadata.unwrap();
    assert_eq!(stored.group_type, crate::group::kind::GroupType::Share);
    let writes = store.writes();
    // An unchanged heartbeat writes nothing.
    let r = c.share_heartbeat(hb("sg", "a", 1), &topics()).await;
    assert_eq!((r.error, r.assignment), (None, None));
    assert_eq!(store.writes(), writes);
    c.stop().await;

    let c = coordinator(store.clone(), cfg()).await;
    let d = c.share_describe(&["sg".to_string()]).await;
    let d = d[0].1.as_ref().unwrap();
    assert_eq!(
        (d.state, d.group_epoch, d.members[0].member_epoch),
        ("Stable", 1, 1)
    );
    assert_eq!(d.members[0].assignment[0].1, "t");
    // The member goes on with its epoch after the restart.
    let r = c.share_heartbeat(hb("sg", "a", 1), &topics()).await;
    assert_eq!((r.error, r.member_epoch), (None, 1));
}

#[tokio::test(start_paused = true)]
async fn a_failed_write_answers_an_error_and_changes_nothing() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    c.share_heartbeat(hb("sg", "a", 0), &topics()).await;
    store.set_failing(true);
    let r = c.share_heartbeat(hb("sg", "b", 0), &topics()).await;
    assert_eq!(r.error.map(|e| e.kafka_code()), Some(15));
    store.set_failing(false);
    let d = c.share_describe(&["sg".to_string()]).await;
    assert_eq!(d[0].1.as_ref().unwrap().members.len(), 1);
    // A join that created the group and failed leaves no group behind.
    store.set_failing(true);
    let r = c.share_heartbeat(hb("other", "a", 0), &topics()).await;
    assert!(r.error.is_some());
    store.set_failing(false);
    let d = c.share_describe(&["other".to_string()]).await;
    assert_eq!(d[0].1.as_ref().unwrap_err().kafka_code(), 69);
}

#[tokio::test(start_paused = true)]
async fn one_namespace_for_classic_and_share_groups() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    let j = join(&c, "classic", "app").await;
    assert_eq!(j.error, None);
    let r = c.share_heartbeat(hb("classic", "a", 0), &topics()).await;
    let e = r.error.unwrap();
    assert_eq!(e.kafka_code(), 69);
    assert_eq!(e.to_string(), "Group classic is not a share group.");

    c.share_heartbeat(hb("sg", "a", 0), &topics()).await;
    let j = c.join(join_req("sg", "app", "")).await;
    assert_eq!(j.error.map(|e| e.kafka_code()), Some(23));
    let d = c.describe(&["sg".to_string()]).await;
    let e = d[0].1.as_ref().unwrap_err();
    assert_eq!(e.to_string(), "Group sg is not a classic group.");
    let commit = CommitRequest {
        group_id: "sg".into(),
        member_id: String::new(),
        generation_id: -1,
        group_instance_id: None,
        offsets: vec![("t".into(), 0, offset(1))],
    };
    assert_eq!(c.commit_offsets(commit).await.unwrap_err().kafka_code(), 69);
    let hbr = HeartbeatRequest {
        group_id: "sg".into(),
        generation_id: 1,
        member_id: "a".into(),
        group_instance_id: None,
    };
    assert_eq!(c.heartbeat(hbr).await.unwrap_err().kafka_code(), 69);

    let listed = c.list(&[], &[]).await.unwrap();
    let kinds: Vec<(&str, &str, &str)> = listed
        .iter()
        .map(|g| (g.group_id.as_str(), g.group_type, g.protocol_type.as_str()))
        .collect();
    assert_eq!(
        kinds,
        vec![("classic", "classic", "consumer"), ("sg", "share", "share")]
    );
    let shares = c.list(&[], &["Share".to_string()]).await.unwrap();
    assert_eq!(shares.len(), 1);
    assert_eq!(shares[0].state, "Stable");
    let described = c
        .share_describe(&["classic".into(), "nope".into(), "".into()])
        .await;
    let codes: Vec<i16> = described
        .iter()
        .map(|(_, r)| r.as_ref().unwrap_err().kafka_code())
        .collect();
    assert_eq!(codes, vec![69, 69, 24]);
    assert_eq!(c.describe_share_groups().len(), 1);
    assert_eq!(c.describe_all().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn only_empty_share_groups_are_deleted_and_the_hook_runs() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    let deleted = Arc::new(AtomicUsize::new(0));
    let seen = deleted.clone();
    c.on_share_group_deleted(Arc::new(move |g: &str| {
        assert_eq!(g, "sg");
        seen.fetch_add(1, Ordering::SeqCst);
    }));
    c.share_heartbeat(hb("sg", "a", 0), &topics()).await;
    let r = c.delete(&["sg".to_string()]).await;
    assert_eq!(r[0].1.as_ref().unwrap_err().kafka_code(), 68);
    let left = c.share_heartbeat(hb("sg", "a", -1), &topics()).await;
    assert_eq!((left.error, left.member_epoch), (None, -1));
    // An empty share group is not removed by the offset retention pass.
    c.expire_offsets(c.now_ms() + 365 * 86_400_000).await;
    assert_eq!(c.list(&[], &[]).await.unwrap().len(), 1);
    let r = c.delete(&["sg".to_string()]).await;
    assert_eq!(r[0].1, Ok(()));
    assert_eq!(deleted.load(Ordering::SeqCst), 1);
    assert!(store.snapshot("sg").is_none());
    // Only a join creates a share group.
    let r = c.share_heartbeat(hb("sg", "a", 1), &topics()).await;
    assert_eq!(r.error.map(|e| e.kafka_code()), Some(69));
}

#[tokio::test(start_paused = true)]
async fn silent_member_is_removed_by_the_timer() {
    let store = Arc::new(MemoryGroupStore::new());
    let config = GroupConfig {
        share_session_timeout_ms: 10_000,
        ..cfg()
    };
    let c = coordinator(store.clone(), config).await;
    c.share_heartbeat(hb("sg", "a", 0), &topics()).await;
    c.share_heartbeat(hb("sg", "b", 0), &topics()).await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(4_000)).await;
        let r = c.share_heartbeat(hb("sg", "b", 2), &topics()).await;
        assert_eq!(r.error, None);
    }
    let d = c.share_describe(&["sg".to_string()]).await;
    let d = d[0].1.as_ref().unwrap();
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id, "b");
    assert_eq!(d.group_epoch, 3);
    // Persisted too.
    let stored = store.snapshot("sg").unwrap().metadata.unwrap();
    assert_eq!(stored.share.unwrap().members.len(), 1);
}

#[tokio::test(start_paused = true)]
async fn partitions_a_known_topic_gains_are_initialized_before_the_answer() {
    let store = Arc::new(MemoryGroupStore::new());
    let c = coordinator(store.clone(), cfg()).await;
    let calls = Arc::new(std::sync::Mutex::new(Vec::new()));
    let fail = Arc::new(std::sync::atomic::AtomicBool::new(true));
    let (seen, failing) = (calls.clone(), fail.clone());
    c.on_share_partitions_added(Arc::new(move |g: &str, added: &[(Uuid, i32)]| {
        seen.lock().unwrap().push((g.to_string(), added.to_vec()));
        if failing.load(Ordering::SeqCst) {
            return Err(GroupError::CoordinatorNotAvailable("store down".into()));
        }
        Ok(())
    }));
    // A topic seen for the first time: nothing to initialize.
    let r = c.share_heartbeat(hb("sg", "a", 0), &topics()).await;
    assert_eq!((r.error, r.member_epoch), (None, 1));
    assert!(calls.lock().unwrap().is_empty());
    let mut grown = topics();
    grown.get_mut("t").unwrap().partitions = 4;
    let id = Uuid::from_u128(9);
    // The hook fails: the heartbeat fails and the group is as before.
    let writes = store.writes();
    let r = c.share_heartbeat(hb("sg", "a", 1), &grown).await;
    assert_eq!(r.error.map(|e| e.kafka_code()), Some(15));
    assert_eq!(store.writes(), writes);
    let d = c.share_describe(&["sg".to_string()]).await;
    assert_eq!(d[0].1.as_ref().unwrap().group_epoch, 1);
    // The retry sees the new partitions again; they are initialized before the assignment.
    fail.store(false, Ordering::SeqCst);
    let r = c.share_heartbeat(hb("sg", "a", 1), &grown).await;
    assert_eq!((r.error, r.member_epoch), (None, 2));
    assert_eq!(
        r.assignment.unwrap(),
        vec![(id, vec![0, 1, 2, 3])],
        "the member gets the new partitions"
    );
    let expected = ("sg".to_string(), vec![(id, 2), (id, 3)]);
    assert_eq!(*calls.lock().unwrap(), vec![expected.clone(), expected]);
    // Once known, no more calls.
    c.share_heartbeat(hb("sg", "a", 2), &grown).await;
    assert_eq!(calls.lock().unwrap().len(), 2);
}
