//! The leader's side of one replicated partition (Kafka's `Partition` on its leader): each
//! follower's fetch state, the ISR as the controller committed it plus at most one change in
//! flight, and the high watermark over them. Pure bookkeeping: the caller passes the log end
//! offset and the clock, and carries the decisions out (the log's high watermark, the
//! AlterPartition proposal), so every rule is tested here without a log or a controller.
//!
//! Rules (CLUSTER.md §1.3–1.5, Kafka's `Partition.scala` / `Replica.scala`):
//! - A follower fetching at offset F has every record below F: its log end offset becomes F.
//!   Its last caught-up time becomes this fetch's time if F reached the leader's log end, or
//!   the previous fetch's time if F reached the leader's log end *at* that previous fetch
//!   (so a follower that is always slightly behind a busy leader stays in sync).
//! - High watermark = the least log end offset of the leader and of every member of the
//!   *maximal* ISR (committed ∪ a pending expansion; a pending shrink keeps the old ISR), and
//!   of every follower caught up within `replica.lag.time.max.ms` even if not in the ISR yet.
//!   It never decreases, and does not advance while the ISR is smaller than
//!   min(`min.insync.replicas`, replicas) (KIP-966's strict min ISR).
//! - Shrink: an ISR follower whose log end differs from the leader's and whose last caught-up
//!   time is older than `replica.lag.time.max.ms`.
//! - Expand: a follower outside the ISR whose log end reached the high watermark and the start
//!   of the current leader epoch, and which the controller does not fence.
//! - At most one ISR change is in flight; a new one is proposed only once the previous one was
//!   committed (a newer partition epoch arrived) or refused.
//!
//! Invariants: the leader is always in the ISR it proposes; a proposal only names replicas.

use std::collections::BTreeMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// What the leader knows about one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Follower {
    /// Its log end offset as its last fetch reported (-1: no fetch since this leader began).
    leo: i64,
    last_fetch_ms: i64,
    /// The leader's log end offset when that fetch arrived.
    last_fetch_leader_leo: i64,
    last_caught_up_ms: i64,
}

/// An ISR change to send to the controller (AlterPartition).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IsrProposal {
    pub leader_epoch: i32,
    pub partition_epoch: i32,
    pub isr: Vec<i32>,
}

#[derive(Debug)]
struct Inner {
    replicas: Vec<i32>,
    /// As committed by the controller.
    isr: Vec<i32>,
    partition_epoch: i32,
    /// The ISR proposed and not answered yet.
    pending: Option<Vec<i32>>,
    followers: BTreeMap<i32, Follower>,
    /// Replicas the controller fences (or does not know): never added to the ISR, and they
    /// hold the high watermark back only as ISR members.
    ineligible: Vec<i32>,
}

impl Inner {
    /// Committed ISR plus a pending expansion (a pending shrink keeps the old ISR).
    fn maximal_isr(&self) -> Vec<i32> {
        let mut isr = self.isr.clone();
        if let Some(p) = &self.pending {
            isr.extend(p.iter().filter(|r| !self.isr.contains(r)));
        }
        isr
    }

    fn propose(&mut self, leader_epoch: i32, isr: Vec<i32>) -> IsrProposal {
        self.pending = Some(isr.clone());
        IsrProposal {
            leader_epoch,
            partition_epoch: self.partition_epoch,
            isr,
        }
    }
}

/// One partition this broker leads, at one leader epoch.
#[derive(Debug)]
pub struct LeaderState {
    node_id: i32,
    pub leader_epoch: i32,
    /// The log end offset when this leader epoch began (Kafka's leaderEpochStartOffset).
    pub epoch_start_offset: i64,
    inner: Mutex<Inner>,
    /// Set once this broker stops leading at this epoch; parked acks=all produces watch it.
    resigned: watch::Sender<bool>,
}

impl LeaderState {
    /// Kafka's `makeLeader`: followers in the ISR count as caught up now, the others never.
    pub fn new(
        node_id: i32,
        leader_epoch: i32,
        epoch_start_offset: i64,
        replicas: &[i32],
        isr: &[i32],
        partition_epoch: i32,
        now_ms: i64,
    ) -> Self {
        let followers = replicas
            .iter()
            .filter(|&&r| r != node_id)
            .map(|&r| (r, new_follower(isr.contains(&r), now_ms)))
            .collect();
        LeaderState {
            node_id,
            leader_epoch,
            epoch_start_offset,
            inner: Mutex::new(Inner {
                replicas: replicas.to_vec(),
                isr: isr.to_vec(),
                partition_epoch,
                pending: None,
                followers,
                ineligible: Vec::new(),
            }),
            resigned: watch::channel(false).0,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A newer controller state at the same leader epoch (an ISR change committed, replicas
    /// reassigned). Older or equal partition epochs change nothing.
    pub fn update(&self, replicas: &[i32], isr: &[i32], partition_epoch: i32, now_ms: i64) {
        let mut s = self.lock();
        if partition_epoch <= s.partition_epoch {
            return;
        }
        s.partition_epoch = partition_epoch;
        s.isr = isr.to_vec();
        s.pending = None;
        s.replicas = replicas.to_vec();
        let node = self.node_id;
        s.followers.retain(|r, _| replicas.contains(r));
        for &r in replicas.iter().filter(|&&r| r != node) {
            s.followers
                .entry(r)
                .or_insert_with(|| new_follower(isr.contains(&r), now_ms));
        }
    }

    /// The replicas that are fenced or unregistered now (from each metadata image).
    pub fn set_ineligible(&self, ineligible: Vec<i32>) {
        self.lock().ineligible = ineligible;
    }

    /// The controller refused the proposal in flight: the committed ISR stands.
    pub fn proposal_refused(&self) {
        self.lock().pending = None;
    }

    /// Whether `replica` is one of this partition's replicas.
    pub fn is_replica(&self, replica: i32) -> bool {
        self.lock().replicas.contains(&replica)
    }

    /// Size of the committed ISR (NOT_ENOUGH_REPLICAS before an acks=all append).
    pub fn isr_len(&self) -> usize {
        self.lock().isr.len()
    }

    /// Size of the maximal ISR (NOT_ENOUGH_REPLICAS_AFTER_APPEND when an acks=all write
    /// completes).
    pub fn maximal_isr_len(&self) -> usize {
        self.lock().maximal_isr().len()
    }

    /// Whether the committed ISR is smaller than the replica set.
    pub fn is_under_replicated(&self) -> bool {
        let s = self.lock();
        s.isr.len() < s.replicas.len()
    }

    #[cfg(test)]
    fn isr(&self) -> Vec<i32> {
        self.lock().isr.clone()
    }

    /// Records a follower's fetch at `fetch_offset` (see the module header). Returns an ISR
    /// expansion to propose when it just became eligible.
    pub fn follower_fetched(
        &self,
        replica: i32,
        fetch_offset: i64,
        leader_leo: i64,
        high_watermark: i64,
        now_ms: i64,
    ) -> Option<IsrProposal> {
        let mut s = self.lock();
        let f = s.followers.get_mut(&replica)?;
        if fetch_offset >= leader_leo {
            f.last_caught_up_ms = now_ms;
        } else if fetch_offset >= f.last_fetch_leader_leo {
            f.last_caught_up_ms = f.last_caught_up_ms.max(f.last_fetch_ms);
        }
        f.leo = fetch_offset;
        f.last_fetch_ms = now_ms;
        f.last_fetch_leader_leo = leader_leo;
        let eligible = fetch_offset >= high_watermark && fetch_offset >= self.epoch_start_offset;
        if s.pending.is_some()
            || s.isr.contains(&replica)
            || !eligible
            || s.ineligible.contains(&replica)
        {
            return None;
        }
        let mut isr = s.isr.clone();
        isr.push(replica);
        Some(s.propose(self.leader_epoch, isr))
    }

    /// The high watermark the leader may publish now (see the module header); never below
    /// `current`.
    pub fn high_watermark(
        &self,
        leader_leo: i64,
        current: i64,
        min_insync: i32,
        lag_max_ms: i64,
        now_ms: i64,
    ) -> i64 {
        let s = self.lock();
        let effective_min = (min_insync.max(1) as usize).min(s.replicas.len().max(1));
        if s.isr.len() < effective_min {
            return current;
        }
        let maximal = s.maximal_isr();
        let mut hw = leader_leo;
        for (r, f) in &s.followers {
            let counts = maximal.contains(r)
                || (!s.ineligible.contains(r) && now_ms - f.last_caught_up_ms <= lag_max_ms);
            if counts && f.leo < hw {
                hw = f.leo;
            }
        }
        hw.max(current)
    }

    /// An ISR shrink to propose: the ISR followers that fell behind for longer than
    /// `lag_max_ms`. None while a change is in flight or nobody lags.
    pub fn shrink_proposal(
        &self,
        leader_leo: i64,
        lag_max_ms: i64,
        now_ms: i64,
    ) -> Option<IsrProposal> {
        let mut s = self.lock();
        if s.pending.is_some() {
            return None;
        }
        let lagging: Vec<i32> = s
            .isr
            .iter()
            .copied()
            .filter(|r| {
                s.followers.get(r).is_some_and(|f| {
                    f.leo != leader_leo && now_ms - f.last_caught_up_ms > lag_max_ms
                })
            })
            .collect();
        if lagging.is_empty() {
            return None;
        }
        let isr: Vec<i32> = s
            .isr
            .iter()
            .copied()
            .filter(|r| !lagging.contains(r))
            .collect();
        Some(s.propose(self.leader_epoch, isr))
    }

    /// This broker no longer leads at this epoch: wakes every parked acks=all produce.
    pub fn resign(&self) {
        self.resigned.send_replace(true);
    }

    /// Whether [`LeaderState::resign`] happened.
    pub fn has_resigned(&self) -> bool {
        *self.resigned.borrow()
    }

    /// A receiver woken by [`LeaderState::resign`].
    pub fn watch_resigned(&self) -> watch::Receiver<bool> {
        self.resigned.subscribe()
    }
}

fn new_follower(in_sync: bool, now_ms: i64) -> Follower {
    Follower {
        leo: -1,
        last_fetch_ms: 0,
        last_fetch_leader_leo: -1,
        last_caught_up_ms: if in_sync { now_ms } else { 0 },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LAG: i64 = 30_000;

    fn three(isr: &[i32]) -> LeaderState {
        LeaderState::new(1, 5, 100, &[1, 2, 3], isr, 7, 1_000)
    }

    #[test]
    fn high_watermark_is_the_least_isr_log_end_and_never_decreases() {
        let s = three(&[1, 2, 3]);
        // No follower fetched yet: the HW stays where it was.
        assert_eq!(s.high_watermark(150, 100, 1, LAG, 1_000), 100);
        s.follower_fetched(2, 150, 150, 100, 1_100);
        assert_eq!(s.high_watermark(150, 100, 1, LAG, 1_100), 100);
        s.follower_fetched(3, 120, 150, 100, 1_100);
        assert_eq!(s.high_watermark(150, 100, 1, LAG, 1_100), 120);
        s.follower_fetched(3, 150, 150, 120, 1_200);
        assert_eq!(s.high_watermark(150, 120, 1, LAG, 1_200), 150);
        // Never below the current one.
        assert_eq!(s.high_watermark(150, 160, 1, LAG, 1_200), 160);
    }

    #[test]
    fn strict_min_isr_holds_the_high_watermark() {
        let s = three(&[1]);
        assert_eq!(s.high_watermark(150, 100, 2, LAG, 1_000), 100);
        // min.insync above the replication factor counts as the replication factor.
        let one = LeaderState::new(1, 0, 0, &[1], &[1], 0, 0);
        assert_eq!(one.high_watermark(10, 0, 3, LAG, 0), 10);
    }

    #[test]
    fn a_caught_up_follower_outside_the_isr_holds_the_high_watermark_until_it_joins() {
        let s = three(&[1, 2]);
        s.follower_fetched(2, 200, 200, 100, 2_000);
        // Replica 3 fetches at 150 (behind), at a time it counts as caught up: it was at the
        // leader's end (150) at its previous fetch. (Below the published HW of 160 it is not
        // eligible for the ISR yet.)
        assert_eq!(s.follower_fetched(3, 150, 150, 160, 1_900), None);
        assert_eq!(s.follower_fetched(3, 150, 200, 160, 1_900), None);
        assert_eq!(s.high_watermark(200, 100, 1, LAG, 2_000), 150);
        // Long after its last catch-up it no longer holds it back.
        assert_eq!(s.high_watermark(200, 100, 1, LAG, 2_000 + LAG + 1), 200);
    }

    #[test]
    fn expansion_needs_the_high_watermark_and_the_epoch_start() {
        let s = three(&[1, 2]);
        // Below the epoch start (100): not eligible even above the HW.
        assert_eq!(s.follower_fetched(3, 90, 200, 80, 1_000), None);
        assert_eq!(s.follower_fetched(3, 150, 200, 180, 1_000), None);
        let p = s.follower_fetched(3, 180, 200, 180, 1_000).unwrap();
        assert_eq!(p.isr, vec![1, 2, 3]);
        assert_eq!((p.leader_epoch, p.partition_epoch), (5, 7));
        // Pending: counted in the maximal ISR at once, nothing else proposed.
        assert_eq!(s.maximal_isr_len(), 3);
        assert_eq!(s.isr_len(), 2);
        assert!(s.is_under_replicated());
        assert_eq!(s.shrink_proposal(200, LAG, 1_000 + 2 * LAG), None);
        s.update(&[1, 2, 3], &[1, 2, 3], 8, 1_000);
        assert_eq!(s.isr_len(), 3);
        assert!(!s.is_under_replicated());
    }

    #[test]
    fn shrink_drops_followers_behind_for_longer_than_the_lag() {
        let s = three(&[1, 2, 3]);
        s.follower_fetched(2, 200, 200, 100, 5_000);
        s.follower_fetched(3, 150, 200, 100, 5_000);
        assert_eq!(s.shrink_proposal(200, LAG, 1_000 + LAG), None);
        let p = s.shrink_proposal(200, LAG, 1_001 + LAG).unwrap();
        assert_eq!(p.isr, vec![1, 2]);
        // A pending shrink keeps the old ISR for the high watermark.
        assert_eq!(s.maximal_isr_len(), 3);
        s.proposal_refused();
        assert_eq!(s.maximal_isr_len(), 3);
        assert!(s.shrink_proposal(200, LAG, 1_001 + LAG).is_some());
        // A follower at the leader's end never lags.
        let idle = three(&[1, 2, 3]);
        idle.follower_fetched(2, 200, 200, 200, 1_000);
        idle.follower_fetched(3, 200, 200, 200, 1_000);
        assert_eq!(idle.shrink_proposal(200, LAG, 10 * LAG), None);
    }

    #[test]
    fn fenced_followers_neither_join_nor_hold_the_high_watermark() {
        let s = three(&[1, 2]);
        s.set_ineligible(vec![3]);
        s.follower_fetched(2, 200, 200, 100, 1_000);
        // Replica 3 (fenced, shutting down) is at the leader's end at one fetch, behind at the next.
        assert_eq!(s.follower_fetched(3, 150, 150, 150, 1_000), None);
        assert_eq!(s.follower_fetched(3, 150, 200, 150, 1_000), None);
        assert_eq!(s.high_watermark(200, 100, 1, LAG, 1_000), 200);
        // Unfenced, its recent catch-up counts again.
        s.set_ineligible(Vec::new());
        assert_eq!(s.high_watermark(200, 100, 1, LAG, 1_000), 150);
        assert!(s.follower_fetched(3, 200, 200, 200, 1_000).is_some());
    }

    #[test]
    fn older_partition_epochs_and_strangers_change_nothing() {
        let s = three(&[1, 2, 3]);
        s.update(&[1, 2, 3], &[1], 7, 0);
        assert_eq!(s.isr(), vec![1, 2, 3]);
        assert_eq!(s.follower_fetched(9, 10, 10, 0, 0), None);
        assert!(!s.is_replica(9));
        s.resign();
        assert!(s.has_resigned());
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;

    use super::*;

    /// One step of a leader's life.
    #[derive(Debug, Clone)]
    enum Step {
        /// The leader appends `n` records.
        Append(i64),
        /// Follower `r` fetches at `back` below the leader's end (clamped to what it has).
        Fetch(i32, i64),
        /// The clock moves.
        Tick(i64),
        /// The controller answers the proposal in flight (accepted or refused).
        Answer(bool),
        /// The ISR expiration task runs.
        Expire,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            (1..50i64).prop_map(Step::Append),
            (2..=3i32, 0..60i64).prop_map(|(r, b)| Step::Fetch(r, b)),
            (1..20_000i64).prop_map(Step::Tick),
            any::<bool>().prop_map(Step::Answer),
            Just(Step::Expire),
        ]
    }

    proptest! {
        /// Whatever happens: the high watermark never decreases, never passes the leader's
        /// end, never passes the end of any committed ISR member that has fetched, and the
        /// leader stays in every ISR it proposes.
        #[test]
        fn high_watermark_and_isr_invariants(steps in proptest::collection::vec(step(), 1..120)) {
            const LAG: i64 = 30_000;
            let s = LeaderState::new(1, 3, 0, &[1, 2, 3], &[1, 2, 3], 0, 0);
            let (mut leo, mut hw, mut now) = (0i64, 0i64, 0i64);
            let mut follower_leo = BTreeMap::from([(2, 0i64), (3, 0i64)]);
            let mut in_flight: Option<IsrProposal> = None;
            let mut epoch = 0;
            for st in steps {
                let proposal = match st {
                    Step::Append(n) => { leo += n; None }
                    Step::Fetch(r, back) => {
                        // Followers only move forward, and never past the leader's end.
                        let at = (leo - back).max(follower_leo[&r]);
                        follower_leo.insert(r, at);
                        s.follower_fetched(r, at, leo, hw, now)
                    }
                    Step::Tick(ms) => { now += ms; None }
                    Step::Answer(ok) => {
                        if let Some(p) = in_flight.take() {
                            if ok {
                                epoch += 1;
                                s.update(&[1, 2, 3], &p.isr, epoch, now);
                            } else {
                                s.proposal_refused();
                            }
                        }
                        None
                    }
                    Step::Expire => s.shrink_proposal(leo, LAG, now),
                };
                if let Some(p) = proposal {
                    prop_assert!(p.isr.contains(&1), "{p:?}");
                    prop_assert!(in_flight.is_none(), "two proposals in flight");
                    in_flight = Some(p);
                }
                let new = s.high_watermark(leo, hw, 1, LAG, now);
                prop_assert!(new >= hw && new <= leo, "hw {hw} -> {new}, leo {leo}");
                for r in s.isr().iter().filter(|&&r| r != 1) {
                    // A committed ISR member holds the high watermark at its end.
                    prop_assert!(new == hw || new <= follower_leo[r], "hw {new} past ISR member {r} at {}", follower_leo[r]);
                }
                hw = new;
            }
        }
    }
}
