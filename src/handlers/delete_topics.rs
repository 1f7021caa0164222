//! DeleteTopics (key 20, v1–6): delete topics by name (v1–5 `topic_names`, v6 `topics`) or,
//! from v6, by topic id.
//!
//! Follows Kafka 4.x (`ControllerApis.deleteTopics`): a v6 entry must carry exactly one of
//! name and id (INVALID_REQUEST otherwise); a name or id given more than once gets a single
//! INVALID_REQUEST result ("Duplicate topic name." / "Duplicate topic id.") and is not
//! deleted; a name that resolves to a topic also named by id is refused. Unknown names answer
//! UNKNOWN_TOPIC_OR_PARTITION, unknown ids UNKNOWN_TOPIC_ID. Results keep request order
//! (Kafka shuffles them; clients match by name or id). `error_message` is encoded from v5,
//! `topic_id` in v6.
//!
//! The delete itself is the controller's workflow (`Controller::delete_topic`), shared with
//! the console: logs, store record and every group's committed offsets go together, so a
//! topic re-created under the same name does not inherit stale positions.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::kafka_error::{self, KafkaError};

const UNKNOWN_TOPIC_MESSAGE: &str = "This server does not host this topic-partition.";
const UNKNOWN_TOPIC_ID_MESSAGE: &str = "This server does not host this topic ID.";

/// What one request entry asks for, after the request-level checks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Name(String),
    Id(Uuid),
    Reject {
        name: Option<String>,
        id: Uuid,
        code: i16,
        message: &'static str,
    },
}

/// Applies Kafka's request-level rules to `(name, id)` entries (v1–5 entries have only names).
fn plan(entries: Vec<(Option<String>, Uuid)>) -> Vec<Target> {
    let mut name_count: HashMap<String, usize> = HashMap::new();
    let mut id_count: HashMap<Uuid, usize> = HashMap::new();
    for (name, id) in &entries {
        match (name, id.is_nil()) {
            (Some(n), true) => *name_count.entry(n.clone()).or_default() += 1,
            (None, false) => *id_count.entry(*id).or_default() += 1,
            _ => {}
        }
    }
    let mut reported_names = HashSet::new();
    let mut reported_ids = HashSet::new();
    let mut out = Vec::with_capacity(entries.len());
    for (name, id) in entries {
        let target = match (name, id.is_nil()) {
            (None, true) => Target::Reject {
                name: None,
                id,
                code: KafkaError::InvalidRequest.code(),
                message: "Neither topic name nor id were specified.",
            },
            (Some(name), false) => Target::Reject {
                name: Some(name),
                id,
                code: KafkaError::InvalidRequest.code(),
                message: "You may not specify both topic name and topic id.",
            },
            (Some(name), true) if name_count.get(&name).copied().unwrap_or(0) > 1 => {
                if !reported_names.insert(name.clone()) {
                    continue;
                }
                Target::Reject {
                    name: Some(name),
                    id: Uuid::nil(),
                    code: KafkaError::InvalidRequest.code(),
                    message: "Duplicate topic name.",
                }
            }
            (Some(name), true) => Target::Name(name),
            (None, false) if id_count.get(&id).copied().unwrap_or(0) > 1 => {
                if !reported_ids.insert(id) {
                    continue;
                }
                Target::Reject {
                    name: None,
                    id,
                    code: KafkaError::InvalidRequest.code(),
                    message: "Duplicate topic id.",
                }
            }
            (None, false) => Target::Id(id),
        };
        out.push(target);
    }
    out
}

fn result(
    name: Option<String>,
    id: Uuid,
    code: i16,
    message: Option<String>,
) -> DeletableTopicResult {
    DeletableTopicResult::default()
        .with_name(name.map(|n| TopicName(StrBytes::from_string(n))))
        .with_topic_id(id)
        .with_error_code(code)
        .with_error_message(message.map(StrBytes::from_string))
}

/// A topic that will be deleted, and how the request named it.
struct Resolved {
    name: String,
    id: Uuid,
    by_id: bool,
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: DeleteTopicsRequest,
) -> DeleteTopicsResponse {
    let entries: Vec<(Option<String>, Uuid)> = if ctx.api_version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.as_str().to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n.as_str().to_string()), Uuid::nil()))
            .collect()
    };

    // Slots in request order: either a finished result or an index into `resolved`.
    let mut slots: Vec<Result<DeletableTopicResult, usize>> = Vec::new();
    let mut resolved: Vec<Resolved> = Vec::new();
    for target in plan(entries) {
        match target {
            Target::Reject {
                name,
                id,
                code,
                message,
            } => slots.push(Ok(result(name, id, code, Some(message.into())))),
            Target::Name(name) if !authz::topic(broker, ctx, Op::Delete, &name) => {
                slots.push(Ok(result(
                    Some(name),
                    Uuid::nil(),
                    KafkaError::TopicAuthorizationFailed.code(),
                    None,
                )))
            }
            Target::Name(name) => match broker.metadata.topic(&name) {
                Some(t) => {
                    slots.push(Err(resolved.len()));
                    resolved.push(Resolved {
                        name,
                        id: t.id,
                        by_id: false,
                    });
                }
                None => slots.push(Ok(result(
                    Some(name),
                    Uuid::nil(),
                    KafkaError::UnknownTopicOrPartition.code(),
                    Some(UNKNOWN_TOPIC_MESSAGE.into()),
                ))),
            },
            Target::Id(id) => match broker.metadata.topic_by_id(id) {
                Some(t) if !authz::topic(broker, ctx, Op::Delete, &t.name) => slots.push(Ok(
                    result(None, id, KafkaError::TopicAuthorizationFailed.code(), None),
                )),
                Some(t) => {
                    slots.push(Err(resolved.len()));
                    resolved.push(Resolved {
                        name: t.name.clone(),
                        id,
                        by_id: true,
                    });
                }
                None => slots.push(Ok(result(
                    None,
                    id,
                    KafkaError::UnknownTopicId.code(),
                    Some(UNKNOWN_TOPIC_ID_MESSAGE.into()),
                ))),
            },
        }
    }

    // A name that maps to an id the request also gave: refuse the name, keep the id.
    let ids_given: HashSet<Uuid> = resolved.iter().filter(|r| r.by_id).map(|r| r.id).collect();
    let mut refused = vec![false; resolved.len()];
    for (i, r) in resolved.iter().enumerate() {
        if !r.by_id && ids_given.contains(&r.id) {
            refused[i] = true;
        }
    }
    let to_delete: Vec<Option<String>> = resolved
        .iter()
        .zip(&refused)
        .map(|(r, refused)| (!refused).then(|| r.name.clone()))
        .collect();

    let controller = broker.controller.clone();
    let outcomes = blocking(move || {
        to_delete
            .into_iter()
            .map(|name| Some(controller.delete_topic(&name?)))
            .collect::<Vec<_>>()
    })
    .await;

    let results = slots
        .into_iter()
        .map(|slot| match slot {
            Ok(done) => done,
            Err(i) => {
                let r = &resolved[i];
                match &outcomes[i] {
                    None => result(
                        Some(r.name.clone()),
                        r.id,
                        KafkaError::InvalidRequest.code(),
                        Some(
                            "The provided topic name maps to an ID that was already supplied."
                                .into(),
                        ),
                    ),
                    Some(Ok(_)) => result(Some(r.name.clone()), r.id, kafka_error::NONE, None),
                    // Deleted concurrently between lookup and delete.
                    Some(Err(crate::cluster::TopicError::Unknown(_))) if r.by_id => result(
                        None,
                        r.id,
                        KafkaError::UnknownTopicId.code(),
                        Some(UNKNOWN_TOPIC_ID_MESSAGE.into()),
                    ),
                    Some(Err(e)) => {
                        tracing::warn!(topic = %r.name, error = %e, "delete topic failed");
                        result(
                            Some(r.name.clone()),
                            r.id,
                            e.kafka_code(),
                            Some(e.to_string()),
                        )
                    }
                }
            }
        })
        .collect();
    DeleteTopicsResponse::default().with_responses(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(n: &str) -> (Option<String>, Uuid) {
        (Some(n.to_string()), Uuid::nil())
    }

    #[test]
    fn plain_names_and_ids_pass() {
        let id = Uuid::from_u128(7);
        assert_eq!(
            plan(vec![name("a"), (None, id), name("b")]),
            vec![
                Target::Name("a".into()),
                Target::Id(id),
                Target::Name("b".into())
            ]
        );
    }

    #[test]
    fn duplicates_get_one_rejection_each() {
        let id = Uuid::from_u128(9);
        let p = plan(vec![
            name("a"),
            (None, id),
            name("a"),
            name("b"),
            (None, id),
            name("a"),
        ]);
        assert_eq!(p.len(), 3);
        assert!(
            matches!(&p[0], Target::Reject { name: Some(n), message, .. }
            if n == "a" && *message == "Duplicate topic name.")
        );
        assert!(
            matches!(&p[1], Target::Reject { name: None, id: i, message, .. }
            if *i == id && *message == "Duplicate topic id.")
        );
        assert_eq!(p[2], Target::Name("b".into()));
    }

    #[test]
    fn entries_need_exactly_one_of_name_and_id() {
        let p = plan(vec![
            (None, Uuid::nil()),
            (Some("a".into()), Uuid::from_u128(1)),
        ]);
        assert!(matches!(&p[0], Target::Reject { code, message, .. }
            if *code == KafkaError::InvalidRequest.code() && message.starts_with("Neither")));
        assert!(matches!(&p[1], Target::Reject { code, message, .. }
            if *code == KafkaError::InvalidRequest.code() && message.starts_with("You may not")));
    }
}
