//! AlterUserScramCredentials (key 51, v0): create, replace and delete SCRAM credentials —
//! what `kafka-configs --alter --entity-type users --add-config 'SCRAM-SHA-512=[password=…]'`
//! and the Admin API's `alterUserScramCredentials` send.
//!
//! The client runs PBKDF2 itself: an upsertion carries salt, iterations and the salted
//! password, from which the broker derives StoredKey and ServerKey; neither the password
//! nor the salted password is stored. One result per user (Kafka's `ScramControlManager`
//! rules and messages): an empty name or out-of-range iterations UNACCEPTABLE_CREDENTIAL, an
//! unknown mechanism UNSUPPORTED_SASL_MECHANISM, the same (user, mechanism) twice in the
//! request DUPLICATE_RESOURCE, deleting a credential that does not exist RESOURCE_NOT_FOUND.
//! A user's changes apply together or not at all (one synced store batch).
//!
//! Credentials live in this node's store and are not replicated: on a cluster node every
//! user answers INVALID_REQUEST (use `runnel user add` on each node's data directory), and
//! the API is advertised by single nodes only.
//!
//! Authorization: Kafka requires ALTER on the CLUSTER resource (else
//! CLUSTER_AUTHORIZATION_FAILED for every user); the authorizer's check belongs at the top
//! of [`handle`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::alter_user_scram_credentials_response::AlterUserScramCredentialsResult;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, AlterUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::security::sasl::scram::{
    ScramCredential, ScramMechanism, MAX_ITERATIONS, MIN_ITERATIONS,
};
use crate::store::CredentialChange;

/// One requested change, before validation.
enum Requested {
    Delete {
        mechanism: i8,
    },
    Upsert {
        mechanism: i8,
        iterations: i32,
        salt: Vec<u8>,
        salted_password: Vec<u8>,
    },
}

impl Requested {
    fn mechanism(&self) -> i8 {
        match self {
            Requested::Delete { mechanism } | Requested::Upsert { mechanism, .. } => *mechanism,
        }
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: AlterUserScramCredentialsRequest,
) -> AlterUserScramCredentialsResponse {
    // Users in request order, each with its changes.
    let mut users: Vec<(String, Vec<Requested>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut add = |name: String, r: Requested| {
        let i = *index.entry(name.clone()).or_insert_with(|| {
            users.push((name, Vec::new()));
            users.len() - 1
        });
        users[i].1.push(r);
    };
    for d in req.deletions {
        add(
            d.name.to_string(),
            Requested::Delete {
                mechanism: d.mechanism,
            },
        );
    }
    for u in req.upsertions {
        add(
            u.name.to_string(),
            Requested::Upsert {
                mechanism: u.mechanism,
                iterations: u.iterations,
                salt: u.salt.to_vec(),
                salted_password: u.salted_password.to_vec(),
            },
        );
    }
    let in_cluster = broker.controller.member().is_some();
    let mut results = Vec::with_capacity(users.len());
    for (user, requested) in users {
        let outcome = if in_cluster {
            Err((
                KafkaError::InvalidRequest,
                "SCRAM credentials are not replicated in cluster mode yet: use `runnel user add` on each node".to_string(),
            ))
        } else {
            match validate(&user, &requested) {
                Err(e) => Err(e),
                Ok(changes) => apply(broker, user.clone(), changes).await,
            }
        };
        let result =
            AlterUserScramCredentialsResult::default().with_user(StrBytes::from_string(user));
        results.push(match outcome {
            Ok(()) => result,
            Err((code, message)) => result
                .with_error_code(code.code())
                .with_error_message(Some(StrBytes::from_string(message))),
        });
    }
    AlterUserScramCredentialsResponse::default().with_results(results)
}

type Refusal = (KafkaError, String);

/// Checks one user's changes; the store changes they amount to.
fn validate(user: &str, requested: &[Requested]) -> Result<Vec<CredentialChange>, Refusal> {
    let unacceptable = |m: &str| Err((KafkaError::UnacceptableCredential, m.to_string()));
    if user.is_empty() {
        return unacceptable("Username must not be empty");
    }
    let mut seen = HashSet::new();
    if !requested.iter().all(|r| seen.insert(r.mechanism())) {
        return Err((
            KafkaError::DuplicateResource,
            "A user credential cannot be altered twice in the same request".into(),
        ));
    }
    let mut changes = Vec::with_capacity(requested.len());
    for r in requested {
        let Some(mech) = ScramMechanism::from_wire_type(r.mechanism()) else {
            return Err((
                KafkaError::UnsupportedSaslMechanism,
                "Unknown SCRAM mechanism".into(),
            ));
        };
        match r {
            Requested::Delete { .. } => changes.push(CredentialChange::Delete(mech)),
            Requested::Upsert {
                iterations,
                salt,
                salted_password,
                ..
            } => {
                if *iterations < MIN_ITERATIONS as i32 {
                    return unacceptable("Too few iterations");
                }
                if *iterations > MAX_ITERATIONS as i32 {
                    return unacceptable("Too many iterations");
                }
                if salt.is_empty() {
                    return unacceptable("Salt must not be empty");
                }
                if salted_password.is_empty() {
                    return unacceptable("Salted password must not be empty");
                }
                changes.push(CredentialChange::Upsert(
                    mech,
                    ScramCredential::from_salted_password(
                        mech,
                        salt,
                        salted_password,
                        *iterations as u32,
                    ),
                ));
            }
        }
    }
    Ok(changes)
}

/// Applies one user's changes: every deleted credential must exist.
async fn apply(
    broker: &Arc<Broker>,
    user: String,
    changes: Vec<CredentialChange>,
) -> Result<(), Refusal> {
    let store = broker.store.clone();
    blocking(move || {
        let storage = |e: crate::store::StoreError| (KafkaError::KafkaStorageError, e.to_string());
        let existing = store.user_credentials(&user).map_err(storage)?;
        for c in &changes {
            if let CredentialChange::Delete(m) = c {
                if !existing.contains_key(m) {
                    return Err((
                        KafkaError::ResourceNotFound,
                        "Attempt to delete a user credential that does not exist".into(),
                    ));
                }
            }
        }
        store
            .change_user_credentials(&user, &changes)
            .map_err(storage)?;
        tracing::info!(%user, changes = changes.len(), "SCRAM credentials altered");
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upsert(mechanism: i8, iterations: i32) -> Requested {
        Requested::Upsert {
            mechanism,
            iterations,
            salt: b"salt".to_vec(),
            salted_password: vec![7; 32],
        }
    }

    #[test]
    fn validation_follows_kafka() {
        let code = |user: &str, r: &[Requested]| validate(user, r).map(|_| ()).map_err(|e| e.0);
        assert_eq!(code("alice", &[upsert(1, 4096), upsert(2, 16384)]), Ok(()));
        assert_eq!(
            code("", &[upsert(1, 4096)]),
            Err(KafkaError::UnacceptableCredential)
        );
        assert_eq!(
            code("a", &[upsert(1, 4095)]),
            Err(KafkaError::UnacceptableCredential)
        );
        assert_eq!(
            code("a", &[upsert(1, 16385)]),
            Err(KafkaError::UnacceptableCredential)
        );
        assert_eq!(
            code("a", &[upsert(3, 4096)]),
            Err(KafkaError::UnsupportedSaslMechanism)
        );
        assert_eq!(
            code("a", &[upsert(0, 4096)]),
            Err(KafkaError::UnsupportedSaslMechanism)
        );
        assert_eq!(
            code("a", &[Requested::Delete { mechanism: 2 }, upsert(2, 4096)]),
            Err(KafkaError::DuplicateResource)
        );
        assert_eq!(
            code("a", &[Requested::Delete { mechanism: 1 }, upsert(2, 4096)]),
            Ok(())
        );
        let no_salt = Requested::Upsert {
            mechanism: 1,
            iterations: 4096,
            salt: Vec::new(),
            salted_password: vec![1],
        };
        assert_eq!(
            code("a", &[no_salt]),
            Err(KafkaError::UnacceptableCredential)
        );
    }
}
