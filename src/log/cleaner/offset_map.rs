//! The cleaner's key → latest offset map (Kafka's `SkimpyOffsetMap`), built over a partition's
//! dirty range and consulted while its segments are rewritten.
//!
//! Kafka stores an MD5 of each key in fixed 24-byte slots and accepts that two keys with the
//! same digest would make one of them lose its live record. Here the map keeps the full key, so
//! a lookup never confuses two keys; memory is bounded by charging each entry its key length
//! plus [`ENTRY_OVERHEAD`] against a byte budget (`log.cleaner_dedupe_buffer_size`).
//!
//! Invariants: the charged size never exceeds the budget (an insert that would pass it is
//! refused and changes nothing); a key's offset only grows; `end` is one past the highest
//! offset inserted, the cleaner's next checkpoint.

use std::collections::HashMap;

/// Bytes charged per entry beyond its key: the hash table slot (key pointer, length and
/// capacity, the offset) and allocator rounding.
pub const ENTRY_OVERHEAD: usize = 48;

/// Key → offset of its latest record, within a byte budget.
#[derive(Debug)]
pub(crate) struct OffsetMap {
    map: HashMap<Box<[u8]>, i64>,
    charged: usize,
    budget: usize,
}

impl OffsetMap {
    /// An empty map that may charge up to `budget` bytes.
    pub(crate) fn new(budget: usize) -> Self {
        OffsetMap {
            map: HashMap::new(),
            charged: 0,
            budget,
        }
    }

    /// Bytes charged for a new entry with key `key`.
    pub(crate) fn cost(key: &[u8]) -> usize {
        key.len() + ENTRY_OVERHEAD
    }

    /// Bytes the budget still has.
    pub(crate) fn room(&self) -> usize {
        self.budget - self.charged
    }

    /// Whether `key` is mapped.
    pub(crate) fn contains(&self, key: &[u8]) -> bool {
        self.map.contains_key(key)
    }

    /// Records `offset` as the latest for `key`. A key already mapped costs nothing; a new
    /// one is refused (false) when its cost would pass the budget.
    pub(crate) fn put(&mut self, key: &[u8], offset: i64) -> bool {
        if let Some(o) = self.map.get_mut(key) {
            *o = (*o).max(offset);
            return true;
        }
        let cost = Self::cost(key);
        if cost > self.room() {
            return false;
        }
        self.charged += cost;
        self.map.insert(key.into(), offset);
        true
    }

    /// The latest offset recorded for `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(key).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_latest_offset_and_refuses_past_budget() {
        let mut m = OffsetMap::new(2 * OffsetMap::cost(b"aa"));
        assert!(m.put(b"aa", 5));
        assert!(m.put(b"aa", 3)); // older: ignored
        assert_eq!(m.get(b"aa"), Some(5));
        assert!(m.put(b"bb", 7));
        assert_eq!(m.room(), 0);
        // Full: a known key still updates, a new one is refused and changes nothing.
        assert!(m.put(b"bb", 9));
        assert!(!m.put(b"cc", 10));
        assert_eq!((m.get(b"bb"), m.get(b"cc")), (Some(9), None));
        // Keys that would collide under a short hash are still told apart.
        assert!(!m.contains(b"a"));
    }
}
