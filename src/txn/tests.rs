use std::sync::atomic::{AtomicBool, AtomicI64};

use super::store::MemoryTxnStore;
use super::*;

/// Records every marker; fails them while `fail` is set.
#[derive(Default)]
struct Recorder {
    written: StdMutex<Vec<(Participant, Marker)>>,
    fail: AtomicBool,
}

impl MarkerSink for Recorder {
    fn write_marker<'a>(&'a self, to: &'a Participant, marker: Marker) -> MarkerFuture<'a> {
        Box::pin(async move {
            if self.fail.load(Ordering::Relaxed) {
                return Err(MarkerError::Retry("injected".into()));
            }
            lock(&self.written).push((to.clone(), marker));
            Ok(())
        })
    }
}

struct Fixture {
    coord: TxnCoordinator,
    store: Arc<MemoryTxnStore>,
    markers: Arc<Recorder>,
    now: Arc<AtomicI64>,
}

fn fixture_with(store: Arc<MemoryTxnStore>) -> Fixture {
    let now = Arc::new(AtomicI64::new(1_000_000));
    let clock_now = now.clone();
    let next_id = Arc::new(AtomicI64::new(100));
    let coord = TxnCoordinator::open(
        TxnConfig::default(),
        store.clone(),
        Arc::new(move || Ok(next_id.fetch_add(1, Ordering::Relaxed))),
        Arc::new(move || clock_now.load(Ordering::Relaxed)),
    )
    .unwrap();
    let markers = Arc::new(Recorder::default());
    coord.start(markers.clone());
    Fixture {
        coord,
        store,
        markers,
        now,
    }
}

fn fixture() -> Fixture {
    fixture_with(Arc::new(MemoryTxnStore::default()))
}

fn part(t: &str, p: i32) -> Participant {
    Participant::Partition {
        topic: t.into(),
        partition: p,
    }
}

async fn state_of(f: &Fixture, id: &str) -> TxnState {
    f.coord.transaction(id).await.unwrap().unwrap().state
}

/// Waits (virtual time) until the transaction leaves its Prepare* state.
async fn settle(f: &Fixture, id: &str) {
    for _ in 0..1000 {
        if !state_of(f, id).await.is_preparing() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("transaction {id} never completed");
}

#[tokio::test(start_paused = true)]
async fn commit_writes_a_marker_to_every_participant_then_completes() {
    let f = fixture();
    let (pid, epoch) = f.coord.init_producer_id("t", 60_000, None).await.unwrap();
    assert_eq!((pid, epoch), (100, 0));
    let group = Participant::Group {
        group_id: "g".into(),
    };
    f.coord
        .add_participants("t", pid, epoch, vec![part("a", 0), part("b", 2)])
        .await
        .unwrap();
    f.coord
        .add_participants("t", pid, epoch, vec![group.clone()])
        .await
        .unwrap();
    f.coord.end_txn("t", pid, epoch, true).await.unwrap();
    settle(&f, "t").await;
    assert_eq!(state_of(&f, "t").await, TxnState::CompleteCommit);
    let written = lock(&f.markers.written).clone();
    assert_eq!(written.len(), 3);
    assert!(written
        .iter()
        .all(|(_, m)| m.commit && m.producer_id == pid && m.producer_epoch == 0));
    // The durable record says the same.
    let stored = f.store.load().unwrap();
    assert_eq!(stored[0].state, TxnState::CompleteCommit);
    // A retried EndTxn is answered without a second set of markers.
    f.coord.end_txn("t", pid, epoch, true).await.unwrap();
    assert_eq!(lock(&f.markers.written).len(), 3);
}

#[tokio::test(start_paused = true)]
async fn the_next_transaction_waits_for_the_markers() {
    let f = fixture();
    let (pid, epoch) = f.coord.init_producer_id("t", 60_000, None).await.unwrap();
    f.coord
        .add_participants("t", pid, epoch, vec![part("a", 0)])
        .await
        .unwrap();
    f.markers.fail.store(true, Ordering::Relaxed);
    f.coord.end_txn("t", pid, epoch, false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(state_of(&f, "t").await, TxnState::PrepareAbort);
    assert_eq!(
        f.coord
            .add_participants("t", pid, epoch, vec![part("a", 0)])
            .await,
        Err(KafkaError::ConcurrentTransactions)
    );
    assert!(f.coord.counters().marker_retries.load(Ordering::Relaxed) > 0);
    f.markers.fail.store(false, Ordering::Relaxed);
    settle(&f, "t").await;
    assert_eq!(state_of(&f, "t").await, TxnState::CompleteAbort);
    f.coord
        .add_participants("t", pid, epoch, vec![part("a", 0)])
        .await
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_prepared_transaction_is_completed_after_a_restart() {
    let store = Arc::new(MemoryTxnStore::default());
    {
        let f = fixture_with(store.clone());
        let (pid, epoch) = f.coord.init_producer_id("t", 60_000, None).await.unwrap();
        f.coord
            .add_participants("t", pid, epoch, vec![part("a", 0)])
            .await
            .unwrap();
        f.markers.fail.store(true, Ordering::Relaxed);
        f.coord.end_txn("t", pid, epoch, true).await.unwrap();
        f.coord.stop();
    }
    assert_eq!(store.load().unwrap()[0].state, TxnState::PrepareCommit);
    let f = fixture_with(store);
    settle(&f, "t").await;
    assert_eq!(state_of(&f, "t").await, TxnState::CompleteCommit);
    assert_eq!(lock(&f.markers.written).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_new_producer_fences_the_old_one_and_aborts_its_transaction() {
    let f = fixture();
    let (pid, e0) = f.coord.init_producer_id("t", 60_000, None).await.unwrap();
    f.coord
        .add_participants("t", pid, e0, vec![part("a", 0)])
        .await
        .unwrap();
    assert_eq!(
        f.coord.init_producer_id("t", 60_000, None).await,
        Err(KafkaError::ConcurrentTransactions)
    );
    settle(&f, "t").await;
    let (pid2, e2) = f.coord.init_producer_id("t", 60_000, None).await.unwrap();
    assert_eq!((pid2, e2), (pid, 2));
    let written = lock(&f.markers.written).clone();
    assert_eq!(written.len(), 1);
    assert!(!written[0].1.commit);
    assert_eq!(
        written[0].1.producer_epoch, 1,
        "the abort carries the fencing epoch"
    );
    assert_eq!(
        f.coord.end_txn("t", pid, e0, true).await,
        Err(KafkaError::ProducerFenced)
    );
    assert_eq!(f.coord.counters().fenced.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn a_transaction_open_past_its_timeout_is_aborted() {
    let f = fixture();
    let (pid, epoch) = f.coord.init_producer_id("t", 1_000, None).await.unwrap();
    f.coord
        .add_participants("t", pid, epoch, vec![part("a", 0)])
        .await
        .unwrap();
    f.coord.abort_timed_out().await;
    assert_eq!(state_of(&f, "t").await, TxnState::Ongoing);
    f.now.fetch_add(1_001, Ordering::Relaxed);
    f.coord.abort_timed_out().await;
    settle(&f, "t").await;
    assert_eq!(state_of(&f, "t").await, TxnState::CompleteAbort);
    assert_eq!(f.coord.counters().timed_out.load(Ordering::Relaxed), 1);
}

#[tokio::test(start_paused = true)]
async fn timeouts_above_the_maximum_and_store_failures_are_refused() {
    let f = fixture();
    assert_eq!(
        f.coord.init_producer_id("t", 900_001, None).await,
        Err(KafkaError::InvalidTransactionTimeout)
    );
    let (pid, epoch) = f.coord.init_producer_id("t", 60_000, None).await.unwrap();
    f.store.fail.store(true, Ordering::Relaxed);
    assert_eq!(
        f.coord
            .add_participants("t", pid, epoch, vec![part("a", 0)])
            .await,
        Err(KafkaError::CoordinatorNotAvailable)
    );
    // Memory did not run ahead of the store.
    assert_eq!(state_of(&f, "t").await, TxnState::Empty);
}

#[tokio::test(start_paused = true)]
async fn appends_are_checked_against_the_open_transaction() {
    let f = fixture();
    assert_eq!(
        f.coord.lock_for_append("nope").await.err(),
        Some(KafkaError::InvalidProducerIdMapping)
    );
    let (pid, epoch) = f.coord.init_producer_id("t", 60_000, None).await.unwrap();
    f.coord
        .add_participants("t", pid, epoch, vec![part("a", 0)])
        .await
        .unwrap();
    let permit = f.coord.lock_for_append("t").await.unwrap();
    assert_eq!(permit.verify(pid, epoch, "a", 0), Ok(()));
    assert_eq!(
        permit.verify(pid, epoch, "a", 1),
        Err(KafkaError::InvalidTxnState)
    );
    // EndTxn waits for the permit: no batch lands after the decision.
    let c = f.coord.clone();
    let end = tokio::spawn(async move { c.end_txn("t", pid, epoch, true).await });
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!end.is_finished());
    drop(permit);
    end.await.unwrap().unwrap();
}

#[tokio::test(start_paused = true)]
async fn idle_ids_expire_and_their_producer_starts_afresh() {
    let f = fixture();
    let week = TxnConfig::default().id_expiration_ms;
    let (old_pid, _) = f
        .coord
        .init_producer_id("idle", 60_000, None)
        .await
        .unwrap();
    let (busy_pid, busy_epoch) = f
        .coord
        .init_producer_id("busy", 60_000, None)
        .await
        .unwrap();
    f.coord
        .add_participants("busy", busy_pid, busy_epoch, vec![part("t", 0)])
        .await
        .unwrap();
    assert_eq!(f.coord.sample().open, 1, "one transaction open");
    // Not yet expired.
    f.now.fetch_add(week - 1, Ordering::Relaxed);
    assert_eq!(f.coord.remove_expired_ids().await, 0);
    f.now.fetch_add(1, Ordering::Relaxed);
    // The open transaction keeps its id however old it is (its timeout aborts it instead).
    assert_eq!(f.coord.remove_expired_ids().await, 1);
    assert!(f.coord.transaction("idle").await.unwrap().is_none());
    assert!(!lock(&f.store.records).contains_key("idle"));
    assert!(f.coord.transaction("busy").await.unwrap().is_some());
    // Requests for the forgotten id are refused as for any unknown id; a new
    // InitProducerId starts it again with a new producer id.
    assert_eq!(
        f.coord.end_txn("idle", old_pid, 0, true).await,
        Err(KafkaError::InvalidProducerIdMapping)
    );
    let (new_pid, epoch) = f
        .coord
        .init_producer_id("idle", 60_000, None)
        .await
        .unwrap();
    assert_ne!(new_pid, old_pid);
    assert_eq!(epoch, 0);
    f.coord
        .end_txn("busy", busy_pid, busy_epoch, true)
        .await
        .unwrap();
    settle(&f, "busy").await;
    assert_eq!(
        f.coord.sample().open,
        0,
        "the committed transaction is no longer open"
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_init_leaves_no_slot_behind() {
    let f = fixture();
    f.store.fail.store(true, Ordering::Relaxed);
    for i in 0..100 {
        let id = format!("fresh-{i}");
        assert_eq!(
            f.coord.init_producer_id(&id, 60_000, None).await,
            Err(KafkaError::CoordinatorNotAvailable)
        );
    }
    assert!(lock(&f.coord.inner.slots).is_empty());
    assert!(f.coord.transactions().await.is_empty());
    f.store.fail.store(false, Ordering::Relaxed);
    assert!(f
        .coord
        .init_producer_id("fresh-0", 60_000, None)
        .await
        .is_ok());
}

#[tokio::test(start_paused = true)]
async fn a_request_racing_an_expiry_never_writes_into_a_dead_slot() {
    let f = fixture();
    f.coord.init_producer_id("x", 60_000, None).await.unwrap();
    f.now
        .fetch_add(TxnConfig::default().id_expiration_ms, Ordering::Relaxed);
    // Hold the slot's lock, start an InitProducerId that waits for it, then expire the id.
    let held = f.coord.lock_slot("x", false).await.unwrap();
    let coord = f.coord.clone();
    let waiter = tokio::spawn(async move { coord.init_producer_id("x", 60_000, None).await });
    tokio::task::yield_now().await;
    let store = f.store.clone();
    store.delete("x").unwrap();
    f.coord.remove_slot("x", &held);
    drop(held);
    let (pid, epoch) = waiter.await.unwrap().unwrap();
    // The waiter started the id anew in the live slot, and it is stored.
    assert_eq!(epoch, 0);
    assert_eq!(
        f.coord.transaction("x").await.unwrap().unwrap().producer_id,
        pid
    );
    assert!(lock(&f.store.records).contains_key("x"));
}

fn set_owner(f: &Fixture, not_owner: Option<KafkaError>) {
    *lock(&f.store.not_owner) = not_owner;
}

/// Cluster mode: a transaction the previous coordinator left in PrepareCommit arrives with
/// the partition's load; the new coordinator writes its markers at its own coordinator epoch
/// and completes it.
#[tokio::test(start_paused = true)]
async fn a_loaded_prepared_transaction_is_completed_by_the_new_coordinator() {
    let f = fixture();
    f.store.epoch.store(7, Ordering::Relaxed);
    let mut prepared = TxnMetadata::new("t", 42, 60_000, 5);
    prepared.state = TxnState::PrepareCommit;
    prepared.participants.insert(part("a", 1));
    prepared.participants.insert(Participant::Group {
        group_id: "g".into(),
    });
    let idle = TxnMetadata::new("u", 43, 60_000, 5);
    f.coord.load(vec![prepared, idle], 7).await;
    settle(&f, "t").await;
    assert_eq!(state_of(&f, "t").await, TxnState::CompleteCommit);
    let written = lock(&f.markers.written).clone();
    assert_eq!(written.len(), 2);
    assert!(written
        .iter()
        .all(|(_, m)| m.commit && m.producer_id == 42 && m.coordinator_epoch == 7));
    assert_eq!(f.store.load().unwrap()[0].state, TxnState::CompleteCommit);
    assert_eq!(f.coord.sample().open, 0);
    // The idle id is served with the producer id it had.
    let (pid, epoch) = f.coord.init_producer_id("u", 60_000, None).await.unwrap();
    assert_eq!((pid, epoch), (43, 1));
}

/// Cluster mode: ids of a partition this broker no longer leads answer NOT_COORDINATOR
/// (COORDINATOR_LOAD_IN_PROGRESS while loading) and no slot is created for them.
#[tokio::test(start_paused = true)]
async fn ids_led_elsewhere_or_loading_are_refused_and_unload_forgets_them() {
    let f = fixture();
    let (pid, epoch) = f.coord.init_producer_id("t", 60_000, None).await.unwrap();
    f.coord
        .add_participants("t", pid, epoch, vec![part("a", 0)])
        .await
        .unwrap();
    assert_eq!(f.coord.sample().open, 1);
    set_owner(&f, Some(KafkaError::NotCoordinator));
    f.coord.unload(|id| id == "t").await;
    assert_eq!(f.coord.sample().open, 0);
    assert_eq!(
        f.coord.transaction("t").await,
        Err(KafkaError::NotCoordinator)
    );
    assert_eq!(
        f.coord.end_txn("t", pid, epoch, true).await,
        Err(KafkaError::NotCoordinator)
    );
    assert!(f.coord.lock_for_append("t").await.is_err());
    set_owner(&f, Some(KafkaError::CoordinatorLoadInProgress));
    assert_eq!(
        f.coord.init_producer_id("new", 60_000, None).await,
        Err(KafkaError::CoordinatorLoadInProgress)
    );
    set_owner(&f, None);
    assert!(f.coord.transactions().await.is_empty());
}

/// A marker driver stops once the id's coordinator moved: the new one resumes the markers
/// from the replicated Prepare* state.
#[tokio::test(start_paused = true)]
async fn a_marker_driver_stops_when_the_coordinator_moves() {
    let f = fixture();
    let (pid, epoch) = f.coord.init_producer_id("t", 60_000, None).await.unwrap();
    f.coord
        .add_participants("t", pid, epoch, vec![part("a", 0)])
        .await
        .unwrap();
    f.markers.fail.store(true, Ordering::Relaxed);
    f.coord.end_txn("t", pid, epoch, false).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    set_owner(&f, Some(KafkaError::NotCoordinator));
    f.coord.unload(|_| true).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    f.markers.fail.store(false, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert!(lock(&f.markers.written).is_empty());
    assert_eq!(f.store.load().unwrap()[0].state, TxnState::PrepareAbort);
}
