use super::*;

const NOW: i64 = 1_000_000;

fn meta() -> TxnMetadata {
    TxnMetadata::new("t", 7, 60_000, NOW)
}

fn part(t: &str, p: i32) -> Participant {
    Participant::Partition {
        topic: t.into(),
        partition: p,
    }
}

fn init(m: &TxnMetadata, expected: Option<(i64, i16)>) -> Result<InitOutcome, KafkaError> {
    m.init_producer_id(
        InitRequest {
            timeout_ms: 30_000,
            expected,
        },
        NOW + 1,
    )
}

fn ready(o: Result<InitOutcome, KafkaError>) -> TxnMetadata {
    match o {
        Ok(InitOutcome::Ready(m)) => m,
        other => panic!("expected Ready, got {other:?}"),
    }
}

fn ongoing() -> TxnMetadata {
    meta()
        .add_participants(7, 0, [part("a", 0)], NOW)
        .unwrap()
        .unwrap()
}

#[test]
fn init_bumps_the_epoch_and_takes_the_new_timeout() {
    let m = ready(init(&meta(), None));
    assert_eq!(
        (m.producer_id, m.producer_epoch, m.timeout_ms),
        (7, 1, 30_000)
    );
    assert_eq!(m.state, TxnState::Empty);
    assert_eq!(m.last_producer_epoch, -1);
}

#[test]
fn kip360_bump_and_its_retry() {
    let m = ready(init(&meta(), Some((7, 0))));
    assert_eq!((m.producer_epoch, m.last_producer_epoch), (1, 0));
    // The client did not get the answer and retries with the epoch it holds.
    assert_eq!(init(&m, Some((7, 0))), Ok(InitOutcome::Unchanged));
    // Another epoch, or another producer id, is a fenced producer.
    assert_eq!(init(&m, Some((7, 5))), Err(KafkaError::ProducerFenced));
    assert_eq!(init(&m, Some((8, 1))), Err(KafkaError::ProducerFenced));
}

#[test]
fn exhausted_epoch_rotates_the_producer_id() {
    let mut m = meta();
    m.producer_epoch = MAX_EPOCH;
    let Ok(InitOutcome::NeedsNewProducerId(mut next)) = init(&m, Some((7, MAX_EPOCH))) else {
        panic!("expected rotation");
    };
    next.rotate_producer_id(99);
    assert_eq!(
        (
            next.producer_id,
            next.producer_epoch,
            next.previous_producer_id
        ),
        (99, 0, 7)
    );
    // The retry of that bump with the old id is recognised.
    assert_eq!(
        init(&next, Some((7, MAX_EPOCH))),
        Ok(InitOutcome::Unchanged)
    );
}

#[test]
fn init_during_an_open_transaction_fences_and_aborts_it() {
    let m = ongoing();
    let Ok(InitOutcome::Fence(next)) = init(&m, None) else {
        panic!("expected fence");
    };
    assert_eq!(next.state, TxnState::PrepareAbort);
    assert_eq!(next.producer_epoch, 1);
    assert!(next.participants.contains(&part("a", 0)));
    // While the abort markers are written, everyone waits.
    assert_eq!(init(&next, None), Err(KafkaError::ConcurrentTransactions));
    let done = next.complete(NOW + 2);
    assert_eq!(done.state, TxnState::CompleteAbort);
    assert!(done.participants.is_empty());
    // The retry then gets a fresh epoch above the fencing one.
    assert_eq!(ready(init(&done, None)).producer_epoch, 2);
}

#[test]
fn add_partitions_starts_and_extends_a_transaction() {
    let m = ongoing();
    assert_eq!(m.state, TxnState::Ongoing);
    assert_eq!(m.start_ms, NOW);
    // Already there: nothing to persist.
    assert_eq!(m.add_participants(7, 0, [part("a", 0)], NOW + 5), Ok(None));
    let m2 = m
        .add_participants(7, 0, [part("b", 1)], NOW + 5)
        .unwrap()
        .unwrap();
    assert_eq!(m2.participants.len(), 2);
    assert_eq!(m2.start_ms, NOW, "the start time is the first add's");
    assert_eq!(
        m.add_participants(8, 0, [part("a", 1)], NOW),
        Err(KafkaError::InvalidProducerIdMapping)
    );
    assert_eq!(
        m.add_participants(7, 1, [part("a", 1)], NOW),
        Err(KafkaError::ProducerFenced)
    );
    let prep = m.end_txn(7, 0, true, NOW).unwrap().unwrap();
    assert_eq!(
        prep.add_participants(7, 0, [part("a", 1)], NOW),
        Err(KafkaError::ConcurrentTransactions)
    );
}

#[test]
fn end_txn_follows_kafkas_tv1_table() {
    let m = ongoing();
    let commit = m.end_txn(7, 0, true, NOW).unwrap().unwrap();
    assert_eq!(commit.state, TxnState::PrepareCommit);
    assert_eq!(
        commit.producer_epoch, 0,
        "TV1 markers carry the transaction's epoch"
    );
    assert_eq!(
        commit.end_txn(7, 0, true, NOW),
        Err(KafkaError::ConcurrentTransactions)
    );
    assert_eq!(
        commit.end_txn(7, 0, false, NOW),
        Err(KafkaError::InvalidTxnState)
    );
    let done = commit.complete(NOW);
    assert_eq!(done.end_txn(7, 0, true, NOW), Ok(None), "a retried commit");
    assert_eq!(
        done.end_txn(7, 0, false, NOW),
        Err(KafkaError::InvalidTxnState)
    );
    assert_eq!(
        meta().end_txn(7, 0, true, NOW),
        Err(KafkaError::InvalidTxnState)
    );
    assert_eq!(m.end_txn(7, 3, true, NOW), Err(KafkaError::ProducerFenced));
    let abort = m.end_txn(7, 0, false, NOW).unwrap().unwrap();
    assert_eq!(abort.complete(NOW).state, TxnState::CompleteAbort);
}

#[test]
fn expiry_aborts_only_overdue_open_transactions() {
    let m = ongoing();
    assert_eq!(m.expire(NOW + 60_000), None);
    let e = m.expire(NOW + 60_001).unwrap();
    assert_eq!((e.state, e.producer_epoch), (TxnState::PrepareAbort, 1));
    assert_eq!(meta().expire(i64::MAX), None);
    // The old producer's EndTxn is fenced afterwards (fatal for a TV1 client, as in Kafka).
    assert_eq!(
        e.complete(NOW).end_txn(7, 0, true, NOW),
        Err(KafkaError::ProducerFenced)
    );
}

#[test]
fn verify_partition_guards_transactional_appends() {
    let m = ongoing();
    assert_eq!(m.verify_partition(7, 0, "a", 0), Ok(()));
    assert_eq!(
        m.verify_partition(7, 0, "a", 1),
        Err(KafkaError::InvalidTxnState)
    );
    assert_eq!(
        m.verify_partition(7, 1, "a", 0),
        Err(KafkaError::InvalidProducerEpoch)
    );
    assert_eq!(
        m.verify_partition(6, 0, "a", 0),
        Err(KafkaError::InvalidProducerEpoch)
    );
    let prep = m.end_txn(7, 0, false, NOW).unwrap().unwrap();
    assert_eq!(
        prep.verify_partition(7, 0, "a", 0),
        Err(KafkaError::ConcurrentTransactions)
    );
    assert_eq!(
        prep.complete(NOW).verify_partition(7, 0, "a", 0),
        Err(KafkaError::InvalidTxnState),
        "a late batch after the markers never opens a hanging transaction"
    );
}
