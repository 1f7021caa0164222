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
pub mod internal_topic;
pub mod leadership;
pub mod member;
pub mod metadata;
pub mod peer;
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
/// The internal topic of the transaction coordinators in cluster mode (`txn_topic`).
pub const TXN_TOPIC: &str = "__transaction_state";
