//! ShareGroupHeartbeat (key 76, v1): share-group membership (KIP-932). The member joins with
//! epoch 0 and its subscribed topic names, heartbeats with the epoch it was given, leaves with
//! −1; the answer carries its epoch and, on a join or a change, its assignment (topic ids).
//!
//! As Kafka: READ on the group (GROUP_AUTHORIZATION_FAILED), DESCRIBE on every subscribed topic
//! named in the request (TOPIC_AUTHORIZATION_FAILED); the error answers carry Kafka's error
//! message and no member id. Topic names resolve against the metadata view at request time.
//! The group's `share.session.timeout.ms` / `share.heartbeat.interval.ms` (GROUP config)
//! override the broker's `[group]` settings for its members.

use std::sync::Arc;

use kafka_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::cluster::metadata::MetadataView;
use crate::group::share::{ShareHeartbeatRequest, ShareHeartbeatResponse, TopicLookup, TopicMeta};
use crate::kafka_error::KafkaError;

/// The metadata view as the share group reads it.
struct Topics<'a>(&'a MetadataView);

impl TopicLookup for Topics<'_> {
    fn topic(&self, name: &str) -> Option<TopicMeta> {
        self.0.topic(name).map(|t| TopicMeta {
            id: t.id,
            partitions: i32::try_from(t.partitions.len()).unwrap_or(i32::MAX),
        })
    }
}

/// The group's `share.*` timing overrides (GROUP config): session timeout, heartbeat interval.
fn group_timing(broker: &Broker, group: &str) -> (Option<i64>, Option<i32>) {
    let o = broker.controller.group_overrides(group);
    let get = |k: &str| o.get(k).and_then(|v| v.trim().parse::<i64>().ok());
    (
        get("share.session.timeout.ms"),
        get("share.heartbeat.interval.ms").and_then(|v| i32::try_from(v).ok()),
    )
}

fn to_domain(
    broker: &Broker,
    ctx: &RequestContext,
    req: ShareGroupHeartbeatRequest,
) -> ShareHeartbeatRequest {
    let (session_timeout_ms, heartbeat_interval_ms) = group_timing(broker, req.group_id.as_str());
    ShareHeartbeatRequest {
        group_id: req.group_id.0.to_string(),
        member_id: req.member_id.to_string(),
        member_epoch: req.member_epoch,
        rack_id: req.rack_id.map(|r| r.to_string()),
        subscribed_topic_names: req
            .subscribed_topic_names
            .map(|ts| ts.into_iter().map(|t| t.0.to_string()).collect()),
        client_id: ctx.client_id.clone(),
        client_host: format!("/{}", ctx.client_host),
        session_timeout_ms,
        heartbeat_interval_ms,
    }
}

fn error(code: i16, message: String) -> ShareGroupHeartbeatResponse {
    ShareGroupHeartbeatResponse::default()
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
}

fn to_wire(r: ShareHeartbeatResponse) -> ShareGroupHeartbeatResponse {
    if let Some(e) = r.error {
        return error(e.kafka_code(), e.to_string());
    }
    ShareGroupHeartbeatResponse::default()
        .with_member_id(Some(StrBytes::from_string(r.member_id)))
        .with_member_epoch(r.member_epoch)
        .with_heartbeat_interval_ms(r.heartbeat_interval_ms)
        .with_assignment(r.assignment.map(|a| {
            Assignment::default().with_topic_partitions(
                a.into_iter()
                    .map(|(id, ps)| {
                        TopicPartitions::default()
                            .with_topic_id(id)
                            .with_partitions(ps)
                    })
                    .collect(),
            )
        }))
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: ShareGroupHeartbeatRequest,
) -> ShareGroupHeartbeatResponse {
    if !authz::group(broker, ctx, Op::Read, req.group_id.as_str()) {
        return error(
            KafkaError::GroupAuthorizationFailed.code(),
            format!("Not authorized to access group {}", req.group_id.as_str()),
        );
    }
    if let Some(names) = &req.subscribed_topic_names {
        let denied: Vec<&str> = names
            .iter()
            .map(|t| t.0.as_str())
            .filter(|t| !authz::topic(broker, ctx, Op::Describe, t))
            .collect();
        if !denied.is_empty() {
            return error(
                KafkaError::TopicAuthorizationFailed.code(),
                format!("The group is not authorized to access topics: {denied:?}"),
            );
        }
    }
    let domain = to_domain(broker, ctx, req);
    to_wire(
        broker
            .groups
            .share_heartbeat(domain, &Topics(&broker.metadata))
            .await,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BytesMut;
    use kafka_protocol::protocol::Encodable;
    use uuid::Uuid;

    use crate::group::GroupError;

    #[test]
    fn success_carries_member_and_assignment() {
        let r = to_wire(ShareHeartbeatResponse {
            error: None,
            member_id: "m".into(),
            member_epoch: 3,
            heartbeat_interval_ms: 5000,
            assignment: Some(vec![(Uuid::from_u128(7), vec![0, 2])]),
        });
        assert_eq!(r.error_code, 0);
        assert_eq!(r.member_id.as_deref(), Some("m"));
        assert_eq!(r.member_epoch, 3);
        let a = r.assignment.clone().unwrap();
        assert_eq!(a.topic_partitions[0].topic_id, Uuid::from_u128(7));
        assert_eq!(a.topic_partitions[0].partitions, vec![0, 2]);
        r.encode(&mut BytesMut::new(), 1).unwrap();
    }

    #[test]
    fn errors_carry_code_and_message_without_member() {
        let r = to_wire(ShareHeartbeatResponse::error(
            GroupError::WrongGroupType {
                group: "g".into(),
                kind: "share",
            },
            "",
            0,
        ));
        assert_eq!(r.error_code, 69);
        assert_eq!(
            r.error_message.as_deref(),
            Some("Group g is not a share group.")
        );
        assert_eq!(r.member_id, None);
        r.encode(&mut BytesMut::new(), 1).unwrap();
    }
}
