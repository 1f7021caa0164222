//! Process-level: the real `runnel` binary started under a small open-file soft limit (set in
//! the child between fork and exec), as a shell with `ulimit -n 256` would.
//!
//! - With the old layout (three descriptors per segment, sealed ones included, no raise of the
//!   soft limit) 1,000 partitions could not even be created at 256; now the broker raises its
//!   soft limit to the hard one, keeps one descriptor per partition and opens the rest through
//!   a bounded cache, so 1,000 partitions with several segments each are produced to and read
//!   back, and `/proc/PID/fd` stays near partitions + cache.
//! - With a low hard limit the derived partition cap refuses a CreateTopics/CreatePartitions
//!   with POLICY_VIOLATION before creating anything, and a CreateTopics that fails halfway
//!   (a file where partition 5's directory should go) leaves no directory, no open partition
//!   and no topic behind.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};

use crate::wire::record_batch;

struct Broker {
    child: Child,
    addr: SocketAddr,
    dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Broker {
    /// Starts the binary with `RLIMIT_NOFILE` = (`soft`, `hard` or the current hard limit).
    fn start(soft: u64, hard: Option<u64>, env: &[(&str, &str)]) -> Broker {
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let log = std::fs::File::create(dir.path().join("broker.log")).unwrap();
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_runnel"));
        cmd.arg("--data-dir")
            .arg(dir.path().join("data"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--http-listen")
            .arg("")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        for (k, v) in env {
            cmd.env(k, v);
        }
        // SAFETY: only async-signal-safe syscalls (getrlimit/setrlimit) run in the child.
        unsafe {
            cmd.pre_exec(move || {
                let mut l = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                l.rlim_cur = soft as libc::rlim_t;
                if let Some(h) = hard {
                    l.rlim_max = h as libc::rlim_t;
                }
                if libc::setrlimit(libc::RLIMIT_NOFILE, &l) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let b = Broker { child, addr, dir };
        // Ready once ApiVersions answers.
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut c) = Conn::connect(b.addr) {
                if c.try_call::<_, ApiVersionsResponse>(
                    ApiKey::ApiVersions,
                    0,
                    &ApiVersionsRequest::default(),
                )
                .is_ok()
                {
                    break;
                }
            }
            assert!(
                Instant::now() < deadline,
                "broker did not start:\n{}",
                b.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        b
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("broker.log")).unwrap_or_default()
    }

    fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.child.id()))
            .unwrap()
            .count()
    }

    fn logs_dir(&self) -> PathBuf {
        self.dir.path().join("data").join("logs")
    }

    /// Partition directories of `topic` on disk.
    fn partition_dirs(&self, topic: &str) -> Vec<String> {
        dir_names(&self.logs_dir())
            .into_iter()
            .filter(|n| {
                n.rsplit_once('-')
                    .is_some_and(|(t, p)| t == topic && p.parse::<i32>().is_ok())
                    && self.logs_dir().join(n).is_dir()
            })
            .collect()
    }
}

fn dir_names(p: &Path) -> Vec<String> {
    std::fs::read_dir(p)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

struct Conn {
    stream: TcpStream,
    corr: i32,
}

impl Conn {
    fn connect(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(60)))?;
        Ok(Conn { stream, corr: 0 })
    }

    fn try_call<Q: Encodable, P: Decodable>(
        &mut self,
        key: ApiKey,
        v: i16,
        req: &Q,
    ) -> std::io::Result<P> {
        self.corr += 1;
        let mut b = BytesMut::new();
        RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(v)
            .with_correlation_id(self.corr)
            .with_client_id(Some(StrBytes::from_static_str("fd-limits")))
            .encode(&mut b, key.request_header_version(v))
            .unwrap();
        req.encode(&mut b, v).unwrap();
        self.stream.write_all(&(b.len() as i32).to_be_bytes())?;
        self.stream.write_all(&b)?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len)?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf)?;
        let mut buf = Bytes::from(buf);
        let h = ResponseHeader::decode(&mut buf, key.response_header_version(v)).unwrap();
        assert_eq!(h.correlation_id, self.corr);
        Ok(P::decode(&mut buf, v).unwrap())
    }

    fn call<Q: Encodable, P: Decodable>(&mut self, key: ApiKey, v: i16, req: &Q) -> P {
        self.try_call(key, v, req).unwrap()
    }

    /// CreateTopics v7 of one topic; returns (error code, message).
    fn create_topic(&mut self, name: &str, partitions: i32) -> (i16, Option<String>) {
        let req = CreateTopicsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.into())))
                .with_num_partitions(partitions)
                .with_replication_factor(1)]);
        let resp: CreateTopicsResponse = self.call(ApiKey::CreateTopics, 7, &req);
        let t = &resp.topics[0];
        (
            t.error_code,
            t.error_message.as_ref().map(|m| m.to_string()),
        )
    }
}

fn topic(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.into()))
}

fn value(p: i32, round: i64) -> Vec<u8> {
    format!("partition {p} batch {round}").into_bytes()
}

#[test]
fn thousand_partitions_under_soft_limit_256() {
    const PARTITIONS: i32 = 1000;
    const ROUNDS: i64 = 3;
    const CACHE: usize = 64;
    // segment.ms = 1 with timestamps 1 s apart: every batch after the first rolls a segment,
    // so each partition ends with ROUNDS segments (ROUNDS - 1 sealed).
    let b = Broker::start(
        256,
        None,
        &[
            ("RUNNEL_LOG_SEGMENT_MS", "1"),
            ("RUNNEL_LOG_MAX_OPEN_SEGMENT_FILES", "64"),
        ],
    );
    let mut c = Conn::connect(b.addr).unwrap();
    let (code, msg) = c.create_topic("many", PARTITIONS);
    assert_eq!(code, 0, "{msg:?}\n{}", b.log());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for round in 0..ROUNDS {
        let parts = (0..PARTITIONS)
            .map(|p| {
                PartitionProduceData::default()
                    .with_index(p)
                    .with_records(Some(Bytes::from(record_batch(
                        &[&value(p, round)],
                        now + round * 1000,
                    ))))
            })
            .collect();
        let req = ProduceRequest::default()
            .with_acks(1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![TopicProduceData::default()
                .with_name(topic("many"))
                .with_partition_data(parts)]);
        let resp: ProduceResponse = c.call(ApiKey::Produce, 9, &req);
        let parts = &resp.responses[0].partition_responses;
        assert_eq!(parts.len(), PARTITIONS as usize);
        for p in parts {
            assert_eq!(p.error_code, 0, "partition {}\n{}", p.index, b.log());
            assert_eq!(p.base_offset, round);
        }
    }
    let segments = dir_names(&b.logs_dir().join("many-7"))
        .iter()
        .filter(|n| n.ends_with(".log"))
        .count();
    assert_eq!(segments, ROUNDS as usize, "every round rolled a segment");

    // Read every batch back; offsets 0 and 1 live in sealed segments.
    for round in 0..ROUNDS {
        let parts = (0..PARTITIONS)
            .map(|p| {
                FetchPartition::default()
                    .with_partition(p)
                    .with_fetch_offset(round)
                    .with_partition_max_bytes(1 << 20)
            })
            .collect();
        let req = FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(100)
            .with_min_bytes(1)
            .with_max_bytes(64 << 20)
            .with_session_id(0)
            .with_session_epoch(-1)
            .with_topics(vec![FetchTopic::default()
                .with_topic(topic("many"))
                .with_partitions(parts)]);
        let resp: FetchResponse = c.call(ApiKey::Fetch, 12, &req);
        let parts = &resp.responses[0].partitions;
        assert_eq!(parts.len(), PARTITIONS as usize);
        for p in parts {
            assert_eq!(p.error_code, 0, "partition {}", p.partition_index);
            assert_eq!(p.high_watermark, ROUNDS);
            let rec = p.records.as_ref().expect("records");
            assert_eq!(
                i64::from_be_bytes(rec[..8].try_into().unwrap()),
                round,
                "base offset"
            );
            let v = value(p.partition_index, round);
            assert!(
                rec.windows(v.len()).any(|w| w == v.as_slice()),
                "partition {} offset {round} holds its own value",
                p.partition_index
            );
        }
    }
    let fds = b.open_fds();
    eprintln!(
        "{PARTITIONS} partitions x {ROUNDS} segments: {fds} open descriptors (cache {CACHE})"
    );
    // One per partition (its active segment), the cache, and the store, sockets and runtime.
    assert!(
        fds < PARTITIONS as usize + CACHE + 200,
        "{fds} descriptors open"
    );
}

#[test]
fn partition_cap_and_halfway_create_leave_nothing_behind() {
    // Hard limit 600: nothing to raise; the cap is (600 - 150 - 256) / 2 = 97 partitions.
    let b = Broker::start(600, Some(600), &[]);
    let mut c = Conn::connect(b.addr).unwrap();

    let (code, msg) = c.create_topic("big", 200);
    assert_eq!(code, 44, "POLICY_VIOLATION: {msg:?}");
    assert!(msg.unwrap().contains("log.max_partitions"));
    assert!(b.partition_dirs("big").is_empty());

    assert_eq!(c.create_topic("small", 50).0, 0);
    let req = CreatePartitionsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(topic("small"))
            .with_count(120)
            .with_assignments(None)]);
    let resp: CreatePartitionsResponse = c.call(ApiKey::CreatePartitions, 3, &req);
    assert_eq!(resp.results[0].error_code, 44);
    assert_eq!(b.partition_dirs("small").len(), 50);

    // Something in the way of partition 5's directory is set aside (quarantined as
    // `.orphan`, never served) and the create succeeds with every partition empty; a create
    // that fails while staging or committing leaves nothing behind (log::manager and
    // cluster::boot tests).
    std::fs::write(b.logs_dir().join("half-5"), b"in the way").unwrap();
    let fds_before = b.open_fds();
    assert_eq!(c.create_topic("half", 20).0, 0);
    assert_eq!(b.partition_dirs("half").len(), 20);
    assert!(
        b.open_fds() <= fds_before + 20 + 2,
        "one descriptor per new partition"
    );
}
