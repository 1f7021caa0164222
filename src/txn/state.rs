//! One transactional id's coordinator state and its transitions (Kafka's `TransactionMetadata`
//! and the decisions of `TransactionCoordinator`, transaction protocol version 1: KIP-98 with
//! KIP-360 epoch bumps).
//!
//! ```text
//!             InitProducerId (bump epoch)
//!   (new) ──► Empty ◄───────────────────────────────┐
//!               │ AddPartitionsToTxn / AddOffsetsToTxn│
//!               ▼                                     │
//!            Ongoing ──EndTxn(commit)──► PrepareCommit ──markers written──► CompleteCommit
//!               │    ──EndTxn(abort)───► PrepareAbort  ──markers written──► CompleteAbort
//!               └─ InitProducerId / timeout: epoch+1, PrepareAbort (fencing the old producer)
//! ```
//! Complete* accept what Empty accepts (a new transaction, an epoch bump).
//!
//! Pure: no I/O, no clock (callers pass `now_ms`). Every transition returns the next
//! [`TxnMetadata`] without changing the current one: the coordinator persists the next state
//! and only then installs it, so memory never runs ahead of the store.
//!
//! Invariants: the producer epoch never decreases for one producer id; a new producer id
//! (rotation when the epoch is exhausted) starts at epoch 0 and remembers the previous one;
//! `participants` is empty outside Ongoing/Prepare*; markers of a Prepare* state carry the
//! state's own producer epoch (TV1).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::kafka_error::KafkaError;

/// The largest epoch a producer id may reach; at it the next InitProducerId rotates to a new
/// producer id (Kafka: `Short.MAX_VALUE - 1`, keeping MAX for the fencing bump).
pub const MAX_EPOCH: i16 = i16::MAX - 1;

/// Kafka's `TransactionState`, as persisted (the id is Kafka's `TransactionStatus`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnState {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
}

impl TxnState {
    /// The state name Kafka's DescribeTransactions / ListTransactions use.
    pub fn kafka_name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
        }
    }

    /// Markers are being written (any request but a describe answers CONCURRENT_TRANSACTIONS).
    pub fn is_preparing(self) -> bool {
        matches!(self, TxnState::PrepareCommit | TxnState::PrepareAbort)
    }

    /// No transaction is open: a new one may start, the epoch may be bumped.
    pub fn is_idle(self) -> bool {
        matches!(
            self,
            TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
        )
    }
}

/// A participant of a transaction: a data partition, or a consumer group whose offsets the
/// transaction commits (AddOffsetsToTxn; on a single broker the group's offsets live in the
/// store, not in a partition of `__consumer_offsets`).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Participant {
    Partition { topic: String, partition: i32 },
    Group { group_id: String },
}

/// The coordinator's state of one transactional id (the persisted record).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    /// The producer id before the last rotation, -1 if none (a client retrying its KIP-360
    /// bump with the old id is recognised).
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    /// The epoch before the last client-requested bump, -1 if none (KIP-360 retry detection).
    pub last_producer_epoch: i16,
    pub timeout_ms: i32,
    pub state: TxnState,
    pub participants: BTreeSet<Participant>,
    /// When the open transaction started (first participant added), -1 outside one.
    pub start_ms: i64,
    pub update_ms: i64,
}

/// What InitProducerId asks (after request-level validation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InitRequest {
    pub timeout_ms: i32,
    /// KIP-360: the producer id and epoch the client holds, `None` for a plain init.
    pub expected: Option<(i64, i16)>,
}

/// The outcome of InitProducerId on an existing transactional id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InitOutcome {
    /// Persist this state and answer its producer id and epoch.
    Ready(TxnMetadata),
    /// The client retried a bump that already succeeded: answer the current id and epoch,
    /// nothing to persist.
    Unchanged,
    /// The epoch is exhausted: persist this state after replacing its producer id with a fresh
    /// one (epoch 0) from the allocator.
    NeedsNewProducerId(TxnMetadata),
    /// A transaction is open: persist this state (epoch bumped, PrepareAbort), write its abort
    /// markers, answer CONCURRENT_TRANSACTIONS; the client's retry finds it complete.
    Fence(TxnMetadata),
}

impl TxnMetadata {
    /// A new transactional id with a freshly allocated producer id at epoch 0.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now_ms: i64) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id,
            previous_producer_id: -1,
            producer_epoch: 0,
            last_producer_epoch: -1,
            timeout_ms,
            state: TxnState::Empty,
            participants: BTreeSet::new(),
            start_ms: -1,
            update_ms: now_ms,
        }
    }

    /// InitProducerId for an existing id (`TransactionCoordinator.handleInitProducerId`).
    pub fn init_producer_id(
        &self,
        req: InitRequest,
        now_ms: i64,
    ) -> Result<InitOutcome, KafkaError> {
        if let Some((pid, epoch)) = req.expected {
            if pid == self.producer_id {
                if epoch != self.producer_epoch {
                    // A retry of a bump that succeeded holds the epoch before it.
                    if epoch == self.last_producer_epoch && self.state.is_idle() {
                        return Ok(InitOutcome::Unchanged);
                    }
                    return Err(KafkaError::ProducerFenced);
                }
            } else if pid == self.previous_producer_id && epoch >= MAX_EPOCH {
                // A retry of a bump that rotated the producer id.
                if self.state.is_idle() {
                    return Ok(InitOutcome::Unchanged);
                }
            } else {
                return Err(KafkaError::ProducerFenced);
            }
        }
        if self.state.is_preparing() {
            return Err(KafkaError::ConcurrentTransactions);
        }
        let mut next = self.clone();
        next.update_ms = now_ms;
        if self.state == TxnState::Ongoing {
            next.fence(now_ms);
            return Ok(InitOutcome::Fence(next));
        }
        next.timeout_ms = req.timeout_ms;
        next.state = TxnState::Empty;
        next.participants.clear();
        next.start_ms = -1;
        next.last_producer_epoch = match req.expected {
            Some(_) => self.producer_epoch,
            None => -1,
        };
        if self.producer_epoch >= MAX_EPOCH {
            return Ok(InitOutcome::NeedsNewProducerId(next));
        }
        next.producer_epoch = self.producer_epoch + 1;
        Ok(InitOutcome::Ready(next))
    }

    /// Installs a fresh producer id at epoch 0 (the allocator's answer to
    /// [`InitOutcome::NeedsNewProducerId`]).
    pub fn rotate_producer_id(&mut self, producer_id: i64) {
        self.previous_producer_id = self.producer_id;
        self.producer_id = producer_id;
        self.producer_epoch = 0;
        self.last_producer_epoch = -1;
    }

    /// Bump the epoch (when not exhausted) and decide to abort: InitProducerId during an open
    /// transaction, or the transaction timed out. The old producer's requests are fenced.
    fn fence(&mut self, now_ms: i64) {
        self.producer_epoch = self.producer_epoch.saturating_add(1);
        self.last_producer_epoch = -1;
        self.state = TxnState::PrepareAbort;
        self.update_ms = now_ms;
    }

    /// May this id be forgotten (`transactional.id.expiration.ms`)? Only with no
    /// transaction open and no update for `expiration_ms`.
    pub fn id_expired(&self, now_ms: i64, expiration_ms: i64) -> bool {
        self.state.is_idle() && self.update_ms.saturating_add(expiration_ms) <= now_ms
    }

    /// The producer id and epoch a client request carries must be the current ones: a wrong
    /// id is INVALID_PRODUCER_ID_MAPPING, an old (or future) epoch PRODUCER_FENCED.
    pub fn check_producer(&self, producer_id: i64, epoch: i16) -> Result<(), KafkaError> {
        if producer_id != self.producer_id {
            return Err(KafkaError::InvalidProducerIdMapping);
        }
        if epoch != self.producer_epoch {
            return Err(KafkaError::ProducerFenced);
        }
        Ok(())
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn. `Ok(None)`: every participant is already in the
    /// open transaction, nothing to persist.
    pub fn add_participants(
        &self,
        producer_id: i64,
        epoch: i16,
        add: impl IntoIterator<Item = Participant>,
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, KafkaError> {
        self.check_producer(producer_id, epoch)?;
        if self.state.is_preparing() {
            return Err(KafkaError::ConcurrentTransactions);
        }
        let mut next = self.clone();
        let before = next.participants.len();
        next.participants.extend(add);
        if self.state == TxnState::Ongoing && next.participants.len() == before {
            return Ok(None);
        }
        if self.state != TxnState::Ongoing {
            next.start_ms = now_ms;
            next.state = TxnState::Ongoing;
        }
        next.update_ms = now_ms;
        Ok(Some(next))
    }

    /// EndTxn (TV1). `Ok(None)`: a retry of a completed EndTxn, answered NONE without change.
    pub fn end_txn(
        &self,
        producer_id: i64,
        epoch: i16,
        commit: bool,
        now_ms: i64,
    ) -> Result<Option<TxnMetadata>, KafkaError> {
        self.check_producer(producer_id, epoch)?;
        match (self.state, commit) {
            (TxnState::Ongoing, _) => {
                let mut next = self.clone();
                next.state = if commit {
                    TxnState::PrepareCommit
                } else {
                    TxnState::PrepareAbort
                };
                next.update_ms = now_ms;
                Ok(Some(next))
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => Ok(None),
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(KafkaError::ConcurrentTransactions)
            }
            _ => Err(KafkaError::InvalidTxnState),
        }
    }

    /// The transaction is open longer than its timeout (the coordinator aborts it, fencing
    /// the producer): the next state, or `None` if it is not due.
    pub fn expire(&self, now_ms: i64) -> Option<TxnMetadata> {
        let due = self.state == TxnState::Ongoing
            && self.start_ms.saturating_add(i64::from(self.timeout_ms)) < now_ms;
        due.then(|| {
            let mut next = self.clone();
            next.fence(now_ms);
            next
        })
    }

    /// Every marker of a Prepare* state is written: the Complete* state.
    pub fn complete(&self, now_ms: i64) -> TxnMetadata {
        let mut next = self.clone();
        next.state = match self.state {
            TxnState::PrepareCommit => TxnState::CompleteCommit,
            _ => TxnState::CompleteAbort,
        };
        next.participants.clear();
        next.start_ms = -1;
        next.update_ms = now_ms;
        next
    }

    /// Whether `partition` of `topic` is in the open transaction of this producer (Produce's
    /// check before appending a transactional batch, KIP-890 part 1).
    pub fn verify_partition(
        &self,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), KafkaError> {
        if producer_id != self.producer_id || epoch != self.producer_epoch {
            return Err(KafkaError::InvalidProducerEpoch);
        }
        if self.state.is_preparing() {
            // Markers are being written: the batch would land after them (retriable; the
            // retry finds the transaction complete and the partition not in it).
            return Err(KafkaError::ConcurrentTransactions);
        }
        let p = Participant::Partition {
            topic: topic.to_string(),
            partition,
        };
        if self.state == TxnState::Ongoing && self.participants.contains(&p) {
            Ok(())
        } else {
            Err(KafkaError::InvalidTxnState)
        }
    }
}

#[cfg(test)]
mod tests;
