//! ApiVersions: the exact bytes clients parse during the handshake.

use crate::harness;
use crate::wire::{R, W};

/// Parses the classic (v0–v2) body and returns (error, entries).
fn parse_classic(resp: &[u8], with_throttle: bool) -> (i16, Vec<(i16, i16, i16)>) {
    let mut r = R::new(resp);
    assert_eq!(r.i32(), 7, "correlation id");
    let err = r.i16();
    let n = r.i32();
    let entries = (0..n).map(|_| (r.i16(), r.i16(), r.i16())).collect();
    if with_throttle {
        assert_eq!(r.i32(), 0, "throttle");
    }
    assert_eq!(r.rest(), 0, "no trailing bytes");
    (err, entries)
}

#[tokio::test]
async fn v0_lists_the_advertised_table() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    let resp = c.call(&W::default().header(18, 0, 7, "t").0).await;
    let (err, entries) = parse_classic(&resp, false);
    assert_eq!(err, 0);
    // Produce advertised from 0 (old librdkafka's compression probe), Fetch 4–12.
    assert!(entries.contains(&(0, 0, 12)));
    assert!(entries.contains(&(1, 4, 12)));
    assert!(entries.contains(&(18, 0, 4)));
    assert!(entries.contains(&(22, 0, 5)));
    // DescribeTopicPartitions is served (Kafka 4's `kafka-topics --describe` uses it).
    assert!(entries.contains(&(75, 0, 0)));
    // SASL (old librdkafka needs SaslHandshake 0 and 1 in range, PROTOCOL.md §2).
    assert!(entries.contains(&(17, 0, 1)));
    assert!(entries.contains(&(36, 0, 2)));
    // KIP-848 consumer groups and share groups (KIP-932) are served.
    assert!(entries.contains(&(68, 0, 1)));
    assert!(entries.contains(&(69, 0, 1)));
    assert!(entries.contains(&(76, 1, 1)));
    // Not advertised: WriteTxnMarkers and Read/WriteShareGroupState (cluster mode only), the
    // streams group APIs.
    for missing in [27, 84, 85, 88, 89] {
        assert!(
            entries.iter().all(|e| e.0 != missing),
            "{missing} advertised"
        );
    }
}

#[tokio::test]
async fn v3_and_v4_are_flexible_with_a_v0_header_and_no_default_tags() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    for version in [3i16, 4] {
        // Header v2, body: compact client software name and version, no tags.
        let req = W::default()
            .header2(18, version, 7, "kcat")
            .cstr("librdkafka")
            .cstr("2.0.2")
            .uvarint(0);
        let resp = c.call(&req.0).await;
        let mut r = R::new(&resp);
        assert_eq!(r.i32(), 7);
        // Response header v0: no tagged-field byte before the body.
        assert_eq!(r.i16(), 0, "error code");
        let n = r.uvarint() - 1;
        for _ in 0..n {
            let (_k, min, max) = (r.i16(), r.i16(), r.i16());
            assert!(min <= max);
            assert_eq!(r.uvarint(), 0, "no tagged fields per entry");
        }
        assert_eq!(r.i32(), 0, "throttle");
        assert_eq!(r.uvarint(), 0, "no default-valued tagged fields");
        assert_eq!(r.rest(), 0);
    }
}

#[tokio::test]
async fn invalid_software_name_is_invalid_request() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    let req = W::default()
        .header2(18, 3, 7, "x")
        .cstr("bad name!")
        .cstr("1.0")
        .uvarint(0);
    let resp = c.call(&req.0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 7);
    assert_eq!(r.i16(), 42);
}

#[tokio::test]
async fn too_new_version_gets_a_v0_unsupported_version_reply() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    // A future client: header v2 and a body we cannot know.
    let req = W::default().header2(18, 99, 7, "future").raw(&[1, 2, 3, 4]);
    let resp = c.call(&req.0).await;
    let (err, entries) = parse_classic(&resp, false);
    assert_eq!(err, 35);
    assert_eq!(entries, vec![(18, 0, 4)]);
    // The connection stays usable: the client retries at our maximum.
    let resp = c.call(&W::default().header(18, 0, 7, "t").0).await;
    assert_eq!(parse_classic(&resp, false).0, 0);
}
