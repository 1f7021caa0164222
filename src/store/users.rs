//! SCRAM credentials, in the `Users` key space (Kafka keeps them in the metadata log as
//! `UserScramCredentialRecord`s; here they are the store's, like topics).
//!
//! Key: the mechanism's wire type (one byte: 1 SCRAM-SHA-256, 2 SCRAM-SHA-512), then the
//! user name (UTF-8). Value: JSON `{"salt", "stored_key", "server_key"}` (base64) and
//! `"iterations"`. Never the password: PLAIN logins are checked against these too (see
//! `security::sasl`). One key per (user, mechanism), so changing one credential never reads
//! and rewrites another; the changes of one user in one request are one atomic, synced
//! `WriteBatch` (credentials are rare writes whose loss would lock a user out).

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{Space, Store, StoreError, StoreOp};
use crate::security::sasl::scram::{ScramCredential, ScramMechanism};

/// A user's credentials, by mechanism.
pub type UserCredentials = BTreeMap<ScramMechanism, ScramCredential>;

/// One change to a user's credentials.
#[derive(Debug, Clone)]
pub enum CredentialChange {
    Upsert(ScramMechanism, ScramCredential),
    Delete(ScramMechanism),
}

#[derive(Serialize, Deserialize)]
struct StoredCredential {
    salt: String,
    stored_key: String,
    server_key: String,
    iterations: u32,
}

fn key(mech: ScramMechanism, user: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + user.len());
    k.push(mech.wire_type() as u8);
    k.extend_from_slice(user.as_bytes());
    k
}

fn decode(key: &[u8], v: &[u8]) -> Result<ScramCredential, StoreError> {
    let corrupt = |message: String| StoreError::Corrupt {
        key: format!("user credential {}", String::from_utf8_lossy(key)),
        message,
    };
    let s: StoredCredential = serde_json::from_slice(v).map_err(|e| corrupt(e.to_string()))?;
    let b = |f: &str| B64.decode(f).map_err(|e| corrupt(e.to_string()));
    Ok(ScramCredential {
        salt: b(&s.salt)?,
        stored_key: b(&s.stored_key)?,
        server_key: b(&s.server_key)?,
        iterations: s.iterations,
    })
}

fn encode(c: &ScramCredential) -> Vec<u8> {
    let s = StoredCredential {
        salt: B64.encode(&c.salt),
        stored_key: B64.encode(&c.stored_key),
        server_key: B64.encode(&c.server_key),
        iterations: c.iterations,
    };
    // A struct of strings and an integer always serialises.
    serde_json::to_vec(&s).unwrap_or_default()
}

impl Store {
    /// The user's credential for one mechanism.
    pub fn scram_credential(
        &self,
        user: &str,
        mech: ScramMechanism,
    ) -> Result<Option<ScramCredential>, StoreError> {
        let k = key(mech, user);
        self.get(Space::Users, &k)?
            .map(|v| decode(&k, &v))
            .transpose()
    }

    /// Every credential of one user (empty: no such user).
    pub fn user_credentials(&self, user: &str) -> Result<UserCredentials, StoreError> {
        let mut out = UserCredentials::new();
        for mech in ScramMechanism::ALL {
            if let Some(c) = self.scram_credential(user, mech)? {
                out.insert(mech, c);
            }
        }
        Ok(out)
    }

    /// Every user with at least one credential, in name order.
    pub fn users(&self) -> Result<BTreeMap<String, UserCredentials>, StoreError> {
        let mut out: BTreeMap<String, UserCredentials> = BTreeMap::new();
        for (k, v) in self.scan_prefix(Space::Users, b"")? {
            let Some((&t, name)) = k.split_first() else {
                continue;
            };
            let mech =
                ScramMechanism::from_wire_type(t as i8).ok_or_else(|| StoreError::Corrupt {
                    key: format!("user credential {}", String::from_utf8_lossy(&k)),
                    message: format!("unknown mechanism type {t}"),
                })?;
            let name = String::from_utf8_lossy(name).into_owned();
            out.entry(name).or_default().insert(mech, decode(&k, &v)?);
        }
        Ok(out)
    }

    /// Applies one user's changes atomically (synced).
    pub fn change_user_credentials(
        &self,
        user: &str,
        changes: &[CredentialChange],
    ) -> Result<(), StoreError> {
        let ops = changes
            .iter()
            .map(|c| match c {
                CredentialChange::Upsert(m, cred) => StoreOp::Put {
                    cf: Space::Users,
                    key: key(*m, user),
                    value: encode(cred),
                },
                CredentialChange::Delete(m) => StoreOp::Delete {
                    cf: Space::Users,
                    key: key(*m, user),
                },
            })
            .collect();
        self.write(ops, true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_round_trip_per_mechanism_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(dir.path()).unwrap();
        let c256 = ScramCredential::from_password(ScramMechanism::Sha256, b"pw", b"s1", 4096);
        let c512 = ScramCredential::from_password(ScramMechanism::Sha512, b"pw", b"s2", 8192);
        s.change_user_credentials(
            "alice",
            &[
                CredentialChange::Upsert(ScramMechanism::Sha256, c256.clone()),
                CredentialChange::Upsert(ScramMechanism::Sha512, c512.clone()),
            ],
        )
        .unwrap();
        s.change_user_credentials(
            "bob",
            &[CredentialChange::Upsert(
                ScramMechanism::Sha512,
                c512.clone(),
            )],
        )
        .unwrap();
        assert_eq!(
            s.scram_credential("alice", ScramMechanism::Sha256).unwrap(),
            Some(c256.clone())
        );
        assert_eq!(
            s.scram_credential("carol", ScramMechanism::Sha256).unwrap(),
            None
        );
        drop(s);
        let s = Store::open(dir.path()).unwrap();
        let all = s.users().unwrap();
        assert_eq!(all.keys().collect::<Vec<_>>(), ["alice", "bob"]);
        assert_eq!(all["alice"].len(), 2);
        assert_eq!(all["bob"][&ScramMechanism::Sha512], c512);
        s.change_user_credentials("alice", &[CredentialChange::Delete(ScramMechanism::Sha512)])
            .unwrap();
        let alice = s.user_credentials("alice").unwrap();
        assert_eq!(
            alice.keys().copied().collect::<Vec<_>>(),
            [ScramMechanism::Sha256]
        );
        // The stored value holds no password, only the derived keys.
        let raw = s
            .get(Space::Users, &key(ScramMechanism::Sha256, "alice"))
            .unwrap()
            .unwrap();
        let text = String::from_utf8(raw).unwrap();
        assert!(
            text.contains("\"iterations\":4096") && !text.contains("pw"),
            "{text}"
        );
    }
}
