//! The share-partition manager (Kafka's `SharePartitionManager`): every share-partition this
//! broker leads, the share sessions, and the workflows ShareFetch and ShareAcknowledge run on
//! them — acquire from the log, acknowledge durably, release on session end and lock expiry.
//!
//! Concurrency: the map of share-partitions and the session cache sit behind sync mutexes held
//! for lookups only. Each share-partition has its own sync mutex, held while its state changes
//! and — for changes that must be durable — across the synced store write, so no later change
//! is reported before an earlier one is on disk. Every method that may touch the store or read
//! the log blocks: async callers run it through `spawn_blocking`. The map is never held while
//! waiting for a share-partition's lock (a share-partition's lock may be held while the map is
//! locked, to drop a failed state); never two share-partitions at once.
//!
//! The `runnel_share_acquired_records` gauge equals the acquired records of the
//! share-partitions in the map: every change of a share-partition's state goes through
//! `tracked` (which moves the gauge by the change), and a state dropped from the map (failed
//! write, reload at a new leader epoch, reset, deletion) takes its acquired records off the
//! gauge. A slot dropped from the map while a request held it is stale: `current` refuses it,
//! so nothing is acquired in a state no one will release.
//!
//! The hot path reads no record: the log answers a fetch with whole batches as a file slice;
//! only their 61-byte headers are read to learn offsets, control and transactional bits. The
//! acquired batches go to the client as a sub-slice of the file, sent with `sendfile(2)` like
//! a Fetch, and the response names the acquired offsets.
//!
//! A share-partition is created on first use: from its durable record when one exists, else
//! at the offset `share.auto.offset.reset` picks (earliest = log start, latest = high
//! watermark, `by_duration:` = the first offset with a timestamp at or after now − duration),
//! written at once so the start does not move. A failed store write discards the in-memory
//! state; the next use reloads the last durable one (acquired records become AVAILABLE again).
//! Share-partitions of a deleted topic are deleted with it (`on_topic_deleted`).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;
use uuid::Uuid;

use super::partition::Snapshot;
use super::partition::{
    Ack, AckCounts, AckError, Acquired, Limits, LogBatch, MemberId, SharePartition,
};
use super::persist;
use super::persister::{Persister, StateError};
use super::session::{SessionCache, SessionError, SessionKey, TopicIdPartition};
use crate::kafka_error::KafkaError;
use crate::log::batch::{BatchHeader, HEADER_SIZE};
use crate::log::txn_index::AbortedTxn;
use crate::log::{FileSlice, LogError, PartitionLog};
use crate::store::{Store, StoreError};
use crate::telemetry::ShareMetrics;

/// Kafka's `group.share.max.share.sessions` default.
pub const MAX_SHARE_SESSIONS: usize = 2000;

/// A share-partition: (group, topic id, partition).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareKey {
    pub group: Arc<str>,
    pub topic_id: Uuid,
    pub partition: i32,
}

/// Where a new share-partition starts (`share.auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoReset {
    Earliest,
    Latest,
    /// Records at most this old (ms).
    ByDuration(i64),
}

/// A group's share settings, from its GROUP config overrides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupSettings {
    pub limits: Limits,
    pub reset: AutoReset,
    pub read_committed: bool,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            limits: Limits::default(),
            reset: AutoReset::Latest,
            read_committed: false,
        }
    }
}

impl GroupSettings {
    /// Settings from a group's overrides (validated when they were stored; a value that does
    /// not parse keeps Kafka's default).
    pub fn from_overrides(o: &BTreeMap<String, String>) -> GroupSettings {
        let mut s = GroupSettings::default();
        let int = |k: &str| o.get(k).and_then(|v| v.trim().parse::<i64>().ok());
        if let Some(v) = int("share.record.lock.duration.ms") {
            s.limits.lock_duration_ms = v;
        }
        if let Some(v) = int("share.delivery.count.limit") {
            s.limits.delivery_count_limit = v.clamp(1, i16::MAX as i64) as i16;
        }
        if let Some(v) = int("share.partition.max.record.locks") {
            s.limits.max_record_locks = v.max(1);
        }
        if let Some(v) = o.get("share.isolation.level") {
            s.read_committed = v.trim() == "read_committed";
        }
        if let Some(v) = o.get("share.auto.offset.reset") {
            let v = v.trim();
            s.reset = if v == "earliest" {
                AutoReset::Earliest
            } else if let Some(d) = v.strip_prefix("by_duration:") {
                parse_iso_duration_ms(d).map_or(AutoReset::Latest, AutoReset::ByDuration)
            } else {
                AutoReset::Latest
            };
        }
        s
    }
}

/// An ISO-8601 duration as Kafka accepts it for `by_duration:` (`PnDTnHnMnS`, e.g. `PT1H`,
/// `P1DT30M`, `PT0.5S`), in ms; `None` if malformed or negative.
pub fn parse_iso_duration_ms(s: &str) -> Option<i64> {
    let rest = s.trim().strip_prefix('P')?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut ms: f64 = 0.0;
    let mut any = false;
    if !days.is_empty() {
        let n = days.strip_suffix('D')?.parse::<f64>().ok()?;
        ms += n * 86_400_000.0;
        any = true;
    }
    if let Some(mut t) = time {
        if t.is_empty() {
            return None;
        }
        for (unit, scale) in [('H', 3_600_000.0), ('M', 60_000.0), ('S', 1_000.0)] {
            if let Some(i) = t.find(unit) {
                let n = t[..i].parse::<f64>().ok()?;
                ms += n * scale;
                t = &t[i + 1..];
                any = true;
            }
        }
        if !t.is_empty() {
            return None;
        }
    }
    (any && ms >= 0.0 && ms.is_finite()).then_some(ms as i64)
}

/// Why a share-partition operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error(transparent)]
    Ack(#[from] AckError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Log(#[from] LogError),
}

impl ShareError {
    pub fn kafka_code(&self) -> i16 {
        match self {
            ShareError::Ack(AckError::InvalidRecordState(_)) => {
                KafkaError::InvalidRecordState.code()
            }
            ShareError::Ack(AckError::InvalidRequest(_)) => KafkaError::InvalidRequest.code(),
            ShareError::Store(e) => e.kafka_code(),
            ShareError::State(e) => e.kafka_code(),
            ShareError::Log(e) => e.kafka_code(),
        }
    }
}

/// What one fetch acquired on one share-partition: the log batches holding the acquired
/// records, as a slice of their segment file, and the acquired ranges.
#[derive(Debug)]
pub struct ShareRead {
    pub records: FileSlice,
    pub acquired: Vec<Acquired>,
}

/// One share-partition's figures (console, DescribeShareGroupOffsets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePartitionView {
    pub key: ShareKey,
    pub start_offset: i64,
    pub end_offset: i64,
    pub acquired: u64,
    /// Terminal records at or past the start offset (Kafka's delivery-complete count).
    pub completed: u64,
}

/// A loaded share-partition: its state, and the data partition's leader epoch it was loaded
/// at (a different epoch means another leader may have written since: reload).
struct Loaded {
    leader_epoch: i32,
    sp: Mutex<SharePartition>,
}

type Slot = Arc<Loaded>;

/// Every share-partition and share session of this broker.
pub struct ShareManager {
    /// Single node: where the admin operations (describe, reset, delete) read and write.
    store: Arc<Store>,
    /// Where share-partition state is read and written (`persister`).
    persister: Arc<dyn Persister>,
    parts: Mutex<HashMap<ShareKey, Slot>>,
    sessions: Mutex<SessionCache>,
    /// Woken when records become AVAILABLE again (release, expiry, release acks), so parked
    /// ShareFetches look again.
    pub available: Notify,
    metrics: ShareMetrics,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ShareManager {
    pub fn new(
        store: Arc<Store>,
        persister: Arc<dyn Persister>,
        metrics: ShareMetrics,
    ) -> ShareManager {
        ShareManager {
            store,
            persister,
            parts: Mutex::new(HashMap::new()),
            sessions: Mutex::new(SessionCache::new(MAX_SHARE_SESSIONS)),
            available: Notify::new(),
            metrics,
        }
    }

    /// The share-partition, loaded or created at the data partition's `leader_epoch`
    /// (blocking: may read and write through the persister). A slot loaded at another leader
    /// epoch is replaced by a fresh read. The map lock is not held while reading.
    fn partition(
        &self,
        key: &ShareKey,
        settings: &GroupSettings,
        log: Option<&PartitionLog>,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<Option<Slot>, ShareError> {
        if let Some(p) = lock(&self.parts).get(key) {
            if p.leader_epoch == leader_epoch {
                return Ok(Some(p.clone()));
            }
        }
        let stored = self.persister.read(key, leader_epoch)?;
        let sp = match stored {
            Some(snap) if snap.start_offset >= 0 => {
                SharePartition::from_snapshot(&snap, settings.limits)
            }
            uninitialized => {
                let Some(log) = log else {
                    return Ok(None);
                };
                let start = match settings.reset {
                    AutoReset::Earliest => log.log_start_offset(),
                    AutoReset::Latest => log.high_watermark(),
                    AutoReset::ByDuration(d) => log
                        .offset_for_timestamp(now_ms - d)?
                        .map_or_else(|| log.high_watermark(), |(o, _)| o),
                };
                let fresh = Snapshot {
                    state_epoch: uninitialized.map_or(0, |s| s.state_epoch),
                    start_offset: start,
                    ranges: Vec::new(),
                };
                self.persister.write(key, leader_epoch, &fresh)?;
                SharePartition::from_snapshot(&fresh, settings.limits)
            }
        };
        let (slot, stale) = {
            let mut parts = lock(&self.parts);
            if let Some(p) = parts.get(key) {
                if p.leader_epoch == leader_epoch {
                    return Ok(Some(p.clone())); // loaded meanwhile by another request
                }
            }
            let slot = Arc::new(Loaded {
                leader_epoch,
                sp: Mutex::new(sp),
            });
            let stale = parts.insert(key.clone(), slot.clone());
            self.metrics.partitions.set(parts.len() as i64);
            (slot, stale)
        };
        self.forget(stale.into_iter().collect());
        Ok(Some(slot))
    }

    /// Persists `sp`'s state; on failure forgets the in-memory state (reloaded on next use).
    fn persist(
        &self,
        key: &ShareKey,
        leader_epoch: i32,
        sp: &SharePartition,
    ) -> Result<(), ShareError> {
        if let Err(e) = self.persister.write(key, leader_epoch, &sp.snapshot()) {
            tracing::error!(group = %key.group, partition = key.partition, error = %e, "share state write failed");
            let mut parts = lock(&self.parts);
            if parts
                .get(key)
                .is_some_and(|p| p.leader_epoch == leader_epoch)
            {
                parts.remove(key);
                self.metrics.partitions.set(parts.len() as i64);
                self.metrics
                    .acquired_records
                    .sub(sp.acquired_records() as i64);
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// Runs `f` on a share-partition and moves the acquired-records gauge by the change.
    fn tracked<R>(&self, sp: &mut SharePartition, f: impl FnOnce(&mut SharePartition) -> R) -> R {
        let before = sp.acquired_records();
        let r = f(sp);
        self.metrics
            .acquired_records
            .add(sp.acquired_records() as i64 - before as i64);
        r
    }

    /// Locks `slot` if it is still `key`'s share-partition (`None`: its state was dropped
    /// or reloaded since the slot was looked up).
    fn current<'a>(
        &self,
        key: &ShareKey,
        slot: &'a Slot,
    ) -> Option<MutexGuard<'a, SharePartition>> {
        let sp = lock(&slot.sp);
        let live = lock(&self.parts)
            .get(key)
            .is_some_and(|s| Arc::ptr_eq(s, slot));
        live.then_some(sp)
    }

    /// Takes dropped share-partitions' acquired records off the gauge (the map lock is not
    /// held: each slot is locked in turn).
    fn forget(&self, dropped: Vec<Slot>) {
        for slot in dropped {
            let n = lock(&slot.sp).acquired_records();
            self.metrics.acquired_records.sub(n as i64);
        }
    }

    /// Acquires records of one share-partition for `member` (blocking). `None`: nothing to
    /// acquire now. At most `max_bytes` of batches unless `min_one` (the first batch whole).
    #[allow(clippy::too_many_arguments)]
    pub fn fetch(
        &self,
        key: &ShareKey,
        settings: &GroupSettings,
        member: &MemberId,
        log: &PartitionLog,
        leader_epoch: i32,
        max_bytes: usize,
        max_records: i64,
        min_one: bool,
        now_ms: i64,
    ) -> Result<Option<ShareRead>, ShareError> {
        let Some(slot) = self.partition(key, settings, Some(log), leader_epoch, now_ms)? else {
            return Ok(None);
        };
        let offset = {
            let Some(mut sp) = self.current(key, &slot) else {
                return Ok(None);
            };
            sp.set_limits(settings.limits);
            let before = sp.start_offset();
            self.tracked(&mut sp, |sp| sp.archive_below(log.log_start_offset()));
            if sp.start_offset() != before {
                self.persist(key, leader_epoch, &sp)?;
            }
            sp.next_fetch_offset()
        };
        let Some(offset) = offset else {
            return Ok(None);
        };
        let read = if settings.read_committed {
            log.read_committed(offset, max_bytes, min_one)
        } else {
            log.read(offset, max_bytes, min_one)
        }?;
        if read.records.is_empty() {
            return Ok(None);
        }
        let headers = batch_headers(&read.records)?;
        let aborted = if settings.read_committed {
            log.aborted_transactions(offset, read.records.end_offset())
        } else {
            Vec::new()
        };
        let batches = classify(&headers, &aborted);
        let acquired = {
            let Some(mut sp) = self.current(key, &slot) else {
                return Ok(None);
            };
            self.tracked(&mut sp, |sp| {
                sp.acquire(member, &batches, max_records, now_ms)
            })
        };
        let redelivered: i64 = acquired
            .iter()
            .filter(|a| a.delivery_count > 1)
            .map(|a| a.last - a.first + 1)
            .sum();
        self.metrics.redeliveries.inc_by(redelivered as u64);
        let (Some(first), Some(last)) = (acquired.first(), acquired.last()) else {
            return Ok(None);
        };
        // The batches from the one holding the first acquired offset to the one holding the
        // last: the client skips offsets inside them it did not acquire.
        let mut from = None;
        let mut to = None;
        for h in &headers {
            if from.is_none() && h.last >= first.first {
                from = Some(*h);
            }
            if h.first <= last.last {
                to = Some(*h);
            }
        }
        let (Some(from), Some(to)) = (from, to) else {
            return Ok(None);
        };
        let records = read.records.sub(
            from.pos,
            to.pos + to.size - from.pos,
            from.first,
            to.last + 1,
        );
        Ok(Some(ShareRead { records, acquired }))
    }

    /// Applies one request's acknowledgements of one share-partition for `member`, all or
    /// nothing, and makes them durable before returning (blocking).
    pub fn acknowledge(
        &self,
        key: &ShareKey,
        settings: &GroupSettings,
        member: &MemberId,
        acks: &[Ack],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AckCounts, ShareError> {
        let no_state = || {
            ShareError::from(AckError::InvalidRecordState(format!(
                "share-partition {}/{} has no records in flight",
                key.topic_id, key.partition
            )))
        };
        let Some(slot) = self.partition(key, settings, None, leader_epoch, now_ms)? else {
            return Err(no_state());
        };
        // A state dropped (failed write) since the lookup held nothing this member acquired.
        let Some(mut sp) = self.current(key, &slot) else {
            return Err(no_state());
        };
        sp.set_limits(settings.limits);
        let expired = self.tracked(&mut sp, |sp| sp.expire_locks(now_ms));
        self.metrics.lock_expiries.inc_by(expired);
        let counts = match self.tracked(&mut sp, |sp| sp.acknowledge(member, acks)) {
            Ok(c) => c,
            Err(e) => {
                if expired > 0 {
                    self.persist(key, leader_epoch, &sp)?;
                }
                return Err(e.into());
            }
        };
        self.persist(key, leader_epoch, &sp)?;
        drop(sp);
        for (i, name) in ["gap", "accept", "release", "reject"].iter().enumerate() {
            if counts.by_type[i] > 0 {
                self.metrics
                    .acknowledgements
                    .with_label_values(&[name])
                    .inc_by(counts.by_type[i]);
            }
        }
        self.metrics
            .archived_at_limit
            .inc_by(counts.archived_at_limit);
        if counts.by_type[2] > 0 || expired > 0 {
            self.available.notify_waiters();
        }
        Ok(counts)
    }

    /// A member's session on these partitions ended: its acquired records are released and
    /// the change persisted (blocking). Failures are logged: the locks expire anyway.
    pub fn release_member(&self, group: &Arc<str>, member: &str, partitions: &[TopicIdPartition]) {
        let mut released = 0u64;
        for &(topic_id, partition) in partitions {
            let key = ShareKey {
                group: group.clone(),
                topic_id,
                partition,
            };
            let Some(slot) = lock(&self.parts).get(&key).cloned() else {
                continue;
            };
            let Some(mut sp) = self.current(&key, &slot) else {
                continue;
            };
            let n = self.tracked(&mut sp, |sp| sp.release_member(member));
            if n > 0 {
                released += n;
                let _ = self.persist(&key, slot.leader_epoch, &sp);
            }
        }
        if released > 0 {
            self.available.notify_waiters();
        }
    }

    /// Expires the acquisition locks due at `now_ms` and persists what changed (blocking).
    /// Returns the number of records released.
    pub fn expire_locks(&self, now_ms: i64) -> u64 {
        let slots: Vec<(ShareKey, Slot)> = lock(&self.parts)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut total = 0u64;
        for (key, slot) in slots {
            let Some(mut sp) = self.current(&key, &slot) else {
                continue;
            };
            if sp.next_deadline().is_none_or(|d| d > now_ms) {
                continue;
            }
            let n = self.tracked(&mut sp, |sp| sp.expire_locks(now_ms));
            if n > 0 {
                total += n;
                let _ = self.persist(&key, slot.leader_epoch, &sp);
            }
        }
        if total > 0 {
            self.metrics.lock_expiries.inc_by(total);
            self.available.notify_waiters();
        }
        total
    }

    /// Runs [`ShareManager::expire_locks`] every `tick` until `shutdown`.
    pub fn spawn_timer(
        self: &Arc<Self>,
        tick: std::time::Duration,
        shutdown: tokio_util::sync::CancellationToken,
    ) {
        let me = self.clone();
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(tick);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = interval.tick() => {}
                }
                let m = me.clone();
                let _ =
                    tokio::task::spawn_blocking(move || m.expire_locks(crate::broker::now_ms()))
                        .await;
            }
        });
    }

    /// Sessions: see [`SessionCache::open`].
    pub fn open_session(
        &self,
        key: SessionKey,
        connection: u64,
        partitions: Vec<TopicIdPartition>,
    ) -> Result<(), SessionError> {
        let mut s = lock(&self.sessions);
        if self.persister.shared() && !s.has_group(&key.0) {
            // The group's first session here: cached state may be stale (an admin reset or a
            // deleted and re-created group at the coordinator); nothing of the group is
            // acquired here without a session, so reload it on first use.
            self.forget_group(&key.0, false);
        }
        let r = s.open(key, connection, partitions);
        self.metrics.sessions.set(s.len() as i64);
        r
    }

    /// Sessions: see [`SessionCache::update`].
    pub fn update_session(
        &self,
        key: &SessionKey,
        epoch: i32,
        connection: u64,
        added: Vec<TopicIdPartition>,
        forgotten: &[TopicIdPartition],
    ) -> Result<Vec<TopicIdPartition>, SessionError> {
        lock(&self.sessions).update(key, epoch, connection, added, forgotten)
    }

    /// FINAL epoch: closes the session and releases the member's records (blocking).
    pub fn close_session(&self, key: &SessionKey) -> Result<(), SessionError> {
        let parts = {
            let mut s = lock(&self.sessions);
            let r = s.close(key);
            self.metrics.sessions.set(s.len() as i64);
            r?
        };
        self.release_member(&key.0, &key.1, &parts);
        Ok(())
    }

    /// The connection-close hook: drops the connection's sessions and releases their
    /// members' acquired records (blocking).
    pub fn connection_closed(&self, connection: u64) {
        let gone = {
            let mut s = lock(&self.sessions);
            let gone = s.connection_closed(connection);
            self.metrics.sessions.set(s.len() as i64);
            gone
        };
        for ((group, member), parts) in gone {
            self.release_member(&group, &member, &parts);
        }
    }

    /// Whether the session exists (a FINAL-epoch request needs one).
    pub fn has_session(&self, key: &SessionKey) -> bool {
        lock(&self.sessions).contains(key)
    }

    /// Live share sessions.
    pub fn session_count(&self) -> usize {
        lock(&self.sessions).len()
    }

    /// Whether any member of `group` holds a share session on this broker.
    pub fn group_has_sessions(&self, group: &str) -> bool {
        lock(&self.sessions).has_group(group)
    }

    /// The start offset of each share-partition of `group` that has state (blocking):
    /// (topic id, partition) → view. In memory when loaded, else from the store.
    pub fn describe_group(&self, group: &str) -> Result<Vec<SharePartitionView>, StoreError> {
        let mut out: BTreeMap<(Uuid, i32), SharePartitionView> = BTreeMap::new();
        for (topic_id, partition, snap) in persist::load_group(&self.store, group)? {
            let sp = SharePartition::from_snapshot(&snap, Limits::default());
            out.insert(
                (topic_id, partition),
                SharePartitionView {
                    key: ShareKey {
                        group: Arc::from(group),
                        topic_id,
                        partition,
                    },
                    start_offset: sp.start_offset(),
                    end_offset: sp.end_offset(),
                    acquired: 0,
                    completed: sp.completed_records(),
                },
            );
        }
        let slots: Vec<(ShareKey, Slot)> = lock(&self.parts)
            .iter()
            .filter(|(k, _)| &*k.group == group)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        for (key, slot) in slots {
            let sp = lock(&slot.sp);
            out.insert(
                (key.topic_id, key.partition),
                SharePartitionView {
                    start_offset: sp.start_offset(),
                    end_offset: sp.end_offset(),
                    acquired: sp.acquired_records(),
                    completed: sp.completed_records(),
                    key,
                },
            );
        }
        Ok(out.into_values().collect())
    }

    /// Every group with share state in memory (console).
    pub fn groups_in_memory(&self) -> Vec<Arc<str>> {
        let mut g: Vec<Arc<str>> = lock(&self.parts).keys().map(|k| k.group.clone()).collect();
        g.sort();
        g.dedup();
        g
    }

    /// AlterShareGroupOffsets: the share-partition restarts at `start_offset` with nothing in
    /// flight (blocking; the caller checks the group is empty).
    pub fn reset_start(&self, key: &ShareKey, start_offset: i64) -> Result<(), ShareError> {
        let sp = SharePartition::new(start_offset, Limits::default());
        persist::save(
            &self.store,
            &key.group,
            key.topic_id,
            key.partition,
            &sp.snapshot(),
        )?;
        let slot = lock(&self.parts).get(key).cloned();
        if let Some(slot) = slot {
            let mut cur = lock(&slot.sp);
            let limits = cur.limits();
            self.tracked(&mut cur, |cur| {
                *cur = SharePartition::new(start_offset, limits)
            });
        }
        Ok(())
    }

    /// Partitions a share group's known topics gained: each share-partition without state
    /// starts at offset 0, through the persister (blocking; see
    /// `group::share::added_partitions`).
    pub fn initialize_added(&self, group: &str, added: &[(Uuid, i32)]) -> Result<(), StateError> {
        self.persister.initialize_at_zero(group, added)
    }

    /// DeleteShareGroupOffsets / a deleted share group: forgets the share-partitions' state
    /// (blocking). `None` = every share-partition of the group.
    pub fn delete_state(
        &self,
        group: &str,
        which: Option<&[TopicIdPartition]>,
    ) -> Result<(), StoreError> {
        let stored = persist::load_group(&self.store, group)?;
        let keys: Vec<Vec<u8>> = stored
            .iter()
            .filter(|(id, p, _)| which.is_none_or(|w| w.contains(&(*id, *p))))
            .map(|(id, p, _)| persist::key(group, *id, *p))
            .collect();
        persist::delete(&self.store, keys)?;
        self.drop_where(|k| {
            &*k.group == group && which.is_none_or(|w| w.contains(&(k.topic_id, k.partition)))
        });
        Ok(())
    }

    /// Drops the in-memory share-partitions whose key matches (their records leave the gauge).
    fn drop_where(&self, pred: impl Fn(&ShareKey) -> bool) {
        let dropped: Vec<Slot> = {
            let mut parts = lock(&self.parts);
            let keys: Vec<ShareKey> = parts.keys().filter(|k| pred(k)).cloned().collect();
            let dropped = keys.iter().filter_map(|k| parts.remove(k)).collect();
            self.metrics.partitions.set(parts.len() as i64);
            dropped
        };
        self.forget(dropped);
    }

    /// Topic `topic_id` was deleted: every share group's state of its partitions goes, in
    /// memory and in this broker's store (blocking). Kafka deletes share-partition state with
    /// the topic.
    pub fn on_topic_deleted(&self, topic_id: Uuid) -> Result<(), StoreError> {
        persist::delete_topic(&self.store, topic_id)?;
        self.drop_where(|k| k.topic_id == topic_id);
        Ok(())
    }

    /// The hook for a deleted group (DeleteGroups of an empty share group): sessions and
    /// durable state go (blocking).
    pub fn on_group_deleted(&self, group: &str) -> Result<(), StoreError> {
        lock(&self.sessions).remove_group(group);
        self.delete_state(group, None)
    }

    /// Cluster mode's hook for a deleted group or an admin reset of its state at the
    /// coordinator: this broker's sessions (deleted group only) and in-memory share-partitions
    /// of the group go; the durable state is the coordinator's.
    pub fn forget_group(&self, group: &str, sessions: bool) {
        if sessions {
            lock(&self.sessions).remove_group(group);
        }
        self.drop_where(|k| &*k.group == group);
    }
}

/// A batch header's position and offsets inside a slice.
#[derive(Debug, Clone, Copy)]
struct BatchPos {
    pos: usize,
    size: usize,
    first: i64,
    last: i64,
    control: bool,
    transactional: bool,
    producer_id: i64,
}

/// Walks the batch headers of a slice (one 61-byte read each, no record decoded).
fn batch_headers(slice: &FileSlice) -> Result<Vec<BatchPos>, LogError> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    let mut buf = [0u8; HEADER_SIZE];
    while pos < slice.len() {
        if pos + HEADER_SIZE > slice.len() {
            return Err(LogError::CorruptMessage(format!(
                "a batch header at {pos} runs past the {}-byte read",
                slice.len()
            )));
        }
        slice
            .read_at(pos, &mut buf)
            .map_err(|e| LogError::io("reading share-fetched batch headers", e))?;
        let h = BatchHeader::parse(&buf)?;
        let size = h.batch_size();
        if pos + size > slice.len() {
            return Err(LogError::CorruptMessage(format!(
                "a batch at {pos} of {size} bytes runs past the {}-byte read",
                slice.len()
            )));
        }
        out.push(BatchPos {
            pos,
            size,
            first: h.base_offset,
            last: h.last_offset(),
            control: h.is_control(),
            transactional: h.is_transactional(),
            producer_id: h.producer_id,
        });
        pos += size;
    }
    Ok(out)
}

/// Marks the batches never to hand out: control batches, and (read_committed) the batches of
/// aborted transactions — Kafka's consumer algorithm: an aborted transaction's producer is
/// aborted from its first offset until its control batch.
fn classify(headers: &[BatchPos], aborted: &[AbortedTxn]) -> Vec<LogBatch> {
    let mut pending: Vec<&AbortedTxn> = aborted.iter().collect();
    pending.sort_by_key(|a| a.first_offset);
    let mut pending = pending.into_iter().peekable();
    let mut active: Vec<i64> = Vec::new();
    headers
        .iter()
        .map(|h| {
            while let Some(a) = pending.next_if(|a| a.first_offset <= h.last) {
                active.push(a.producer_id);
            }
            let skip = if h.control {
                active.retain(|&p| p != h.producer_id);
                true
            } else {
                h.transactional && active.contains(&h.producer_id)
            };
            LogBatch {
                first: h.first,
                last: h.last,
                skip,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka_error::KafkaError;

    #[test]
    fn iso_durations() {
        assert_eq!(parse_iso_duration_ms("PT1H"), Some(3_600_000));
        assert_eq!(
            parse_iso_duration_ms("P1DT30M"),
            Some(86_400_000 + 1_800_000)
        );
        assert_eq!(parse_iso_duration_ms("PT0.5S"), Some(500));
        assert_eq!(parse_iso_duration_ms("P2D"), Some(2 * 86_400_000));
        for bad in ["", "P", "PT", "1H", "PT1X", "PTH"] {
            assert_eq!(parse_iso_duration_ms(bad), None, "{bad}");
        }
    }

    #[test]
    fn settings_from_overrides() {
        let o: BTreeMap<String, String> = [
            ("share.auto.offset.reset", "earliest"),
            ("share.isolation.level", "read_committed"),
            ("share.record.lock.duration.ms", "15000"),
            ("share.delivery.count.limit", "2"),
            ("share.partition.max.record.locks", "100"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let s = GroupSettings::from_overrides(&o);
        assert_eq!(s.reset, AutoReset::Earliest);
        assert!(s.read_committed);
        assert_eq!(
            s.limits,
            Limits {
                lock_duration_ms: 15_000,
                delivery_count_limit: 2,
                max_record_locks: 100
            }
        );
        assert_eq!(
            GroupSettings::from_overrides(&BTreeMap::new()),
            GroupSettings::default()
        );
    }

    fn pos(first: i64, last: i64, control: bool, txn: bool, pid: i64) -> BatchPos {
        BatchPos {
            pos: 0,
            size: 0,
            first,
            last,
            control,
            transactional: txn,
            producer_id: pid,
        }
    }

    #[test]
    fn aborted_and_control_batches_are_skipped() {
        let headers = [
            pos(0, 1, false, true, 7), // aborted txn of producer 7
            pos(2, 3, false, true, 8), // committed txn of producer 8
            pos(4, 4, true, true, 7),  // abort marker
            pos(5, 5, true, true, 8),  // commit marker
            pos(6, 7, false, true, 7), // a later, committed txn of 7
            pos(8, 9, false, false, -1),
        ];
        let aborted = [AbortedTxn {
            producer_id: 7,
            first_offset: 0,
            last_offset: 4,
            last_stable_offset: 5,
        }];
        let skip: Vec<bool> = classify(&headers, &aborted)
            .iter()
            .map(|b| b.skip)
            .collect();
        assert_eq!(skip, vec![true, false, true, true, false, false]);
    }

    /// A stand-in for the share coordinator with its fencing rules (`offsets_topic::share`):
    /// leader epochs recorded on read, older ones refused; older state epochs refused.
    #[derive(Default)]
    struct Coordinator {
        states: Mutex<HashMap<ShareKey, (i32, Snapshot)>>,
    }

    impl Persister for Coordinator {
        fn read(&self, key: &ShareKey, leader_epoch: i32) -> Result<Option<Snapshot>, StateError> {
            let mut m = lock(&self.states);
            match m.get_mut(key) {
                Some((e, _)) if leader_epoch < *e => {
                    Err(StateError::FencedLeaderEpoch("older leader".into()))
                }
                Some((e, s)) => {
                    *e = leader_epoch;
                    Ok(Some(s.clone()))
                }
                None => Ok(None),
            }
        }

        fn write(
            &self,
            key: &ShareKey,
            leader_epoch: i32,
            state: &Snapshot,
        ) -> Result<(), StateError> {
            let mut m = lock(&self.states);
            if let Some((e, s)) = m.get(key) {
                if leader_epoch < *e {
                    return Err(StateError::FencedLeaderEpoch("older leader".into()));
                }
                if state.state_epoch < s.state_epoch {
                    return Err(StateError::FencedStateEpoch("older state".into()));
                }
            }
            m.insert(key.clone(), (leader_epoch, state.clone()));
            Ok(())
        }

        fn initialize_at_zero(&self, group: &str, added: &[(Uuid, i32)]) -> Result<(), StateError> {
            let mut m = lock(&self.states);
            for &(topic_id, partition) in added {
                let key = ShareKey {
                    group: group.into(),
                    topic_id,
                    partition,
                };
                m.entry(key).or_insert_with(|| {
                    (
                        -1,
                        Snapshot {
                            state_epoch: 0,
                            start_offset: 0,
                            ranges: Vec::new(),
                        },
                    )
                });
            }
            Ok(())
        }

        fn shared(&self) -> bool {
            true
        }
    }

    fn manager(dir: &std::path::Path, coordinator: Arc<Coordinator>) -> ShareManager {
        let store = Arc::new(Store::open(dir).unwrap());
        ShareManager::new(store, coordinator, crate::telemetry::Metrics::new().share)
    }

    fn log_of(dir: &std::path::Path, records: usize) -> PartitionLog {
        let log = PartitionLog::open(dir, crate::log::LogConfig::default(), 0).unwrap();
        let batch = crate::log::testutil::BatchBuilder::new()
            .records(records)
            .build();
        log.append(&batch, 0, 1_000).unwrap();
        log
    }

    fn accept(first: i64, last: i64) -> Vec<Ack> {
        vec![Ack {
            first,
            last,
            types: vec![super::super::partition::AckType::Accept],
        }]
    }

    /// A new leader of the data partition (a higher leader epoch) loads the state the old one
    /// made durable: accepted records never come back, acquired-but-unacked ones do; the old
    /// leader is fenced from then on, and an admin reset (higher state epoch) fences the
    /// cached copy of the new leader, which reloads.
    #[test]
    fn leader_change_and_admin_reset_are_fenced() {
        let dirs: Vec<_> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
        let coordinator = Arc::new(Coordinator::default());
        let old = manager(dirs[0].path(), coordinator.clone());
        let new = manager(dirs[1].path(), coordinator.clone());
        let log = log_of(dirs[2].path(), 10);
        let settings = GroupSettings {
            reset: AutoReset::Earliest,
            ..GroupSettings::default()
        };
        let key = ShareKey {
            group: Arc::from("g"),
            topic_id: Uuid::from_u128(9),
            partition: 0,
        };
        let m1: MemberId = Arc::from("m1");
        let m2: MemberId = Arc::from("m2");
        let got = old
            .fetch(&key, &settings, &m1, &log, 1, 1 << 20, 100, true, 10)
            .unwrap()
            .unwrap();
        assert_eq!((got.acquired[0].first, got.acquired[0].last), (0, 9));
        old.acknowledge(&key, &settings, &m1, &accept(0, 4), 1, 11)
            .unwrap();

        // The new leader: 0..4 accepted for good, 5..9 available again.
        let got = new
            .fetch(&key, &settings, &m2, &log, 2, 1 << 20, 100, true, 12)
            .unwrap()
            .unwrap();
        assert_eq!((got.acquired[0].first, got.acquired[0].last), (5, 9));
        // The old leader's write is refused, and so is its reload.
        let e = old
            .acknowledge(&key, &settings, &m1, &accept(5, 9), 1, 13)
            .unwrap_err();
        assert_eq!(e.kafka_code(), KafkaError::FencedLeaderEpoch.code());
        let e = old
            .acknowledge(&key, &settings, &m1, &accept(5, 9), 1, 14)
            .unwrap_err();
        assert_eq!(e.kafka_code(), KafkaError::FencedLeaderEpoch.code());
        new.acknowledge(&key, &settings, &m2, &accept(5, 6), 2, 15)
            .unwrap();

        // An admin reset at the coordinator: start 8, next state epoch.
        {
            let mut m = lock(&coordinator.states);
            let (_, s) = m.get_mut(&key).unwrap();
            *s = Snapshot {
                state_epoch: s.state_epoch + 1,
                start_offset: 8,
                ranges: Vec::new(),
            };
        }
        let e = new
            .acknowledge(&key, &settings, &m2, &accept(7, 7), 2, 16)
            .unwrap_err();
        assert_eq!(e.kafka_code(), KafkaError::FencedStateEpoch.code());
        let got = new
            .fetch(&key, &settings, &m2, &log, 2, 1 << 20, 100, true, 17)
            .unwrap()
            .unwrap();
        assert_eq!((got.acquired[0].first, got.acquired[0].last), (8, 9));
        assert_eq!(lock(&coordinator.states)[&key].1.state_epoch, 1);
    }

    /// The acquired-records gauge follows acquisition, acknowledgement, lock expiry, the log
    /// start moving past acquired records, reset, group and topic deletion.
    #[test]
    fn acquired_gauge_is_exact() {
        use super::super::partition::AckType;
        use crate::log::testutil::BatchBuilder;
        use crate::log::LogConfig;

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(&dir.path().join("store")).unwrap());
        let log = PartitionLog::open(&dir.path().join("t-0"), LogConfig::default(), 0).unwrap();
        for _ in 0..20 {
            log.append(&BatchBuilder::new().build(), 0, 0).unwrap();
        }
        let metrics = crate::telemetry::Metrics::new().share.clone();
        let m = ShareManager::new(
            store.clone(),
            Arc::new(super::super::persister::LocalPersister(store.clone())),
            metrics.clone(),
        );
        let settings = GroupSettings {
            reset: AutoReset::Earliest,
            ..GroupSettings::default()
        };
        let topic = Uuid::from_u128(7);
        let key = |g: &str| ShareKey {
            group: Arc::from(g),
            topic_id: topic,
            partition: 0,
        };
        let member = |s: &str| -> MemberId { Arc::from(s) };
        let fetch = |g: &str, who: &str, n: i64, now: i64| {
            m.fetch(
                &key(g),
                &settings,
                &member(who),
                &log,
                0,
                1 << 20,
                n,
                true,
                now,
            )
            .unwrap()
            .map_or(0, |r| {
                r.acquired.iter().map(|a| a.last - a.first + 1).sum::<i64>()
            })
        };
        let gauge = || metrics.acquired_records.get();

        assert_eq!(fetch("g1", "a", 4, 0), 4);
        assert_eq!(gauge(), 4);
        let accept = Ack {
            first: 0,
            last: 1,
            types: vec![AckType::Accept],
        };
        m.acknowledge(&key("g1"), &settings, &member("a"), &[accept], 0, 0)
            .unwrap();
        assert_eq!(gauge(), 2);
        // Offsets 2 and 3 expire; b acquires 2..=4, then the log start passes them.
        assert_eq!(m.expire_locks(60_000), 2);
        assert_eq!(gauge(), 0);
        assert_eq!(fetch("g1", "b", 3, 60_000), 3);
        assert_eq!(gauge(), 3);
        log.delete_records_before(5).unwrap();
        assert_eq!(fetch("g1", "b", 2, 60_000), 2);
        assert_eq!(
            gauge(),
            2,
            "records archived below the log start are not acquired"
        );
        m.release_member(&Arc::from("g1"), "b", &[(topic, 0)]);
        assert_eq!(gauge(), 0);
        assert_eq!(fetch("g1", "b", 2, 60_000), 2);
        m.reset_start(&key("g1"), 10).unwrap();
        assert_eq!(gauge(), 0, "a reset drops what was acquired");
        // Group deletion, then topic deletion.
        assert_eq!(fetch("g2", "c", 3, 60_000), 3);
        assert_eq!(gauge(), 3);
        m.delete_state("g2", None).unwrap();
        assert_eq!(gauge(), 0);
        assert_eq!(fetch("g1", "a", 3, 60_000), 3);
        assert_eq!(fetch("g3", "a", 1, 60_000), 1);
        assert_eq!(gauge(), 4);
        m.on_topic_deleted(Uuid::from_u128(8)).unwrap();
        assert_eq!(gauge(), 4, "another topic's deletion changes nothing");
        m.on_topic_deleted(topic).unwrap();
        assert_eq!(gauge(), 0);
        assert!(m.groups_in_memory().is_empty());
        for g in ["g1", "g2", "g3"] {
            assert!(persist::load(&store, g, topic, 0).unwrap().is_none(), "{g}");
        }
    }
}
