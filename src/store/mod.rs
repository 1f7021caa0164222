//! The metadata store: one RocksDB database under `<data_dir>/meta`.
//!
//! It owns everything that is not a partition log: the cluster id, the producer id
//! allocator, topic metadata (names, ids, partition counts, leader epochs, configs),
//! consumer group metadata and committed offsets, SCRAM credentials. Each concern is a key space, marked by the
//! key's first byte, in RocksDB's default column family (one column family keeps creating a
//! fresh store to a handful of fsyncs: start-up on an empty directory stays fast):
//!
//! | space     | tag  | key after the tag                      | value                        |
//! |-----------|------|----------------------------------------|------------------------------|
//! | `Meta`    | `m`  | `cluster_id`, `producer_id_block`, `joined_cluster_id` | UTF-8 string / i64 BE |
//! | `Topics`  | `t`  | topic name (UTF-8)                     | [`TopicRecord`] JSON         |
//! | `Groups`  | `g`  | group id (UTF-8)                       | group metadata (see groups)  |
//! | `Offsets` | `o`  | group id, 0x00, topic, 0x00, i32 BE    | committed offset (see groups)|
//! | `Configs` | `c`  | scope byte (`b` broker, `g` group), name | config overrides JSON (see configs) |
//! | `Txns`    | `x`  | transactional id (UTF-8)               | transaction state JSON (see `txn::store`) |
//! | `Pending` | `p`  | group id, 0x00, producer id i64 BE, topic, 0x00, i32 BE | pending transactional offset (see groups) |
//! | `Acls`    | `a`  | the ACL binding (see `security::acl::store`) | format version byte |
//! | `Users`   | `u`  | SCRAM mechanism type (1 byte: 1 SHA-256, 2 SHA-512), user name (UTF-8) | SCRAM credential JSON: salt, StoredKey, ServerKey, iterations (see users) |
//! | `Share`   | `s`  | group id, 0x00, topic id (16 bytes), i32 BE partition | share-partition state (byte table in `share::persist`), written synced |
//!
//! Durability: every write goes through RocksDB's write-ahead log. Topic and cluster
//! metadata writes are synced (`fsync` before returning) because they are rare and losing
//! them would orphan partition directories. Group and offset writes are atomic per request
//! (one `WriteBatch`) and synced when the caller asks (`sync`): group metadata is, offsets
//! are not (a crash of the process loses nothing; a power loss may lose the last commits,
//! like Kafka's page-cache-backed offsets topic).
//! All calls block: async callers use `spawn_blocking` or accept a short stall on rare paths.
//!
//! Corruption is never silent. RocksDB's default WAL recovery (`PointInTime`) stops replay at
//! the first bad record and opens the database anyway, dropping every later write — topics
//! included — without a word. The store opens with `TolerateCorruptedTailRecords` instead:
//! a record torn at the very end of a WAL (the process or machine died mid-append, so that
//! write was never acknowledged as durable) is dropped, and any other damage — a checksum
//! mismatch in the middle, a bad MANIFEST — fails the open with RocksDB's `Corruption` error.
//! `AbsoluteConsistency` would also refuse the torn tail that an ordinary power loss leaves
//! behind (offset commits are not fsynced), turning a routine crash into an outage.
//! `paranoid_checks` (RocksDB's default, set explicitly) makes file-level damage fail the
//! open as well. [`marker`] ties the store to the log directory so a store that is missing
//! or replaced is caught too.

mod configs;
mod groups;
pub mod marker;
mod topics;
mod users;

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Mutex;

use rocksdb::{DBRecoveryMode, Options, WriteBatch, WriteOptions, DB};

use crate::kafka_error::KafkaError;

pub use configs::ConfigScope;
pub use topics::{PartitionRecord, TopicRecord};
pub use users::{CredentialChange, UserCredentials};

/// A key space of the store: every key starts with its tag byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Meta,
    Topics,
    Groups,
    Offsets,
    Configs,
    Txns,
    Pending,
    Acls,
    Users,
    Share,
}

impl Space {
    fn tag(self) -> u8 {
        match self {
            Space::Meta => b'm',
            Space::Topics => b't',
            Space::Groups => b'g',
            Space::Offsets => b'o',
            Space::Configs => b'c',
            Space::Txns => b'x',
            Space::Pending => b'p',
            Space::Acls => b'a',
            Space::Users => b'u',
            Space::Share => b's',
        }
    }

    /// The stored key: tag byte, then the key.
    fn key(self, key: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(key.len() + 1);
        k.push(self.tag());
        k.extend_from_slice(key);
        k
    }
}

const CF_META: Space = Space::Meta;
const CF_TOPICS: Space = Space::Topics;
/// Key space of consumer group metadata.
pub const CF_GROUPS: Space = Space::Groups;
/// Key space of committed offsets.
pub const CF_OFFSETS: Space = Space::Offsets;

const KEY_CLUSTER_ID: &[u8] = b"cluster_id";
const KEY_PRODUCER_ID_BLOCK: &[u8] = b"producer_id_block";
const KEY_JOINED_CLUSTER: &[u8] = b"joined_cluster_id";
/// Producer ids are reserved from the store in blocks, so InitProducerId writes once per
/// this many producers (Kafka's controller hands out blocks of 1000 the same way).
const PRODUCER_ID_BLOCK: i64 = 1000;

/// Store failures. Every one maps to a Kafka error code for the request that hit it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("metadata store error: {0}")]
    Db(#[from] rocksdb::Error),
    #[error("corrupt metadata record {key}: {message}")]
    Corrupt { key: String, message: String },
    #[error("data directory marker {path}: {message}")]
    Marker { path: String, message: String },
}

impl StoreError {
    /// KAFKA_STORAGE_ERROR for I/O, UNKNOWN_SERVER_ERROR for corruption.
    pub fn kafka_code(&self) -> i16 {
        match self {
            StoreError::Db(_) => KafkaError::KafkaStorageError,
            StoreError::Corrupt { .. } | StoreError::Marker { .. } => {
                KafkaError::UnknownServerError
            }
        }
        .code()
    }
}

/// A raw key and value from a scan.
pub type KeyValue = (Vec<u8>, Vec<u8>);

/// One write of a batch: put or delete a key in a column family.
pub enum StoreOp {
    Put {
        cf: Space,
        key: Vec<u8>,
        value: Vec<u8>,
    },
    Delete {
        cf: Space,
        key: Vec<u8>,
    },
}

/// The RocksDB-backed metadata store. Shared as `Arc<Store>`; RocksDB is internally
/// synchronised, so methods take `&self`.
pub struct Store {
    db: DB,
    /// Next unused producer id and the end of the reserved block; a sync mutex because it is
    /// held only for arithmetic and, once per block, one RocksDB write (never across `.await`).
    producer_ids: Mutex<(i64, i64)>,
    writes: AtomicI64,
}

impl Store {
    /// Opens or creates the store in `dir`.
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(dir, true)
    }

    /// Opens the store in `dir`, which must already hold one: a missing store is an error
    /// instead of a silently created empty one.
    pub fn open_existing(dir: &Path) -> Result<Store, StoreError> {
        Self::open_with(dir, false)
    }

    /// Whether `dir` holds a store (RocksDB's `CURRENT` file names the live MANIFEST; without
    /// it there is no database to open).
    pub fn exists(dir: &Path) -> bool {
        dir.join("CURRENT").is_file()
    }

    fn open_with(dir: &Path, create: bool) -> Result<Store, StoreError> {
        let mut opts = Options::default();
        opts.create_if_missing(create);
        opts.create_missing_column_families(true);
        // See the module header: refuse corruption instead of replaying up to it.
        opts.set_wal_recovery_mode(DBRecoveryMode::TolerateCorruptedTailRecords);
        opts.set_paranoid_checks(true);
        // Metadata is small: keep RocksDB's own memory and file footprint modest.
        opts.set_max_open_files(256);
        opts.set_keep_log_file_num(2);
        opts.set_write_buffer_size(4 << 20);
        opts.set_log_level(rocksdb::LogLevel::Warn);
        let db = DB::open(&opts, dir)?;
        let block_end = match db.get(CF_META.key(KEY_PRODUCER_ID_BLOCK))? {
            Some(v) => decode_i64(KEY_PRODUCER_ID_BLOCK, &v)?,
            None => 0,
        };
        Ok(Store {
            db,
            // Ids below the persisted block end may have been handed out: start after it.
            producer_ids: Mutex::new((block_end, block_end)),
            writes: AtomicI64::new(0),
        })
    }

    /// The cluster id, created (22-character base64 of a random UUID, like Kafka) on first use.
    pub fn cluster_id(&self) -> Result<String, StoreError> {
        if let Some(id) = self.stored_cluster_id()? {
            return Ok(id);
        }
        let id = kafka_uuid_string(uuid::Uuid::new_v4());
        self.db
            .put_opt(CF_META.key(KEY_CLUSTER_ID), id.as_bytes(), &synced())?;
        Ok(id)
    }

    /// The cluster id if one was ever written; `None` on a new (or emptied) store.
    pub fn stored_cluster_id(&self) -> Result<Option<String>, StoreError> {
        match self.db.get(CF_META.key(KEY_CLUSTER_ID))? {
            None => Ok(None),
            Some(v) => String::from_utf8(v)
                .map(Some)
                .map_err(|e| StoreError::Corrupt {
                    key: "cluster_id".into(),
                    message: e.to_string(),
                }),
        }
    }

    /// Cluster mode: the id of the cluster whose image this store holds, once it joined one.
    /// A data directory never changes clusters (Kafka's INCONSISTENT_CLUSTER_ID).
    pub fn joined_cluster_id(&self) -> Result<Option<String>, StoreError> {
        Ok(self
            .db
            .get(CF_META.key(KEY_JOINED_CLUSTER))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Records the cluster this store belongs to (synced).
    pub fn set_joined_cluster_id(&self, id: &str) -> Result<(), StoreError> {
        self.db
            .put_opt(CF_META.key(KEY_JOINED_CLUSTER), id.as_bytes(), &synced())?;
        Ok(())
    }

    /// A producer id never handed out before, across restarts.
    pub fn allocate_producer_id(&self) -> Result<i64, StoreError> {
        let mut ids = self
            .producer_ids
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if ids.0 >= ids.1 {
            let new_end = ids.1 + PRODUCER_ID_BLOCK;
            self.db.put_opt(
                CF_META.key(KEY_PRODUCER_ID_BLOCK),
                new_end.to_be_bytes(),
                &synced(),
            )?;
            ids.1 = new_end;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Applies a batch of puts and deletes atomically; `sync` waits for the WAL fsync.
    pub fn write(&self, ops: Vec<StoreOp>, sync: bool) -> Result<(), StoreError> {
        let mut batch = WriteBatch::default();
        for op in ops {
            match op {
                StoreOp::Put { cf, key, value } => batch.put(cf.key(&key), value),
                StoreOp::Delete { cf, key } => batch.delete(cf.key(&key)),
            }
        }
        let mut wo = WriteOptions::default();
        wo.set_sync(sync);
        self.db.write_opt(batch, &wo)?;
        self.writes.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Every (key, value) of a key space whose key starts with `prefix`, in key order
    /// (keys returned without the space's tag).
    pub fn scan_prefix(&self, space: Space, prefix: &[u8]) -> Result<Vec<KeyValue>, StoreError> {
        let start = space.key(prefix);
        let mut out = Vec::new();
        let iter = self.db.iterator(rocksdb::IteratorMode::From(
            &start,
            rocksdb::Direction::Forward,
        ));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(&start) {
                break;
            }
            out.push((k[1..].to_vec(), v.to_vec()));
        }
        Ok(out)
    }

    /// One value by key.
    pub fn get(&self, space: Space, key: &[u8]) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(self.db.get(space.key(key))?)
    }

    /// Approximate bytes of live SST and memtable data, for the store-size metric.
    pub fn size_bytes(&self) -> u64 {
        let prop = |name: &str| self.db.property_int_value(name).ok().flatten().unwrap_or(0);
        prop("rocksdb.total-sst-files-size") + prop("rocksdb.cur-size-all-mem-tables")
    }

    /// Flushes memtables so a restart replays no WAL (called on clean shutdown).
    pub fn flush(&self) -> Result<(), StoreError> {
        self.db.flush()?;
        Ok(())
    }
}

fn synced() -> WriteOptions {
    let mut wo = WriteOptions::default();
    wo.set_sync(true);
    wo
}

fn decode_i64(key: &[u8], v: &[u8]) -> Result<i64, StoreError> {
    let arr: [u8; 8] = v.try_into().map_err(|_| StoreError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        message: format!("expected 8 bytes, found {}", v.len()),
    })?;
    Ok(i64::from_be_bytes(arr))
}

/// Kafka prints UUIDs (cluster ids, topic ids) as URL-safe base64 without padding.
pub fn kafka_uuid_string(id: uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        acc = (acc << 8) | u32::from(b);
        bits += 8;
        while bits >= 6 {
            bits -= 6;
            out.push(ALPHABET[((acc >> bits) & 0x3f) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((acc << (6 - bits)) & 0x3f) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_id_and_producer_ids_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (cid, last) = {
            let s = Store::open(dir.path()).unwrap();
            let cid = s.cluster_id().unwrap();
            assert_eq!(cid.len(), 22);
            assert_eq!(s.cluster_id().unwrap(), cid);
            let a = s.allocate_producer_id().unwrap();
            let b = s.allocate_producer_id().unwrap();
            assert_eq!(b, a + 1);
            (cid, b)
        };
        let s = Store::open(dir.path()).unwrap();
        assert_eq!(s.cluster_id().unwrap(), cid);
        assert!(s.allocate_producer_id().unwrap() > last);
    }

    #[test]
    fn batches_and_prefix_scans() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        s.write(
            vec![
                StoreOp::Put {
                    cf: CF_OFFSETS,
                    key: b"g1\0a".to_vec(),
                    value: b"1".to_vec(),
                },
                StoreOp::Put {
                    cf: CF_OFFSETS,
                    key: b"g1\0b".to_vec(),
                    value: b"2".to_vec(),
                },
                StoreOp::Put {
                    cf: CF_OFFSETS,
                    key: b"g2\0a".to_vec(),
                    value: b"3".to_vec(),
                },
            ],
            true,
        )
        .unwrap();
        let g1 = s.scan_prefix(CF_OFFSETS, b"g1\0").unwrap();
        assert_eq!(g1.len(), 2);
        s.write(
            vec![StoreOp::Delete {
                cf: CF_OFFSETS,
                key: b"g1\0a".to_vec(),
            }],
            false,
        )
        .unwrap();
        assert_eq!(s.scan_prefix(CF_OFFSETS, b"g1\0").unwrap().len(), 1);
        assert_eq!(s.get(CF_OFFSETS, b"g2\0a").unwrap(), Some(b"3".to_vec()));
    }

    #[test]
    fn uuid_strings_match_kafka_encoding() {
        let id = uuid::Uuid::from_u128(0);
        assert_eq!(kafka_uuid_string(id), "AAAAAAAAAAAAAAAAAAAAAA");
        let id = uuid::Uuid::from_u128(u128::MAX);
        assert_eq!(kafka_uuid_string(id), "_____________________w");
    }
}
