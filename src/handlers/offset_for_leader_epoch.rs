//! OffsetForLeaderEpoch (key 23): the end offset of a leader epoch, from each partition's
//! leader epoch cache. Consumers use it to detect log truncation after a leader change;
//! a wrong answer makes them truncate or reset, so the answer comes from the epochs the
//! log actually recorded at append time.

use std::sync::Arc;

use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::authz::{self, Op};
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::KafkaError;

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let mut topics = Vec::with_capacity(req.topics.len());
    // Kafka: a follower (replica id set, v3+) needs CLUSTER_ACTION, a client DESCRIBE.
    let follower = req.replica_id.0 >= 0;
    let follower_ok = follower && authz::authorize_cluster(broker, ctx, Op::ClusterAction);
    for t in req.topics {
        let allowed = if follower {
            follower_ok
        } else {
            authz::topic(broker, ctx, Op::Describe, t.topic.as_str())
        };
        let mut parts = Vec::with_capacity(t.partitions.len());
        for p in t.partitions {
            let mut r = EpochEndOffset::default()
                .with_partition(p.partition)
                .with_leader_epoch(-1)
                .with_end_offset(-1);
            if !allowed {
                r.error_code = KafkaError::TopicAuthorizationFailed.code();
                parts.push(r);
                continue;
            }
            match broker
                .replicas
                .leader(t.topic.as_str(), p.partition, p.current_leader_epoch)
            {
                Ok(part) => {
                    let (epoch, end) = part.log.end_offset_for_epoch(p.leader_epoch);
                    r.leader_epoch = epoch;
                    r.end_offset = end;
                }
                Err(e) => r.error_code = e.kafka_code(),
            }
            parts.push(r);
        }
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(t.topic)
                .with_partitions(parts),
        );
    }
    OffsetForLeaderEpochResponse::default().with_topics(topics)
}
