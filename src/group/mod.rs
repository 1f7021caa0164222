//! Group coordinator: Kafka's classic consumer-group protocol (JoinGroup, SyncGroup,
//! Heartbeat, LeaveGroup), the KIP-848 consumer group protocol (ConsumerGroupHeartbeat),
//! committed offsets, and the membership of share groups (KIP-932, ShareGroupHeartbeat),
//! independent of the wire format. One namespace: a group id names one group, of one kind.
//!
//! - `types`        domain requests/responses and `GroupConfig` (handlers convert wire ↔ these)
//! - `error`        `GroupError` and its single `kafka_code()` mapping
//! - `state`        `ClassicGroup`: the per-group state machine, pure, time passed in as `now_ms`
//! - `consumer`     `ConsumerGroup`: the KIP-848 state machine and its assignors, pure
//! - `kind`         `Group`: the classic or share group a coordinator slot holds, `GroupType`
//! - `share`        `ShareGroup`: a share group's state machine and `simple` assignor, pure
//! - `coordinator`  `GroupCoordinator`: async API, per-group locks, parked replies, timer task
//! - `timer`        clock on `tokio::time` and the per-group deadline queue
//! - `store`        `GroupStore` trait, persisted records and their JSON format, in-memory store
//! - `subscription` bounded reader of the consumer protocol's subscription, reader/writer of
//!   its assignment
//!
//! This module never imports `kafka_protocol`.

pub mod consumer;
pub mod coordinator;
pub mod error;
pub mod kind;
pub mod share;
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

/// The offsets-topic partition of a group, as Kafka computes it:
/// `Utils.abs(groupId.hashCode()) % partitions`, with Java's `String.hashCode` over UTF-16
/// code units, so that a group lands where a Kafka cluster would put it.
pub fn offsets_partition(group_id: &str, partitions: i32) -> i32 {
    let hash = group_id
        .encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)));
    let abs = if hash == i32::MIN { 0 } else { hash.abs() };
    abs % partitions.max(1)
}

#[cfg(test)]
mod tests {
    #[test]
    fn offsets_partition_matches_java_string_hash() {
        // "my-group".hashCode() == -1_906_497_762 in Java; "" hashes to 0.
        assert_eq!(super::offsets_partition("my-group", 50), 1_906_497_762 % 50);
        assert_eq!(super::offsets_partition("", 50), 0);
        // A negative hash: "polygenelubricants".hashCode() == Integer.MIN_VALUE → 0.
        assert_eq!(super::offsets_partition("polygenelubricants", 50), 0);
        // "é" is one UTF-16 unit (233).
        assert_eq!(super::offsets_partition("é", 50), 233 % 50);
    }
}
