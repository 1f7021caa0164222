//! Connection hardening, over raw TCP: per-connection backpressure against clients that never
//! read (and fetch replies that hold no record bytes in memory), the frame and idle timeouts, the per-IP
//! connection limit, and health probes getting through a full HTTP listener.
//!
//! Memory is asserted through the broker's own accounting (`runnel_response_bytes_in_flight`
//! and the request counters), never through RSS or timing. Timeouts are configured in
//! hundreds of milliseconds so the tests finish in a second or two.

use std::future::Future;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::{self, Client, TestBroker};
use crate::wire::{record_batch, R, W};

const MIB: usize = 1024 * 1024;
/// Value size of the test records: one record per batch, so a batch is just over this.
/// Larger than the most a loopback socket buffers (`tcp_wmem` max, 4 MiB by default), so a
/// response to a client that does not read cannot leave the broker's memory.
const VALUE: usize = 5_000_000;

/// Polls `f` every 10 ms until it holds (10 s at most).
async fn eventually<F: Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    for _ in 0..1000 {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for: {what}");
}

fn metrics(b: &TestBroker) -> &runnel::telemetry::Metrics {
    &b.running.as_ref().expect("running").broker.metrics
}

fn fetches_handled(b: &TestBroker) -> u64 {
    metrics(b).requests.with_label_values(&["Fetch", "0"]).get()
}

fn in_flight(b: &TestBroker) -> usize {
    metrics(b).response_bytes_in_flight.get() as usize
}

/// A client with a tiny receive window that never reads: the broker's writes stall.
async fn non_reader(b: &TestBroker) -> Client {
    let sock = TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    Client {
        stream: sock.connect(b.addr).await.unwrap(),
    }
}

/// Fetch v4 of `topic`/0 from offset 0, asking for up to `max_bytes`.
fn fetch_frame(corr: i32, topic: &str, max_bytes: i32) -> Vec<u8> {
    W::default()
        .header(1, 4, corr, "slow")
        .i32(-1) // replica id
        .i32(100) // max wait ms
        .i32(1) // min bytes
        .i32(max_bytes)
        .i8(0) // read_uncommitted
        .i32(1)
        .str(topic)
        .i32(1)
        .i32(0) // partition
        .i64(0) // fetch offset
        .i32(max_bytes) // partition max bytes
        .0
}

/// (correlation id, error, records length) of a Fetch v4 response with one partition.
fn parse_fetch(resp: &[u8]) -> (i32, i16, usize) {
    let mut r = R::new(resp);
    let corr = r.i32();
    let _throttle = r.i32();
    assert_eq!(r.i32(), 1);
    let _topic = r.str();
    assert_eq!(r.i32(), 1);
    assert_eq!(r.i32(), 0);
    let err = r.i16();
    let _hw = r.i64();
    let _lso = r.i64();
    let _aborted = r.i32();
    let n = r.i32().max(0) as usize;
    (corr, err, n)
}

/// Creates `topic` and appends `batches` batches of one `VALUE`-byte record each.
async fn fill(b: &TestBroker, topic: &str, batches: usize) {
    let mut c = b.connect().await;
    c.call(&W::default().header(3, 1, 1, "t").i32(1).str(topic).0)
        .await;
    let value = vec![7u8; VALUE];
    for i in 0..batches {
        let batch = record_batch(&[&value], 1_700_000_000_000);
        let req = W::default()
            .header(0, 3, i as i32, "p")
            .i16(-1)
            .i16(1) // acks=1
            .i32(5000)
            .i32(1)
            .str(topic)
            .i32(1)
            .i32(0)
            .i32(batch.len() as i32)
            .raw(&batch);
        let resp = c.call(&req.0).await;
        let mut r = R::new(&resp);
        assert_eq!(r.i32(), i as i32);
        assert_eq!(r.i32(), 1);
        let _ = r.str();
        assert_eq!(r.i32(), 1);
        assert_eq!(r.i32(), 0);
        assert_eq!(r.i16(), 0, "produce error");
    }
}

async fn api_versions_ok(c: &mut Client) -> bool {
    c.send(&W::default().header(18, 0, 5, "ok").0).await;
    match c.recv().await {
        Some(resp) => resp[..6] == [0, 0, 0, 5, 0, 0],
        None => false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_are_paused_and_their_fetches_hold_no_memory() {
    let ask = 12 * MIB as i32; // two batches
    let b = harness::start_with(|c| {
        c.network.max_unsent_bytes_per_connection = 64 * 1024;
        c.log.max_message_bytes = 8 * MIB as i32;
    })
    .await;
    fill(&b, "big", 10).await;
    // What a fetch reply may keep in memory: its framing, never its records.
    let framing = 4096;

    // Three clients ask several times for 12 MiB and read nothing: each gets its first
    // response produced, then the broker stops reading its requests.
    let mut slow = Vec::new();
    for (n, first_corr) in [101, 201, 301].into_iter().enumerate() {
        let mut c = non_reader(&b).await;
        for corr in first_corr..first_corr + 4 {
            c.send(&fetch_frame(corr, "big", ask)).await;
        }
        eventually("the first fetch", || async {
            fetches_handled(&b) == n as u64 + 1
        })
        .await;
        assert!(in_flight(&b) <= framing, "{}", in_flight(&b));
        slow.push(c);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        fetches_handled(&b),
        3,
        "no non-reader got a second request read"
    );
    // 36 MiB of responses are unsent, and none of it is in the broker's memory.
    assert!(in_flight(&b) <= framing, "{}", in_flight(&b));

    // A reading client still gets everything it asks for.
    let mut d = b.connect().await;
    let resp = d.call(&fetch_frame(1, "big", ask)).await;
    let (corr, err, len) = parse_fetch(&resp);
    assert_eq!((corr, err), (1, 0));
    assert!(len >= 2 * VALUE, "{len}");

    // When the first slow client reads at last, all its replies arrive, in order and whole.
    let a = &mut slow[0];
    for corr in 101..105 {
        let resp = a.recv().await.expect("A's reply");
        let (got, err, len) = parse_fetch(&resp);
        assert_eq!((got, err), (corr, 0));
        assert!(len >= 2 * VALUE, "{len}");
    }
    drop((slow, d));
    eventually("every held byte returned", || async { in_flight(&b) == 0 }).await;
}

#[tokio::test]
async fn a_frame_that_stalls_is_closed_after_the_frame_timeout() {
    let b = harness::start_with(|c| c.network.frame_timeout_ms = 300).await;
    // Two bytes of a length, then nothing.
    let mut c1 = b.connect().await;
    c1.stream.write_all(&[0, 0]).await.unwrap();
    // A whole length and part of the frame, then nothing.
    let mut c2 = b.connect().await;
    c2.stream.write_all(&100i32.to_be_bytes()).await.unwrap();
    c2.stream.write_all(&[0, 18, 0, 0]).await.unwrap();
    // Silent between frames: only the (long) idle timeout applies.
    let mut c3 = b.connect().await;
    assert!(c1.is_closed().await);
    assert!(c2.is_closed().await);
    let timed_out = &metrics(&b).connections_timed_out;
    assert_eq!(timed_out.with_label_values(&["frame"]).get(), 2);
    assert!(
        api_versions_ok(&mut c3).await,
        "an idle connection stays open"
    );
    assert_eq!(timed_out.with_label_values(&["idle"]).get(), 0);
}

#[tokio::test]
async fn idleness_is_measured_from_the_last_activity() {
    let b = harness::start_with(|c| c.network.idle_timeout_ms = 400).await;
    let mut c = b.connect().await;
    // Active for longer than the idle timeout in total: never closed meanwhile.
    for _ in 0..6 {
        assert!(api_versions_ok(&mut c).await);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Then silent: closed.
    assert!(c.is_closed().await);
    let timed_out = &metrics(&b).connections_timed_out;
    assert_eq!(timed_out.with_label_values(&["idle"]).get(), 1);
    assert_eq!(timed_out.with_label_values(&["frame"]).get(), 0);
}

#[tokio::test]
async fn the_per_ip_limit_refuses_one_more_connection_and_others_keep_working() {
    let b = harness::start_with(|c| c.network.max_connections_per_ip = 3).await;
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut c = b.connect().await;
        assert!(api_versions_ok(&mut c).await);
        open.push(c);
    }
    let mut extra = b.connect().await;
    assert!(
        extra.is_closed().await,
        "the fourth connection is closed at once"
    );
    let rejected = &metrics(&b).connections_rejected;
    assert_eq!(rejected.with_label_values(&["per_ip_limit"]).get(), 1);
    for c in &mut open {
        assert!(api_versions_ok(c).await);
    }
    // A closed connection frees its place.
    open.pop();
    eventually("a new connection once one closed", || async {
        let mut c = b.connect().await;
        api_versions_ok(&mut c).await
    })
    .await;
}

/// One HTTP GET; the status code (0 if the connection was closed without an answer).
async fn http_status(addr: std::net::SocketAddr, path: &str) -> u16 {
    let mut s = TcpStream::connect(addr).await.unwrap();
    let req = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    s.write_all(req.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out)
        .get(9..12)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test]
async fn health_probes_get_through_while_64_idle_http_connections_are_open() {
    let b = harness::start_with(|c| c.http_listen = "127.0.0.1:0".into()).await;
    let http = b.running.as_ref().unwrap().http_addr.expect("http enabled");
    let mut idle = Vec::new();
    for i in 0..runnel::http::MAX_CONNECTIONS {
        let mut s = TcpStream::connect(http).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /heal").await.unwrap(); // a head that never completes
        }
        idle.push(s);
    }
    assert_eq!(http_status(http, "/healthz").await, 200);
    assert_eq!(http_status(http, "/readyz").await, 200);
    // The oldest idle connection was closed to make room for the first probe (the second
    // found the first one's slot free again).
    assert_eq!(metrics(&b).http_connections_evicted.get(), 1);
    let mut byte = [0u8; 1];
    let closed = tokio::time::timeout(Duration::from_secs(10), idle[0].read(&mut byte)).await;
    assert!(matches!(closed, Ok(Ok(0)) | Ok(Err(_))), "{closed:?}");
}
