//! Cluster view: node identity, the topic/partition metadata every handler reads, and the
//! controller that changes it.
//!
//! Single-node today, but the shapes are the cluster's: every partition has a leader node id,
//! a leader epoch, replicas and an ISR; the group → coordinator mapping is a function of the
//! group id; topic ids are real random UUIDs. Cluster mode replaces the controller's local
//! decisions with a Raft-replicated log without changing what handlers see.

mod apply;
mod boot;
pub mod broker_config;
mod config_admin;
pub mod config_def;
pub mod controller;
pub mod group_config;
pub mod image;
pub mod leadership;
pub mod member;
pub mod metadata;
pub mod quorum;
pub mod setup;
pub mod topic_config;

pub use boot::RecoveryReport;
pub use config_admin::{AlterOp, ConfigTarget};
pub use controller::{Controller, TopicError};
pub use metadata::{MetadataView, PartitionInfo, TopicInfo};
pub use setup::ClusterSetup;

/// One broker's identity and advertised endpoint.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// The internal topic whose partition leaders coordinate consumer groups in a cluster.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

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
