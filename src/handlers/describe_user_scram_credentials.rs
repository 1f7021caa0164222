//! DescribeUserScramCredentials (key 50, v0): which SCRAM mechanisms (and iteration counts)
//! each user has — `kafka-configs --describe --entity-type users` and the Admin API's
//! `describeUserScramCredentials`. Never any key material.
//!
//! No user list (null or empty) describes every user with a credential. Named users, as
//! Kafka's `ScramControlManager`: one without credentials answers RESOURCE_NOT_FOUND, a name
//! given twice DUPLICATE_RESOURCE (once per name). A store failure is the response's
//! top-level error.
//!
//! Authorization: Kafka requires DESCRIBE on the CLUSTER resource (else a top-level
//! CLUSTER_AUTHORIZATION_FAILED); the authorizer's check belongs at the top of [`handle`].

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::describe_user_scram_credentials_response::{
    CredentialInfo, DescribeUserScramCredentialsResult,
};
use kafka_protocol::messages::{
    DescribeUserScramCredentialsRequest, DescribeUserScramCredentialsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::KafkaError;
use crate::store::UserCredentials;

pub async fn handle(
    broker: &Arc<Broker>,
    _ctx: &RequestContext,
    req: DescribeUserScramCredentialsRequest,
) -> DescribeUserScramCredentialsResponse {
    let requested: Option<Vec<String>> = req
        .users
        .filter(|u| !u.is_empty())
        .map(|u| u.into_iter().map(|n| n.name.to_string()).collect());
    let store = broker.store.clone();
    let all = match blocking(move || store.users()).await {
        Ok(all) => all,
        Err(e) => {
            return DescribeUserScramCredentialsResponse::default()
                .with_error_code(e.kafka_code())
                .with_error_message(Some(StrBytes::from_string(e.to_string())))
        }
    };
    DescribeUserScramCredentialsResponse::default().with_results(describe(&all, requested))
}

fn describe(
    all: &BTreeMap<String, UserCredentials>,
    requested: Option<Vec<String>>,
) -> Vec<DescribeUserScramCredentialsResult> {
    let result = |user: &str| {
        DescribeUserScramCredentialsResult::default()
            .with_user(StrBytes::from_string(user.to_string()))
    };
    let infos = |creds: &UserCredentials| {
        creds
            .iter()
            .map(|(m, c)| {
                CredentialInfo::default()
                    .with_mechanism(m.wire_type())
                    .with_iterations(c.iterations as i32)
            })
            .collect()
    };
    let Some(names) = requested else {
        return all
            .iter()
            .map(|(user, creds)| result(user).with_credential_infos(infos(creds)))
            .collect();
    };
    let mut seen = HashSet::new();
    let duplicates: HashSet<&String> = names.iter().filter(|n| !seen.insert(*n)).collect();
    let mut reported = HashSet::new();
    let mut out = Vec::new();
    for name in &names {
        if !reported.insert(name) {
            continue;
        }
        let r = result(name);
        out.push(if duplicates.contains(name) {
            r.with_error_code(KafkaError::DuplicateResource.code())
                .with_error_message(Some(StrBytes::from_string(format!(
                    "Cannot describe SCRAM credentials for the same user twice in a single request: {name}"
                ))))
        } else {
            match all.get(name) {
                Some(creds) => r.with_credential_infos(infos(creds)),
                None => r
                    .with_error_code(KafkaError::ResourceNotFound.code())
                    .with_error_message(Some(StrBytes::from_string(format!(
                        "attemptToDescribeUserThatDoesNotExist: {name}"
                    )))),
            }
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::security::sasl::scram::{ScramCredential, ScramMechanism};

    #[test]
    fn describes_all_named_unknown_and_duplicates() {
        let mut all = BTreeMap::new();
        let mut alice = UserCredentials::new();
        alice.insert(
            ScramMechanism::Sha512,
            ScramCredential::from_password(ScramMechanism::Sha512, b"pw", b"s", 8192),
        );
        alice.insert(
            ScramMechanism::Sha256,
            ScramCredential::from_password(ScramMechanism::Sha256, b"pw", b"s", 4096),
        );
        all.insert("alice".to_string(), alice);
        let every = describe(&all, None);
        assert_eq!(every.len(), 1);
        let infos: Vec<(i8, i32)> = every[0]
            .credential_infos
            .iter()
            .map(|c| (c.mechanism, c.iterations))
            .collect();
        assert_eq!(infos, [(1, 4096), (2, 8192)]);
        let named = describe(
            &all,
            Some(vec![
                "bob".into(),
                "alice".into(),
                "carol".into(),
                "carol".into(),
            ]),
        );
        let codes: Vec<(&str, i16)> = named
            .iter()
            .map(|r| (r.user.as_str(), r.error_code))
            .collect();
        assert_eq!(
            codes,
            [
                ("bob", KafkaError::ResourceNotFound.code()),
                ("alice", 0),
                ("carol", KafkaError::DuplicateResource.code())
            ]
        );
    }
}
