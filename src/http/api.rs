//! The console's JSON API, under `/api/`.
//!
//! GET (always available once the broker is attached):
//! - `/api/overview`   cluster id, brokers, counters, counts, whether writes are allowed
//! - `/api/throughput` `now_ms` and the record/byte counters: the page derives rates from deltas
//! - `/api/topics`     topics with partitions, live offsets, sizes and effective configs
//! - `/api/groups`     consumer groups with state, members, assignments, committed offsets, lag
//! - `/api/share-groups` share groups' partitions: start offset, in-flight and acquired
//!   records, lag (KIP-932)
//! - `/api/records?topic=T&partition=P[&offset=O|&timestamp=MS][&limit=N]`
//!   records of a partition up to the high watermark; without offset/timestamp, the last N
//!
//! POST (only with `console.allow_writes`; JSON bodies):
//! - `/api/topics/create`        `{"name", "partitions"?, "configs"?}`
//! - `/api/topics/delete`        `{"name"}` (the controller's delete: logs, record and the
//!   topic's committed offsets, exactly like DeleteTopics)
//! - `/api/groups/reset-offsets` `{"group", "topic", "partition"?, "to": "earliest"|"latest"|N}`
//!
//! Bounds: at most [`MAX_RECORDS`] records per call, at most [`MAX_READ_BYTES`] of log read
//! per call, values cut at 4 KiB (see [`super::records`]).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::records::{decode_batches, RecordRow};
use super::routes::Response;
use super::source;
use super::HttpState;
use crate::broker::{now_ms, Broker};
use crate::cluster::controller::NewTopic;
use crate::group::{CommitRequest, CommittedOffset};
use crate::kafka_error::KafkaError;

/// Most records one `/api/records` call returns.
pub const MAX_RECORDS: usize = 500;
/// Default number of records when `limit` is absent.
pub const DEFAULT_RECORDS: usize = 50;
/// Log bytes read per `PartitionLog::read` call.
const READ_CHUNK: usize = 1 << 20;
/// Log bytes read per `/api/records` call, in total.
pub const MAX_READ_BYTES: usize = 8 << 20;

/// Query parameters in order, percent-decoded.
#[derive(Debug, Clone, Default)]
pub(crate) struct Params(pub(crate) Vec<(String, String)>);

impl Params {
    /// The first value of parameter `name`.
    fn param(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Serves a GET under `/api/`.
pub(crate) async fn get(
    state: &HttpState,
    broker: Arc<Broker>,
    path: &str,
    params: &Params,
) -> Response {
    match path {
        "/api/overview" => {
            let allow_writes = state.allow_writes;
            blocking(move || Response::json(200, &overview(&broker, allow_writes))).await
        }
        "/api/throughput" => Response::json(200, &counters(&broker)),
        "/api/topics" => blocking(move || Response::json(200, &source::topics(&broker))).await,
        "/api/groups" => blocking(move || Response::json(200, &source::groups(&broker))).await,
        "/api/share-groups" => {
            blocking(move || Response::json(200, &source::share_groups(&broker))).await
        }
        "/api/transactions" => Response::json(200, &source::transactions(&broker).await),
        "/api/records" => match RecordsQuery::parse(params) {
            Ok(q) => blocking(move || records(&broker, &q)).await,
            Err(msg) => Response::json_error(400, &msg),
        },
        _ => Response::json_error(404, "no such API"),
    }
}

/// Runs blocking work (file system, RocksDB) off the reactor.
async fn blocking(f: impl FnOnce() -> Response + Send + 'static) -> Response {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or_else(|_| Response::json_error(500, "internal error"))
}

#[derive(Debug, Serialize)]
struct BrokerView {
    node_id: i32,
    host: String,
    port: i32,
    rack: Option<String>,
}

/// The counters the throughput chart is computed from.
#[derive(Debug, Serialize)]
pub(crate) struct Counters {
    now_ms: i64,
    records_in_total: u64,
    records_out_total: u64,
    request_bytes_total: u64,
    response_bytes_total: u64,
    connections_active: i64,
}

fn counters(b: &Broker) -> Counters {
    let m = &b.metrics;
    Counters {
        now_ms: now_ms(),
        records_in_total: m.records_in.get(),
        records_out_total: m.records_out.get(),
        request_bytes_total: m.bytes_in.get(),
        response_bytes_total: m.bytes_out.get(),
        connections_active: m.connections.get(),
    }
}

#[derive(Debug, Serialize)]
struct Overview {
    cluster_id: String,
    controller_id: i32,
    brokers: Vec<BrokerView>,
    version: &'static str,
    ready: bool,
    topics: usize,
    partitions: usize,
    groups: usize,
    store_size_bytes: u64,
    allow_writes: bool,
    per_partition_metrics: bool,
    counters: Counters,
}

fn overview(b: &Broker, allow_writes: bool) -> Overview {
    let topics = b.metadata.topics();
    Overview {
        cluster_id: b.cluster_id(),
        controller_id: b.node.node_id,
        brokers: vec![BrokerView {
            node_id: b.node.node_id,
            host: b.node.host.clone(),
            port: b.node.port,
            rack: b.node.rack.clone(),
        }],
        version: env!("CARGO_PKG_VERSION"),
        ready: b.is_ready(),
        partitions: topics.iter().map(|t| t.partitions.len()).sum(),
        topics: topics.len(),
        groups: b.groups.describe_all().len(),
        store_size_bytes: b.store.size_bytes(),
        allow_writes,
        per_partition_metrics: b.config.telemetry.per_partition_metrics,
        counters: counters(b),
    }
}

/// Where `/api/records` starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Start {
    Offset(i64),
    Timestamp(i64),
    /// The last `limit` records.
    Tail,
}

/// A validated `/api/records` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RecordsQuery {
    topic: String,
    partition: i32,
    start: Start,
    limit: usize,
}

impl RecordsQuery {
    pub(crate) fn parse(req: &Params) -> Result<RecordsQuery, String> {
        let num = |name: &str| -> Result<Option<i64>, String> {
            match req.param(name).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => v
                    .trim()
                    .parse::<i64>()
                    .map(Some)
                    .map_err(|_| format!("{name} must be an integer, got {v:?}")),
            }
        };
        let topic = req
            .param("topic")
            .filter(|t| !t.is_empty())
            .ok_or("topic is required")?
            .to_string();
        let partition = num("partition")?.unwrap_or(0);
        let partition = i32::try_from(partition).map_err(|_| "partition out of range")?;
        let start = match (num("offset")?, num("timestamp")?) {
            (Some(_), Some(_)) => return Err("give offset or timestamp, not both".into()),
            (Some(o), None) => Start::Offset(o),
            (None, Some(t)) if t >= 0 => Start::Timestamp(t),
            (None, Some(_)) => return Err("timestamp must be >= 0 (ms since the epoch)".into()),
            (None, None) => Start::Tail,
        };
        let limit = num("limit")?.unwrap_or(DEFAULT_RECORDS as i64);
        let limit = usize::try_from(limit.clamp(1, MAX_RECORDS as i64)).unwrap_or(DEFAULT_RECORDS);
        Ok(RecordsQuery {
            topic,
            partition,
            start,
            limit,
        })
    }
}

#[derive(Debug, Serialize)]
struct RecordsPage {
    topic: String,
    partition: i32,
    log_start_offset: i64,
    high_watermark: i64,
    /// The first offset looked at (after resolving a timestamp or the tail).
    start_offset: i64,
    /// Where the next page starts.
    next_offset: i64,
    records: Vec<RecordRow>,
    /// Set when a batch could not be decoded or the log could not be read.
    error: Option<String>,
}

fn records(b: &Broker, q: &RecordsQuery) -> Response {
    let Some(log) = b.logs.get(&q.topic, q.partition) else {
        return Response::json_error(
            404,
            &format!("unknown topic or partition {}-{}", q.topic, q.partition),
        );
    };
    let log_start = log.log_start_offset();
    let hw = log.high_watermark();
    let from = match q.start {
        Start::Offset(o) => o.clamp(log_start, hw),
        Start::Tail => (hw - q.limit as i64).max(log_start),
        Start::Timestamp(ts) => match log.offset_for_timestamp(ts) {
            Ok(Some((o, _))) => o.clamp(log_start, hw),
            Ok(None) => hw,
            Err(e) => return Response::json_error(500, &format!("offset for timestamp: {e}")),
        },
    };
    let mut page = RecordsPage {
        topic: q.topic.clone(),
        partition: q.partition,
        log_start_offset: log_start,
        high_watermark: hw,
        start_offset: from,
        next_offset: from,
        records: Vec::new(),
        error: None,
    };
    let mut read = 0usize;
    while page.next_offset < hw && page.records.len() < q.limit && read < MAX_READ_BYTES {
        let pos = page.next_offset;
        let chunk = match log
            .read(pos, READ_CHUNK, true)
            .map(|r| r.records.to_bytes())
        {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => {
                page.error = Some(format!("reading offset {pos}: {e}"));
                break;
            }
            Err(e) => {
                page.error = Some(format!("reading offset {pos}: {e}"));
                break;
            }
        };
        if chunk.is_empty() {
            break;
        }
        read += chunk.len();
        let d = decode_batches(chunk, pos, hw, q.limit - page.records.len());
        page.records.extend(d.rows);
        page.next_offset = d.next_offset.max(pos);
        if d.error.is_some() {
            page.error = d.error;
            break;
        }
        if d.next_offset <= pos {
            break; // no progress: never loop on the same bytes
        }
    }
    Response::json(200, &page)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateTopicBody {
    name: String,
    #[serde(default)]
    partitions: Option<i32>,
    #[serde(default)]
    configs: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeleteTopicBody {
    name: String,
}

/// Where to reset committed offsets to.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum ResetTo {
    Named(String),
    Offset(i64),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ResetOffsetsBody {
    group: String,
    topic: String,
    #[serde(default)]
    partition: Option<i32>,
    to: ResetTo,
}

/// Serves a POST under `/api/` (writes are already known to be allowed).
pub(crate) async fn post(broker: Arc<Broker>, path: &str, body: &[u8]) -> Response {
    match path {
        "/api/topics/create" => {
            let b: CreateTopicBody = match parse_body(body) {
                Ok(b) => b,
                Err(r) => return r,
            };
            blocking(move || {
                let nt = NewTopic {
                    name: b.name,
                    num_partitions: b.partitions.unwrap_or(-1),
                    replication_factor: -1,
                    assignments: Vec::new(),
                    configs: b.configs,
                };
                match broker.controller.create_topic(&nt, false, now_ms()) {
                    Ok(t) => {
                        tracing::info!(topic = %t.name, partitions = t.partitions.len(), "console: topic created");
                        Response::json(
                            201,
                            &serde_json::json!({"name": t.name, "partitions": t.partitions.len()}),
                        )
                    }
                    Err(e) => Response::json_error(topic_status(e.kafka_code()), &e.to_string()),
                }
            })
            .await
        }
        "/api/topics/delete" => {
            let b: DeleteTopicBody = match parse_body(body) {
                Ok(b) => b,
                Err(r) => return r,
            };
            blocking(move || match broker.controller.delete_topic(&b.name) {
                Ok(t) => {
                    tracing::info!(topic = %t.name, "console: topic deleted");
                    Response::json(200, &serde_json::json!({"deleted": t.name}))
                }
                Err(e) => Response::json_error(topic_status(e.kafka_code()), &e.to_string()),
            })
            .await
        }
        "/api/groups/reset-offsets" => {
            let b: ResetOffsetsBody = match parse_body(body) {
                Ok(b) => b,
                Err(r) => return r,
            };
            reset_offsets(broker, b).await
        }
        _ => Response::json_error(404, "no such API"),
    }
}

fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Response> {
    serde_json::from_slice(body)
        .map_err(|e| Response::json_error(400, &format!("bad JSON body: {e}")))
}

/// HTTP status for a Kafka error code from a topic operation.
fn topic_status(code: i16) -> u16 {
    match KafkaError::try_from_code(code) {
        Some(KafkaError::UnknownTopicOrPartition) => 404,
        Some(KafkaError::TopicAlreadyExists) => 409,
        Some(
            KafkaError::InvalidTopicException
            | KafkaError::InvalidPartitions
            | KafkaError::InvalidReplicationFactor
            | KafkaError::InvalidReplicaAssignment
            | KafkaError::InvalidConfig
            | KafkaError::InvalidRequest,
        ) => 400,
        _ => 500,
    }
}

/// Resets a group's committed offsets for one topic (all its partitions, or one), like
/// `kafka-consumer-groups --reset-offsets --execute`: only while the group has no members.
async fn reset_offsets(broker: Arc<Broker>, b: ResetOffsetsBody) -> Response {
    let Some(topic) = broker.metadata.topic(&b.topic) else {
        return Response::json_error(404, &format!("unknown topic {}", b.topic));
    };
    let partitions: Vec<i32> = match b.partition {
        Some(p) if topic.partition(p).is_some() => vec![p],
        Some(p) => return Response::json_error(404, &format!("unknown partition {}-{p}", b.topic)),
        None => topic.partitions.iter().map(|p| p.index).collect(),
    };
    let mut targets = Vec::with_capacity(partitions.len());
    for p in partitions {
        let Some(log) = broker.logs.get(&b.topic, p) else {
            return Response::json_error(404, &format!("no log for {}-{p}", b.topic));
        };
        let (start, end) = (log.log_start_offset(), log.high_watermark());
        let offset = match &b.to {
            ResetTo::Named(s) if s == "earliest" => start,
            ResetTo::Named(s) if s == "latest" => end,
            ResetTo::Named(s) => {
                return Response::json_error(
                    400,
                    &format!("to must be earliest, latest or an offset, got {s:?}"),
                )
            }
            ResetTo::Offset(o) => (*o).clamp(start, end),
        };
        targets.push((p, offset));
    }
    // Kafka's tool refuses non-empty groups; the coordinator would answer UNKNOWN_MEMBER_ID
    // for this simple commit, so say why up front.
    if let Some(g) = broker
        .groups
        .describe_all()
        .into_iter()
        .find(|g| g.group_id == b.group)
    {
        if g.state != "Empty" {
            return Response::json_error(
                409,
                &format!(
                    "group {} is {} with {} member(s): stop its consumers first",
                    b.group,
                    g.state,
                    g.members.len()
                ),
            );
        }
    }
    let req = CommitRequest {
        group_id: b.group.clone(),
        member_id: String::new(),
        generation_id: -1,
        group_instance_id: None,
        offsets: targets
            .iter()
            .map(|&(p, offset)| {
                (
                    b.topic.clone(),
                    p,
                    CommittedOffset {
                        offset,
                        leader_epoch: -1,
                        metadata: String::new(),
                        commit_timestamp_ms: 0,
                    },
                )
            })
            .collect(),
    };
    let failed = match broker.groups.commit_offsets(req).await {
        Ok(results) => results
            .into_iter()
            .find_map(|(t, p, e)| e.map(|e| format!("{t}-{p}: {e}"))),
        Err(e) => Some(e.to_string()),
    };
    if let Some(msg) = failed {
        return Response::json_error(409, &msg);
    }
    tracing::info!(group = %b.group, topic = %b.topic, ?targets, "console: offsets reset");
    Response::json(
        200,
        &serde_json::json!({
            "group": b.group,
            "topic": b.topic,
            "offsets": targets
                .iter()
                .map(|(p, o)| serde_json::json!({"partition": p, "offset": o}))
                .collect::<Vec<_>>(),
        }),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::extract::Query;

    /// The query of `target` as the router extracts it.
    fn req(target: &str) -> Params {
        let uri: axum::http::Uri = target.parse().unwrap();
        Params(
            Query::<Vec<(String, String)>>::try_from_uri(&uri)
                .unwrap()
                .0,
        )
    }

    #[test]
    fn records_query_defaults_and_bounds() {
        let q = RecordsQuery::parse(&req("/api/records?topic=t")).unwrap();
        assert_eq!(q.partition, 0);
        assert_eq!(q.start, Start::Tail);
        assert_eq!(q.limit, DEFAULT_RECORDS);
        let q = RecordsQuery::parse(&req(
            "/api/records?topic=t&partition=3&offset=7&limit=100000",
        ))
        .unwrap();
        assert_eq!(
            (q.partition, q.start.clone(), q.limit),
            (3, Start::Offset(7), MAX_RECORDS)
        );
        let q = RecordsQuery::parse(&req("/api/records?topic=t&timestamp=1700000000000&limit=0"))
            .unwrap();
        assert_eq!(
            (q.start.clone(), q.limit),
            (Start::Timestamp(1_700_000_000_000), 1)
        );
        // Empty form fields count as absent.
        let q = RecordsQuery::parse(&req("/api/records?topic=t&offset=&timestamp=")).unwrap();
        assert_eq!(q.start, Start::Tail);
    }

    #[test]
    fn query_values_are_percent_decoded() {
        let p = req("/api/records?topic=a%2Eb&partition=2&x=a+b&y=%E2%82%AC");
        assert_eq!(p.param("topic"), Some("a.b"));
        assert_eq!(p.param("x"), Some("a b"));
        assert_eq!(p.param("y"), Some("€"));
        assert_eq!(p.param("nope"), None);
    }

    #[test]
    fn records_query_errors() {
        for target in [
            "/api/records",
            "/api/records?topic=",
            "/api/records?topic=t&partition=x",
            "/api/records?topic=t&partition=99999999999",
            "/api/records?topic=t&offset=1&timestamp=2",
            "/api/records?topic=t&timestamp=-5",
        ] {
            assert!(RecordsQuery::parse(&req(target)).is_err(), "{target}");
        }
    }

    #[test]
    fn reset_target_parses_names_and_numbers() {
        let b: ResetOffsetsBody =
            serde_json::from_str(r#"{"group":"g","topic":"t","to":"earliest"}"#).unwrap();
        assert_eq!(b.to, ResetTo::Named("earliest".into()));
        let b: ResetOffsetsBody =
            serde_json::from_str(r#"{"group":"g","topic":"t","partition":1,"to":42}"#).unwrap();
        assert_eq!((b.partition, b.to), (Some(1), ResetTo::Offset(42)));
        assert!(serde_json::from_str::<ResetOffsetsBody>(
            r#"{"group":"g","topic":"t","to":1,"x":1}"#
        )
        .is_err());
    }

    #[test]
    fn topic_errors_map_to_statuses() {
        assert_eq!(topic_status(36), 409);
        assert_eq!(topic_status(3), 404);
        assert_eq!(topic_status(40), 400);
        assert_eq!(topic_status(56), 500);
    }
}
