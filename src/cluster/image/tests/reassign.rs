//! `Command::ReassignPartition` and the completion of reassignments (Kafka's KIP-455 rules on
//! the controller): validation codes and messages, the union replica set while one is in
//! progress, completion by an ISR change or at once, the leadership leaving a removed
//! replica, cancel (and its unclean case), and the new fields in the JSON snapshot.

use super::*;

fn reassign_cmd(topic: &str, partition: i32, target: Option<&[i32]>, allow: bool) -> Command {
    Command::ReassignPartition {
        topic: topic.into(),
        partition,
        target: target.map(<[i32]>::to_vec),
        allow_rf_change: allow,
    }
}

fn reassign(h: &mut H, target: Option<&[i32]>) -> PartitionState {
    match h.run(reassign_cmd("t", 0, target, true)) {
        Reply::Partition(p) => p,
        other => panic!("reassign {target:?}: {other:?}"),
    }
}

/// (replicas, isr, adding, removing, leader, leader epoch) of `t`-0.
fn state(h: &H) -> (Vec<i32>, Vec<i32>, Vec<i32>, Vec<i32>, i32, i32) {
    let p = h.partition("t", 0);
    (
        p.replicas.clone(),
        p.isr.clone(),
        p.adding_replicas.clone(),
        p.removing_replicas.clone(),
        p.leader,
        p.leader_epoch,
    )
}

#[test]
fn refusals_carry_kafkas_codes_and_messages() {
    let mut h = H::with_brokers(3);
    h.manual("t", vec![(0, vec![1, 2])]);
    let m = assert_refused(
        &mut h,
        reassign_cmd("nope", 0, Some(&[1, 2]), true),
        KafkaError::UnknownTopicOrPartition,
    );
    assert_eq!(m, "Unable to find a topic named nope.");
    let m = assert_refused(
        &mut h,
        reassign_cmd("t", 1, Some(&[1, 2]), true),
        KafkaError::UnknownTopicOrPartition,
    );
    assert_eq!(m, "Unable to find partition t:1.");
    for (target, fragment) in [
        (&[][..], "includes an empty replica list."),
        (
            &[1, 9][..],
            "includes broker 9, but no such broker is registered.",
        ),
        (&[2, 2][..], "includes the broker 2 more than once."),
    ] {
        let m = assert_refused(
            &mut h,
            reassign_cmd("t", 0, Some(target), true),
            KafkaError::InvalidReplicaAssignment,
        );
        assert!(m.contains(fragment), "{m}");
    }
    // KIP-860: with the flag false a different size is INVALID_REPLICATION_FACTOR (checked
    // first, as Kafka does); the same size passes.
    let m = assert_refused(
        &mut h,
        reassign_cmd("t", 0, Some(&[1, 2, 3]), false),
        KafkaError::InvalidReplicationFactor,
    );
    assert_eq!(m, "The replication factor is changed from 2 to 3");
    let m = assert_refused(
        &mut h,
        reassign_cmd("t", 0, None, true),
        KafkaError::NoReassignmentInProgress,
    );
    assert_eq!(m, "No partition reassignment is in progress.");
    // A registered but fenced broker is a valid target (Kafka checks registration).
    h.fence(3);
    let before = h.partition("t", 0).clone();
    let p = reassign(&mut h, Some(&[3, 2]));
    assert_eq!(p.adding_replicas, vec![3]);
    assert_eq!(p.partition_epoch, before.partition_epoch + 1);
    // The target that is already the replica set changes nothing, epochs included.
    let mut h = H::with_brokers(2);
    h.manual("t", vec![(0, vec![1, 2])]);
    let before = h.partition("t", 0).clone();
    assert_eq!(reassign(&mut h, Some(&[1, 2])), before);
}

#[test]
fn a_move_lists_the_union_until_the_new_replica_is_in_sync() {
    let mut h = H::with_brokers(4);
    h.manual("t", vec![(0, vec![1, 2])]);
    let p = reassign(&mut h, Some(&[2, 3]));
    // Target first, then the replicas being removed; the ISR and the leader are unchanged.
    assert_eq!(
        state(&h),
        (vec![2, 3, 1], vec![1, 2], vec![3], vec![1], 1, 0)
    );
    assert_eq!(p.partition_epoch, 1);
    assert!(p.is_reassigning());
    assert_eq!(p.target_replicas(), vec![2, 3]);
    // Metadata shows the union.
    assert_eq!(
        h.img.topics["t"].to_info().partitions[0].replicas,
        vec![2, 3, 1]
    );
    // The RF check counts the replica set the partition is headed for.
    assert_refused(
        &mut h,
        reassign_cmd("t", 0, Some(&[2, 3, 4]), false),
        KafkaError::InvalidReplicationFactor,
    );
    // The same target again: 3 is still being added (not completed by the empty difference).
    assert_eq!(reassign(&mut h, Some(&[2, 3])).adding_replicas, vec![3]);
    assert_eq!(
        state(&h),
        (vec![2, 3, 1], vec![1, 2], vec![3], vec![1], 1, 0)
    );
    let e = h.partition("t", 0).partition_epoch;
    // An ISR change that does not hold the adding replica leaves it in progress.
    let Reply::Partition(q) = alter(&mut h, 1, 0, e, vec![1]) else {
        panic!("not accepted")
    };
    assert_eq!((q.replicas, q.partition_epoch), (vec![2, 3, 1], e + 1));
    // The leader adds 3 to the ISR: completed in the same change (2 stays a replica, out of
    // sync). The leader (1) is removed, so the first of target ∩ ISR leads, with a new
    // leader epoch; one partition epoch step.
    let Reply::Partition(q) = alter(&mut h, 1, 0, e + 1, vec![1, 3]) else {
        panic!("not accepted")
    };
    assert_eq!(state(&h), (vec![2, 3], vec![3], vec![], vec![], 3, 1));
    assert_eq!(q.partition_epoch, e + 2);
    assert_eq!(&q, h.partition("t", 0));
    // The old leader's next proposal is fenced by the leader epoch.
    assert_eq!(
        code(&alter(&mut h, 1, 0, e + 2, vec![1, 3])),
        KafkaError::FencedLeaderEpoch.code()
    );
}

#[test]
fn completion_keeps_a_leader_that_stays_and_waits_for_the_whole_target() {
    let mut h = H::with_brokers(4);
    h.manual("t", vec![(0, vec![1, 2])]);
    reassign(&mut h, Some(&[1, 3, 4]));
    assert_eq!(
        state(&h),
        (vec![1, 3, 4, 2], vec![1, 2], vec![3, 4], vec![2], 1, 0)
    );
    // Only one of the two adding replicas in sync: still in progress.
    alter(&mut h, 1, 0, 1, vec![1, 2, 3]);
    assert_eq!(h.partition("t", 0).adding_replicas, vec![3, 4]);
    // Both: replicas = target, the removed replica leaves the ISR, the leader stays but its
    // epoch grows because a replica left.
    alter(&mut h, 1, 0, 2, vec![1, 2, 3, 4]);
    assert_eq!(
        state(&h),
        (vec![1, 3, 4], vec![1, 3, 4], vec![], vec![], 1, 1)
    );
}

#[test]
fn a_target_the_isr_already_covers_completes_at_once() {
    let mut h = H::with_brokers(3);
    h.manual("t", vec![(0, vec![1, 2, 3])]);
    // A reorder: new preferred order, same leader and leader epoch.
    let p = reassign(&mut h, Some(&[3, 2, 1]));
    assert_eq!(
        state(&h),
        (vec![3, 2, 1], vec![1, 2, 3], vec![], vec![], 1, 0)
    );
    assert_eq!(p.partition_epoch, 1);
    // A pure removal of the leader: completed at once, 3 (first of the target) leads.
    let p = reassign(&mut h, Some(&[3, 2]));
    assert_eq!(state(&h), (vec![3, 2], vec![2, 3], vec![], vec![], 3, 1));
    assert_eq!(p.partition_epoch, 2);
    // A shrink waits while the ISR lacks a replica of the smaller set.
    let mut h = H::with_brokers(3);
    h.manual("t", vec![(0, vec![1, 2, 3])]);
    alter(&mut h, 1, 0, 0, vec![1, 2]);
    reassign(&mut h, Some(&[1, 3]));
    assert_eq!(
        state(&h),
        (vec![1, 3, 2], vec![1, 2], vec![], vec![2], 1, 0)
    );
}

#[test]
fn cancel_reverts_to_the_original_replicas() {
    let mut h = H::with_brokers(4);
    h.manual("t", vec![(0, vec![1, 2])]);
    reassign(&mut h, Some(&[3, 4]));
    alter(&mut h, 1, 0, 1, vec![1, 2, 3]);
    let p = reassign(&mut h, None);
    // Adding replicas leave the replicas and the ISR; a replica left, so the leader epoch grows.
    assert_eq!(state(&h), (vec![1, 2], vec![1, 2], vec![], vec![], 1, 1));
    assert_eq!(p.partition_epoch, 3);
    assert_refused(
        &mut h,
        reassign_cmd("t", 0, None, true),
        KafkaError::NoReassignmentInProgress,
    );

    // The ISR holds only adding replicas (the original ones were fenced): the revert would
    // be an unclean election, refused unless the topic allows one.
    let mut h = H::with_brokers(4);
    h.manual("t", vec![(0, vec![1, 2])]);
    reassign(&mut h, Some(&[3, 4]));
    alter(&mut h, 1, 0, 1, vec![1, 2, 3]);
    h.fence(2);
    h.fence(1);
    assert_eq!(state(&h).1, vec![3]);
    assert_eq!(state(&h).4, 3);
    let m = assert_refused(
        &mut h,
        reassign_cmd("t", 0, None, true),
        KafkaError::InvalidReplicaAssignment,
    );
    assert_eq!(m, "Unable to revert partition assignment for t:0 because it would require an unclean leader election.");
    h.run(Command::SetTopicConfigs {
        name: "t".into(),
        configs: cfg(&[("unclean.leader.election.enable", "true")]),
    });
    reassign(&mut h, None);
    // The first original replica becomes the ISR; it is fenced, so nobody leads until it
    // comes back.
    assert_eq!(state(&h).0, vec![1, 2]);
    assert_eq!((state(&h).1, state(&h).4), (vec![1], -1));
    h.unfence(1);
    assert_eq!(state(&h).4, 1);
}

#[test]
fn reassignment_fields_survive_the_snapshot_and_old_snapshots_read() {
    let mut h = H::with_brokers(3);
    h.manual("t", vec![(0, vec![1, 2])]);
    reassign(&mut h, Some(&[3, 2]));
    let bytes = serde_json::to_vec(&h.img).unwrap();
    let back: Image = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(back, h.img);
    assert_eq!(back.topics["t"].partitions[0].adding_replicas, vec![3]);
    assert_eq!(back.topics["t"].partitions[0].removing_replicas, vec![1]);
    // A snapshot written before the fields existed: nothing in progress.
    let mut old = H::with_brokers(2);
    old.manual("t", vec![(0, vec![1, 2])]);
    let mut json: serde_json::Value = serde_json::to_value(&old.img).unwrap();
    let p = &mut json["topics"]["t"]["partitions"][0];
    let obj = p.as_object_mut().unwrap();
    assert!(obj.remove("adding_replicas").is_some());
    assert!(obj.remove("removing_replicas").is_some());
    let back: Image = serde_json::from_value(json).unwrap();
    assert_eq!(back, old.img);
    assert!(!back.topics["t"].partitions[0].is_reassigning());
}

#[test]
fn new_partitions_take_the_target_size_during_a_reassignment() {
    let mut h = H::with_brokers(4);
    h.manual("t", vec![(0, vec![1, 2])]);
    reassign(&mut h, Some(&[3, 4]));
    let t = topic(h.add_partitions("t", 2, None));
    assert_eq!(t.partitions[1].replicas.len(), 2);
}
