//! The session table and Kafka's eviction rules (`FetchSessionCacheShard`), without locking:
//! [`super::FetchSessionCache`] wraps it in a mutex.
//!
//! Owns: every live session, indexed three ways as in Kafka — by id; by last use (least
//! recently used first); and by "evictable key" (privileged, size, id), smallest first, in two
//! sets: sessions any new session may displace, and sessions only a privileged one may.
//!
//! Eviction, when a full fetch wants a new session and all `max_slots` are taken (or the byte
//! budget is spent): first, the least recently used session is evicted if it has been idle
//! for more than `eviction_ms` (stale). Otherwise the smallest evictable session is evicted
//! if the newcomer is worth more: privileged beats unprivileged, else strictly more
//! partitions (equal size never evicts). A session enters the evictable sets only once it is
//! older than `eviction_ms` (checked when it is used), and an unprivileged session is always
//! evictable by a privileged one. Otherwise no session is created and the client fetches
//! sessionless (session id 0).
//!
//! Invariants: `last_used` holds exactly one entry per session; a session is in an evictable
//! set under the key of its last accounting (`Session::accounted`); `partitions` and `bytes`
//! are the sums of the accounted sizes and costs.

use std::collections::{BTreeSet, HashMap};

use super::session::Session;

/// Kafka's `EvictableKey`: ordered by privilege, then size, then id; the first is the least
/// valuable session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct EvictKey {
    privileged: bool,
    size: usize,
    id: i32,
}

/// The session table.
#[derive(Debug)]
pub(crate) struct Cache {
    max_slots: usize,
    eviction_ms: i64,
    max_bytes: usize,
    sessions: HashMap<i32, Session>,
    last_used: BTreeSet<(i64, i32)>,
    evictable_by_all: BTreeSet<EvictKey>,
    evictable_by_privileged: BTreeSet<EvictKey>,
    pub partitions: usize,
    pub bytes: usize,
    pub evictions: u64,
}

impl Cache {
    pub fn new(max_slots: usize, eviction_ms: i64, max_bytes: usize) -> Cache {
        Cache {
            max_slots,
            eviction_ms,
            max_bytes,
            sessions: HashMap::new(),
            last_used: BTreeSet::new(),
            evictable_by_all: BTreeSet::new(),
            evictable_by_privileged: BTreeSet::new(),
            partitions: 0,
            bytes: 0,
            evictions: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn over_budget(&self) -> bool {
        self.bytes > self.max_bytes
    }

    pub fn get_mut(&mut self, id: i32) -> Option<&mut Session> {
        self.sessions.get_mut(&id)
    }

    /// A random positive id no live session has (Kafka: random, non-zero, unique on the broker).
    fn new_session_id(&self) -> i32 {
        loop {
            let id = (uuid::Uuid::new_v4().as_u128() as u32 & 0x7fff_ffff) as i32;
            if id != 0 && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// Kafka's `maybeCreateSession`: stores `session` under a new id if a slot is free or can
    /// be freed by the eviction rules, and its cost fits the byte budget (evicting by the
    /// same rules while it does not). Returns the id, or None: no session (sessionless).
    pub fn try_insert(&mut self, mut session: Session, now_ms: i64) -> Option<i32> {
        let size = session.len();
        let cost = session.cost();
        if cost > self.max_bytes {
            return None;
        }
        if self.sessions.len() >= self.max_slots
            && !self.try_evict(session.privileged, size, now_ms)
        {
            return None;
        }
        while self.bytes + cost > self.max_bytes {
            if !self.try_evict(session.privileged, size, now_ms) {
                return None;
            }
        }
        let id = self.new_session_id();
        session.id = id;
        session.last_used_ms = now_ms;
        self.last_used.insert((now_ms, id));
        self.sessions.insert(id, session);
        self.touch(id, now_ms);
        Some(id)
    }

    /// Kafka's `tryEvict` for a newcomer of `size` partitions. True if a session was evicted.
    fn try_evict(&mut self, privileged: bool, size: usize, now_ms: i64) -> bool {
        let Some(&(last_used, lru)) = self.last_used.first() else {
            return false;
        };
        if now_ms - last_used > self.eviction_ms {
            tracing::debug!(session = lru, "evicting stale fetch session");
            self.remove(lru);
            self.evictions += 1;
            return true;
        }
        let set = if privileged {
            &self.evictable_by_privileged
        } else {
            &self.evictable_by_all
        };
        let Some(&first) = set.first() else {
            return false;
        };
        let newcomer = EvictKey {
            privileged,
            size,
            id: 0,
        };
        if newcomer < first {
            return false;
        }
        tracing::debug!(
            session = first.id,
            size = first.size,
            newcomer = size,
            "evicting fetch session"
        );
        self.remove(first.id);
        self.evictions += 1;
        true
    }

    /// Removes a session from every index.
    pub fn remove(&mut self, id: i32) -> Option<Session> {
        let s = self.sessions.remove(&id)?;
        self.last_used.remove(&(s.last_used_ms, id));
        if let Some((size, cost)) = s.accounted {
            let key = EvictKey {
                privileged: s.privileged,
                size,
                id,
            };
            self.evictable_by_all.remove(&key);
            self.evictable_by_privileged.remove(&key);
            self.partitions -= size;
            self.bytes -= cost;
        }
        Some(s)
    }

    /// Kafka's `touch`: marks the session used at `now_ms` and re-accounts its size and cost
    /// in the eviction indexes.
    pub fn touch(&mut self, id: i32, now_ms: i64) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        self.last_used.remove(&(s.last_used_ms, id));
        s.last_used_ms = now_ms;
        self.last_used.insert((now_ms, id));
        if let Some((size, cost)) = s.accounted {
            let old = EvictKey {
                privileged: s.privileged,
                size,
                id,
            };
            self.evictable_by_all.remove(&old);
            self.evictable_by_privileged.remove(&old);
            self.partitions -= size;
            self.bytes -= cost;
        }
        let (size, cost) = (s.len(), s.cost());
        s.accounted = Some((size, cost));
        let key = EvictKey {
            privileged: s.privileged,
            size,
            id,
        };
        let old_enough = now_ms - s.creation_ms > self.eviction_ms;
        if !s.privileged || old_enough {
            self.evictable_by_privileged.insert(key);
        }
        if old_enough {
            self.evictable_by_all.insert(key);
        }
        self.partitions += size;
        self.bytes += cost;
    }
}
