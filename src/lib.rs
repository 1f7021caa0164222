//! Runnel: a Kafka-wire-compatible message broker.
//!
//! Module map, from the socket down to the disk (dependencies point down only):
//!
//! - [`config`]    — the TOML configuration, defaults, env/flag overrides, validation
//! - [`telemetry`] — tracing subscriber and the Prometheus metric families
//! - [`http`]      — the HTTP listener: `/metrics`, `/healthz`, `/readyz`, the web console
//! - [`runtime`]   — process wiring: bind listeners, recover, serve, shut down (main + tests)
//! - [`server`]    — Kafka listeners (plain TCP or TLS), connection framing, limits, in-order
//!   replies, shutdown
//! - [`protocol`]  — Kafka wire glue (no I/O): header, version table, decode/encode
//! - [`handlers`]  — one file per Kafka API; wire types ↔ domain types; one dispatch `match`
//! - [`broker`]    — shared state handed to handlers; boot and shutdown order
//! - [`cluster`]   — node identity, topic metadata view, the controller, topic configs
//! - [`replica`]   — the partition layer (Kafka's ReplicaManager): partition resolution,
//!   leadership and leader-epoch fencing, the ack policy; between handlers and the log
//! - [`fetch_session`] — incremental fetch sessions (KIP-227): the session cache and eviction
//! - [`offsets_topic`] — cluster mode: the group coordinator's state as records of the
//!   replicated `__consumer_offsets` topic (write, replay, load/unload on leadership)
//! - [`txn_topic`] — cluster mode: the transaction coordinator's state as records of the
//!   replicated `__transaction_state` topic, and markers to other brokers (WriteTxnMarkers)
//! - [`group`]     — the classic consumer group coordinator (state machine, timers, offsets)
//! - [`log`]       — the partition log engine: segments, indexes, recovery, retention
//! - [`store`]     — RocksDB: cluster id, producer ids, topics, groups, committed offsets
//! - [`kafka_error`] — Kafka's error codes (number, name, retriable, metric label), used by
//!   every layer above: the one place an error number is defined

pub mod broker;
pub mod cluster;
pub mod config;
pub mod fetch_session;
pub mod group;
pub mod handlers;
pub mod http;
pub mod kafka_error;
pub mod log;
pub mod offsets_topic;
pub mod protocol;
pub mod replica;
pub mod runtime;
pub mod security;
pub mod server;
pub mod share;
pub mod store;
pub mod telemetry;
pub mod txn;
pub mod txn_topic;
