//! CreateTopics (key 19, v2–7): validate and create topics through the controller.
//!
//! Follows Kafka 4.x (`ControllerApis.createTopics`, `ReplicationControlManager.createTopics`):
//! a name that appears more than once in one request gets a single INVALID_REQUEST result
//! ("Duplicate topic name.") and none of its copies is created; per topic the checks run in
//! Kafka's order — name, existence, null config values (INVALID_CONFIG "Null value not
//! supported for topic configs: a,b"), then partitions/replication/assignments and config
//! values in the controller. -1 partitions / replication factor mean the broker defaults.
//! `validate_only` runs every check and creates nothing. Creation is synchronous, so
//! `timeout_ms` is not needed.
//!
//! v5+ results carry the partition count, replication factor and the topic's effective
//! configs (sources as in DescribeConfigs); v7 the topic id. Failed topics keep the defaults
//! (-1, -1, no configs) and an error message.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::authz::{self, Op};
use super::{blocking, RequestContext};
use crate::broker::{now_ms, Broker};
use crate::cluster::controller::{validate_topic_name, NewTopic};
use crate::cluster::topic_config::{self, BrokerLayers};
use crate::cluster::TopicInfo;
use crate::kafka_error::{self, KafkaError};

/// KRaft's metadata log; Kafka refuses to create a topic by this name.
const CLUSTER_METADATA_TOPIC: &str = "__cluster_metadata";

/// Names that occur more than once.
pub(super) fn duplicate_names<'a>(names: impl IntoIterator<Item = &'a str>) -> HashSet<&'a str> {
    let mut seen = HashSet::new();
    let mut dups = HashSet::new();
    for n in names {
        if !seen.insert(n) {
            dups.insert(n);
        }
    }
    dups
}

/// Converts one request entry into the controller's terms, or the error Kafka gives before
/// the controller would see it.
fn to_new_topic(t: &CreatableTopic) -> Result<NewTopic, (i16, String)> {
    let null_configs: Vec<&str> = t
        .configs
        .iter()
        .filter(|c| c.value.is_none())
        .map(|c| c.name.as_str())
        .collect();
    if !null_configs.is_empty() {
        return Err((
            KafkaError::InvalidConfig.code(),
            format!(
                "Null value not supported for topic configs: {}",
                null_configs.join(",")
            ),
        ));
    }
    // A repeated config key: the last value wins, as in Kafka's map.
    let configs: BTreeMap<String, String> = t
        .configs
        .iter()
        .filter_map(|c| {
            c.value
                .as_ref()
                .map(|v| (c.name.as_str().to_string(), v.as_str().to_string()))
        })
        .collect();
    let mut seen = HashSet::new();
    let mut assignments = Vec::with_capacity(t.assignments.len());
    for a in &t.assignments {
        if !seen.insert(a.partition_index) {
            return Err((
                KafkaError::InvalidReplicaAssignment.code(),
                format!(
                    "Found multiple manual partition assignments for partition {}",
                    a.partition_index
                ),
            ));
        }
        assignments.push((
            a.partition_index,
            a.broker_ids.iter().map(|b| b.0).collect(),
        ));
    }
    Ok(NewTopic {
        name: t.name.as_str().to_string(),
        num_partitions: t.num_partitions,
        replication_factor: t.replication_factor,
        assignments,
        configs,
    })
}

fn error_result(name: TopicName, code: i16, message: String) -> CreatableTopicResult {
    CreatableTopicResult::default()
        .with_name(name)
        .with_error_code(code)
        .with_error_message(Some(StrBytes::from_string(message)))
        .with_num_partitions(-1)
        .with_replication_factor(-1)
        .with_configs(Some(Vec::new()))
}

fn success_result(
    name: TopicName,
    topic: &TopicInfo,
    layers: &BrokerLayers,
) -> CreatableTopicResult {
    let replication_factor = topic
        .partitions
        .first()
        .map_or(1, |p| i16::try_from(p.replicas.len()).unwrap_or(i16::MAX));
    let configs = topic_config::effective(layers, &topic.configs)
        .into_iter()
        .map(|d| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_string(d.name))
                .with_value(Some(StrBytes::from_string(d.value)))
                .with_read_only(d.read_only)
                .with_config_source(d.source.kafka_id())
                .with_is_sensitive(false)
        })
        .collect();
    CreatableTopicResult::default()
        .with_name(name)
        .with_topic_id(topic.id)
        .with_error_code(kafka_error::NONE)
        .with_error_message(None)
        .with_topic_config_error_code(kafka_error::NONE)
        .with_num_partitions(i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX))
        .with_replication_factor(replication_factor)
        .with_configs(Some(configs))
}

pub async fn handle(
    broker: &Arc<Broker>,
    ctx: &RequestContext,
    req: CreateTopicsRequest,
) -> CreateTopicsResponse {
    // Kafka: CREATE on the cluster covers every topic, else CREATE on each topic.
    let cluster_create = authz::authorize_cluster(broker, ctx, Op::Create);
    let dups: HashSet<String> = duplicate_names(req.topics.iter().map(|t| t.name.as_str()))
        .into_iter()
        .map(str::to_string)
        .collect();
    let mut reported = HashSet::new();
    let mut results = Vec::with_capacity(req.topics.len());
    for t in req.topics {
        let name = t.name.as_str().to_string();
        if dups.contains(&name) {
            if reported.insert(name) {
                results.push(error_result(
                    t.name,
                    KafkaError::InvalidRequest.code(),
                    "Duplicate topic name.".into(),
                ));
            }
            continue;
        }
        if !cluster_create && !authz::topic(broker, ctx, Op::Create, &name) {
            results.push(error_result(
                t.name,
                KafkaError::TopicAuthorizationFailed.code(),
                "Authorization failed.".into(),
            ));
            continue;
        }
        let mut result = create_one(broker, t, req.validate_only).await;
        // The configs are shown only to who may describe them (Kafka's rule).
        if result.error_code == kafka_error::NONE
            && !authz::topic(broker, ctx, Op::DescribeConfigs, &name)
        {
            result.topic_config_error_code = KafkaError::TopicAuthorizationFailed.code();
            result.configs = Some(Vec::new());
        }
        results.push(result);
    }
    CreateTopicsResponse::default().with_topics(results)
}

async fn create_one(
    broker: &Arc<Broker>,
    t: CreatableTopic,
    validate_only: bool,
) -> CreatableTopicResult {
    let name = t.name.as_str().to_string();
    if name == CLUSTER_METADATA_TOPIC {
        return error_result(
            t.name,
            KafkaError::InvalidRequest.code(),
            format!("Creation of internal topic {CLUSTER_METADATA_TOPIC} is prohibited."),
        );
    }
    // Name and existence come before config checks in Kafka; the controller repeats both
    // under its lock, so a concurrent create still cannot win twice.
    if let Err(e) = validate_topic_name(&name) {
        return error_result(t.name, e.kafka_code(), e.to_string());
    }
    if broker.metadata.topic(&name).is_some() {
        return error_result(
            t.name,
            KafkaError::TopicAlreadyExists.code(),
            format!("Topic '{name}' already exists."),
        );
    }
    let new_topic = match to_new_topic(&t) {
        Ok(n) => n,
        Err((code, message)) => return error_result(t.name, code, message),
    };
    let controller = broker.controller.clone();
    let outcome =
        blocking(move || controller.create_topic(&new_topic, validate_only, now_ms())).await;
    match outcome {
        Ok(topic) => success_result(t.name, &topic, &broker.controller.broker_layers()),
        Err(e) => {
            tracing::debug!(topic = %name, error = %e, "create topic refused");
            error_result(t.name, e.kafka_code(), e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::create_topics_request::{
        CreatableReplicaAssignment, CreatableTopicConfig,
    };
    use kafka_protocol::messages::BrokerId;

    fn topic(name: &'static str) -> CreatableTopic {
        CreatableTopic::default()
            .with_name(TopicName(StrBytes::from_static_str(name)))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
    }

    fn config(name: &'static str, value: Option<&'static str>) -> CreatableTopicConfig {
        CreatableTopicConfig::default()
            .with_name(StrBytes::from_static_str(name))
            .with_value(value.map(StrBytes::from_static_str))
    }

    #[test]
    fn duplicates_are_found_once() {
        let d = duplicate_names(["a", "b", "a", "c", "a", "b"]);
        assert_eq!(d.len(), 2);
        assert!(d.contains("a") && d.contains("b") && !d.contains("c"));
        assert!(duplicate_names(["x", "y"]).is_empty());
    }

    #[test]
    fn null_config_values_are_invalid_config() {
        let t = topic("t").with_configs(vec![
            config("retention.ms", Some("1")),
            config("segment.bytes", None),
            config("segment.ms", None),
        ]);
        let (code, msg) = to_new_topic(&t).unwrap_err();
        assert_eq!(code, KafkaError::InvalidConfig.code());
        assert_eq!(
            msg,
            "Null value not supported for topic configs: segment.bytes,segment.ms"
        );
    }

    #[test]
    fn configs_and_assignments_convert() {
        let t = topic("t")
            .with_configs(vec![
                config("retention.ms", Some("1")),
                config("retention.ms", Some("2")),
            ])
            .with_assignments(vec![
                CreatableReplicaAssignment::default()
                    .with_partition_index(1)
                    .with_broker_ids(vec![BrokerId(0)]),
                CreatableReplicaAssignment::default()
                    .with_partition_index(0)
                    .with_broker_ids(vec![BrokerId(0)]),
            ]);
        let n = to_new_topic(&t).unwrap();
        assert_eq!(n.configs.get("retention.ms").map(String::as_str), Some("2"));
        assert_eq!(n.assignments, vec![(1, vec![0]), (0, vec![0])]);
        assert_eq!((n.num_partitions, n.replication_factor), (-1, -1));

        let dup = topic("t").with_assignments(vec![
            CreatableReplicaAssignment::default().with_partition_index(0),
            CreatableReplicaAssignment::default().with_partition_index(0),
        ]);
        assert_eq!(
            to_new_topic(&dup).unwrap_err().0,
            KafkaError::InvalidReplicaAssignment.code()
        );
    }

    #[test]
    fn error_results_keep_kafka_defaults() {
        let r = error_result(
            TopicName(StrBytes::from_static_str("t")),
            KafkaError::InvalidRequest.code(),
            "Duplicate topic name.".into(),
        );
        assert_eq!(r.num_partitions, -1);
        assert_eq!(r.replication_factor, -1);
        assert_eq!(r.topic_config_error_code, 0);
        assert_eq!(r.error_message.as_deref(), Some("Duplicate topic name."));
    }
}
