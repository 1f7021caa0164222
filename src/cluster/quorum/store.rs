//! The controller's durable state in its own RocksDB instance (`<data_dir>/controller`,
//! apart from the broker's store so that their fsyncs never queue behind each other): the
//! Raft log, the vote, and the latest state-machine snapshot.
//!
//! | Key                 | Value                                              |
//! |---------------------|----------------------------------------------------|
//! | `l` + u64 BE index  | JSON `Entry` (one Raft log entry)                  |
//! | `m/vote`            | JSON `Vote` — synced before `save_vote` returns     |
//! | `m/committed`       | JSON `LogId` — the last committed entry known       |
//! | `m/purged`          | JSON `LogId` — entries up to it are deleted         |
//! | `s/snapshot`        | JSON (`SnapshotMeta`, image bytes)                  |
//!
//! Durability: log appends are written, then the WAL is synced before openraft is told they
//! are flushed; the vote is synced before `save_vote` returns. A storage error is fatal for
//! the quorum (openraft stops the node) rather than ever answering from a half-written log.
//!
//! The state machine is the in-memory [`Image`]; it is made durable by snapshots. After a
//! restart it starts from the last snapshot and openraft re-applies the committed entries
//! after it, which yields the same image (execution is deterministic).

// openraft's traits fix the error type (`StorageError`, over 200 bytes); the helpers here
// return the same type so that `?` needs no conversion.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::io::Cursor;
use std::ops::RangeBounds;
use std::path::Path;
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage, RaftStateMachine, Snapshot};
use openraft::{
    BasicNode, Entry, EntryPayload, LogId, OptionalSend, RaftLogReader, RaftSnapshotBuilder,
    SnapshotMeta, StorageError, StorageIOError, StoredMembership, Vote,
};
use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use tokio::sync::watch;

use super::TypeConfig;
use crate::cluster::image::{Image, Reply};

type SErr = StorageError<u64>;

const KEY_VOTE: &[u8] = b"m/vote";
const KEY_COMMITTED: &[u8] = b"m/committed";
const KEY_PURGED: &[u8] = b"m/purged";
const KEY_SNAPSHOT: &[u8] = b"s/snapshot";

fn log_key(index: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = b'l';
    k[1..].copy_from_slice(&index.to_be_bytes());
    k
}

fn synced() -> WriteOptions {
    let mut w = WriteOptions::default();
    w.set_sync(true);
    w
}

/// Opens (creating) the controller's RocksDB instance.
pub fn open_db(dir: &Path) -> Result<Arc<DB>, rocksdb::Error> {
    let mut opts = Options::default();
    opts.create_if_missing(true);
    opts.set_paranoid_checks(true);
    opts.set_max_open_files(64);
    opts.set_keep_log_file_num(2);
    opts.set_write_buffer_size(1 << 20);
    opts.set_log_level(rocksdb::LogLevel::Warn);
    DB::open(&opts, dir).map(Arc::new)
}

fn get_json<T: serde::de::DeserializeOwned>(db: &DB, key: &[u8]) -> Result<Option<T>, SErr> {
    match db.get(key).map_err(|e| StorageIOError::read(&e))? {
        None => Ok(None),
        Some(v) => serde_json::from_slice(&v)
            .map(Some)
            .map_err(|e| StorageIOError::read(&e).into()),
    }
}

fn put_json<T: serde::Serialize>(db: &DB, key: &[u8], v: &T, sync: bool) -> Result<(), SErr> {
    let bytes = serde_json::to_vec(v).map_err(|e| StorageIOError::write(&e))?;
    let opts = if sync {
        synced()
    } else {
        WriteOptions::default()
    };
    db.put_opt(key, bytes, &opts)
        .map_err(|e| StorageIOError::write(&e).into())
}

/// The Raft log and vote.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
}

impl LogStore {
    pub fn new(db: Arc<DB>) -> LogStore {
        LogStore { db }
    }

    fn last_entry_id(&self) -> Result<Option<LogId<u64>>, SErr> {
        let mut it = self
            .db
            .iterator(IteratorMode::From(&log_key(u64::MAX), Direction::Reverse));
        match it.next() {
            Some(Ok((k, v))) if k.first() == Some(&b'l') => {
                let e: Entry<TypeConfig> =
                    serde_json::from_slice(&v).map_err(|e| StorageIOError::read_logs(&e))?;
                Ok(Some(e.log_id))
            }
            Some(Err(e)) => Err(StorageIOError::read_logs(&e).into()),
            _ => Ok(None),
        }
    }

    fn delete_from(&self, from: u64, to_exclusive: u64) -> Result<(), SErr> {
        let mut b = WriteBatch::default();
        b.delete_range(log_key(from), log_key(to_exclusive));
        self.db
            .write_opt(b, &synced())
            .map_err(|e| StorageIOError::write_logs(&e).into())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, SErr> {
        use std::ops::Bound;
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s + 1,
            Bound::Unbounded => 0,
        };
        let mut out = Vec::new();
        for item in self
            .db
            .iterator(IteratorMode::From(&log_key(start), Direction::Forward))
        {
            let (k, v) = item.map_err(|e| StorageIOError::read_logs(&e))?;
            if k.len() != 9 || k[0] != b'l' {
                break;
            }
            let index = u64::from_be_bytes(k[1..].try_into().expect("9-byte key"));
            if !range.contains(&index) {
                break;
            }
            out.push(serde_json::from_slice(&v).map_err(|e| StorageIOError::read_logs(&e))?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, SErr> {
        let purged: Option<LogId<u64>> = get_json(&self.db, KEY_PURGED)?;
        let last = self.last_entry_id()?.or(purged);
        Ok(LogState {
            last_purged_log_id: purged,
            last_log_id: last,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), SErr> {
        put_json(&self.db, KEY_VOTE, vote, true)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, SErr> {
        get_json(&self.db, KEY_VOTE)
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), SErr> {
        put_json(&self.db, KEY_COMMITTED, &committed, false)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, SErr> {
        Ok(get_json::<Option<LogId<u64>>>(&self.db, KEY_COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut b = WriteBatch::default();
        for e in entries {
            let bytes = serde_json::to_vec(&e).map_err(|err| StorageIOError::write_logs(&err))?;
            b.put(log_key(e.log_id.index), bytes);
        }
        // Synced before openraft counts the entries as persisted (votes and acks rely on it).
        let res = self.db.write_opt(b, &synced());
        match res {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                callback.log_io_completed(Err(std::io::Error::other(e.to_string())));
                Err(StorageIOError::write_logs(&e).into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        self.delete_from(log_id.index, u64::MAX)
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), SErr> {
        put_json(&self.db, KEY_PURGED, &log_id, true)?;
        self.delete_from(0, log_id.index + 1)
    }
}

/// A snapshot as stored: its meta and the image bytes.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta<u64, BasicNode>,
    data: Vec<u8>,
}

/// The metadata state machine: the image, published to the controller service on each apply.
pub struct StateMachine {
    db: Arc<DB>,
    image: Image,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, BasicNode>,
    published: watch::Sender<Arc<Image>>,
}

impl StateMachine {
    /// Starts from the stored snapshot, if any.
    pub fn open(db: Arc<DB>) -> Result<(StateMachine, watch::Receiver<Arc<Image>>), SErr> {
        let mut sm = StateMachine {
            db,
            image: Image::default(),
            last_applied: None,
            membership: StoredMembership::default(),
            published: watch::channel(Arc::new(Image::default())).0,
        };
        if let Some(s) = get_json::<StoredSnapshot>(&sm.db, KEY_SNAPSHOT)? {
            sm.load(&s.meta, &s.data)?;
        }
        let rx = sm.published.subscribe();
        sm.published.send_replace(Arc::new(sm.image.clone()));
        Ok((sm, rx))
    }

    fn load(&mut self, meta: &SnapshotMeta<u64, BasicNode>, data: &[u8]) -> Result<(), SErr> {
        self.image = serde_json::from_slice(data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        Ok(())
    }

    fn snapshot_now(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        let data = serde_json::to_vec(&self.image).map_err(|e| StorageIOError::write(&e))?;
        let meta = SnapshotMeta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: snapshot_id(self.last_applied.map_or(0, |l| l.index)),
        };
        put_json(
            &self.db,
            KEY_SNAPSHOT,
            &StoredSnapshot {
                meta: meta.clone(),
                data: data.clone(),
            },
            true,
        )?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

/// A snapshot id unique across snapshots and restarts (openraft requires it): the index,
/// the wall clock and a per-process sequence.
fn snapshot_id(index: u64) -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("{index}-{}-{seq}", crate::broker::now_ms())
}

/// Builds snapshots from a copy of the image taken when openraft asks for a builder.
pub struct SnapshotBuilder {
    copy: StateMachine,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, SErr> {
        self.copy.snapshot_now()
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<LogId<u64>>, StoredMembership<u64, BasicNode>), SErr> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Reply>, SErr>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        for e in entries {
            self.last_applied = Some(e.log_id);
            replies.push(match e.payload {
                EntryPayload::Blank => Reply::Done,
                EntryPayload::Membership(m) => {
                    self.membership = StoredMembership::new(Some(e.log_id), m);
                    Reply::Done
                }
                EntryPayload::Normal(cmd) => self.image.execute(&cmd, e.log_id.index),
            });
        }
        self.published.send_replace(Arc::new(self.image.clone()));
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            copy: StateMachine {
                db: self.db.clone(),
                image: self.image.clone(),
                last_applied: self.last_applied,
                membership: self.membership.clone(),
                published: watch::channel(Arc::new(Image::default())).0,
            },
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, SErr> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), SErr> {
        let data = snapshot.into_inner();
        self.load(meta, &data)?;
        put_json(
            &self.db,
            KEY_SNAPSHOT,
            &StoredSnapshot {
                meta: meta.clone(),
                data,
            },
            true,
        )?;
        self.published.send_replace(Arc::new(self.image.clone()));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, SErr> {
        Ok(
            get_json::<StoredSnapshot>(&self.db, KEY_SNAPSHOT)?.map(|s| Snapshot {
                meta: s.meta,
                snapshot: Box::new(Cursor::new(s.data)),
            }),
        )
    }
}

#[cfg(test)]
mod tests;
