//! One handler per Kafka API, and the single dispatch `match`.
//!
//! A handler converts wire types (from `kafka-protocol`) to domain calls on the engines
//! (`log`, `group`, `store`, `cluster`) and builds the response. Handlers never fail as a
//! whole: per-partition and per-topic errors go into the response with Kafka's error codes;
//! only framing errors (handled in `server`) close a connection. Each handler must respect
//! the request version: fields that do not exist in that version are left at defaults.
//!
//! Convention: `pub async fn handle(broker: &Arc<Broker>, ctx: &RequestContext, req: XRequest)
//! -> XResponse` in `handlers/<api_name>.rs`.

use std::net::IpAddr;
use std::sync::Arc;

use kafka_protocol::messages::{ApiKey, RequestKind, ResponseKind};

use crate::broker::Broker;
use crate::security::Principal;

mod add_offsets_to_txn;
mod add_partitions_to_txn;
mod alter_configs;
mod alter_partition_reassignments;
mod alter_replica_log_dirs;
mod alter_share_group_offsets;
mod alter_user_scram_credentials;
mod api_versions;
pub(crate) mod authz;
mod consumer_group_describe;
mod consumer_group_heartbeat;
pub(crate) use consumer_group_heartbeat::metadata_topics;
mod create_acls;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_groups;
mod delete_records;
mod delete_share_group_offsets;
mod delete_topics;
mod describe_acls;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod describe_log_dirs;
mod describe_producers;
mod describe_quorum;
mod describe_share_group_offsets;
mod describe_topic_partitions;
mod describe_transactions;
mod describe_user_scram_credentials;
mod elect_leaders;
mod end_txn;
pub mod fetch;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod list_partition_reassignments;
mod list_transactions;
mod metadata;
mod offset_commit;
mod offset_delete;
mod offset_fetch;
mod offset_for_leader_epoch;
mod produce;
mod read_share_group_state;
mod sasl_authenticate;
mod sasl_handshake;
mod share_acknowledge;
mod share_common;
pub mod share_fetch;
mod share_group_describe;
mod share_group_heartbeat;
mod sync_group;
mod txn_offset_commit;
mod write_share_group_state;
mod write_txn_markers;

/// Who sent a request and how it was framed.
#[derive(Debug, Clone)]
pub struct RequestContext {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: String,
    pub client_host: IpAddr,
    /// Who the connection authenticated as (`User:ANONYMOUS` when it did not).
    pub principal: Arc<Principal>,
    /// The name of the listener the request arrived on.
    pub listener: Arc<str>,
    /// The connection's id, unique in this process: what share sessions are bound to
    /// (released when the connection closes).
    pub connection_id: u64,
}

/// The name used in logs and metric labels.
pub fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "Produce",
        ApiKey::Fetch => "Fetch",
        ApiKey::ListOffsets => "ListOffsets",
        ApiKey::Metadata => "Metadata",
        ApiKey::OffsetCommit => "OffsetCommit",
        ApiKey::OffsetFetch => "OffsetFetch",
        ApiKey::FindCoordinator => "FindCoordinator",
        ApiKey::JoinGroup => "JoinGroup",
        ApiKey::Heartbeat => "Heartbeat",
        ApiKey::LeaveGroup => "LeaveGroup",
        ApiKey::SyncGroup => "SyncGroup",
        ApiKey::DescribeGroups => "DescribeGroups",
        ApiKey::ListGroups => "ListGroups",
        ApiKey::ApiVersions => "ApiVersions",
        ApiKey::CreateTopics => "CreateTopics",
        ApiKey::DeleteTopics => "DeleteTopics",
        ApiKey::DeleteRecords => "DeleteRecords",
        ApiKey::InitProducerId => "InitProducerId",
        ApiKey::OffsetForLeaderEpoch => "OffsetForLeaderEpoch",
        ApiKey::DescribeConfigs => "DescribeConfigs",
        ApiKey::DeleteGroups => "DeleteGroups",
        ApiKey::CreatePartitions => "CreatePartitions",
        ApiKey::OffsetDelete => "OffsetDelete",
        ApiKey::DescribeCluster => "DescribeCluster",
        ApiKey::AlterReplicaLogDirs => "AlterReplicaLogDirs",
        ApiKey::DescribeLogDirs => "DescribeLogDirs",
        ApiKey::ElectLeaders => "ElectLeaders",
        ApiKey::AlterPartitionReassignments => "AlterPartitionReassignments",
        ApiKey::ListPartitionReassignments => "ListPartitionReassignments",
        ApiKey::DescribeProducers => "DescribeProducers",
        ApiKey::DescribeTopicPartitions => "DescribeTopicPartitions",
        ApiKey::ConsumerGroupHeartbeat => "ConsumerGroupHeartbeat",
        ApiKey::ConsumerGroupDescribe => "ConsumerGroupDescribe",
        ApiKey::ShareGroupHeartbeat => "ShareGroupHeartbeat",
        ApiKey::ShareGroupDescribe => "ShareGroupDescribe",
        ApiKey::AlterConfigs => "AlterConfigs",
        ApiKey::IncrementalAlterConfigs => "IncrementalAlterConfigs",
        ApiKey::AddPartitionsToTxn => "AddPartitionsToTxn",
        ApiKey::AddOffsetsToTxn => "AddOffsetsToTxn",
        ApiKey::EndTxn => "EndTxn",
        ApiKey::WriteTxnMarkers => "WriteTxnMarkers",
        ApiKey::TxnOffsetCommit => "TxnOffsetCommit",
        ApiKey::DescribeTransactions => "DescribeTransactions",
        ApiKey::ListTransactions => "ListTransactions",
        ApiKey::CreateAcls => "CreateAcls",
        ApiKey::DescribeAcls => "DescribeAcls",
        ApiKey::DeleteAcls => "DeleteAcls",
        ApiKey::SaslHandshake => "SaslHandshake",
        ApiKey::SaslAuthenticate => "SaslAuthenticate",
        ApiKey::DescribeUserScramCredentials => "DescribeUserScramCredentials",
        ApiKey::AlterUserScramCredentials => "AlterUserScramCredentials",
        ApiKey::ShareFetch => "ShareFetch",
        ApiKey::ShareAcknowledge => "ShareAcknowledge",
        ApiKey::DescribeShareGroupOffsets => "DescribeShareGroupOffsets",
        ApiKey::AlterShareGroupOffsets => "AlterShareGroupOffsets",
        ApiKey::DeleteShareGroupOffsets => "DeleteShareGroupOffsets",
        ApiKey::ReadShareGroupState => "ReadShareGroupState",
        ApiKey::WriteShareGroupState => "WriteShareGroupState",
        _ => "Other",
    }
}

/// What the connection does after a request.
#[derive(Debug)]
pub enum Reply {
    /// Send this response (boxed: responses are large, the other variants small).
    Respond(Box<ResponseKind>),
    /// Send this Fetch response, whose record batches follow from their segment files.
    Fetch(Box<fetch::FetchReply>),
    /// Send this ShareFetch response, whose record batches follow from their segment files.
    ShareFetch(Box<share_fetch::ShareFetchReply>),
    /// Send nothing (Produce with acks=0 that succeeded).
    Silent,
    /// Close the connection: the only way to tell an acks=0 producer that its write failed
    /// (Kafka does the same), or a request that cannot be answered in order.
    Close(String),
}

/// Routes a decoded request to its handler. The version table guarantees only advertised
/// APIs arrive here.
pub async fn dispatch(broker: &Arc<Broker>, ctx: &RequestContext, req: RequestKind) -> Reply {
    use RequestKind as Rq;
    use ResponseKind as Rs;
    Reply::Respond(Box::new(match req {
        Rq::ApiVersions(r) => Rs::ApiVersions(api_versions::handle(broker, ctx, r).await),
        Rq::Metadata(r) => Rs::Metadata(metadata::handle(broker, ctx, r).await),
        Rq::Produce(r) => return produce::handle(broker, ctx, r).await,
        Rq::Fetch(r) => return Reply::Fetch(Box::new(fetch::handle(broker, ctx, r).await)),
        Rq::ShareFetch(r) => {
            return Reply::ShareFetch(Box::new(share_fetch::handle(broker, ctx, r).await))
        }
        Rq::ShareAcknowledge(r) => {
            Rs::ShareAcknowledge(share_acknowledge::handle(broker, ctx, r).await)
        }
        Rq::DescribeShareGroupOffsets(r) => Rs::DescribeShareGroupOffsets(
            describe_share_group_offsets::handle(broker, ctx, r).await,
        ),
        Rq::AlterShareGroupOffsets(r) => {
            Rs::AlterShareGroupOffsets(alter_share_group_offsets::handle(broker, ctx, r).await)
        }
        Rq::DeleteShareGroupOffsets(r) => {
            Rs::DeleteShareGroupOffsets(delete_share_group_offsets::handle(broker, ctx, r).await)
        }
        Rq::ListOffsets(r) => Rs::ListOffsets(list_offsets::handle(broker, ctx, r).await),
        Rq::InitProducerId(r) => Rs::InitProducerId(init_producer_id::handle(broker, ctx, r).await),
        Rq::OffsetForLeaderEpoch(r) => {
            Rs::OffsetForLeaderEpoch(offset_for_leader_epoch::handle(broker, ctx, r).await)
        }
        Rq::CreateTopics(r) => Rs::CreateTopics(create_topics::handle(broker, ctx, r).await),
        Rq::DeleteTopics(r) => Rs::DeleteTopics(delete_topics::handle(broker, ctx, r).await),
        Rq::CreatePartitions(r) => {
            Rs::CreatePartitions(create_partitions::handle(broker, ctx, r).await)
        }
        Rq::DescribeConfigs(r) => {
            Rs::DescribeConfigs(describe_configs::handle(broker, ctx, r).await)
        }
        Rq::AlterConfigs(r) => Rs::AlterConfigs(alter_configs::handle(broker, ctx, r).await),
        Rq::IncrementalAlterConfigs(r) => {
            Rs::IncrementalAlterConfigs(incremental_alter_configs::handle(broker, ctx, r).await)
        }
        Rq::DeleteRecords(r) => Rs::DeleteRecords(delete_records::handle(broker, ctx, r).await),
        Rq::DescribeQuorum(r) => Rs::DescribeQuorum(describe_quorum::handle(broker, ctx, r).await),
        Rq::DescribeCluster(r) => {
            Rs::DescribeCluster(describe_cluster::handle(broker, ctx, r).await)
        }
        Rq::FindCoordinator(r) => {
            Rs::FindCoordinator(find_coordinator::handle(broker, ctx, r).await)
        }
        Rq::JoinGroup(r) => Rs::JoinGroup(join_group::handle(broker, ctx, r).await),
        Rq::SyncGroup(r) => Rs::SyncGroup(sync_group::handle(broker, ctx, r).await),
        Rq::Heartbeat(r) => Rs::Heartbeat(heartbeat::handle(broker, ctx, r).await),
        Rq::LeaveGroup(r) => Rs::LeaveGroup(leave_group::handle(broker, ctx, r).await),
        Rq::OffsetCommit(r) => Rs::OffsetCommit(offset_commit::handle(broker, ctx, r).await),
        Rq::OffsetFetch(r) => Rs::OffsetFetch(offset_fetch::handle(broker, ctx, r).await),
        Rq::OffsetDelete(r) => Rs::OffsetDelete(offset_delete::handle(broker, ctx, r).await),
        Rq::DescribeGroups(r) => Rs::DescribeGroups(describe_groups::handle(broker, ctx, r).await),
        Rq::ListGroups(r) => Rs::ListGroups(list_groups::handle(broker, ctx, r).await),
        Rq::DeleteGroups(r) => Rs::DeleteGroups(delete_groups::handle(broker, ctx, r).await),
        Rq::ConsumerGroupHeartbeat(r) => {
            Rs::ConsumerGroupHeartbeat(consumer_group_heartbeat::handle(broker, ctx, r).await)
        }
        Rq::ConsumerGroupDescribe(r) => {
            Rs::ConsumerGroupDescribe(consumer_group_describe::handle(broker, ctx, r).await)
        }
        Rq::DescribeTopicPartitions(r) => {
            Rs::DescribeTopicPartitions(describe_topic_partitions::handle(broker, ctx, r).await)
        }
        Rq::ShareGroupHeartbeat(r) => {
            Rs::ShareGroupHeartbeat(share_group_heartbeat::handle(broker, ctx, r).await)
        }
        Rq::ShareGroupDescribe(r) => {
            Rs::ShareGroupDescribe(share_group_describe::handle(broker, ctx, r).await)
        }
        Rq::DescribeLogDirs(r) => {
            Rs::DescribeLogDirs(describe_log_dirs::handle(broker, ctx, r).await)
        }
        Rq::AlterReplicaLogDirs(r) => {
            Rs::AlterReplicaLogDirs(alter_replica_log_dirs::handle(broker, ctx, r).await)
        }
        Rq::DescribeProducers(r) => {
            Rs::DescribeProducers(describe_producers::handle(broker, ctx, r).await)
        }
        Rq::ElectLeaders(r) => Rs::ElectLeaders(elect_leaders::handle(broker, ctx, r).await),
        Rq::AddPartitionsToTxn(r) => {
            Rs::AddPartitionsToTxn(add_partitions_to_txn::handle(broker, ctx, r).await)
        }
        Rq::AddOffsetsToTxn(r) => {
            Rs::AddOffsetsToTxn(add_offsets_to_txn::handle(broker, ctx, r).await)
        }
        Rq::EndTxn(r) => Rs::EndTxn(end_txn::handle(broker, ctx, r).await),
        Rq::WriteTxnMarkers(r) => {
            Rs::WriteTxnMarkers(write_txn_markers::handle(broker, ctx, r).await)
        }
        Rq::ReadShareGroupState(r) => {
            Rs::ReadShareGroupState(read_share_group_state::handle(broker, ctx, r).await)
        }
        Rq::WriteShareGroupState(r) => {
            Rs::WriteShareGroupState(write_share_group_state::handle(broker, ctx, r).await)
        }
        Rq::TxnOffsetCommit(r) => {
            Rs::TxnOffsetCommit(txn_offset_commit::handle(broker, ctx, r).await)
        }
        Rq::DescribeTransactions(r) => {
            Rs::DescribeTransactions(describe_transactions::handle(broker, ctx, r).await)
        }
        Rq::ListTransactions(r) => {
            Rs::ListTransactions(list_transactions::handle(broker, ctx, r).await)
        }
        Rq::CreateAcls(r) => Rs::CreateAcls(create_acls::handle(broker, ctx, r).await),
        Rq::DescribeAcls(r) => Rs::DescribeAcls(describe_acls::handle(broker, ctx, r).await),
        Rq::DeleteAcls(r) => Rs::DeleteAcls(delete_acls::handle(broker, ctx, r).await),
        Rq::AlterPartitionReassignments(r) => Rs::AlterPartitionReassignments(
            alter_partition_reassignments::handle(broker, ctx, r).await,
        ),
        Rq::ListPartitionReassignments(r) => Rs::ListPartitionReassignments(
            list_partition_reassignments::handle(broker, ctx, r).await,
        ),
        Rq::SaslHandshake(r) => Rs::SaslHandshake(sasl_handshake::handle(broker, ctx, r).await),
        Rq::SaslAuthenticate(r) => {
            Rs::SaslAuthenticate(sasl_authenticate::handle(broker, ctx, r).await)
        }
        Rq::DescribeUserScramCredentials(r) => Rs::DescribeUserScramCredentials(
            describe_user_scram_credentials::handle(broker, ctx, r).await,
        ),
        Rq::AlterUserScramCredentials(r) => Rs::AlterUserScramCredentials(
            alter_user_scram_credentials::handle(broker, ctx, r).await,
        ),
        other => {
            // Unreachable while the version table and this match agree; a test checks that.
            drop(other);
            return Reply::Close(format!("no handler for advertised API {:?}", ctx.api_key));
        }
    }))
}

/// The response-level error code, for the requests metric (0 when errors are per item).
pub fn top_level_error(resp: &ResponseKind) -> i16 {
    match resp {
        ResponseKind::ApiVersions(r) => r.error_code,
        ResponseKind::FindCoordinator(r) => r.error_code,
        ResponseKind::JoinGroup(r) => r.error_code,
        ResponseKind::SyncGroup(r) => r.error_code,
        ResponseKind::Heartbeat(r) => r.error_code,
        ResponseKind::LeaveGroup(r) => r.error_code,
        ResponseKind::InitProducerId(r) => r.error_code,
        ResponseKind::DescribeCluster(r) => r.error_code,
        ResponseKind::DescribeQuorum(r) => r.error_code,
        ResponseKind::ListGroups(r) => r.error_code,
        ResponseKind::OffsetDelete(r) => r.error_code,
        ResponseKind::DescribeLogDirs(r) => r.error_code,
        ResponseKind::ElectLeaders(r) => r.error_code,
        ResponseKind::AlterPartitionReassignments(r) => r.error_code,
        ResponseKind::ListPartitionReassignments(r) => r.error_code,
        ResponseKind::DescribeAcls(r) => r.error_code,
        ResponseKind::SaslHandshake(r) => r.error_code,
        ResponseKind::SaslAuthenticate(r) => r.error_code,
        ResponseKind::DescribeUserScramCredentials(r) => r.error_code,
        ResponseKind::ShareAcknowledge(r) => r.error_code,
        ResponseKind::AlterShareGroupOffsets(r) => r.error_code,
        ResponseKind::DeleteShareGroupOffsets(r) => r.error_code,
        ResponseKind::ShareGroupHeartbeat(r) => r.error_code,
        _ => crate::kafka_error::NONE,
    }
}

/// Runs blocking engine work (file system, RocksDB) off the async workers.
pub(crate) async fn blocking<T, F>(f: F) -> T
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(v) => v,
        // A panic inside engine code is a bug; re-raise it in this request's task, which the
        // connection observes as a dropped reply and closes.
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}
