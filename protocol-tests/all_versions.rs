//! Every advertised API at every advertised version: a realistic request goes through the
//! wire codec (encoded by `kafka-protocol` as a client would, decoded by our codec), is
//! dispatched to its handler, and the response must encode at that version.
//!
//! `kafka-protocol` refuses to encode a response that sets a non-ignorable field the
//! version does not have; a handler that forgets to respect the request version fails here
//! instead of in front of an old client.

use std::net::{IpAddr, Ipv4Addr};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use runnel::config::Config;
use runnel::handlers::{dispatch, Reply, RequestContext};
use runnel::protocol::codec::{
    decode_request, encode_fetch_response, encode_response, encode_share_fetch_response,
    DecodedRequest,
};
use runnel::protocol::versions::{self, PRODUCE_MIN_ACCEPTED};

use crate::wire::record_batch;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}
fn topic(v: &str) -> TopicName {
    TopicName(s(v))
}

/// A request a real client could send at `version`.
pub(crate) fn sample(key: ApiKey, v: i16) -> RequestKind {
    use kafka_protocol::messages as m;
    match key {
        ApiKey::ApiVersions => {
            let mut r = ApiVersionsRequest::default();
            if v >= 3 {
                r = r
                    .with_client_software_name(s("runnel-test"))
                    .with_client_software_version(s("1.0"));
            }
            RequestKind::ApiVersions(r)
        }
        ApiKey::Metadata => {
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                m::metadata_request::MetadataRequestTopic::default().with_name(Some(topic("av"))),
            ])))
        }
        ApiKey::Produce => RequestKind::Produce(
            ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(1000)
                .with_topic_data(vec![m::produce_request::TopicProduceData::default()
                    .with_name(topic("av"))
                    .with_partition_data(vec![
                        m::produce_request::PartitionProduceData::default()
                            .with_index(0)
                            .with_records(Some(Bytes::from(record_batch(
                                &[b"v"],
                                1_700_000_000_000,
                            )))),
                    ])]),
        ),
        ApiKey::Fetch => RequestKind::Fetch(
            FetchRequest::default()
                .with_max_wait_ms(0)
                .with_max_bytes(1 << 20)
                .with_topics(vec![m::fetch_request::FetchTopic::default()
                    .with_topic(topic("av"))
                    .with_partitions(vec![m::fetch_request::FetchPartition::default()
                        .with_partition(0)
                        .with_fetch_offset(0)
                        .with_partition_max_bytes(1 << 20)])]),
        ),
        ApiKey::ListOffsets => {
            let mut stamps = vec![-1, -2, 0];
            if v >= 7 {
                stamps.push(-3);
            }
            RequestKind::ListOffsets(
                ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![m::list_offsets_request::ListOffsetsTopic::default()
                        .with_name(topic("av"))
                        .with_partitions(
                            stamps
                                .into_iter()
                                .map(|t| {
                                    m::list_offsets_request::ListOffsetsPartition::default()
                                        .with_partition_index(0)
                                        .with_timestamp(t)
                                })
                                .collect(),
                        )]),
            )
        }
        ApiKey::OffsetForLeaderEpoch => RequestKind::OffsetForLeaderEpoch(
            OffsetForLeaderEpochRequest::default().with_topics(vec![
                m::offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                    .with_topic(topic("av"))
                    .with_partitions(vec![
                        m::offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                            .with_partition(0)
                            .with_leader_epoch(0),
                    ]),
            ]),
        ),
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transactional_id(None)
                .with_transaction_timeout_ms(60_000),
        ),
        ApiKey::CreateTopics => RequestKind::CreateTopics(
            CreateTopicsRequest::default()
                .with_timeout_ms(1000)
                .with_topics(vec![m::create_topics_request::CreatableTopic::default()
                    .with_name(topic(&format!("ct{v}")))
                    .with_num_partitions(2)
                    .with_replication_factor(1)
                    .with_configs(vec![
                        m::create_topics_request::CreatableTopicConfig::default()
                            .with_name(s("retention.ms"))
                            .with_value(Some(s("100000"))),
                    ])]),
        ),
        ApiKey::DeleteTopics => {
            let r = DeleteTopicsRequest::default().with_timeout_ms(1000);
            RequestKind::DeleteTopics(if v >= 6 {
                r.with_topics(vec![m::delete_topics_request::DeleteTopicState::default()
                    .with_name(Some(topic(&format!("ct{v}"))))])
            } else {
                r.with_topic_names(vec![topic(&format!("ct{v}"))])
            })
        }
        ApiKey::CreatePartitions => RequestKind::CreatePartitions(
            CreatePartitionsRequest::default()
                .with_timeout_ms(1000)
                .with_topics(vec![
                    m::create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(topic("grow"))
                        .with_count(i32::from(v) + 2),
                ]),
        ),
        ApiKey::DescribeConfigs => {
            let mut r = DescribeConfigsRequest::default().with_resources(vec![
                m::describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("av")),
                m::describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(4)
                    .with_resource_name(s("0")),
            ]);
            r.include_synonyms = true;
            if v >= 3 {
                r.include_documentation = true;
            }
            RequestKind::DescribeConfigs(r)
        }
        ApiKey::AlterConfigs => {
            RequestKind::AlterConfigs(AlterConfigsRequest::default().with_resources(vec![
                m::alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("av"))
                    .with_configs(vec![m::alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s("86400000")))]),
            ]))
        }
        ApiKey::IncrementalAlterConfigs => RequestKind::IncrementalAlterConfigs(
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                m::incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(s("av"))
                    .with_configs(vec![
                        m::incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s("segment.ms"))
                            .with_config_operation(0)
                            .with_value(Some(s(&format!("{}", 3_600_000 + i64::from(v))))),
                    ]),
                m::incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(8)
                    .with_resource_name(s("0"))
                    .with_configs(vec![
                        m::incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s("runnel::http"))
                            .with_config_operation(0)
                            .with_value(Some(s("INFO"))),
                    ]),
            ]),
        ),
        ApiKey::DeleteRecords => RequestKind::DeleteRecords(
            DeleteRecordsRequest::default()
                .with_timeout_ms(1000)
                .with_topics(vec![
                    m::delete_records_request::DeleteRecordsTopic::default()
                        .with_name(topic("av"))
                        .with_partitions(vec![
                            m::delete_records_request::DeleteRecordsPartition::default()
                                .with_partition_index(0)
                                .with_offset(0),
                        ]),
                ]),
        ),
        ApiKey::DescribeCluster => RequestKind::DescribeCluster(
            DescribeClusterRequest::default().with_include_cluster_authorized_operations(true),
        ),
        ApiKey::FindCoordinator => {
            let r = FindCoordinatorRequest::default();
            RequestKind::FindCoordinator(if v >= 4 {
                r.with_coordinator_keys(vec![s("g1")])
            } else {
                r.with_key(s("g1"))
            })
        }
        ApiKey::JoinGroup => {
            let mut r = JoinGroupRequest::default()
                .with_group_id(GroupId(s(&format!("jg{v}"))))
                .with_session_timeout_ms(10_000)
                .with_protocol_type(s("consumer"))
                .with_protocols(vec![
                    m::join_group_request::JoinGroupRequestProtocol::default()
                        .with_name(s("range"))
                        .with_metadata(Bytes::from_static(&[
                            0, 1, 0, 0, 0, 1, 0, 2, b'a', b'v', 0, 0, 0, 0,
                        ])),
                ]);
            if v >= 1 {
                r.rebalance_timeout_ms = 10_000;
            }
            RequestKind::JoinGroup(r)
        }
        ApiKey::SyncGroup => RequestKind::SyncGroup(
            SyncGroupRequest::default()
                .with_group_id(GroupId(s("nobody")))
                .with_generation_id(1)
                .with_member_id(s("m-1")),
        ),
        ApiKey::Heartbeat => RequestKind::Heartbeat(
            HeartbeatRequest::default()
                .with_group_id(GroupId(s("nobody")))
                .with_generation_id(1)
                .with_member_id(s("m-1")),
        ),
        ApiKey::LeaveGroup => {
            let r = LeaveGroupRequest::default().with_group_id(GroupId(s("nobody")));
            RequestKind::LeaveGroup(if v >= 3 {
                r.with_members(vec![
                    m::leave_group_request::MemberIdentity::default().with_member_id(s("m-1"))
                ])
            } else {
                r.with_member_id(s("m-1"))
            })
        }
        ApiKey::OffsetCommit => RequestKind::OffsetCommit(
            OffsetCommitRequest::default()
                .with_group_id(GroupId(s("oc")))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(vec![
                    m::offset_commit_request::OffsetCommitRequestTopic::default()
                        .with_name(topic("av"))
                        .with_partitions(vec![
                            m::offset_commit_request::OffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1)
                                .with_committed_metadata(Some(s("meta"))),
                        ]),
                ]),
        ),
        ApiKey::OffsetFetch => RequestKind::OffsetFetch(if v >= 8 {
            OffsetFetchRequest::default().with_groups(vec![
                m::offset_fetch_request::OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(s("oc"))),
            ])
        } else {
            OffsetFetchRequest::default()
                .with_group_id(GroupId(s("oc")))
                .with_topics(Some(vec![
                    m::offset_fetch_request::OffsetFetchRequestTopic::default()
                        .with_name(topic("av"))
                        .with_partition_indexes(vec![0]),
                ]))
        }),
        ApiKey::OffsetDelete => RequestKind::OffsetDelete(
            OffsetDeleteRequest::default()
                .with_group_id(GroupId(s("oc")))
                .with_topics(vec![
                    m::offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(topic("av"))
                        .with_partitions(vec![
                            m::offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(0),
                        ]),
                ]),
        ),
        ApiKey::DescribeGroups => RequestKind::DescribeGroups(
            DescribeGroupsRequest::default()
                .with_groups(vec![GroupId(s("oc")), GroupId(s("missing"))]),
        ),
        ApiKey::ListGroups => RequestKind::ListGroups(ListGroupsRequest::default()),
        ApiKey::DeleteGroups => RequestKind::DeleteGroups(
            DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s("missing"))]),
        ),
        ApiKey::DescribeTopicPartitions => RequestKind::DescribeTopicPartitions(
            DescribeTopicPartitionsRequest::default()
                .with_topics(vec![
                    m::describe_topic_partitions_request::TopicRequest::default()
                        .with_name(topic("av")),
                    m::describe_topic_partitions_request::TopicRequest::default()
                        .with_name(topic("missing")),
                ])
                .with_response_partition_limit(2000),
        ),
        ApiKey::DescribeLogDirs => RequestKind::DescribeLogDirs(
            DescribeLogDirsRequest::default().with_topics(if v % 2 == 0 {
                None
            } else {
                Some(vec![
                    m::describe_log_dirs_request::DescribableLogDirTopic::default()
                        .with_topic(topic("av"))
                        .with_partitions(vec![0]),
                ])
            }),
        ),
        ApiKey::AlterReplicaLogDirs => RequestKind::AlterReplicaLogDirs(
            AlterReplicaLogDirsRequest::default().with_dirs(vec![
                m::alter_replica_log_dirs_request::AlterReplicaLogDir::default()
                    .with_path(s("/not/a/log/dir"))
                    .with_topics(vec![
                        m::alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
                            .with_name(topic("av"))
                            .with_partitions(vec![0]),
                    ]),
            ]),
        ),
        ApiKey::DescribeProducers => RequestKind::DescribeProducers(
            DescribeProducersRequest::default().with_topics(vec![
                m::describe_producers_request::TopicRequest::default()
                    .with_name(topic("av"))
                    .with_partition_indexes(vec![0, 7]),
                m::describe_producers_request::TopicRequest::default()
                    .with_name(topic("missing"))
                    .with_partition_indexes(vec![0]),
            ]),
        ),
        ApiKey::ElectLeaders => {
            let mut r = ElectLeadersRequest::default()
                .with_timeout_ms(1000)
                .with_topic_partitions(Some(vec![
                    m::elect_leaders_request::TopicPartitions::default()
                        .with_topic(topic("av"))
                        .with_partitions(vec![0, 9]),
                ]));
            if v >= 1 {
                r.election_type = 1;
            }
            RequestKind::ElectLeaders(r)
        }
        ApiKey::AlterPartitionReassignments => RequestKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default()
                .with_timeout_ms(1000)
                .with_topics(vec![
                    m::alter_partition_reassignments_request::ReassignableTopic::default()
                        .with_name(topic("av"))
                        .with_partitions(vec![
                            m::alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_partition_index(0)
                                .with_replicas(Some(vec![BrokerId(0)])),
                            m::alter_partition_reassignments_request::ReassignablePartition::default()
                                .with_partition_index(0)
                                .with_replicas(None),
                        ]),
                ]),
        ),
        ApiKey::ListPartitionReassignments => RequestKind::ListPartitionReassignments(
            ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(1000)
                .with_topics(None),
        ),
        ApiKey::DescribeQuorum => RequestKind::DescribeQuorum(
            DescribeQuorumRequest::default().with_topics(vec![
                m::describe_quorum_request::TopicData::default()
                    .with_topic_name(topic("__cluster_metadata"))
                    .with_partitions(vec![
                        m::describe_quorum_request::PartitionData::default().with_partition_index(0),
                    ]),
            ]),
        ),
        // Transactions: an unknown transactional id (answered with an error, not a panic).
        ApiKey::AddPartitionsToTxn => RequestKind::AddPartitionsToTxn(
            AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(TransactionalId(s("av-txn")))
                .with_v3_and_below_producer_id(ProducerId(1))
                .with_v3_and_below_producer_epoch(0)
                .with_v3_and_below_topics(vec![
                    m::add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                        .with_name(topic("av"))
                        .with_partitions(vec![0]),
                ]),
        ),
        ApiKey::AddOffsetsToTxn => RequestKind::AddOffsetsToTxn(
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s("av-txn")))
                .with_producer_id(ProducerId(1))
                .with_group_id(GroupId(s("av-group"))),
        ),
        ApiKey::EndTxn => RequestKind::EndTxn(
            EndTxnRequest::default()
                .with_transactional_id(TransactionalId(s("av-txn")))
                .with_producer_id(ProducerId(1))
                .with_committed(true),
        ),
        ApiKey::TxnOffsetCommit => RequestKind::TxnOffsetCommit(
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s("av-txn")))
                .with_group_id(GroupId(s("av-group")))
                .with_producer_id(ProducerId(1))
                .with_generation_id(-1)
                .with_topics(vec![m::txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                    .with_name(topic("av"))
                    .with_partitions(vec![
                        m::txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                            .with_partition_index(0)
                            .with_committed_offset(1),
                    ])]),
        ),
        ApiKey::DescribeTransactions => RequestKind::DescribeTransactions(
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s("av-txn"))]),
        ),
        ApiKey::ListTransactions => RequestKind::ListTransactions(
            ListTransactionsRequest::default()
                .with_state_filters(vec![s("Ongoing")])
                .with_duration_filter(-1),
        ),
        ApiKey::CreateAcls => RequestKind::CreateAcls(
            m::CreateAclsRequest::default().with_creations(vec![
                m::create_acls_request::AclCreation::default()
                    .with_resource_type(2)
                    .with_resource_name(s("av"))
                    .with_resource_pattern_type(4)
                    .with_principal(s("User:alice"))
                    .with_host(s("*"))
                    .with_operation(3)
                    .with_permission_type(3),
            ]),
        ),
        ApiKey::DescribeAcls => RequestKind::DescribeAcls(
            m::DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(2)
                .with_resource_name_filter(Some(s("av")))
                .with_principal_filter(None)
                .with_host_filter(None)
                .with_operation(1)
                .with_permission_type(1),
        ),
        ApiKey::DeleteAcls => RequestKind::DeleteAcls(
            m::DeleteAclsRequest::default().with_filters(vec![
                m::delete_acls_request::DeleteAclsFilter::default()
                    .with_resource_type_filter(2)
                    .with_pattern_type_filter(1)
                    .with_principal_filter(Some(s("User:alice")))
                    .with_host_filter(None)
                    .with_operation(1)
                    .with_permission_type(1),
            ]),
        ),
        // SASL outside an exchange (a PLAINTEXT listener): ILLEGAL_SASL_STATE, as Kafka.
        ApiKey::SaslHandshake => {
            RequestKind::SaslHandshake(SaslHandshakeRequest::default().with_mechanism(s("PLAIN")))
        }
        ApiKey::SaslAuthenticate => RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0u\0p")),
        ),
        ApiKey::DescribeUserScramCredentials => RequestKind::DescribeUserScramCredentials(
            DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
                m::describe_user_scram_credentials_request::UserName::default()
                    .with_name(s("av-user")),
            ])),
        ),
        ApiKey::AlterUserScramCredentials => RequestKind::AlterUserScramCredentials(
            AlterUserScramCredentialsRequest::default().with_upsertions(vec![
                m::alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                    .with_name(s("av-user"))
                    .with_mechanism(2)
                    .with_iterations(4096)
                    .with_salt(Bytes::from_static(b"salt"))
                    .with_salted_password(Bytes::from(vec![7u8; 64])),
            ]),
        ),
        ApiKey::ShareGroupHeartbeat => RequestKind::ShareGroupHeartbeat(
            ShareGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("av-share")))
                .with_member_id(s("av-member"))
                .with_member_epoch(0)
                .with_subscribed_topic_names(Some(vec![topic("av")])),
        ),
        ApiKey::ShareGroupDescribe => RequestKind::ShareGroupDescribe(
            ShareGroupDescribeRequest::default()
                .with_group_ids(vec![GroupId(s("av-share")), GroupId(s("missing"))])
                .with_include_authorized_operations(true),
        ),
        // Share groups: a share fetch on an unknown topic id (UNKNOWN_TOPIC_ID per partition)
        // and acknowledgements without a session (SHARE_SESSION_NOT_FOUND).
        ApiKey::ShareFetch => RequestKind::ShareFetch(
            m::ShareFetchRequest::default()
                .with_group_id(Some(GroupId(s("av-share"))))
                .with_member_id(Some(s("av-member")))
                .with_max_bytes(1 << 20)
                .with_max_records(10)
                .with_topics(vec![m::share_fetch_request::FetchTopic::default()
                    .with_topic_id(uuid::Uuid::from_u128(5))
                    .with_partitions(vec![
                        m::share_fetch_request::FetchPartition::default(),
                    ])]),
        ),
        ApiKey::ShareAcknowledge => RequestKind::ShareAcknowledge(
            m::ShareAcknowledgeRequest::default()
                .with_group_id(Some(GroupId(s("av-share"))))
                .with_member_id(Some(s("av-member")))
                .with_share_session_epoch(1),
        ),
        ApiKey::DescribeShareGroupOffsets => RequestKind::DescribeShareGroupOffsets(
            m::DescribeShareGroupOffsetsRequest::default().with_groups(vec![
                m::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
                    .with_group_id(GroupId(s("av-share")))
                    .with_topics(None),
            ]),
        ),
        ApiKey::AlterShareGroupOffsets => RequestKind::AlterShareGroupOffsets(
            m::AlterShareGroupOffsetsRequest::default()
                .with_group_id(GroupId(s("av-share")))
                .with_topics(vec![
                    m::alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(topic("av"))
                        .with_partitions(vec![
                            m::alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default()
                                .with_start_offset(0),
                        ]),
                ]),
        ),
        ApiKey::DeleteShareGroupOffsets => RequestKind::DeleteShareGroupOffsets(
            m::DeleteShareGroupOffsetsRequest::default()
                .with_group_id(GroupId(s("av-share")))
                .with_topics(vec![
                    m::delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(topic("av")),
                ]),
        ),
        ApiKey::ConsumerGroupHeartbeat => RequestKind::ConsumerGroupHeartbeat(
            m::ConsumerGroupHeartbeatRequest::default()
                .with_group_id(GroupId(s("av-848")))
                .with_member_id(s("av-member"))
                .with_member_epoch(0)
                .with_rebalance_timeout_ms(30_000)
                .with_subscribed_topic_names(Some(vec![topic("av")]))
                .with_topic_partitions(Some(vec![])),
        ),
        ApiKey::ConsumerGroupDescribe => RequestKind::ConsumerGroupDescribe(
            m::ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("av-848"))]),
        ),
        ApiKey::WriteTxnMarkers => RequestKind::WriteTxnMarkers(
            m::WriteTxnMarkersRequest::default().with_markers(vec![
                m::write_txn_markers_request::WritableTxnMarker::default()
                    .with_producer_id(ProducerId(1))
                    .with_transaction_result(true)
                    .with_coordinator_epoch(0)
                    .with_topics(vec![
                        m::write_txn_markers_request::WritableTxnMarkerTopic::default()
                            .with_name(topic("av"))
                            .with_partition_indexes(vec![0]),
                    ]),
            ]),
        ),
        // Between brokers only: a single node answers INVALID_REQUEST per partition.
        ApiKey::ReadShareGroupState => RequestKind::ReadShareGroupState(
            m::ReadShareGroupStateRequest::default()
                .with_group_id(s("av-share"))
                .with_topics(vec![
                    m::read_share_group_state_request::ReadStateData::default()
                        .with_topic_id(uuid::Uuid::from_u128(5))
                        .with_partitions(vec![
                            m::read_share_group_state_request::PartitionData::default()
                                .with_leader_epoch(0),
                        ]),
                ]),
        ),
        ApiKey::WriteShareGroupState => RequestKind::WriteShareGroupState(
            m::WriteShareGroupStateRequest::default()
                .with_group_id(s("av-share"))
                .with_topics(vec![
                    m::write_share_group_state_request::WriteStateData::default()
                        .with_topic_id(uuid::Uuid::from_u128(5))
                        .with_partitions(vec![
                            m::write_share_group_state_request::PartitionData::default()
                                .with_start_offset(0)
                                .with_state_batches(vec![
                                    m::write_share_group_state_request::StateBatch::default()
                                        .with_first_offset(0)
                                        .with_last_offset(1)
                                        .with_delivery_state(2)
                                        .with_delivery_count(1),
                                ]),
                        ]),
                ]),
        ),
        other => panic!("no sample request for advertised API {other:?}"),
    }
}

/// Encodes `req` as a client frame (header + body) at `version`.
pub(crate) fn client_frame(key: ApiKey, v: i16, req: &RequestKind) -> Bytes {
    let mut b = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(v)
        .with_correlation_id(42)
        .with_client_id(Some(s("all-versions")))
        .encode(&mut b, key.request_header_version(v))
        .unwrap();
    req.encode(&mut b, v)
        .unwrap_or_else(|e| panic!("sample {key:?} v{v} is not a valid request: {e}"));
    b.freeze()
}

#[tokio::test]
async fn every_advertised_version_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        http_listen: String::new(),
        ..Config::default()
    };
    cfg.group.initial_rebalance_delay_ms = 0;
    let running = runnel::runtime::start(cfg).await.unwrap();
    let broker = running.broker.clone();
    // Topics the samples use: "av" (1 partition, auto-created) and "grow".
    for t in ["av", "grow"] {
        let req = sample(ApiKey::Metadata, 1);
        let mut req = match req {
            RequestKind::Metadata(m) => m,
            _ => unreachable!(),
        };
        req.topics = Some(vec![
            kafka_protocol::messages::metadata_request::MetadataRequestTopic::default()
                .with_name(Some(topic(t))),
        ]);
        let ctx = ctx(ApiKey::Metadata, 1);
        dispatch(&broker, &ctx, RequestKind::Metadata(req)).await;
    }
    let mut checked = 0;
    for r in versions::SUPPORTED {
        let lowest = if r.key == ApiKey::Produce {
            PRODUCE_MIN_ACCEPTED
        } else {
            r.min
        };
        for v in lowest..=r.max {
            let frame = client_frame(r.key, v, &sample(r.key, v));
            let (header, decoded) =
                decode_request(frame).unwrap_or_else(|e| panic!("{:?} v{v}: {e}", r.key));
            let DecodedRequest::Request(req) = decoded else {
                panic!("{:?} v{v} not decoded", r.key)
            };
            let ctx = ctx(r.key, v);
            assert_eq!(header.api_version, v);
            let resp = tokio::time::timeout(
                std::time::Duration::from_secs(20),
                dispatch(&broker, &ctx, *req),
            )
            .await
            .unwrap_or_else(|_| panic!("{:?} v{v} timed out", r.key));
            match resp {
                Reply::Respond(resp) => {
                    assert_config_answers(v, &resp);
                    let mut out = BytesMut::new();
                    encode_response(&mut out, r.key, v, 42, &resp).unwrap_or_else(|e| {
                        panic!("{:?} v{v} response does not encode: {e}", r.key)
                    });
                }
                Reply::Fetch(f) => {
                    encode_fetch_response(v, 42, &f.response, f.files)
                        .unwrap_or_else(|e| panic!("Fetch v{v} response does not encode: {e}"));
                }
                Reply::ShareFetch(f) => {
                    assert_eq!(f.response.error_code, 0);
                    assert_eq!(f.response.responses[0].partitions[0].error_code, 100);
                    encode_share_fetch_response(v, 42, &f.response, f.files).unwrap_or_else(|e| {
                        panic!("ShareFetch v{v} response does not encode: {e}")
                    });
                }
                other => panic!("{:?} v{v} gave no response: {other:?}", r.key),
            }
            checked += 1;
        }
    }
    assert!(checked > 100, "{checked}");
    running.shutdown().await;
}

/// The config APIs' happy-path samples must succeed, not merely encode.
fn assert_config_answers(v: i16, resp: &ResponseKind) {
    match resp {
        ResponseKind::DescribeConfigs(r) => {
            for res in &r.results {
                assert_eq!(
                    res.error_code, 0,
                    "DescribeConfigs v{v}: {:?}",
                    res.error_message
                );
                assert!(
                    !res.configs.is_empty(),
                    "DescribeConfigs v{v} described nothing"
                );
            }
            let topic = &r.results[0].configs;
            assert_eq!(topic.len(), 33, "every Kafka topic config");
            let policy = topic
                .iter()
                .find(|c| c.name.as_str() == "cleanup.policy")
                .unwrap();
            assert_eq!(policy.value.as_deref(), Some("delete"));
        }
        ResponseKind::AlterConfigs(r) => {
            assert_eq!(r.responses.len(), 1);
            assert_eq!(
                r.responses[0].error_code, 0,
                "AlterConfigs v{v}: {:?}",
                r.responses[0].error_message
            );
        }
        ResponseKind::IncrementalAlterConfigs(r) => {
            assert_eq!(r.responses.len(), 2);
            for res in &r.responses {
                assert_eq!(
                    res.error_code, 0,
                    "IncrementalAlterConfigs v{v}: {:?}",
                    res.error_message
                );
            }
        }
        _ => {}
    }
}

fn ctx(key: ApiKey, v: i16) -> RequestContext {
    RequestContext {
        api_key: key,
        api_version: v,
        correlation_id: 42,
        client_id: "all-versions".into(),
        client_host: IpAddr::V4(Ipv4Addr::LOCALHOST),
        principal: std::sync::Arc::new(runnel::security::Principal::anonymous()),
        listener: "PLAINTEXT".into(),
        connection_id: 0,
    }
}
