//! FindCoordinator (key 10, v0–6): which node coordinates a group (key type 0) or a
//! transactional id (key type 1).
//!
//! v0–3 ask for one `key` (v0 has no key type: always a group) and answer in the top-level
//! fields; v4+ batch `coordinator_keys` and answer one `Coordinator` per key. Groups are
//! coordinated by this node on a single broker. In a cluster, as in Kafka, a group's
//! coordinator is the leader of its partition of the internal `__consumer_offsets` topic
//! (created on the first FindCoordinator); a partition without a leader answers
//! COORDINATOR_NOT_AVAILABLE, and clients retry.
//! A transactional id is coordinated by this node on a single broker; in a cluster, as in
//! Kafka, by the leader of its partition of the internal `__transaction_state` topic (same
//! hash, created on the first FindCoordinator for a transactional id; `txn_topic`). Any other
//! key type is INVALID_REQUEST, as in Kafka.
//! Errors carry node id −1, host "" and port −1 (Kafka's `Node.noNode()`).
//! A v1–3 success carries the message "NONE", as Kafka sends it.

use std::sync::Arc;

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::Broker;
use crate::cluster::{NodeInfo, TopicInfo};
use crate::kafka_error::KafkaError;

const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

/// Where one key is coordinated, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Node {
        node_id: i32,
        host: String,
        port: i32,
    },
    Error {
        code: i16,
        message: &'static str,
    },
}

fn not_available() -> Answer {
    Answer::Error {
        code: KafkaError::CoordinatorNotAvailable.code(),
        message: "The coordinator is not available.",
    }
}

/// In a cluster, the internal topic of the key type (`__consumer_offsets` or
/// `__transaction_state`) and the live brokers, read once per request (`None`: not a cluster;
/// `Some(Err)`: not available).
type InternalTopic = Option<Result<(Arc<TopicInfo>, Vec<NodeInfo>), ()>>;

/// The live leader of `key`'s partition of `topic` (Kafka's hash), if any.
fn leader_of(topic: &TopicInfo, live: &[NodeInfo], key: &str) -> Answer {
    let p = crate::group::offsets_partition(key, topic.partitions.len() as i32);
    let leader = topic.partition(p).map_or(-1, |p| p.leader);
    match live.iter().find(|n| n.node_id == leader) {
        Some(n) => Answer::Node {
            node_id: n.node_id,
            host: n.host.clone(),
            port: n.port,
        },
        None => not_available(),
    }
}

/// `listener`: the name of the listener the request came in on, whose advertised address a
/// single node answers.
fn resolve(
    broker: &Broker,
    listener: &str,
    internal: &InternalTopic,
    key_type: i8,
    key: &str,
) -> Answer {
    let (host, port) = broker.config.advertised_for(listener);
    match key_type {
        KEY_TYPE_GROUP => match internal {
            None => Answer::Node {
                node_id: broker.groups.coordinator_for(key),
                host,
                port,
            },
            Some(Err(())) => not_available(),
            Some(Ok((topic, live))) => leader_of(topic, live, key),
        },
        KEY_TYPE_TRANSACTION => match (&broker.txns, internal) {
            (None, _) | (_, Some(Err(()))) => not_available(),
            (Some(_), None) => Answer::Node {
                node_id: broker.node.node_id,
                host,
                port,
            },
            (Some(_), Some(Ok((topic, live)))) => leader_of(topic, live, key),
        },
        _ => Answer::Error {
            code: KafkaError::InvalidRequest.code(),
            message: "Invalid coordinator key type.",
        },
    }
}

fn build(version: i16, keys: Vec<(StrBytes, Answer)>) -> FindCoordinatorResponse {
    if version >= 4 {
        let coordinators = keys
            .into_iter()
            .map(|(key, answer)| {
                let c = Coordinator::default().with_key(key);
                match answer {
                    Answer::Node {
                        node_id,
                        host,
                        port,
                    } => c
                        .with_node_id(BrokerId(node_id))
                        .with_host(StrBytes::from_string(host))
                        .with_port(port),
                    Answer::Error { code, message } => c
                        .with_node_id(BrokerId(-1))
                        .with_host(StrBytes::new())
                        .with_port(-1)
                        .with_error_code(code)
                        .with_error_message(Some(StrBytes::from_static_str(message))),
                }
            })
            .collect();
        return FindCoordinatorResponse::default().with_coordinators(coordinators);
    }
    let answer = keys
        .into_iter()
        .next()
        .map(|(_, a)| a)
        .unwrap_or(Answer::Error {
            code: KafkaError::InvalidRequest.code(),
            message: "Invalid coordinator key type.",
        });
    match answer {
        Answer::Node {
            node_id,
            host,
            port,
        } => FindCoordinatorResponse::default()
            // Kafka fills v1–3 from `Errors.NONE.message()`, which is "NONE" (v4+ entries
            // carry no message on success).
            .with_error_message(if version >= 1 {
                Some(StrBytes::from_static_str("NONE"))
            } else {
                None
            })
            .with_node_id(BrokerId(node_id))
            .with_host(StrBytes::from_string(host))
            .with_port(port),
        Answer::Error { code, message } => FindCoordinatorResponse::default()
            .with_error_code(code)
            .with_error_message(if version >= 1 {
                Some(StrBytes::from_static_str(message))
            } else {
                None
            })
            .with_node_id(BrokerId(-1))
            .with_host(StrBytes::new())
            .with_port(-1),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let version = ctx.api_version;
    let key_type = if version >= 1 {
        req.key_type
    } else {
        KEY_TYPE_GROUP
    };
    let keys: Vec<StrBytes> = if version >= 4 {
        req.coordinator_keys
    } else {
        vec![req.key]
    };
    let (g, t) = (&broker.config.group, &broker.config.transaction);
    let topic = match key_type {
        KEY_TYPE_GROUP => Some((
            crate::cluster::OFFSETS_TOPIC,
            g.offsets_topic_num_partitions,
            g.offsets_topic_replication_factor,
        )),
        KEY_TYPE_TRANSACTION => Some((
            crate::cluster::TXN_TOPIC,
            t.state_log_num_partitions,
            t.state_log_replication_factor,
        )),
        _ => None,
    };
    let internal = match (broker.controller.member(), topic) {
        (Some(m), Some((name, partitions, replication_factor))) => {
            let (controller, member) = (broker.controller.clone(), m.clone());
            let created = blocking(move || {
                controller.ensure_internal_topic(&member, name, partitions, replication_factor)
            })
            .await;
            Some(
                created
                    .map(|topic| (topic, broker.live_brokers_on(&ctx.listener)))
                    .map_err(|e| {
                        tracing::warn!(topic = name, error = %e, "an internal topic is not available");
                    }),
            )
        }
        _ => None,
    };
    let answers = keys
        .into_iter()
        .map(|key| {
            // Kafka: DESCRIBE on the group, or on the transactional id.
            let denied = match key_type {
                KEY_TYPE_GROUP => (!authz::group(broker, ctx, Op::Describe, key.as_str()))
                    .then_some(KafkaError::GroupAuthorizationFailed),
                KEY_TYPE_TRANSACTION => {
                    (!authz::transactional_id(broker, ctx, Op::Describe, key.as_str()))
                        .then_some(KafkaError::TransactionalIdAuthorizationFailed)
                }
                _ => None,
            };
            let answer = match denied {
                Some(e) => Answer::Error {
                    code: e.code(),
                    message: "Authorization failed.",
                },
                None => resolve(broker, &ctx.listener, &internal, key_type, key.as_str()),
            };
            (key, answer)
        })
        .collect();
    build(version, answers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;

    fn node() -> Answer {
        Answer::Node {
            node_id: 3,
            host: "h".into(),
            port: 9092,
        }
    }

    #[test]
    fn encodes_at_every_version() {
        for v in 0..=6 {
            for a in [
                node(),
                Answer::Error {
                    code: 15,
                    message: "x",
                },
            ] {
                let r = build(v, vec![(StrBytes::from_static_str("g"), a)]);
                r.encode(&mut BytesMut::new(), v)
                    .unwrap_or_else(|e| panic!("v{v}: {e}"));
            }
        }
    }

    #[test]
    fn legacy_and_batched_shapes() {
        let r = build(3, vec![(StrBytes::from_static_str("g"), node())]);
        assert_eq!((r.node_id.0, r.port, r.error_code), (3, 9092, 0));
        assert_eq!(r.error_message.as_deref(), Some("NONE"));
        let r = build(0, vec![(StrBytes::from_static_str("g"), node())]);
        assert_eq!(r.error_message, None);
        let r = build(
            4,
            vec![
                (StrBytes::from_static_str("g"), node()),
                (
                    StrBytes::from_static_str("t"),
                    Answer::Error {
                        code: 15,
                        message: "x",
                    },
                ),
            ],
        );
        assert_eq!(r.coordinators.len(), 2);
        assert_eq!(r.coordinators[0].node_id.0, 3);
        assert_eq!(r.coordinators[1].error_code, 15);
        assert_eq!(r.coordinators[1].node_id.0, -1);
    }
}
