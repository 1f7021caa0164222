//! KIP-848 consumer groups over the wire: ConsumerGroupHeartbeat v1 (join, revoke before
//! assign, leave), ConsumerGroupDescribe, ListGroups v5 types, DescribeGroups ↔
//! ConsumerGroupDescribe GROUP_ID_NOT_FOUND, OffsetCommit v9 member-epoch validation,
//! classic JoinGroups into a non-empty consumer group, and a restart that keeps the
//! group, its epochs and assignments.

use kafka_protocol::messages::*;

use crate::harness::{self, call, create_topic, s, Client};

fn join(group: &str, member: &str, topic: &str) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(0)
        .with_rebalance_timeout_ms(30_000)
        .with_subscribed_topic_names(Some(vec![TopicName(s(topic))]))
        .with_topic_partitions(Some(vec![]))
}

fn beat(
    group: &str,
    member: &str,
    epoch: i32,
    owned: Option<(uuid::Uuid, Vec<i32>)>,
) -> ConsumerGroupHeartbeatRequest {
    ConsumerGroupHeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_member_id(s(member))
        .with_member_epoch(epoch)
        .with_rebalance_timeout_ms(-1)
        .with_topic_partitions(owned.map(|(id, ps)| {
            vec![consumer_group_heartbeat_request::TopicPartitions::default()
                .with_topic_id(id)
                .with_partitions(ps)]
        }))
}

async fn heartbeat(
    c: &mut Client,
    req: &ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    call(c, ApiKey::ConsumerGroupHeartbeat, 1, req).await
}

fn assigned(r: &ConsumerGroupHeartbeatResponse) -> Option<Vec<i32>> {
    r.assignment.as_ref().map(|a| {
        let mut ps: Vec<i32> = a
            .topic_partitions
            .iter()
            .flat_map(|t| t.partitions.iter().copied())
            .collect();
        ps.sort();
        ps
    })
}

#[tokio::test]
async fn consumer_group_join_revoke_assign_leave_and_restart() {
    let broker = harness::start().await;
    let mut c = broker.connect().await;
    let tid = create_topic(&mut c, "cg-t", 4).await;

    let a = heartbeat(&mut c, &join("cg", "member-a", "cg-t")).await;
    assert_eq!(a.error_code, 0, "{:?}", a.error_message);
    assert_eq!(a.member_id.as_deref(), Some("member-a"));
    assert_eq!(a.member_epoch, 1);
    assert!(a.heartbeat_interval_ms > 0);
    assert_eq!(assigned(&a), Some(vec![0, 1, 2, 3]));

    // b joins: nothing for it until a gives partitions up.
    let b = heartbeat(&mut c, &join("cg", "member-b", "cg-t")).await;
    assert_eq!(b.member_epoch, 2);
    assert_eq!(assigned(&b), Some(vec![]));
    let a = heartbeat(&mut c, &beat("cg", "member-a", 1, None)).await;
    assert_eq!(a.member_epoch, 1, "epoch held while revoking");
    let kept = assigned(&a).unwrap();
    assert_eq!(kept.len(), 2);
    let a = heartbeat(
        &mut c,
        &beat("cg", "member-a", 1, Some((tid, kept.clone()))),
    )
    .await;
    assert_eq!(a.member_epoch, 2);
    let b = heartbeat(&mut c, &beat("cg", "member-b", 2, Some((tid, vec![])))).await;
    let got = assigned(&b).unwrap();
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|p| !kept.contains(p)));

    // Describe: a consumer group for ConsumerGroupDescribe, not found for DescribeGroups.
    let d: ConsumerGroupDescribeResponse = call(
        &mut c,
        ApiKey::ConsumerGroupDescribe,
        1,
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("cg"))]),
    )
    .await;
    let g = &d.groups[0];
    assert_eq!(g.error_code, 0);
    assert_eq!(g.group_state.as_str(), "Stable");
    assert_eq!(g.group_epoch, 2);
    assert_eq!(g.assignor_name.as_str(), "uniform");
    assert_eq!(g.members.len(), 2);
    assert_eq!(g.members[0].member_type, 1);
    assert_eq!(
        g.members[0].assignment.topic_partitions[0]
            .topic_name
            .as_str(),
        "cg-t"
    );
    let dg: DescribeGroupsResponse = call(
        &mut c,
        ApiKey::DescribeGroups,
        6,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s("cg"))]),
    )
    .await;
    assert_eq!(dg.groups[0].error_code, 69);
    let l: ListGroupsResponse = call(
        &mut c,
        ApiKey::ListGroups,
        5,
        &ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
    )
    .await;
    assert_eq!(l.groups.len(), 1);
    assert_eq!(l.groups[0].group_type.as_str(), "consumer");
    assert_eq!(l.groups[0].protocol_type.as_str(), "consumer");

    // OffsetCommit v9: current epoch ok, a future epoch is stale, a stranger unknown.
    let commit = |member: &str, epoch: i32| {
        OffsetCommitRequest::default()
            .with_group_id(GroupId(s("cg")))
            .with_member_id(s(member))
            .with_generation_id_or_member_epoch(epoch)
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(TopicName(s("cg-t")))
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default()
                            .with_partition_index(kept[0])
                            .with_committed_offset(5),
                    ]),
            ])
    };
    for (member, epoch, code) in [("member-a", 2, 0), ("member-a", 3, 113), ("nobody", 2, 25)] {
        let r: OffsetCommitResponse =
            call(&mut c, ApiKey::OffsetCommit, 9, &commit(member, epoch)).await;
        assert_eq!(
            r.topics[0].partitions[0].error_code, code,
            "{member} {epoch}"
        );
    }

    // A classic JoinGroup into the non-empty consumer group: another protocol type is
    // refused; a consumer-protocol member is asked for its member id, then its malformed
    // (empty) subscription is refused.
    let classic = |protocol_type: &str, member: &str| {
        JoinGroupRequest::default()
            .with_group_id(GroupId(s("cg")))
            .with_member_id(s(member))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s(protocol_type))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))])
    };
    let jg: JoinGroupResponse = call(&mut c, ApiKey::JoinGroup, 5, &classic("connect", "")).await;
    assert_eq!(jg.error_code, 23);
    let jg: JoinGroupResponse = call(&mut c, ApiKey::JoinGroup, 5, &classic("consumer", "")).await;
    assert_eq!(jg.error_code, 79);
    let id = jg.member_id.to_string();
    let jg: JoinGroupResponse = call(&mut c, ApiKey::JoinGroup, 5, &classic("consumer", &id)).await;
    assert_eq!(jg.error_code, 23);

    // A restart keeps the group, epochs and assignments: b heartbeats on.
    drop(c);
    let broker = broker.restart().await;
    let mut c = broker.connect().await;
    let b2 = heartbeat(&mut c, &beat("cg", "member-b", 2, Some((tid, got.clone())))).await;
    assert_eq!(b2.error_code, 0, "{:?}", b2.error_message);
    assert_eq!(b2.member_epoch, 2);
    let f: OffsetFetchResponse = call(
        &mut c,
        ApiKey::OffsetFetch,
        9,
        &OffsetFetchRequest::default().with_groups(vec![
            offset_fetch_request::OffsetFetchRequestGroup::default()
                .with_group_id(GroupId(s("cg")))
                .with_member_id(Some(s("member-b")))
                .with_member_epoch(1)
                .with_topics(None),
        ]),
    )
    .await;
    assert_eq!(f.groups[0].error_code, 113);

    // Leaves: the group ends Empty, then ConsumerGroupDescribe on a classic group is
    // GROUP_ID_NOT_FOUND.
    for m in ["member-a", "member-b"] {
        let r = heartbeat(&mut c, &beat("cg", m, -1, None)).await;
        assert_eq!(r.error_code, 0);
        assert_eq!(r.member_epoch, -1);
    }
    let d: ConsumerGroupDescribeResponse = call(
        &mut c,
        ApiKey::ConsumerGroupDescribe,
        0,
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("cg"))]),
    )
    .await;
    assert_eq!(d.groups[0].group_state.as_str(), "Empty");
    // The empty consumer group converts to classic on a JoinGroup (v4+: member id required).
    let jg: JoinGroupResponse = call(
        &mut c,
        ApiKey::JoinGroup,
        5,
        &JoinGroupRequest::default()
            .with_group_id(GroupId(s("cg")))
            .with_session_timeout_ms(10_000)
            .with_rebalance_timeout_ms(10_000)
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
            )
            .with_name(s("range"))]),
    )
    .await;
    assert_eq!(jg.error_code, 79);
    let d: ConsumerGroupDescribeResponse = call(
        &mut c,
        ApiKey::ConsumerGroupDescribe,
        0,
        &ConsumerGroupDescribeRequest::default().with_group_ids(vec![GroupId(s("cg"))]),
    )
    .await;
    assert_eq!(d.groups[0].error_code, 69);
    // A heartbeat with a bad request answers INVALID_REQUEST; an unknown assignor 112.
    let bad = heartbeat(&mut c, &join("cg2", "", "cg-t")).await;
    assert_eq!(bad.error_code, 42);
    let bad = heartbeat(
        &mut c,
        &join("cg2", "m", "cg-t").with_server_assignor(Some(s("sticky"))),
    )
    .await;
    assert_eq!(bad.error_code, 112);
}
