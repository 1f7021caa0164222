//! One share-partition (KIP-932): the delivery state of a (share group, topic-partition) pair
//! on the partition's leader. Pure: no I/O, time passed in as `now_ms`.
//!
//! Between the share-partition start offset (SPSO) and end offset (SPEO, the next log offset
//! never handed out yet) lie the in-flight records, kept as batches keyed by first offset. A
//! batch is created from one log batch (or the part of one at or past SPEO) and holds one slot
//! for the whole batch until an operation touches only part of it; then it is split into one
//! slot per offset. Record states and transitions follow Kafka's `RecordState`: AVAILABLE →
//! ACQUIRED; ACQUIRED → AVAILABLE / ACKNOWLEDGED / ARCHIVED; ACKNOWLEDGED and ARCHIVED are
//! terminal.
//!
//! Invariants:
//! - batches do not overlap, lie inside [SPSO, SPEO) (the first one may start below SPSO with
//!   its offsets below SPSO terminal), and a slot is ACQUIRED exactly when it has an owner;
//! - an offset is ACQUIRED by at most one member at a time: acquisition takes only AVAILABLE
//!   offsets and offsets at or past SPEO;
//! - in-flight offsets (SPEO − SPSO) never exceed `max_record_locks` (acquisition of new
//!   records stops, possibly inside a log batch, at the cap);
//! - a record whose delivery count reached `delivery_count_limit` is never made AVAILABLE
//!   again: a release or a lock expiry archives it;
//! - SPSO moves forward over terminal records only, and the batches wholly below it are
//!   dropped: memory is bounded by the cap, not by the log.
//!
//! Acknowledgements of one partition in one request are atomic: every target offset is
//! checked (ACQUIRED, by this member) before anything changes. Durability is the caller's:
//! it persists [`SharePartition::snapshot`] before reporting success, and on a failed write
//! throws this state away and reloads the last durable snapshot (acquisitions are never
//! persisted, so a reload turns them back into AVAILABLE records, as a leader failover does in
//! Kafka).

use std::collections::BTreeMap;
use std::sync::Arc;

/// A share-group member id (chosen by the client).
pub type MemberId = Arc<str>;

/// Delivery state of one record; the numbers are Kafka's (persisted and shown to tools).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    Available = 0,
    Acquired = 1,
    Acknowledged = 2,
    Archived = 4,
}

impl RecordState {
    fn is_terminal(self) -> bool {
        matches!(self, RecordState::Acknowledged | RecordState::Archived)
    }

    /// The persisted state byte back to a state; ACQUIRED is never persisted.
    pub fn from_persisted(b: u8) -> Option<RecordState> {
        match b {
            0 => Some(RecordState::Available),
            2 => Some(RecordState::Acknowledged),
            4 => Some(RecordState::Archived),
            _ => None,
        }
    }
}

/// Acknowledge types of ShareFetch/ShareAcknowledge v1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckType {
    /// Offsets with no record (control records, compaction): archived.
    Gap = 0,
    Accept = 1,
    /// Give the record back for redelivery (archived at the delivery limit).
    Release = 2,
    /// Never deliver it again.
    Reject = 3,
}

impl AckType {
    /// The wire value, or `None` for an unknown type (INVALID_REQUEST).
    pub fn from_wire(t: i8) -> Option<AckType> {
        match t {
            0 => Some(AckType::Gap),
            1 => Some(AckType::Accept),
            2 => Some(AckType::Release),
            3 => Some(AckType::Reject),
            _ => None,
        }
    }

    /// Index into per-type counters (metrics).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The group settings a share-partition obeys (GROUP config resource, Kafka's names).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `share.record.lock.duration.ms`.
    pub lock_duration_ms: i64,
    /// `share.delivery.count.limit`.
    pub delivery_count_limit: i16,
    /// `share.partition.max.record.locks`: in-flight records (SPEO − SPSO) at most.
    pub max_record_locks: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            lock_duration_ms: 30_000,
            delivery_count_limit: 5,
            max_record_locks: 2_000,
        }
    }
}

/// One log batch offered for acquisition, as read from the log's batch headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogBatch {
    pub first: i64,
    pub last: i64,
    /// Never hand these out: archive them (control batches, aborted transactions under
    /// read_committed).
    pub skip: bool,
}

/// A range of offsets just acquired by a member (AcquiredRecords on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Acquired {
    pub first: i64,
    pub last: i64,
    pub delivery_count: i16,
}

/// One acknowledgement batch of a request: a range and its type(s) (one for the whole range,
/// or one per offset).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub first: i64,
    pub last: i64,
    pub types: Vec<AckType>,
}

/// Why a request's acknowledgements for a partition were refused (none was applied).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// Kafka's INVALID_RECORD_STATE: a target offset is not ACQUIRED by this member.
    #[error("{0}")]
    InvalidRecordState(String),
    /// Kafka's INVALID_REQUEST: a malformed batch.
    #[error("{0}")]
    InvalidRequest(String),
}

/// What one successful acknowledgement did, per type (metrics).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AckCounts {
    /// Records per [`AckType::index`].
    pub by_type: [u64; 4],
    /// Released records that reached the delivery limit and were archived instead.
    pub archived_at_limit: u64,
}

/// The delivery state of one or more offsets.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot {
    state: RecordState,
    delivery_count: i16,
    owner: Option<MemberId>,
    /// Lock expiry (ms) while ACQUIRED.
    deadline_ms: i64,
}

impl Slot {
    fn new(state: RecordState, delivery_count: i16) -> Slot {
        Slot {
            state,
            delivery_count,
            owner: None,
            deadline_ms: 0,
        }
    }

    /// ACQUIRED → AVAILABLE, or ARCHIVED at the delivery limit. True if archived.
    fn release(&mut self, limit: i16) -> bool {
        self.owner = None;
        if self.delivery_count >= limit {
            self.state = RecordState::Archived;
            true
        } else {
            self.state = RecordState::Available;
            false
        }
    }
}

/// In-flight batch: `[first, last]`, one slot for all or one per offset.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Batch {
    last: i64,
    slots: Vec<Slot>,
}

impl Batch {
    fn whole(&self) -> bool {
        self.slots.len() == 1
    }
}

/// The persisted form: SPSO and the in-flight ranges with their states (ACQUIRED stored as
/// AVAILABLE), coalesced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snapshot {
    pub state_epoch: i32,
    pub start_offset: i64,
    pub ranges: Vec<StateRange>,
}

/// One persisted range of offsets in the same state with the same delivery count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRange {
    pub first: i64,
    pub last: i64,
    pub state: RecordState,
    pub delivery_count: i16,
}

/// The delivery state of one share-partition.
#[derive(Debug, Clone)]
pub struct SharePartition {
    spso: i64,
    speo: i64,
    batches: BTreeMap<i64, Batch>,
    limits: Limits,
    state_epoch: i32,
}

impl SharePartition {
    /// A share-partition with nothing in flight, starting at `start_offset`.
    pub fn new(start_offset: i64, limits: Limits) -> SharePartition {
        SharePartition {
            spso: start_offset,
            speo: start_offset,
            batches: BTreeMap::new(),
            limits,
            state_epoch: 0,
        }
    }

    /// Rebuilt from its persisted snapshot: every non-terminal record AVAILABLE.
    pub fn from_snapshot(s: &Snapshot, limits: Limits) -> SharePartition {
        let mut p = SharePartition::new(s.start_offset, limits);
        p.state_epoch = s.state_epoch;
        for r in &s.ranges {
            if r.last < r.first || r.last < p.speo {
                continue;
            }
            let first = r.first.max(p.speo);
            let state = if r.state == RecordState::Acquired {
                RecordState::Available
            } else {
                r.state
            };
            p.batches.insert(
                first,
                Batch {
                    last: r.last,
                    slots: vec![Slot::new(state, r.delivery_count)],
                },
            );
            p.speo = r.last + 1;
        }
        p.advance_start();
        p
    }

    pub fn start_offset(&self) -> i64 {
        self.spso
    }

    pub fn end_offset(&self) -> i64 {
        self.speo
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// New group settings apply to later acquisitions and releases.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Records currently ACQUIRED.
    pub fn acquired_records(&self) -> u64 {
        self.count(|s| s.state == RecordState::Acquired)
    }

    /// Records at or past SPSO that are terminal (Kafka's delivery-complete count, for lag).
    pub fn completed_records(&self) -> u64 {
        let spso = self.spso;
        let mut n = 0u64;
        for (&first, b) in &self.batches {
            if b.whole() {
                if b.slots[0].state.is_terminal() {
                    n += (b.last - first.max(spso) + 1).max(0) as u64;
                }
            } else {
                for (i, s) in b.slots.iter().enumerate() {
                    if first + i as i64 >= spso && s.state.is_terminal() {
                        n += 1;
                    }
                }
            }
        }
        n
    }

    fn count(&self, f: impl Fn(&Slot) -> bool) -> u64 {
        let mut n = 0u64;
        for (&first, b) in &self.batches {
            if b.whole() {
                if f(&b.slots[0]) {
                    n += (b.last - first + 1) as u64;
                }
            } else {
                n += b.slots.iter().filter(|s| f(s)).count() as u64;
            }
        }
        n
    }

    /// Where the next log read should start: the first AVAILABLE in-flight offset, else SPEO
    /// while the in-flight cap has room; `None` when there is nothing to acquire.
    pub fn next_fetch_offset(&self) -> Option<i64> {
        for (&first, b) in &self.batches {
            for (i, s) in b.slots.iter().enumerate() {
                let (x, y) = if b.whole() {
                    (first, b.last)
                } else {
                    (first + i as i64, first + i as i64)
                };
                if y >= self.spso && s.state == RecordState::Available {
                    return Some(x.max(self.spso));
                }
            }
        }
        (self.speo - self.spso < self.limits.max_record_locks).then_some(self.speo)
    }

    /// Acquires for `member` what `batches` (consecutive log batches, as read from the next
    /// fetch offset) offer: AVAILABLE in-flight offsets and new offsets at or past SPEO, whole
    /// log batches at a time until `max_records` is reached (a soft limit, as in Kafka) or the
    /// in-flight cap stops new records. Each acquired record's delivery count goes up by one
    /// and its lock expires at `now_ms + lock_duration_ms`. `skip` batches past SPEO are
    /// archived, never handed out.
    ///
    /// Throttled delivery (Kafka 4.2, KAFKA-17541): records already delivered
    /// [`throttle_from`] times or more are suspect (a record that crashes its consumer fails
    /// its whole batch with it). They are never mixed into a fetch that already holds other
    /// records, and a fetch that starts with one hands out at most `max_records` halved once
    /// per delivery past the threshold (exactly, splitting a log batch), and a single record on
    /// its last delivery; no other records join such a fetch. So a poison record ends up alone
    /// and archived at the limit while the records of its batch get delivered and
    /// acknowledged, instead of all being archived together.
    pub fn acquire(
        &mut self,
        member: &MemberId,
        batches: &[LogBatch],
        max_records: i64,
        now_ms: i64,
    ) -> Vec<Acquired> {
        let deadline = now_ms + self.limits.lock_duration_ms;
        let mut out: Vec<Acquired> = Vec::new();
        let mut taken = 0i64;
        let mut budget = None;
        for lb in batches {
            if taken >= max_records.max(1) || lb.last < lb.first {
                break;
            }
            // Offsets already in flight: take the AVAILABLE ones the throttle allows.
            let from = lb.first.max(self.spso);
            let to = lb.last.min(self.speo - 1);
            if from <= to {
                let (end, stop) = self.acquirable_end(from, to, taken, max_records, &mut budget);
                if from <= end {
                    self.visit(from, end, false, |a, b, slot| {
                        if slot.state == RecordState::Available {
                            slot.state = RecordState::Acquired;
                            slot.delivery_count = slot.delivery_count.saturating_add(1);
                            slot.owner = Some(member.clone());
                            slot.deadline_ms = deadline;
                            taken += b - a + 1;
                            push_range(&mut out, a, b, slot.delivery_count);
                        }
                    });
                }
                if stop {
                    break;
                }
            }
            // New offsets, up to the in-flight cap (never with throttled records).
            if lb.last >= self.speo {
                if budget.is_some() {
                    break;
                }
                let from = lb.first.max(self.speo);
                let room = self.spso + self.limits.max_record_locks - from;
                if room <= 0 {
                    break;
                }
                let to = lb.last.min(from + room - 1);
                let slot = if lb.skip {
                    Slot::new(RecordState::Archived, 0)
                } else {
                    taken += to - from + 1;
                    push_range(&mut out, from, to, 1);
                    Slot {
                        state: RecordState::Acquired,
                        delivery_count: 1,
                        owner: Some(member.clone()),
                        deadline_ms: deadline,
                    }
                };
                self.batches.insert(
                    from,
                    Batch {
                        last: to,
                        slots: vec![slot],
                    },
                );
                self.speo = to + 1;
                if to < lb.last {
                    break;
                }
            }
        }
        self.advance_start();
        out
    }

    /// The last offset of `[from, to]` this fetch may acquire in flight after `taken` records,
    /// and whether the fetch must stop there (see [`SharePartition::acquire`]). `budget` is the
    /// fetch's record budget once it hands out throttled records.
    fn acquirable_end(
        &self,
        from: i64,
        to: i64,
        mut taken: i64,
        max_records: i64,
        budget: &mut Option<i64>,
    ) -> (i64, bool) {
        let limit = self.limits.delivery_count_limit;
        let threshold = throttle_from(limit);
        let (mut end, mut stop) = (to, false);
        self.for_each_read(from, to, |a, b, slot| {
            if stop || slot.state != RecordState::Available {
                return;
            }
            let suspect = slot.delivery_count >= threshold;
            match (*budget, suspect) {
                (None, false) => {
                    taken += b - a + 1;
                    return;
                }
                // Suspect records get a fetch of their own.
                (None, true) if taken > 0 => {
                    (end, stop) = (a - 1, true);
                    return;
                }
                (Some(_), false) => {
                    (end, stop) = (a - 1, true);
                    return;
                }
                _ => {}
            }
            let cap = throttled_records(slot.delivery_count, limit, max_records);
            let cap = budget.map_or(cap, |b| b.min(cap));
            *budget = Some(cap);
            let room = cap - taken;
            if room < b - a + 1 {
                (end, stop) = (a + room.max(0) - 1, true);
            }
            taken += b - a + 1;
        });
        (end, stop)
    }

    /// Applies one request's acknowledgements for `member`, all or nothing. Offsets below SPSO
    /// are ignored (already complete); every other target must be ACQUIRED by `member`.
    pub fn acknowledge(&mut self, member: &MemberId, acks: &[Ack]) -> Result<AckCounts, AckError> {
        // Check everything first.
        for a in acks {
            if a.last < a.first {
                return Err(AckError::InvalidRequest(format!(
                    "acknowledgement batch last offset {} is below its first offset {}",
                    a.last, a.first
                )));
            }
            let span = a.last - a.first + 1;
            if a.types.is_empty() || (a.types.len() != 1 && a.types.len() as i64 != span) {
                return Err(AckError::InvalidRequest(format!(
                    "{} acknowledge types for {span} offsets",
                    a.types.len()
                )));
            }
            let from = a.first.max(self.spso);
            if from > a.last {
                continue;
            }
            if a.last >= self.speo {
                return Err(AckError::InvalidRecordState(format!(
                    "offsets up to {} were never acquired (share-partition end offset {})",
                    a.last, self.speo
                )));
            }
            let mut covered = 0i64;
            let mut bad = None;
            self.for_each_read(from, a.last, |x, y, slot| {
                covered += y - x + 1;
                if bad.is_none()
                    && (slot.state != RecordState::Acquired
                        || slot.owner.as_deref() != Some(&**member))
                {
                    bad = Some(x);
                }
            });
            if let Some(x) = bad {
                return Err(AckError::InvalidRecordState(format!(
                    "offset {x} is not acquired by member {member}"
                )));
            }
            if covered != a.last - from + 1 {
                return Err(AckError::InvalidRecordState(format!(
                    "offsets {from}..={} are not all in flight",
                    a.last
                )));
            }
        }
        // Then apply.
        let limit = self.limits.delivery_count_limit;
        let mut counts = AckCounts::default();
        for a in acks {
            let from = a.first.max(self.spso);
            if from > a.last {
                continue;
            }
            let per_offset = a.types.len() > 1;
            let first = a.first;
            self.visit(from, a.last, per_offset, |x, y, slot| {
                let t = if per_offset {
                    a.types[(x - first) as usize]
                } else {
                    a.types[0]
                };
                counts.by_type[t.index()] += (y - x + 1) as u64;
                match t {
                    AckType::Accept => {
                        slot.state = RecordState::Acknowledged;
                        slot.owner = None;
                    }
                    AckType::Gap | AckType::Reject => {
                        slot.state = RecordState::Archived;
                        slot.owner = None;
                    }
                    AckType::Release => {
                        if slot.release(limit) {
                            counts.archived_at_limit += (y - x + 1) as u64;
                        }
                    }
                }
            });
        }
        self.advance_start();
        Ok(counts)
    }

    /// Earliest lock expiry among ACQUIRED records.
    pub fn next_deadline(&self) -> Option<i64> {
        self.batches
            .values()
            .flat_map(|b| b.slots.iter())
            .filter(|s| s.state == RecordState::Acquired)
            .map(|s| s.deadline_ms)
            .min()
    }

    /// Locks expired at `now_ms`: their records become AVAILABLE (ARCHIVED at the delivery
    /// limit). Returns the number of records released.
    pub fn expire_locks(&mut self, now_ms: i64) -> u64 {
        self.release_where(|s| s.deadline_ms <= now_ms)
    }

    /// A member's session ended (FINAL epoch, disconnect): its ACQUIRED records become
    /// AVAILABLE (ARCHIVED at the delivery limit). Returns the number of records released.
    pub fn release_member(&mut self, member: &str) -> u64 {
        self.release_where(|s| s.owner.as_deref() == Some(member))
    }

    fn release_where(&mut self, pred: impl Fn(&Slot) -> bool) -> u64 {
        let limit = self.limits.delivery_count_limit;
        let mut n = 0u64;
        for (&first, b) in self.batches.iter_mut() {
            let whole = b.whole();
            let len = b.last - first + 1;
            for s in b.slots.iter_mut() {
                if s.state == RecordState::Acquired && pred(s) {
                    s.release(limit);
                    n += if whole { len as u64 } else { 1 };
                }
            }
        }
        if n > 0 {
            self.advance_start();
        }
        n
    }

    /// The log start moved to `log_start` (retention, DeleteRecords): offsets below it can no
    /// longer be delivered. They are archived and SPSO moves up to it.
    pub fn archive_below(&mut self, log_start: i64) {
        if log_start <= self.spso {
            return;
        }
        if log_start > self.speo {
            self.speo = log_start;
        }
        self.visit(self.spso, log_start - 1, false, |_, _, slot| {
            slot.state = RecordState::Archived;
            slot.owner = None;
        });
        self.advance_start();
        if self.spso < log_start {
            self.spso = log_start;
        }
    }

    /// The persisted form of this state (see the module header).
    pub fn snapshot(&self) -> Snapshot {
        let mut ranges: Vec<StateRange> = Vec::new();
        for (&first, b) in &self.batches {
            for (i, s) in b.slots.iter().enumerate() {
                let (x, y) = if b.whole() {
                    (first, b.last)
                } else {
                    (first + i as i64, first + i as i64)
                };
                if y < self.spso {
                    continue;
                }
                let state = if s.state == RecordState::Acquired {
                    RecordState::Available
                } else {
                    s.state
                };
                let x = x.max(self.spso);
                match ranges.last_mut() {
                    Some(r)
                        if r.last + 1 == x
                            && r.state == state
                            && r.delivery_count == s.delivery_count =>
                    {
                        r.last = y
                    }
                    _ => ranges.push(StateRange {
                        first: x,
                        last: y,
                        state,
                        delivery_count: s.delivery_count,
                    }),
                }
            }
        }
        Snapshot {
            state_epoch: self.state_epoch,
            start_offset: self.spso,
            ranges,
        }
    }

    /// Moves SPSO over leading terminal records and drops batches wholly below it; with
    /// nothing left in flight SPSO meets SPEO.
    fn advance_start(&mut self) {
        loop {
            let Some((&first, b)) = self.batches.iter().next() else {
                self.spso = self.speo;
                return;
            };
            let mut next_live = None;
            for (i, s) in b.slots.iter().enumerate() {
                let (x, y) = if b.whole() {
                    (first, b.last)
                } else {
                    (first + i as i64, first + i as i64)
                };
                if y >= self.spso && !s.state.is_terminal() {
                    next_live = Some(x.max(self.spso));
                    break;
                }
            }
            match next_live {
                Some(at) => {
                    self.spso = at;
                    return;
                }
                None => {
                    self.spso = self.spso.max(b.last + 1);
                    self.batches.remove(&first);
                }
            }
        }
    }

    /// Calls `f(first, last, slot)` for the slots covering `[from, to]`, read only.
    fn for_each_read(&self, from: i64, to: i64, mut f: impl FnMut(i64, i64, &Slot)) {
        let start = self
            .batches
            .range(..=from)
            .next_back()
            .map_or(from, |(&k, _)| k);
        for (&first, b) in self.batches.range(start..=to) {
            if b.last < from {
                continue;
            }
            if b.whole() {
                f(first.max(from), b.last.min(to), &b.slots[0]);
            } else {
                for (i, s) in b.slots.iter().enumerate() {
                    let at = first + i as i64;
                    if at >= from && at <= to {
                        f(at, at, s);
                    }
                }
            }
        }
    }

    /// Calls `f(first, last, slot)` for the slots covering `[from, to]`, splitting a whole
    /// batch into per-offset slots when the range covers only part of it (or `per_offset`).
    fn visit(
        &mut self,
        from: i64,
        to: i64,
        per_offset: bool,
        mut f: impl FnMut(i64, i64, &mut Slot),
    ) {
        let start = self
            .batches
            .range(..=from)
            .next_back()
            .map_or(from, |(&k, _)| k);
        for (&first, b) in self.batches.range_mut(start..=to) {
            if b.last < from {
                continue;
            }
            let inside = first >= from && b.last <= to;
            if b.whole() && (!inside || per_offset) && b.last > first {
                let s = b.slots[0].clone();
                b.slots = vec![s; (b.last - first + 1) as usize];
            }
            if b.whole() {
                f(first, b.last, &mut b.slots[0]);
            } else {
                for (i, s) in b.slots.iter_mut().enumerate() {
                    let at = first + i as i64;
                    if at >= from && at <= to {
                        f(at, at, s);
                    }
                }
            }
        }
    }
}

/// The delivery count from which an AVAILABLE record's delivery is throttled: half the
/// delivery count limit rounded up, at least 2 (Kafka's throttle limit).
fn throttle_from(limit: i16) -> i16 {
    ((limit + 1) / 2).max(2)
}

/// How many records a fetch may acquire when it holds a record already delivered `delivered`
/// times: one on the record's last delivery, else `max_records` halved once per delivery at or
/// past [`throttle_from`], at least one.
fn throttled_records(delivered: i16, limit: i16, max_records: i64) -> i64 {
    if delivered + 1 >= limit {
        return 1;
    }
    let halvings = (delivered - throttle_from(limit) + 1).clamp(0, 62) as u32;
    (max_records.max(1) >> halvings).max(1)
}

/// Appends `[a, b]` to `out`, merging with the previous range when contiguous with the same
/// delivery count.
fn push_range(out: &mut Vec<Acquired>, a: i64, b: i64, delivery_count: i16) {
    if let Some(last) = out.last_mut() {
        if last.last + 1 == a && last.delivery_count == delivery_count {
            last.last = b;
            return;
        }
    }
    out.push(Acquired {
        first: a,
        last: b,
        delivery_count,
    });
}

#[cfg(test)]
mod tests;
