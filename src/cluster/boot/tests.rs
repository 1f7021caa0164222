//! Crash-atomicity of topic create/delete and boot reconciliation, at the controller layer:
//! each test builds the on-disk state a crash leaves between two steps (by running the first
//! steps through the real code, then dropping everything without a clean shutdown), boots a
//! new controller on it, and checks that deleted records never come back and nothing is left
//! behind. Also: the one delete workflow drops committed offsets, and a cluster node's replica
//! removal (a reassignment moved the partition away) interrupted on either side of its
//! directory rename deletes that replica only.

use std::path::Path;
use std::sync::Arc;

use super::RecoveryReport;
use crate::cluster::controller::{Controller, NewTopic};
use crate::cluster::{MetadataView, NodeInfo};
use crate::config::Config;
use crate::group::{CommitRequest, CommittedOffset, GroupCoordinator};
use crate::log::manager::{read_topic_id, write_topic_id};
use crate::log::testutil::BatchBuilder;
use crate::log::LogManager;
use crate::store::Store;

/// A controller over `dir` (store in `meta/`, logs in `logs/`), recovered like at boot.
fn boot(dir: &Path) -> (Controller, RecoveryReport) {
    boot_as(dir, false)
}

/// [`boot`] as a cluster node (it hosts only the partitions it is a replica of).
fn boot_as(dir: &Path, cluster: bool) -> (Controller, RecoveryReport) {
    let cfg = Config::default();
    let store = Arc::new(Store::open(&dir.join("meta")).unwrap());
    let logs = Arc::new(LogManager::open(&dir.join("logs")).unwrap());
    let groups = GroupCoordinator::open(0, &cfg.group, store.clone()).unwrap();
    let node = NodeInfo {
        node_id: 0,
        host: "localhost".into(),
        port: 9092,
        rack: None,
    };
    let view = Arc::new(MetadataView::new(Vec::new()));
    let c = Controller::new(
        node,
        crate::cluster::topic_config::BrokerLayers::from_static(cfg.log.clone()),
        Default::default(),
        store,
        logs,
        view,
        groups,
    )
    .in_cluster(cluster);
    let report = c.recover(0).unwrap();
    (c, report)
}

fn new_topic(name: &str, partitions: i32) -> NewTopic {
    NewTopic {
        name: name.into(),
        num_partitions: partitions,
        replication_factor: -1,
        assignments: Vec::new(),
        configs: Default::default(),
    }
}

/// Creates `name` with `partitions` partitions holding 3 records each.
fn create_with_records(c: &Controller, name: &str, partitions: i32) -> u128 {
    let t = c
        .create_topic(&new_topic(name, partitions), false, 0)
        .unwrap();
    for p in 0..partitions {
        let log = c.logs.get(name, p).unwrap();
        log.append(&BatchBuilder::new().records(3).build(), 0, 0)
            .unwrap();
    }
    t.id.as_u128()
}

/// Names in the log directory, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// After boot: `name` is absent everywhere and re-creating it starts every partition empty.
fn assert_gone_and_recreated_empty(c: &Controller, dir: &Path, name: &str) {
    assert!(c.view.topic(name).is_none());
    assert!(c
        .store
        .load_topics()
        .unwrap()
        .iter()
        .all(|t| t.name != name));
    assert!(
        entries(dir)
            .iter()
            .all(|e| !e.starts_with(&format!("{name}-"))),
        "{:?}",
        entries(dir)
    );
    c.create_topic(&new_topic(name, 2), false, 0).unwrap();
    for p in 0..2 {
        assert_eq!(c.logs.get(name, p).unwrap().log_end_offset(), 0);
    }
}

#[test]
fn create_records_the_topic_id_in_every_partition() {
    let d = tempfile::tempdir().unwrap();
    let (c, _) = boot(d.path());
    let id = create_with_records(&c, "t", 3);
    for p in 0..3 {
        let dir = c.logs.partition_dir("t", p);
        assert_eq!(read_topic_id(&dir).unwrap(), Some(id));
    }
    assert_eq!(entries(d.path()), vec!["t-0", "t-1", "t-2"]);
    c.create_partitions("t", 4, None, false, 0).unwrap();
    assert_eq!(
        read_topic_id(&c.logs.partition_dir("t", 3)).unwrap(),
        Some(id)
    );
}

#[test]
fn delete_removes_everything_and_a_restart_keeps_it_gone() {
    let d = tempfile::tempdir().unwrap();
    {
        let (c, _) = boot(d.path());
        create_with_records(&c, "t", 2);
        create_with_records(&c, "keep", 1);
        c.delete_topic("t").unwrap();
        assert_eq!(entries(d.path()), vec!["keep-0"]);
    }
    let (c, report) = boot(d.path());
    assert_eq!(report, RecoveryReport::default());
    assert_eq!(c.logs.get("keep", 0).unwrap().log_end_offset(), 3);
    assert_gone_and_recreated_empty(&c, d.path(), "t");
}

#[test]
fn crash_after_retiring_before_the_store_commit_finishes_the_delete() {
    let d = tempfile::tempdir().unwrap();
    {
        let (c, _) = boot(d.path());
        create_with_records(&c, "t", 2);
        create_with_records(&c, "keep", 1);
        // Step 1 of the delete, then the process dies: the store still has the topic.
        c.logs.retire_topic("t").unwrap();
    }
    let (c, report) = boot(d.path());
    assert_eq!(report.finished_deletes, vec!["t".to_string()]);
    assert!(report.quarantined.is_empty());
    assert_eq!(c.logs.get("keep", 0).unwrap().log_end_offset(), 3);
    assert_gone_and_recreated_empty(&c, d.path(), "t");
}

#[test]
fn crash_half_way_through_the_renames_finishes_the_delete() {
    let d = tempfile::tempdir().unwrap();
    {
        let (c, _) = boot(d.path());
        create_with_records(&c, "t", 3);
    }
    // Only partition 1 was renamed when the process died.
    let logs = d.path().join("logs");
    std::fs::rename(logs.join("t-1"), logs.join("t-1.17.deleted")).unwrap();
    let (c, report) = boot(d.path());
    assert_eq!(report.finished_deletes, vec!["t".to_string()]);
    assert_gone_and_recreated_empty(&c, d.path(), "t");
}

#[test]
fn crash_after_the_store_commit_removes_the_leftovers() {
    let d = tempfile::tempdir().unwrap();
    {
        let (c, _) = boot(d.path());
        create_with_records(&c, "t", 2);
        c.logs.retire_topic("t").unwrap();
        c.store.delete_topic("t").unwrap();
    }
    let (c, report) = boot(d.path());
    assert!(report.finished_deletes.is_empty());
    assert_eq!(report.removed_leftovers, 2);
    assert_eq!(entries(d.path()), Vec::<String>::new());
    assert_gone_and_recreated_empty(&c, d.path(), "t");
}

#[test]
fn a_deleted_dir_of_an_earlier_topic_never_deletes_the_new_one() {
    let d = tempfile::tempdir().unwrap();
    {
        let (c, _) = boot(d.path());
        let old = create_with_records(&c, "t", 1);
        c.delete_topic("t").unwrap();
        create_with_records(&c, "t", 1);
        // A leftover of the old incarnation that could not be removed at the time.
        let stale = d.path().join("logs").join("t-0.5.deleted");
        std::fs::create_dir(&stale).unwrap();
        write_topic_id(&stale, old).unwrap();
    }
    let (c, report) = boot(d.path());
    assert!(report.finished_deletes.is_empty());
    assert_eq!(c.logs.get("t", 0).unwrap().log_end_offset(), 3);
    assert_eq!(entries(d.path()), vec!["t-0"]);
}

#[test]
fn crash_before_the_create_commit_leaves_nothing() {
    let d = tempfile::tempdir().unwrap();
    {
        let (c, _) = boot(d.path());
        c.logs.stage_partitions("t", 7, &[0, 1]).unwrap();
    }
    assert_eq!(entries(d.path()).len(), 2);
    let (c, report) = boot(d.path());
    assert_eq!(report.removed_leftovers, 2);
    assert_eq!(entries(d.path()), Vec::<String>::new());
    assert_gone_and_recreated_empty(&c, d.path(), "t");
}

#[test]
fn crash_after_the_create_commit_completes_the_topic() {
    let d = tempfile::tempdir().unwrap();
    let id;
    {
        let (c, _) = boot(d.path());
        // Validate-only gives a planned topic without touching anything.
        let t = c.create_topic(&new_topic("t", 2), true, 0).unwrap();
        id = t.id.as_u128();
        c.logs.stage_partitions("t", id, &[0, 1]).unwrap();
        c.store.put_topic(&t.to_record()).unwrap();
    }
    let (c, report) = boot(d.path());
    assert_eq!(report.removed_leftovers, 2);
    assert_eq!(report.created_missing, 2);
    assert_eq!(entries(d.path()), vec!["t-0", "t-1"]);
    let t = c.view.topic("t").unwrap();
    assert_eq!(t.id.as_u128(), id);
    for p in 0..2 {
        assert_eq!(c.logs.get("t", p).unwrap().log_end_offset(), 0);
        assert_eq!(
            read_topic_id(&c.logs.partition_dir("t", p)).unwrap(),
            Some(id)
        );
    }
}

#[test]
fn orphan_directories_are_quarantined_never_adopted() {
    let d = tempfile::tempdir().unwrap();
    {
        let (c, _) = boot(d.path());
        create_with_records(&c, "lost", 1);
        create_with_records(&c, "t", 1);
        // The store forgets "lost" and shrinks nothing else; "t" gets a stray partition 5
        // and a partition 0 directory from another topic id.
        c.store.delete_topic("lost").unwrap();
        let logs = c.logs.data_dir().to_path_buf();
        std::fs::create_dir(logs.join("t-5")).unwrap();
        write_topic_id(&logs.join("t-5"), c.view.topic("t").unwrap().id.as_u128()).unwrap();
    }
    let (c, report) = boot(d.path());
    assert_eq!(report.quarantined.len(), 2, "{report:?}");
    assert!(c.view.topic("lost").is_none());
    assert_eq!(c.logs.get("t", 0).unwrap().log_end_offset(), 3);
    let names = entries(d.path());
    assert_eq!(names.iter().filter(|n| n.ends_with(".orphan")).count(), 2);
    assert!(names
        .iter()
        .any(|n| n.starts_with("lost-0.") && n.ends_with(".orphan")));
    // The quarantined data is kept, and a re-created topic does not see it.
    let orphan = report.quarantined.iter().find(|p| {
        p.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("lost-0.")
    });
    assert!(orphan.unwrap().join("00000000000000000000.log").exists());
    c.create_topic(&new_topic("lost", 1), false, 0).unwrap();
    assert_eq!(c.logs.get("lost", 0).unwrap().log_end_offset(), 0);
    // Orphans stay put across restarts and are not quarantined twice.
    drop(c);
    let (_, report) = boot(d.path());
    assert!(report.quarantined.is_empty());
}

#[test]
fn a_directory_of_an_earlier_topic_id_is_quarantined() {
    let d = tempfile::tempdir().unwrap();
    {
        let (c, _) = boot(d.path());
        create_with_records(&c, "t", 1);
        write_topic_id(&c.logs.partition_dir("t", 0), 12345).unwrap();
    }
    let (c, report) = boot(d.path());
    assert_eq!(report.quarantined.len(), 1);
    assert_eq!(report.created_missing, 1);
    assert_eq!(c.logs.get("t", 0).unwrap().log_end_offset(), 0);
}

#[test]
fn directories_from_before_topic_ids_are_kept_and_stamped() {
    let d = tempfile::tempdir().unwrap();
    let id;
    {
        let (c, _) = boot(d.path());
        id = create_with_records(&c, "t", 1);
        std::fs::remove_file(
            c.logs
                .partition_dir("t", 0)
                .join(crate::log::manager::PARTITION_METADATA_FILE),
        )
        .unwrap();
    }
    let (c, report) = boot(d.path());
    assert_eq!(report, RecoveryReport::default());
    assert_eq!(c.logs.get("t", 0).unwrap().log_end_offset(), 3);
    assert_eq!(
        read_topic_id(&c.logs.partition_dir("t", 0)).unwrap(),
        Some(id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_drops_committed_offsets_for_every_group() {
    let d = tempfile::tempdir().unwrap();
    let (c, _) = boot(d.path());
    let c = Arc::new(c);
    let c2 = c.clone();
    tokio::task::spawn_blocking(move || {
        create_with_records(&c2, "t", 2);
        create_with_records(&c2, "other", 1);
    })
    .await
    .unwrap();
    let offset = |o| CommittedOffset {
        offset: o,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp_ms: 0,
    };
    for g in ["g1", "g2"] {
        c.groups
            .commit_offsets(CommitRequest {
                group_id: g.into(),
                member_id: String::new(),
                generation_id: -1,
                group_instance_id: None,
                offsets: vec![
                    ("t".into(), 0, offset(2)),
                    ("t".into(), 1, offset(1)),
                    ("other".into(), 0, offset(3)),
                ],
            })
            .await
            .unwrap();
    }
    let c2 = c.clone();
    tokio::task::spawn_blocking(move || c2.delete_topic("t").unwrap())
        .await
        .unwrap();
    for g in ["g1", "g2"] {
        let fetched = c.groups.fetch_offsets(g, None, false).await.unwrap();
        assert_eq!(fetched.len(), 1, "{fetched:?}");
        assert_eq!(fetched[0].0, "other");
        assert_eq!(fetched[0].1[0].1.as_ref().map(|o| o.offset), Some(3));
    }
    // A re-created topic starts without positions.
    let c2 = c.clone();
    tokio::task::spawn_blocking(move || c2.create_topic(&new_topic("t", 2), false, 0).unwrap())
        .await
        .unwrap();
    let t = [("t".to_string(), vec![0, 1])];
    let fetched = c.groups.fetch_offsets("g1", Some(&t), false).await.unwrap();
    assert!(fetched[0].1.iter().all(|(_, o)| o.is_none()), "{fetched:?}");
}

/// A cluster node's topic `t` (2 partitions with records) whose partition 1 a reassignment
/// moved to broker 5: the store commit done, the directory not yet deleted.
fn removed_replica_committed(dir: &Path) {
    let (c, _) = boot_as(dir, true);
    create_with_records(&c, "t", 2);
    let mut moved = (*c.view.topic("t").unwrap()).clone();
    let p = &mut moved.partitions[1];
    (p.replicas, p.isr, p.leader) = (vec![5], vec![5], 5);
    c.store.put_topic(&moved.to_record()).unwrap();
}

fn assert_only_the_moved_replica_is_gone(c: &Controller, dir: &Path, report: &RecoveryReport) {
    assert!(report.finished_deletes.is_empty(), "{report:?}");
    assert!(report.quarantined.is_empty(), "{report:?}");
    assert_eq!(report.removed_leftovers, 1);
    assert_eq!(entries(dir), vec!["t-0"]);
    assert_eq!(c.logs.get("t", 0).unwrap().log_end_offset(), 3);
    assert!(c.logs.get("t", 1).is_none());
    assert_eq!(c.view.topic("t").unwrap().partitions[1].replicas, vec![5]);
}

#[test]
fn a_moved_replica_whose_directory_was_not_renamed_yet_is_deleted() {
    let d = tempfile::tempdir().unwrap();
    removed_replica_committed(d.path());
    let (c, report) = boot_as(d.path(), true);
    assert_only_the_moved_replica_is_gone(&c, d.path(), &report);
}

#[test]
fn a_moved_replica_set_aside_never_deletes_its_topic() {
    let d = tempfile::tempdir().unwrap();
    removed_replica_committed(d.path());
    let logs = d.path().join("logs");
    std::fs::rename(logs.join("t-1"), logs.join("t-1.17.deleted")).unwrap();
    let (c, report) = boot_as(d.path(), true);
    assert_only_the_moved_replica_is_gone(&c, d.path(), &report);
}
