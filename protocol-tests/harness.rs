//! A broker on an ephemeral port with a fresh data directory, and a raw client over TCP (or
//! any stream: TLS in `tls.rs`).

use std::net::SocketAddr;
use std::time::Duration;

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
