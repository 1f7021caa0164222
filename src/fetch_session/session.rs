//! One incremental fetch session: the partitions a client fetches, in fetch order, with the
//! request parameters it last sent and the high watermark / log start offset it last heard.
//!
//! Owns: the session's partition map. A partition is keyed by (topic slot, partition) where
//! the topic slot indexes the session's own table of topic names, so 2,000 partitions of one
//! topic hold one copy of its name.
//!
//! Invariants:
//! - `order` and `parts` hold the same partitions: `order` maps a sequence number to a key,
//!   and each cached partition remembers its sequence number. Iterating `order` gives fetch
//!   order: new partitions are appended, updated ones keep their place, and a partition that
//!   returned records moves to the back (Kafka's rule, so partitions late in the order are not
//!   starved by a response byte limit filled by the early ones).
//! - The fetcher's own log start offset, which Kafka caches for followers, is not kept: no
//!   followers exist yet.
//! - Topic names are never removed before the session dies; [`Session::cost`] counts them,
//!   so the cache's byte budget bounds them.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{PartitionKey, PartitionOutcome, PartitionRequest, SessionPartition};

/// Bytes one cached partition costs, rounded up from its two map entries (hash map entry with
/// its request parameters and last response, order entry) plus their table overhead.
pub(crate) const PARTITION_COST: usize = 128;
/// Bytes one distinct topic costs on top of its name (hash map entry, `Arc` header).
pub(crate) const TOPIC_COST: usize = 64;

/// What the session remembers of one partition.
#[derive(Debug, Clone)]
struct Cached {
    /// Position in `Session::order`.
    seq: u64,
    fetch_offset: i64,
    max_bytes: i32,
    current_leader_epoch: i32,
    /// The high watermark last sent to the client; -1 when unknown or after an error, so the
    /// partition is sent again once the error clears.
    high_watermark: i64,
    /// The log start offset last sent to the client.
    local_log_start_offset: i64,
}

/// One session.
#[derive(Debug)]
pub(crate) struct Session {
    pub id: i32,
    /// Follower sessions are privileged (none exist yet: single broker).
    pub privileged: bool,
    pub creation_ms: i64,
    pub last_used_ms: i64,
    /// The epoch the next incremental request must carry.
    pub epoch: i32,
    /// Size and cost as last accounted by the cache (`touch`); None until first accounted.
    pub accounted: Option<(usize, usize)>,
    names: Vec<Arc<str>>,
    name_ids: HashMap<Arc<str>, u32>,
    name_bytes: usize,
    parts: HashMap<PartitionKey, Cached>,
    order: BTreeMap<u64, PartitionKey>,
    next_seq: u64,
}

impl Session {
    pub fn new(id: i32, privileged: bool, now_ms: i64, epoch: i32) -> Session {
        Session {
            id,
            privileged,
            creation_ms: now_ms,
            last_used_ms: now_ms,
            epoch,
            accounted: None,
            names: Vec::new(),
            name_ids: HashMap::new(),
            name_bytes: 0,
            parts: HashMap::new(),
            order: BTreeMap::new(),
            next_seq: 0,
        }
    }

    /// Number of cached partitions.
    pub fn len(&self) -> usize {
        self.parts.len()
    }

    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// Estimated bytes this session holds (partitions and topic names).
    pub fn cost(&self) -> usize {
        self.parts.len() * PARTITION_COST + self.name_bytes + self.names.len() * TOPIC_COST
    }

    fn key(&self, topic: &str, partition: i32) -> Option<PartitionKey> {
        self.name_ids
            .get(topic)
            .map(|&topic| PartitionKey { topic, partition })
    }

    fn intern(&mut self, topic: &str) -> u32 {
        if let Some(&id) = self.name_ids.get(topic) {
            return id;
        }
        let id = self.names.len() as u32;
        let name: Arc<str> = Arc::from(topic);
        self.name_bytes += name.len();
        self.names.push(name.clone());
        self.name_ids.insert(name, id);
        id
    }

    /// Adds a partition at the end of the fetch order, or updates its request parameters in
    /// place. Returns true when it was added.
    pub fn upsert(&mut self, req: &PartitionRequest<'_>) -> bool {
        let topic = self.intern(req.topic);
        let key = PartitionKey {
            topic,
            partition: req.partition,
        };
        if let Some(c) = self.parts.get_mut(&key) {
            c.fetch_offset = req.fetch_offset;
            c.max_bytes = req.max_bytes;
            c.current_leader_epoch = req.current_leader_epoch;
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.insert(seq, key);
        self.parts.insert(
            key,
            Cached {
                seq,
                fetch_offset: req.fetch_offset,
                max_bytes: req.max_bytes,
                current_leader_epoch: req.current_leader_epoch,
                high_watermark: -1,
                local_log_start_offset: -1,
            },
        );
        true
    }

    /// Removes a partition; true when it was in the session.
    pub fn forget(&mut self, topic: &str, partition: i32) -> bool {
        let Some(key) = self.key(topic, partition) else {
            return false;
        };
        match self.parts.remove(&key) {
            Some(c) => {
                self.order.remove(&c.seq);
                true
            }
            None => false,
        }
    }

    /// Records what a full fetch answered, so the first incremental fetch only sends changes.
    pub fn record_response(&mut self, topic: &str, partition: i32, out: &PartitionOutcome) {
        let Some(key) = self.key(topic, partition) else {
            return;
        };
        if let Some(c) = self.parts.get_mut(&key) {
            c.high_watermark = if out.error { -1 } else { out.high_watermark };
            c.local_log_start_offset = out.log_start_offset;
        }
    }

    /// Kafka's `maybeUpdateResponseData`: whether an incremental response must carry this
    /// partition (records, a new high watermark or log start offset, or an error), updating
    /// what the session remembers as sent. A partition that returned records moves to the
    /// back of the fetch order. Unknown keys are never sent.
    pub fn must_respond(&mut self, key: PartitionKey, out: &PartitionOutcome) -> bool {
        let Some(c) = self.parts.get_mut(&key) else {
            return false;
        };
        let mut respond = out.has_records;
        if c.high_watermark != out.high_watermark {
            respond = true;
            c.high_watermark = out.high_watermark;
        }
        if c.local_log_start_offset != out.log_start_offset {
            respond = true;
            c.local_log_start_offset = out.log_start_offset;
        }
        if out.error {
            respond = true;
            c.high_watermark = -1;
        }
        if out.has_records {
            let old = c.seq;
            let seq = self.next_seq;
            self.next_seq += 1;
            c.seq = seq;
            self.order.remove(&old);
            self.order.insert(seq, key);
        }
        respond
    }

    /// Every partition with its request parameters, in fetch order.
    pub fn snapshot(&self) -> Vec<SessionPartition> {
        let mut out = Vec::with_capacity(self.parts.len());
        for key in self.order.values() {
            let (Some(c), Some(topic)) = (self.parts.get(key), self.names.get(key.topic as usize))
            else {
                continue;
            };
            out.push(SessionPartition {
                key: *key,
                topic: topic.clone(),
                partition: key.partition,
                fetch_offset: c.fetch_offset,
                max_bytes: c.max_bytes,
                current_leader_epoch: c.current_leader_epoch,
            });
        }
        out
    }
}
