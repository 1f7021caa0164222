//! Consumer group metadata and committed offsets: the RocksDB side of
//! [`crate::group::GroupStore`].
//!
//! | column family | key                                              | value                      |
//! |---------------|--------------------------------------------------|----------------------------|
//! | `groups`      | group id (UTF-8)                                 | `GroupMetadataRecord` JSON |
//! | `offsets`     | group id, 0x00, topic, 0x00, partition (i32 BE)  | `OffsetRecord` JSON        |
//! | `pending`     | the `offsets` key, then the producer id (i64 BE)  | `OffsetRecord` JSON        |
//!
//! `pending` holds transactional offsets (TxnOffsetCommit) until their transaction's marker
//! moves them to `offsets` (commit) or drops them (abort), in one batch.
//!
//! Both JSON documents carry a format version `"v"` and are defined (with their byte
//! fields as hex) in `group::store`. An offset key is parsed from its end: the last four
//! bytes are the partition, the byte before is 0x00, and the topic runs back to the
//! previous 0x00 (topic names never contain 0x00), so even a group id holding 0x00 is read
//! back correctly.
//!
//! Each `persist` is one `WriteBatch`: the group record and the offsets of one request
//! land together or not at all. Writes that change group metadata (rebalance completion,
//! deletion) wait for the WAL fsync; offset-only writes do not (like Kafka, which does not
//! fsync offset commits either): they survive a process crash, not a power loss.

use std::collections::BTreeMap;

use super::{Space, Store, StoreError, StoreOp, CF_GROUPS, CF_OFFSETS};
use crate::group::store::{
    GroupMetadataRecord, GroupStore, GroupStoreError, GroupWrite, MetadataWrite, OffsetRecord,
    PendingWrite, PersistedGroup,
};

/// The `offsets` key of one (group, topic, partition).
pub fn offset_key(group_id: &str, topic: &str, partition: i32) -> Vec<u8> {
    let mut k = Vec::with_capacity(group_id.len() + topic.len() + 6);
    k.extend_from_slice(group_id.as_bytes());
    k.push(0);
    k.extend_from_slice(topic.as_bytes());
    k.push(0);
    k.extend_from_slice(&partition.to_be_bytes());
    k
}

/// Splits an `offsets` key into (group id, topic, partition).
fn parse_offset_key(k: &[u8]) -> Option<(String, String, i32)> {
    let split = k.len().checked_sub(4)?;
    let (head, part) = k.split_at(split);
    let partition = i32::from_be_bytes(part.try_into().ok()?);
    let head = head.strip_suffix(&[0])?;
    let sep = head.iter().rposition(|b| *b == 0)?;
    let group = std::str::from_utf8(&head[..sep]).ok()?;
    let topic = std::str::from_utf8(&head[sep + 1..]).ok()?;
    Some((group.to_string(), topic.to_string(), partition))
}

fn corrupt(key: &[u8], message: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: message.into(),
    }
}

impl Store {
    /// Every stored group with its offsets, in group id order. A record that does not
    /// decode fails the load (fail-stop: the broker does not start on corrupt metadata).
    pub fn load_groups(&self) -> Result<Vec<PersistedGroup>, StoreError> {
        let mut groups: BTreeMap<String, PersistedGroup> = BTreeMap::new();
        for (k, v) in self.scan_prefix(CF_GROUPS, b"")? {
            let group_id =
                String::from_utf8(k.clone()).map_err(|_| corrupt(&k, "group id is not UTF-8"))?;
            let record =
                GroupMetadataRecord::from_json(&v).map_err(|e| corrupt(&k, e.message()))?;
            let entry = groups
                .entry(group_id.clone())
                .or_insert_with(|| PersistedGroup {
                    group_id,
                    ..Default::default()
                });
            entry.metadata = Some(record);
        }
        for (k, v) in self.scan_prefix(CF_OFFSETS, b"")? {
            let (group_id, topic, partition) =
                parse_offset_key(&k).ok_or_else(|| corrupt(&k, "malformed offset key"))?;
            let record = OffsetRecord::from_json(&v).map_err(|e| corrupt(&k, e.message()))?;
            let entry = groups
                .entry(group_id.clone())
                .or_insert_with(|| PersistedGroup {
                    group_id,
                    ..Default::default()
                });
            entry.offsets.push((topic, partition, record));
        }
        for (k, v) in self.scan_prefix(Space::Pending, b"")? {
            let split = k.len().checked_sub(8);
            let parsed = split.and_then(|at| {
                let (key, pid) = k.split_at(at);
                let (g, t, p) = parse_offset_key(key)?;
                Some((g, t, p, i64::from_be_bytes(pid.try_into().ok()?)))
            });
            let (group_id, topic, partition, pid) =
                parsed.ok_or_else(|| corrupt(&k, "malformed pending offset key"))?;
            let record = OffsetRecord::from_json(&v).map_err(|e| corrupt(&k, e.message()))?;
            let entry = groups
                .entry(group_id.clone())
                .or_insert_with(|| PersistedGroup {
                    group_id,
                    ..Default::default()
                });
            entry.pending.push((pid, topic, partition, record));
        }
        Ok(groups.into_values().collect())
    }

    /// Applies one write of transactional offsets as a single atomic batch, synced when it
    /// commits offsets (a transaction's marker).
    pub fn write_pending(&self, group_id: &str, write: &PendingWrite) -> Result<(), StoreError> {
        let pending_key = |topic: &str, partition: i32| {
            let mut k = offset_key(group_id, topic, partition);
            k.extend_from_slice(&write.producer_id.to_be_bytes());
            k
        };
        let mut ops = Vec::new();
        for (topic, partition) in &write.unstage {
            ops.push(StoreOp::Delete {
                cf: Space::Pending,
                key: pending_key(topic, *partition),
            });
        }
        for (topic, partition, record) in &write.stage {
            ops.push(StoreOp::Put {
                cf: Space::Pending,
                key: pending_key(topic, *partition),
                value: record.to_json(),
            });
        }
        for (topic, partition, record) in &write.commit {
            ops.push(StoreOp::Put {
                cf: CF_OFFSETS,
                key: offset_key(group_id, topic, *partition),
                value: record.to_json(),
            });
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.write(ops, !write.commit.is_empty())
    }

    /// Applies one group write as a single atomic batch.
    pub fn write_group(&self, group_id: &str, write: &GroupWrite) -> Result<(), StoreError> {
        let mut ops = Vec::with_capacity(1 + write.offsets_put.len() + write.offsets_delete.len());
        let sync = match &write.metadata {
            MetadataWrite::Unchanged => false,
            MetadataWrite::Put(record) => {
                ops.push(StoreOp::Put {
                    cf: CF_GROUPS,
                    key: group_id.as_bytes().to_vec(),
                    value: record.to_json(),
                });
                true
            }
            MetadataWrite::Delete => {
                ops.push(StoreOp::Delete {
                    cf: CF_GROUPS,
                    key: group_id.as_bytes().to_vec(),
                });
                true
            }
        };
        for (topic, partition) in &write.offsets_delete {
            ops.push(StoreOp::Delete {
                cf: CF_OFFSETS,
                key: offset_key(group_id, topic, *partition),
            });
        }
        for (topic, partition, record) in &write.offsets_put {
            ops.push(StoreOp::Put {
                cf: CF_OFFSETS,
                key: offset_key(group_id, topic, *partition),
                value: record.to_json(),
            });
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.write(ops, sync)
    }
}

impl Store {
    /// Cluster mode: replaces every stored group for which `owns(group id)` holds (the groups
    /// of one offsets partition) with `groups`, in one atomic batch. With no groups it drops
    /// them: the broker stopped coordinating that partition.
    pub fn replace_groups(
        &self,
        owns: impl Fn(&str) -> bool,
        groups: &[PersistedGroup],
    ) -> Result<(), StoreError> {
        let mut ops = Vec::new();
        for (k, _) in self.scan_prefix(CF_GROUPS, b"")? {
            if std::str::from_utf8(&k).is_ok_and(&owns) {
                ops.push(StoreOp::Delete {
                    cf: CF_GROUPS,
                    key: k,
                });
            }
        }
        for (k, _) in self.scan_prefix(CF_OFFSETS, b"")? {
            if parse_offset_key(&k).is_some_and(|(g, _, _)| owns(&g)) {
                ops.push(StoreOp::Delete {
                    cf: CF_OFFSETS,
                    key: k,
                });
            }
        }
        for g in groups {
            if let Some(m) = &g.metadata {
                ops.push(StoreOp::Put {
                    cf: CF_GROUPS,
                    key: g.group_id.as_bytes().to_vec(),
                    value: m.to_json(),
                });
            }
            for (topic, partition, o) in &g.offsets {
                ops.push(StoreOp::Put {
                    cf: CF_OFFSETS,
                    key: offset_key(&g.group_id, topic, *partition),
                    value: o.to_json(),
                });
            }
        }
        if ops.is_empty() {
            return Ok(());
        }
        self.write(ops, false)
    }
}

impl GroupStore for Store {
    fn load(&self) -> Result<Vec<PersistedGroup>, GroupStoreError> {
        self.load_groups()
            .map_err(|e| GroupStoreError::Failed(e.to_string()))
    }

    fn persist(&self, group_id: &str, write: &GroupWrite) -> Result<(), GroupStoreError> {
        self.write_group(group_id, write)
            .map_err(|e| GroupStoreError::Failed(e.to_string()))
    }

    fn persist_pending(&self, group_id: &str, write: &PendingWrite) -> Result<(), GroupStoreError> {
        self.write_pending(group_id, write)
            .map_err(|e| GroupStoreError::Failed(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::store::{MemberRecord, ProtocolRecord, RECORD_VERSION};

    fn offset(o: i64) -> OffsetRecord {
        OffsetRecord {
            v: RECORD_VERSION,
            offset: o,
            leader_epoch: 3,
            metadata: "m".into(),
            commit_timestamp_ms: 1_700_000_000_000,
        }
    }

    fn metadata() -> GroupMetadataRecord {
        GroupMetadataRecord {
            v: RECORD_VERSION,
            protocol_type: Some("consumer".into()),
            generation_id: 4,
            protocol_name: Some("range".into()),
            leader: Some("c-1".into()),
            state_timestamp_ms: Some(1),
            members: vec![MemberRecord {
                member_id: "c-1".into(),
                group_instance_id: Some("i".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 1,
                session_timeout_ms: 2,
                protocols: vec![ProtocolRecord {
                    name: "range".into(),
                    metadata: vec![1, 2],
                }],
                assignment: vec![3],
            }],
            group_type: Default::default(),
            consumer: None,
            share: None,
        }
    }

    #[test]
    fn offset_keys_round_trip() {
        let k = offset_key("g", "orders", 7);
        assert_eq!(parse_offset_key(&k), Some(("g".into(), "orders".into(), 7)));
        // A group id containing 0x00 still parses (the topic cannot contain it).
        let k = offset_key("a\0b", "t", -1);
        assert_eq!(parse_offset_key(&k), Some(("a\0b".into(), "t".into(), -1)));
        assert_eq!(parse_offset_key(b"abc"), None);
        assert_eq!(parse_offset_key(b"g\0t\x01\0\0\0\0"), None);
    }

    #[test]
    fn pending_transactional_offsets_round_trip_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let stage = |pid: i64, o: i64| PendingWrite {
                producer_id: pid,
                stage: vec![("t".into(), 0, offset(o)), ("t".into(), 1, offset(o))],
                ..Default::default()
            };
            // Producer ids whose big-endian bytes hold 0x00 and group ids holding 0x00.
            store.persist_pending("g\0x", &stage(256, 10)).unwrap();
            store.persist_pending("g\0x", &stage(7, 20)).unwrap();
            let commit = PendingWrite {
                producer_id: 7,
                unstage: vec![("t".into(), 0), ("t".into(), 1)],
                commit: vec![("t".into(), 0, offset(20)), ("t".into(), 1, offset(20))],
                ..Default::default()
            };
            store.persist_pending("g\0x", &commit).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let groups = store.load().unwrap();
        assert_eq!(groups.len(), 1);
        let g = &groups[0];
        assert_eq!(g.group_id, "g\0x");
        assert_eq!(g.offsets.len(), 2);
        assert!(g.offsets.iter().all(|(_, _, o)| o.offset == 20));
        let mut pending: Vec<(i64, String, i32, i64)> = g
            .pending
            .iter()
            .map(|(pid, t, p, o)| (*pid, t.clone(), *p, o.offset))
            .collect();
        pending.sort();
        assert_eq!(
            pending,
            vec![(256, "t".into(), 0, 10), (256, "t".into(), 1, 10)]
        );
    }

    #[test]
    fn persist_and_load_groups() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = Store::open(dir.path()).unwrap();
            let write = GroupWrite {
                metadata: MetadataWrite::Put(metadata()),
                offsets_put: vec![("t".into(), 0, offset(10)), ("t".into(), 1, offset(11))],
                offsets_delete: vec![],
            };
            store.persist("g", &write).unwrap();
            let simple = GroupWrite {
                metadata: MetadataWrite::Unchanged,
                offsets_put: vec![("u".into(), 0, offset(5))],
                offsets_delete: vec![],
            };
            store.persist("simple", &simple).unwrap();
            let delete_one = GroupWrite {
                metadata: MetadataWrite::Unchanged,
                offsets_put: vec![],
                offsets_delete: vec![("t".into(), 1)],
            };
            store.persist("g", &delete_one).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let groups = store.load().unwrap();
        assert_eq!(groups.len(), 2);
        assert_eq!(groups[0].group_id, "g");
        assert_eq!(groups[0].metadata, Some(metadata()));
        assert_eq!(groups[0].offsets, vec![("t".to_string(), 0, offset(10))]);
        assert_eq!(groups[1].group_id, "simple");
        assert_eq!(groups[1].metadata, None);

        let tombstone = GroupWrite {
            metadata: MetadataWrite::Delete,
            offsets_put: vec![],
            offsets_delete: vec![("t".into(), 0)],
        };
        store.persist("g", &tombstone).unwrap();
        let groups = store.load().unwrap();
        assert_eq!(groups.len(), 1);
        assert_eq!(groups[0].group_id, "simple");
    }

    #[test]
    fn replace_groups_swaps_one_partition_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let write = |o| GroupWrite {
            metadata: MetadataWrite::Put(metadata()),
            offsets_put: vec![("t".into(), 0, offset(o))],
            offsets_delete: vec![],
        };
        store.persist("a1", &write(1)).unwrap();
        store.persist("b1", &write(2)).unwrap();
        let fresh = PersistedGroup {
            group_id: "a2".into(),
            metadata: None,
            offsets: vec![("u".into(), 3, offset(9))],
            pending: vec![],
        };
        store
            .replace_groups(|g| g.starts_with('a'), std::slice::from_ref(&fresh))
            .unwrap();
        let groups = store.load().unwrap();
        let ids: Vec<&str> = groups.iter().map(|g| g.group_id.as_str()).collect();
        assert_eq!(ids, ["a2", "b1"]);
        assert_eq!(groups[0], fresh);
        store.replace_groups(|g| g.starts_with('b'), &[]).unwrap();
        assert_eq!(store.load().unwrap(), vec![fresh]);
    }

    #[test]
    fn corrupt_record_fails_the_load() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store
            .write(
                vec![StoreOp::Put {
                    cf: CF_GROUPS,
                    key: b"g".to_vec(),
                    value: b"not json".to_vec(),
                }],
                true,
            )
            .unwrap();
        assert!(matches!(
            store.load_groups(),
            Err(StoreError::Corrupt { .. })
        ));
    }
}
