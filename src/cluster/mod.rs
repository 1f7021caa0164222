//! Cluster view: node identity, the topic/partition metadata every handler reads, and the
//! controller that changes it.
//!
//! Single-node today, but the shapes are the cluster's: every partition has a leader node id,
//! a leader epoch, replicas and an ISR; the group → coordinator mapping is a function of the
//! group id; topic ids are real random UUIDs. Cluster mode replaces the controller's local
//! decisions with a Raft-replicated log without changing what handlers see.

mod boot;
pub mod broker_config;
mod config_admin;
pub mod config_def;
pub mod controller;
pub mod group_config;
pub mod leadership;
pub mod metadata;
pub mod topic_config;

pub use boot::RecoveryReport;
pub use config_admin::{AlterOp, ConfigTarget};
pub use controller::{Controller, TopicError};
pub use metadata::{MetadataView, PartitionInfo, TopicInfo};

/// One broker's identity and advertised endpoint.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// The node that coordinates a group. With one broker it is always this node; in cluster
/// mode it becomes the leader of the group's offsets partition (hash of the group id).
pub fn coordinator_for(_group_id: &str, this_node: &NodeInfo) -> i32 {
    this_node.node_id
}
