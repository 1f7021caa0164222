//! Boot safety, process level: the in-process broker (and, for the CLI, the real binary) is
//! started on a data directory, stopped, the directory is damaged the way an operator or a
//! crash would damage it, and started again.
//!
//! Metadata loss (issue 9, item 6): a deleted or corrupted store, or a log directory of
//! another cluster, refuses to start with an error naming the problem and
//! `runnel recover --reset-metadata`; an orphan partition directory is quarantined, never
//! adopted. Crash-atomic delete (item 7): the state a SIGKILL leaves mid-delete never serves
//! the deleted records. One delete workflow (issue 8, item 8): DeleteTopics and the console
//! both drop committed offsets.

use std::path::{Path, PathBuf};
use std::process::Command;

use runnel::config::Config;
use runnel::group::{CommitRequest, CommittedOffset};
use runnel::runtime::{self, Running};
use runnel::store::{marker, Space, Store, StoreOp};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::wire::{record_batch, R, W};

fn config(dir: &Path) -> Config {
    Config {
        data_dir: dir.to_path_buf(),
        listen: "127.0.0.1:0".into(),
        http_listen: String::new(),
        ..Config::default()
    }
}

/// Starts a broker on `dir`. The previous broker of the same test may still be letting go of
/// the directory: its group timer task holds the store until it has seen the shutdown, so
/// "in use" / RocksDB lock errors are retried for a while (a real restart is a new process).
async fn try_start(cfg: Config) -> Result<Running, String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match runtime::start(cfg.clone()).await {
            Ok(r) => return Ok(r),
            Err(e) => {
                let msg = e.to_string();
                let locked = msg.contains("in use by another") || msg.contains("lock hold");
                if !locked || std::time::Instant::now() > deadline {
                    return Err(msg);
                }
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
        }
    }
}

/// The stopped broker's store, opened directly (same retry as `try_start`).
async fn open_store(dir: &Path) -> Store {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        match Store::open_existing(&dir.join("meta")) {
            Ok(s) => return s,
            Err(e)
                if e.to_string().contains("lock hold") && std::time::Instant::now() < deadline =>
            {
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("opening the store: {e}"),
        }
    }
}

async fn start(dir: &Path) -> Running {
    try_start(config(dir)).await.expect("broker starts")
}

/// The start error's message; panics if the broker started.
async fn start_error(dir: &Path) -> String {
    match try_start(config(dir)).await {
        Ok(r) => {
            r.shutdown().await;
            panic!("the broker started on a damaged data directory")
        }
        Err(msg) => msg,
    }
}

/// Creates `topic` (1 partition) through the controller and appends `n` records.
async fn topic_with_records(r: &Running, topic: &str, n: usize) {
    let b = r.broker.clone();
    let topic = topic.to_string();
    tokio::task::spawn_blocking(move || {
        let nt = runnel::cluster::controller::NewTopic {
            name: topic.clone(),
            num_partitions: 1,
            replication_factor: -1,
            assignments: Vec::new(),
            configs: Default::default(),
        };
        b.controller.create_topic(&nt, false, 0).unwrap();
        let values: Vec<Vec<u8>> = (0..n).map(|i| format!("v{i}").into_bytes()).collect();
        let refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        b.logs
            .get(&topic, 0)
            .unwrap()
            .append(&record_batch(&refs, 1_000), 0, 0)
            .unwrap();
    })
    .await
    .unwrap();
}

/// Metadata v1 naming `topic`: auto-creates it (the broker default), like a client would.
async fn auto_create(r: &Running, topic: &str) {
    let mut c = crate::harness::Client {
        stream: tokio::net::TcpStream::connect(r.kafka_addr).await.unwrap(),
    };
    let req = W::default().header(3, 1, 5, "boot").i32(1).str(topic);
    let resp = c.call(&req.0).await;
    assert_eq!(R::new(&resp).i32(), 5);
    assert!(r.broker.metadata.topic(topic).is_some());
}

fn leo(r: &Running, topic: &str) -> i64 {
    r.broker.logs.get(topic, 0).unwrap().log_end_offset()
}

fn log_entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn assert_names_recovery(msg: &str, dir: &Path) {
    let cmd = format!(
        "runnel recover --data-dir {} --reset-metadata",
        dir.display()
    );
    assert!(msg.contains(&cmd), "{msg}");
}

fn runnel_bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_runnel"));
    // The test's own environment must not configure the child.
    for (k, _) in std::env::vars() {
        if k.starts_with("RUNNEL_") {
            c.env_remove(k);
        }
    }
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_meta_refuses_start_until_recover() {
    let dir = tempfile::tempdir().unwrap();
    let first_cluster = {
        let r = start(dir.path()).await;
        topic_with_records(&r, "orders", 3).await;
        let id = r.broker.cluster_id();
        r.shutdown().await;
        id
    };
    std::fs::remove_dir_all(dir.path().join("meta")).unwrap();

    let msg = start_error(dir.path()).await;
    assert!(
        msg.contains("metadata store") && msg.contains("is missing"),
        "{msg}"
    );
    assert!(msg.contains(&first_cluster), "{msg}");
    assert_names_recovery(&msg, dir.path());
    // Refusing created nothing: a second try says the same.
    assert!(!dir.path().join("meta").exists());
    assert_eq!(start_error(dir.path()).await, msg);

    // The real binary exits non-zero with the same explanation.
    let out = runnel_bin()
        .args(["--listen", "127.0.0.1:0", "--http-listen", "", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("is missing"), "{stderr}");
    assert_names_recovery(&stderr, dir.path());

    // `recover` does nothing without the explicit flag...
    let out = runnel_bin()
        .args(["recover", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--reset-metadata"));
    assert_eq!(log_entries(dir.path()), vec!["cluster.meta", "orders-0"]);
    // ...and with it, sets the data aside and lets the broker start afresh.
    let out = runnel_bin()
        .args(["recover", "--reset-metadata", "--data-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("quarantined 1 partition directories"),
        "{stdout}"
    );

    let r = start(dir.path()).await;
    assert_ne!(r.broker.cluster_id(), first_cluster);
    assert!(r.broker.metadata.topic("orders").is_none());
    auto_create(&r, "orders").await;
    assert_eq!(leo(&r, "orders"), 0);
    let entries = log_entries(dir.path());
    assert!(
        entries
            .iter()
            .any(|e| e.starts_with("orders-0.") && e.ends_with(".orphan")),
        "{entries:?}"
    );
    r.shutdown().await;
}

/// The file in `meta/` whose name starts with `prefix` (newest if several).
fn store_file(dir: &Path, prefix: &str, suffix: &str) -> PathBuf {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir.join("meta"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with(prefix) && n.ends_with(suffix) && p.metadata().unwrap().len() > 0
        })
        .collect();
    v.sort();
    v.pop().expect("file present")
}

/// Flips one byte in the payload of the first full record (type 1) of at least 20 bytes of a
/// RocksDB log-format file (WAL or MANIFEST: 32 KiB blocks of records with a 7-byte header
/// `crc u32, length u16 LE, type u8`), so the record's checksum no longer matches.
fn corrupt_first_record(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let mut pos = 0;
    while pos + 7 <= b.len() {
        if 32768 - pos % 32768 < 7 {
            pos += 32768 - pos % 32768; // block trailer
            continue;
        }
        let len = usize::from(u16::from_le_bytes([b[pos + 4], b[pos + 5]]));
        let kind = b[pos + 6];
        if kind == 1 && len >= 20 {
            b[pos + 7 + len / 2] ^= 0x5a;
            std::fs::write(path, b).unwrap();
            return;
        }
        pos += 7 + len;
    }
    panic!("no record to corrupt in {}", path.display());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_wal_or_manifest_refuses_start() {
    for target in ["wal", "manifest"] {
        let dir = tempfile::tempdir().unwrap();
        let r = start(dir.path()).await;
        r.shutdown().await;
        // Writes that only the WAL holds (no flush before close), like after a crash.
        {
            let store = open_store(dir.path()).await;
            for i in 0..20 {
                store
                    .write(
                        vec![StoreOp::Put {
                            cf: Space::Groups,
                            key: format!("group-{i}").into_bytes(),
                            value: vec![b'x'; 200],
                        }],
                        true,
                    )
                    .unwrap();
            }
        }
        let file = match target {
            "wal" => store_file(dir.path(), "", ".log"),
            _ => store_file(dir.path(), "MANIFEST-", ""),
        };
        corrupt_first_record(&file);
        let msg = start_error(dir.path()).await;
        eprintln!("{target}: {msg}");
        assert!(msg.contains("cannot be opened"), "{target}: {msg}");
        assert!(msg.to_lowercase().contains("corruption"), "{target}: {msg}");
        assert_names_recovery(&msg, dir.path());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_and_logs_of_different_clusters_refuse_start() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path()).await;
    let cluster = r.broker.cluster_id();
    r.shutdown().await;
    let logs = dir.path().join("logs");

    marker::write(&logs, "ForeignClusterIdXXXXXX").unwrap();
    let msg = start_error(dir.path()).await;
    assert!(msg.contains("cluster id mismatch"), "{msg}");
    assert!(
        msg.contains(&cluster) && msg.contains("ForeignClusterIdXXXXXX"),
        "{msg}"
    );
    assert_names_recovery(&msg, dir.path());

    // A damaged marker is refused, not mistaken for a missing one.
    let mut bytes = std::fs::read(logs.join(marker::MARKER_FILE)).unwrap();
    *bytes.last_mut().unwrap() ^= 1;
    std::fs::write(logs.join(marker::MARKER_FILE), bytes).unwrap();
    let msg = start_error(dir.path()).await;
    assert!(
        msg.contains("checksum mismatch") && msg.contains("cluster.meta"),
        "{msg}"
    );

    // A store that lost its cluster id (emptied or replaced) is refused too.
    marker::write(&logs, &cluster).unwrap();
    {
        let store = open_store(dir.path()).await;
        store
            .write(
                vec![StoreOp::Delete {
                    cf: Space::Meta,
                    key: b"cluster_id".to_vec(),
                }],
                true,
            )
            .unwrap();
    }
    let msg = start_error(dir.path()).await;
    assert!(msg.contains("has no cluster id"), "{msg}");
    assert_names_recovery(&msg, dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn data_dirs_from_before_the_marker_keep_working() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path()).await;
    topic_with_records(&r, "t", 2).await;
    let cluster = r.broker.cluster_id();
    r.shutdown().await;
    // An older version wrote neither the marker nor topic ids.
    std::fs::remove_file(dir.path().join("logs").join(marker::MARKER_FILE)).unwrap();
    std::fs::remove_file(dir.path().join("logs/t-0/partition.metadata")).unwrap();
    let r = start(dir.path()).await;
    assert_eq!(r.broker.cluster_id(), cluster);
    assert_eq!(leo(&r, "t"), 2);
    assert_eq!(
        marker::read(&dir.path().join("logs")).unwrap().as_deref(),
        Some(cluster.as_str())
    );
    assert!(dir.path().join("logs/t-0/partition.metadata").exists());
    r.shutdown().await;
    // But partition directories without any store are never taken over.
    std::fs::remove_file(dir.path().join("logs").join(marker::MARKER_FILE)).unwrap();
    std::fs::remove_dir_all(dir.path().join("meta")).unwrap();
    let msg = start_error(dir.path()).await;
    assert!(msg.contains("holds 1 partition directories"), "{msg}");
    assert_names_recovery(&msg, dir.path());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orphan_partition_dir_is_quarantined_and_auto_create_starts_empty() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path()).await;
    topic_with_records(&r, "orders", 4).await;
    r.shutdown().await;
    // The store forgets the topic; its directory stays.
    {
        let store = open_store(dir.path()).await;
        store.delete_topic("orders").unwrap();
    }
    let r = start(dir.path()).await;
    assert!(r.broker.metadata.topic("orders").is_none());
    let entries = log_entries(dir.path());
    let orphan = entries
        .iter()
        .find(|e| e.starts_with("orders-0.") && e.ends_with(".orphan"))
        .unwrap_or_else(|| panic!("{entries:?}"));
    assert!(!entries.contains(&"orders-0".to_string()));
    auto_create(&r, "orders").await;
    assert_eq!(leo(&r, "orders"), 0);
    // The quarantined records are still on disk for the operator.
    let seg = dir
        .path()
        .join("logs")
        .join(orphan)
        .join("00000000000000000000.log");
    assert!(std::fs::metadata(seg).unwrap().len() > 0);
    r.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_mid_delete_never_serves_the_deleted_records() {
    let dir = tempfile::tempdir().unwrap();
    let r = start(dir.path()).await;
    topic_with_records(&r, "t", 10).await;
    topic_with_records(&r, "keep", 1).await;
    r.shutdown().await;
    // What a SIGKILL right after DeleteTopics renamed the directory (before the store
    // commit) leaves: the store still lists "t", its directory has a `.deleted` name.
    let logs = dir.path().join("logs");
    std::fs::rename(logs.join("t-0"), logs.join("t-0.1.deleted")).unwrap();
    let r = start(dir.path()).await;
    assert!(r.broker.metadata.topic("t").is_none());
    assert_eq!(leo(&r, "keep"), 1);
    assert_eq!(log_entries(dir.path()), vec!["cluster.meta", "keep-0"]);
    auto_create(&r, "t").await;
    assert_eq!(leo(&r, "t"), 0);
    r.shutdown().await;
    // And it stays that way across another restart.
    let r = start(dir.path()).await;
    assert_eq!(leo(&r, "t"), 0);
    r.shutdown().await;
}

/// One HTTP/1.1 POST; returns the status code.
async fn http_post(addr: std::net::SocketAddr, path: &str, json: &str) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let req = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{json}",
        json.len()
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).await.unwrap();
    let text = String::from_utf8_lossy(&resp);
    text.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_topics_and_console_delete_both_drop_committed_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(dir.path());
    cfg.http_listen = "127.0.0.1:0".into();
    cfg.console.allow_writes = true;
    let r = try_start(cfg).await.unwrap();
    for t in ["by-kafka", "by-console", "kept"] {
        topic_with_records(&r, t, 5).await;
    }
    let offset = |o| CommittedOffset {
        offset: o,
        leader_epoch: -1,
        metadata: String::new(),
        commit_timestamp_ms: 0,
    };
    r.broker
        .groups
        .commit_offsets(CommitRequest {
            group_id: "g".into(),
            member_id: String::new(),
            generation_id: -1,
            group_instance_id: None,
            offsets: ["by-kafka", "by-console", "kept"]
                .iter()
                .map(|t| (t.to_string(), 0, offset(4)))
                .collect(),
        })
        .await
        .unwrap();

    // DeleteTopics v1: [topic_names], timeout_ms.
    let mut c = crate::harness::Client {
        stream: tokio::net::TcpStream::connect(r.kafka_addr).await.unwrap(),
    };
    let req = W::default()
        .header(20, 1, 9, "admin")
        .i32(1)
        .str("by-kafka")
        .i32(5000);
    let resp = c.call(&req.0).await;
    let mut rd = R::new(&resp);
    assert_eq!(rd.i32(), 9);
    let _throttle = rd.i32();
    assert_eq!(rd.i32(), 1);
    assert_eq!(rd.str(), "by-kafka");
    assert_eq!(rd.i16(), 0);

    let http = r.http_addr.unwrap();
    assert_eq!(
        http_post(http, "/api/topics/delete", r#"{"name":"by-console"}"#).await,
        200
    );

    let fetched = r
        .broker
        .groups
        .fetch_offsets("g", None, false)
        .await
        .unwrap();
    let topics: Vec<&str> = fetched.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(topics, vec!["kept"], "{fetched:?}");

    // Re-created under the same names, neither inherits a position.
    auto_create(&r, "by-kafka").await;
    auto_create(&r, "by-console").await;
    let ask = [
        ("by-kafka".to_string(), vec![0]),
        ("by-console".to_string(), vec![0]),
    ];
    let fetched = r
        .broker
        .groups
        .fetch_offsets("g", Some(&ask), false)
        .await
        .unwrap();
    assert!(
        fetched.iter().all(|(_, ps)| ps[0].1.is_none()),
        "{fetched:?}"
    );
    r.shutdown().await;
}
