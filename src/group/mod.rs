//! Group coordinator: Kafka's classic consumer-group protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup) and committed offsets, independent of the wire format.
//!
//! - `types`        domain requests/responses and `GroupConfig` (handlers convert wire ↔ these)
//! - `error`        `GroupError` and its single `kafka_code()` mapping
//! - `state`        `ClassicGroup`: the per-group state machine, pure, time passed in as `now_ms`
//! - `coordinator`  `GroupCoordinator`: async API, per-group locks, parked replies, timer task
//! - `timer`        clock on `tokio::time` and the per-group deadline queue
//! - `store`        `GroupStore` trait, persisted records and their JSON format, in-memory store
//! - `subscription` bounded reader of the consumer protocol's subscribed topics
//!
//! This module never imports `kafka_protocol`.

pub mod coordinator;
pub mod error;
pub mod state;
pub mod store;
pub mod subscription;
pub mod timer;
pub mod types;

pub use coordinator::GroupCoordinator;
pub use error::GroupError;
pub use state::{ClassicGroup, Effects, Outcome};
pub use store::{
    GroupStore, GroupStoreError, GroupWrite, MemoryGroupStore, MetadataWrite, PersistedGroup,
};
pub use types::*;
