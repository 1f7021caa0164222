//! Topic metadata records in the `Topics` key space.
//!
//! A [`TopicRecord`] is stored as JSON under the topic name. It is the durable source of
//! truth for which topics exist; partition directories on disk are opened from it at boot.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{synced, Store, StoreError, CF_TOPICS};

/// One partition's replica assignment and leadership, as the controller decided it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionRecord {
    pub index: i32,
    pub leader: i32,
    /// Bumped on every leader change (cluster mode); 0 at creation.
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// A topic: its id, partitions and per-topic config overrides (Kafka names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    /// The topic's UUID as 16 bytes (big-endian u128).
    pub id: u128,
    pub partitions: Vec<PartitionRecord>,
    pub configs: BTreeMap<String, String>,
}

impl Store {
    /// Every topic, in name order.
    pub fn load_topics(&self) -> Result<Vec<TopicRecord>, StoreError> {
        let mut out = Vec::new();
        for (k, v) in self.scan_prefix(CF_TOPICS, b"")? {
            let rec: TopicRecord = serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt {
                key: String::from_utf8_lossy(&k).into_owned(),
                message: e.to_string(),
            })?;
            out.push(rec);
        }
        Ok(out)
    }

    /// Creates or replaces a topic record (synced).
    pub fn put_topic(&self, rec: &TopicRecord) -> Result<(), StoreError> {
        let v = serde_json::to_vec(rec).map_err(|e| StoreError::Corrupt {
            key: rec.name.clone(),
            message: e.to_string(),
        })?;
        self.db
            .put_opt(CF_TOPICS.key(rec.name.as_bytes()), v, &synced())?;
        Ok(())
    }

    /// Removes a topic record (synced).
    pub fn delete_topic(&self, name: &str) -> Result<(), StoreError> {
        self.db
            .delete_opt(CF_TOPICS.key(name.as_bytes()), &synced())?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let rec = TopicRecord {
            name: "orders".into(),
            id: 42,
            partitions: vec![PartitionRecord {
                index: 0,
                leader: 0,
                leader_epoch: 0,
                replicas: vec![0],
                isr: vec![0],
            }],
            configs: [("retention.ms".to_string(), "1000".to_string())].into(),
        };
        s.put_topic(&rec).unwrap();
        assert_eq!(s.load_topics().unwrap(), vec![rec]);
        s.delete_topic("orders").unwrap();
        assert!(s.load_topics().unwrap().is_empty());
    }
}
