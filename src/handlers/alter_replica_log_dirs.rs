//! AlterReplicaLogDirs (key 34, v1–2): move partitions between a broker's log directories
//! (`kafka-reassign-partitions` with log dirs, the Java Admin's `alterReplicaLogDirs`).
//!
//! This broker has one log directory, so the only valid destination is that directory, where
//! every partition already lives: as in Kafka's `ReplicaManager.alterReplicaLogDirs`, moving a
//! replica to the directory it is in succeeds without doing anything. Per partition:
//! a path that is not a log directory of this broker → LOG_DIR_NOT_FOUND (57), checked
//! first; a topic or partition it does not host → UNKNOWN_TOPIC_OR_PARTITION (3); otherwise
//! NONE. Entries naming one partition twice collapse (the last destination wins, as Kafka's
//! map does); results are grouped by topic.

use std::collections::BTreeMap;
use std::sync::Arc;

use kafka_protocol::messages::alter_replica_log_dirs_response::{
    AlterReplicaLogDirPartitionResult, AlterReplicaLogDirTopicResult,
};
use kafka_protocol::messages::{
    AlterReplicaLogDirsRequest, AlterReplicaLogDirsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::describe_log_dirs::log_dir_path;
use super::RequestContext;
use crate::broker::Broker;
use crate::kafka_error::{self, KafkaError};

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: AlterReplicaLogDirsRequest,
) -> AlterReplicaLogDirsResponse {
    let our_dir = log_dir_path(broker);
    let mut moves: BTreeMap<(String, i32), bool> = BTreeMap::new();
    for dir in &req.dirs {
        let known_dir = dir.path.as_str() == our_dir;
        for t in &dir.topics {
            for p in &t.partitions {
                moves.insert((t.name.0.to_string(), *p), known_dir);
            }
        }
    }
    // Kafka: ALTER on the cluster, else every partition fails.
    let allowed = authz::authorize_cluster(broker, ctx, Op::Alter);
    let mut by_topic: BTreeMap<String, Vec<AlterReplicaLogDirPartitionResult>> = BTreeMap::new();
    for ((topic, partition), known_dir) in moves {
        let hosted = broker
            .metadata
            .topic(&topic)
            .is_some_and(|t| t.partition(partition).is_some());
        let code = if !allowed {
            KafkaError::ClusterAuthorizationFailed.code()
        } else if !known_dir {
            KafkaError::LogDirNotFound.code()
        } else if !hosted {
            KafkaError::UnknownTopicOrPartition.code()
        } else {
            kafka_error::NONE
        };
        by_topic.entry(topic).or_default().push(
            AlterReplicaLogDirPartitionResult::default()
                .with_partition_index(partition)
                .with_error_code(code),
        );
    }
    AlterReplicaLogDirsResponse::default().with_results(
        by_topic
            .into_iter()
            .map(|(name, partitions)| {
                AlterReplicaLogDirTopicResult::default()
                    .with_topic_name(TopicName(StrBytes::from_string(name)))
                    .with_partitions(partitions)
            })
            .collect(),
    )
}
