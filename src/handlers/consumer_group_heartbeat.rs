//! ConsumerGroupHeartbeat (key 68, v0–1): the KIP-848 consumer group protocol
//! (`group.protocol=consumer`). One request joins (epoch 0), keeps alive and acknowledges
//! (epoch > 0), or leaves (−1, static −2); the response carries the member's epoch and, when
//! it changed or the request was a full one, the full set of partitions it may own now.
//!
//! The handler converts topic ids ↔ the coordinator's `TopicsImage` (every topic that exists,
//! internal ones flagged so regexes skip them), resolves the group's
//! `consumer.session.timeout.ms` / `consumer.heartbeat.interval.ms` (GROUP config, else the
//! broker's `[group]` settings), and checks READ on the group and DESCRIBE on every
//! subscribed topic name (TOPIC_AUTHORIZATION_FAILED, as Kafka). With an authorizer, a regex
//! subscription only gets the topics the member's principal may DESCRIBE (Kafka filters the
//! topics a regex resolves to the same way): the handler passes that set (one check per
//! non-internal topic per heartbeat) and the group keeps each member's filtered matches. v1
//! member ids come from the client; v0 clients joining without one get a generated id.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::group::consumer::{self, ConsumerHeartbeat, TopicMeta, TopicsImage};
use crate::kafka_error::KafkaError;

/// Every topic that exists now, for the coordinator's assignor and regexes.
pub(crate) fn topics_image(broker: &Broker) -> TopicsImage {
    metadata_topics(&broker.metadata)
}

/// `topics_image` of a metadata view (the coordinator's topics hook, see `broker.rs`).
pub(crate) fn metadata_topics(metadata: &crate::cluster::MetadataView) -> TopicsImage {
    TopicsImage {
        by_name: metadata
            .topics()
            .into_iter()
            .map(|t| {
                let meta = TopicMeta {
                    id: t.id,
                    partitions: t.partitions.len() as i32,
                    internal: t.name.starts_with("__"),
                };
                (t.name.clone(), meta)
            })
            .collect(),
    }
}

/// A group's `consumer.*` config, else the broker default.
fn group_setting(broker: &Broker, group: &str, name: &str, default: i32) -> i32 {
    broker
        .controller
        .group_overrides(group)
        .get(name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The non-internal topics the request's principal may DESCRIBE (`None` without an
/// authorizer).
fn describable_topics(
    broker: &Broker,
    ctx: &RequestContext,
    image: &TopicsImage,
) -> Option<BTreeSet<String>> {
    broker.acls.enabled().then(|| {
        image
            .by_name
            .iter()
            .filter(|(name, meta)| !meta.internal && authz::topic(broker, ctx, Op::Describe, name))
            .map(|(name, _)| name.clone())
            .collect()
    })
}

fn to_domain(
    broker: &Broker,
    ctx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
    image: &TopicsImage,
) -> ConsumerHeartbeat {
    let group_id = req.group_id.0.to_string();
    let cfg = broker.groups.config();
    let mut member_id = req.member_id.to_string();
    if ctx.api_version == 0 && member_id.is_empty() && req.member_epoch == 0 {
        member_id = uuid::Uuid::new_v4().to_string();
    }
    ConsumerHeartbeat {
        session_timeout_ms: group_setting(
            broker,
            &group_id,
            "consumer.session.timeout.ms",
            cfg.consumer_session_timeout_ms,
        ),
        heartbeat_interval_ms: group_setting(
            broker,
            &group_id,
            "consumer.heartbeat.interval.ms",
            cfg.consumer_heartbeat_interval_ms,
        ),
        group_id,
        member_id,
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.map(|s| s.to_string()),
        rack_id: req.rack_id.map(|s| s.to_string()),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topic_names: req
            .subscribed_topic_names
            .map(|names| names.into_iter().map(|n| n.0.to_string()).collect()),
        subscribed_topic_regex: if ctx.api_version >= 1 {
            req.subscribed_topic_regex.map(|s| s.to_string())
        } else {
            None
        },
        server_assignor: req.server_assignor.map(|s| s.to_string()),
        topic_partitions: req.topic_partitions.map(|tps| {
            let mut a: consumer::Assignment = BTreeMap::new();
            for tp in tps {
                a.entry(tp.topic_id).or_default().extend(tp.partitions);
            }
            a
        }),
        client_id: ctx.client_id.clone(),
        client_host: format!("/{}", ctx.client_host),
        describable_topics: describable_topics(broker, ctx, image),
    }
}

fn error(code: i16, message: String) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse::default()
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    if !authz::group(broker, ctx, Op::Read, req.group_id.as_str()) {
        return error(
            KafkaError::GroupAuthorizationFailed.code(),
            format!("Not authorized to access group {}", req.group_id.as_str()),
        );
    }
    if let Some(names) = &req.subscribed_topic_names {
        let denied: Vec<&str> = names
            .iter()
            .map(|n| n.as_str())
            .filter(|n| !authz::topic(broker, ctx, Op::Describe, n))
            .collect();
        if !denied.is_empty() {
            return error(
                KafkaError::TopicAuthorizationFailed.code(),
                format!("Not authorized to describe topics {denied:?}"),
            );
        }
    }
    let image = topics_image(broker);
    let request = to_domain(broker, ctx, req, &image);
    match broker
        .groups
        .consumer_heartbeat(request, ctx.api_version, &image)
        .await
    {
        Ok(r) => ConsumerGroupHeartbeatResponse::default()
            .with_member_id(Some(StrBytes::from_string(r.member_id)))
            .with_member_epoch(r.member_epoch)
            .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
            .with_assignment(r.assignment.map(|a| {
                Assignment::default().with_topic_partitions(
                    a.into_iter()
                        .map(|(id, ps)| {
                            TopicPartitions::default()
                                .with_topic_id(id)
                                .with_partitions(ps.into_iter().collect())
                        })
                        .collect(),
                )
            })),
        Err(e) => error(e.kafka_code(), e.to_string()),
    }
}
