//! Fetch sessions (KIP-227) on the wire, with hand-written Fetch v7 frames: a full fetch
//! opens a session, incremental fetches name only changes and get only partitions with news,
//! session errors are top-level, and an incremental fetch with nothing new long-polls.

use std::time::{Duration, Instant};

use crate::harness::{self, Client};
use crate::produce_fetch::{create, produce};
use crate::wire::{record_batch, R, W};

/// One Fetch v7 request: `topics` are (topic, [(partition, fetch offset)]), `forgotten`
/// are (topic, [partition]).
struct Fetch<'a> {
    session_id: i32,
    epoch: i32,
    max_wait_ms: i32,
    topics: &'a [(&'a str, &'a [(i32, i64)])],
    forgotten: &'a [(&'a str, &'a [i32])],
}

/// A partition in a response: (topic, partition, error, high watermark, records bytes).
type Part = (String, i32, i16, i64, usize);

#[derive(Debug)]
struct Response {
    error: i16,
    session_id: i32,
    parts: Vec<Part>,
}

impl Response {
    fn names(&self) -> Vec<(&str, i32)> {
        self.parts.iter().map(|p| (p.0.as_str(), p.1)).collect()
    }
}

async fn fetch(c: &mut Client, f: &Fetch<'_>) -> Response {
    let mut w = W::default()
        .header(1, 7, 21, "c")
        .i32(-1) // replica id
        .i32(f.max_wait_ms)
        .i32(1) // min bytes
        .i32(1 << 20) // max bytes
        .i8(0) // read_uncommitted
        .i32(f.session_id)
        .i32(f.epoch)
        .i32(f.topics.len() as i32);
    for (topic, parts) in f.topics {
        w = w.str(topic).i32(parts.len() as i32);
        for &(p, offset) in *parts {
            w = w
                .i32(p)
                .i64(offset)
                .i64(-1) // log start offset (followers only)
                .i32(1 << 20);
        }
    }
    w = w.i32(f.forgotten.len() as i32);
    for (topic, parts) in f.forgotten {
        w = w.str(topic).i32(parts.len() as i32);
        for &p in *parts {
            w = w.i32(p);
        }
    }
    let resp = c.call(&w.0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 21, "correlation id");
    let _throttle = r.i32();
    let error = r.i16();
    let session_id = r.i32();
    let mut parts = Vec::new();
    for _ in 0..r.i32() {
        let topic = r.str();
        for _ in 0..r.i32() {
            let partition = r.i32();
            let err = r.i16();
            let hw = r.i64();
            let _lso = r.i64();
            let _log_start = r.i64();
            let aborted = r.i32();
            for _ in 0..aborted.max(0) {
                r.i64();
                r.i64();
            }
            let n = r.i32();
            r.bytes(n.max(0) as usize);
            parts.push((topic.clone(), partition, err, hw, n.max(0) as usize));
        }
    }
    assert_eq!(r.rest(), 0, "nothing after the last partition");
    Response {
        error,
        session_id,
        parts,
    }
}

fn incremental<'a>(
    session_id: i32,
    epoch: i32,
    topics: &'a [(&'a str, &'a [(i32, i64)])],
    forgotten: &'a [(&'a str, &'a [i32])],
) -> Fetch<'a> {
    Fetch {
        session_id,
        epoch,
        max_wait_ms: 0,
        topics,
        forgotten,
    }
}

const ABC: &[(&str, &[(i32, i64)])] = &[
    ("fs-a", &[(0, 0)]),
    ("fs-b", &[(0, 0)]),
    ("fs-c", &[(0, 0)]),
];

/// Opens a session over fs-a, fs-b and fs-c (all at offset 0); returns its id.
async fn open(c: &mut Client) -> i32 {
    let full = fetch(c, &incremental(0, 0, ABC, &[])).await;
    assert_eq!(full.error, 0);
    assert_ne!(
        full.session_id, 0,
        "a full fetch with epoch 0 opens a session"
    );
    // A full response lists every requested partition, changed or not.
    assert_eq!(full.names(), vec![("fs-a", 0), ("fs-b", 0), ("fs-c", 0)]);
    full.session_id
}

#[tokio::test]
async fn incremental_fetches_carry_only_partitions_with_news() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    for t in ["fs-a", "fs-b", "fs-c"] {
        create(&mut c, t).await;
    }
    let id = open(&mut c).await;

    // Nothing changed: an incremental fetch with no partitions gets none back.
    let r = fetch(&mut c, &incremental(id, 1, &[], &[])).await;
    assert_eq!((r.error, r.session_id), (0, id));
    assert!(r.parts.is_empty(), "{r:?}");

    // Data arrives on fs-b: only fs-b is sent, with its records and new high watermark.
    assert_eq!(
        produce(&mut c, "fs-b", &record_batch(&[b"x"], 1)).await,
        (0, 0)
    );
    let r = fetch(&mut c, &incremental(id, 2, &[], &[])).await;
    assert_eq!((r.error, r.session_id), (0, id));
    assert_eq!(r.names(), vec![("fs-b", 0)]);
    let (_, _, err, hw, records) = &r.parts[0];
    assert_eq!((*err, *hw), (0, 1));
    assert!(*records > 0);

    // The client moves fs-b to offset 1: nothing new anywhere.
    let r = fetch(&mut c, &incremental(id, 3, &[("fs-b", &[(0, 1)])], &[])).await;
    assert!(r.parts.is_empty(), "{r:?}");

    // A partition added to the session is answered once; a forgotten one no more.
    let r = fetch(
        &mut c,
        &incremental(id, 4, &[("fs-d", &[(0, 0)])], &[("fs-a", &[0])]),
    )
    .await;
    assert_eq!(r.names(), vec![("fs-d", 0)]);
    assert_eq!(
        r.parts[0].2, 3,
        "UNKNOWN_TOPIC_OR_PARTITION for a missing topic"
    );
    produce(&mut c, "fs-a", &record_batch(&[b"y"], 1)).await;
    let r = fetch(&mut c, &incremental(id, 5, &[], &[])).await;
    // fs-a was forgotten; fs-d still fails and errors are always sent.
    assert_eq!(r.names(), vec![("fs-d", 0)]);
    let r = fetch(&mut c, &incremental(id, 6, &[], &[("fs-d", &[0])])).await;
    assert!(r.parts.is_empty(), "{r:?}");
}

#[tokio::test]
async fn session_errors_and_closing() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    for t in ["fs-a", "fs-b", "fs-c"] {
        create(&mut c, t).await;
    }
    let id = open(&mut c).await;

    // Wrong epoch: INVALID_FETCH_SESSION_EPOCH, top-level, session id 0, no partitions.
    let r = fetch(&mut c, &incremental(id, 7, &[], &[])).await;
    assert_eq!((r.error, r.session_id, r.parts.len()), (71, 0, 0));
    // The session is intact: the expected epoch still works.
    let r = fetch(&mut c, &incremental(id, 1, &[], &[])).await;
    assert_eq!((r.error, r.session_id), (0, id));
    // Replaying an epoch already used is refused too.
    let r = fetch(&mut c, &incremental(id, 1, &[], &[])).await;
    assert_eq!(r.error, 71);

    // An id the broker never gave: FETCH_SESSION_ID_NOT_FOUND.
    let other = id.wrapping_add(1).max(1);
    let r = fetch(&mut c, &incremental(other, 1, &[], &[])).await;
    assert_eq!((r.error, r.session_id, r.parts.len()), (70, 0, 0));

    // Epoch -1 with the session id closes the session and is answered sessionless.
    let r = fetch(&mut c, &incremental(id, -1, &[("fs-c", &[(0, 0)])], &[])).await;
    assert_eq!((r.error, r.session_id), (0, 0));
    assert_eq!(r.names(), vec![("fs-c", 0)]);
    let r = fetch(&mut c, &incremental(id, 2, &[], &[])).await;
    assert_eq!(r.error, 70, "closed");

    // Id 0, epoch -1: a sessionless full fetch opens nothing.
    let r = fetch(&mut c, &incremental(0, -1, ABC, &[])).await;
    assert_eq!((r.error, r.session_id, r.parts.len()), (0, 0, 3));
}

#[tokio::test]
async fn incremental_fetch_with_no_news_long_polls() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    for t in ["fs-a", "fs-b", "fs-c"] {
        create(&mut c, t).await;
    }
    let id = open(&mut c).await;

    // Nothing arrives: the fetch waits out max_wait_ms, then answers with no partitions.
    let started = Instant::now();
    let mut f = incremental(id, 1, &[], &[]);
    f.max_wait_ms = 300;
    let r = fetch(&mut c, &f).await;
    assert!(r.parts.is_empty(), "{r:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(250),
        "waited for data"
    );

    // An append to fs-c wakes a waiting incremental fetch, which carries only fs-c.
    let mut producer = b.connect().await;
    let waiter = tokio::spawn(async move {
        let mut f = incremental(id, 2, &[], &[]);
        f.max_wait_ms = 10_000;
        fetch(&mut c, &f).await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    produce(&mut producer, "fs-c", &record_batch(&[b"wake"], 1)).await;
    let r = waiter.await.unwrap();
    assert_eq!((r.error, r.session_id), (0, id));
    assert_eq!(r.names(), vec![("fs-c", 0)]);
    assert!(r.parts[0].4 > 0, "records");
}
