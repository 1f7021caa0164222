//! The inter-broker client: one Kafka connection from this broker to another broker's first
//! listener (plaintext, as replication uses), over which requests are sent one at a time and
//! answered in order. What the replica fetchers (`replica/fetcher.rs`), the transaction
//! markers (`txn_topic/markers.rs`) and the share-state persister (`share/remote.rs`) speak.
//!
//! Invariants: one request in flight per connection; a response whose correlation id is not
//! the request's, or whose frame exceeds the caller's bound, is an error and the caller drops
//! the connection (its byte stream can no longer be trusted); every wait is bounded.

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{RequestHeader, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, Request, StrBytes};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::image::Image;

/// How long a connection attempt may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A client connection to another broker.
pub struct Peer {
    stream: TcpStream,
    correlation: i32,
    client_id: StrBytes,
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

impl Peer {
    /// Connects to `host:port`, naming itself `client_id` in every request.
    pub async fn open(host: &str, port: i32, client_id: String) -> std::io::Result<Peer> {
        let addr = format!("{host}:{port}");
        let stream = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "connect timed out")
            })??;
        stream.set_nodelay(true)?;
        Ok(Peer {
            stream,
            correlation: 0,
            client_id: StrBytes::from_string(client_id),
        })
    }

    /// Connects to broker `id` of `image` (its first listener); an unknown or fenced broker
    /// is an error.
    pub async fn open_broker(image: &Image, id: i32, client_id: String) -> std::io::Result<Peer> {
        let b = image
            .brokers
            .get(&id)
            .filter(|b| !b.fenced)
            .ok_or_else(|| {
                std::io::Error::new(
                    std::io::ErrorKind::NotConnected,
                    format!("broker {id} is not a live broker"),
                )
            })?;
        Peer::open(&b.host, b.port, client_id).await
    }

    /// Sends `req` at `version` and reads its response: at most `max_frame` bytes, within
    /// `timeout` (the whole exchange).
    pub async fn call<R: Request>(
        &mut self,
        req: &R,
        version: i16,
        max_frame: usize,
        timeout: Duration,
    ) -> std::io::Result<R::Response> {
        self.correlation = self.correlation.wrapping_add(1);
        let header = RequestHeader::default()
            .with_request_api_key(R::KEY)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(self.client_id.clone()));
        let mut buf = BytesMut::new();
        buf.put_i32(0);
        header
            .encode(&mut buf, R::header_version(version))
            .map_err(invalid)?;
        req.encode(&mut buf, version).map_err(invalid)?;
        let len = (buf.len() - 4) as i32;
        buf[..4].copy_from_slice(&len.to_be_bytes());
        let exchange = async {
            self.stream.write_all(&buf).await?;
            let len = usize::try_from(self.stream.read_i32().await?).unwrap_or(usize::MAX);
            if len > max_frame {
                return Err(invalid(format!(
                    "a response of {len} bytes (at most {max_frame} accepted)"
                )));
            }
            let mut body = Vec::with_capacity(len.min(1 << 20));
            (&mut self.stream)
                .take(len as u64)
                .read_to_end(&mut body)
                .await?;
            if body.len() != len {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            Ok(body)
        };
        let body = tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time")
            })??;
        let mut body = Bytes::from(body);
        let rh = ResponseHeader::decode(&mut body, R::Response::header_version(version))
            .map_err(invalid)?;
        if rh.correlation_id != self.correlation {
            return Err(invalid("correlation id mismatch"));
        }
        let resp = R::Response::decode(&mut body, version).map_err(invalid)?;
        if body.has_remaining() {
            tracing::debug!(
                left = body.remaining(),
                api = R::KEY,
                "trailing bytes after a response"
            );
        }
        Ok(resp)
    }
}
