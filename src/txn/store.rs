//! The durable record of each transactional id, and the [`TxnStore`] boundary the coordinator
//! persists through.
//!
//! On a single broker the records live in the metadata store's `Txns` key space (tag `x`, key
//! = the transactional id), one JSON document per id, written with an fsync before the
//! coordinator answers (Kafka appends a `TransactionLogValue` to `__transaction_state` with
//! acks=all for the same reason):
//!
//! ```text
//! {"v":1,"transactional_id":"t","producer_id":7,"previous_producer_id":-1,
//!  "producer_epoch":3,"last_producer_epoch":-1,"timeout_ms":60000,"state":"Ongoing",
//!  "participants":[{"Partition":{"topic":"a","partition":0}},{"Group":{"group_id":"g"}}],
//!  "start_ms":170..,"update_ms":170..}
//! ```
//! Readers reject a version they do not know (the broker refuses to start rather than forget
//! a prepared transaction). An in-memory implementation serves tests.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::state::TxnMetadata;
use super::COORDINATOR_EPOCH;
use crate::kafka_error::KafkaError;
use crate::store::{Space, Store, StoreOp};

/// Version of the JSON document.
pub const RECORD_VERSION: u16 = 1;

/// Where the coordinator's state is persisted. Calls block.
pub trait TxnStore: Send + Sync {
    /// Every transactional id's state.
    fn load(&self) -> Result<Vec<TxnMetadata>, String>;
    /// Replaces one id's state, durably (synced) before returning.
    fn put(&self, meta: &TxnMetadata) -> Result<(), String>;
    /// Forgets one id (an expired one), durably before returning.
    fn delete(&self, transactional_id: &str) -> Result<(), String>;
    /// Whether this broker coordinates `transactional_id` now: the coordinator epoch its
    /// markers carry, or NOT_COORDINATOR (another broker leads the id's partition of
    /// `__transaction_state`) / COORDINATOR_LOAD_IN_PROGRESS (this broker leads it but has
    /// not loaded it yet). A single broker coordinates every id at [`COORDINATOR_EPOCH`].
    fn coordinator_epoch(&self, transactional_id: &str) -> Result<i32, KafkaError>;
}

#[derive(Serialize, Deserialize)]
struct Record {
    v: u16,
    #[serde(flatten)]
    meta: TxnMetadata,
}

/// Encodes one state as the stored document.
pub fn encode(meta: &TxnMetadata) -> Vec<u8> {
    let rec = Record {
        v: RECORD_VERSION,
        meta: meta.clone(),
    };
    serde_json::to_vec(&rec).unwrap_or_default()
}

/// Decodes a stored document.
pub fn decode(bytes: &[u8]) -> Result<TxnMetadata, String> {
    let rec: Record = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if rec.v != RECORD_VERSION {
        return Err(format!("unknown transaction record version {}", rec.v));
    }
    Ok(rec.meta)
}

impl TxnStore for Store {
    fn load(&self) -> Result<Vec<TxnMetadata>, String> {
        self.scan_prefix(Space::Txns, b"")
            .map_err(|e| e.to_string())?
            .into_iter()
            .map(|(k, v)| {
                decode(&v)
                    .map_err(|e| format!("transaction record {}: {e}", String::from_utf8_lossy(&k)))
            })
            .collect()
    }

    fn put(&self, meta: &TxnMetadata) -> Result<(), String> {
        let op = StoreOp::Put {
            cf: Space::Txns,
            key: meta.transactional_id.as_bytes().to_vec(),
            value: encode(meta),
        };
        self.write(vec![op], true).map_err(|e| e.to_string())
    }

    fn delete(&self, transactional_id: &str) -> Result<(), String> {
        let op = StoreOp::Delete {
            cf: Space::Txns,
            key: transactional_id.as_bytes().to_vec(),
        };
        self.write(vec![op], true).map_err(|e| e.to_string())
    }

    fn coordinator_epoch(&self, _transactional_id: &str) -> Result<i32, KafkaError> {
        Ok(COORDINATOR_EPOCH)
    }
}

/// An in-memory [`TxnStore`] for tests; `fail` makes every put fail; `not_owner` is what
/// [`TxnStore::coordinator_epoch`] answers instead of `epoch` (cluster-mode ownership).
#[derive(Default)]
pub struct MemoryTxnStore {
    pub records: Mutex<BTreeMap<String, Vec<u8>>>,
    pub fail: std::sync::atomic::AtomicBool,
    pub not_owner: Mutex<Option<KafkaError>>,
    pub epoch: std::sync::atomic::AtomicI32,
}

impl TxnStore for MemoryTxnStore {
    fn load(&self) -> Result<Vec<TxnMetadata>, String> {
        let r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        r.values().map(|v| decode(v)).collect()
    }

    fn put(&self, meta: &TxnMetadata) -> Result<(), String> {
        if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("injected store failure".into());
        }
        let mut r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        r.insert(meta.transactional_id.clone(), encode(meta));
        Ok(())
    }

    fn delete(&self, transactional_id: &str) -> Result<(), String> {
        if self.fail.load(std::sync::atomic::Ordering::Relaxed) {
            return Err("injected store failure".into());
        }
        let mut r = self.records.lock().unwrap_or_else(|p| p.into_inner());
        r.remove(transactional_id);
        Ok(())
    }

    fn coordinator_epoch(&self, _transactional_id: &str) -> Result<i32, KafkaError> {
        match *self.not_owner.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(e) => Err(e),
            None => Ok(self.epoch.load(std::sync::atomic::Ordering::Relaxed)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::txn::state::{Participant, TxnState};

    #[test]
    fn records_round_trip_through_the_metadata_store() {
        let dir = tempfile::tempdir().unwrap();
        let mut m = TxnMetadata::new("tx-1", 42, 60_000, 5);
        m.state = TxnState::PrepareCommit;
        m.participants.insert(Participant::Partition {
            topic: "a".into(),
            partition: 3,
        });
        m.participants.insert(Participant::Group {
            group_id: "g".into(),
        });
        {
            let store = Store::open(dir.path()).unwrap();
            store.put(&m).unwrap();
            store.put(&TxnMetadata::new("tx-2", 43, 1_000, 6)).unwrap();
        }
        let store = Store::open(dir.path()).unwrap();
        let loaded = TxnStore::load(&store).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded[0], m);
    }

    #[test]
    fn an_unknown_record_version_is_refused() {
        let mut doc: serde_json::Value =
            serde_json::from_slice(&encode(&TxnMetadata::new("t", 1, 1, 1))).unwrap();
        doc["v"] = serde_json::json!(2);
        let bytes = serde_json::to_vec(&doc).unwrap();
        assert!(decode(&bytes).unwrap_err().contains("version 2"));
    }
}
