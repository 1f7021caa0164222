//! Log compaction as a client sees it on the wire: after the log cleaner ran, Fetch from
//! offset 0 returns only the latest record of every key, each at the offset Produce assigned
//! it; rebuilt batches keep their base offset and last offset delta (the offsets inside and
//! between batches have gaps, nothing is renumbered); ListOffsets earliest and latest do not
//! move.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::harness;
use crate::produce_fetch::{create, fetch_at, produce};
use crate::validation::list_offsets;
use crate::wire::keyed_batch;

/// One stored batch as fetched: base offset, last offset delta, records (offset, key, value).
#[derive(Debug)]
struct Batch {
    base_offset: i64,
    last_offset_delta: i32,
    records: Vec<(i64, Vec<u8>, Option<Vec<u8>>)>,
}

/// A record as `offset:key=value-prefix/value-length`, for short assertion messages.
fn show(r: &(i64, Vec<u8>, Option<Vec<u8>>)) -> String {
    let v = r.2.as_deref().map_or("null".to_string(), |v| {
        let s = String::from_utf8_lossy(v);
        format!("{}/{}", s.chars().take(9).collect::<String>(), v.len())
    });
    format!("{}:{}={v}", r.0, String::from_utf8_lossy(&r.1))
}

/// Zigzag varint at `b[*pos..]`.
fn varint(b: &[u8], pos: &mut usize) -> i64 {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let byte = b[*pos];
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return ((v >> 1) as i64) ^ -((v & 1) as i64);
        }
        shift += 7;
    }
}

/// Sets `min.cleanable.dirty.ratio` of `topic` (IncrementalAlterConfigs, in process).
async fn set_min_cleanable_dirty_ratio(b: &harness::TestBroker, topic: &str, ratio: &str) {
    use kafka_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use kafka_protocol::messages::{
        ApiKey, IncrementalAlterConfigsRequest, RequestKind, ResponseKind,
    };
    use kafka_protocol::protocol::StrBytes;
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(StrBytes::from_string(topic.into()))
            .with_configs(vec![AlterableConfig::default()
                .with_name(StrBytes::from_static_str("min.cleanable.dirty.ratio"))
                .with_config_operation(0)
                .with_value(Some(StrBytes::from_string(ratio.into())))]),
    ]);
    let ctx = runnel::handlers::RequestContext {
        api_key: ApiKey::IncrementalAlterConfigs,
        api_version: 1,
        correlation_id: 1,
        client_id: "compaction-test".into(),
        client_host: std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        principal: std::sync::Arc::new(runnel::security::Principal::anonymous()),
        listener: "PLAINTEXT".into(),
        connection_id: 0,
    };
    let broker = &b.running.as_ref().unwrap().broker;
    match runnel::handlers::dispatch(broker, &ctx, RequestKind::IncrementalAlterConfigs(req)).await
    {
        runnel::handlers::Reply::Respond(r) => match *r {
            ResponseKind::IncrementalAlterConfigs(r) => assert_eq!(r.responses[0].error_code, 0),
            other => panic!("{other:?}"),
        },
        other => panic!("{other:?}"),
    }
}

/// Splits uncompressed magic-2 batches into their records; panics on anything else (this
/// test only writes uncompressed batches).
fn parse_batches(mut b: &[u8]) -> Vec<Batch> {
    let mut out = Vec::new();
    while b.len() >= 61 {
        let base_offset = i64::from_be_bytes(b[0..8].try_into().unwrap());
        let len = i32::from_be_bytes(b[8..12].try_into().unwrap()) as usize;
        let (batch, rest) = b.split_at(12 + len);
        assert_eq!(batch[16], 2, "magic");
        let crc = u32::from_be_bytes(batch[17..21].try_into().unwrap());
        assert_eq!(
            crc,
            crc32c::crc32c(&batch[21..]),
            "CRC of batch {base_offset}"
        );
        assert_eq!(
            i16::from_be_bytes([batch[21], batch[22]]) & 7,
            0,
            "uncompressed"
        );
        let last_offset_delta = i32::from_be_bytes(batch[23..27].try_into().unwrap());
        let count = i32::from_be_bytes(batch[57..61].try_into().unwrap());
        let mut pos = 61;
        let mut records = Vec::new();
        for _ in 0..count {
            let len = varint(batch, &mut pos) as usize;
            let end = pos + len;
            pos += 1; // attributes
            varint(batch, &mut pos); // timestamp delta
            let offset = base_offset + varint(batch, &mut pos);
            let field = |pos: &mut usize| {
                let n = varint(batch, pos);
                (n >= 0).then(|| {
                    let v = batch[*pos..*pos + n as usize].to_vec();
                    *pos += n as usize;
                    v
                })
            };
            let key = field(&mut pos).expect("keyed records only");
            let value = field(&mut pos);
            records.push((offset, key, value));
            pos = end;
        }
        assert_eq!(pos, batch.len(), "records fill batch {base_offset}");
        out.push(Batch {
            base_offset,
            last_offset_delta,
            records,
        });
        b = rest;
    }
    assert!(b.is_empty(), "no partial batch at the end");
    out
}

/// A compact topic with 16 KiB segments gets two values for each of 60 keys, in batches of
/// five that mix first values (to be removed) with second ones (to be kept); a last batch,
/// stamped later than `segment.ms` after the others, rolls the segment so every keyed batch
/// lies in a sealed one. Once the background cleaner (backoff 20 ms) has run, Fetch at
/// v4 and v12 from offset 0 (and on from each answer's end, as a consumer does) answers exactly
/// the second value of every key plus the last batch, at the offsets Produce assigned; every
/// surviving batch has the base offset and
/// last offset delta it was produced with, and some lost records (gaps inside batches).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_after_compaction_returns_the_latest_record_of_every_key_at_its_offset() {
    const KEYS: usize = 60;
    const LAG: usize = 7; // the second value of key k comes LAG records after the first
    let b = harness::start_with(|cfg| {
        cfg.log.cleanup_policy = "compact".into();
        cfg.log.segment_bytes = 16 * 1024;
        cfg.log.segment_ms = 3_600_000;
        cfg.log.cleaner_backoff_ms = 20;
    })
    .await;
    let logs = b.running.as_ref().unwrap().broker.logs.clone();
    let mut c = b.connect().await;
    let topic = "compacted";
    create(&mut c, topic).await;
    // Cleaned whenever anything is dirty: a pass may run while the batches are still being
    // produced, and the later passes must not wait for the default dirty ratio (0.5).
    set_min_cleanable_dirty_ratio(&b, topic, "0.01").await;

    // The record stream: first values in key order, each key's second value LAG later.
    let mut stream: Vec<(String, String)> = Vec::new();
    for s in 0..KEYS + LAG {
        if s < KEYS {
            stream.push((
                format!("key-{s:02}"),
                format!("first-{s:02}-{}", "x".repeat(200)),
            ));
        }
        if s >= LAG {
            let k = s - LAG;
            stream.push((
                format!("key-{k:02}"),
                format!("second-{k:02}-{}", "y".repeat(200)),
            ));
        }
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let old = now - 3 * 3_600_000;
    // (base offset, last offset delta) of each produced batch; offset → (key, value).
    let mut produced: Vec<(i64, i32)> = Vec::new();
    let mut at: BTreeMap<i64, (String, String)> = BTreeMap::new();
    for chunk in stream.chunks(5) {
        let kvs: Vec<_> = chunk
            .iter()
            .map(|(k, v)| (Some(k.as_bytes()), Some(v.as_bytes())))
            .collect();
        let (err, base) = produce(&mut c, topic, &keyed_batch(&kvs, old)).await;
        assert_eq!(err, 0);
        produced.push((base, chunk.len() as i32 - 1));
        for (i, kv) in chunk.iter().enumerate() {
            at.insert(base + i as i64, kv.clone());
        }
    }
    // Newer than segment.ms after the first batch of the active segment: rolls.
    let marker: &[u8] = b"marker";
    let (err, marker_offset) = produce(
        &mut c,
        topic,
        &keyed_batch(&[(Some(marker), Some(marker))], now),
    )
    .await;
    assert_eq!(err, 0);
    let end = marker_offset + 1;
    assert_eq!(end as usize, 2 * KEYS + 1);
    let before = (
        list_offsets(&mut c, topic, -2).await,
        list_offsets(&mut c, topic, -1).await,
    );
    assert_eq!(
        (before.0 .0, before.0 .2, before.1 .0, before.1 .2),
        (0, 0, 0, end)
    );

    // The background cleaner compacts it: wait (bounded) until a pass has removed every
    // first value.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let s = logs.cleaner_stats();
        let p = s.partitions.iter().find(|p| p.topic == topic);
        if p.is_some_and(|p| p.records_removed >= KEYS as u64) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not compacted within 20 s: {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let mut latest: BTreeMap<String, i64> = BTreeMap::new();
    for (off, (k, _)) in &at {
        latest.insert(k.clone(), *off);
    }
    let mut want: Vec<(i64, Vec<u8>, Option<Vec<u8>>)> = latest
        .values()
        .map(|off| {
            let (k, v) = &at[off];
            (*off, k.clone().into_bytes(), Some(v.clone().into_bytes()))
        })
        .collect();
    want.sort();
    want.push((marker_offset, marker.to_vec(), Some(marker.to_vec())));
    for version in [4i16, 12] {
        // As a consumer does: from offset 0, then from one past the last batch received (a
        // Fetch answers from one segment at most), until the high watermark.
        let (mut batches, mut next, mut fetches) = (Vec::new(), 0, 0);
        while next < end {
            fetches += 1;
            assert!(fetches <= 10, "v{version}: stalled at offset {next}");
            let p = fetch_at(&mut c, version, topic, next, 8 << 20, 8 << 20).await;
            assert_eq!((p.error_code, p.high_watermark), (0, end), "v{version}");
            if version >= 5 {
                assert_eq!(
                    p.log_start_offset, 0,
                    "v{version}: compaction leaves the log start"
                );
            }
            let got = parse_batches(&p.records.unwrap_or_default());
            let last = got
                .last()
                .expect("a fetch below the high watermark returns a batch");
            assert!(
                got[0].base_offset >= next,
                "v{version}: batches start at {next}"
            );
            next = last.base_offset + i64::from(last.last_offset_delta) + 1;
            batches.extend(got);
        }
        let got: Vec<_> = batches
            .iter()
            .flat_map(|b| b.records.iter())
            .map(show)
            .collect();
        let want_shown: Vec<_> = want.iter().map(show).collect();
        assert_eq!(
            got, want_shown,
            "v{version}: the latest record of every key, at its offset"
        );
        let whole: Vec<_> = batches.iter().flat_map(|b| b.records.clone()).collect();
        assert!(whole == want, "v{version}: values differ");
        let mut gaps_inside = 0;
        for b in &batches {
            let original = produced
                .iter()
                .find(|(base, _)| *base == b.base_offset)
                .copied()
                .or((b.base_offset == marker_offset).then_some((marker_offset, 0)));
            assert_eq!(
                original,
                Some((b.base_offset, b.last_offset_delta)),
                "v{version}: batch {} keeps its produced base offset and last offset delta",
                b.base_offset
            );
            assert!(
                !b.records.is_empty(),
                "no empty batches (no producer ids here)"
            );
            if b.records.len() as i32 != b.last_offset_delta + 1 {
                gaps_inside += 1;
            }
        }
        assert!(gaps_inside > 0, "v{version}: some batches lost records");
        assert!(
            batches.len() < produced.len() + 1,
            "v{version}: whole batches went"
        );
        // Fetching from a removed offset answers from the next record that is left.
        let gap = (want[0].0..end)
            .find(|o| !want.iter().any(|w| w.0 == *o))
            .unwrap();
        let p = fetch_at(&mut c, version, topic, gap, 8 << 20, 8 << 20).await;
        let from_gap: Vec<_> = parse_batches(&p.records.unwrap_or_default())
            .iter()
            .flat_map(|b| b.records.iter())
            .filter(|r| r.0 >= gap)
            .map(show)
            .collect();
        let rest: Vec<_> = want.iter().filter(|w| w.0 >= gap).map(show).collect();
        assert!(
            !from_gap.is_empty(),
            "v{version}: from offset {gap}: nothing"
        );
        assert_eq!(
            from_gap,
            rest[..from_gap.len()],
            "v{version}: from offset {gap} (removed)"
        );
    }
    let after = (
        list_offsets(&mut c, topic, -2).await,
        list_offsets(&mut c, topic, -1).await,
    );
    assert_eq!(
        after, before,
        "ListOffsets earliest/latest unchanged by compaction"
    );
}
