//! The transaction coordinator (Kafka's `TransactionCoordinator`, protocol version 1): the
//! state of every transactional id, its transitions on InitProducerId, AddPartitionsToTxn,
//! AddOffsetsToTxn and EndTxn, the commit/abort markers written to each participant, and the
//! abort of transactions open longer than their timeout.
//!
//! Module map: `state` the pure state machine of one transactional id; `store` its durable
//! record and the [`TxnStore`] boundary; `markers` the broker's [`MarkerSink`]; this file the coordinator: per-id locking, persist
//! then install, the marker driver and the timeout task.
//!
//! Flow of a transaction (as in Kafka): InitProducerId gives the producer id and a bumped
//! epoch (fencing any older producer of the id); the client adds partitions (and a group's
//! offsets) before writing to them; Produce appends transactional batches only to partitions
//! in the open transaction ([`TxnCoordinator::verify_append`]); EndTxn persists
//! PrepareCommit/PrepareAbort and answers; then the driver writes a marker to every
//! participant ([`MarkerSink`]: a control batch in a partition, the commit or discard of a
//! group's pending offsets) and persists CompleteCommit/CompleteAbort. Until then any other
//! request on the id answers CONCURRENT_TRANSACTIONS, and clients retry.
//!
//! Invariants:
//! - one transactional id's requests are serialised by its slot lock; the new state is
//!   persisted (synced) before it is installed in memory and before any answer, so an answer
//!   never reports a state a restart would lose;
//! - a Prepare* state is always driven to Complete*: after a restart too ([`TxnCoordinator::open`]
//!   restarts the driver for every Prepare* state it loads); markers are retried until written;
//! - a transactional batch is appended only while the slot lock is held by its verification
//!   ([`AppendPermit`]), so no batch can land after the markers of its transaction were
//!   decided (no hanging transaction from a late produce);
//! - the coordinator epoch written in markers is constant on a single broker
//!   ([`COORDINATOR_EPOCH`]): there is exactly one coordinator. In a cluster it is the leader
//!   epoch of the id's `__transaction_state` partition ([`TxnStore::coordinator_epoch`]), so a
//!   partition refuses the markers of a deposed coordinator;
//! - cluster mode: every request first asks the store whether this broker coordinates the id
//!   (NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS otherwise), so no slot is ever created for
//!   an id another broker owns. The ids of one `__transaction_state` partition arrive with
//!   [`TxnCoordinator::load`] when this broker becomes its leader (Prepare* states resume their
//!   markers) and leave with [`TxnCoordinator::unload`]; a marker driver whose id left stops.

pub mod markers;
pub mod state;
pub mod store;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex as StdMutex};
use std::time::Duration;

use tokio::sync::{watch, Mutex, OwnedMutexGuard};

use crate::kafka_error::KafkaError;
pub use state::{InitOutcome, InitRequest, Participant, TxnMetadata, TxnState};
pub use store::TxnStore;

/// The coordinator epoch in the markers of a single broker's coordinator.
pub const COORDINATOR_EPOCH: i32 = 0;

/// Settings (the broker's `[transactions]` section).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: InitProducerId with a larger timeout is refused with
    /// INVALID_TRANSACTION_TIMEOUT. Default 900000.
    pub max_timeout_ms: i32,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`: how often open
    /// transactions are checked against their timeout. Default 10000.
    pub abort_check_interval_ms: u64,
    /// `transactional.id.expiration.ms`: an idle id not updated for this long is removed.
    /// Default 604800000 (7 days).
    pub id_expiration_ms: i64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`: how often expired ids
    /// are removed. Default 3600000.
    pub remove_expired_interval_ms: u64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            max_timeout_ms: 900_000,
            abort_check_interval_ms: 10_000,
            id_expiration_ms: 604_800_000,
            remove_expired_interval_ms: 3_600_000,
        }
    }
}

/// A commit or abort marker for one participant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Marker {
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub commit: bool,
    /// The coordinator epoch the control batch carries.
    pub coordinator_epoch: i32,
}

/// Why a marker was not written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkerError {
    /// Try again later (partition offline, disk full, not leader yet).
    Retry(String),
    /// The participant no longer exists (topic deleted): nothing to mark.
    Gone,
}

/// The future a [`MarkerSink`] returns.
pub type MarkerFuture<'a> = Pin<Box<dyn Future<Output = Result<(), MarkerError>> + Send + 'a>>;

/// Where markers go: the broker writes a control batch to a partition through its partition
/// layer, and completes a group's pending transactional offsets through the group coordinator.
pub trait MarkerSink: Send + Sync {
    fn write_marker<'a>(&'a self, to: &'a Participant, marker: Marker) -> MarkerFuture<'a>;
}

/// Allocates producer ids (blocking; the broker's store or the controller).
pub type ProducerIdSource = Arc<dyn Fn() -> Result<i64, String> + Send + Sync>;

/// The coordinator's clock, ms since the Unix epoch (injected in tests).
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// Counters for `/metrics`.
#[derive(Debug, Default)]
pub struct TxnCounters {
    pub committed: AtomicU64,
    pub aborted: AtomicU64,
    pub timed_out: AtomicU64,
    pub fenced: AtomicU64,
    pub markers_written: AtomicU64,
    pub marker_retries: AtomicU64,
}

/// One transactional id: its state (`None` until InitProducerId created it).
type Slot = Arc<Mutex<Option<TxnMetadata>>>;
type SlotGuard = OwnedMutexGuard<Option<TxnMetadata>>;

struct Inner {
    config: TxnConfig,
    store: Arc<dyn TxnStore>,
    producer_ids: ProducerIdSource,
    markers: StdMutex<Option<Arc<dyn MarkerSink>>>,
    clock: Clock,
    slots: StdMutex<HashMap<String, Slot>>,
    counters: TxnCounters,
    /// Transactional ids whose state is not idle (a transaction open or being completed),
    /// kept by [`TxnCoordinator::install`] so that `/metrics` never walks the slots.
    open: AtomicU64,
    shutdown: watch::Sender<bool>,
}

/// The transaction coordinator of a single broker.
#[derive(Clone)]
pub struct TxnCoordinator {
    inner: Arc<Inner>,
}

/// Proof that a transactional batch may be appended: holds the transactional id's lock, so
/// its transaction cannot end until the append is done. Drop it right after the append.
pub struct AppendPermit {
    guard: OwnedMutexGuard<Option<TxnMetadata>>,
}

impl AppendPermit {
    /// May `producer_id` at `epoch` append a transactional batch to this partition? Only if
    /// it is in the open transaction (added by AddPartitionsToTxn).
    pub fn verify(
        &self,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), KafkaError> {
        match self.guard.as_ref() {
            Some(m) => m.verify_partition(producer_id, epoch, topic, partition),
            None => Err(KafkaError::InvalidProducerIdMapping),
        }
    }
}

fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

impl TxnCoordinator {
    /// Loads every persisted transactional id. Call [`TxnCoordinator::start`] once the marker
    /// sink exists, which resumes the markers of every Prepare* state.
    pub fn open(
        config: TxnConfig,
        store: Arc<dyn TxnStore>,
        producer_ids: ProducerIdSource,
        clock: Clock,
    ) -> Result<TxnCoordinator, String> {
        let loaded = store.load()?;
        let open = loaded.iter().filter(|m| !m.state.is_idle()).count() as u64;
        let slots = loaded
            .into_iter()
            .map(|m| (m.transactional_id.clone(), Arc::new(Mutex::new(Some(m)))))
            .collect();
        let (shutdown, _) = watch::channel(false);
        Ok(TxnCoordinator {
            inner: Arc::new(Inner {
                config,
                store,
                producer_ids,
                markers: StdMutex::new(None),
                clock,
                slots: StdMutex::new(slots),
                counters: TxnCounters::default(),
                open: AtomicU64::new(open),
                shutdown,
            }),
        })
    }

    /// Connects the marker sink, resumes the markers of transactions loaded in a Prepare*
    /// state and starts the timeout task.
    pub fn start(&self, markers: Arc<dyn MarkerSink>) {
        *lock(&self.inner.markers) = Some(markers);
        let preparing: Vec<(String, TxnMetadata)> = lock(&self.inner.slots)
            .iter()
            .filter_map(|(id, slot)| {
                let g = slot.try_lock().ok()?;
                let m = g.as_ref()?;
                m.state.is_preparing().then(|| (id.clone(), m.clone()))
            })
            .collect();
        for (id, meta) in preparing {
            let Ok(epoch) = self.owner(&id) else {
                continue;
            };
            tracing::info!(transactional_id = %id, state = meta.state.kafka_name(),
                "resuming the markers of a transaction prepared before the restart");
            self.spawn_markers(meta, epoch);
        }
        let me = self.clone();
        let mut stop = self.inner.shutdown.subscribe();
        tokio::spawn(async move {
            let every = Duration::from_millis(me.inner.config.abort_check_interval_ms.max(1));
            let expire_every =
                Duration::from_millis(me.inner.config.remove_expired_interval_ms.max(1));
            let mut expire_at = tokio::time::Instant::now() + expire_every;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(every) => me.abort_timed_out().await,
                    _ = tokio::time::sleep_until(expire_at) => {
                        me.remove_expired_ids().await;
                        expire_at = tokio::time::Instant::now() + expire_every;
                    }
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// Stops the timeout task and the marker drivers (at shutdown; Prepare* states resume at
    /// the next start).
    pub fn stop(&self) {
        self.inner.shutdown.send_replace(true);
    }

    pub fn counters(&self) -> &TxnCounters {
        &self.inner.counters
    }

    /// The counters and the number of open transactions, for `/metrics`.
    pub fn sample(&self) -> crate::telemetry::TxnSample {
        let open = self.inner.open.load(Ordering::Relaxed);
        let c = &self.inner.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        crate::telemetry::TxnSample {
            committed: get(&c.committed),
            aborted: get(&c.aborted),
            timed_out: get(&c.timed_out),
            fenced: get(&c.fenced),
            markers_written: get(&c.markers_written),
            marker_retries: get(&c.marker_retries),
            open,
        }
    }

    pub fn max_timeout_ms(&self) -> i32 {
        self.inner.config.max_timeout_ms
    }

    fn now(&self) -> i64 {
        (self.inner.clock)()
    }

    /// The coordinator epoch of `id` if this broker coordinates it
    /// ([`TxnStore::coordinator_epoch`]).
    fn owner(&self, id: &str) -> Result<i32, KafkaError> {
        self.inner.store.coordinator_epoch(id)
    }

    /// Cluster mode: starts coordinating the ids of one `__transaction_state` partition as
    /// replayed from its log (`loaded`), at `coordinator_epoch`. Each replaces any slot of
    /// its id; the markers of every Prepare* state are resumed (the previous coordinator
    /// decided the outcome and died before completing it).
    pub async fn load(&self, loaded: Vec<TxnMetadata>, coordinator_epoch: i32) {
        for meta in loaded {
            let fresh: Slot = Arc::new(Mutex::new(None));
            let mut g = Arc::clone(&fresh).lock_owned().await;
            let old = lock(&self.inner.slots).insert(meta.transactional_id.clone(), fresh);
            if let Some(old) = old {
                self.retire(&old).await;
            }
            let preparing = meta.state.is_preparing().then(|| meta.clone());
            self.install(&mut g, meta);
            drop(g);
            if let Some(prepared) = preparing {
                tracing::info!(transactional_id = %prepared.transactional_id,
                    state = prepared.state.kafka_name(), coordinator_epoch,
                    "completing a transaction prepared by the previous coordinator");
                self.spawn_markers(prepared, coordinator_epoch);
            }
        }
    }

    /// Cluster mode: stops coordinating every id for which `gone` holds (the ids of a
    /// `__transaction_state` partition this broker no longer leads). Requests waiting on
    /// their slots look them up again and find them gone.
    pub async fn unload(&self, gone: impl Fn(&str) -> bool) {
        let removed: Vec<Slot> = {
            let mut slots = lock(&self.inner.slots);
            let ids: Vec<String> = slots.keys().filter(|id| gone(id)).cloned().collect();
            ids.iter().filter_map(|id| slots.remove(id)).collect()
        };
        for slot in removed {
            self.retire(&slot).await;
        }
    }

    /// Empties a slot already removed from the map, keeping the open count.
    async fn retire(&self, slot: &Slot) {
        let mut g = slot.lock().await;
        if g.as_ref().is_some_and(|m| !m.state.is_idle()) {
            self.inner.open.fetch_sub(1, Ordering::Relaxed);
        }
        *g = None;
    }

    /// Locks the slot of `id`, creating an empty one when `create` (else `None` for an
    /// unknown id). A slot removed from the map while this waited for its lock (an expired
    /// or never-created id) is not used: the lookup starts again, so no state is ever
    /// written to a slot the map no longer holds.
    async fn lock_slot(&self, id: &str, create: bool) -> Option<SlotGuard> {
        loop {
            let slot = {
                let mut slots = lock(&self.inner.slots);
                match slots.get(id) {
                    Some(s) => Arc::clone(s),
                    None if create => Arc::clone(
                        slots
                            .entry(id.to_string())
                            .or_insert_with(|| Arc::new(Mutex::new(None))),
                    ),
                    None => return None,
                }
            };
            let g = Arc::clone(&slot).lock_owned().await;
            if lock(&self.inner.slots)
                .get(id)
                .is_some_and(|s| Arc::ptr_eq(s, &slot))
            {
                return Some(g);
            }
        }
    }

    /// Removes `id`'s slot from the map; call with its lock held (`g`), after which the
    /// slot is dead: waiters on it look `id` up again ([`TxnCoordinator::lock_slot`]).
    fn remove_slot(&self, id: &str, g: &SlotGuard) {
        let mut slots = lock(&self.inner.slots);
        if slots
            .get(id)
            .is_some_and(|s| Arc::ptr_eq(s, OwnedMutexGuard::mutex(g)))
        {
            slots.remove(id);
        }
    }

    /// Installs `next` (already persisted) as an id's state, keeping the open count.
    fn install(&self, slot: &mut Option<TxnMetadata>, next: TxnMetadata) {
        let was_open = slot.as_ref().is_some_and(|m| !m.state.is_idle());
        let is_open = !next.state.is_idle();
        if was_open != is_open {
            if is_open {
                self.inner.open.fetch_add(1, Ordering::Relaxed);
            } else {
                self.inner.open.fetch_sub(1, Ordering::Relaxed);
            }
        }
        *slot = Some(next);
    }

    async fn persist(&self, meta: &TxnMetadata) -> Result<(), KafkaError> {
        let store = Arc::clone(&self.inner.store);
        let m = meta.clone();
        let failed = blocking(move || store.put(&m)).await.err();
        let Some(e) = failed else {
            return Ok(());
        };
        tracing::warn!(transactional_id = %meta.transactional_id, error = %e,
            "persisting transaction state");
        // Kafka's mapping: a lost leadership is NOT_COORDINATOR, anything else retriable.
        Err(match self.owner(&meta.transactional_id) {
            Err(e) => e,
            Ok(_) => KafkaError::CoordinatorNotAvailable,
        })
    }

    async fn allocate(&self) -> Result<i64, KafkaError> {
        let ids = Arc::clone(&self.inner.producer_ids);
        blocking(move || ids()).await.map_err(|e| {
            tracing::error!(error = %e, "allocating a producer id");
            KafkaError::CoordinatorNotAvailable
        })
    }

    /// InitProducerId with a transactional id: the producer id and epoch to use.
    /// `timeout_ms` is validated here against `transaction.max.timeout.ms`.
    pub async fn init_producer_id(
        &self,
        id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), KafkaError> {
        if timeout_ms <= 0 || timeout_ms > self.inner.config.max_timeout_ms {
            return Err(KafkaError::InvalidTransactionTimeout);
        }
        let coordinator_epoch = self.owner(id)?;
        let Some(mut g) = self.lock_slot(id, true).await else {
            return Err(KafkaError::CoordinatorNotAvailable);
        };
        let now = self.now();
        let Some(cur) = g.as_ref() else {
            // A new id (also a KIP-360 bump of an id this coordinator never saw: Kafka starts
            // such metadata at epoch -1 and bumps it to 0).
            let created = async {
                let pid = self.allocate().await?;
                let meta = TxnMetadata::new(id, pid, timeout_ms, now);
                self.persist(&meta).await?;
                Ok(meta)
            };
            return match created.await {
                Ok(meta) => {
                    let out = (meta.producer_id, meta.producer_epoch);
                    self.install(&mut g, meta);
                    Ok(out)
                }
                Err(e) => {
                    // No empty slot is left behind for an id that was never created.
                    self.remove_slot(id, &g);
                    Err(e)
                }
            };
        };
        let req = InitRequest {
            timeout_ms,
            expected,
        };
        match cur.init_producer_id(req, now)? {
            InitOutcome::Unchanged => Ok((cur.producer_id, cur.producer_epoch)),
            InitOutcome::Ready(next) => {
                self.persist(&next).await?;
                let out = (next.producer_id, next.producer_epoch);
                self.install(&mut g, next);
                Ok(out)
            }
            InitOutcome::NeedsNewProducerId(mut next) => {
                next.rotate_producer_id(self.allocate().await?);
                self.persist(&next).await?;
                let out = (next.producer_id, next.producer_epoch);
                self.install(&mut g, next);
                Ok(out)
            }
            InitOutcome::Fence(next) => {
                self.persist(&next).await?;
                self.inner.counters.fenced.fetch_add(1, Ordering::Relaxed);
                tracing::info!(transactional_id = %id, epoch = next.producer_epoch,
                    "fencing the open transaction of an older producer: aborting it");
                self.install(&mut g, next.clone());
                drop(g);
                self.spawn_markers(next, coordinator_epoch);
                Err(KafkaError::ConcurrentTransactions)
            }
        }
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: adds participants to the open transaction
    /// (starting one if none is open).
    pub async fn add_participants(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        add: Vec<Participant>,
    ) -> Result<(), KafkaError> {
        self.owner(id)?;
        let Some(mut g) = self.lock_slot(id, false).await else {
            return Err(KafkaError::InvalidProducerIdMapping);
        };
        let Some(cur) = g.as_ref() else {
            return Err(KafkaError::InvalidProducerIdMapping);
        };
        if let Some(next) = cur.add_participants(producer_id, epoch, add, self.now())? {
            self.persist(&next).await?;
            self.install(&mut g, next);
        }
        Ok(())
    }

    /// EndTxn: decides the transaction's outcome; its markers are written after the answer.
    pub async fn end_txn(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), KafkaError> {
        let coordinator_epoch = self.owner(id)?;
        let Some(mut g) = self.lock_slot(id, false).await else {
            return Err(KafkaError::InvalidProducerIdMapping);
        };
        let Some(cur) = g.as_ref() else {
            return Err(KafkaError::InvalidProducerIdMapping);
        };
        let Some(next) = cur.end_txn(producer_id, epoch, commit, self.now())? else {
            return Ok(());
        };
        self.persist(&next).await?;
        self.install(&mut g, next.clone());
        drop(g);
        self.spawn_markers(next, coordinator_epoch);
        Ok(())
    }

    /// Produce: holds transactional id `id` for the appends of one request; each
    /// partition is checked with [`AppendPermit::verify`]. Drop the permit right after the
    /// appends.
    pub async fn lock_for_append(&self, id: &str) -> Result<AppendPermit, KafkaError> {
        self.owner(id)?;
        let Some(g) = self.lock_slot(id, false).await else {
            return Err(KafkaError::InvalidProducerIdMapping);
        };
        if g.is_none() {
            return Err(KafkaError::InvalidProducerIdMapping);
        }
        Ok(AppendPermit { guard: g })
    }

    /// TxnOffsetCommit: is `group_id` in the open transaction (AddOffsetsToTxn done)? The
    /// permit must be held until the pending offsets are stored.
    pub async fn verify_group(
        &self,
        id: &str,
        producer_id: i64,
        epoch: i16,
        group_id: &str,
    ) -> Result<AppendPermit, KafkaError> {
        self.owner(id)?;
        let Some(g) = self.lock_slot(id, false).await else {
            return Err(KafkaError::InvalidProducerIdMapping);
        };
        let Some(cur) = g.as_ref() else {
            return Err(KafkaError::InvalidProducerIdMapping);
        };
        cur.check_producer(producer_id, epoch)?;
        let p = Participant::Group {
            group_id: group_id.to_string(),
        };
        if cur.state.is_preparing() {
            return Err(KafkaError::ConcurrentTransactions);
        }
        if cur.state != TxnState::Ongoing || !cur.participants.contains(&p) {
            return Err(KafkaError::InvalidTxnState);
        }
        Ok(AppendPermit { guard: g })
    }

    /// Every known transaction (ListTransactions, DescribeTransactions, the console). Slots
    /// busy with a request are read after it.
    pub async fn transactions(&self) -> Vec<TxnMetadata> {
        let slots: Vec<Slot> = lock(&self.inner.slots).values().cloned().collect();
        let mut out = Vec::with_capacity(slots.len());
        for s in slots {
            if let Some(m) = s.lock().await.as_ref() {
                out.push(m.clone());
            }
        }
        out.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
        out
    }

    /// One transaction by id (NOT_COORDINATOR or COORDINATOR_LOAD_IN_PROGRESS when another
    /// broker coordinates it or this one is still loading it).
    pub async fn transaction(&self, id: &str) -> Result<Option<TxnMetadata>, KafkaError> {
        self.owner(id)?;
        Ok(match self.lock_slot(id, false).await {
            Some(g) => g.clone(),
            None => None,
        })
    }

    /// Forgets every transactional id idle (no transaction open) and not updated for
    /// `transactional.id.expiration.ms`, as Kafka's `removeExpiredTransactionalIds` does:
    /// the record is deleted from the store first, then the slot from the map. A producer
    /// that comes back gets a new producer id from InitProducerId.
    pub async fn remove_expired_ids(&self) -> usize {
        let ids: Vec<String> = lock(&self.inner.slots).keys().cloned().collect();
        let mut removed = 0;
        for id in ids {
            let Some(g) = self.lock_slot(&id, false).await else {
                continue;
            };
            let now = self.now();
            if !g
                .as_ref()
                .is_some_and(|m| m.id_expired(now, self.inner.config.id_expiration_ms))
            {
                continue;
            }
            let store = Arc::clone(&self.inner.store);
            let key = id.clone();
            if let Err(e) = blocking(move || store.delete(&key)).await {
                tracing::warn!(transactional_id = %id, error = %e,
                    "removing an expired transactional id; retried at the next check");
                continue;
            }
            self.remove_slot(&id, &g);
            removed += 1;
        }
        if removed > 0 {
            tracing::info!(
                removed,
                "removed transactional ids idle longer than transactional.id.expiration.ms"
            );
        }
        removed
    }

    /// Aborts every open transaction older than its timeout (fencing its producer).
    pub async fn abort_timed_out(&self) {
        let slots: Vec<Slot> = lock(&self.inner.slots).values().cloned().collect();
        for slot in slots {
            let mut g = slot.lock().await;
            let now = self.now();
            let Some(next) = g.as_ref().and_then(|m| m.expire(now)) else {
                continue;
            };
            let Ok(coordinator_epoch) = self.owner(&next.transactional_id) else {
                continue;
            };
            if self.persist(&next).await.is_err() {
                continue;
            }
            tracing::info!(transactional_id = %next.transactional_id,
                timeout_ms = next.timeout_ms, "aborting a transaction open longer than its timeout");
            self.inner
                .counters
                .timed_out
                .fetch_add(1, Ordering::Relaxed);
            self.install(&mut g, next.clone());
            drop(g);
            self.spawn_markers(next, coordinator_epoch);
        }
    }

    /// Writes the markers of `prepared` (a Prepare* state) to every participant, retrying
    /// until each is written, then persists and installs the Complete* state. Stops when
    /// this broker no longer coordinates the id (its new coordinator resumes the markers).
    fn spawn_markers(&self, prepared: TxnMetadata, coordinator_epoch: i32) {
        let me = self.clone();
        tokio::spawn(async move { me.drive_markers(prepared, coordinator_epoch).await });
    }

    /// Writes one participant's marker, retrying with a backoff; false if it stopped first
    /// (shutdown, or this broker no longer coordinates `id`).
    async fn write_marker(
        &self,
        sink: &dyn MarkerSink,
        id: &str,
        p: &Participant,
        marker: Marker,
    ) -> bool {
        let mut stop = self.inner.shutdown.subscribe();
        let mut backoff = Duration::from_millis(50);
        loop {
            if *stop.borrow() {
                return false;
            }
            match sink.write_marker(p, marker).await {
                Ok(()) => {
                    self.inner
                        .counters
                        .markers_written
                        .fetch_add(1, Ordering::Relaxed);
                    return true;
                }
                Err(MarkerError::Gone) => return true,
                Err(MarkerError::Retry(why)) => {
                    if self.owner(id) == Err(KafkaError::NotCoordinator) {
                        return false;
                    }
                    self.inner
                        .counters
                        .marker_retries
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(transactional_id = %id, participant = ?p, error = %why,
                        "writing a transaction marker; retrying");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return false,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    async fn drive_markers(&self, prepared: TxnMetadata, coordinator_epoch: i32) {
        let Some(sink) = lock(&self.inner.markers).clone() else {
            return;
        };
        let marker = Marker {
            producer_id: prepared.producer_id,
            producer_epoch: prepared.producer_epoch,
            commit: prepared.state == TxnState::PrepareCommit,
            coordinator_epoch,
        };
        // Every participant at once (in a cluster most are on other brokers); dropping the
        // set on a stop aborts the others.
        let mut writes = tokio::task::JoinSet::new();
        for p in &prepared.participants {
            let (me, sink, p) = (self.clone(), Arc::clone(&sink), p.clone());
            let id = prepared.transactional_id.clone();
            writes.spawn(async move { me.write_marker(sink.as_ref(), &id, &p, marker).await });
        }
        while let Some(done) = writes.join_next().await {
            if !matches!(done, Ok(true)) {
                return;
            }
        }
        let mut stop = self.inner.shutdown.subscribe();
        loop {
            let Some(mut g) = self.lock_slot(&prepared.transactional_id, false).await else {
                return;
            };
            if g.as_ref() != Some(&prepared) {
                // Only this driver moves a Prepare* state on; anything else is a bug.
                tracing::error!(transactional_id = %prepared.transactional_id,
                    "transaction state changed while its markers were written");
                return;
            }
            let done = prepared.complete(self.now());
            if self.persist(&done).await.is_ok() {
                let counter = if marker.commit {
                    &self.inner.counters.committed
                } else {
                    &self.inner.counters.aborted
                };
                counter.fetch_add(1, Ordering::Relaxed);
                self.install(&mut g, done);
                return;
            }
            drop(g);
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                _ = stop.changed() => return,
            }
        }
    }
}

#[cfg(test)]
mod tests;
