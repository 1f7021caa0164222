//! Persistence boundary of the group coordinator: the `GroupStore` trait, the records it
//! carries, their on-disk encoding, and an in-memory implementation for tests.
//!
//! One `persist` call = one request's durable effect = one atomic write (a RocksDB
//! `WriteBatch` in the real store): the group's metadata record (put, delete or unchanged)
//! together with the offsets it puts and deletes. The call blocks; the coordinator runs it
//! on `tokio::task::spawn_blocking` while holding that group's lock, so a group's writes
//! reach the store in the order its state changed.
//!
//! What is persisted, as in Kafka: the group metadata when the leader's SyncGroup makes the
//! group Stable, when a rebalance leaves the group Empty, when a static member is replaced
//! without a rebalance, and when a simple (offsets-only) group is created; offsets on each
//! commit; deletions on DeleteGroups, OffsetDelete, topic deletion and offset expiry.
//!
//! ## Encoding
//!
//! Values are JSON (serde_json), one document per key, each with a format version `"v"`:
//!
//! ```text
//! group metadata  {"v":1,"protocol_type":"consumer"|null,"generation_id":3,
//!                  "protocol_name":"range"|null,"leader":"m-1"|null,"state_timestamp_ms":170..|null,
//!                  "members":[{"member_id","group_instance_id"|null,"client_id","client_host",
//!                              "rebalance_timeout_ms","session_timeout_ms",
//!                              "protocols":[{"name","metadata":"<hex>"}],"assignment":"<hex>"}]}
//!                  "type":"consumer", "consumer":{...}   (consumer groups only: see
//!                  group::consumer::record; absent type = classic)
//! offset          {"v":1,"offset":42,"leader_epoch":-1,"metadata":"","commit_timestamp_ms":170..}
//! ```
//! The group metadata also says which kind of group it is: `"type":"classic"|"share"` (absent
//! in records written before there were other kinds: classic). A share group's record has
//! `"type":"share"`, `"protocol_type":"share"`, its group epoch as `generation_id`, no classic
//! members, and its state in the `"share"` object (`group::share::record`).
//! Byte fields are lowercase hex strings. Readers reject a version they do not know.

use std::collections::HashMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::consumer::record::ConsumerGroupRecord;
use super::kind::GroupType;
use super::share::record::ShareGroupRecord;
use super::types::CommittedOffset;

/// Current version of both JSON documents.
pub const RECORD_VERSION: u16 = 1;

/// A store failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GroupStoreError {
    /// The write or read failed; the coordinator answers COORDINATOR_NOT_AVAILABLE and the
    /// client retries.
    #[error("group store: {0}")]
    Failed(String),
    /// Cluster mode: this broker no longer leads the group's offsets partition (at the epoch
    /// it loaded); the coordinator answers NOT_COORDINATOR and the client finds the new one.
    #[error("not the coordinator any more: {0}")]
    NotCoordinator(String),
}

impl GroupStoreError {
    /// What the message says, without the kind.
    pub fn message(&self) -> &str {
        match self {
            GroupStoreError::Failed(m) | GroupStoreError::NotCoordinator(m) => m,
        }
    }
}

/// One member as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberRecord {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    pub protocols: Vec<ProtocolRecord>,
    #[serde(with = "hex_bytes")]
    pub assignment: Vec<u8>,
}

/// One supported protocol as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolRecord {
    pub name: String,
    #[serde(with = "hex_bytes")]
    pub metadata: Vec<u8>,
}

/// The group metadata record (Kafka's GroupMetadataValue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMetadataRecord {
    pub v: u16,
    /// `None` for a simple (offsets-only) group.
    pub protocol_type: Option<String>,
    pub generation_id: i32,
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub state_timestamp_ms: Option<i64>,
    pub members: Vec<MemberRecord>,
    /// The kind of group: `"classic"` (or absent: records written before group types
    /// existed), `"consumer"` or `"share"`.
    #[serde(rename = "type", default)]
    pub group_type: GroupType,
    /// The KIP-848 state of a consumer group (`group::consumer::record`); the classic
    /// fields above are then those of an Empty group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<ConsumerGroupRecord>,
    /// A share group's state (`"type":"share"` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share: Option<ShareGroupRecord>,
}

/// One committed offset as persisted (key: group, topic, partition).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffsetRecord {
    pub v: u16,
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
}

impl From<&CommittedOffset> for OffsetRecord {
    fn from(o: &CommittedOffset) -> Self {
        OffsetRecord {
            v: RECORD_VERSION,
            offset: o.offset,
            leader_epoch: o.leader_epoch,
            metadata: o.metadata.clone(),
            commit_timestamp_ms: o.commit_timestamp_ms,
        }
    }
}

impl From<OffsetRecord> for CommittedOffset {
    fn from(r: OffsetRecord) -> Self {
        CommittedOffset {
            offset: r.offset,
            leader_epoch: r.leader_epoch,
            metadata: r.metadata,
            commit_timestamp_ms: r.commit_timestamp_ms,
        }
    }
}

impl GroupMetadataRecord {
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing plain structs of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, GroupStoreError> {
        let r: Self = serde_json::from_slice(bytes)
            .map_err(|e| GroupStoreError::Failed(format!("bad group metadata record: {e}")))?;
        if r.v != RECORD_VERSION {
            return Err(GroupStoreError::Failed(format!(
                "unknown group metadata version {}",
                r.v
            )));
        }
        Ok(r)
    }
}

impl OffsetRecord {
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    pub fn from_json(bytes: &[u8]) -> Result<Self, GroupStoreError> {
        let r: Self = serde_json::from_slice(bytes)
            .map_err(|e| GroupStoreError::Failed(format!("bad offset record: {e}")))?;
        if r.v != RECORD_VERSION {
            return Err(GroupStoreError::Failed(format!(
                "unknown offset record version {}",
                r.v
            )));
        }
        Ok(r)
    }
}

/// What happens to the group metadata record in one write.
// One per write and short-lived: boxing the record would only add an allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetadataWrite {
    Unchanged,
    Put(GroupMetadataRecord),
    /// Tombstone: the group is deleted (its offsets are listed in `offsets_delete`).
    Delete,
}

/// One atomic write for one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupWrite {
    pub metadata: MetadataWrite,
    /// (topic, partition, offset)
    pub offsets_put: Vec<(String, i32, OffsetRecord)>,
    /// (topic, partition)
    pub offsets_delete: Vec<(String, i32)>,
}

impl GroupWrite {
    pub fn is_empty(&self) -> bool {
        self.metadata == MetadataWrite::Unchanged
            && self.offsets_put.is_empty()
            && self.offsets_delete.is_empty()
    }
}

/// Everything stored for one group, as returned by `load`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistedGroup {
    pub group_id: String,
    /// `None` when only offsets were found (a simple group).
    pub metadata: Option<GroupMetadataRecord>,
    pub offsets: Vec<(String, i32, OffsetRecord)>,
    /// Transactional offsets waiting for their transaction's marker:
    /// (producer id, topic, partition, offset).
    pub pending: Vec<(i64, String, i32, OffsetRecord)>,
}

/// One atomic write of transactional offsets for one group and producer: TxnOffsetCommit
/// stages offsets; the transaction's marker unstages them and, on commit, writes them as
/// committed offsets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingWrite {
    pub producer_id: i64,
    /// (topic, partition, offset) stored as pending.
    pub stage: Vec<(String, i32, OffsetRecord)>,
    /// (topic, partition) pending offsets removed.
    pub unstage: Vec<(String, i32)>,
    /// (topic, partition, offset) written as committed offsets.
    pub commit: Vec<(String, i32, OffsetRecord)>,
}

/// Applies one write to a map of groups, as a store applies it: the metadata record, then
/// the offset deletions, then the offset puts; a group left with neither metadata nor offsets
/// is gone. Shared by the in-memory store and by the replay of the offsets topic.
pub fn apply_write(
    groups: &mut HashMap<String, PersistedGroup>,
    group_id: &str,
    write: &GroupWrite,
) {
    let entry = groups
        .entry(group_id.to_string())
        .or_insert_with(|| PersistedGroup {
            group_id: group_id.to_string(),
            ..Default::default()
        });
    match &write.metadata {
        MetadataWrite::Unchanged => {}
        MetadataWrite::Put(m) => entry.metadata = Some(m.clone()),
        MetadataWrite::Delete => entry.metadata = None,
    }
    for (t, p) in &write.offsets_delete {
        entry.offsets.retain(|(t2, p2, _)| !(t2 == t && p2 == p));
    }
    for (t, p, o) in &write.offsets_put {
        entry.offsets.retain(|(t2, p2, _)| !(t2 == t && p2 == p));
        entry.offsets.push((t.clone(), *p, o.clone()));
    }
    if entry.metadata.is_none() && entry.offsets.is_empty() && entry.pending.is_empty() {
        groups.remove(group_id);
    }
}

/// Applies one [`PendingWrite`] to a map of groups, as a store applies it: unstage, stage,
/// then commit.
pub fn apply_pending(
    groups: &mut HashMap<String, PersistedGroup>,
    group_id: &str,
    write: &PendingWrite,
) {
    let entry = groups
        .entry(group_id.to_string())
        .or_insert_with(|| PersistedGroup {
            group_id: group_id.to_string(),
            ..Default::default()
        });
    let pid = write.producer_id;
    for (t, p) in &write.unstage {
        entry
            .pending
            .retain(|(id, t2, p2, _)| !(*id == pid && t2 == t && p2 == p));
    }
    for (t, p, o) in &write.stage {
        entry
            .pending
            .retain(|(id, t2, p2, _)| !(*id == pid && t2 == t && p2 == p));
        entry.pending.push((pid, t.clone(), *p, o.clone()));
    }
    for (t, p, o) in &write.commit {
        entry.offsets.retain(|(t2, p2, _)| !(t2 == t && p2 == p));
        entry.offsets.push((t.clone(), *p, o.clone()));
    }
    if entry.metadata.is_none() && entry.offsets.is_empty() && entry.pending.is_empty() {
        groups.remove(group_id);
    }
}

/// Durable storage for group metadata and committed offsets. Both methods block.
pub trait GroupStore: Send + Sync + 'static {
    /// Every stored group, at startup.
    fn load(&self) -> Result<Vec<PersistedGroup>, GroupStoreError>;
    /// Applies `write` for `group_id` atomically (all or nothing).
    fn persist(&self, group_id: &str, write: &GroupWrite) -> Result<(), GroupStoreError>;
    /// Applies a write of transactional offsets atomically. Stores that cannot hold them
    /// (the replicated offsets topic, until transactions run in a cluster) refuse.
    fn persist_pending(&self, group_id: &str, write: &PendingWrite) -> Result<(), GroupStoreError> {
        let _ = (group_id, write);
        Err(GroupStoreError::Failed(
            "transactional offsets are not supported by this store".into(),
        ))
    }
}

/// In-memory `GroupStore` for tests. It can be told to fail, to exercise error paths.
#[derive(Default)]
pub struct MemoryGroupStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Default)]
struct MemoryInner {
    groups: HashMap<String, PersistedGroup>,
    fail: bool,
    writes: usize,
}

impl MemoryGroupStore {
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes every following `persist` fail (or succeed again).
    pub fn set_failing(&self, fail: bool) {
        self.lock().fail = fail;
    }

    /// Number of successful `persist` calls.
    pub fn writes(&self) -> usize {
        self.lock().writes
    }

    /// A copy of what is stored for one group.
    pub fn snapshot(&self, group_id: &str) -> Option<PersistedGroup> {
        self.lock().groups.get(group_id).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, MemoryInner> {
        // A panic while holding this test-only lock poisons it; the data is still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl GroupStore for MemoryGroupStore {
    fn load(&self) -> Result<Vec<PersistedGroup>, GroupStoreError> {
        let inner = self.lock();
        let mut groups: Vec<_> = inner.groups.values().cloned().collect();
        groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        Ok(groups)
    }

    fn persist(&self, group_id: &str, write: &GroupWrite) -> Result<(), GroupStoreError> {
        let mut inner = self.lock();
        if inner.fail {
            return Err(GroupStoreError::Failed("injected failure".into()));
        }
        inner.writes += 1;
        apply_write(&mut inner.groups, group_id, write);
        Ok(())
    }

    fn persist_pending(&self, group_id: &str, write: &PendingWrite) -> Result<(), GroupStoreError> {
        let mut inner = self.lock();
        if inner.fail {
            return Err(GroupStoreError::Failed("injected failure".into()));
        }
        inner.writes += 1;
        apply_pending(&mut inner.groups, group_id, write);
        Ok(())
    }
}

/// serde helper: `Vec<u8>` as a lowercase hex string.
mod hex_bytes {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        let mut out = String::with_capacity(bytes.len() * 2);
        for b in bytes {
            out.push(char::from(b"0123456789abcdef"[(b >> 4) as usize]));
            out.push(char::from(b"0123456789abcdef"[(b & 0xf) as usize]));
        }
        s.serialize_str(&out)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        let digit = |c: u8| -> Result<u8, D::Error> {
            match c {
                b'0'..=b'9' => Ok(c - b'0'),
                b'a'..=b'f' => Ok(c - b'a' + 10),
                _ => Err(serde::de::Error::custom("invalid hex digit")),
            }
        };
        let raw = s.as_bytes();
        if raw.len() % 2 != 0 {
            return Err(serde::de::Error::custom("odd hex length"));
        }
        raw.chunks_exact(2)
            .map(|pair| Ok((digit(pair[0])? << 4) | digit(pair[1])?))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> GroupMetadataRecord {
        GroupMetadataRecord {
            v: RECORD_VERSION,
            protocol_type: Some("consumer".into()),
            generation_id: 7,
            protocol_name: Some("range".into()),
            leader: Some("c-1".into()),
            state_timestamp_ms: Some(1_700_000_000_000),
            members: vec![MemberRecord {
                member_id: "c-1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                protocols: vec![ProtocolRecord {
                    name: "range".into(),
                    metadata: vec![0, 1, 0xab],
                }],
                assignment: vec![0xff, 0x00],
            }],
            group_type: Default::default(),
            consumer: None,
            share: None,
        }
    }

    #[test]
    fn metadata_json_round_trip() {
        let r = sample();
        let bytes = r.to_json();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.contains("\"assignment\":\"ff00\""), "{text}");
        assert_eq!(GroupMetadataRecord::from_json(&bytes).unwrap(), r);
    }

    #[test]
    fn rejects_unknown_version_and_bad_hex() {
        let mut r = sample();
        r.v = 99;
        assert!(GroupMetadataRecord::from_json(&r.to_json()).is_err());
        let bad = String::from_utf8(sample().to_json())
            .unwrap()
            .replace("ff00", "fg00");
        assert!(GroupMetadataRecord::from_json(bad.as_bytes()).is_err());
        assert!(OffsetRecord::from_json(b"{}").is_err());
    }

    #[test]
    fn memory_store_applies_writes() {
        let s = MemoryGroupStore::new();
        let o = OffsetRecord {
            v: 1,
            offset: 5,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 1,
        };
        s.persist(
            "g",
            &GroupWrite {
                metadata: MetadataWrite::Put(sample()),
                offsets_put: vec![("t".into(), 0, o.clone())],
                offsets_delete: vec![],
            },
        )
        .unwrap();
        assert_eq!(s.load().unwrap().len(), 1);
        s.persist(
            "g",
            &GroupWrite {
                metadata: MetadataWrite::Delete,
                offsets_put: vec![],
                offsets_delete: vec![("t".into(), 0)],
            },
        )
        .unwrap();
        assert!(s.load().unwrap().is_empty());
        s.set_failing(true);
        assert!(s
            .persist(
                "g",
                &GroupWrite {
                    metadata: MetadataWrite::Delete,
                    offsets_put: vec![],
                    offsets_delete: vec![]
                }
            )
            .is_err());
    }
}
