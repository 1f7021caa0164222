//! Incremental fetch sessions (KIP-227): the broker remembers which partitions a client
//! fetches, so a fetch need only name what changed and a response only carries partitions
//! with news. This is what keeps a consumer of thousands of partitions cheap.
//!
//! Owns: the session cache ([`FetchSessionCache`]), bounded by `max_slots` sessions (Kafka's
//! `max.incremental.fetch.session.cache.slots`) and by [`MAX_CACHE_BYTES`] of partition
//! state, with Kafka's eviction rules (see `cache.rs`).
//!
//! A fetch request's (session id, epoch) picks one of four paths, as in Kafka's FetchManager:
//!
//! | id  | epoch | meaning                                                                   |
//! |-----|-------|---------------------------------------------------------------------------|
//! | 0   | -1    | sessionless full fetch: answer every partition, session id 0              |
//! | 0   | 0     | full fetch that opens a session if there is room ([`FetchSessionCache::create`]) |
//! | N   | 0     | close session N, then as (0, 0)                                           |
//! | N   | -1    | close session N, then as (0, -1)                                          |
//! | N   | e > 0 | incremental: e must be the session's next epoch; the request's partitions are added or updated, `forgotten_topics_data` removed; the response carries only changed partitions |
//!
//! Errors: an unknown id is FETCH_SESSION_ID_NOT_FOUND, a wrong epoch INVALID_FETCH_SESSION_EPOCH
//! (top-level, no partitions, session id 0). An incremental request that empties its session
//! closes it and is answered sessionless (session id 0), as is one that would push the cache
//! over its byte budget.
//!
//! Invariants: a session's epoch advances by one per accepted incremental request (wrapping
//! from `i32::MAX` to 1); an incremental response is checked against the epoch its request
//! produced, so of two racing requests with one epoch only one is answered with data. The
//! engine never sees wire types: handlers pass [`PartitionRequest`]s and
//! [`PartitionOutcome`]s. Time is passed in (`now_ms`), so tests drive it.
//!
//! Concurrency: one `std::sync::Mutex` around the table, held only for the bookkeeping of a
//! request (never across an await: the handler reads logs and long-polls outside it).

mod cache;
mod session;
#[cfg(test)]
mod tests;

use std::sync::{Arc, Mutex, MutexGuard};

use cache::Cache;
use session::Session;

use crate::kafka_error::KafkaError;

/// Kafka's minimum idle time before a session is considered stale, and age before it becomes
/// evictable by a larger newcomer (`MIN_INCREMENTAL_FETCH_SESSION_EVICTION_MS`).
pub const EVICTION_MS: i64 = 120_000;

/// Upper bound on the estimated memory all sessions hold (partition entries and topic
/// names). Kafka has no such bound; we keep one so hostile clients cannot grow the cache
/// without limit. About two million cached partitions: 1,000 sessions of 2,000 partitions.
pub const MAX_CACHE_BYTES: usize = 256 * 1024 * 1024;

/// The epoch of a full fetch that asks for a session.
pub const INITIAL_EPOCH: i32 = 0;
/// The epoch of a sessionless full fetch, or of the request closing a session.
pub const FINAL_EPOCH: i32 = -1;

/// Why a request could not use its session.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchSessionError {
    /// The id names no live session (never created, closed, or evicted).
    #[error("fetch session {0} not found")]
    NotFound(i32),
    /// The epoch is not the one the session expects next.
    #[error("fetch session {id} expected epoch {expected}, got {got}")]
    InvalidEpoch { id: i32, expected: i32, got: i32 },
}

impl FetchSessionError {
    /// The Kafka error code for the response's top-level `error_code`.
    pub fn kafka_code(&self) -> i16 {
        match self {
            FetchSessionError::NotFound(_) => KafkaError::FetchSessionIdNotFound,
            FetchSessionError::InvalidEpoch { .. } => KafkaError::InvalidFetchSessionEpoch,
        }
        .code()
    }
}

/// The epoch after `epoch` (Kafka's `FetchMetadata.nextEpoch`).
pub fn next_epoch(epoch: i32) -> i32 {
    if epoch < 0 {
        FINAL_EPOCH
    } else if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// One partition as a fetch request names it.
#[derive(Debug, Clone, Copy)]
pub struct PartitionRequest<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    /// -1 when the client does not send one.
    pub current_leader_epoch: i32,
}

/// What the broker answered for one partition; decides whether an incremental response
/// carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionOutcome {
    pub high_watermark: i64,
    pub log_start_offset: i64,
    /// The response carries record bytes for it.
    pub has_records: bool,
    /// The response carries a non-zero error code for it.
    pub error: bool,
}

/// Identifies a partition inside one session (opaque to callers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PartitionKey {
    topic: u32,
    partition: i32,
}

/// One partition of a session, with the request parameters the session holds for it.
#[derive(Debug, Clone)]
pub struct SessionPartition {
    pub key: PartitionKey,
    pub topic: Arc<str>,
    pub partition: i32,
    pub fetch_offset: i64,
    pub max_bytes: i32,
    pub current_leader_epoch: i32,
}

/// An accepted incremental fetch: read `partitions` (session order), then pass the outcomes
/// to [`FetchSessionCache::finish`] to learn which to send.
#[derive(Debug, Clone)]
pub struct IncrementalFetch {
    pub session_id: i32,
    /// The session's epoch after this request (what the response is checked against).
    pub epoch: i32,
    pub partitions: Vec<SessionPartition>,
}

/// How to answer a fetch request.
#[derive(Debug, Clone)]
pub enum FetchContext {
    /// Answer every requested partition with session id 0; open no session.
    Sessionless,
    /// Answer every requested partition, then offer them to [`FetchSessionCache::create`].
    Full,
    /// Answer the session's partitions that changed.
    Incremental(IncrementalFetch),
}

/// Result of [`FetchSessionCache::create`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Created {
    /// The new session's id, or 0 when there was no room (the client stays sessionless).
    pub session_id: i32,
    /// Sessions evicted to make room.
    pub evicted: u64,
}

/// Sizes for the metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub sessions: usize,
    pub partitions: usize,
    pub bytes: usize,
}

/// The broker's fetch session cache.
#[derive(Debug)]
pub struct FetchSessionCache {
    /// Sync mutex: every critical section is short bookkeeping without await points.
    inner: Mutex<Cache>,
}

impl FetchSessionCache {
    /// A cache of at most `max_slots` sessions (0 disables sessions: every fetch is answered
    /// with session id 0) with Kafka's eviction time and the default byte budget.
    pub fn new(max_slots: usize) -> FetchSessionCache {
        FetchSessionCache::with_limits(max_slots, EVICTION_MS, MAX_CACHE_BYTES)
    }

    /// As [`FetchSessionCache::new`] with explicit eviction time and byte budget (tests).
    pub fn with_limits(max_slots: usize, eviction_ms: i64, max_bytes: usize) -> FetchSessionCache {
        FetchSessionCache {
            inner: Mutex::new(Cache::new(max_slots, eviction_ms, max_bytes)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Cache> {
        // The table stays consistent even if a holder panicked: every mutation completes
        // before anything that could panic.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves a request's session (see the module table). `partitions` are the request's
    /// partitions, `forgotten` its `forgotten_topics_data` (ignored by full fetches).
    pub fn begin(
        &self,
        now_ms: i64,
        session_id: i32,
        epoch: i32,
        partitions: &[PartitionRequest<'_>],
        forgotten: &[(&str, i32)],
    ) -> Result<FetchContext, FetchSessionError> {
        let mut cache = self.lock();
        if epoch == INITIAL_EPOCH || epoch == FINAL_EPOCH {
            // Any session named by a full fetch is closed.
            if session_id != 0 && cache.remove(session_id).is_some() {
                tracing::debug!(session = session_id, "fetch session closed by a full fetch");
            }
            return Ok(if epoch == FINAL_EPOCH {
                FetchContext::Sessionless
            } else {
                FetchContext::Full
            });
        }
        let Some(session) = cache.get_mut(session_id) else {
            return Err(FetchSessionError::NotFound(session_id));
        };
        if session.epoch != epoch {
            return Err(FetchSessionError::InvalidEpoch {
                id: session_id,
                expected: session.epoch,
                got: epoch,
            });
        }
        for p in partitions {
            session.upsert(p);
        }
        for (topic, partition) in forgotten {
            session.forget(topic, *partition);
        }
        if session.is_empty() {
            cache.remove(session_id);
            return Ok(FetchContext::Sessionless);
        }
        session.epoch = next_epoch(session.epoch);
        let fetch = IncrementalFetch {
            session_id,
            epoch: session.epoch,
            partitions: session.snapshot(),
        };
        cache.touch(session_id, now_ms);
        if cache.over_budget() {
            tracing::info!(
                session = session_id,
                "fetch session closed: the session cache is over its byte budget"
            );
            cache.remove(session_id);
            return Ok(FetchContext::Sessionless);
        }
        Ok(FetchContext::Incremental(fetch))
    }

    /// After a [`FetchContext::Full`] fetch: opens a session holding the answered partitions
    /// (request parameters and the high watermark and log start offset just sent), if a slot
    /// is free or the eviction rules free one.
    pub fn create<'a>(
        &self,
        now_ms: i64,
        privileged: bool,
        answered: impl IntoIterator<Item = (PartitionRequest<'a>, PartitionOutcome)>,
    ) -> Created {
        let mut session = Session::new(0, privileged, now_ms, next_epoch(INITIAL_EPOCH));
        for (req, out) in answered {
            session.upsert(&req);
            session.record_response(req.topic, req.partition, &out);
        }
        let mut cache = self.lock();
        let before = cache.evictions;
        let session_id = cache.try_insert(session, now_ms).unwrap_or(0);
        Created {
            session_id,
            evicted: cache.evictions - before,
        }
    }

    /// After an incremental fetch: which of `fetch.partitions` the response carries
    /// (`outcomes` in the same order). Fails when the session went away or another request
    /// advanced its epoch in the meantime.
    pub fn finish(
        &self,
        fetch: &IncrementalFetch,
        outcomes: &[PartitionOutcome],
    ) -> Result<Vec<bool>, FetchSessionError> {
        let mut cache = self.lock();
        let Some(session) = cache.get_mut(fetch.session_id) else {
            return Err(FetchSessionError::NotFound(fetch.session_id));
        };
        if session.epoch != fetch.epoch {
            return Err(FetchSessionError::InvalidEpoch {
                id: fetch.session_id,
                expected: fetch.epoch,
                got: session.epoch,
            });
        }
        Ok(fetch
            .partitions
            .iter()
            .zip(outcomes)
            .map(|(p, out)| session.must_respond(p.key, out))
            .collect())
    }

    /// Current sizes.
    pub fn stats(&self) -> CacheStats {
        let cache = self.lock();
        CacheStats {
            sessions: cache.len(),
            partitions: cache.partitions,
            bytes: cache.bytes,
        }
    }
}
