//! Share sessions (KIP-932): per (group, member), the partitions a member fetches from this
//! broker and the epoch its next request must carry. Pure bookkeeping, no I/O.
//!
//! Epoch rules (Kafka's `SharePartitionManager.newContext` / `acknowledgeSessionUpdate`):
//! - 0 opens (or reopens) the session with the request's partitions; ShareAcknowledge may not
//!   use it (INVALID_SHARE_SESSION_EPOCH);
//! - −1 (FINAL) closes it: it must exist (SHARE_SESSION_NOT_FOUND);
//! - any other epoch must equal the session's (INVALID_SHARE_SESSION_EPOCH; no session:
//!   SHARE_SESSION_NOT_FOUND); the request's partitions are added, forgotten ones removed,
//!   and the epoch advances (`i32::MAX` wraps to 1).
//!
//! A session belongs to the connection that opened it (or last used it): when that connection
//! closes, its sessions go and their members' acquired records are released by the caller.
//! At most `max_sessions` exist (SHARE_SESSION_LIMIT_REACHED beyond).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use uuid::Uuid;

use crate::kafka_error::KafkaError;

/// The initial epoch (open a session) and the final one (close it).
pub const INITIAL_EPOCH: i32 = 0;
pub const FINAL_EPOCH: i32 = -1;

/// A topic-partition by topic id.
pub type TopicIdPartition = (Uuid, i32);

/// Session key: (group id, member id).
pub type SessionKey = (Arc<str>, Arc<str>);

/// Why a request's session could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("share session for member {0} not found")]
    NotFound(String),
    #[error("share session epoch {got} does not match the expected {expected}")]
    InvalidEpoch { got: i32, expected: i32 },
    #[error("the share session limit ({0}) is reached")]
    LimitReached(usize),
}

impl SessionError {
    pub fn kafka_code(&self) -> i16 {
        match self {
            SessionError::NotFound(_) => KafkaError::ShareSessionNotFound,
            SessionError::InvalidEpoch { .. } => KafkaError::InvalidShareSessionEpoch,
            SessionError::LimitReached(_) => KafkaError::ShareSessionLimitReached,
        }
        .code()
    }
}

#[derive(Debug)]
struct Session {
    epoch: i32,
    partitions: BTreeSet<TopicIdPartition>,
    connection: u64,
}

/// Every share session of this broker.
#[derive(Debug)]
pub struct SessionCache {
    sessions: HashMap<SessionKey, Session>,
    max_sessions: usize,
}

/// The next epoch after `e` (wrapping past `i32::MAX` to 1, never 0 or −1).
pub fn next_epoch(e: i32) -> i32 {
    if e == i32::MAX {
        1
    } else {
        e + 1
    }
}

impl SessionCache {
    pub fn new(max_sessions: usize) -> SessionCache {
        SessionCache {
            sessions: HashMap::new(),
            max_sessions,
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Epoch 0: (re)opens the session with `partitions`; its next epoch is 1. Returns the
    /// partitions the session held before (empty for a new one).
    pub fn open(
        &mut self,
        key: SessionKey,
        connection: u64,
        partitions: impl IntoIterator<Item = TopicIdPartition>,
    ) -> Result<(), SessionError> {
        if !self.sessions.contains_key(&key) && self.sessions.len() >= self.max_sessions {
            return Err(SessionError::LimitReached(self.max_sessions));
        }
        self.sessions.insert(
            key,
            Session {
                epoch: 1,
                partitions: partitions.into_iter().collect(),
                connection,
            },
        );
        Ok(())
    }

    /// A request with epoch ≥ 1: checks the epoch, applies added and forgotten partitions,
    /// advances the epoch. Returns the session's partitions after the update.
    pub fn update(
        &mut self,
        key: &SessionKey,
        epoch: i32,
        connection: u64,
        added: impl IntoIterator<Item = TopicIdPartition>,
        forgotten: &[TopicIdPartition],
    ) -> Result<Vec<TopicIdPartition>, SessionError> {
        let s = self
            .sessions
            .get_mut(key)
            .ok_or_else(|| SessionError::NotFound(key.1.to_string()))?;
        if s.epoch != epoch {
            return Err(SessionError::InvalidEpoch {
                got: epoch,
                expected: s.epoch,
            });
        }
        s.partitions.extend(added);
        for f in forgotten {
            s.partitions.remove(f);
        }
        s.epoch = next_epoch(s.epoch);
        s.connection = connection;
        Ok(s.partitions.iter().copied().collect())
    }

    /// FINAL epoch: removes the session. Returns its partitions.
    pub fn close(&mut self, key: &SessionKey) -> Result<Vec<TopicIdPartition>, SessionError> {
        self.sessions
            .remove(key)
            .map(|s| s.partitions.into_iter().collect())
            .ok_or_else(|| SessionError::NotFound(key.1.to_string()))
    }

    /// A connection closed: removes its sessions. Returns each one's key and partitions.
    pub fn connection_closed(
        &mut self,
        connection: u64,
    ) -> Vec<(SessionKey, Vec<TopicIdPartition>)> {
        let keys: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| s.connection == connection)
            .map(|(k, _)| k.clone())
            .collect();
        keys.into_iter()
            .filter_map(|k| {
                let s = self.sessions.remove(&k)?;
                Some((k, s.partitions.into_iter().collect()))
            })
            .collect()
    }

    /// Whether the session exists.
    pub fn contains(&self, key: &SessionKey) -> bool {
        self.sessions.contains_key(key)
    }

    /// Whether any member of `group` has a session.
    pub fn has_group(&self, group: &str) -> bool {
        self.sessions.keys().any(|(g, _)| &**g == group)
    }

    /// Removes every session of a group (the group was deleted).
    pub fn remove_group(&mut self, group: &str) {
        self.sessions.retain(|(g, _), _| &**g != group);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(m: &str) -> SessionKey {
        (Arc::from("g"), Arc::from(m))
    }

    fn tp(p: i32) -> TopicIdPartition {
        (Uuid::from_u128(1), p)
    }

    #[test]
    fn epochs_advance_and_mismatches_are_refused() {
        let mut c = SessionCache::new(10);
        assert_eq!(
            c.update(&key("a"), 1, 7, [], &[]),
            Err(SessionError::NotFound("a".into()))
        );
        c.open(key("a"), 7, [tp(0)]).unwrap();
        assert_eq!(
            c.update(&key("a"), 1, 7, [tp(1)], &[]).unwrap(),
            vec![tp(0), tp(1)]
        );
        assert_eq!(
            c.update(&key("a"), 1, 7, [], &[]),
            Err(SessionError::InvalidEpoch {
                got: 1,
                expected: 2
            })
        );
        assert_eq!(
            c.update(&key("a"), 2, 7, [], &[tp(0)]).unwrap(),
            vec![tp(1)]
        );
        // Reopening resets the epoch and the partitions.
        c.open(key("a"), 7, [tp(5)]).unwrap();
        assert_eq!(c.update(&key("a"), 1, 7, [], &[]).unwrap(), vec![tp(5)]);
        assert_eq!(c.close(&key("a")).unwrap(), vec![tp(5)]);
        assert!(c.close(&key("a")).is_err());
        assert_eq!(next_epoch(i32::MAX), 1);
    }

    #[test]
    fn limit_and_connection_close() {
        let mut c = SessionCache::new(2);
        c.open(key("a"), 1, [tp(0)]).unwrap();
        c.open(key("b"), 2, [tp(1)]).unwrap();
        assert_eq!(c.open(key("c"), 1, []), Err(SessionError::LimitReached(2)));
        // Reopening an existing session is not a new one.
        c.open(key("a"), 1, [tp(0)]).unwrap();
        let gone = c.connection_closed(1);
        assert_eq!(gone, vec![(key("a"), vec![tp(0)])]);
        assert_eq!(c.len(), 1);
        c.remove_group("g");
        assert!(c.is_empty());
    }
}
