//! Broker configuration: serde structs mirroring `config/runnel.toml`.
//!
//! Precedence, lowest first: built-in defaults, the TOML file (`--config`), `RUNNEL_*`
//! environment variables, command-line flags. Unknown keys in the file are an error
//! (`deny_unknown_fields`), so a typo never silently falls back to a default. The
//! effective configuration is validated once at boot ([`Config::validate`]) and logged.
//! Kafka's own name for a setting is given in each field's doc where one exists.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Everything the broker reads at start-up.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// This broker's node id (`node.id`). Stable across restarts; cluster mode relies on it.
    pub node_id: i32,
    /// Directory for partition logs and the metadata store (`log.dirs`).
    pub data_dir: PathBuf,
    /// Address of the single PLAINTEXT Kafka listener (`listeners`); a shorthand used only
    /// when no `[[listeners]]` are configured.
    pub listen: String,
    /// `host:port` clients are told to connect to (`advertised.listeners`).
    /// Defaults to the listen address, with `0.0.0.0` replaced by `localhost`.
    pub advertised_listener: Option<String>,
    /// Address of the HTTP listener serving `/metrics`, `/healthz`, `/readyz` and the console.
    /// Empty string disables it.
    pub http_listen: String,
    /// The Kafka listeners (`listeners`, `advertised.listeners`,
    /// `listener.security.protocol.map`). When present they are the complete list and
    /// `listen` / `advertised_listener` are not used.
    pub listeners: Vec<ListenerConfig>,
    /// Certificate and key of the SSL and SASL_SSL listeners (`ssl.*`).
    pub tls: TlsConfig,
    /// Authorization (`authorizer.class.name`, `super.users`).
    pub auth: AuthConfig,
    /// Network limits.
    pub network: NetworkConfig,
    /// Default settings for topics created without overrides.
    pub log: LogDefaults,
    /// Consumer group coordinator settings.
    pub group: GroupConfig,
    /// Fetch settings.
    pub fetch: FetchConfig,
    /// The transaction coordinator.
    pub transaction: TransactionConfig,
    /// Logging and metrics.
    pub telemetry: TelemetryConfig,
    /// Web console.
    pub console: ConsoleConfig,
    /// Authentication and TLS of the HTTP listener (console and its API).
    pub http: HttpConfig,
    /// Cluster mode: the controller quorum and this node's part in it. With no voters
    /// configured the broker runs alone, exactly as a single node.
    pub cluster: ClusterConfig,
}

/// One named Kafka listener.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Kafka's listener name (`EXTERNAL`, `INTERNAL`, ...), unique among the listeners.
    pub name: String,
    /// `HOST:PORT` to bind.
    pub address: String,
    /// `HOST:PORT` clients of this listener are told to connect to; default: the address,
    /// with `0.0.0.0` replaced by `localhost`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advertised: Option<String>,
    /// How connections to this listener are secured.
    #[serde(default)]
    pub security_protocol: SecurityProtocol,
    /// SASL mechanisms enabled on a SASL listener (`sasl.enabled.mechanisms`):
    /// `SCRAM-SHA-512`, `SCRAM-SHA-256`, `PLAIN`.
    #[serde(default = "default_sasl_mechanisms")]
    pub sasl_mechanisms: Vec<String>,
}

fn default_sasl_mechanisms() -> Vec<String> {
    vec!["SCRAM-SHA-512".into(), "SCRAM-SHA-256".into()]
}

/// The SASL mechanisms this broker implements.
pub const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

impl ListenerConfig {
    /// The `host:port` clients of this listener are told to connect to.
    pub fn advertised_endpoint(&self) -> (String, i32) {
        advertised_endpoint(self.advertised.as_deref().unwrap_or(&self.address))
    }
}

/// `HOST:PORT` as advertised: a wildcard or empty host becomes `localhost`.
fn advertised_endpoint(addr: &str) -> (String, i32) {
    let (host, port) = split_host_port(addr).unwrap_or(("localhost".into(), 9092));
    let host = if host == "0.0.0.0" || host == "::" || host.is_empty() {
        "localhost".to_string()
    } else {
        host
    };
    (host, port)
}

/// Kafka's `security.protocol` of a listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum SecurityProtocol {
    #[default]
    #[serde(rename = "PLAINTEXT")]
    Plaintext,
    #[serde(rename = "SSL")]
    Ssl,
    #[serde(rename = "SASL_PLAINTEXT")]
    SaslPlaintext,
    #[serde(rename = "SASL_SSL")]
    SaslSsl,
}

impl SecurityProtocol {
    pub fn uses_tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    pub fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }
}

/// TLS material shared by the SSL and SASL_SSL listeners; reloaded on SIGHUP.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first (`ssl.keystore.location`).
    pub cert_file: String,
    /// PEM private key of the leaf certificate.
    pub key_file: String,
    /// PEM CA certificates client certificates are verified against
    /// (`ssl.truststore.location`); required unless `client_auth = "none"`.
    pub ca_file: String,
    /// Client certificates (`ssl.client.auth`): not asked for, asked for and verified
    /// when given, or required.
    pub client_auth: ClientAuth,
}

/// Kafka's `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    #[default]
    None,
    Requested,
    Required,
}

/// Authorization settings (all off by default).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Enforce ACLs on every request (Kafka's `authorizer.class.name` set to the
    /// StandardAuthorizer). Off: every principal may do everything.
    pub authorizer: bool,
    /// Principals allowed everything whatever the ACLs say (`super.users`), `User:name`.
    pub super_users: Vec<String>,
    /// A resource with no ACL at all is open to everyone
    /// (`allow.everyone.if.no.acl.found`).
    pub allow_everyone_if_no_acl_found: bool,
}

/// Cluster membership (Kafka's KRaft settings). All empty = a single-node broker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClusterConfig {
    /// `HOST:PORT` of this node's controller listener (`listeners` CONTROLLER); required
    /// when this node is a controller.
    pub controller_listen: String,
    /// The controller quorum, `ID@HOST:PORT,...` (`controller.quorum.voters`). Empty = no
    /// cluster.
    pub controller_voters: String,
    /// `broker`, `controller` or `broker,controller` (`process.roles`). Empty = both when
    /// this node id is a voter, broker only otherwise.
    pub roles: String,
    /// This broker's rack (`broker.rack`), used to spread replicas; empty = none.
    pub rack: String,
    /// A broker that has not heartbeated for this long is fenced (`broker.session.timeout.ms`).
    pub broker_session_timeout_ms: u64,
    /// How often a broker heartbeats to the controller (`broker.heartbeat.interval.ms`).
    pub broker_heartbeat_interval_ms: u64,
    /// A follower this far behind leaves the ISR (`replica.lag.time.max.ms`).
    pub replica_lag_time_max_ms: u64,
    /// How often the active controller moves leaderships back to preferred replicas that
    /// are live and in sync (`leader.imbalance.check.interval.seconds`, in ms); 0 = never
    /// (`auto.leader.rebalance.enable=false`).
    pub leader_imbalance_check_interval_ms: u64,
}

impl Default for ClusterConfig {
    fn default() -> Self {
        ClusterConfig {
            controller_listen: String::new(),
            controller_voters: String::new(),
            roles: String::new(),
            rack: String::new(),
            broker_session_timeout_ms: 9000,
            broker_heartbeat_interval_ms: 2000,
            replica_lag_time_max_ms: 30_000,
            leader_imbalance_check_interval_ms: 300_000,
        }
    }
}

/// Socket and request limits.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkConfig {
    /// Largest request frame accepted, in bytes (`socket.request.max.bytes`). Larger frames
    /// close the connection before any buffer is reserved.
    pub max_request_bytes: usize,
    /// Maximum concurrent client connections (`max.connections`).
    pub max_connections: usize,
    /// Encoded replies one connection may have waiting to be written before the broker stops
    /// reading its requests (requests themselves run one at a time per connection). Bounds
    /// memory per connection to this many responses (a Fetch response is at most
    /// `fetch.max.bytes`, 55 MiB).
    pub max_in_flight_per_connection: usize,
    /// Connections with no bytes read or written for this many ms are closed
    /// (`connections.max.idle.ms`). Measured from the last activity in either direction.
    pub idle_timeout_ms: u64,
    /// Once the first byte of a request's length has arrived, the whole frame must arrive
    /// within this many ms or the connection is closed (no Kafka equivalent: Kafka's
    /// selector only has the idle timeout). Stops a client that sends a length and stalls
    /// from holding a connection slot forever. Also bounds the TLS handshake.
    pub frame_timeout_ms: u64,
    /// Most concurrent connections from one IP address (`max.connections.per.ip`); further
    /// connections from it are closed at once.
    pub max_connections_per_ip: usize,
    /// A connection stops reading requests while this many of its reply bytes are unsent,
    /// so a client that never reads holds at most this plus one response (Kafka mutes a
    /// connection until its response is sent). Fetched record batches are sent from the
    /// page cache and never held in memory, so the reply memory a client can pin is at most
    /// this plus one response's framing (or one non-fetch response).
    pub max_unsent_bytes_per_connection: usize,
    /// SASL session lifetime in ms (`connections.max.reauth.ms`, KIP-368): clients learn it
    /// from SaslAuthenticate and re-authenticate before it ends; a request on a connection
    /// whose session has expired closes it. 0: sessions never expire and re-authentication
    /// is refused.
    pub connections_max_reauth_ms: u64,
}

/// Broker-wide topic defaults (each can be overridden per topic with Kafka's topic config names).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogDefaults {
    /// Partitions of an auto-created topic or of CreateTopics with -1 (`num.partitions`).
    pub num_partitions: i32,
    /// Create a topic on first Metadata/Produce reference (`auto.create.topics.enable`).
    pub auto_create_topics: bool,
    /// Roll a segment at this size (`log.segment.bytes` / `segment.bytes`).
    pub segment_bytes: u64,
    /// Roll a segment after this age (`log.roll.ms` / `segment.ms`).
    pub segment_ms: i64,
    /// Delete segments older than this; -1 keeps forever (`log.retention.ms` / `retention.ms`).
    pub retention_ms: i64,
    /// Delete oldest segments while a partition exceeds this; -1 = no limit
    /// (`log.retention.bytes` / `retention.bytes`).
    pub retention_bytes: i64,
    /// How often retention is enforced (`log.retention.check.interval.ms`).
    pub retention_check_interval_ms: u64,
    /// fsync after this many messages; 1 = fsync before acknowledging every write
    /// (`log.flush.interval.messages` / `flush.messages`). Default: never forced by count.
    pub flush_messages: i64,
    /// fsync at least this often, in ms (`log.flush.interval.ms` / `flush.ms`).
    /// Default 1000: at most one second of acknowledged writes is exposed to a power loss.
    pub flush_ms: i64,
    /// Largest record batch accepted (`message.max.bytes` / `max.message.bytes`).
    pub max_message_bytes: i32,
    /// `CreateTime` or `LogAppendTime` (`log.message.timestamp.type`).
    pub message_timestamp_type: String,
    /// `delete` or `compact` (`log.cleanup.policy`): the default of topics' `cleanup.policy`.
    pub cleanup_policy: String,
    /// Sparse offset index interval (`log.index.interval.bytes`).
    pub index_interval_bytes: i32,
    /// Most partitions this broker hosts; CreateTopics/CreatePartitions beyond it fail with
    /// POLICY_VIOLATION. 0 = derived from the open-file limit at start (see the README).
    pub max_partitions: usize,
    /// Descriptors kept open for index files and sealed segments, shared by all partitions
    /// (each partition also keeps its active segment open).
    pub max_open_segment_files: usize,
    /// Log cleaner threads (`log.cleaner.threads`); 0 turns compaction off.
    pub cleaner_threads: usize,
    /// Read rate limit of all cleaner threads together, bytes/s
    /// (`log.cleaner.io.max.bytes.per.second`); 0 = unlimited.
    pub cleaner_io_max_bytes_per_second: u64,
    /// Cleaner sleep when no partition is due, ms (`log.cleaner.backoff.ms`).
    pub cleaner_backoff_ms: u64,
    /// Memory of the cleaner's key maps, all threads together
    /// (`log.cleaner.dedupe.buffer.size`).
    pub cleaner_dedupe_buffer_size: usize,
    /// Replicas of a topic created without a replication factor
    /// (`default.replication.factor`).
    pub default_replication_factor: i16,
    /// Replicas that must have a record before an `acks=all` produce succeeds
    /// (`min.insync.replicas`).
    pub min_insync_replicas: i32,
}

/// Classic consumer group coordinator settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GroupConfig {
    /// Delay before the first rebalance of an empty group completes, so members starting
    /// together land in one generation (`group.initial.rebalance.delay.ms`).
    pub initial_rebalance_delay_ms: i64,
    /// Smallest session timeout a member may ask for (`group.min.session.timeout.ms`).
    pub min_session_timeout_ms: i32,
    /// Largest session timeout a member may ask for (`group.max.session.timeout.ms`).
    pub max_session_timeout_ms: i32,
    /// Most members one group may have (`group.max.size`).
    pub max_size: usize,
    /// Committed offsets of an empty group expire after this (`offsets.retention.minutes`).
    pub offsets_retention_minutes: i64,
    /// Replicas of the internal offsets topic in a cluster, capped by the live brokers when
    /// it is created (`offsets.topic.replication.factor`).
    pub offsets_topic_replication_factor: i16,
    /// Partitions of the internal offsets topic in a cluster (`offsets.topic.num.partitions`).
    pub offsets_topic_num_partitions: i32,
    /// In a cluster, how long a group write waits for the offsets topic's in-sync replicas
    /// (`offsets.commit.timeout.ms`).
    pub offsets_commit_timeout_ms: u64,
    /// KIP-848 consumer groups: a member not heard from for this long is fenced
    /// (`group.consumer.session.timeout.ms`; a group's `consumer.session.timeout.ms` wins).
    pub consumer_session_timeout_ms: i32,
    /// KIP-848 consumer groups: the heartbeat interval members are told to use
    /// (`group.consumer.heartbeat.interval.ms`; a group's `consumer.heartbeat.interval.ms` wins).
    pub consumer_heartbeat_interval_ms: i32,
    /// A share-group member silent for this long is removed
    /// (`group.share.session.timeout.ms`).
    pub share_session_timeout_ms: i64,
    /// Heartbeat interval told to share-group members (`group.share.heartbeat.interval.ms`).
    pub share_heartbeat_interval_ms: i32,
    /// Most members in one share group (`group.share.max.size`).
    pub share_max_size: usize,
    /// Online conversions between classic and KIP-848 consumer groups
    /// (`group.consumer.migration.policy`).
    pub consumer_migration_policy: ConsumerMigrationPolicy,
}

/// `group.consumer.migration.policy`: which online conversions of a group with members are
/// allowed. An upgrade turns a classic group into a consumer group when a consumer-protocol
/// member joins it; a downgrade turns a consumer group whose members all use the classic
/// protocol back into a classic group when its last consumer-protocol member leaves. Empty
/// groups convert whatever the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ConsumerMigrationPolicy {
    /// Upgrade and downgrade.
    #[default]
    Bidirectional,
    /// Upgrade only.
    Upgrade,
    /// Downgrade only.
    Downgrade,
    /// Neither: a classic member may not join a consumer group with members either.
    Disabled,
}

impl ConsumerMigrationPolicy {
    pub fn upgrade_enabled(self) -> bool {
        matches!(self, Self::Bidirectional | Self::Upgrade)
    }
    pub fn downgrade_enabled(self) -> bool {
        matches!(self, Self::Bidirectional | Self::Downgrade)
    }
}

/// Fetch settings.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FetchConfig {
    /// Most incremental fetch sessions (KIP-227) kept at once
    /// (`max.incremental.fetch.session.cache.slots`); 0 disables sessions, so every fetch is
    /// a full fetch answered with session id 0.
    pub max_incremental_sessions: usize,
}

/// Transaction coordinator settings (Kafka's `transaction.*` broker configs).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransactionConfig {
    /// Largest `transaction.timeout.ms` a producer may ask for (`transaction.max.timeout.ms`);
    /// InitProducerId asking more is refused with INVALID_TRANSACTION_TIMEOUT.
    pub max_timeout_ms: i32,
    /// How often open transactions are checked against their timeout and aborted
    /// (`transaction.abort.timed.out.transaction.cleanup.interval.ms`).
    pub abort_timed_out_check_interval_ms: u64,
    /// A transactional id with no transaction open and no request for this long is
    /// forgotten (`transactional.id.expiration.ms`); its producer then starts afresh.
    pub transactional_id_expiration_ms: i64,
    /// How often expired transactional ids are looked for
    /// (`transaction.remove.expired.transaction.cleanup.interval.ms`).
    pub remove_expired_transaction_cleanup_interval_ms: u64,
    /// Replicas of `__transaction_state` in a cluster, capped by the live brokers when it is
    /// created (`transaction.state.log.replication.factor`).
    pub state_log_replication_factor: i16,
    /// Partitions of `__transaction_state` in a cluster
    /// (`transaction.state.log.num.partitions`).
    pub state_log_num_partitions: i32,
}

impl Default for TransactionConfig {
    fn default() -> Self {
        TransactionConfig {
            max_timeout_ms: 900_000,
            abort_timed_out_check_interval_ms: 10_000,
            transactional_id_expiration_ms: 604_800_000,
            remove_expired_transaction_cleanup_interval_ms: 3_600_000,
            state_log_replication_factor: 3,
            state_log_num_partitions: 50,
        }
    }
}

/// Logging and metrics.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// Log filter in `RUST_LOG` syntax; `RUST_LOG` overrides it.
    pub log_level: String,
    /// Emit logs as JSON lines instead of human-readable text.
    pub log_json: bool,
    /// Export per-partition metric families (offsets, size, lag). Turn off for very many
    /// partitions to bound label cardinality.
    pub per_partition_metrics: bool,
}

/// The built-in web console.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConsoleConfig {
    /// Serve the console at `/` on the HTTP listener.
    pub enabled: bool,
    /// Allow topic creation/deletion and offset resets from the console.
    pub allow_writes: bool,
    /// Host names (without port) the console and its API answer besides IP literals,
    /// `localhost` and the `http_listen` host. Other `Host` headers get 403 (DNS rebinding).
    pub allowed_hosts: Vec<String>,
}

/// Who may use the console and its API, and whether the HTTP listener speaks TLS.
/// `/metrics`, `/healthz` and `/readyz` stay open whatever is set here.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve HTTPS with `[tls]` `cert_file` and `key_file` (client certificates are not
    /// asked for on the HTTP listener).
    pub tls: bool,
    /// Bearer token (`Authorization: Bearer TOKEN`, or as the password of Basic auth with
    /// any user name). Empty = none.
    pub token: String,
    /// File holding the token (surrounding whitespace trimmed), instead of `token`.
    pub token_file: String,
    /// Basic auth user name; needs `password` or `password_file`.
    pub user: String,
    /// Basic auth password. Empty = none.
    pub password: String,
    /// File holding the Basic auth password (surrounding whitespace trimmed), instead of
    /// `password`.
    pub password_file: String,
}

impl HttpConfig {
    /// True when a token or a user and password are configured (directly or from files).
    pub fn has_credential(&self) -> bool {
        !self.token.is_empty() || !self.token_file.is_empty() || !self.user.is_empty()
    }
}

impl Config {
    /// This configuration with inline secrets (`http.token`, `http.password`) replaced by
    /// `"<redacted>"`, for the start-up log and `--print-config`.
    pub fn redacted(&self) -> Config {
        let mut c = self.clone();
        for secret in [&mut c.http.token, &mut c.http.password] {
            if !secret.is_empty() {
                *secret = "<redacted>".into();
            }
        }
        c
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            node_id: 0,
            data_dir: PathBuf::from("./runnel-data"),
            listen: "0.0.0.0:9092".into(),
            advertised_listener: None,
            listeners: Vec::new(),
            tls: TlsConfig::default(),
            auth: AuthConfig::default(),
            http_listen: "127.0.0.1:9644".into(),
            network: NetworkConfig::default(),
            log: LogDefaults::default(),
            group: GroupConfig::default(),
            fetch: FetchConfig::default(),
            transaction: TransactionConfig::default(),
            telemetry: TelemetryConfig::default(),
            console: ConsoleConfig::default(),
            http: HttpConfig::default(),
            cluster: ClusterConfig::default(),
        }
    }
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            max_request_bytes: 100 * 1024 * 1024,
            max_connections: 10_000,
            max_in_flight_per_connection: 4,
            idle_timeout_ms: 600_000,
            frame_timeout_ms: 30_000,
            max_connections_per_ip: 1000,
            max_unsent_bytes_per_connection: 64 * 1024,
            connections_max_reauth_ms: 0,
        }
    }
}

impl Default for LogDefaults {
    fn default() -> Self {
        LogDefaults {
            num_partitions: 1,
            auto_create_topics: true,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
            retention_check_interval_ms: 300_000,
            flush_messages: i64::MAX,
            flush_ms: 1000,
            max_message_bytes: 1_048_588,
            message_timestamp_type: "CreateTime".into(),
            cleanup_policy: "delete".into(),
            index_interval_bytes: 4096,
            max_partitions: 0,
            max_open_segment_files: 1000,
            cleaner_threads: 1,
            cleaner_io_max_bytes_per_second: 0,
            cleaner_backoff_ms: 15_000,
            cleaner_dedupe_buffer_size: 128 << 20,
            default_replication_factor: 1,
            min_insync_replicas: 1,
        }
    }
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            max_size: i32::MAX as usize,
            offsets_retention_minutes: 10080,
            offsets_topic_replication_factor: 3,
            offsets_topic_num_partitions: 50,
            offsets_commit_timeout_ms: 5000,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            share_session_timeout_ms: 45_000,
            share_heartbeat_interval_ms: 5_000,
            share_max_size: 200,
            consumer_migration_policy: ConsumerMigrationPolicy::Bidirectional,
        }
    }
}

impl Default for FetchConfig {
    fn default() -> Self {
        FetchConfig {
            max_incremental_sessions: 1000,
        }
    }
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            log_level: "info".into(),
            log_json: false,
            per_partition_metrics: true,
        }
    }
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            enabled: true,
            allow_writes: false,
            allowed_hosts: Vec::new(),
        }
    }
}

/// A configuration that cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid value for {key}: {message}")]
    Invalid { key: String, message: String },
}

impl Config {
    /// Reads a TOML file; unknown keys are rejected with their name.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        Config::from_toml(&text).map_err(|message| ConfigError::Parse {
            path: path.to_owned(),
            message,
        })
    }

    /// Parses TOML text (the error message names an unknown or mistyped key).
    pub fn from_toml(text: &str) -> Result<Config, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().to_string())
    }

    /// The `host:port` of this broker's first listener (the node's own address: cluster
    /// registration, the console), with `0.0.0.0` replaced by `localhost`.
    pub fn advertised(&self) -> (String, i32) {
        match self.listeners.first() {
            Some(l) => l.advertised_endpoint(),
            None => {
                advertised_endpoint(self.advertised_listener.as_deref().unwrap_or(&self.listen))
            }
        }
    }

    /// The `host:port` published to clients of the listener named `listener` in Metadata,
    /// FindCoordinator and DescribeCluster (the first listener's for an unknown name).
    pub fn advertised_for(&self, listener: &str) -> (String, i32) {
        match self.listeners.iter().find(|l| l.name == listener) {
            Some(l) => l.advertised_endpoint(),
            None => self.advertised(),
        }
    }

    /// The Kafka listeners to bind: the `[[listeners]]`, or else one PLAINTEXT listener
    /// named `PLAINTEXT` from `listen` and `advertised_listener`.
    pub fn kafka_listeners(&self) -> Vec<ListenerConfig> {
        if !self.listeners.is_empty() {
            return self.listeners.clone();
        }
        vec![ListenerConfig {
            name: "PLAINTEXT".into(),
            address: self.listen.clone(),
            advertised: self.advertised_listener.clone(),
            security_protocol: SecurityProtocol::Plaintext,
            sasl_mechanisms: Vec::new(),
        }]
    }

    /// Checks the listeners, TLS and authorization settings.
    fn validate_security(&self) -> Result<(), ConfigError> {
        let invalid = |key: String, message: String| Err(ConfigError::Invalid { key, message });
        let mut names = std::collections::HashSet::new();
        for (i, l) in self.listeners.iter().enumerate() {
            let key = |field: &str| format!("listeners[{i}].{field}");
            if l.name.is_empty()
                || !l
                    .name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                return invalid(
                    key("name"),
                    format!("{:?}: expected letters, digits, _ or -", l.name),
                );
            }
            if !names.insert(l.name.to_ascii_uppercase()) {
                return invalid(
                    key("name"),
                    format!("{:?} is used by two listeners", l.name),
                );
            }
            if split_host_port(&l.address).is_none() {
                return invalid(
                    key("address"),
                    format!("{:?}: expected HOST:PORT", l.address),
                );
            }
            if let Some(a) = &l.advertised {
                if split_host_port(a).is_none() {
                    return invalid(key("advertised"), format!("{a:?}: expected HOST:PORT"));
                }
            }
            if l.security_protocol.uses_sasl() {
                if l.sasl_mechanisms.is_empty() {
                    return invalid(
                        key("sasl_mechanisms"),
                        "a SASL listener needs at least one mechanism".into(),
                    );
                }
                for m in &l.sasl_mechanisms {
                    if !SASL_MECHANISMS.contains(&m.as_str()) {
                        return invalid(
                            key("sasl_mechanisms"),
                            format!("{m:?} is not one of {}", SASL_MECHANISMS.join(", ")),
                        );
                    }
                }
            }
            if l.security_protocol.uses_tls()
                && (self.tls.cert_file.is_empty() || self.tls.key_file.is_empty())
            {
                return invalid(
                    "tls.cert_file".into(),
                    format!(
                        "listener {} is {} and needs tls.cert_file and tls.key_file",
                        l.name,
                        l.security_protocol.name()
                    ),
                );
            }
        }
        if self.tls.client_auth != ClientAuth::None && self.tls.ca_file.is_empty() {
            return invalid(
                "tls.ca_file".into(),
                "client_auth requested or required needs the CA that signs client certificates"
                    .into(),
            );
        }
        for (i, p) in self.auth.super_users.iter().enumerate() {
            if crate::security::Principal::parse(p).is_none() {
                return invalid(
                    format!("auth.super_users[{i}]"),
                    format!("{p:?}: expected Type:name, e.g. User:admin"),
                );
            }
        }
        Ok(())
    }

    /// The `[http]` section: one source per credential, a password with every user, TLS
    /// material when TLS is on, and a credential whenever the console is reachable from
    /// beyond this machine.
    fn validate_http(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: String| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message,
            })
        };
        let h = &self.http;
        if !h.token.is_empty() && !h.token_file.is_empty() {
            return invalid(
                "http.token",
                "set http.token or http.token_file, not both".into(),
            );
        }
        if !h.password.is_empty() && !h.password_file.is_empty() {
            return invalid(
                "http.password",
                "set http.password or http.password_file, not both".into(),
            );
        }
        let has_password = !h.password.is_empty() || !h.password_file.is_empty();
        if !h.user.is_empty() && !has_password {
            return invalid(
                "http.password",
                "http.user needs http.password or http.password_file".into(),
            );
        }
        if h.user.is_empty() && has_password {
            return invalid("http.user", "a password needs http.user".into());
        }
        if h.user.contains(':') {
            return invalid(
                "http.user",
                "must not contain ':' (Basic auth separates user and password with it)".into(),
            );
        }
        if self.http_listen.is_empty() {
            return Ok(());
        }
        if h.tls && (self.tls.cert_file.is_empty() || self.tls.key_file.is_empty()) {
            return invalid(
                "http.tls",
                "HTTPS needs tls.cert_file and tls.key_file".into(),
            );
        }
        if self.console.enabled
            && !h.has_credential()
            && !http_listen_is_loopback(&self.http_listen)
        {
            return invalid(
                "http_listen",
                format!(
                    "{} is not a loopback address and the console has no credential: set \
                     http.token (or http.token_file) or http.user and http.password (or \
                     http.password_file), or console.enabled = false to serve only /metrics, \
                     /healthz and /readyz there",
                    self.http_listen
                ),
            );
        }
        Ok(())
    }

    /// Checks cross-field constraints once at boot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, message: &str| {
            Err(ConfigError::Invalid {
                key: key.into(),
                message: message.into(),
            })
        };
        if self.node_id < 0 {
            return invalid("node_id", "must be >= 0");
        }
        if self.listen.parse::<SocketAddr>().is_err() && split_host_port(&self.listen).is_none() {
            return invalid("listen", "expected HOST:PORT");
        }
        if let Some(a) = &self.advertised_listener {
            if split_host_port(a).is_none() {
                return invalid("advertised_listener", "expected HOST:PORT");
            }
        }
        if !self.http_listen.is_empty() && split_host_port(&self.http_listen).is_none() {
            return invalid("http_listen", "expected HOST:PORT or empty to disable");
        }
        self.validate_http()?;
        if self.network.max_request_bytes < 1024 {
            return invalid("network.max_request_bytes", "must be at least 1024");
        }
        if self.network.max_in_flight_per_connection == 0 {
            return invalid("network.max_in_flight_per_connection", "must be >= 1");
        }
        if self.network.frame_timeout_ms == 0 || self.network.idle_timeout_ms == 0 {
            return invalid(
                "network.frame_timeout_ms",
                "frame_timeout_ms and idle_timeout_ms must be >= 1",
            );
        }
        if self.network.max_connections_per_ip == 0 {
            return invalid("network.max_connections_per_ip", "must be >= 1");
        }
        if self.network.max_unsent_bytes_per_connection == 0 {
            return invalid("network.max_unsent_bytes_per_connection", "must be >= 1");
        }
        if self.log.num_partitions < 1 {
            return invalid("log.num_partitions", "must be >= 1");
        }
        if self.log.segment_bytes < 14 * 1024 {
            return invalid("log.segment_bytes", "must be at least 14 KiB");
        }
        if self.log.flush_messages < 1 {
            return invalid("log.flush_messages", "must be >= 1");
        }
        if self.log.flush_ms < 0 {
            return invalid("log.flush_ms", "must be >= 0");
        }
        if !matches!(
            self.log.message_timestamp_type.as_str(),
            "CreateTime" | "LogAppendTime"
        ) {
            return invalid(
                "log.message_timestamp_type",
                "must be CreateTime or LogAppendTime",
            );
        }
        if !matches!(self.log.cleanup_policy.as_str(), "delete" | "compact") {
            return invalid("log.cleanup_policy", "must be delete or compact");
        }
        if self.log.cleaner_dedupe_buffer_size < 1 << 20 {
            return invalid("log.cleaner_dedupe_buffer_size", "must be >= 1048576");
        }
        if self.log.default_replication_factor < 1 {
            return invalid("log.default_replication_factor", "must be >= 1");
        }
        if self.log.min_insync_replicas < 1 {
            return invalid("log.min_insync_replicas", "must be >= 1");
        }
        if self.group.offsets_topic_replication_factor < 1 {
            return invalid("group.offsets_topic_replication_factor", "must be >= 1");
        }
        if !(1..=10_000).contains(&self.group.offsets_topic_num_partitions) {
            return invalid("group.offsets_topic_num_partitions", "must be 1..=10000");
        }
        if self.transaction.state_log_replication_factor < 1 {
            return invalid("transaction.state_log_replication_factor", "must be >= 1");
        }
        if !(1..=10_000).contains(&self.transaction.state_log_num_partitions) {
            return invalid("transaction.state_log_num_partitions", "must be 1..=10000");
        }
        if !(1..=3_600_000).contains(&self.group.offsets_commit_timeout_ms) {
            return invalid("group.offsets_commit_timeout_ms", "must be 1..=3600000");
        }
        // Kafka's bounds on the share-group settings.
        if !(1..=3_600_000).contains(&self.group.share_session_timeout_ms) {
            return invalid("group.share_session_timeout_ms", "must be 1..=3600000");
        }
        if !(1..=3_600_000).contains(&self.group.share_heartbeat_interval_ms) {
            return invalid("group.share_heartbeat_interval_ms", "must be 1..=3600000");
        }
        if i64::from(self.group.share_heartbeat_interval_ms) >= self.group.share_session_timeout_ms
        {
            return invalid(
                "group.share_heartbeat_interval_ms",
                "must be below group.share_session_timeout_ms",
            );
        }
        if !(1..=1_000).contains(&self.group.share_max_size) {
            return invalid("group.share_max_size", "must be 1..=1000");
        }
        if self.cluster.broker_heartbeat_interval_ms == 0
            || self.cluster.broker_heartbeat_interval_ms >= self.cluster.broker_session_timeout_ms
        {
            return invalid(
                "cluster.broker_heartbeat_interval_ms",
                "must be >= 1 and below cluster.broker_session_timeout_ms",
            );
        }
        self.validate_security()?;
        if let Err(message) = crate::cluster::ClusterSetup::from_config(self) {
            return Err(ConfigError::Invalid {
                key: message.0,
                message: message.1,
            });
        }
        if self.transaction.transactional_id_expiration_ms < 1 {
            return invalid("transaction.transactional_id_expiration_ms", "must be >= 1");
        }
        if self.group.min_session_timeout_ms > self.group.max_session_timeout_ms {
            return invalid(
                "group.min_session_timeout_ms",
                "must not exceed group.max_session_timeout_ms",
            );
        }
        Ok(())
    }
}

/// Applies `RUNNEL_*` environment overrides: every config key is reachable as `RUNNEL_`
/// plus its dotted path upper-cased with `_` (`log.segment_bytes` → `RUNNEL_LOG_SEGMENT_BYTES`).
/// Values parse as the key's type; a bad value is an error naming the variable. Variables
/// that name no key are ignored (scripts use `RUNNEL_` for their own settings too).
pub fn apply_env(
    cfg: Config,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<Config, ConfigError> {
    let vars: std::collections::HashMap<String, String> =
        vars.filter(|(k, _)| k.starts_with("RUNNEL_")).collect();
    if vars.is_empty() {
        return Ok(cfg);
    }
    let mut tree = toml::Value::try_from(&cfg).map_err(|e| ConfigError::Invalid {
        key: "(config)".into(),
        message: e.to_string(),
    })?;
    if let toml::Value::Table(t) = &mut tree {
        override_table(t, "RUNNEL", &vars)?;
        // Optional keys absent from the serialized tree.
        if let Some(v) = vars.get("RUNNEL_ADVERTISED_LISTENER") {
            t.insert("advertised_listener".into(), toml::Value::String(v.clone()));
        }
    }
    tree.try_into()
        .map_err(|e: toml::de::Error| ConfigError::Invalid {
            key: "(environment)".into(),
            message: e.to_string(),
        })
}

fn override_table(
    table: &mut toml::map::Map<String, toml::Value>,
    prefix: &str,
    vars: &std::collections::HashMap<String, String>,
) -> Result<(), ConfigError> {
    for (key, value) in table.iter_mut() {
        let name = format!("{prefix}_{}", key.to_uppercase());
        match value {
            toml::Value::Table(t) => override_table(t, &name, vars)?,
            leaf => {
                if let Some(raw) = vars.get(&name) {
                    let bad = |what: &str| ConfigError::Invalid {
                        key: name.clone(),
                        message: format!("expected {what}, got {raw:?}"),
                    };
                    *leaf = match leaf {
                        toml::Value::Integer(_) => {
                            toml::Value::Integer(raw.trim().parse().map_err(|_| bad("an integer"))?)
                        }
                        toml::Value::Boolean(_) => toml::Value::Boolean(
                            raw.trim().parse().map_err(|_| bad("true or false"))?,
                        ),
                        toml::Value::Float(_) => {
                            toml::Value::Float(raw.trim().parse().map_err(|_| bad("a number"))?)
                        }
                        _ => toml::Value::String(raw.clone()),
                    };
                }
            }
        }
    }
    Ok(())
}

/// True when `http_listen` binds a loopback address only: `127.0.0.0/8`, `[::1]` or
/// `localhost`. Any other name counts as reachable from elsewhere (it is not resolved here).
pub fn http_listen_is_loopback(addr: &str) -> bool {
    match split_host_port(addr) {
        Some((host, _)) => {
            host.eq_ignore_ascii_case("localhost")
                || host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        }
        None => false,
    }
}

/// Splits `host:port` (IPv6 in brackets allowed). None when the port is missing or invalid.
pub fn split_host_port(s: &str) -> Option<(String, i32)> {
    let (host, port) = s.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Some((host.to_string(), i32::from(port)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn shipped_config_file_documents_exactly_the_defaults() {
        let shipped = Config::from_toml(include_str!("../config/runnel.toml")).unwrap();
        assert_eq!(
            toml::to_string(&shipped).unwrap(),
            toml::to_string(&Config::default()).unwrap()
        );
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let err = Config::from_toml("node_id = 1\nlisten_port = 9\n").unwrap_err();
        assert!(err.contains("listen_port"), "{err}");
        let err = Config::from_toml("[log]\nsegment_byte = 9\n").unwrap_err();
        assert!(err.contains("segment_byte"), "{err}");
    }

    #[test]
    fn partial_file_keeps_defaults() {
        let c = Config::from_toml("[log]\nnum_partitions = 3\n").unwrap();
        assert_eq!(c.log.num_partitions, 3);
        assert_eq!(c.log.flush_ms, 1000);
        assert_eq!(c.listen, "0.0.0.0:9092");
    }

    #[test]
    fn advertised_defaults_to_listen_with_localhost() {
        let c = Config::default();
        assert_eq!(c.advertised(), ("localhost".to_string(), 9092));
        let c = Config {
            advertised_listener: Some("broker1:19092".into()),
            ..Config::default()
        };
        assert_eq!(c.advertised(), ("broker1".to_string(), 19092));
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let vars = vec![
            ("RUNNEL_LOG_SEGMENT_BYTES".to_string(), "65536".to_string()),
            (
                "RUNNEL_GROUP_INITIAL_REBALANCE_DELAY_MS".to_string(),
                "0".to_string(),
            ),
            ("RUNNEL_NODE_ID".to_string(), "3".to_string()),
            ("RUNNEL_ADVERTISED_LISTENER".to_string(), "h:1".to_string()),
            ("RUNNEL_BIN".to_string(), "/x".to_string()),
        ];
        let c = apply_env(Config::default(), vars.into_iter()).unwrap();
        assert_eq!(c.log.segment_bytes, 65536);
        assert_eq!(c.group.initial_rebalance_delay_ms, 0);
        assert_eq!(c.node_id, 3);
        assert_eq!(c.advertised_listener.as_deref(), Some("h:1"));
        let bad = vec![("RUNNEL_NODE_ID".to_string(), "x".to_string())];
        let e = apply_env(Config::default(), bad.into_iter()).unwrap_err();
        assert!(e.to_string().contains("RUNNEL_NODE_ID"));
    }

    #[test]
    fn secrets_are_redacted_for_logs() {
        let mut c = Config::default();
        c.http.token = "tok".into();
        c.http.user = "ops".into();
        c.http.password = "pw".into();
        let shown = serde_json::to_string(&c.redacted()).unwrap();
        assert!(
            !shown.contains("tok\"") && !shown.contains("\"pw\""),
            "{shown}"
        );
        assert!(shown.contains("\"user\":\"ops\""), "{shown}");
        assert_eq!(Config::default().redacted().http.token, "");
    }

    #[test]
    fn invalid_values_name_the_key() {
        let c = Config {
            log: LogDefaults {
                cleanup_policy: "nope".into(),
                ..LogDefaults::default()
            },
            ..Config::default()
        };
        let e = c.validate().unwrap_err().to_string();
        assert!(e.contains("log.cleanup_policy"), "{e}");
    }
}
