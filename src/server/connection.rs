//! One client connection: framing, limits, in-order processing and replies.
//!
//! The reader reads `int32 length + frame`, checking the length against
//! `network.max_request_bytes` before reserving a buffer (negative or oversized lengths
//! close the connection). Requests of one connection are processed strictly one after
//! another, in arrival order, as Kafka does: the idempotent producer pipelines up to 5
//! Produce requests and relies on them being appended in the order sent (sequence numbers),
//! and kcat relies on it for record order. Encoded replies go through a bounded channel to a
//! writer task, so the next request is processed while the previous reply is being written,
//! and pipelined replies share a syscall (the writer flushes whenever its queue runs dry).
//! Concurrency comes from connections: each is its own task.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::broker::Broker;
use crate::handlers::{self, Reply, RequestContext};
use crate::protocol::codec::{self, DecodedRequest, RequestHeaderInfo};

/// Serves one connection until the client closes it, a framing error, or shutdown.
pub async fn serve(
    broker: Arc<Broker>,
    socket: TcpStream,
    peer: SocketAddr,
    shutdown: CancellationToken,
) {
    let _ = socket.set_nodelay(true);
    broker.metrics.connections.inc();
    let (read_half, write_half) = socket.into_split();
    let (tx, rx) = mpsc::channel::<Vec<Bytes>>(broker.config.network.max_in_flight_per_connection);
    let writer = tokio::spawn(write_replies(write_half, rx, broker.clone()));
    if let Err(reason) = read_requests(&broker, read_half, peer, tx, &shutdown).await {
        broker.metrics.protocol_errors.inc();
        tracing::warn!(%peer, %reason, "closing connection");
    }
    // The reader dropped its sender: the writer drains what is queued, then exits.
    let _ = writer.await;
    broker.metrics.connections.dec();
}

async fn read_requests(
    broker: &Arc<Broker>,
    mut read_half: tokio::net::tcp::OwnedReadHalf,
    peer: SocketAddr,
    tx: mpsc::Sender<Vec<Bytes>>,
    shutdown: &CancellationToken,
) -> Result<(), String> {
    let max = broker.config.network.max_request_bytes;
    let idle = Duration::from_millis(broker.config.network.idle_timeout_ms);
    loop {
        let mut len_buf = [0u8; 4];
        let read = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            r = tokio::time::timeout(idle, read_half.read_exact(&mut len_buf)) => r,
        };
        match read {
            Err(_) => return Ok(()), // idle timeout
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(format!("read error: {e}")),
            Ok(Ok(_)) => {}
        }
        let len = i32::from_be_bytes(len_buf);
        if len < 0 || len as usize > max {
            return Err(format!(
                "frame length {len} outside [0, {max}] (network.max_request_bytes)"
            ));
        }
        let mut frame = BytesMut::zeroed(len as usize);
        read_half
            .read_exact(&mut frame)
            .await
            .map_err(|e| format!("truncated frame of {len} bytes: {e}"))?;
        broker.metrics.bytes_in.inc_by(4 + len as u64);

        let (header, request) = codec::decode_request(frame.freeze()).map_err(|e| e.to_string())?;
        let span = tracing::debug_span!(
            "request",
            api = ?header.api_key,
            version = header.api_version,
            correlation_id = header.correlation_id,
            client_id = %header.client_id,
        );
        let reply = process(broker, &header, request, peer)
            .instrument(span)
            .await?;
        if let Some(bytes) = reply {
            if tx.send(bytes).await.is_err() {
                return Ok(()); // writer gone: the socket is closed
            }
        }
    }
}

/// Runs one request and encodes its reply as chunks to write in order; `None` when no reply
/// is sent (acks=0).
async fn process(
    broker: &Arc<Broker>,
    header: &RequestHeaderInfo,
    request: DecodedRequest,
    peer: SocketAddr,
) -> Result<Option<Vec<Bytes>>, String> {
    let started = Instant::now();
    let api = handlers::api_name(header.api_key);
    let reply = match request {
        DecodedRequest::ApiVersionsTooNew => {
            let mut out = BytesMut::new();
            codec::encode_api_versions_too_new(&mut out, header.correlation_id);
            broker
                .metrics
                .requests
                .with_label_values(&[api, "35"])
                .inc();
            Some(vec![out.freeze()])
        }
        DecodedRequest::Request(req) => {
            let ctx = RequestContext {
                api_key: header.api_key,
                api_version: header.api_version,
                correlation_id: header.correlation_id,
                client_id: header.client_id.clone(),
                client_host: peer.ip(),
            };
            match handlers::dispatch(broker, &ctx, *req).await {
                Reply::Silent => None,
                Reply::Close(reason) => return Err(reason),
                Reply::Respond(resp) => {
                    let code = handlers::top_level_error(&resp);
                    broker
                        .metrics
                        .requests
                        .with_label_values(&[api, error_label(code)])
                        .inc();
                    let chunks = codec::encode_response_chunks(
                        header.api_key,
                        header.api_version,
                        header.correlation_id,
                        &resp,
                    )
                    // Encoding failures are bugs; closing beats a reply the client waits
                    // on forever.
                    .map_err(|e| format!("failed to encode {api} response: {e}"))?;
                    Some(chunks)
                }
            }
        }
    };
    broker
        .metrics
        .request_seconds
        .with_label_values(&[api])
        .observe(started.elapsed().as_secs_f64());
    Ok(reply)
}

/// Writes replies in order; flushes whenever no further reply is queued, so pipelined
/// replies share a syscall without delaying a finished one. Chunks at least as large as the
/// write buffer (spliced record batches) go to the socket without another copy.
async fn write_replies(
    write_half: tokio::net::tcp::OwnedWriteHalf,
    mut rx: mpsc::Receiver<Vec<Bytes>>,
    broker: Arc<Broker>,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, write_half);
    loop {
        let bytes = match rx.try_recv() {
            Ok(b) => b,
            Err(mpsc::error::TryRecvError::Disconnected) => break,
            Err(mpsc::error::TryRecvError::Empty) => {
                if w.flush().await.is_err() {
                    return;
                }
                match rx.recv().await {
                    Some(b) => b,
                    None => break,
                }
            }
        };
        for chunk in bytes {
            broker.metrics.bytes_out.inc_by(chunk.len() as u64);
            if w.write_all(&chunk).await.is_err() {
                return;
            }
        }
    }
    let _ = w.flush().await;
    let _ = w.shutdown().await;
}

/// A static label for an error code, so label values stay a closed set.
fn error_label(code: i16) -> &'static str {
    match code {
        0 => "0",
        1 => "1",
        2 => "2",
        3 => "3",
        6 => "6",
        7 => "7",
        10 => "10",
        14 => "14",
        15 => "15",
        16 => "16",
        17 => "17",
        22 => "22",
        25 => "25",
        27 => "27",
        35 => "35",
        36 => "36",
        37 => "37",
        38 => "38",
        40 => "40",
        42 => "42",
        45 => "45",
        56 => "56",
        68 => "68",
        69 => "69",
        79 => "79",
        _ => "other",
    }
}
