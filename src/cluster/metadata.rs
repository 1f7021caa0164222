//! The in-memory view of topics and partitions, loaded from the store at boot and changed
//! only by the [`Controller`](super::Controller).
//!
//! Readers take a cheap snapshot (`Arc<TopicInfo>`) under a short read lock; the lock is a
//! `std::sync::RwLock` because it is never held across `.await` or I/O.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use crate::store::TopicRecord;

/// One partition as clients see it in Metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionInfo {
    pub index: i32,
    pub leader: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// One topic as clients see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicInfo {
    pub name: String,
    pub id: uuid::Uuid,
    pub partitions: Vec<PartitionInfo>,
    /// Per-topic overrides only (Kafka config names); defaults come from the broker config.
    pub configs: BTreeMap<String, String>,
}

impl TopicInfo {
    /// The partition with this index, if it exists.
    pub fn partition(&self, index: i32) -> Option<&PartitionInfo> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }

    pub(crate) fn from_record(rec: &TopicRecord) -> TopicInfo {
        TopicInfo {
            name: rec.name.clone(),
            id: uuid::Uuid::from_u128(rec.id),
            partitions: rec
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    index: p.index,
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                })
                .collect(),
            configs: rec.configs.clone(),
        }
    }

    pub(crate) fn to_record(&self) -> TopicRecord {
        TopicRecord {
            name: self.name.clone(),
            id: self.id.as_u128(),
            partitions: self
                .partitions
                .iter()
                .map(|p| crate::store::PartitionRecord {
                    index: p.index,
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                })
                .collect(),
            configs: self.configs.clone(),
        }
    }
}

/// All topics by name (and by id).
#[derive(Default)]
pub struct MetadataView {
    topics: RwLock<BTreeMap<String, Arc<TopicInfo>>>,
}

impl MetadataView {
    /// A view holding these topics.
    pub fn new(topics: Vec<TopicInfo>) -> MetadataView {
        let map = topics
            .into_iter()
            .map(|t| (t.name.clone(), Arc::new(t)))
            .collect();
        MetadataView {
            topics: RwLock::new(map),
        }
    }

    /// The topic called `name`.
    pub fn topic(&self, name: &str) -> Option<Arc<TopicInfo>> {
        self.read().get(name).cloned()
    }

    /// The topic with this id.
    pub fn topic_by_id(&self, id: uuid::Uuid) -> Option<Arc<TopicInfo>> {
        self.read().values().find(|t| t.id == id).cloned()
    }

    /// Every topic, in name order.
    pub fn topics(&self) -> Vec<Arc<TopicInfo>> {
        self.read().values().cloned().collect()
    }

    pub(crate) fn upsert(&self, topic: TopicInfo) {
        self.write().insert(topic.name.clone(), Arc::new(topic));
    }

    pub(crate) fn remove(&self, name: &str) -> Option<Arc<TopicInfo>> {
        self.write().remove(name)
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<TopicInfo>>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<TopicInfo>>> {
        self.topics.write().unwrap_or_else(|p| p.into_inner())
    }
}
