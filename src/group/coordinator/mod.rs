//! `GroupCoordinator`: the async API the Kafka handlers call, over one `ClassicGroup`
//! state machine per group (plus a `ConsumerGroup` for a KIP-848 group, see `group::kind`).
//! This file holds the groups, their locks, the parked replies and the timer task, and
//! serves the membership and group-admin APIs; the committed-offset APIs and the retention
//! pass are in `offsets`, ConsumerGroupHeartbeat and ConsumerGroupDescribe in `consumer`,
//! classic members of consumer groups and the online upgrade / downgrade in `migration`.
//!
//! Concurrency:
//! - `groups` is a `std::sync::Mutex<HashMap<group id, Arc<tokio::sync::Mutex<GroupSlot>>>>`.
//!   The map lock is held only to look up, insert or remove an entry, never across `.await`,
//!   so a plain std mutex is right.
//! - Each group has its own `tokio::sync::Mutex`. It is async because it *is* held across
//!   `.await`: the store write of a state change (run on `spawn_blocking`) happens under the
//!   group's lock, so writes reach the store in state order and no request sees a state
//!   whose write is still in flight. Requests to different groups never contend.
//!   At most one group lock is held at a time, so there is no lock ordering to get wrong.
//! - JoinGroup and SyncGroup that must wait for the rebalance are parked: the slot keeps a
//!   `oneshot::Sender` per member id and the request awaits the receiver with no lock held.
//!   The state machine's `Effects` say which member gets which reply.
//! - One background task owns all timers. It sleeps (on `tokio::time`, so tests can pause
//!   and advance time) until the earliest group deadline in `TimerQueue` or the next offset
//!   expiry pass, then ticks the due groups. Every operation re-registers its group's next
//!   deadline and wakes the task. The task stops on `shutdown()` or when the coordinator is
//!   dropped.
//! - A group removed from the map (DeleteGroups, expiry) is first marked Dead under its
//!   lock; a request that raced and still holds the old `Arc` gets COORDINATOR_NOT_AVAILABLE
//!   and retries, exactly Kafka's reason for the Dead state.
//!
//! Ownership (`ownership.rs`): a single broker coordinates every group. In a cluster the
//! coordinator of a group is the leader of its `__consumer_offsets` partition: only groups of
//! partitions this broker has loaded are served (NOT_COORDINATOR otherwise,
//! COORDINATOR_LOAD_IN_PROGRESS while the partition loads), and losing the leadership unloads
//! them. The ownership table is locked only while `groups` is locked, so a group is never
//! created in a partition that is being unloaded.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex as StdMutex, MutexGuard};

use tokio::sync::{oneshot, watch, Mutex, Notify};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::consumer::ConsumerGroup;
use super::error::GroupError;
use super::kind::{Group, GroupType};
use super::share::ShareGroup;
use super::state::{ClassicGroup, Effects, Outcome};
use super::store::{
    GroupStore, GroupStoreError, GroupWrite, MetadataWrite, PendingWrite, PersistedGroup,
};
use super::timer::{Clock, TimerQueue};
use super::types::*;

mod consumer;
mod migration;
mod offsets;
mod ownership;
mod share;

pub use migration::TopicsHook;
pub use share::{ShareGroupDeletedHook, SharePartitionsAddedHook};

use ownership::Owned;

/// One group plus the reply channels of its parked requests.
struct GroupSlot {
    /// The classic or share group; a classic one also owns the offsets of a consumer group
    /// (and is then Empty).
    group: Group,
    /// Set when the group is a KIP-848 consumer group (`group` is then classic).
    consumer: Option<ConsumerGroup>,
    join_waiters: HashMap<String, oneshot::Sender<JoinResponse>>,
    sync_waiters: HashMap<String, oneshot::Sender<SyncResponse>>,
    /// Transactional offsets waiting for their transaction's marker, by producer id.
    pending: BTreeMap<i64, BTreeMap<(String, i32), CommittedOffset>>,
}

type SlotRef = Arc<Mutex<GroupSlot>>;

impl GroupSlot {
    /// Sends the state machine's replies to the parked requests they answer.
    fn deliver(&mut self, fx: Effects) {
        for (member_id, reply) in fx.join_replies {
            if let Some(tx) = self.join_waiters.remove(&member_id) {
                let _ = tx.send(reply);
            }
        }
        for (member_id, reply) in fx.sync_replies {
            if let Some(tx) = self.sync_waiters.remove(&member_id) {
                let _ = tx.send(reply);
            }
        }
    }
}

struct Inner {
    node_id: i32,
    config: GroupConfig,
    store: Arc<dyn GroupStore>,
    clock: Clock,
    groups: StdMutex<HashMap<String, SlotRef>>,
    /// Cluster mode: the offsets partitions this broker coordinates (see the header); `None`
    /// on a single broker, which coordinates every group. Locked only under `groups`.
    owned: Option<StdMutex<Owned>>,
    timers: StdMutex<TimerQueue>,
    wake: Notify,
    shutdown: watch::Sender<bool>,
    /// Last snapshot of each group, for `describe_all` when a group is busy.
    snapshots: StdMutex<HashMap<String, GroupSnapshot>>,
    /// Called after a share group is deleted (see `on_share_group_deleted`).
    share_deleted: StdMutex<Option<ShareGroupDeletedHook>>,
    /// Initializes the partitions a share group's known topics gained (see
    /// `on_share_partitions_added`).
    share_added: StdMutex<Option<SharePartitionsAddedHook>>,
    /// The topics that exist (see `on_topics`).
    topics: StdMutex<Option<TopicsHook>>,
}

/// The classic group coordinator. Cheap to share behind an `Arc`.
pub struct GroupCoordinator {
    inner: Arc<Inner>,
    timer_task: StdMutex<Option<JoinHandle<()>>>,
}

/// Locks a std mutex, recovering the data if a panicking thread poisoned it (the maps stay
/// consistent: every critical section is a single insert/remove/lookup).
fn lock<T>(m: &StdMutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl GroupCoordinator {
    /// Loads every stored group and builds the coordinator of a single broker; the timer
    /// task starts with `spawn_background`. Blocking (it reads the whole store): call it
    /// from a blocking thread or before serving.
    pub fn open(
        node_id: i32,
        config: impl Into<GroupConfig>,
        store: Arc<dyn GroupStore>,
    ) -> Result<Arc<Self>, GroupError> {
        Self::open_with(node_id, config.into(), store, None)
    }

    /// The coordinator of a cluster member: it serves no group until the leadership of an
    /// offsets partition (out of `partitions`) loads that partition's groups
    /// (`begin_load`, `finish_load`). Nothing is read from `store` here.
    pub fn open_in_cluster(
        node_id: i32,
        config: impl Into<GroupConfig>,
        store: Arc<dyn GroupStore>,
        partitions: i32,
    ) -> Arc<Self> {
        let owned = Owned::new(partitions);
        match Self::open_with(node_id, config.into(), store, Some(owned)) {
            Ok(c) => c,
            // open_with reads the store only on a single broker.
            Err(e) => unreachable!("a cluster coordinator loads nothing at open: {e}"),
        }
    }

    fn open_with(
        node_id: i32,
        config: GroupConfig,
        store: Arc<dyn GroupStore>,
        owned: Option<Owned>,
    ) -> Result<Arc<Self>, GroupError> {
        let clock = Clock::new();
        let persisted = match owned {
            Some(_) => Vec::new(),
            None => store
                .load()
                .map_err(|e| GroupError::CoordinatorNotAvailable(e.to_string()))?,
        };
        let now = clock.now_ms();
        let mut groups = HashMap::new();
        let mut timers = TimerQueue::default();
        for p in persisted {
            let slot = loaded_slot(p, &config, now);
            timers.set(slot.group.group_id(), slot.next_deadline());
            groups.insert(
                slot.group.group_id().to_string(),
                Arc::new(Mutex::new(slot)),
            );
        }
        let (shutdown, _) = watch::channel(false);
        let inner = Arc::new(Inner {
            node_id,
            config,
            store,
            clock,
            groups: StdMutex::new(groups),
            owned: owned.map(StdMutex::new),
            timers: StdMutex::new(timers),
            wake: Notify::new(),
            shutdown,
            snapshots: StdMutex::new(HashMap::new()),
            share_deleted: StdMutex::new(None),
            share_added: StdMutex::new(None),
            topics: StdMutex::new(None),
        });
        Ok(Arc::new(GroupCoordinator {
            inner,
            timer_task: StdMutex::new(None),
        }))
    }

    /// Starts the timer task (session expiry, rebalance and initial-delay timeouts, offset
    /// retention). It stops when `shutdown` is cancelled, on `shutdown()`, or when the
    /// coordinator is dropped. A second call does nothing. Needs a tokio runtime.
    pub fn spawn_background(&self, shutdown: CancellationToken) {
        let mut task = lock(&self.timer_task);
        if task.is_none() {
            let rx = self.inner.shutdown.subscribe();
            *task = Some(tokio::spawn(run_timers(self.inner.clone(), rx, shutdown)));
        }
    }

    /// `open` on a blocking thread, then `spawn_background`: for tests and tools.
    pub async fn start(
        node_id: i32,
        config: GroupConfig,
        store: Arc<dyn GroupStore>,
    ) -> Result<Arc<Self>, GroupError> {
        let c = tokio::task::spawn_blocking(move || GroupCoordinator::open(node_id, config, store))
            .await
            .map_err(|e| {
                GroupError::CoordinatorNotAvailable(format!("group load task failed: {e}"))
            })??;
        c.spawn_background(CancellationToken::new());
        Ok(c)
    }

    /// The node that coordinates `group_id` on a single broker: this one. (In a cluster,
    /// FindCoordinator names the leader of the group's offsets partition.)
    pub fn coordinator_for(&self, _group_id: &str) -> i32 {
        self.inner.node_id
    }

    /// The coordinator's clock, in ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    pub fn config(&self) -> &GroupConfig {
        &self.inner.config
    }

    /// Tells the timer task to stop (it exits at its next wake-up). Parked requests are
    /// not answered any more. Safe to call from any thread.
    pub fn shutdown(&self) {
        self.inner.shutdown.send_replace(true);
    }

    /// `shutdown()` and wait for the timer task to exit.
    pub async fn stop(&self) {
        self.shutdown();
        let task = lock(&self.timer_task).take();
        if let Some(task) = task {
            let _ = task.await;
        }
    }

    /// Every live group with members and offsets, for the console and metrics. Never
    /// waits: a group busy with a request (e.g. a store write) is shown as last seen.
    pub fn describe_all(&self) -> Vec<GroupSnapshot> {
        let slots: Vec<(String, SlotRef)> = lock(&self.inner.groups)
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut cache = lock(&self.inner.snapshots);
        let mut out = Vec::with_capacity(slots.len());
        for (id, slot) in &slots {
            let snap = match slot.try_lock() {
                Ok(s) if s.group.state() == GroupState::Dead => None,
                Ok(s) => {
                    let snap = s.snapshot();
                    cache.insert(id.clone(), snap.clone());
                    Some(snap)
                }
                Err(_) => cache.get(id).cloned(),
            };
            out.extend(snap);
        }
        cache.retain(|id, _| slots.iter().any(|(k, _)| k == id));
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// JoinGroup. Parks until the join phase completes when the member must wait.
    pub async fn join(&self, req: JoinRequest) -> JoinResponse {
        let cfg = &self.inner.config;
        if req.group_id.is_empty() {
            return JoinResponse::error(GroupError::InvalidGroupId(req.group_id), req.member_id);
        }
        if req.session_timeout_ms < cfg.min_session_timeout_ms
            || req.session_timeout_ms > cfg.max_session_timeout_ms
        {
            let e = GroupError::InvalidSessionTimeout {
                requested: req.session_timeout_ms,
                min: cfg.min_session_timeout_ms,
                max: cfg.max_session_timeout_ms,
            };
            return JoinResponse::error(e, req.member_id);
        }
        let slot = match self
            .inner
            .served_slot(&req.group_id, req.member_id.is_empty())
        {
            Ok(Some((slot, _))) => slot,
            Ok(None) => {
                return JoinResponse::error(
                    GroupError::UnknownMemberId(req.member_id.clone()),
                    req.member_id,
                )
            }
            Err(e) => return JoinResponse::error(e, req.member_id),
        };
        let mut s = slot.lock().await;
        if s.consumer.as_ref().is_some_and(|c| !c.is_empty()) {
            return self.inner.classic_join_consumer(&mut s, &req).await;
        }
        if let Err(e) = self.inner.leave_consumer_protocol(&mut s).await {
            return JoinResponse::error(e, req.member_id);
        }
        let now = self.now_ms();
        let Ok(group) = s.group.classic_mut() else {
            // Kafka: JoinGroup to a group of another kind.
            let e = GroupError::InconsistentGroupProtocol(format!(
                "group {} is not a classic group",
                req.group_id
            ));
            return JoinResponse::error(e, String::new());
        };
        let (outcome, fx) = group.join(&req, cfg, now);
        let rx = match outcome {
            Outcome::Reply(r) => {
                self.inner.finish(&mut s, fx).await;
                return r;
            }
            Outcome::Parked(member_id) => {
                let (tx, rx) = oneshot::channel();
                s.join_waiters.insert(member_id, tx);
                rx
            }
        };
        self.inner.finish(&mut s, fx).await;
        drop(s);
        rx.await.unwrap_or_else(|_| {
            JoinResponse::error(
                GroupError::CoordinatorNotAvailable(
                    "join request superseded or coordinator stopped".into(),
                ),
                req.member_id,
            )
        })
    }

    /// SyncGroup. Followers park until the leader's assignment arrives.
    pub async fn sync(&self, req: SyncRequest) -> SyncResponse {
        if req.group_id.is_empty() {
            return SyncResponse::error(GroupError::InvalidGroupId(req.group_id));
        }
        let slot = match self.inner.served_slot(&req.group_id, false) {
            Ok(Some((slot, _))) => slot,
            Ok(None) => return SyncResponse::error(GroupError::UnknownMemberId(req.member_id)),
            Err(e) => return SyncResponse::error(e),
        };
        let mut s = slot.lock().await;
        if s.consumer.is_some() {
            return self.inner.classic_sync_consumer(&mut s, &req);
        }
        let now = self.now_ms();
        let group = match s.group.classic_mut() {
            Ok(g) => g,
            Err(e) => return SyncResponse::error(e),
        };
        let (outcome, fx) = group.sync(&req, &self.inner.config, now);
        let rx = match outcome {
            Outcome::Reply(r) => {
                self.inner.finish(&mut s, fx).await;
                return r;
            }
            Outcome::Parked(member_id) => {
                let (tx, rx) = oneshot::channel();
                s.sync_waiters.insert(member_id, tx);
                rx
            }
        };
        self.inner.finish(&mut s, fx).await;
        drop(s);
        rx.await.unwrap_or_else(|_| {
            SyncResponse::error(GroupError::CoordinatorNotAvailable(
                "sync request superseded or coordinator stopped".into(),
            ))
        })
    }

    /// Heartbeat.
    pub async fn heartbeat(&self, req: HeartbeatRequest) -> Result<(), GroupError> {
        if req.group_id.is_empty() {
            return Err(GroupError::InvalidGroupId(req.group_id));
        }
        let Some((slot, _)) = self.inner.served_slot(&req.group_id, false)? else {
            return Err(GroupError::UnknownMemberId(req.member_id));
        };
        let mut s = slot.lock().await;
        if s.consumer.is_some() {
            return self.inner.classic_heartbeat_consumer(&mut s, &req);
        }
        let now = self.now_ms();
        let (result, fx) = s
            .group
            .classic_mut()?
            .heartbeat(&req, &self.inner.config, now);
        self.inner.finish(&mut s, fx).await;
        result
    }

    /// LeaveGroup: per-member results; `Err` is the top-level error.
    pub async fn leave(
        &self,
        group_id: &str,
        members: Vec<LeaveMember>,
    ) -> Result<Vec<LeaveMemberResult>, GroupError> {
        if group_id.is_empty() {
            return Err(GroupError::InvalidGroupId(group_id.into()));
        }
        let Some((slot, _)) = self.inner.served_slot(group_id, false)? else {
            return Err(GroupError::UnknownMemberId(String::new()));
        };
        let mut s = slot.lock().await;
        if s.consumer.is_some() {
            return self.inner.classic_leave_consumer(&mut s, &members).await;
        }
        let now = self.now_ms();
        let (result, fx) = s
            .group
            .classic_mut()?
            .leave(&members, &self.inner.config, now);
        self.inner.finish(&mut s, fx).await;
        result
    }

    /// DescribeGroups. Unknown groups give `GroupIdNotFound` (handlers below v6 turn that
    /// into state "Dead" with no error).
    pub async fn describe(
        &self,
        group_ids: &[String],
    ) -> Vec<(String, Result<GroupDescription, GroupError>)> {
        let mut out = Vec::with_capacity(group_ids.len());
        for id in group_ids {
            let result = if id.is_empty() {
                Err(GroupError::InvalidGroupId(id.clone()))
            } else {
                match self.inner.served_slot(id, false) {
                    Err(e) => Err(e),
                    Ok(None) => Err(GroupError::GroupIdNotFound(id.clone())),
                    Ok(Some((slot, _))) => {
                        let s = slot.lock().await;
                        // A consumer group is described by ConsumerGroupDescribe only.
                        if s.group.state() == GroupState::Dead || s.consumer.is_some() {
                            Err(GroupError::GroupIdNotFound(id.clone()))
                        } else {
                            s.group.classic().map(ClassicGroup::describe)
                        }
                    }
                }
            };
            out.push((id.clone(), result));
        }
        out
    }

    /// ListGroups: the groups this broker coordinates. Filters are case-insensitive; an empty
    /// filter matches everything. `types_filter` is the group type ("classic"), not the
    /// protocol type. COORDINATOR_LOAD_IN_PROGRESS while an offsets partition loads.
    pub async fn list(
        &self,
        states_filter: &[String],
        types_filter: &[String],
    ) -> Result<Vec<ListedGroup>, GroupError> {
        self.check_not_loading()?;
        let states: Vec<String> = states_filter.iter().map(|s| s.to_lowercase()).collect();
        let types: Vec<String> = types_filter.iter().map(|s| s.to_lowercase()).collect();
        let mut out = Vec::new();
        for slot in self.inner.all_slots() {
            let s = slot.lock().await;
            if s.group.state() == GroupState::Dead {
                continue;
            }
            let listed = match &s.consumer {
                Some(c) => c.listed(),
                None => s.group.listed(),
            };
            let state_ok = states.is_empty() || states.contains(&listed.state.to_lowercase());
            let type_ok = types.is_empty() || types.contains(&listed.group_type.to_string());
            if state_ok && type_ok {
                out.push(listed);
            }
        }
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(out)
    }

    /// DeleteGroups: only Empty groups (NON_EMPTY_GROUP otherwise, GROUP_ID_NOT_FOUND if
    /// unknown). Deletes the group's offsets too.
    pub async fn delete(&self, group_ids: &[String]) -> Vec<(String, Result<(), GroupError>)> {
        let mut out = Vec::with_capacity(group_ids.len());
        for id in group_ids {
            let result = if id.is_empty() {
                Err(GroupError::InvalidGroupId(id.clone()))
            } else {
                match self.inner.served_slot(id, false) {
                    Err(e) => Err(e),
                    Ok(None) => Err(GroupError::GroupIdNotFound(id.clone())),
                    Ok(Some((slot, _))) => {
                        let mut s = slot.lock().await;
                        let check = match &s.consumer {
                            Some(c) if !c.is_empty() => Err(GroupError::NonEmptyGroup(id.clone())),
                            _ => s.group.validate_delete(),
                        };
                        match check {
                            Err(e) => Err(e),
                            Ok(()) => self.inner.remove_group(&slot, &mut s).await,
                        }
                    }
                }
            };
            out.push((id.clone(), result));
        }
        out
    }
}

impl Drop for GroupCoordinator {
    fn drop(&mut self) {
        // Stops the timer task even when `shutdown()` was not awaited.
        self.inner.shutdown.send_replace(true);
    }
}

impl Inner {
    /// Looks up a group this coordinator serves, creating an Empty one when `create`.
    /// Returns whether it was created. `Err`: not served here (cluster mode, see the header).
    fn served_slot(
        &self,
        group_id: &str,
        create: bool,
    ) -> Result<Option<(SlotRef, bool)>, GroupError> {
        self.served_slot_of(group_id, create.then_some(GroupType::Classic))
    }

    /// `served_slot`, creating an Empty group of the given kind when `create` says one.
    fn served_slot_of(
        &self,
        group_id: &str,
        create: Option<GroupType>,
    ) -> Result<Option<(SlotRef, bool)>, GroupError> {
        let mut groups = lock(&self.groups);
        if let Some(owned) = &self.owned {
            lock(owned).check(group_id)?;
        }
        if let Some(s) = groups.get(group_id) {
            return Ok(Some((s.clone(), false)));
        }
        let group = match create {
            None => return Ok(None),
            // A consumer group starts as an Empty classic slot (`consumer_heartbeat`).
            Some(GroupType::Classic | GroupType::Consumer) => {
                Group::Classic(ClassicGroup::new(group_id, self.clock.now_ms()))
            }
            Some(GroupType::Share) => Group::Share(ShareGroup::new(group_id)),
        };
        let slot = Arc::new(Mutex::new(GroupSlot {
            group,
            consumer: None,
            join_waiters: HashMap::new(),
            sync_waiters: HashMap::new(),
            pending: BTreeMap::new(),
        }));
        groups.insert(group_id.to_string(), slot.clone());
        Ok(Some((slot, true)))
    }

    fn all_slots(&self) -> Vec<SlotRef> {
        lock(&self.groups).values().cloned().collect()
    }

    /// Runs one blocking store write off the async threads.
    async fn persist(&self, group_id: &str, write: GroupWrite) -> Result<(), GroupError> {
        if write.is_empty() {
            return Ok(());
        }
        let store = self.store.clone();
        let gid = group_id.to_string();
        self.store_call(group_id, move || store.persist(&gid, &write))
            .await
    }

    /// Runs one blocking write of transactional offsets off the async threads.
    async fn persist_pending(&self, group_id: &str, write: PendingWrite) -> Result<(), GroupError> {
        let store = self.store.clone();
        let gid = group_id.to_string();
        self.store_call(group_id, move || store.persist_pending(&gid, &write))
            .await
    }

    async fn store_call(
        &self,
        group_id: &str,
        call: impl FnOnce() -> Result<(), GroupStoreError> + Send + 'static,
    ) -> Result<(), GroupError> {
        match tokio::task::spawn_blocking(call).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(GroupStoreError::NotCoordinator(m))) => {
                tracing::info!(group = %group_id, reason = %m, "group write refused: not the coordinator any more");
                Err(GroupError::NotCoordinator(group_id.to_string()))
            }
            Ok(Err(e)) => {
                tracing::error!(group = %group_id, error = %e, "group store write failed");
                Err(GroupError::CoordinatorNotAvailable(e.to_string()))
            }
            Err(e) => Err(GroupError::CoordinatorNotAvailable(format!(
                "store task failed: {e}"
            ))),
        }
    }

    /// Carries out a state machine's effects: persist (if asked) before any reply leaves,
    /// deliver replies to parked requests, re-arm the group's timer.
    async fn finish(&self, s: &mut GroupSlot, mut fx: Effects) {
        if fx.persist_metadata {
            let write = GroupWrite {
                metadata: MetadataWrite::Put(s.group.to_record()),
                offsets_put: Vec::new(),
                offsets_delete: Vec::new(),
            };
            if let Err(e) = self.persist(s.group.group_id(), write).await {
                // Nothing that depends on the lost write may be acknowledged.
                for (_, r) in fx
                    .join_replies
                    .iter_mut()
                    .filter(|(_, r)| r.error.is_none())
                {
                    *r = JoinResponse::error(e.clone(), r.member_id.clone());
                }
                for (_, r) in fx
                    .sync_replies
                    .iter_mut()
                    .filter(|(_, r)| r.error.is_none())
                {
                    *r = SyncResponse::error(e.clone());
                }
                let now = self.clock.now_ms();
                let mut more = s.group.on_assignment_persist_failed(&self.config, now);
                more.persist_metadata = false;
                fx.merge(more);
            }
        }
        s.deliver(fx);
        self.schedule(s);
    }

    fn schedule(&self, s: &GroupSlot) {
        let earliest = lock(&self.timers).set(s.group.group_id(), s.next_deadline());
        if earliest {
            self.wake.notify_one();
        }
    }

    /// Deletes a group (store first, then memory) while holding its lock.
    async fn remove_group(&self, slot: &SlotRef, s: &mut GroupSlot) -> Result<(), GroupError> {
        let offsets_delete = s
            .group
            .offsets()
            .map(|(t, p, _)| (t.to_string(), p))
            .collect();
        let write = GroupWrite {
            metadata: MetadataWrite::Delete,
            offsets_put: Vec::new(),
            offsets_delete,
        };
        self.persist(s.group.group_id(), write).await?;
        let err = GroupError::CoordinatorNotAvailable(format!(
            "group {} was removed",
            s.group.group_id()
        ));
        let fx = s.group.mark_dead(self.clock.now_ms(), err);
        let gid = s.group.group_id().to_string();
        {
            let mut groups = lock(&self.groups);
            if groups.get(&gid).is_some_and(|cur| Arc::ptr_eq(cur, slot)) {
                groups.remove(&gid);
            }
        }
        lock(&self.timers).set(&gid, None);
        s.deliver(fx);
        if matches!(s.group, Group::Share(_)) {
            self.share_group_deleted(&gid);
        }
        Ok(())
    }

    async fn tick_group(&self, group_id: &str, now_ms: i64) {
        let Some(slot) = lock(&self.groups).get(group_id).cloned() else {
            return;
        };
        let mut s = slot.lock().await;
        self.tick_consumer(&mut s, now_ms).await;
        let fx = s.group.tick(&self.config, now_ms);
        self.finish(&mut s, fx).await;
    }
}

/// A group read back from the store, as its slot: no parked requests, so the effects of
/// loading have nothing to deliver.
fn loaded_slot(mut p: PersistedGroup, config: &GroupConfig, now_ms: i64) -> GroupSlot {
    let consumer = consumer::loaded(&mut p, config, now_ms);
    let mut pending: BTreeMap<i64, BTreeMap<(String, i32), CommittedOffset>> = BTreeMap::new();
    for (pid, topic, partition, o) in std::mem::take(&mut p.pending) {
        pending
            .entry(pid)
            .or_default()
            .insert((topic, partition), o.into());
    }
    let mut group = Group::from_persisted(p, config, now_ms);
    if let Group::Classic(g) = &mut group {
        let _ = g.on_loaded(config, now_ms);
    }
    tracing::info!(
        group = %group.group_id(),
        kind = group.group_type().as_str(),
        members = group.num_members(),
        "loaded group"
    );
    GroupSlot {
        group,
        consumer,
        join_waiters: HashMap::new(),
        sync_waiters: HashMap::new(),
        pending,
    }
}

/// The timer task: sleeps until the earliest group deadline (or the next offset expiry
/// pass), ticks the due groups, repeats until shutdown.
async fn run_timers(
    inner: Arc<Inner>,
    mut shutdown: watch::Receiver<bool>,
    token: CancellationToken,
) {
    let interval = inner.config.offsets_retention_check_interval_ms.max(1);
    let mut next_expiry = inner.clock.now_ms().saturating_add(interval);
    loop {
        if *shutdown.borrow() {
            break;
        }
        let next = lock(&inner.timers)
            .first()
            .map_or(next_expiry, |d| d.min(next_expiry));
        tokio::select! {
            _ = tokio::time::sleep_until(inner.clock.instant_at(next)) => {}
            _ = inner.wake.notified() => continue,
            _ = token.cancelled() => break,
            changed = shutdown.changed() => {
                if changed.is_err() || *shutdown.borrow() {
                    break;
                }
                continue;
            }
        }
        let now = inner.clock.now_ms();
        let due = lock(&inner.timers).pop_due(now);
        for group_id in due {
            inner.tick_group(&group_id, now).await;
        }
        if now >= next_expiry {
            let removed = inner.expire_offsets(now).await;
            if removed > 0 {
                tracing::info!(removed, "expired committed offsets");
            }
            next_expiry = now.saturating_add(interval);
        }
    }
    tracing::debug!("group coordinator timer task stopped");
}

#[cfg(test)]
mod migration_tests;
#[cfg(test)]
mod share_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod testutil;
