//! A broker on an ephemeral port with a fresh data directory, a raw client over TCP (or any
//! stream: TLS in `tls.rs`), and the typed helpers most test files share: [`call`] one API,
//! [`create_topic`].

use std::net::SocketAddr;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    create_topics_request, ApiKey, CreateTopicsRequest, CreateTopicsResponse, RequestHeader,
    ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, StrBytes};
use runnel::config::Config;
use runnel::runtime::{self, Running};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub struct TestBroker {
    pub running: Option<Running>,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

pub async fn start() -> TestBroker {
    let dir = tempfile::tempdir().unwrap();
    start_in(dir).await
}

pub async fn start_in(dir: tempfile::TempDir) -> TestBroker {
    start_with_in(dir, |_| {}).await
}

/// A broker whose configuration `adjust` changes first (limits, timeouts, `http_listen`).
pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestBroker {
    start_with_in(tempfile::tempdir().unwrap(), adjust).await
}

async fn start_with_in(dir: tempfile::TempDir, adjust: impl FnOnce(&mut Config)) -> TestBroker {
    let mut cfg = Config {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".into(),
        http_listen: String::new(),
        ..Config::default()
    };
    adjust(&mut cfg);
    let running = runtime::start(cfg).await.expect("broker starts");
    TestBroker {
        addr: running.kafka_addr,
        running: Some(running),
        dir,
    }
}

impl TestBroker {
    pub async fn connect(&self) -> Client {
        Client {
            stream: TcpStream::connect(self.addr).await.unwrap(),
        }
    }

    /// Shuts down cleanly and starts again on the same data directory.
    pub async fn restart(mut self) -> TestBroker {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        start_in(self.dir).await
    }

    /// As [`TestBroker::restart`], with the configuration `adjust` changes.
    pub async fn restart_with(mut self, adjust: impl FnOnce(&mut Config)) -> TestBroker {
        if let Some(r) = self.running.take() {
            r.shutdown().await;
        }
        start_with_in(self.dir, adjust).await
    }
}

pub struct Client<S = TcpStream> {
    pub stream: S,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// Sends one request frame (length prefix added here).
    pub async fn send(&mut self, frame: &[u8]) {
        self.stream
            .write_all(&(frame.len() as i32).to_be_bytes())
            .await
            .unwrap();
        self.stream.write_all(frame).await.unwrap();
    }

    /// Reads one response frame (without its length prefix); None if the broker closed.
    pub async fn recv(&mut self) -> Option<Vec<u8>> {
        let mut len = [0u8; 4];
        match tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut len))
            .await
            .expect("response within 10 s")
        {
            Ok(_) => {}
            Err(_) => return None,
        }
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).await.ok()?;
        Some(buf)
    }

    pub async fn call(&mut self, frame: &[u8]) -> Vec<u8> {
        self.send(frame).await;
        self.recv().await.expect("a response")
    }

    /// True when the broker has closed the connection.
    pub async fn is_closed(&mut self) -> bool {
        let mut b = [0u8; 1];
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut b)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

/// A `StrBytes` of `v`.
pub fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Sends `req` as API `key` version `v` and decodes the response, which must be whole.
pub async fn call<Q: Encodable, P: Decodable>(c: &mut Client, key: ApiKey, v: i16, req: &Q) -> P {
    let mut b = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(v)
        .with_correlation_id(77)
        .with_client_id(Some(s("protocol-test")))
        .encode(&mut b, key.request_header_version(v))
        .unwrap();
    req.encode(&mut b, v).unwrap();
    let mut resp = Bytes::from(c.call(&b).await);
    let h = ResponseHeader::decode(&mut resp, key.response_header_version(v)).unwrap();
    assert_eq!(h.correlation_id, 77);
    let out = P::decode(&mut resp, v).unwrap_or_else(|e| panic!("{key:?} v{v}: {e}"));
    assert!(
        resp.is_empty(),
        "{key:?} v{v}: {} trailing bytes",
        resp.len()
    );
    out
}

/// Creates `name` with `partitions` partitions (CreateTopics v7); returns its topic id.
pub async fn create_topic(c: &mut Client, name: &str, partitions: i32) -> uuid::Uuid {
    let req = CreateTopicsRequest::default()
        .with_timeout_ms(5000)
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(TopicName(s(name)))
            .with_num_partitions(partitions)
            .with_replication_factor(-1)]);
    let r: CreateTopicsResponse = call(c, ApiKey::CreateTopics, 7, &req).await;
    assert_eq!(r.topics[0].error_code, 0, "{:?}", r.topics[0].error_message);
    r.topics[0].topic_id
}
