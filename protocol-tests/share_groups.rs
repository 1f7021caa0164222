//! Share groups (KIP-932) over the wire: ShareGroupHeartbeat v1 and ShareGroupDescribe v1
//! against an in-process broker, with ListGroups / DescribeGroups / DeleteGroups on the same
//! group namespace, a topic gaining partitions (their share-partitions start at offset 0), and
//! a restart that keeps members and epochs.

use bytes::Bytes;
use kafka_protocol::messages::*;
use uuid::Uuid;

use crate::harness::{self, call, create_topic, s, Client};
use crate::wire::record_batch;

async fn heartbeat(
    c: &mut Client,
    group: &str,
    member: &str,
    epoch: i32,
    topics: Option<&[&str]>,
) -> ShareGroupHeartbeatResponse {
    let req = ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(topics.map(|ts| ts.iter().map(|t| TopicName(s(t))).collect()));
    call(c, ApiKey::ShareGroupHeartbeat, 1, &req).await
}

async fn describe(c: &mut Client, groups: &[&str]) -> ShareGroupDescribeResponse {
    let req = ShareGroupDescribeRequest::default()
        .with_group_ids(groups.iter().map(|g| GroupId(s(g))).collect());
    call(c, ApiKey::ShareGroupDescribe, 1, &req).await
}

fn assigned(r: &ShareGroupHeartbeatResponse, topic: Uuid) -> Option<Vec<i32>> {
    r.assignment.as_ref().map(|a| {
        let mut ps: Vec<i32> = a
            .topic_partitions
            .iter()
            .filter(|t| t.topic_id == topic)
            .flat_map(|t| t.partitions.clone())
            .collect();
        ps.sort();
        ps
    })
}

#[tokio::test]
async fn members_join_share_partitions_and_survive_a_restart() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    let id = create_topic(&mut c, "queue", 3).await;

    let a = heartbeat(&mut c, "sg", "member-a", 0, Some(&["queue"])).await;
    assert_eq!(a.error_code, 0, "{:?}", a.error_message);
    assert_eq!(a.member_id.as_deref(), Some("member-a"));
    assert_eq!(a.member_epoch, 1);
    assert_eq!(a.heartbeat_interval_ms, 5000);
    assert_eq!(assigned(&a, id), Some(vec![0, 1, 2]));

    let bm = heartbeat(&mut c, "sg", "member-b", 0, Some(&["queue"])).await;
    assert_eq!(bm.member_epoch, 2);
    let pb = assigned(&bm, id).unwrap();
    let a = heartbeat(&mut c, "sg", "member-a", 1, None).await;
    assert_eq!(a.member_epoch, 2);
    let pa = assigned(&a, id).unwrap();
    assert_eq!(pa.len() + pb.len(), 3);
    assert!(pa.iter().all(|p| !pb.contains(p)));

    // Same epoch, nothing new: no assignment in the answer.
    let a = heartbeat(&mut c, "sg", "member-a", 2, None).await;
    assert_eq!(
        (a.error_code, a.member_epoch, a.assignment.is_none()),
        (0, 2, true)
    );

    let d = describe(&mut c, &["sg", "nope"]).await;
    let g = &d.groups[0];
    assert_eq!(g.error_code, 0);
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!((g.group_epoch, g.assignment_epoch), (2, 2));
    assert_eq!(g.assignor_name.as_str(), "simple");
    assert_eq!(g.members.len(), 2);
    let m = &g.members[0];
    assert_eq!(m.client_id.as_str(), "protocol-test");
    assert_eq!(m.subscribed_topic_names[0].0.as_str(), "queue");
    assert_eq!(
        m.assignment.topic_partitions[0].topic_name.0.as_str(),
        "queue"
    );
    assert_eq!(d.groups[1].error_code, 69);
    assert_eq!(
        d.groups[1].error_message.as_deref(),
        Some("Group nope not found.")
    );

    // ListGroups v5 with the type filter.
    let r: ListGroupsResponse = call(
        &mut c,
        ApiKey::ListGroups,
        5,
        &ListGroupsRequest::default().with_types_filter(vec![s("share")]),
    )
    .await;
    assert_eq!(r.groups.len(), 1);
    assert_eq!(r.groups[0].group_type.as_str(), "share");
    assert_eq!(r.groups[0].protocol_type.as_str(), "share");
    assert_eq!(r.groups[0].group_state.as_str(), "Stable");

    // DescribeGroups is for classic groups.
    let r: DescribeGroupsResponse = call(
        &mut c,
        ApiKey::DescribeGroups,
        6,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("sg"))]),
    )
    .await;
    assert_eq!(r.groups[0].error_code, 69);
    assert_eq!(
        r.groups[0].error_message.as_deref(),
        Some("Group sg is not a classic group.")
    );

    // A non-empty share group is not deleted.
    let del = |g: &str| DeleteGroupsRequest::default().with_groups_names(vec![GroupId(s(g))]);
    let r: DeleteGroupsResponse = call(&mut c, ApiKey::DeleteGroups, 2, &del("sg")).await;
    assert_eq!(r.results[0].error_code, 68);

    drop(c);
    let b = b.restart().await;
    let mut c = b.connect().await;
    let d = describe(&mut c, &["sg"]).await;
    assert_eq!(d.groups[0].group_epoch, 2);
    assert_eq!(d.groups[0].members.len(), 2);
    let a = heartbeat(&mut c, "sg", "member-a", 2, None).await;
    assert_eq!((a.error_code, a.member_epoch), (0, 2));

    // Both leave; the empty group can be deleted.
    for m in ["member-a", "member-b"] {
        let r = heartbeat(&mut c, "sg", m, -1, None).await;
        assert_eq!((r.error_code, r.member_epoch), (0, -1));
    }
    let d = describe(&mut c, &["sg"]).await;
    assert_eq!(d.groups[0].group_state.as_str(), "Empty");
    let r: DeleteGroupsResponse = call(&mut c, ApiKey::DeleteGroups, 2, &del("sg")).await;
    assert_eq!(r.results[0].error_code, 0);
    let d = describe(&mut c, &["sg"]).await;
    assert_eq!(d.groups[0].error_code, 69);
}

#[tokio::test]
async fn new_partitions_reach_the_members() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    let id = create_topic(&mut c, "grow", 1).await;
    let a = heartbeat(&mut c, "sg2", "m", 0, Some(&["grow"])).await;
    assert_eq!(assigned(&a, id), Some(vec![0]));
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![
            create_partitions_request::CreatePartitionsTopic::default()
                .with_name(TopicName(s("grow")))
                .with_count(3)
                .with_assignments(None),
        ]);
    let r: CreatePartitionsResponse = call(&mut c, ApiKey::CreatePartitions, 3, &req).await;
    assert_eq!(r.results[0].error_code, 0);
    // Records reach the new partition 2 before any member hears of it.
    let produce = ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(TopicName(s("grow")))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(2)
                    .with_records(Some(Bytes::from(record_batch(
                        &[b"a", b"b", b"c"],
                        1_700_000_000_000,
                    )))),
            ])]);
    let r: ProduceResponse = call(&mut c, ApiKey::Produce, 9, &produce).await;
    assert_eq!(r.responses[0].partition_responses[0].error_code, 0);
    let a = heartbeat(&mut c, "sg2", "m", 1, None).await;
    assert_eq!(a.member_epoch, 2);
    assert_eq!(assigned(&a, id), Some(vec![0, 1, 2]));
    // A partition the known topic gained starts at offset 0, not at `latest` (the default):
    // the member gets the three records.
    use share_fetch_request::{FetchPartition, FetchTopic};
    let fetch = ShareFetchRequest::default()
        .with_group_id(Some(GroupId(s("sg2"))))
        .with_member_id(Some(s("m")))
        .with_share_session_epoch(0)
        .with_max_wait_ms(0)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_max_records(500)
        .with_batch_size(500)
        .with_topics(vec![FetchTopic::default()
            .with_topic_id(id)
            .with_partitions(vec![
                FetchPartition::default().with_partition_index(2)
            ])]);
    let r: ShareFetchResponse = call(&mut c, ApiKey::ShareFetch, 1, &fetch).await;
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    let got: Vec<(i64, i64)> = r.responses[0].partitions[0]
        .acquired_records
        .iter()
        .map(|a| (a.first_offset, a.last_offset))
        .collect();
    assert_eq!(got, vec![(0, 2)]);
}

#[tokio::test]
async fn bad_requests_and_group_kind_collisions() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create_topic(&mut c, "q", 1).await;
    // A join must name its topics; a member id is required.
    let r = heartbeat(&mut c, "g", "m", 0, None).await;
    assert_eq!(r.error_code, 42);
    assert_eq!(
        r.error_message.as_deref(),
        Some("SubscribedTopicNames must be set in first request.")
    );
    let r = heartbeat(&mut c, "g", "", 0, Some(&["q"])).await;
    assert_eq!(r.error_code, 42);
    // Only a join creates a group.
    let r = heartbeat(&mut c, "g", "m", 3, None).await;
    assert_eq!(r.error_code, 69);

    // A classic (simple) group named "classic": a share join gets GROUP_ID_NOT_FOUND.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(s("classic")))
        .with_generation_id_or_member_epoch(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(s("q")))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(1),
                ]),
        ]);
    let r: OffsetCommitResponse = call(&mut c, ApiKey::OffsetCommit, 8, &commit).await;
    assert_eq!(r.topics[0].partitions[0].error_code, 0);
    let r = heartbeat(&mut c, "classic", "m", 0, Some(&["q"])).await;
    assert_eq!(r.error_code, 69);
    assert_eq!(
        r.error_message.as_deref(),
        Some("Group classic is not a share group.")
    );
    let d = describe(&mut c, &["classic"]).await;
    assert_eq!(d.groups[0].error_code, 69);

    // A share group: JoinGroup gets INCONSISTENT_GROUP_PROTOCOL, OffsetCommit GROUP_ID_NOT_FOUND.
    let r = heartbeat(&mut c, "shared", "m", 0, Some(&["q"])).await;
    assert_eq!(r.error_code, 0);
    let join = JoinGroupRequest::default()
        .with_group_id(GroupId(s("shared")))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(10_000)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(s("range"))
        .with_metadata(Bytes::from_static(&[0, 0, 0, 0, 0, 0]))]);
    let r: JoinGroupResponse = call(&mut c, ApiKey::JoinGroup, 5, &join).await;
    assert_eq!(r.error_code, 23);
    let r: OffsetCommitResponse = call(
        &mut c,
        ApiKey::OffsetCommit,
        8,
        &commit.clone().with_group_id(GroupId(s("shared"))),
    )
    .await;
    assert_eq!(r.topics[0].partitions[0].error_code, 69);
}
