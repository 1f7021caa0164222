//! AlterConfigs (33), IncrementalAlterConfigs (44) and DescribeConfigs (32) over raw frames:
//! changes reach running partitions at once (segment rolling, retention, max message size),
//! sources follow Kafka's layers, broker-level defaults apply to topics without overrides and
//! survive a restart, and the GROUP and BROKER_LOGGER resources answer.

use bytes::Bytes;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::DescribeConfigsResponse;
use kafka_protocol::protocol::Decodable;

use crate::harness::{self, Client, TestBroker};
use crate::wire::{record_batch, R, W};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const GROUP: i8 = 32;
const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

type Op<'a> = (&'a str, i8, Option<&'a str>);

fn nullable(w: W, v: Option<&str>) -> W {
    match v {
        Some(s) => w.str(s),
        None => w.i16(-1),
    }
}

/// IncrementalAlterConfigs v0 of one resource; returns (error code, message).
async fn iac(
    c: &mut Client,
    kind: i8,
    name: &str,
    ops: &[Op<'_>],
    validate_only: bool,
) -> (i16, String) {
    let mut w = W::default()
        .header(44, 0, 7, "cfg")
        .i32(1)
        .i8(kind)
        .str(name)
        .i32(ops.len() as i32);
    for (k, op, v) in ops {
        w = nullable(w.str(k).i8(*op), *v);
    }
    let resp = c.call(&w.i8(validate_only as i8).0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 7);
    let _throttle = r.i32();
    assert_eq!(r.i32(), 1);
    let code = r.i16();
    let msg = if code == 0 { String::new() } else { r.str() };
    if code == 0 {
        assert_eq!(r.i16(), -1, "null message on success");
    }
    assert_eq!(r.i8(), kind);
    assert_eq!(r.str(), name);
    assert_eq!(r.rest(), 0);
    (code, msg)
}

/// AlterConfigs v0 (replace every override) of one resource; returns the error code.
async fn alter(c: &mut Client, kind: i8, name: &str, configs: &[(&str, &str)]) -> i16 {
    let mut w = W::default()
        .header(33, 0, 8, "cfg")
        .i32(1)
        .i8(kind)
        .str(name)
        .i32(configs.len() as i32);
    for (k, v) in configs {
        w = w.str(k).str(v);
    }
    let resp = c.call(&w.i8(0).0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 8);
    let _throttle = r.i32();
    assert_eq!(r.i32(), 1);
    r.i16()
}

/// DescribeConfigs v1 (with synonyms) of one resource.
async fn describe(
    c: &mut Client,
    kind: i8,
    name: &str,
) -> (i16, Vec<DescribeConfigsResourceResult>) {
    let w = W::default()
        .header(32, 1, 9, "cfg")
        .i32(1)
        .i8(kind)
        .str(name)
        .i32(-1)
        .i8(1);
    let resp = c.call(&w.0).await;
    let mut d = DescribeConfigsResponse::decode(&mut Bytes::from(resp[4..].to_vec()), 1).unwrap();
    let r = d.results.remove(0);
    (r.error_code, r.configs)
}

async fn value(c: &mut Client, kind: i8, name: &str, key: &str) -> (String, i8) {
    let (code, configs) = describe(c, kind, name).await;
    assert_eq!(code, 0, "describe {name}");
    let e = configs
        .iter()
        .find(|e| e.name.as_str() == key)
        .unwrap_or_else(|| panic!("{key} not described"));
    (
        e.value.as_deref().unwrap_or("").to_string(),
        e.config_source,
    )
}

/// Produce v3 of one batch to `topic`/0; returns the error code.
async fn produce(c: &mut Client, topic: &str, batch: &[u8]) -> i16 {
    crate::produce_fetch::produce(c, topic, batch).await.0
}

use crate::produce_fetch::create;

fn running(b: &TestBroker) -> &std::sync::Arc<runnel::broker::Broker> {
    &b.running.as_ref().unwrap().broker
}

#[tokio::test]
async fn altered_topic_configs_act_on_the_running_partition() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "live").await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let old_ts = now - 2 * 86_400_000; // older than a day, younger than the 7-day default
    let big = vec![7u8; 600_000];
    let batch = record_batch(&[&big], old_ts);
    assert_eq!(produce(&mut c, "live", &batch).await, 0);

    // segment.bytes: the next append rolls a new segment.
    assert_eq!(
        iac(
            &mut c,
            TOPIC,
            "live",
            &[("segment.bytes", SET, Some("1048576"))],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(produce(&mut c, "live", &batch).await, 0);
    let log = running(&b).logs.get("live", 0).unwrap();
    assert_eq!(log.config().segment_bytes, 1_048_576);
    let logs = std::fs::read_dir(log.dir())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .count();
    assert_eq!(logs, 2, "rolled after segment.bytes was lowered");

    // retention.ms: the old sealed segment goes at once, without a restart.
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(
        iac(
            &mut c,
            TOPIC,
            "live",
            &[("retention.ms", SET, Some("86400000"))],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(log.log_start_offset(), 1, "retention ran after the change");

    // max.message.bytes: the next produce is refused, and accepted again once deleted.
    assert_eq!(
        iac(
            &mut c,
            TOPIC,
            "live",
            &[("max.message.bytes", SET, Some("1000"))],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(
        produce(&mut c, "live", &batch).await,
        10,
        "MESSAGE_TOO_LARGE"
    );
    assert_eq!(
        iac(
            &mut c,
            TOPIC,
            "live",
            &[("max.message.bytes", DELETE, None)],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(produce(&mut c, "live", &batch).await, 0);

    // Sources: overrides are DYNAMIC_TOPIC_CONFIG, Runnel's own defaults DEFAULT_CONFIG.
    assert_eq!(
        value(&mut c, TOPIC, "live", "retention.ms").await,
        ("86400000".into(), 1)
    );
    assert_eq!(
        value(&mut c, TOPIC, "live", "max.message.bytes").await,
        ("1048588".into(), 5)
    );
    assert_eq!(
        value(&mut c, TOPIC, "live", "flush.ms").await,
        ("1000".into(), 5)
    );
    assert_eq!(
        value(&mut c, TOPIC, "live", "delete.retention.ms").await,
        ("86400000".into(), 5)
    );
    let (_, all) = describe(&mut c, TOPIC, "live").await;
    assert_eq!(all.len(), 33, "every Kafka topic config");
}

#[tokio::test]
async fn incremental_ops_validation_and_validate_only() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "ops").await;
    let ok = |r: (i16, String)| assert_eq!(r.0, 0, "{}", r.1);
    ok(iac(
        &mut c,
        TOPIC,
        "ops",
        &[("cleanup.policy", APPEND, Some("compact"))],
        false,
    )
    .await);
    assert_eq!(
        value(&mut c, TOPIC, "ops", "cleanup.policy").await,
        ("delete,compact".into(), 1)
    );
    ok(iac(
        &mut c,
        TOPIC,
        "ops",
        &[("cleanup.policy", SUBTRACT, Some("delete"))],
        false,
    )
    .await);
    assert_eq!(
        value(&mut c, TOPIC, "ops", "cleanup.policy").await.0,
        "compact"
    );
    let (code, msg) = iac(
        &mut c,
        TOPIC,
        "ops",
        &[("retention.ms", APPEND, Some("1"))],
        false,
    )
    .await;
    assert_eq!(code, 40, "{msg}");
    assert!(msg.contains("append is not allowed"), "{msg}");
    let (code, msg) = iac(
        &mut c,
        TOPIC,
        "ops",
        &[("retention.mss", SET, Some("1"))],
        false,
    )
    .await;
    assert_eq!(
        (code, msg.as_str()),
        (40, "Unknown topic config name: retention.mss")
    );
    let (code, msg) = iac(
        &mut c,
        TOPIC,
        "ops",
        &[("retention.ms", SET, Some("-5"))],
        false,
    )
    .await;
    assert_eq!(code, 40);
    assert!(
        msg.contains("retention.ms") && msg.contains("at least -1"),
        "{msg}"
    );
    let (code, _) = iac(
        &mut c,
        TOPIC,
        "ops",
        &[
            ("retention.ms", SET, Some("1")),
            ("retention.ms", DELETE, None),
        ],
        false,
    )
    .await;
    assert_eq!(code, 42, "duplicate keys");
    assert_eq!(
        iac(&mut c, TOPIC, "ops", &[("retention.ms", SET, None)], false)
            .await
            .0,
        42
    );
    assert_eq!(
        iac(
            &mut c,
            TOPIC,
            "missing",
            &[("retention.ms", SET, Some("1"))],
            false
        )
        .await
        .0,
        3
    );
    // validate_only checks but changes nothing.
    ok(iac(
        &mut c,
        TOPIC,
        "ops",
        &[("retention.ms", SET, Some("5000"))],
        true,
    )
    .await);
    assert_eq!(
        value(&mut c, TOPIC, "ops", "retention.ms").await,
        ("604800000".into(), 5)
    );
    assert_eq!(
        iac(
            &mut c,
            TOPIC,
            "ops",
            &[("retention.ms", SET, Some("x"))],
            true
        )
        .await
        .0,
        40
    );
    // Every config Kafka documents is accepted, even those Runnel does not enforce yet.
    ok(iac(
        &mut c,
        TOPIC,
        "ops",
        &[
            ("delete.retention.ms", SET, Some("1000")),
            ("file.delete.delay.ms", SET, Some("1000")),
            ("min.compaction.lag.ms", SET, Some("10")),
            ("message.timestamp.after.max.ms", SET, Some("60000")),
        ],
        false,
    )
    .await);
    assert_eq!(
        value(&mut c, TOPIC, "ops", "min.compaction.lag.ms").await,
        ("10".into(), 1)
    );
    assert_eq!(
        running(&b)
            .logs
            .get("ops", 0)
            .unwrap()
            .config()
            .message_timestamp_after_max_ms,
        60_000
    );
    // Legacy AlterConfigs replaces the whole set: the other overrides go back to defaults.
    assert_eq!(
        alter(&mut c, TOPIC, "ops", &[("segment.ms", "2000")]).await,
        0
    );
    assert_eq!(
        value(&mut c, TOPIC, "ops", "segment.ms").await,
        ("2000".into(), 1)
    );
    assert_eq!(
        value(&mut c, TOPIC, "ops", "cleanup.policy").await,
        ("delete".into(), 5)
    );
    assert_eq!(alter(&mut c, TOPIC, "ops", &[("nope", "1")]).await, 40);
    assert_eq!(
        alter(&mut c, GROUP, "g", &[]).await,
        42,
        "legacy call refuses groups"
    );
}

#[tokio::test]
async fn broker_defaults_apply_to_topics_and_persist() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "plain").await;
    create(&mut c, "own").await;
    assert_eq!(
        iac(
            &mut c,
            TOPIC,
            "own",
            &[("retention.ms", SET, Some("1000"))],
            false
        )
        .await
        .0,
        0
    );
    // Cluster-wide default.
    let (code, msg) = iac(
        &mut c,
        BROKER,
        "",
        &[("log.retention.ms", SET, Some("5000"))],
        false,
    )
    .await;
    assert_eq!(code, 0, "{msg}");
    assert_eq!(
        value(&mut c, TOPIC, "plain", "retention.ms").await,
        ("5000".into(), 3)
    );
    assert_eq!(
        value(&mut c, TOPIC, "own", "retention.ms").await,
        ("1000".into(), 1)
    );
    assert_eq!(
        running(&b)
            .logs
            .get("plain", 0)
            .unwrap()
            .config()
            .retention_ms,
        5000
    );
    let (code, d) = describe(&mut c, BROKER, "").await;
    assert_eq!((code, d.len()), (0, 1));
    assert_eq!(d[0].name.as_str(), "log.retention.ms");
    assert_eq!(d[0].config_source, 3);
    // This broker's own setting wins over the cluster default.
    assert_eq!(
        iac(
            &mut c,
            BROKER,
            "0",
            &[("log.retention.ms", SET, Some("6000"))],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(
        value(&mut c, TOPIC, "plain", "retention.ms").await,
        ("6000".into(), 2)
    );
    assert_eq!(
        value(&mut c, BROKER, "0", "log.retention.ms").await,
        ("6000".into(), 2)
    );
    assert_eq!(
        value(&mut c, BROKER, "0", "log.flush.interval.ms").await,
        ("1000".into(), 5)
    );
    // Read-only, unknown and invalid broker configs are INVALID_REQUEST, as in Kafka.
    let (code, msg) = iac(&mut c, BROKER, "0", &[("log.dirs", SET, Some("/x"))], false).await;
    assert_eq!(code, 42);
    assert!(
        msg.contains("Cannot update these configs dynamically"),
        "{msg}"
    );
    assert_eq!(
        iac(
            &mut c,
            BROKER,
            "0",
            &[("log.retention.ms", SET, Some("x"))],
            false
        )
        .await
        .0,
        42
    );
    assert_eq!(
        iac(
            &mut c,
            BROKER,
            "7",
            &[("log.retention.ms", SET, Some("1"))],
            false
        )
        .await
        .0,
        42
    );
    drop(c);

    let b = b.restart().await;
    let mut c = b.connect().await;
    assert_eq!(
        value(&mut c, TOPIC, "plain", "retention.ms").await,
        ("6000".into(), 2)
    );
    assert_eq!(
        running(&b)
            .logs
            .get("plain", 0)
            .unwrap()
            .config()
            .retention_ms,
        6000
    );
    assert_eq!(
        running(&b)
            .logs
            .get("own", 0)
            .unwrap()
            .config()
            .retention_ms,
        1000
    );
    assert_eq!(
        iac(
            &mut c,
            BROKER,
            "0",
            &[("log.retention.ms", DELETE, None)],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(
        value(&mut c, TOPIC, "plain", "retention.ms").await,
        ("5000".into(), 3)
    );
}

#[tokio::test]
async fn group_and_broker_logger_resources() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    assert_eq!(
        value(&mut c, GROUP, "g1", "consumer.session.timeout.ms").await,
        ("45000".into(), 5)
    );
    let ops = [("consumer.session.timeout.ms", SET, Some("60000"))];
    assert_eq!(iac(&mut c, GROUP, "g1", &ops, false).await.0, 0);
    assert_eq!(
        value(&mut c, GROUP, "g1", "consumer.session.timeout.ms").await,
        ("60000".into(), 8)
    );
    let bad = [("consumer.session.timeout.ms", SET, Some("10"))];
    assert_eq!(
        iac(&mut c, GROUP, "g1", &bad, false).await.0,
        40,
        "must exceed the heartbeat interval"
    );
    assert_eq!(describe(&mut c, GROUP, "").await.0, 42);

    let (code, loggers) = describe(&mut c, BROKER_LOGGER, "0").await;
    assert_eq!(code, 0);
    assert_eq!(loggers[0].name.as_str(), "root");
    assert!(loggers.iter().all(|l| l.config_source == 6));
    let ops = [("runnel::store", SET, Some("DEBUG"))];
    assert_eq!(iac(&mut c, BROKER_LOGGER, "0", &ops, false).await.0, 0);
    assert_eq!(
        value(&mut c, BROKER_LOGGER, "0", "runnel::store").await,
        ("DEBUG".into(), 6)
    );
    let ops = [("runnel::store", SET, Some("LOUD"))];
    assert_eq!(iac(&mut c, BROKER_LOGGER, "0", &ops, false).await.0, 40);
    let ops = [("root", DELETE, None)];
    assert_eq!(iac(&mut c, BROKER_LOGGER, "0", &ops, false).await.0, 42);
    let ops = [("runnel::store", DELETE, None)];
    assert_eq!(iac(&mut c, BROKER_LOGGER, "0", &ops, false).await.0, 0);
    assert_eq!(
        describe(&mut c, 16, "x").await.0,
        42,
        "CLIENT_METRICS is not supported"
    );
}

/// Fetch v4 of `topic`/0 from offset 0; returns the records bytes.
async fn fetch_all(c: &mut Client, topic: &str) -> Vec<u8> {
    let req = W::default()
        .header(1, 4, 12, "c")
        .i32(-1)
        .i32(0)
        .i32(1)
        .i32(1 << 20)
        .i8(0)
        .i32(1)
        .str(topic)
        .i32(1)
        .i32(0)
        .i64(0)
        .i32(1 << 20);
    let resp = c.call(&req.0).await;
    let mut r = R::new(&resp);
    assert_eq!(r.i32(), 12);
    let _throttle = r.i32();
    assert_eq!(r.i32(), 1);
    assert_eq!(r.str(), topic);
    assert_eq!(r.i32(), 1);
    assert_eq!(r.i32(), 0);
    assert_eq!(r.i16(), 0);
    let _hw = r.i64();
    let _lso = r.i64();
    assert!(r.i32() <= 0, "no aborted transactions");
    let n = r.i32();
    r.bytes(n.max(0) as usize).to_vec()
}

#[tokio::test]
async fn a_topic_codec_recompresses_produced_batches() {
    let b = harness::start().await;
    let mut c = b.connect().await;
    create(&mut c, "gz").await;
    let ops = [
        ("compression.type", SET, Some("gzip")),
        ("compression.gzip.level", SET, Some("9")),
    ];
    assert_eq!(iac(&mut c, TOPIC, "gz", &ops, false).await.0, 0);
    let values: Vec<Vec<u8>> = (0..20)
        .map(|i| format!("value {i} ").repeat(20).into_bytes())
        .collect();
    let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    let batch = record_batch(&refs, 1_700_000_000_000);
    assert_eq!(produce(&mut c, "gz", &batch).await, 0);
    let stored = fetch_all(&mut c, "gz").await;
    let attrs = i16::from_be_bytes([stored[21], stored[22]]);
    assert_eq!(attrs & 7, 1, "stored as gzip");
    assert!(
        stored.len() < batch.len(),
        "compressed: {} < {}",
        stored.len(),
        batch.len()
    );
    let mut bytes = Bytes::from(stored);
    let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut bytes).unwrap();
    assert_eq!(set.records.len(), 20);
    assert_eq!(set.records[19].offset, 19);
    assert_eq!(set.records[19].value.as_deref(), Some(&values[19][..]));
    // Back to `producer`: batches are stored verbatim again.
    assert_eq!(
        iac(
            &mut c,
            TOPIC,
            "gz",
            &[("compression.type", DELETE, None)],
            false
        )
        .await
        .0,
        0
    );
    assert_eq!(produce(&mut c, "gz", &batch).await, 0);
}
