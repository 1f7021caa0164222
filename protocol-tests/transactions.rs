//! read_committed over the wire: transactional batches and markers are written through the
//! partition layer directly (no coordinator involved: `txn_coordinator.rs` drives the same
//! through the transaction APIs), then Fetch v4 read_committed and read_uncommitted are
//! compared: the last stable offset bounds the first, the aborted transactions are listed
//! (null for read_uncommitted), a parked read_committed long poll wakes when a marker makes
//! data stable, and ListOffsets LATEST answers the last stable offset for read_committed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use runnel::broker::{now_ms, Broker};
use runnel::log::compute_crc;
use runnel::log::control::TxnMarker;

use crate::harness::{self, Client, TestBroker};
use crate::produce_fetch::{create, fetch, produce};
use crate::wire::{record_batch, R, W};

/// ListOffsets v2 LATEST of `topic`/0 at `isolation`; returns the offset.
async fn latest(c: &mut Client, topic: &str, isolation: i8) -> i64 {
    let req = W::default()
        .header(2, 2, 22, "c")
        .i32(-1)
        .i8(isolation)
        .i32(1)
        .str(topic)
        .i32(1)
        .i32(0)
        .i64(-1);
    let resp = c.call(&req.0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 22);
    let _throttle = r.i32();
    assert_eq!(r.i32(), 1);
    assert_eq!(r.str(), topic);
    assert_eq!(r.i32(), 1);
    assert_eq!(r.i32(), 0);
    assert_eq!(r.i16(), 0);
    let _timestamp = r.i64();
    r.i64()
}

/// A transactional batch of one record from `pid` (epoch 0) at sequence `seq`.
fn txn_batch(pid: i64, seq: i32) -> Vec<u8> {
    let mut b = record_batch(&[b"tx"], now_ms());
    b[21..23].copy_from_slice(&0x10i16.to_be_bytes());
    b[43..51].copy_from_slice(&pid.to_be_bytes());
    b[51..53].copy_from_slice(&0i16.to_be_bytes());
    b[53..57].copy_from_slice(&seq.to_be_bytes());
    let crc = compute_crc(&b);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
    b
}

fn broker(b: &TestBroker) -> Arc<Broker> {
    Arc::clone(&b.running.as_ref().unwrap().broker)
}

async fn marker(broker: &Broker, topic: &str, pid: i64, commit: bool) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    broker
        .replicas
        .write_txn_marker(
            topic,
            0,
            pid,
            0,
            TxnMarker {
                commit,
                coordinator_epoch: 0,
            },
            deadline,
        )
        .await
        .unwrap()
}

#[tokio::test]
async fn read_committed_stops_at_the_last_stable_offset_and_lists_aborted_transactions() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "tx1").await;
    let broker = broker(&b);
    let log = broker.logs.get("tx1", 0).unwrap();
    let epoch = log.latest_epoch().unwrap_or(0);

    assert_eq!(
        produce(&mut c, "tx1", &record_batch(&[b"a"], now_ms())).await,
        (0, 0)
    );
    log.append(&txn_batch(1, 0), epoch, now_ms()).unwrap();
    log.append(&txn_batch(2, 0), epoch, now_ms()).unwrap();
    assert_eq!(marker(&broker, "tx1", 1, false).await, 3);
    // Producer 2's transaction (offset 2) is open.
    let rc = fetch(&mut c, "tx1", 0, 1, 0).await;
    assert_eq!(
        (rc.error, rc.high_watermark, rc.last_stable_offset),
        (0, 4, 2)
    );
    assert_eq!(rc.batches(), vec![(0, 0), (1, 1)]);
    assert_eq!(rc.aborted, Some(vec![(1, 1)]));
    let ru = fetch(&mut c, "tx1", 0, 0, 0).await;
    assert_eq!(
        (ru.error, ru.high_watermark, ru.last_stable_offset),
        (0, 4, 2)
    );
    assert_eq!(ru.batches(), vec![(0, 0), (1, 1), (2, 2), (3, 3)]);
    assert_eq!(ru.aborted, None);
    // At the last stable offset: nothing yet, an empty (not null) aborted list.
    let at = fetch(&mut c, "tx1", 2, 1, 0).await;
    assert_eq!((at.error, at.batches().len()), (0, 0));
    assert_eq!(at.aborted, Some(vec![]));
    assert_eq!(latest(&mut c, "tx1", 1).await, 2);
    assert_eq!(latest(&mut c, "tx1", 0).await, 4);

    // A parked read_committed long poll wakes when the commit marker makes offset 2 stable.
    let mut waiter_conn = b.connect().await;
    let started = Instant::now();
    let waiter = tokio::spawn(async move { fetch(&mut waiter_conn, "tx1", 2, 1, 10_000).await });
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(marker(&broker, "tx1", 2, true).await, 4);
    let woke = waiter.await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "woken, not timed out"
    );
    assert_eq!(woke.last_stable_offset, 5);
    assert_eq!(woke.batches(), vec![(2, 2), (3, 3), (4, 4)]);
    // Producer 1's aborted transaction began before the fetch offset but ends inside it.
    assert_eq!(woke.aborted, Some(vec![(1, 1)]));
    let all = fetch(&mut c, "tx1", 0, 1, 0).await;
    assert_eq!(all.batches().len(), 5);
    assert_eq!(all.aborted, Some(vec![(1, 1)]));
    assert_eq!(latest(&mut c, "tx1", 1).await, 5);
}
