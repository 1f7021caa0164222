//! The controller's RocksDB storage: openraft's own storage test suite (log, vote,
//! committed, purge/truncate, applied state, snapshots), plus restarts on the same database:
//! the state machine comes back from its snapshot with the same last-applied id and image,
//! and re-applying the entries after the snapshot reaches the pre-restart image again; the
//! log and vote survive a reopen.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::testing::{log_id, StoreBuilder, Suite};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, Membership, RaftLogReader, RaftSnapshotBuilder,
    StorageError, Vote,
};
use tempfile::TempDir;

use super::{open_db, LogStore, StateMachine};
use crate::cluster::image::{Command, Image, Reply};
use crate::cluster::quorum::TypeConfig;

/// A fresh database in its own temporary directory (kept alive by the guard) per build.
struct Builder;

impl StoreBuilder<TypeConfig, LogStore, StateMachine, TempDir> for Builder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachine), StorageError<u64>> {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = open_db(dir.path()).expect("open db");
        let (sm, _image) = StateMachine::open(db.clone())?;
        Ok((dir, LogStore::new(db), sm))
    }
}

type OpenraftSuite = Suite<TypeConfig, LogStore, StateMachine, Builder, TempDir>;

/// Runs each case of openraft's storage suite — the list of `Suite::test_store` in 0.9.25
/// (pinned exactly), in its order — on a fresh store and its own runtime, as `test_all` does,
/// but with tokio's clock paused: the suite sleeps 1 s after each of its eight purges (for
/// stores that purge in the background; ours purges before returning), which would make it the
/// slowest test in the tree. `openraft_storage_suite_test_all` runs it unmodified.
#[test]
fn openraft_storage_suite() {
    macro_rules! cases {
        ($($case:ident),* $(,)?) => {$(
            paused_rt()
                .block_on(async {
                    let (_dir, store, sm) = Builder.build().await?;
                    OpenraftSuite::$case(store, sm).await
                })
                .unwrap_or_else(|e| panic!("{}: {e}", stringify!($case)));
        )*};
    }
    cases!(
        last_membership_in_log_initial,
        last_membership_in_log,
        last_membership_in_log_multi_step,
        get_membership_initial,
        get_membership_from_log_and_empty_sm,
        get_membership_from_empty_log_and_sm,
        get_membership_from_log_le_sm_last_applied,
        get_membership_from_log_gt_sm_last_applied_1,
        get_membership_from_log_gt_sm_last_applied_2,
        get_initial_state_without_init,
        get_initial_state_membership_from_log_and_sm,
        get_initial_state_with_state,
        get_initial_state_last_log_gt_sm,
        get_initial_state_last_log_lt_sm,
        get_initial_state_log_ids,
        get_initial_state_re_apply_committed,
        save_vote,
        get_log_entries,
        limited_get_log_entries,
        try_get_log_entry,
        initial_logs,
        get_log_state,
        get_log_id,
        last_id_in_log,
        last_applied_state,
        purge_logs_upto_0,
        purge_logs_upto_5,
        purge_logs_upto_20,
        delete_logs_since_11,
        delete_logs_since_0,
        append_to_log,
        snapshot_meta,
        apply_single,
        apply_multiple,
    );
    paused_rt()
        .block_on(OpenraftSuite::transfer_snapshot(&Builder))
        .expect("transfer_snapshot");
}

fn paused_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap()
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn entry(term: u64, index: u64, payload: EntryPayload<TypeConfig>) -> Entry<TypeConfig> {
    Entry {
        log_id: log_id(term, 1, index),
        payload,
    }
}

fn normal(term: u64, index: u64, cmd: Command) -> Entry<TypeConfig> {
    entry(term, index, EntryPayload::Normal(cmd))
}

fn membership(term: u64, index: u64) -> Entry<TypeConfig> {
    let voters = BTreeSet::from([1u64, 2, 3]);
    let nodes: BTreeMap<u64, BasicNode> = voters
        .iter()
        .map(|&id| (id, BasicNode::new(format!("c{id}:9093"))))
        .collect();
    entry(
        term,
        index,
        EntryPayload::Membership(Membership::new(vec![voters], nodes)),
    )
}

/// A cluster's first entries: membership, init, three brokers up, a topic.
fn first_entries() -> Vec<Entry<TypeConfig>> {
    let mut v = vec![
        entry(1, 1, EntryPayload::Blank),
        membership(1, 2),
        normal(
            1,
            3,
            Command::Init {
                cluster_id: "cluster-x".into(),
            },
        ),
    ];
    for id in 1..=3 {
        let reg = 3 + 2 * id as u64 - 1;
        v.push(normal(
            1,
            reg,
            Command::RegisterBroker {
                id,
                incarnation: format!("inc{id}"),
                host: format!("b{id}"),
                port: 9092,
                endpoints: Vec::new(),
                rack: None,
            },
        ));
        v.push(normal(
            1,
            reg + 1,
            Command::UnfenceBroker {
                id,
                epoch: reg as i64,
            },
        ));
    }
    v.push(normal(
        1,
        10,
        Command::CreateTopic {
            name: "orders".into(),
            id: uuid::Uuid::from_u128(10),
            num_partitions: 6,
            replication_factor: 3,
            assignments: Vec::new(),
            configs: BTreeMap::new(),
            start: 4,
        },
    ));
    v
}

/// Entries after the snapshot: a fence, a second topic, a leader term change.
fn later_entries() -> Vec<Entry<TypeConfig>> {
    vec![
        normal(1, 11, Command::FenceBroker { id: 2, epoch: 6 }),
        entry(2, 12, EntryPayload::Blank),
        normal(
            2,
            13,
            Command::CreateTopic {
                name: "payments".into(),
                id: uuid::Uuid::from_u128(13),
                num_partitions: 2,
                replication_factor: 2,
                assignments: Vec::new(),
                configs: BTreeMap::new(),
                start: 0,
            },
        ),
    ]
}

async fn applied(sm: &mut StateMachine) -> Option<LogId<u64>> {
    sm.applied_state().await.unwrap().0
}

#[test]
fn reopened_state_machine_resumes_from_its_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let (image_at_snapshot, membership_at_snapshot, image_at_end) = {
            let db = open_db(dir.path()).unwrap();
            let (mut sm, rx) = StateMachine::open(db).unwrap();
            assert_eq!(**rx.borrow(), Image::default());

            let replies = sm.apply(first_entries()).await.unwrap();
            assert_eq!(replies.len(), 10);
            assert!(
                replies.iter().all(|r| !matches!(r, Reply::Error { .. })),
                "{replies:?}"
            );
            assert!(matches!(&replies[9], Reply::Topic(t) if t.partitions.len() == 6));
            assert_eq!(sm.image.index, 10);
            assert_eq!(sm.image.topics["orders"].partitions.len(), 6);
            // The published image follows every apply.
            assert_eq!(**rx.borrow(), sm.image);

            let snap = sm
                .get_snapshot_builder()
                .await
                .build_snapshot()
                .await
                .unwrap();
            assert_eq!(snap.meta.last_log_id, Some(log_id(1, 1, 10)));
            let bytes = snap.snapshot.into_inner();
            let from_snapshot: Image = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(from_snapshot, sm.image);
            let at_snapshot = (sm.image.clone(), sm.applied_state().await.unwrap().1);

            // Applied after the snapshot: not in it, so not in the reopened state machine.
            sm.apply(later_entries()).await.unwrap();
            assert_eq!(applied(&mut sm).await, Some(log_id(2, 1, 13)));
            (at_snapshot.0, at_snapshot.1, sm.image.clone())
        };
        assert_ne!(image_at_snapshot, image_at_end);

        // Reopen: back at the snapshot, image and membership included.
        let db = open_db(dir.path()).unwrap();
        let (mut sm, rx) = StateMachine::open(db).unwrap();
        let (last, mem) = sm.applied_state().await.unwrap();
        assert_eq!(last, Some(log_id(1, 1, 10)));
        assert_eq!(mem, membership_at_snapshot);
        assert_eq!(mem.log_id(), &Some(log_id(1, 1, 2)));
        assert_eq!(sm.image, image_at_snapshot);
        assert_eq!(
            **rx.borrow(),
            image_at_snapshot,
            "the reopened image is published"
        );
        assert_eq!(
            serde_json::to_vec(&sm.image).unwrap(),
            serde_json::to_vec(&image_at_snapshot).unwrap()
        );
        let current = sm.get_current_snapshot().await.unwrap().expect("snapshot");
        assert_eq!(current.meta.last_log_id, Some(log_id(1, 1, 10)));

        // openraft re-applies the committed entries after the snapshot: the same image.
        sm.apply(later_entries()).await.unwrap();
        assert_eq!(applied(&mut sm).await, Some(log_id(2, 1, 13)));
        assert_eq!(sm.image, image_at_end);
        assert_eq!(**rx.borrow(), image_at_end);
    });
}

#[test]
fn state_machine_without_snapshot_reopens_empty() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        {
            let (mut sm, _rx) = StateMachine::open(open_db(dir.path()).unwrap()).unwrap();
            sm.apply(first_entries()).await.unwrap();
        }
        let (mut sm, _rx) = StateMachine::open(open_db(dir.path()).unwrap()).unwrap();
        assert_eq!(applied(&mut sm).await, None);
        assert_eq!(sm.image, Image::default());
        assert!(sm.get_current_snapshot().await.unwrap().is_none());
    });
}

#[test]
fn installed_snapshot_survives_a_reopen() {
    let (leader_dir, follower_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    rt().block_on(async {
        let (mut leader, _) = StateMachine::open(open_db(leader_dir.path()).unwrap()).unwrap();
        leader.apply(first_entries()).await.unwrap();
        let snap = leader
            .get_snapshot_builder()
            .await
            .build_snapshot()
            .await
            .unwrap();
        {
            let (mut f, rx) = StateMachine::open(open_db(follower_dir.path()).unwrap()).unwrap();
            f.install_snapshot(&snap.meta, snap.snapshot).await.unwrap();
            assert_eq!(f.image, leader.image);
            assert_eq!(**rx.borrow(), leader.image);
        }
        let (mut f, _) = StateMachine::open(open_db(follower_dir.path()).unwrap()).unwrap();
        assert_eq!(f.image, leader.image);
        assert_eq!(
            f.applied_state().await.unwrap(),
            leader.applied_state().await.unwrap()
        );
    });
}

/// Writes entries as `append` lays them out (`LogFlushed`, which `append` takes, can only be
/// built inside openraft; the suite covers `append` itself).
fn put_entries(db: &rocksdb::DB, entries: &[Entry<TypeConfig>]) {
    for e in entries {
        db.put(
            super::log_key(e.log_id.index),
            serde_json::to_vec(e).unwrap(),
        )
        .unwrap();
    }
}

fn open_log(dir: &Path) -> LogStore {
    LogStore::new(open_db(dir).unwrap())
}

#[test]
fn log_vote_and_committed_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    rt().block_on(async {
        let written = {
            let db = open_db(dir.path()).unwrap();
            put_entries(&db, &first_entries());
            let mut log = LogStore::new(db);
            log.save_vote(&Vote::new_committed(3, 2)).await.unwrap();
            log.save_committed(Some(log_id(1, 1, 9))).await.unwrap();
            log.purge(log_id(1, 1, 3)).await.unwrap();
            log.truncate(log_id(1, 1, 9)).await.unwrap();
            log.try_get_log_entries(0..).await.unwrap()
        };
        let indexes: Vec<u64> = written.iter().map(|e| e.log_id.index).collect();
        assert_eq!(indexes, (4..=8).collect::<Vec<_>>());

        let mut log = open_log(dir.path());
        assert_eq!(
            log.read_vote().await.unwrap(),
            Some(Vote::new_committed(3, 2))
        );
        assert_eq!(log.read_committed().await.unwrap(), Some(log_id(1, 1, 9)));
        let state = log.get_log_state().await.unwrap();
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 1, 3)));
        assert_eq!(state.last_log_id, Some(log_id(1, 1, 8)));
        let read = log.try_get_log_entries(0..).await.unwrap();
        assert_eq!(
            serde_json::to_vec(&read).unwrap(),
            serde_json::to_vec(&written).unwrap()
        );
        assert_eq!(log.try_get_log_entries(5..7).await.unwrap().len(), 2);
        assert_eq!(log.try_get_log_entries(5..=7).await.unwrap().len(), 3);
    });
}
