//! Unit tests of the session cache: life cycle, epochs, partition updates, response
//! filtering, and Kafka's eviction rules, driven by an explicit clock.

use super::*;

const T0: i64 = 1_000_000;

fn req(topic: &str, partition: i32, fetch_offset: i64) -> PartitionRequest<'_> {
    PartitionRequest {
        topic,
        partition,
        fetch_offset,
        max_bytes: 1 << 20,
        current_leader_epoch: -1,
    }
}

fn out(hw: i64, lso: i64) -> PartitionOutcome {
    PartitionOutcome {
        high_watermark: hw,
        log_start_offset: lso,
        has_records: false,
        error: false,
    }
}

/// Opens a session over `n` partitions of topic "t" (hw 10, log start 0) at `now`.
fn open(cache: &FetchSessionCache, now: i64, n: i32) -> i32 {
    let ctx = cache.begin(now, 0, INITIAL_EPOCH, &[], &[]).unwrap();
    assert!(matches!(ctx, FetchContext::Full));
    cache
        .create(now, false, (0..n).map(|p| (req("t", p, 0), out(10, 0))))
        .session_id
}

fn incremental(
    cache: &FetchSessionCache,
    now: i64,
    id: i32,
    epoch: i32,
    parts: &[PartitionRequest<'_>],
    forgotten: &[(&str, i32)],
) -> IncrementalFetch {
    match cache.begin(now, id, epoch, parts, forgotten).unwrap() {
        FetchContext::Incremental(f) => f,
        other => panic!("expected an incremental fetch, got {other:?}"),
    }
}

fn names(f: &IncrementalFetch) -> Vec<(String, i32, i64)> {
    f.partitions
        .iter()
        .map(|p| (p.topic.to_string(), p.partition, p.fetch_offset))
        .collect()
}

#[test]
fn epochs_follow_kafka() {
    assert_eq!(next_epoch(0), 1);
    assert_eq!(next_epoch(7), 8);
    assert_eq!(next_epoch(i32::MAX), 1);
    assert_eq!(next_epoch(-1), -1);
}

#[test]
fn full_fetch_opens_a_session_and_incremental_epochs_advance() {
    let cache = FetchSessionCache::new(10);
    let id = open(&cache, T0, 3);
    assert!(id > 0, "random positive id, got {id}");
    let stats = cache.stats();
    assert_eq!((stats.sessions, stats.partitions), (1, 3));
    assert!(stats.bytes >= 3 * session::PARTITION_COST);
    let f = incremental(&cache, T0, id, 1, &[], &[]);
    assert_eq!((f.session_id, f.epoch), (id, 2));
    assert_eq!(
        names(&f),
        vec![("t".into(), 0, 0), ("t".into(), 1, 0), ("t".into(), 2, 0)]
    );
    let f = incremental(&cache, T0, id, 2, &[], &[]);
    assert_eq!(f.epoch, 3);
    // A second session gets another id.
    let other = open(&cache, T0, 1);
    assert!(other > 0 && other != id);
    assert_eq!(cache.stats().sessions, 2);
}

#[test]
fn sessionless_full_fetch_opens_nothing() {
    let cache = FetchSessionCache::new(10);
    let ctx = cache.begin(T0, 0, FINAL_EPOCH, &[req("t", 0, 0)], &[]);
    assert!(matches!(ctx, Ok(FetchContext::Sessionless)));
    assert_eq!(cache.stats().sessions, 0);
}

#[test]
fn unknown_session_is_fetch_session_id_not_found() {
    let cache = FetchSessionCache::new(10);
    let e = cache.begin(T0, 12345, 1, &[], &[]).unwrap_err();
    assert_eq!(e, FetchSessionError::NotFound(12345));
    assert_eq!(e.kafka_code(), 70);
    // Session id 0 with a positive epoch is an incremental fetch of no session.
    let e = cache.begin(T0, 0, 3, &[], &[]).unwrap_err();
    assert_eq!(e.kafka_code(), 70);
}

#[test]
fn wrong_epoch_is_invalid_fetch_session_epoch_and_changes_nothing() {
    let cache = FetchSessionCache::new(10);
    let id = open(&cache, T0, 2);
    for bad in [2, 5, -7] {
        let e = cache
            .begin(T0, id, bad, &[req("t", 9, 0)], &[("t", 0)])
            .unwrap_err();
        assert_eq!(
            e,
            FetchSessionError::InvalidEpoch {
                id,
                expected: 1,
                got: bad
            }
        );
        assert_eq!(e.kafka_code(), 71);
    }
    // The rejected requests neither added partition 9 nor forgot partition 0.
    let f = incremental(&cache, T0, id, 1, &[], &[]);
    assert_eq!(names(&f), vec![("t".into(), 0, 0), ("t".into(), 1, 0)]);
    // Replaying the epoch just used fails too.
    assert!(cache.begin(T0, id, 1, &[], &[]).is_err());
}

#[test]
fn incremental_requests_add_update_and_forget_partitions() {
    let cache = FetchSessionCache::new(10);
    let id = open(&cache, T0, 3);
    // Update t-1's offset (keeps its place), add u-0 (appended), forget t-0.
    let f = incremental(
        &cache,
        T0,
        id,
        1,
        &[req("t", 1, 42), req("u", 0, 7)],
        &[("t", 0), ("nope", 3)],
    );
    assert_eq!(
        names(&f),
        vec![("t".into(), 1, 42), ("t".into(), 2, 0), ("u".into(), 0, 7)]
    );
    assert_eq!(cache.stats().partitions, 3);
    // Parameters persist: the next request names nothing and still fetches from 42 and 7.
    let f = incremental(&cache, T0, id, 2, &[], &[]);
    assert_eq!(
        names(&f),
        vec![("t".into(), 1, 42), ("t".into(), 2, 0), ("u".into(), 0, 7)]
    );
}

#[test]
fn forgetting_every_partition_closes_the_session() {
    let cache = FetchSessionCache::new(10);
    let id = open(&cache, T0, 2);
    let ctx = cache.begin(T0, id, 1, &[], &[("t", 0), ("t", 1)]).unwrap();
    assert!(matches!(ctx, FetchContext::Sessionless));
    assert_eq!(cache.stats().sessions, 0);
    assert_eq!(cache.stats().partitions, 0);
    assert!(cache.begin(T0, id, 2, &[], &[]).is_err());
}

#[test]
fn full_fetch_naming_a_session_closes_it() {
    let cache = FetchSessionCache::new(10);
    // id N, epoch -1: close, answer sessionless.
    let id = open(&cache, T0, 2);
    let ctx = cache.begin(T0, id, FINAL_EPOCH, &[], &[]).unwrap();
    assert!(matches!(ctx, FetchContext::Sessionless));
    assert_eq!(cache.stats().sessions, 0);
    assert_eq!(
        cache.begin(T0, id, 1, &[], &[]).unwrap_err(),
        FetchSessionError::NotFound(id)
    );
    // id N, epoch 0: close, then a full fetch that may open a new session.
    let id = open(&cache, T0, 2);
    let ctx = cache.begin(T0, id, INITIAL_EPOCH, &[], &[]).unwrap();
    assert!(matches!(ctx, FetchContext::Full));
    assert_eq!(cache.stats().sessions, 0);
}

#[test]
fn incremental_responses_carry_only_changed_partitions() {
    let cache = FetchSessionCache::new(10);
    let id = open(&cache, T0, 4);
    // Nothing changed since the full fetch (hw 10, log start 0): nothing to send.
    let f = incremental(&cache, T0, id, 1, &[], &[]);
    let same = vec![out(10, 0); 4];
    assert_eq!(cache.finish(&f, &same).unwrap(), vec![false; 4]);

    // p0 new records (and hw), p1 hw only, p2 log start moved, p3 error.
    let f = incremental(&cache, T0, id, 2, &[], &[]);
    let mut outs = vec![out(12, 0), out(11, 0), out(10, 3), out(10, 0)];
    outs[0].has_records = true;
    outs[3].error = true;
    assert_eq!(cache.finish(&f, &outs).unwrap(), vec![true; 4]);

    // Same values again: only the partition still in error is sent.
    let f = incremental(&cache, T0, id, 3, &[], &[]);
    // p0 returned records, so it moved to the back of the fetch order.
    let order: Vec<i32> = f.partitions.iter().map(|p| p.partition).collect();
    assert_eq!(order, vec![1, 2, 3, 0]);
    let outs = vec![out(11, 0), out(10, 3), out(10, 0), out(12, 0)];
    let mut with_error = outs.clone();
    with_error[2].error = true;
    assert_eq!(
        cache.finish(&f, &with_error).unwrap(),
        vec![false, false, true, false]
    );
    // The error clears: the partition is sent once more (its hw was reset), then not.
    let f = incremental(&cache, T0, id, 4, &[], &[]);
    assert_eq!(
        cache.finish(&f, &outs).unwrap(),
        vec![false, false, true, false]
    );
    let f = incremental(&cache, T0, id, 5, &[], &[]);
    assert_eq!(cache.finish(&f, &outs).unwrap(), vec![false; 4]);
}

#[test]
fn partitions_added_incrementally_are_sent_at_least_once() {
    let cache = FetchSessionCache::new(10);
    let id = open(&cache, T0, 1);
    let f = incremental(&cache, T0, id, 1, &[req("u", 0, 0)], &[]);
    let keep = cache.finish(&f, &[out(10, 0), out(0, 0)]).unwrap();
    assert_eq!(keep, vec![false, true], "the new partition is answered");
}

#[test]
fn a_response_overtaken_by_a_newer_request_is_invalid_epoch() {
    let cache = FetchSessionCache::new(10);
    let id = open(&cache, T0, 1);
    let first = incremental(&cache, T0, id, 1, &[], &[]);
    let _second = incremental(&cache, T0, id, 2, &[], &[]);
    let e = cache.finish(&first, &[out(10, 0)]).unwrap_err();
    assert_eq!(e.kafka_code(), 71);
    // A session closed while its request waited is not found.
    let f = incremental(&cache, T0, id, 3, &[], &[]);
    cache.begin(T0, id, FINAL_EPOCH, &[], &[]).unwrap();
    assert_eq!(
        cache.finish(&f, &[out(10, 0)]).unwrap_err(),
        FetchSessionError::NotFound(id)
    );
}

#[test]
fn zero_slots_disables_sessions() {
    let cache = FetchSessionCache::new(0);
    assert_eq!(open(&cache, T0, 5), 0);
    assert_eq!(cache.stats().sessions, 0);
}

#[test]
fn full_cache_refuses_newcomers_that_are_not_worth_more() {
    let cache = FetchSessionCache::with_limits(2, 100, MAX_CACHE_BYTES);
    let a = open(&cache, T0, 5);
    let b = open(&cache, T0 + 10, 5);
    assert!(a > 0 && b > 0);
    // Young sessions (created within eviction_ms) are not evictable, whatever the size.
    let c = cache.create(T0 + 20, false, (0..50).map(|p| (req("t", p, 0), out(0, 0))));
    assert_eq!(c.session_id, 0);
    // Once a and b are older than eviction_ms and used again, they become evictable, but
    // only by a strictly larger session.
    incremental(&cache, T0 + 150, a, 1, &[], &[]);
    incremental(&cache, T0 + 150, b, 1, &[], &[]);
    let same = cache.create(T0 + 160, false, (0..5).map(|p| (req("t", p, 0), out(0, 0))));
    assert_eq!(same.session_id, 0, "equal size never evicts");
    let small = cache.create(T0 + 160, false, (0..2).map(|p| (req("t", p, 0), out(0, 0))));
    assert_eq!(small.session_id, 0);
    assert_eq!(cache.stats().sessions, 2);
}

#[test]
fn larger_newcomer_evicts_the_smallest_evictable_session() {
    let cache = FetchSessionCache::with_limits(3, 100, MAX_CACHE_BYTES);
    let a = open(&cache, T0, 3);
    let b = open(&cache, T0, 2);
    let c = open(&cache, T0, 4);
    for id in [a, b, c] {
        incremental(&cache, T0 + 150, id, 1, &[], &[]);
    }
    let d = cache.create(T0 + 160, false, (0..3).map(|p| (req("t", p, 0), out(0, 0))));
    assert!(d.session_id > 0);
    assert_eq!(d.evicted, 1);
    // b (2 partitions) was the least valuable: gone; a and c remain.
    assert_eq!(
        cache.begin(T0 + 170, b, 2, &[], &[]).unwrap_err(),
        FetchSessionError::NotFound(b)
    );
    incremental(&cache, T0 + 170, a, 2, &[], &[]);
    incremental(&cache, T0 + 170, c, 2, &[], &[]);
    assert_eq!(cache.stats().partitions, 3 + 4 + 3);
}

#[test]
fn stale_least_recently_used_session_is_evicted_first() {
    let cache = FetchSessionCache::with_limits(2, 100, MAX_CACHE_BYTES);
    let a = open(&cache, T0, 50);
    let b = open(&cache, T0, 50);
    // a is used at T0+90, b is left idle; at T0+120 b has been idle more than 100 ms.
    incremental(&cache, T0 + 90, a, 1, &[], &[]);
    let c = cache.create(T0 + 120, false, (0..1).map(|p| (req("t", p, 0), out(0, 0))));
    assert!(
        c.session_id > 0,
        "a stale session is evicted even by a smaller one"
    );
    assert_eq!(c.evicted, 1);
    assert!(cache.begin(T0 + 120, b, 1, &[], &[]).is_err());
    incremental(&cache, T0 + 120, a, 2, &[], &[]);
}

#[test]
fn privileged_newcomer_evicts_young_unprivileged_sessions_only() {
    let cache = FetchSessionCache::with_limits(1, 100, MAX_CACHE_BYTES);
    let consumer = open(&cache, T0, 10);
    // A privileged (follower) session evicts an unprivileged one at once, even a larger one.
    let follower = cache.create(T0 + 1, true, (0..1).map(|p| (req("t", p, 0), out(0, 0))));
    assert!(follower.session_id > 0);
    assert!(cache.begin(T0 + 1, consumer, 1, &[], &[]).is_err());
    // A young privileged session cannot be evicted by anyone.
    let big = cache.create(T0 + 2, false, (0..99).map(|p| (req("t", p, 0), out(0, 0))));
    assert_eq!(big.session_id, 0);
    let other = cache.create(T0 + 2, true, (0..99).map(|p| (req("t", p, 0), out(0, 0))));
    assert_eq!(other.session_id, 0);
}

#[test]
fn byte_budget_bounds_sessions() {
    let one = session::PARTITION_COST + session::TOPIC_COST + 1;
    // Room for one 10-partition session of topic "t", not two.
    let cache = FetchSessionCache::with_limits(100, 100, one * 10 + 100);
    let a = open(&cache, T0, 10);
    assert!(a > 0);
    assert_eq!(open(&cache, T0, 10), 0, "over the byte budget: sessionless");
    // Growing a session past the budget closes it and answers sessionless.
    let many: Vec<PartitionRequest<'_>> = (10..20).map(|p| req("t", p, 0)).collect();
    let ctx = cache.begin(T0, a, 1, &many, &[]).unwrap();
    assert!(matches!(ctx, FetchContext::Sessionless));
    assert_eq!(
        cache.stats(),
        CacheStats {
            sessions: 0,
            partitions: 0,
            bytes: 0
        }
    );
    // A session larger than the whole budget is never created.
    let huge = FetchSessionCache::with_limits(100, 100, 1000);
    assert_eq!(open(&huge, T0, 100), 0);
}

#[test]
fn duplicate_partitions_in_a_full_fetch_are_cached_once() {
    let cache = FetchSessionCache::new(10);
    let id = cache
        .create(
            T0,
            false,
            [(req("t", 0, 5), out(10, 0)), (req("t", 0, 6), out(10, 0))],
        )
        .session_id;
    let f = incremental(&cache, T0, id, 1, &[], &[]);
    assert_eq!(names(&f), vec![("t".into(), 0, 6)]);
    assert_eq!(cache.stats().partitions, 1);
}
