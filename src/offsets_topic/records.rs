//! The records the group coordinator writes to `__consumer_offsets`, and their replay.
//!
//! Keys use Kafka's layout (big-endian; a string is an i16 length and UTF-8 bytes), so that a
//! group and a committed offset are the same compaction keys as in Kafka:
//!
//! ```text
//! offset commit    i16 version = 1, string group, string topic, i32 partition
//! group metadata   i16 version = 2, string group
//! pending offset   i16 version = 102, string group, i64 producer id, string topic,
//!                  i32 partition                                      (Runnel's own)
//! pending offsets  i16 version = 100, string group, i64 producer id   (read only, older runs)
//! share state      i16 version = 101, string group, 16-byte topic id, i32 partition
//!                                                                       (Runnel's own)
//! ```
//! Values are the JSON documents of `group::store` (`OffsetRecord`, `GroupMetadataRecord`,
//! each with its format version `"v"`), not Kafka's binary values; a null value is a tombstone
//! (offset deleted, group deleted, pending offset gone). A key version 0 (Kafka's older offset
//! key) reads as 1.
//!
//! Every key names exactly what its value replaces, so the log cleaner (`cleanup.policy=
//! compact`: the latest record of each key survives) never changes what a replay yields. One
//! `group::store::PendingWrite` (TxnOffsetCommit staging transactional offsets, or the
//! transaction's marker unstaging them and, on commit, committing them) is one batch: a
//! pending-offset tombstone per unstaged partition, a pending-offset record (the staged
//! `OffsetRecord`) per staged partition, then an ordinary offset-commit record per committed
//! offset. Kafka instead writes transactional offset commits as transactional batches
//! completed by a control batch; here the completion is ordinary records, so the replay needs
//! no producer state, and Kafka's readers skip the unknown key version. Older runs wrote one
//! version-100 record per write carrying the whole `PendingWrite` as JSON
//! `{"v":1,"stage":[[topic,partition,offset]..],"unstage":[[topic,partition]..],
//! "commit":[[topic,partition,offset]..]}`; it is still replayed.
//!
//! A share-state record is one share-partition's whole durable state as its share coordinator
//! (the group's coordinator) holds it: value = i32 leader epoch (BE; the data partition's
//! leader epoch of the last writer) followed by the share-partition record of
//! `share::persist` (magic, format version, state epoch, start offset, ranges, CRC-32C) — the
//! same bytes a single node keeps in its store. A start offset of −1 means "not initialized
//! at this state epoch" (DeleteShareGroupOffsets: the next leader starts afresh, and a stale
//! leader's write at the older epoch is fenced). A null value is a tombstone (the share group
//! was deleted). Records written before this kind existed are read as before; a broker that
//! does not know key version 101 skips the record and counts it.
//!
//! One `GroupWrite` is one uncompressed batch with no producer id, so it is appended, replicated
//! and truncated whole: its group metadata record first, then the offset tombstones, then the
//! offsets — the order `group::store::apply_write` applies them in.
//!
//! Replay folds batches in log order. A record that does not decode (an unknown key version, a
//! value in a format this broker does not know) is skipped and counted, so that one bad record
//! does not keep every other group of the partition from loading.

use std::collections::HashMap;

use bytes::Bytes;
use uuid::Uuid;

use serde::Deserialize;

use crate::group::store::{
    apply_pending, apply_write, GroupMetadataRecord, GroupWrite, MetadataWrite, OffsetRecord,
    PendingWrite, PersistedGroup,
};
use crate::log::batch::KeyValue;
use crate::share::partition::Snapshot;

const OFFSET_KEY_V0: i16 = 0;
const OFFSET_KEY: i16 = 1;
const GROUP_KEY: i16 = 2;
const PENDING_KEY_V100: i16 = 100;
const SHARE_KEY: i16 = 101;
const PENDING_KEY: i16 = 102;
/// Version of the version-100 pending-offsets JSON document.
const PENDING_VERSION: u16 = 1;

/// One record's key.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Key {
    Offset {
        group: String,
        topic: String,
        partition: i32,
    },
    Group {
        group: String,
    },
    /// Version 102: one pending offset.
    Pending {
        group: String,
        producer_id: i64,
        topic: String,
        partition: i32,
    },
    /// Version 100 (read only): a whole `PendingWrite`.
    PendingWrite {
        group: String,
        producer_id: i64,
    },
    Share(ShareStateKey),
}

/// A share-partition: (group, topic id, partition).
pub type ShareStateKey = (String, Uuid, i32);

/// One share-partition's state at its share coordinator (see the header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareStateRecord {
    /// The data partition's leader epoch of the last reader or writer (fences older leaders).
    pub leader_epoch: i32,
    /// The state; `start_offset` −1 = not initialized at `state_epoch`.
    pub snapshot: Snapshot,
}

impl ShareStateRecord {
    /// The record's value bytes.
    pub fn encode(&self) -> Vec<u8> {
        let body = crate::share::persist::encode(&self.snapshot);
        let mut v = Vec::with_capacity(4 + body.len());
        v.extend_from_slice(&self.leader_epoch.to_be_bytes());
        v.extend_from_slice(&body);
        v
    }

    /// Decodes a value; anything malformed is an error.
    pub fn decode(v: &[u8]) -> Result<ShareStateRecord, String> {
        if v.len() < 4 {
            return Err("a share-state value shorter than its leader epoch".into());
        }
        Ok(ShareStateRecord {
            leader_epoch: i32::from_be_bytes([v[0], v[1], v[2], v[3]]),
            snapshot: crate::share::persist::decode(&v[4..])?,
        })
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    // Group ids and topic names are far below 32 KiB (the coordinator and topic validation
    // bound them); a longer one would be cut, never misframed.
    let b = &s.as_bytes()[..s.len().min(i16::MAX as usize)];
    out.extend_from_slice(&(b.len() as i16).to_be_bytes());
    out.extend_from_slice(b);
}

impl Key {
    fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Key::Offset {
                group,
                topic,
                partition,
            } => {
                out.extend_from_slice(&OFFSET_KEY.to_be_bytes());
                put_str(&mut out, group);
                put_str(&mut out, topic);
                out.extend_from_slice(&partition.to_be_bytes());
            }
            Key::Group { group } => {
                out.extend_from_slice(&GROUP_KEY.to_be_bytes());
                put_str(&mut out, group);
            }
            Key::Pending {
                group,
                producer_id,
                topic,
                partition,
            } => {
                out.extend_from_slice(&PENDING_KEY.to_be_bytes());
                put_str(&mut out, group);
                out.extend_from_slice(&producer_id.to_be_bytes());
                put_str(&mut out, topic);
                out.extend_from_slice(&partition.to_be_bytes());
            }
            Key::PendingWrite { group, producer_id } => {
                out.extend_from_slice(&PENDING_KEY_V100.to_be_bytes());
                put_str(&mut out, group);
                out.extend_from_slice(&producer_id.to_be_bytes());
            }
            Key::Share((group, topic_id, partition)) => {
                out.extend_from_slice(&SHARE_KEY.to_be_bytes());
                put_str(&mut out, group);
                out.extend_from_slice(topic_id.as_bytes());
                out.extend_from_slice(&partition.to_be_bytes());
            }
        }
        out
    }

    fn decode(b: &[u8]) -> Result<Key, String> {
        let mut r = Reader(b);
        let key = match r.i16()? {
            OFFSET_KEY_V0 | OFFSET_KEY => Key::Offset {
                group: r.string()?,
                topic: r.string()?,
                partition: r.i32()?,
            },
            GROUP_KEY => Key::Group { group: r.string()? },
            PENDING_KEY => Key::Pending {
                group: r.string()?,
                producer_id: r.i64()?,
                topic: r.string()?,
                partition: r.i32()?,
            },
            PENDING_KEY_V100 => Key::PendingWrite {
                group: r.string()?,
                producer_id: r.i64()?,
            },
            SHARE_KEY => {
                let group = r.string()?;
                let id = Uuid::from_slice(r.take(16)?).map_err(|e| e.to_string())?;
                Key::Share((group, id, r.i32()?))
            }
            v => return Err(format!("unknown key version {v}")),
        };
        if !r.0.is_empty() {
            return Err(format!("{} bytes after the key", r.0.len()));
        }
        Ok(key)
    }
}

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        if self.0.len() < n {
            return Err("key too short".into());
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Ok(head)
    }
    fn i16(&mut self) -> Result<i16, String> {
        let b = self.take(2)?;
        Ok(i16::from_be_bytes([b[0], b[1]]))
    }
    fn i32(&mut self) -> Result<i32, String> {
        let b = self.take(4)?;
        Ok(i32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn i64(&mut self) -> Result<i64, String> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_be_bytes(a))
    }
    fn string(&mut self) -> Result<String, String> {
        let len = usize::try_from(self.i16()?).map_err(|_| "null string in a key")?;
        String::from_utf8(self.take(len)?.to_vec()).map_err(|_| "key string is not UTF-8".into())
    }
}

/// The batch that carries `write` for `group_id`, stamped `now_ms`.
pub fn encode_write(group_id: &str, write: &GroupWrite, now_ms: i64) -> Vec<u8> {
    let mut records: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    let group_key = || {
        Key::Group {
            group: group_id.to_string(),
        }
        .encode()
    };
    match &write.metadata {
        MetadataWrite::Unchanged => {}
        MetadataWrite::Put(m) => records.push((group_key(), Some(m.to_json()))),
        MetadataWrite::Delete => records.push((group_key(), None)),
    }
    for (topic, partition) in &write.offsets_delete {
        records.push((offset_key(group_id, topic, *partition), None));
    }
    push_offsets(&mut records, group_id, &write.offsets_put);
    encode_records(&records, now_ms)
}

fn offset_key(group_id: &str, topic: &str, partition: i32) -> Vec<u8> {
    Key::Offset {
        group: group_id.to_string(),
        topic: topic.to_string(),
        partition,
    }
    .encode()
}

fn push_offsets(
    records: &mut Vec<(Vec<u8>, Option<Vec<u8>>)>,
    group_id: &str,
    offsets: &[(String, i32, OffsetRecord)],
) {
    for (topic, partition, o) in offsets {
        records.push((offset_key(group_id, topic, *partition), Some(o.to_json())));
    }
}

fn encode_records(records: &[(Vec<u8>, Option<Vec<u8>>)], now_ms: i64) -> Vec<u8> {
    let refs: Vec<KeyValue<'_>> = records
        .iter()
        .map(|(k, v)| (Some(k.as_slice()), v.as_deref()))
        .collect();
    crate::log::encode_batch(&refs, now_ms)
}

/// The JSON value of a version-100 pending-offsets record (see the header).
#[derive(Deserialize)]
struct PendingValue {
    v: u16,
    stage: Vec<(String, i32, OffsetRecord)>,
    unstage: Vec<(String, i32)>,
    commit: Vec<(String, i32, OffsetRecord)>,
}

/// The batch that carries the transactional-offsets write `write` for `group_id` (see the
/// header: unstaged tombstones, staged records, committed offsets).
pub fn encode_pending(group_id: &str, write: &PendingWrite, now_ms: i64) -> Vec<u8> {
    let pending_key = |topic: &str, partition: i32| {
        Key::Pending {
            group: group_id.to_string(),
            producer_id: write.producer_id,
            topic: topic.to_string(),
            partition,
        }
        .encode()
    };
    let mut records: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
    for (topic, partition) in &write.unstage {
        records.push((pending_key(topic, *partition), None));
    }
    for (topic, partition, o) in &write.stage {
        records.push((pending_key(topic, *partition), Some(o.to_json())));
    }
    push_offsets(&mut records, group_id, &write.commit);
    encode_records(&records, now_ms)
}

/// The batch that carries share-partition states (`None` = tombstone), in order.
pub fn encode_share_states(
    states: &[(ShareStateKey, Option<ShareStateRecord>)],
    now_ms: i64,
) -> Vec<u8> {
    let records: Vec<(Vec<u8>, Option<Vec<u8>>)> = states
        .iter()
        .map(|(k, v)| {
            (
                Key::Share(k.clone()).encode(),
                v.as_ref().map(ShareStateRecord::encode),
            )
        })
        .collect();
    let refs: Vec<KeyValue<'_>> = records
        .iter()
        .map(|(k, v)| (Some(k.as_slice()), v.as_deref()))
        .collect();
    crate::log::encode_batch(&refs, now_ms)
}

/// One decoded record: a group write, a transactional-offsets write or a share state.
enum Decoded {
    Group(String, GroupWrite),
    Pending(String, PendingWrite),
    Share(ShareStateKey, Option<ShareStateRecord>),
}

/// The groups of one offsets partition, folded from its batches in log order.
#[derive(Default)]
pub struct Replay {
    groups: HashMap<String, PersistedGroup>,
    shares: HashMap<ShareStateKey, ShareStateRecord>,
    /// Records that did not decode (see the header).
    pub skipped: usize,
}

impl Replay {
    /// Folds one whole stored batch. Control batches carry no group data.
    pub fn apply_batch(&mut self, batch: Bytes) -> Result<(), String> {
        let mut buf = batch;
        let set = crate::protocol::records::decode_batch(&mut buf).map_err(|e| e.to_string())?;
        for r in set.records {
            if r.control {
                continue;
            }
            let Some(key) = r.key.as_deref() else {
                self.skipped += 1;
                continue;
            };
            match record_write(key, r.value.as_deref()) {
                Ok(Decoded::Group(group, write)) => apply_write(&mut self.groups, &group, &write),
                Ok(Decoded::Pending(group, write)) => {
                    apply_pending(&mut self.groups, &group, &write)
                }
                Ok(Decoded::Share(key, Some(state))) => {
                    self.shares.insert(key, state);
                }
                Ok(Decoded::Share(key, None)) => {
                    self.shares.remove(&key);
                }
                Err(e) => {
                    tracing::warn!(offset = r.offset, error = %e, "skipping an offsets-topic record that does not decode");
                    self.skipped += 1;
                }
            }
        }
        Ok(())
    }

    /// Takes the share-partition states replayed so far (every one, before `finish`).
    pub fn take_shares(&mut self) -> HashMap<ShareStateKey, ShareStateRecord> {
        std::mem::take(&mut self.shares)
    }

    /// The groups, in group id order.
    pub fn finish(self) -> Vec<PersistedGroup> {
        let mut out: Vec<PersistedGroup> = self.groups.into_values().collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }
}

/// One record as the write it stands for.
fn record_write(key: &[u8], value: Option<&[u8]>) -> Result<Decoded, String> {
    let mut write = GroupWrite {
        metadata: MetadataWrite::Unchanged,
        offsets_put: Vec::new(),
        offsets_delete: Vec::new(),
    };
    let group = match Key::decode(key)? {
        Key::Share(k) => {
            let state = value.map(ShareStateRecord::decode).transpose()?;
            return Ok(Decoded::Share(k, state));
        }
        Key::Group { group } => {
            write.metadata = match value {
                None => MetadataWrite::Delete,
                Some(v) => MetadataWrite::Put(
                    GroupMetadataRecord::from_json(v).map_err(|e| e.message().to_string())?,
                ),
            };
            group
        }
        Key::Offset {
            group,
            topic,
            partition,
        } => {
            match value {
                None => write.offsets_delete.push((topic, partition)),
                Some(v) => write.offsets_put.push((
                    topic,
                    partition,
                    OffsetRecord::from_json(v).map_err(|e| e.message().to_string())?,
                )),
            }
            group
        }
        Key::Pending {
            group,
            producer_id,
            topic,
            partition,
        } => {
            let mut write = PendingWrite {
                producer_id,
                ..Default::default()
            };
            match value {
                None => write.unstage.push((topic, partition)),
                Some(v) => write.stage.push((
                    topic,
                    partition,
                    OffsetRecord::from_json(v).map_err(|e| e.message().to_string())?,
                )),
            }
            return Ok(Decoded::Pending(group, write));
        }
        Key::PendingWrite { group, producer_id } => {
            let v = value.ok_or("a pending-offsets record without a value")?;
            let p: PendingValue = serde_json::from_slice(v).map_err(|e| e.to_string())?;
            if p.v != PENDING_VERSION {
                return Err(format!("unknown pending-offsets version {}", p.v));
            }
            let write = PendingWrite {
                producer_id,
                stage: p.stage,
                unstage: p.unstage,
                commit: p.commit,
            };
            return Ok(Decoded::Pending(group, write));
        }
    };
    Ok(Decoded::Group(group, write))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::store::{MemberRecord, MemoryGroupStore, RECORD_VERSION};
    use crate::group::GroupStore;
    use crate::log::BatchHeader;

    fn offset(o: i64) -> OffsetRecord {
        OffsetRecord {
            v: RECORD_VERSION,
            offset: o,
            leader_epoch: 2,
            metadata: "m".into(),
            commit_timestamp_ms: 7,
        }
    }

    fn metadata(generation_id: i32) -> GroupMetadataRecord {
        GroupMetadataRecord {
            v: RECORD_VERSION,
            protocol_type: Some("consumer".into()),
            generation_id,
            protocol_name: Some("range".into()),
            leader: Some("m-1".into()),
            state_timestamp_ms: Some(5),
            members: vec![MemberRecord {
                member_id: "m-1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                protocols: vec![],
                assignment: vec![1, 2, 3],
            }],
            group_type: Default::default(),
            consumer: None,
            share: None,
        }
    }

    #[test]
    fn keys_use_kafkas_layout() {
        let k = Key::Offset {
            group: "g".into(),
            topic: "t".into(),
            partition: 3,
        };
        assert_eq!(k.encode(), [0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3]);
        assert_eq!(Key::decode(&k.encode()), Ok(k));
        let g = Key::Group { group: "g".into() };
        assert_eq!(g.encode(), [0, 2, 0, 1, b'g']);
        assert_eq!(Key::decode(&g.encode()), Ok(g));
        // Kafka's version-0 offset key reads the same.
        let v0 = [0, 0, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 3];
        assert!(matches!(
            Key::decode(&v0),
            Ok(Key::Offset { partition: 3, .. })
        ));
        assert!(Key::decode(&[0, 3, 0, 0]).is_err());
        assert!(Key::decode(&[0, 2, 0, 5, b'g']).is_err());
        assert!(Key::decode(&[0, 2, 0, 1, b'g', 9]).is_err());
    }

    #[test]
    fn one_write_is_one_batch_in_apply_order() {
        let write = GroupWrite {
            metadata: MetadataWrite::Put(metadata(3)),
            offsets_put: vec![("t".into(), 0, offset(10)), ("t".into(), 1, offset(11))],
            offsets_delete: vec![("u".into(), 0)],
        };
        let batch = encode_write("g", &write, 1_000);
        let h = BatchHeader::parse(&batch).unwrap();
        assert_eq!(
            (h.records_count, h.producer_id, h.base_timestamp),
            (4, -1, 1_000)
        );
        assert_eq!(h.batch_size(), batch.len());
        assert_eq!(crate::log::compute_crc(&batch), h.crc);
        let set = crate::protocol::records::decode_batch(&mut Bytes::from(batch)).unwrap();
        let keys: Vec<_> = set
            .records
            .iter()
            .map(|r| Key::decode(r.key.as_deref().unwrap()).unwrap())
            .collect();
        assert_eq!(keys[0], Key::Group { group: "g".into() });
        assert!(matches!(&keys[1], Key::Offset { topic, .. } if topic == "u"));
        assert!(set.records[1].value.is_none());
    }

    /// Replaying the batches of a sequence of writes gives what a store applying the same
    /// writes holds.
    #[test]
    fn replay_matches_a_store_that_applied_the_writes() {
        let writes: Vec<(&str, GroupWrite)> = vec![
            (
                "g",
                GroupWrite {
                    metadata: MetadataWrite::Put(metadata(1)),
                    offsets_put: vec![("t".into(), 0, offset(1))],
                    offsets_delete: vec![],
                },
            ),
            (
                "simple",
                GroupWrite {
                    metadata: MetadataWrite::Unchanged,
                    offsets_put: vec![("t".into(), 0, offset(4)), ("t".into(), 1, offset(5))],
                    offsets_delete: vec![],
                },
            ),
            (
                "g",
                GroupWrite {
                    metadata: MetadataWrite::Put(metadata(2)),
                    offsets_put: vec![("t".into(), 0, offset(8))],
                    offsets_delete: vec![],
                },
            ),
            (
                "simple",
                GroupWrite {
                    metadata: MetadataWrite::Unchanged,
                    offsets_put: vec![],
                    offsets_delete: vec![("t".into(), 1)],
                },
            ),
            (
                "gone",
                GroupWrite {
                    metadata: MetadataWrite::Put(metadata(1)),
                    offsets_put: vec![("t".into(), 0, offset(2))],
                    offsets_delete: vec![],
                },
            ),
            (
                "gone",
                GroupWrite {
                    metadata: MetadataWrite::Delete,
                    offsets_put: vec![],
                    offsets_delete: vec![("t".into(), 0)],
                },
            ),
        ];
        let store = MemoryGroupStore::new();
        let mut replay = Replay::default();
        for (g, w) in &writes {
            store.persist(g, w).unwrap();
            replay
                .apply_batch(Bytes::from(encode_write(g, w, 9)))
                .unwrap();
        }
        let mut expected = store.load().unwrap();
        for g in &mut expected {
            g.offsets.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        }
        let mut got = replay.finish();
        for g in &mut got {
            g.offsets.sort_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        }
        assert_eq!(got, expected);
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].metadata.as_ref().unwrap().generation_id, 2);
    }

    /// Transactional offsets: staged, then committed (one producer) or dropped (another);
    /// the replay ends where a store that applied the same writes ends.
    #[test]
    fn pending_offsets_replay_like_a_store() {
        let stage = |pid: i64, o: i64| PendingWrite {
            producer_id: pid,
            stage: vec![("t".into(), 0, offset(o))],
            ..Default::default()
        };
        let writes: Vec<PendingWrite> = vec![
            stage(7, 10),
            stage(8, 20),
            PendingWrite {
                producer_id: 7,
                unstage: vec![("t".into(), 0)],
                commit: vec![("t".into(), 0, offset(10))],
                ..Default::default()
            },
        ];
        let store = MemoryGroupStore::new();
        let mut replay = Replay::default();
        for w in &writes {
            store.persist_pending("g", w).unwrap();
            replay
                .apply_batch(Bytes::from(encode_pending("g", w, 9)))
                .unwrap();
        }
        assert_eq!(replay.skipped, 0);
        let got = replay.finish();
        assert_eq!(got, store.load().unwrap());
        assert_eq!(got[0].offsets, vec![("t".to_string(), 0, offset(10))]);
        assert_eq!(got[0].pending, vec![(8, "t".to_string(), 0, offset(20))]);
        let k = Key::Pending {
            group: "g".into(),
            producer_id: 7,
            topic: "t".into(),
            partition: 3,
        };
        assert_eq!(Key::decode(&k.encode()), Ok(k));
    }

    /// The records of `batches` as the log cleaner leaves them: the latest record of every
    /// key, in log order, in one batch.
    fn compacted(batches: &[Vec<u8>]) -> Bytes {
        let mut latest: Vec<(Vec<u8>, Option<Vec<u8>>)> = Vec::new();
        for b in batches {
            let mut buf = Bytes::from(b.clone());
            let set = crate::protocol::records::decode_batch(&mut buf).unwrap();
            for r in set.records {
                let key = r.key.unwrap().to_vec();
                latest.retain(|(k, _)| *k != key);
                latest.push((key, r.value.map(|v| v.to_vec())));
            }
        }
        Bytes::from(encode_records(&latest, 9))
    }

    /// Two TxnOffsetCommits in one transaction, its commit, then the next transaction staged:
    /// a replay of the compacted log yields what a replay of the whole log yields (the
    /// committed offsets are offset records; each staged partition is its own key).
    #[test]
    fn pending_offsets_survive_compaction() {
        let stage = |p: i32, o: i64| PendingWrite {
            producer_id: 7,
            stage: vec![("t".into(), p, offset(o))],
            ..Default::default()
        };
        let writes = [
            stage(0, 10),
            stage(1, 11),
            PendingWrite {
                producer_id: 7,
                unstage: vec![("t".into(), 0), ("t".into(), 1)],
                commit: vec![("t".into(), 0, offset(10)), ("t".into(), 1, offset(11))],
                ..Default::default()
            },
            stage(0, 12),
        ];
        let batches: Vec<Vec<u8>> = writes.iter().map(|w| encode_pending("g", w, 9)).collect();
        let mut whole = Replay::default();
        for b in &batches {
            whole.apply_batch(Bytes::from(b.clone())).unwrap();
        }
        let mut cleaned = Replay::default();
        cleaned.apply_batch(compacted(&batches)).unwrap();
        let whole = whole.finish();
        assert_eq!(cleaned.finish(), whole);
        let mut offsets = whole[0].offsets.clone();
        offsets.sort_by_key(|o| o.1);
        assert_eq!(
            offsets,
            vec![
                ("t".to_string(), 0, offset(10)),
                ("t".to_string(), 1, offset(11))
            ]
        );
        assert_eq!(whole[0].pending, vec![(7, "t".to_string(), 0, offset(12))]);
    }

    /// A version-100 record written by an older run still replays.
    #[test]
    fn version_100_pending_records_still_replay() {
        let key = Key::PendingWrite {
            group: "g".into(),
            producer_id: 7,
        }
        .encode();
        let value = format!(
            r#"{{"v":1,"stage":[["t",0,{}]],"unstage":[],"commit":[["t",1,{}]]}}"#,
            String::from_utf8(offset(5).to_json()).unwrap(),
            String::from_utf8(offset(6).to_json()).unwrap()
        );
        let mut replay = Replay::default();
        replay
            .apply_batch(Bytes::from(encode_records(
                &[(key, Some(value.into_bytes()))],
                9,
            )))
            .unwrap();
        assert_eq!(replay.skipped, 0);
        let got = replay.finish();
        assert_eq!(got[0].offsets, vec![("t".to_string(), 1, offset(6))]);
        assert_eq!(got[0].pending, vec![(7, "t".to_string(), 0, offset(5))]);
    }

    #[test]
    fn undecodable_records_are_skipped_and_counted() {
        let good = Key::Group { group: "g".into() }.encode();
        let bad_value = metadata(1).to_json()[1..].to_vec();
        let unknown_key = [0u8, 9, 0, 0];
        let recs: Vec<KeyValue<'_>> = vec![
            (Some(&unknown_key), Some(b"x")),
            (Some(&good), Some(&bad_value)),
            (None, Some(b"y")),
        ];
        let mut replay = Replay::default();
        replay
            .apply_batch(Bytes::from(crate::log::encode_batch(&recs, 1)))
            .unwrap();
        assert_eq!(replay.skipped, 3);
        assert!(replay.finish().is_empty());
        assert!(Replay::default()
            .apply_batch(Bytes::from_static(b"short"))
            .is_err());
    }

    fn share_state(leader_epoch: i32, start_offset: i64) -> ShareStateRecord {
        use crate::share::partition::{RecordState, StateRange};
        ShareStateRecord {
            leader_epoch,
            snapshot: Snapshot {
                state_epoch: 2,
                start_offset,
                ranges: vec![StateRange {
                    first: start_offset,
                    last: start_offset + 3,
                    state: RecordState::Acknowledged,
                    delivery_count: 1,
                }],
            },
        }
    }

    /// Share-state records: Runnel's key version 101, the value's layout, and a replay that
    /// keeps the last state of each share-partition and drops tombstoned ones — with group
    /// records in the same partition untouched.
    #[test]
    fn share_states_replay_last_wins_and_tombstones_delete() {
        let id = Uuid::from_u128(77);
        let k = Key::Share(("g".into(), id, 3));
        let enc = k.encode();
        assert_eq!(&enc[..5], &[0, 101, 0, 1, b'g']);
        assert_eq!(enc.len(), 2 + 3 + 16 + 4);
        assert_eq!(Key::decode(&enc), Ok(k));
        assert!(Key::decode(&enc[..enc.len() - 1]).is_err());

        let v = share_state(7, 10).encode();
        assert_eq!(&v[..4], &7i32.to_be_bytes());
        assert_eq!(
            &v[4..],
            crate::share::persist::encode(&share_state(7, 10).snapshot)
        );
        assert_eq!(ShareStateRecord::decode(&v), Ok(share_state(7, 10)));
        assert!(ShareStateRecord::decode(&v[..3]).is_err());
        assert!(ShareStateRecord::decode(&v[..v.len() - 1]).is_err());

        let a = ("g".to_string(), id, 0);
        let b = ("g".to_string(), id, 1);
        let other = ("h".to_string(), id, 0);
        let mut replay = Replay::default();
        let batches = [
            encode_share_states(
                &[
                    (a.clone(), Some(share_state(1, 0))),
                    (b.clone(), Some(share_state(1, 5))),
                ],
                1,
            ),
            encode_write(
                "g",
                &GroupWrite {
                    metadata: MetadataWrite::Put(metadata(1)),
                    offsets_put: vec![],
                    offsets_delete: vec![],
                },
                2,
            ),
            encode_share_states(&[(a.clone(), Some(share_state(2, 4)))], 3),
            encode_share_states(
                &[(b.clone(), None), (other.clone(), Some(share_state(1, 1)))],
                4,
            ),
        ];
        for batch in batches {
            replay.apply_batch(Bytes::from(batch)).unwrap();
        }
        assert_eq!(replay.skipped, 0);
        let shares = replay.take_shares();
        assert_eq!(shares.len(), 2);
        assert_eq!(shares[&a], share_state(2, 4));
        assert_eq!(shares[&other], share_state(1, 1));
        assert!(!shares.contains_key(&b));
        assert_eq!(replay.finish().len(), 1);
    }
}
