//! Durable share-partition state: one record per (group, topic id, partition) in the store's
//! `Share` key space, replaced whole on every change that must survive (acknowledgements,
//! releases, lock expiries, start-offset moves) and written synced before the change is
//! reported. Acquisitions are never written.
//!
//! Key (after the space tag `s`): group id (UTF-8), 0x00, topic id (16 bytes), partition
//! (i32 BE). Value, fixed-width big-endian:
//!
//! | offset | size | field                                               |
//! |--------|------|-----------------------------------------------------|
//! | 0      | 2    | magic `0x5350` ("SP")                               |
//! | 2      | 1    | format version = 1                                  |
//! | 3      | 4    | state epoch (i32)                                   |
//! | 7      | 8    | start offset, SPSO (i64)                            |
//! | 15     | 4    | range count N (u32)                                 |
//! | 19     | 19·N | ranges: first (i64), last (i64), state (u8: 0 available, 2 acknowledged, 4 archived), delivery count (i16) |
//! | 19+19N | 4    | CRC-32C of bytes 0..19+19N (u32)                    |
//!
//! A record is small: ranges are coalesced and cover at most `share.partition.max.record.locks`
//! offsets. A value that fails any check is reported as corrupt, never guessed at.

use uuid::Uuid;

use super::partition::{RecordState, Snapshot, StateRange};
use crate::store::{Space, Store, StoreError, StoreOp};

const MAGIC: u16 = 0x5350;
const VERSION: u8 = 1;
const HEADER: usize = 19;
const RANGE: usize = 19;
const CRC: usize = 4;

/// The key of one share-partition's record (without the space tag).
pub fn key(group: &str, topic_id: Uuid, partition: i32) -> Vec<u8> {
    let mut k = Vec::with_capacity(group.len() + 21);
    k.extend_from_slice(group.as_bytes());
    k.push(0);
    k.extend_from_slice(topic_id.as_bytes());
    k.extend_from_slice(&partition.to_be_bytes());
    k
}

/// Splits a stored key back into (group, topic id, partition).
pub fn parse_key(k: &[u8]) -> Option<(String, Uuid, i32)> {
    let zero = k.iter().position(|&b| b == 0)?;
    let group = std::str::from_utf8(&k[..zero]).ok()?.to_string();
    let rest = &k[zero + 1..];
    if rest.len() != 20 {
        return None;
    }
    let id = Uuid::from_slice(&rest[..16]).ok()?;
    let p = i32::from_be_bytes(rest[16..20].try_into().ok()?);
    Some((group, id, p))
}

/// Encodes a snapshot (byte table above).
pub fn encode(s: &Snapshot) -> Vec<u8> {
    let mut b = Vec::with_capacity(HEADER + RANGE * s.ranges.len() + CRC);
    b.extend_from_slice(&MAGIC.to_be_bytes());
    b.push(VERSION);
    b.extend_from_slice(&s.state_epoch.to_be_bytes());
    b.extend_from_slice(&s.start_offset.to_be_bytes());
    b.extend_from_slice(&(s.ranges.len() as u32).to_be_bytes());
    for r in &s.ranges {
        b.extend_from_slice(&r.first.to_be_bytes());
        b.extend_from_slice(&r.last.to_be_bytes());
        b.push(r.state as u8);
        b.extend_from_slice(&r.delivery_count.to_be_bytes());
    }
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    b
}

/// Decodes a snapshot; every malformed value is an error naming what is wrong.
pub fn decode(b: &[u8]) -> Result<Snapshot, String> {
    if b.len() < HEADER + CRC {
        return Err(format!(
            "{} bytes is shorter than a share state record",
            b.len()
        ));
    }
    let body = &b[..b.len() - CRC];
    let stored = u32::from_be_bytes(b[b.len() - CRC..].try_into().map_err(|_| "crc")?);
    if crc32c::crc32c(body) != stored {
        return Err("checksum mismatch".into());
    }
    let i16_at = |at: usize| i16::from_be_bytes([body[at], body[at + 1]]);
    let i32_at =
        |at: usize| i32::from_be_bytes([body[at], body[at + 1], body[at + 2], body[at + 3]]);
    let i64_at = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&body[at..at + 8]);
        i64::from_be_bytes(a)
    };
    if u16::from_be_bytes([body[0], body[1]]) != MAGIC {
        return Err("bad magic".into());
    }
    if body[2] != VERSION {
        return Err(format!("unknown format version {}", body[2]));
    }
    let n = i32_at(15) as u32 as usize;
    if body.len() != HEADER + n * RANGE {
        return Err(format!("{n} ranges do not fit {} bytes", body.len()));
    }
    let mut ranges = Vec::with_capacity(n);
    for i in 0..n {
        let at = HEADER + i * RANGE;
        let state = RecordState::from_persisted(body[at + 16])
            .ok_or_else(|| format!("unknown record state {}", body[at + 16]))?;
        ranges.push(StateRange {
            first: i64_at(at),
            last: i64_at(at + 8),
            state,
            delivery_count: i16_at(at + 17),
        });
    }
    Ok(Snapshot {
        state_epoch: i32_at(3),
        start_offset: i64_at(7),
        ranges,
    })
}

/// Reads one share-partition's durable state.
pub fn load(
    store: &Store,
    group: &str,
    topic_id: Uuid,
    partition: i32,
) -> Result<Option<Snapshot>, StoreError> {
    let k = key(group, topic_id, partition);
    match store.get(Space::Share, &k)? {
        None => Ok(None),
        Some(v) => decode(&v).map(Some).map_err(|message| StoreError::Corrupt {
            key: format!("share state {group}/{topic_id}/{partition}"),
            message,
        }),
    }
}

/// Writes (synced) one share-partition's state.
pub fn save(
    store: &Store,
    group: &str,
    topic_id: Uuid,
    partition: i32,
    s: &Snapshot,
) -> Result<(), StoreError> {
    store.write(
        vec![StoreOp::Put {
            cf: Space::Share,
            key: key(group, topic_id, partition),
            value: encode(s),
        }],
        true,
    )
}

/// Every stored share-partition of a group: (topic id, partition, state).
pub fn load_group(store: &Store, group: &str) -> Result<Vec<(Uuid, i32, Snapshot)>, StoreError> {
    let mut prefix = group.as_bytes().to_vec();
    prefix.push(0);
    let mut out = Vec::new();
    for (k, v) in store.scan_prefix(Space::Share, &prefix)? {
        let Some((_, id, p)) = parse_key(&k) else {
            continue;
        };
        let s = decode(&v).map_err(|message| StoreError::Corrupt {
            key: format!("share state {group}/{id}/{p}"),
            message,
        })?;
        out.push((id, p, s));
    }
    Ok(out)
}

/// Deletes every share group's share-partition records of topic `topic_id` (synced): the
/// topic was deleted.
pub fn delete_topic(store: &Store, topic_id: Uuid) -> Result<(), StoreError> {
    let keys = store
        .scan_prefix(Space::Share, &[])?
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| parse_key(k).is_some_and(|(_, id, _)| id == topic_id))
        .collect();
    delete(store, keys)
}

/// Deletes share-partition records (synced).
pub fn delete(store: &Store, keys: Vec<Vec<u8>>) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    store.write(
        keys.into_iter()
            .map(|key| StoreOp::Delete {
                cf: Space::Share,
                key,
            })
            .collect(),
        true,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snap() -> Snapshot {
        Snapshot {
            state_epoch: 3,
            start_offset: 42,
            ranges: vec![
                StateRange {
                    first: 42,
                    last: 50,
                    state: RecordState::Available,
                    delivery_count: 2,
                },
                StateRange {
                    first: 51,
                    last: 51,
                    state: RecordState::Archived,
                    delivery_count: 5,
                },
            ],
        }
    }

    #[test]
    fn round_trip_and_damage_is_refused() {
        let b = encode(&snap());
        assert_eq!(b.len(), HEADER + 2 * RANGE + CRC);
        assert_eq!(decode(&b).unwrap(), snap());
        for cut in [0, 5, b.len() - 1] {
            assert!(decode(&b[..cut]).is_err());
        }
        let mut flipped = b.clone();
        flipped[20] ^= 1;
        assert!(decode(&flipped).unwrap_err().contains("checksum"));
    }

    #[test]
    fn keys_round_trip_and_stored_state_survives_reopen() {
        let id = Uuid::from_u128(7);
        let k = key("g", id, 3);
        assert_eq!(parse_key(&k), Some(("g".to_string(), id, 3)));
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        save(&store, "g", id, 3, &snap()).unwrap();
        save(&store, "g2", id, 3, &snap()).unwrap();
        drop(store);
        let store = Store::open(dir.path()).unwrap();
        assert_eq!(load(&store, "g", id, 3).unwrap(), Some(snap()));
        assert_eq!(load_group(&store, "g").unwrap().len(), 1);
        delete(&store, vec![k]).unwrap();
        assert_eq!(load(&store, "g", id, 3).unwrap(), None);
    }
}
