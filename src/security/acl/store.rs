//! ACLs in the metadata store, key space `Acls` (tag `a`). The key is the whole binding,
//! so an ACL is stored once whatever the number of creations; the value is a format version.
//!
//! | bytes      | field                                         |
//! |------------|-----------------------------------------------|
//! | 1          | resource type code (Kafka's, 2 = TOPIC ...)   |
//! | 1          | pattern type code (3 LITERAL, 4 PREFIXED)     |
//! | 1          | operation code                                |
//! | 1          | permission code (2 DENY, 3 ALLOW)             |
//! | 2 + n      | resource name: u16 BE length, UTF-8           |
//! | 2 + n      | principal `Type:name`: u16 BE length, UTF-8   |
//! | 2 + n      | host: u16 BE length, UTF-8                    |
//!
//! Value: one byte, [`FORMAT`]. Writes are synced (ACL changes are rare and must survive a
//! power loss: a lost DENY would open access). A key that does not decode fails the load.

use crate::store::{Space, Store, StoreError, StoreOp};

use super::types::{AclBinding, Operation, PatternType, Permission, ResourceType};

/// The value of every ACL key: the key layout's version.
const FORMAT: u8 = 1;

/// The stored key of an ACL (without the space tag).
pub fn encode(acl: &AclBinding) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + acl.name.len() + acl.principal.len() + acl.host.len());
    k.extend_from_slice(&[
        acl.resource_type as u8,
        acl.pattern_type as u8,
        acl.operation as u8,
        acl.permission as u8,
    ]);
    for s in [&acl.name, &acl.principal, &acl.host] {
        // Kafka strings are at most i16::MAX bytes: the length always fits.
        k.extend_from_slice(&(s.len() as u16).to_be_bytes());
        k.extend_from_slice(s.as_bytes());
    }
    k
}

/// Decodes a stored key.
pub fn decode(key: &[u8]) -> Result<AclBinding, StoreError> {
    let corrupt = |message: &str| StoreError::Corrupt {
        key: format!("acl {}", String::from_utf8_lossy(key)),
        message: message.into(),
    };
    let [rt, pt, op, perm, rest @ ..] = key else {
        return Err(corrupt("key shorter than its header"));
    };
    let mut rest = rest;
    let mut field = || -> Result<String, StoreError> {
        let [a, b, tail @ ..] = rest else {
            return Err(corrupt("truncated length"));
        };
        let n = u16::from_be_bytes([*a, *b]) as usize;
        if tail.len() < n {
            return Err(corrupt("truncated string"));
        }
        let (s, tail) = tail.split_at(n);
        rest = tail;
        String::from_utf8(s.to_vec()).map_err(|_| corrupt("not UTF-8"))
    };
    let (name, principal, host) = (field()?, field()?, field()?);
    if !rest.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(AclBinding {
        resource_type: ResourceType::from_code(*rt as i8)
            .ok_or_else(|| corrupt("bad resource type"))?,
        pattern_type: PatternType::from_code(*pt as i8)
            .ok_or_else(|| corrupt("bad pattern type"))?,
        operation: Operation::from_code(*op as i8).ok_or_else(|| corrupt("bad operation"))?,
        permission: Permission::from_code(*perm as i8).ok_or_else(|| corrupt("bad permission"))?,
        name,
        principal,
        host,
    })
}

/// Every stored ACL.
pub fn load(store: &Store) -> Result<Vec<AclBinding>, StoreError> {
    store
        .scan_prefix(Space::Acls, b"")?
        .iter()
        .map(|(k, _)| decode(k))
        .collect()
}

/// Stores ACLs (synced, one batch).
pub fn put(store: &Store, acls: &[AclBinding]) -> Result<(), StoreError> {
    let ops = acls
        .iter()
        .map(|a| StoreOp::Put {
            cf: Space::Acls,
            key: encode(a),
            value: vec![FORMAT],
        })
        .collect();
    store.write(ops, true)
}

/// Deletes ACLs (synced, one batch).
pub fn delete(store: &Store, acls: &[&AclBinding]) -> Result<(), StoreError> {
    let ops = acls
        .iter()
        .map(|a| StoreOp::Delete {
            cf: Space::Acls,
            key: encode(a),
        })
        .collect();
    store.write(ops, true)
}
