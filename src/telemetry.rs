//! Logs and metrics.
//!
//! Logging: a `tracing` subscriber, human-readable by default or JSON lines, filtered by
//! `RUST_LOG` or the configured level. Every request runs in a debug-level span carrying
//! api, version, correlation id and client id.
//!
//! Metrics: every Prometheus family the broker exports is defined here, in one registry.
//! Label values come from closed sets (API names, error codes) so cardinality stays bounded;
//! the per-partition families can be switched off in config.
//!
//! Two kinds of family live here. Event families (requests, bytes, records, fsyncs) are
//! counted on the request path. State families (log offsets and sizes, consumer group lag,
//! group state, store size) are computed at scrape time by [`StateCollector`] from a
//! [`StateSource`] snapshot: no background task, and a scrape always sees current values.
//! The source is installed once the broker has recovered ([`Metrics::install_state_source`]);
//! before that the state families are simply absent.
//!
//! State families (gauges). Per partition — off with `telemetry.per_partition_metrics =
//! false`: `runnel_partition_{log_start_offset,log_end_offset,high_watermark,size_bytes}`
//! {topic,partition}, `runnel_consumer_group_{lag,committed_offset}` {group,topic,partition}.
//! Always: `runnel_consumer_group_total_lag`, `runnel_consumer_group_members` {group},
//! `runnel_consumer_group_state` {group,state} (1 for the current state, 0 for the others),
//! `runnel_partitions`, `runnel_consumer_groups`, `runnel_store_size_bytes`,
//! `runnel_under_replicated_partitions` (partitions this broker leads whose ISR is smaller
//! than their replica set, Kafka's UnderReplicatedPartitions; 0 on a single broker), and the
//! counter `runnel_log_scrub_damage_total` (damage found by the log scrubber), and the log
//! cleaner's counters `runnel_log_cleaner_{passes,read_bytes,written_bytes,records_removed,
//! errors}_total` (per compacted partition, with the per-partition families:
//! `runnel_log_cleaner_dirty_ratio` and `runnel_log_cleaner_seconds_since_last_clean`
//! {topic,partition}), and the transaction coordinator's counters
//! `runnel_transactions_{committed,aborted,timed_out,fenced}_total`,
//! `runnel_transaction_markers_written_total`, `runnel_transaction_marker_retries_total` and
//! the gauge `runnel_transactions_open`. Group ids are
//! client-chosen strings, so per-group series grow with the number of groups (as in Kafka's
//! own exporters); they are not switched off with the per-partition families.
//!
//! Per-topic event families ([`TopicMetrics`], Kafka's `BrokerTopicMetrics`), labelled
//! {topic}: `runnel_topic_{bytes_in,bytes_out,records_in}_total`,
//! `runnel_topic_{produce,fetch}_requests_total` and
//! `runnel_topic_failed_{produce,fetch}_requests_total`. Requests count per partition of a
//! request, as Kafka counts them. Only topics that exist get series (an unknown topic name in a
//! request creates none), and a deleted topic's series are removed, so cardinality is bounded
//! by the topics the broker holds.

use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{
    GaugeVec, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry,
};

use crate::config::TelemetryConfig;
use crate::kafka_error::{self, KafkaError};

pub mod levels;

/// Installs the global tracing subscriber, with a reloadable filter so log levels can change
/// at runtime ([`levels`], the BROKER_LOGGER config resource).
pub fn init_logging(cfg: &TelemetryConfig) {
    let mut base = std::env::var("RUST_LOG").unwrap_or_else(|_| cfg.log_level.clone());
    // The Raft engine narrates every election and snapshot at INFO; the controller logs the
    // events that matter itself. A filter that names openraft is taken as it is.
    if !base.contains("openraft") {
        base.push_str(",openraft=warn");
    }
    let filter = tracing_subscriber::EnvFilter::try_new(&base)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&cfg.log_level));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false);
    // A second init (tests) is harmless: keep the first subscriber (and its reload handle).
    if cfg.log_json {
        let b = builder.json().with_filter_reloading();
        let h = b.reload_handle();
        if b.try_init().is_ok() {
            levels::install(&base, Some(Box::new(move |f: &str| reload(&h, f))));
        }
    } else {
        let b = builder.with_filter_reloading();
        let h = b.reload_handle();
        if b.try_init().is_ok() {
            levels::install(&base, Some(Box::new(move |f: &str| reload(&h, f))));
        }
    }
}

fn reload<S>(
    h: &tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, S>,
    filter: &str,
) -> Result<(), String> {
    let f = tracing_subscriber::EnvFilter::try_new(filter).map_err(|e| e.to_string())?;
    h.reload(f).map_err(|e| e.to_string())
}

/// The broker's metric families.
pub struct Metrics {
    pub registry: Registry,
    /// Requests handled, by API name and response error code ("0" for success).
    pub requests: IntCounterVec,
    /// Request latency from decode to encoded response, by API name.
    pub request_seconds: HistogramVec,
    /// Bytes of request frames read.
    pub bytes_in: IntCounter,
    /// Bytes of response frames written.
    pub bytes_out: IntCounter,
    /// Records appended by Produce (from batch headers, no per-record work).
    pub records_in: IntCounter,
    /// Records served by Fetch (from batch headers).
    pub records_out: IntCounter,
    /// Open client connections.
    pub connections: IntGauge,
    /// Connections closed because of a framing or decoding error.
    pub protocol_errors: IntCounter,
    /// Reply bytes held in memory, not yet written (fetched record batches are not: they
    /// are sent from the page cache).
    pub response_bytes_in_flight: IntGauge,
    /// Connections closed on accept, by reason (`max_connections`, `per_ip_limit`).
    pub connections_rejected: IntCounterVec,
    /// Connections closed by a timeout, by reason (`idle`, `frame`).
    pub connections_timed_out: IntCounterVec,
    /// TLS handshakes that failed or timed out, by listener name.
    pub tls_handshake_failures: IntCounterVec,
    /// HTTP connections closed before sending a request head, to make room for new ones.
    pub http_connections_evicted: IntCounter,
    /// Console and API requests refused for want of valid credentials, by reason:
    /// `missing` (no `Authorization` header: a browser's first request, a scanner) or
    /// `invalid` (a wrong token, user or password, or a malformed header).
    pub http_auth_failures: IntCounterVec,
    /// fsync calls on partition logs and their duration.
    pub fsync_seconds: Histogram,
    /// Fetch requests by session kind: `full` (may open a session), `incremental`,
    /// `sessionless` (Fetch < v7, epoch -1, or a session that was just closed).
    pub fetch_requests: IntCounterVec,
    /// Live incremental fetch sessions (Kafka: NumIncrementalFetchSessions).
    pub fetch_sessions: IntGauge,
    /// Partitions held by all fetch sessions (Kafka: NumIncrementalFetchPartitionsCached).
    pub fetch_session_partitions: IntGauge,
    /// Fetch sessions evicted to make room for new ones.
    pub fetch_session_evictions: IntCounter,
    /// SASL authentications by mechanism (`PLAIN`, `SCRAM-SHA-256`, `SCRAM-SHA-512`, or
    /// `unsupported` for a refused SaslHandshake) and result (`success`, `failure`).
    pub sasl_authentications: IntCounterVec,
    /// Per-topic traffic (Kafka's BrokerTopicMetrics).
    pub topics: TopicMetrics,
    /// Share groups (KIP-932), see [`ShareMetrics`].
    pub share: ShareMetrics,
}

/// Share-group delivery counters (KIP-932); label values come from closed sets.
#[derive(Clone)]
pub struct ShareMetrics {
    /// Records acknowledged, by type (`gap`, `accept`, `release`, `reject`).
    pub acknowledgements: IntCounterVec,
    /// Records acquired again after an earlier delivery (delivery count > 1).
    pub redeliveries: IntCounter,
    /// Records whose acquisition lock expired (made available again or archived).
    pub lock_expiries: IntCounter,
    /// Records archived because they reached `share.delivery.count.limit`.
    pub archived_at_limit: IntCounter,
    /// Records currently acquired (in-flight deliveries) over all share-partitions.
    pub acquired_records: IntGauge,
    /// Live share sessions.
    pub sessions: IntGauge,
    /// Share-partitions held in memory.
    pub partitions: IntGauge,
}

impl ShareMetrics {
    fn new() -> ShareMetrics {
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).unwrap_or_else(|e| unreachable_metric(e))
        };
        let gauge = |name: &str, help: &str| {
            IntGauge::new(name, help).unwrap_or_else(|e| unreachable_metric(e))
        };
        ShareMetrics {
            acknowledgements: IntCounterVec::new(
                Opts::new(
                    "runnel_share_acknowledgements_total",
                    "Share-group records acknowledged, by type (gap, accept, release, reject)",
                ),
                &["type"],
            )
            .unwrap_or_else(|e| unreachable_metric(e)),
            redeliveries: counter(
                "runnel_share_redeliveries_total",
                "Share-group records acquired again after an earlier delivery",
            ),
            lock_expiries: counter(
                "runnel_share_lock_expiries_total",
                "Share-group records whose acquisition lock expired",
            ),
            archived_at_limit: counter(
                "runnel_share_archived_at_delivery_limit_total",
                "Share-group records archived at share.delivery.count.limit",
            ),
            acquired_records: gauge(
                "runnel_share_acquired_records",
                "Share-group records currently acquired (in flight)",
            ),
            sessions: gauge("runnel_share_sessions", "Live share sessions"),
            partitions: gauge("runnel_share_partitions", "Share-partitions held in memory"),
        }
    }

    fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.acknowledgements.clone()),
            Box::new(self.redeliveries.clone()),
            Box::new(self.lock_expiries.clone()),
            Box::new(self.archived_at_limit.clone()),
            Box::new(self.acquired_records.clone()),
            Box::new(self.sessions.clone()),
            Box::new(self.partitions.clone()),
        ]
    }
}

/// The Produce errors Kafka (`ReplicaManager.appendToLocalLog`) leaves out of
/// `failed_produce_requests`: those a healthy broker answers in normal operation.
const PRODUCE_ERRORS_NOT_FAILED: [KafkaError; 6] = [
    KafkaError::UnknownTopicOrPartition,
    KafkaError::NotLeaderOrFollower,
    KafkaError::MessageTooLarge,
    KafkaError::RecordListTooLarge,
    KafkaError::CorruptMessage,
    KafkaError::KafkaStorageError,
];

/// The Fetch errors Kafka (`ReplicaManager.readFromLog`) leaves out of
/// `failed_fetch_requests`; every other counts, OFFSET_OUT_OF_RANGE from a consumer included.
const FETCH_ERRORS_NOT_FAILED: [KafkaError; 7] = [
    KafkaError::UnknownTopicOrPartition,
    KafkaError::NotLeaderOrFollower,
    KafkaError::ReplicaNotAvailable,
    KafkaError::KafkaStorageError,
    KafkaError::FencedLeaderEpoch,
    KafkaError::UnknownLeaderEpoch,
    KafkaError::InconsistentTopicId,
];

/// Whether a partition's Produce error counts in `failed_produce_requests`.
fn produce_error_counts_as_failed(code: i16) -> bool {
    code != kafka_error::NONE && !PRODUCE_ERRORS_NOT_FAILED.iter().any(|e| e.code() == code)
}

/// Whether a partition's Fetch error counts in `failed_fetch_requests`.
fn fetch_error_counts_as_failed(code: i16) -> bool {
    code != kafka_error::NONE && !FETCH_ERRORS_NOT_FAILED.iter().any(|e| e.code() == code)
}

/// Per-topic traffic counters, like Kafka's `BrokerTopicMetrics` (see the module header).
/// Callers pass only names of topics that exist.
pub struct TopicMetrics {
    bytes_in: IntCounterVec,
    bytes_out: IntCounterVec,
    records_in: IntCounterVec,
    produce_requests: IntCounterVec,
    fetch_requests: IntCounterVec,
    failed_produce_requests: IntCounterVec,
    failed_fetch_requests: IntCounterVec,
}

impl TopicMetrics {
    fn new() -> TopicMetrics {
        let vec = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["topic"])
                .unwrap_or_else(|e| unreachable_metric(e))
        };
        TopicMetrics {
            bytes_in: vec(
                "runnel_topic_bytes_in_total",
                "Bytes of record batches appended to the topic by Produce",
            ),
            bytes_out: vec(
                "runnel_topic_bytes_out_total",
                "Bytes of record batches of the topic served by Fetch",
            ),
            records_in: vec(
                "runnel_topic_records_in_total",
                "Records appended to the topic by Produce",
            ),
            produce_requests: vec(
                "runnel_topic_produce_requests_total",
                "Produce requests for the topic, counted per partition",
            ),
            fetch_requests: vec(
                "runnel_topic_fetch_requests_total",
                "Fetch requests for the topic, counted per partition",
            ),
            failed_produce_requests: vec(
                "runnel_topic_failed_produce_requests_total",
                "Produce requests for the topic answered with an error, per partition",
            ),
            failed_fetch_requests: vec(
                "runnel_topic_failed_fetch_requests_total",
                "Fetch requests for the topic answered with an error, per partition",
            ),
        }
    }

    fn collectors(&self) -> [&IntCounterVec; 7] {
        [
            &self.bytes_in,
            &self.bytes_out,
            &self.records_in,
            &self.produce_requests,
            &self.fetch_requests,
            &self.failed_produce_requests,
            &self.failed_fetch_requests,
        ]
    }

    /// One partition of a Produce request for `topic`, answered with `error_code`.
    pub fn produce(&self, topic: &str, error_code: i16) {
        self.produce_requests.with_label_values(&[topic]).inc();
        // Created at 0 with the first request, so dashboards see a series before a failure.
        let failed = self.failed_produce_requests.with_label_values(&[topic]);
        if produce_error_counts_as_failed(error_code) {
            failed.inc();
        }
    }

    /// A partition already counted by [`TopicMetrics::produce`] as a success failed later
    /// (its flush), with `error_code`.
    pub fn produce_failed(&self, topic: &str, error_code: i16) {
        if produce_error_counts_as_failed(error_code) {
            self.failed_produce_requests
                .with_label_values(&[topic])
                .inc();
        }
    }

    /// A batch of `bytes` holding `records` records was appended to `topic`.
    pub fn appended(&self, topic: &str, bytes: u64, records: u64) {
        self.bytes_in.with_label_values(&[topic]).inc_by(bytes);
        self.records_in.with_label_values(&[topic]).inc_by(records);
    }

    /// One partition of a Fetch response for `topic`: `bytes` of records, `error_code`.
    pub fn fetch(&self, topic: &str, bytes: u64, error_code: i16) {
        self.fetch_requests.with_label_values(&[topic]).inc();
        let failed = self.failed_fetch_requests.with_label_values(&[topic]);
        if fetch_error_counts_as_failed(error_code) {
            failed.inc();
        }
        self.bytes_out.with_label_values(&[topic]).inc_by(bytes);
    }

    /// Drops every series of a deleted topic.
    pub fn remove_topic(&self, topic: &str) {
        for c in self.collectors() {
            // Absent series (a topic that saw no traffic) are not an error worth reporting.
            let _ = c.remove_label_values(&[topic]);
        }
    }
}

impl Metrics {
    /// Creates and registers every family.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("runnel_requests_total", "Kafka requests handled"),
            &["api", "error_code"],
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        let request_seconds = HistogramVec::new(
            HistogramOpts::new(
                "runnel_request_duration_seconds",
                "Time from request decode to encoded response",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["api"],
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).unwrap_or_else(|e| unreachable_metric(e))
        };
        let bytes_in = counter("runnel_request_bytes_total", "Bytes of request frames read");
        let bytes_out = counter(
            "runnel_response_bytes_total",
            "Bytes of response frames written",
        );
        let records_in = counter("runnel_records_in_total", "Records appended by Produce");
        let records_out = counter("runnel_records_out_total", "Records served by Fetch");
        let protocol_errors = counter(
            "runnel_protocol_errors_total",
            "Connections closed for framing or decoding errors",
        );
        let connections = IntGauge::new("runnel_connections_active", "Open client connections")
            .unwrap_or_else(|e| unreachable_metric(e));
        let response_bytes_in_flight = IntGauge::new(
            "runnel_response_bytes_in_flight",
            "Response bytes held in memory for replies not yet written",
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        let reason_counter = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["reason"])
                .unwrap_or_else(|e| unreachable_metric(e))
        };
        let connections_rejected = reason_counter(
            "runnel_connections_rejected_total",
            "Connections closed on accept, by reason",
        );
        let connections_timed_out = reason_counter(
            "runnel_connections_timed_out_total",
            "Connections closed by the idle or frame timeout, by reason",
        );
        let tls_handshake_failures = IntCounterVec::new(
            Opts::new(
                "runnel_tls_handshake_failures_total",
                "TLS handshakes that failed or timed out, by listener",
            ),
            &["listener"],
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        let http_connections_evicted = counter(
            "runnel_http_connections_evicted_total",
            "HTTP connections closed before their request head to make room for new ones",
        );
        let http_auth_failures = reason_counter(
            "runnel_http_auth_failures_total",
            "Console and API requests refused for want of valid credentials, by reason",
        );
        let fsync_seconds = Histogram::with_opts(
            HistogramOpts::new(
                "runnel_fsync_duration_seconds",
                "Partition log fsync latency",
            )
            .buckets(vec![
                0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
            ]),
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        let fetch_requests = IntCounterVec::new(
            Opts::new(
                "runnel_fetch_requests_total",
                "Fetch requests by session kind (full, incremental, sessionless)",
            ),
            &["kind"],
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        let gauge = |name: &str, help: &str| {
            IntGauge::new(name, help).unwrap_or_else(|e| unreachable_metric(e))
        };
        let fetch_sessions = gauge("runnel_fetch_sessions", "Live incremental fetch sessions");
        let fetch_session_partitions = gauge(
            "runnel_fetch_session_partitions",
            "Partitions held by incremental fetch sessions",
        );
        let fetch_session_evictions = counter(
            "runnel_fetch_session_evictions_total",
            "Incremental fetch sessions evicted to make room for new ones",
        );
        let sasl_authentications = IntCounterVec::new(
            Opts::new(
                "runnel_sasl_authentications_total",
                "SASL authentications by mechanism and result (success, failure)",
            ),
            &["mechanism", "result"],
        )
        .unwrap_or_else(|e| unreachable_metric(e));
        let m = Metrics {
            registry,
            requests,
            request_seconds,
            bytes_in,
            bytes_out,
            records_in,
            records_out,
            connections,
            protocol_errors,
            response_bytes_in_flight,
            connections_rejected,
            connections_timed_out,
            tls_handshake_failures,
            http_connections_evicted,
            http_auth_failures,
            fsync_seconds,
            fetch_requests,
            fetch_sessions,
            fetch_session_partitions,
            fetch_session_evictions,
            sasl_authentications,
            topics: TopicMetrics::new(),
            share: ShareMetrics::new(),
        };
        let collectors: Vec<Box<dyn prometheus::core::Collector>> = vec![
            Box::new(m.requests.clone()),
            Box::new(m.request_seconds.clone()),
            Box::new(m.bytes_in.clone()),
            Box::new(m.bytes_out.clone()),
            Box::new(m.records_in.clone()),
            Box::new(m.records_out.clone()),
            Box::new(m.connections.clone()),
            Box::new(m.protocol_errors.clone()),
            Box::new(m.response_bytes_in_flight.clone()),
            Box::new(m.connections_rejected.clone()),
            Box::new(m.connections_timed_out.clone()),
            Box::new(m.tls_handshake_failures.clone()),
            Box::new(m.http_connections_evicted.clone()),
            Box::new(m.http_auth_failures.clone()),
            Box::new(m.fsync_seconds.clone()),
            Box::new(m.fetch_requests.clone()),
            Box::new(m.fetch_sessions.clone()),
            Box::new(m.fetch_session_partitions.clone()),
            Box::new(m.fetch_session_evictions.clone()),
            Box::new(m.sasl_authentications.clone()),
        ];
        let topic_collectors = m
            .topics
            .collectors()
            .map(|c| Box::new(c.clone()) as Box<dyn prometheus::core::Collector>);
        let collectors = collectors
            .into_iter()
            .chain(topic_collectors)
            .chain(m.share.collectors());
        for c in collectors {
            if let Err(e) = m.registry.register(c) {
                unreachable_metric(e);
            }
        }
        m
    }
}

impl Metrics {
    /// Registers the scrape-time state families, reading from `source` on every scrape.
    /// Called once, when the broker has recovered; a second call is refused by the registry
    /// (duplicate descriptors) and reported as an error.
    pub fn install_state_source(
        &self,
        source: Arc<dyn StateSource>,
        per_partition: bool,
    ) -> Result<(), prometheus::Error> {
        self.registry
            .register(Box::new(StateCollector::new(source, per_partition)))
    }

    /// The whole registry in the Prometheus text exposition format (version 0.0.4).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if let Err(e) =
            prometheus::TextEncoder::new().encode_utf8(&self.registry.gather(), &mut out)
        {
            tracing::warn!(error = %e, "encoding metrics");
        }
        out
    }
}

/// One partition's log, as sampled at scrape time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionSample {
    pub topic: String,
    pub partition: i32,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
    pub high_watermark: i64,
    pub size_bytes: u64,
}

/// One committed offset of a group, with the partition's log end offset for the lag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupOffsetSample {
    pub topic: String,
    pub partition: i32,
    pub committed: i64,
    /// None when the partition no longer exists (topic deleted): no lag is exported.
    pub log_end_offset: Option<i64>,
}

impl GroupOffsetSample {
    /// Kafka's definition (`kafka-consumer-groups`): log end offset − committed offset,
    /// never negative (a committed offset past the end after a truncation reads as 0).
    pub fn lag(&self) -> Option<i64> {
        self.log_end_offset.map(|end| (end - self.committed).max(0))
    }
}

/// One consumer group, as sampled at scrape time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSample {
    pub group: String,
    /// Kafka's state name: Empty, PreparingRebalance, CompletingRebalance, Stable, Dead.
    pub state: String,
    pub members: usize,
    pub offsets: Vec<GroupOffsetSample>,
}

/// Everything the state families need, taken in one pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StateSample {
    pub partitions: Vec<PartitionSample>,
    pub groups: Vec<GroupSample>,
    pub store_size_bytes: u64,
    /// Damaged sealed segments and offset indexes the log scrubber has found since start-up.
    pub scrub_damage: u64,
    /// Partitions led here whose ISR is smaller than their replica set.
    pub under_replicated: u64,
    /// The log cleaner's counters and per-partition state.
    pub cleaner: CleanerSample,
    /// The transaction coordinator (all zero in a cluster, which has none yet).
    pub txn: TxnSample,
}

/// The transaction coordinator, as sampled at scrape time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TxnSample {
    pub committed: u64,
    pub aborted: u64,
    pub timed_out: u64,
    pub fenced: u64,
    pub markers_written: u64,
    pub marker_retries: u64,
    /// Transactions open now (Ongoing, or their markers being written).
    pub open: u64,
}

/// The log cleaner, as sampled at scrape time.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanerSample {
    pub passes: u64,
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_removed: u64,
    pub errors: u64,
    /// Per compacted partition: topic, partition, dirty ratio, seconds since its last pass
    /// (None before the first).
    pub partitions: Vec<(String, i32, f64, Option<f64>)>,
}

/// Where scrape-time state comes from (the broker; a fixed sample in tests). Implementations
/// must be cheap and must not block on I/O beyond reading in-memory counters: a scrape runs
/// on a blocking thread but should still finish in milliseconds.
pub trait StateSource: Send + Sync {
    /// A snapshot; `per_partition` false means the caller will not export per-partition
    /// families, so the source may skip gathering offsets per partition.
    fn sample(&self, per_partition: bool) -> StateSample;
}

/// The group states Kafka defines; `runnel_consumer_group_state` exports one series per
/// group with the current state's label set to 1 (the usual "enum as gauge" shape), so the
/// label set stays closed.
pub const GROUP_STATES: [&str; 5] = [
    "Empty",
    "PreparingRebalance",
    "CompletingRebalance",
    "Stable",
    "Dead",
];

/// Computes the state families at scrape time (see the module header).
pub struct StateCollector {
    source: Arc<dyn StateSource>,
    per_partition: bool,
    /// Prototypes: they supply the descriptors and the options for each scrape's fresh vecs.
    families: StateFamilies,
}

struct StateFamilies {
    log_start: IntGaugeVec,
    log_end: IntGaugeVec,
    high_watermark: IntGaugeVec,
    size: IntGaugeVec,
    group_lag: IntGaugeVec,
    group_committed: IntGaugeVec,
    group_total_lag: IntGaugeVec,
    group_state: IntGaugeVec,
    group_members: IntGaugeVec,
    partitions: IntGauge,
    groups: IntGauge,
    store_size: IntGauge,
    scrub_damage: IntCounter,
    under_replicated: IntGauge,
    cleaner_passes: IntCounter,
    cleaner_read: IntCounter,
    cleaner_written: IntCounter,
    cleaner_removed: IntCounter,
    cleaner_errors: IntCounter,
    cleaner_dirty_ratio: GaugeVec,
    cleaner_since_clean: GaugeVec,
    txn_committed: IntCounter,
    txn_aborted: IntCounter,
    txn_timed_out: IntCounter,
    txn_fenced: IntCounter,
    txn_markers: IntCounter,
    txn_marker_retries: IntCounter,
    txn_open: IntGauge,
}

impl StateFamilies {
    fn new() -> StateFamilies {
        let vec = |name: &str, help: &str, labels: &[&str]| {
            IntGaugeVec::new(Opts::new(name, help), labels)
                .unwrap_or_else(|e| unreachable_metric(e))
        };
        let gauge = |name: &str, help: &str| {
            IntGauge::new(name, help).unwrap_or_else(|e| unreachable_metric(e))
        };
        let counter = |name: &str, help: &str| {
            IntCounter::new(name, help).unwrap_or_else(|e| unreachable_metric(e))
        };
        let fvec = |name: &str, help: &str, labels: &[&str]| {
            GaugeVec::new(Opts::new(name, help), labels).unwrap_or_else(|e| unreachable_metric(e))
        };
        let tp = &["topic", "partition"];
        let gtp = &["group", "topic", "partition"];
        StateFamilies {
            log_start: vec(
                "runnel_partition_log_start_offset",
                "First offset still in the partition log",
                tp,
            ),
            log_end: vec(
                "runnel_partition_log_end_offset",
                "Offset the next appended record will get",
                tp,
            ),
            high_watermark: vec(
                "runnel_partition_high_watermark",
                "Last offset visible to consumers, plus one",
                tp,
            ),
            size: vec(
                "runnel_partition_size_bytes",
                "Bytes of segment files of the partition log",
                tp,
            ),
            group_lag: vec(
                "runnel_consumer_group_lag",
                "Log end offset minus committed offset, in records",
                gtp,
            ),
            group_committed: vec(
                "runnel_consumer_group_committed_offset",
                "Committed offset of a group for a partition",
                gtp,
            ),
            group_total_lag: vec(
                "runnel_consumer_group_total_lag",
                "Sum of the group's lag over all partitions it has committed offsets for",
                &["group"],
            ),
            group_state: vec(
                "runnel_consumer_group_state",
                "1 for the group's current state",
                &["group", "state"],
            ),
            group_members: vec(
                "runnel_consumer_group_members",
                "Members of the consumer group",
                &["group"],
            ),
            partitions: gauge("runnel_partitions", "Partitions hosted by this broker"),
            groups: gauge(
                "runnel_consumer_groups",
                "Consumer groups known to the coordinator",
            ),
            store_size: gauge(
                "runnel_store_size_bytes",
                "Approximate RocksDB metadata store size (SST files and memtables)",
            ),
            cleaner_passes: counter(
                "runnel_log_cleaner_passes_total",
                "Log cleaner passes that compacted a partition since start-up",
            ),
            cleaner_read: counter(
                "runnel_log_cleaner_read_bytes_total",
                "Bytes the log cleaner read since start-up",
            ),
            cleaner_written: counter(
                "runnel_log_cleaner_written_bytes_total",
                "Bytes of cleaned segments the log cleaner wrote since start-up",
            ),
            cleaner_removed: counter(
                "runnel_log_cleaner_records_removed_total",
                "Records the log cleaner removed since start-up",
            ),
            cleaner_errors: counter(
                "runnel_log_cleaner_errors_total",
                "Log cleaner passes that failed (damaged batch, I/O error) since start-up",
            ),
            cleaner_dirty_ratio: fvec(
                "runnel_log_cleaner_dirty_ratio",
                "Dirty bytes / cleanable bytes of a compacted partition",
                tp,
            ),
            cleaner_since_clean: fvec(
                "runnel_log_cleaner_seconds_since_last_clean",
                "Seconds since the log cleaner last compacted the partition",
                tp,
            ),
            scrub_damage: IntCounter::new(
                "runnel_log_scrub_damage_total",
                "Damaged sealed segments and offset indexes found by the log scrubber since start-up",
            )
            .unwrap_or_else(|e| unreachable_metric(e)),
            under_replicated: gauge(
                "runnel_under_replicated_partitions",
                "Partitions this broker leads whose in-sync replicas are fewer than their replicas",
            ),
            txn_committed: counter(
                "runnel_transactions_committed_total",
                "Transactions committed (every marker written) since start-up",
            ),
            txn_aborted: counter(
                "runnel_transactions_aborted_total",
                "Transactions aborted (every marker written) since start-up, timed out and fenced ones included",
            ),
            txn_timed_out: counter(
                "runnel_transactions_timed_out_total",
                "Transactions the coordinator aborted because they were open longer than their timeout",
            ),
            txn_fenced: counter(
                "runnel_transactions_fenced_total",
                "Open transactions aborted because a new producer with the same transactional id started",
            ),
            txn_markers: counter(
                "runnel_transaction_markers_written_total",
                "Commit and abort markers written to partitions and groups",
            ),
            txn_marker_retries: counter(
                "runnel_transaction_marker_retries_total",
                "Marker writes that failed and were retried",
            ),
            txn_open: gauge(
                "runnel_transactions_open",
                "Transactions open now (ongoing, or their markers being written)",
            ),
        }
    }

    fn collectors(&self) -> [&dyn Collector; 28] {
        [
            &self.log_start,
            &self.log_end,
            &self.high_watermark,
            &self.size,
            &self.group_lag,
            &self.group_committed,
            &self.group_total_lag,
            &self.group_state,
            &self.group_members,
            &self.partitions,
            &self.groups,
            &self.store_size,
            &self.scrub_damage,
            &self.under_replicated,
            &self.cleaner_passes,
            &self.cleaner_read,
            &self.cleaner_written,
            &self.cleaner_removed,
            &self.cleaner_errors,
            &self.cleaner_dirty_ratio,
            &self.cleaner_since_clean,
            &self.txn_committed,
            &self.txn_aborted,
            &self.txn_timed_out,
            &self.txn_fenced,
            &self.txn_markers,
            &self.txn_marker_retries,
            &self.txn_open,
        ]
    }
}

impl StateCollector {
    /// A collector reading `source`; per-partition families only when `per_partition`.
    pub fn new(source: Arc<dyn StateSource>, per_partition: bool) -> StateCollector {
        StateCollector {
            source,
            per_partition,
            families: StateFamilies::new(),
        }
    }
}

impl Collector for StateCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.families
            .collectors()
            .into_iter()
            .flat_map(|c| c.desc())
            .collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let sample = self.source.sample(self.per_partition);
        // Fresh vecs per scrape, so series of deleted topics and groups disappear.
        let f = StateFamilies::new();
        f.partitions.set(sample.partitions.len() as i64);
        f.groups.set(sample.groups.len() as i64);
        f.store_size
            .set(i64::try_from(sample.store_size_bytes).unwrap_or(i64::MAX));
        f.scrub_damage.inc_by(sample.scrub_damage);
        f.under_replicated
            .set(i64::try_from(sample.under_replicated).unwrap_or(i64::MAX));
        let t = &sample.txn;
        f.txn_committed.inc_by(t.committed);
        f.txn_aborted.inc_by(t.aborted);
        f.txn_timed_out.inc_by(t.timed_out);
        f.txn_fenced.inc_by(t.fenced);
        f.txn_markers.inc_by(t.markers_written);
        f.txn_marker_retries.inc_by(t.marker_retries);
        f.txn_open.set(i64::try_from(t.open).unwrap_or(i64::MAX));
        let c = &sample.cleaner;
        f.cleaner_passes.inc_by(c.passes);
        f.cleaner_read.inc_by(c.bytes_read);
        f.cleaner_written.inc_by(c.bytes_written);
        f.cleaner_removed.inc_by(c.records_removed);
        f.cleaner_errors.inc_by(c.errors);
        if self.per_partition {
            for (topic, partition, ratio, since) in &c.partitions {
                let idx = partition.to_string();
                let l = [topic.as_str(), idx.as_str()];
                f.cleaner_dirty_ratio.with_label_values(&l).set(*ratio);
                if let Some(s) = since {
                    f.cleaner_since_clean.with_label_values(&l).set(*s);
                }
            }
            for p in &sample.partitions {
                let idx = p.partition.to_string();
                let l = [p.topic.as_str(), idx.as_str()];
                f.log_start.with_label_values(&l).set(p.log_start_offset);
                f.log_end.with_label_values(&l).set(p.log_end_offset);
                f.high_watermark.with_label_values(&l).set(p.high_watermark);
                f.size
                    .with_label_values(&l)
                    .set(i64::try_from(p.size_bytes).unwrap_or(i64::MAX));
            }
        }
        for g in &sample.groups {
            f.group_members
                .with_label_values(&[g.group.as_str()])
                .set(g.members as i64);
            for s in GROUP_STATES {
                f.group_state
                    .with_label_values(&[g.group.as_str(), s])
                    .set(i64::from(g.state == s));
            }
            let mut total = 0i64;
            for o in &g.offsets {
                let lag = o.lag();
                total = total.saturating_add(lag.unwrap_or(0));
                if self.per_partition {
                    let idx = o.partition.to_string();
                    let l = [g.group.as_str(), o.topic.as_str(), idx.as_str()];
                    f.group_committed.with_label_values(&l).set(o.committed);
                    if let Some(lag) = lag {
                        f.group_lag.with_label_values(&l).set(lag);
                    }
                }
            }
            f.group_total_lag
                .with_label_values(&[g.group.as_str()])
                .set(total);
        }
        f.collectors()
            .into_iter()
            .flat_map(|c| c.collect())
            // An empty vec encodes as a bare HELP/TYPE pair; leave such families out.
            .filter(|mf| !mf.get_metric().is_empty())
            .collect()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

/// Metric definitions are static; a failure here is a programming error caught by the
/// unit test below, never by input.
fn unreachable_metric(e: prometheus::Error) -> ! {
    panic!("invalid metric definition: {e}")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The codes Kafka's ReplicaManager leaves out of the failed-request counters, as numbers.
    #[test]
    fn failed_request_counters_skip_kafkas_codes() {
        for code in [0, 2, 3, 6, 10, 18, 56] {
            assert!(!produce_error_counts_as_failed(code), "produce {code}");
        }
        for code in [-1, 1, 9, 42, 47, 87] {
            assert!(produce_error_counts_as_failed(code), "produce {code}");
        }
        for code in [0, 3, 6, 9, 56, 74, 75, 103] {
            assert!(!fetch_error_counts_as_failed(code), "fetch {code}");
        }
        for code in [-1, 1, 2, 10, 42, 100] {
            assert!(fetch_error_counts_as_failed(code), "fetch {code}");
        }
    }

    #[test]
    fn all_families_register_and_encode() {
        let m = Metrics::new();
        m.requests.with_label_values(&["Produce", "0"]).inc();
        let mut out = String::new();
        prometheus::TextEncoder::new()
            .encode_utf8(&m.registry.gather(), &mut out)
            .unwrap();
        assert!(out.contains("runnel_requests_total{api=\"Produce\",error_code=\"0\"} 1"));
    }

    struct Fixed(StateSample);
    impl StateSource for Fixed {
        fn sample(&self, _per_partition: bool) -> StateSample {
            self.0.clone()
        }
    }

    fn sample() -> StateSample {
        StateSample {
            partitions: vec![PartitionSample {
                topic: "orders".into(),
                partition: 0,
                log_start_offset: 0,
                log_end_offset: 10,
                high_watermark: 10,
                size_bytes: 1234,
            }],
            groups: vec![GroupSample {
                group: "billing".into(),
                state: "Stable".into(),
                members: 2,
                offsets: vec![
                    GroupOffsetSample {
                        topic: "orders".into(),
                        partition: 0,
                        committed: 4,
                        log_end_offset: Some(10),
                    },
                    GroupOffsetSample {
                        topic: "gone".into(),
                        partition: 0,
                        committed: 4,
                        log_end_offset: None,
                    },
                ],
            }],
            store_size_bytes: 4096,
            scrub_damage: 2,
            under_replicated: 3,
            cleaner: CleanerSample {
                passes: 4,
                bytes_read: 5000,
                bytes_written: 600,
                records_removed: 70,
                errors: 0,
                partitions: vec![("changelog".into(), 1, 0.25, Some(12.5))],
            },
            txn: TxnSample {
                committed: 9,
                aborted: 2,
                timed_out: 1,
                fenced: 1,
                markers_written: 20,
                marker_retries: 3,
                open: 4,
            },
        }
    }

    #[test]
    fn state_families_render_lag_and_offsets() {
        let m = Metrics::new();
        m.install_state_source(Arc::new(Fixed(sample())), true)
            .unwrap();
        let out = m.render();
        for line in [
            "runnel_partition_log_end_offset{partition=\"0\",topic=\"orders\"} 10",
            "runnel_partition_size_bytes{partition=\"0\",topic=\"orders\"} 1234",
            "runnel_consumer_group_lag{group=\"billing\",partition=\"0\",topic=\"orders\"} 6",
            "runnel_consumer_group_committed_offset{group=\"billing\",partition=\"0\",topic=\"gone\"} 4",
            "runnel_consumer_group_total_lag{group=\"billing\"} 6",
            "runnel_consumer_group_state{group=\"billing\",state=\"Stable\"} 1",
            "runnel_consumer_group_state{group=\"billing\",state=\"Empty\"} 0",
            "runnel_consumer_group_members{group=\"billing\"} 2",
            "runnel_store_size_bytes 4096",
            "runnel_log_scrub_damage_total 2",
            "runnel_under_replicated_partitions 3",
            "runnel_partitions 1",
            "runnel_log_cleaner_passes_total 4",
            "runnel_log_cleaner_read_bytes_total 5000",
            "runnel_log_cleaner_records_removed_total 70",
            "runnel_log_cleaner_dirty_ratio{partition=\"1\",topic=\"changelog\"} 0.25",
            "runnel_log_cleaner_seconds_since_last_clean{partition=\"1\",topic=\"changelog\"} 12.5",
            "runnel_transactions_committed_total 9",
            "runnel_transactions_aborted_total 2",
            "runnel_transactions_timed_out_total 1",
            "runnel_transactions_fenced_total 1",
            "runnel_transaction_markers_written_total 20",
            "runnel_transaction_marker_retries_total 3",
            "runnel_transactions_open 4",
        ] {
            assert!(out.contains(line), "missing {line} in\n{out}");
        }
        // No lag series for a partition that no longer exists.
        assert!(!out.contains(
            "runnel_consumer_group_lag{group=\"billing\",partition=\"0\",topic=\"gone\"}"
        ));
    }

    #[test]
    fn per_partition_families_can_be_switched_off() {
        let m = Metrics::new();
        m.install_state_source(Arc::new(Fixed(sample())), false)
            .unwrap();
        let out = m.render();
        assert!(!out.contains("runnel_partition_log_end_offset"), "{out}");
        assert!(!out.contains("runnel_consumer_group_lag{"), "{out}");
        assert!(out.contains("runnel_consumer_group_total_lag{group=\"billing\"} 6"));
        assert!(out.contains("runnel_partitions 1"));
    }

    #[test]
    fn second_state_source_is_refused() {
        let m = Metrics::new();
        m.install_state_source(Arc::new(Fixed(sample())), true)
            .unwrap();
        assert!(m
            .install_state_source(Arc::new(Fixed(sample())), true)
            .is_err());
    }

    #[test]
    fn per_topic_families_count_and_are_removed_with_the_topic() {
        let m = Metrics::new();
        m.topics.produce("orders", 0);
        m.topics.appended("orders", 100, 3);
        m.topics.produce("orders", 0);
        // OUT_OF_ORDER_SEQUENCE_NUMBER counts as failed; NOT_LEADER_OR_FOLLOWER does not.
        m.topics.produce("orders", 45);
        m.topics.produce("orders", 6);
        m.topics.fetch("orders", 250, 0);
        m.topics.fetch("orders", 0, 1);
        m.topics.fetch("orders", 0, 74);
        m.topics.produce("audit", 0);
        m.topics.appended("audit", 10, 1);
        let out = m.render();
        for line in [
            "runnel_topic_bytes_in_total{topic=\"orders\"} 100",
            "runnel_topic_records_in_total{topic=\"orders\"} 3",
            "runnel_topic_produce_requests_total{topic=\"orders\"} 4",
            "runnel_topic_failed_produce_requests_total{topic=\"orders\"} 1",
            "runnel_topic_bytes_out_total{topic=\"orders\"} 250",
            "runnel_topic_fetch_requests_total{topic=\"orders\"} 3",
            "runnel_topic_failed_fetch_requests_total{topic=\"orders\"} 1",
            "runnel_topic_bytes_in_total{topic=\"audit\"} 10",
        ] {
            assert!(out.contains(line), "missing {line} in\n{out}");
        }
        m.topics.remove_topic("orders");
        m.topics.remove_topic("never-seen");
        let out = m.render();
        assert!(!out.contains("topic=\"orders\""), "{out}");
        assert!(out.contains("runnel_topic_bytes_in_total{topic=\"audit\"} 10"));
    }

    #[test]
    fn lag_is_never_negative() {
        let o = GroupOffsetSample {
            topic: "t".into(),
            partition: 0,
            committed: 12,
            log_end_offset: Some(10),
        };
        assert_eq!(o.lag(), Some(0));
    }
}
