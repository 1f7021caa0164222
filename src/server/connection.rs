//! One client connection: framing, limits, timeouts, backpressure, in-order replies.
//!
//! The connection is generic over its transport ([`ReplySink`] for the write half, any
//! `AsyncRead` for the read half): plain TCP, or a TLS stream whose handshake `server` has
//! completed. Who the client is ([`Peer`]) is known when the connection starts: the listener
//! it came in on and its principal (`User:ANONYMOUS`, or the subject of an mTLS client
//! certificate); every request's [`RequestContext`] carries both.
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
//!
//! Authentication: every request first passes the connection's [`SaslSession`]
//! (`sasl_session.rs`), which answers the SASL exchange itself, closes the connection on a
//! request before authentication on a SASL listener, and gives the principal of the
//! request's context. After a SaslHandshake v0 the next frames are raw SASL tokens, handed
//! to the session instead of the request decoder.
//!
//! Memory: every reply holds the bytes it keeps in memory against the broker-wide
//! [`ReplyMemory`] account until the writer has handed it to the socket. A Fetch's record
//! batches are not among them: they stay in their segment files and go out with `sendfile`
//! (`send_file.rs`) on plain TCP, or are read from the file in bounded chunks and encrypted on
//! TLS, so a fetch holds only its response framing, however large. The reader
//! does not read the next request while the connection's unsent reply bytes (records
//! included) reach `network.max_unsent_bytes_per_connection`, so a client that never reads
//! holds at most that plus one response, and its further requests stay in the kernel's
//! socket buffer.
//!
//! Time: idleness (`network.idle_timeout_ms`) is measured from the last byte read or written
//! in either direction; both tasks share that clock ([`Link`]). The reader applies it while
//! waiting for a frame to start, the writer while a write makes no progress. Once the first
//! byte of a frame's length has arrived, the whole frame must arrive within
//! `network.frame_timeout_ms`. Either timeout closes the connection at once, without
//! draining queued replies.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use super::reply_memory::{Held, ReplyMemory};
use super::sasl_session::{Admit, SaslSession};
use super::send_file;
use super::warn_limit::WarnLimit;
use crate::broker::Broker;
use crate::config::ListenerConfig;
use crate::handlers::{self, Reply, RequestContext};
use crate::log::FileSlice;
use crate::protocol::codec::{self, DecodedRequest, RequestHeaderInfo};
use crate::protocol::splice::Chunk;
use crate::security::Principal;
use crate::warn_limited;

/// How long queued replies may take to drain once the broker shuts down.
const SHUTDOWN_DRAIN: Duration = Duration::from_secs(5);

/// Warnings about closed connections: at most 20 per 10 s, broker-wide.
static CLOSE_WARNINGS: WarnLimit = WarnLimit::new(20, Duration::from_secs(10));

/// Why the reader stopped.
enum Closing {
    /// Framing, decoding or a handler's `Reply::Close`: queued replies are still written.
    Protocol(String),
    /// No activity for `idle_timeout_ms`.
    Idle,
    /// A frame started but did not complete within `frame_timeout_ms`.
    FrameTimeout(String),
    /// SASL: a failed or expired authentication, or a request before authentication
    /// (`sasl_session` logged it); queued replies are still written.
    Auth(String),
}

/// An encoded reply: its chunks, its length (counted as unsent until written), and the bytes
/// it keeps in memory until written (record batches still in their segment files cost none).
struct Outgoing {
    chunks: Vec<Chunk>,
    len: usize,
    /// The reply's bytes in memory, returned when it is dropped (written or abandoned).
    _held: Held,
}

impl Outgoing {
    /// A reply held entirely in memory.
    fn in_memory(bytes: Bytes, held: Held) -> Outgoing {
        Outgoing {
            len: bytes.len(),
            chunks: vec![Chunk::Bytes(bytes)],
            _held: held,
        }
    }
}

/// The write half of a connection's transport: bytes, and record batches from their segment
/// files.
pub trait ReplySink: AsyncWrite + Unpin + Send + Sized + 'static {
    /// Writes some of `slice` from byte `from` on, after the bytes `w` buffers; returns how
    /// many bytes of the slice went out (at least one). `scratch` is the connection's reusable
    /// copy buffer, for a transport that must read the bytes to send them.
    fn write_file(
        w: &mut BufWriter<Self>,
        slice: &FileSlice,
        from: usize,
        scratch: &mut Vec<u8>,
    ) -> impl Future<Output = io::Result<usize>> + Send;
}

/// Plain TCP: what is buffered goes first, then the batches leave the page cache with
/// `sendfile`.
impl ReplySink for tokio::net::tcp::OwnedWriteHalf {
    async fn write_file(
        w: &mut BufWriter<Self>,
        slice: &FileSlice,
        from: usize,
        scratch: &mut Vec<u8>,
    ) -> io::Result<usize> {
        if !w.buffer().is_empty() {
            w.flush().await?;
        }
        let stream: &TcpStream = w.get_ref().as_ref();
        send_file::send(stream, slice, from, scratch).await
    }
}

/// TLS: the batches must be encrypted, so they are read (`pread`, [`send_file::COPY_CHUNK`]
/// at a time) and written through the TLS stream like any other bytes.
impl<S> ReplySink for tokio::io::WriteHalf<S>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    async fn write_file(
        w: &mut BufWriter<Self>,
        slice: &FileSlice,
        from: usize,
        scratch: &mut Vec<u8>,
    ) -> io::Result<usize> {
        let chunk = send_file::read_chunk(slice, from, scratch)?;
        w.write_all(chunk).await?;
        Ok(chunk.len())
    }
}

/// Who is at the other end of a connection, known once its transport is established.
pub struct Peer {
    pub addr: SocketAddr,
    /// The listener the connection came in on.
    pub listener: Arc<ListenerConfig>,
    /// `User:ANONYMOUS`, or the subject of a verified mTLS client certificate. This is the
    /// principal of every request until a SASL login replaces it.
    pub principal: Principal,
}

/// State the reader and the writer of one connection share.
struct Link {
    started: Instant,
    /// Milliseconds after `started` of the last byte read or written.
    last_activity_ms: AtomicU64,
    /// Bytes of replies handed to the writer and not yet written.
    unsent: AtomicUsize,
    /// The writer finished a reply (one waiter: the reader).
    progress: Notify,
    /// Either side closes the connection now (timeouts; the writer's socket failed).
    closed: CancellationToken,
    idle: Duration,
}

impl Link {
    fn touch(&self) {
        let ms = self.started.elapsed().as_millis() as u64;
        self.last_activity_ms.fetch_max(ms, Ordering::AcqRel);
    }

    fn idle_deadline(&self) -> Instant {
        self.started
            + Duration::from_millis(self.last_activity_ms.load(Ordering::Acquire))
            + self.idle
    }

    /// Runs `io` to completion; `None` if it fails, if the connection idles out meanwhile
    /// (no activity on either side for the idle timeout), or if it is closed.
    async fn guard<T>(&self, io: impl Future<Output = std::io::Result<T>>) -> Option<T> {
        tokio::pin!(io);
        loop {
            let deadline = self.idle_deadline();
            tokio::select! {
                biased;
                r = &mut io => return r.ok(),
                _ = self.closed.cancelled() => return None,
                _ = tokio::time::sleep_until(deadline) => {
                    if self.idle_deadline() <= Instant::now() {
                        return None;
                    }
                }
            }
        }
    }
}

/// Serves one connection until the client closes it, a framing error, a timeout, or
/// shutdown.
pub async fn serve<R, W>(
    broker: Arc<Broker>,
    replies: Arc<ReplyMemory>,
    (read_half, write_half): (R, W),
    client: Peer,
    shutdown: CancellationToken,
) where
    R: AsyncRead + Unpin + Send,
    W: ReplySink,
{
    let peer = client.addr;
    let connection_id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
    broker.metrics.connections.inc();
    let net = &broker.config.network;
    let link = Arc::new(Link {
        started: Instant::now(),
        last_activity_ms: AtomicU64::new(0),
        unsent: AtomicUsize::new(0),
        progress: Notify::new(),
        closed: CancellationToken::new(),
        idle: Duration::from_millis(net.idle_timeout_ms),
    });
    let (tx, rx) = mpsc::channel::<Outgoing>(net.max_in_flight_per_connection);
    let writer = tokio::spawn(write_replies(write_half, rx, broker.clone(), link.clone()));
    let mut reader = Reader {
        broker: &broker,
        replies: &replies,
        link: &link,
        peer,
        shutdown: &shutdown,
        sasl: SaslSession::new(
            &client.listener,
            Arc::new(client.principal),
            peer,
            net.connections_max_reauth_ms,
        ),
        listener: client.listener.name.as_str().into(),
        connection_id,
    };
    match reader.run(read_half, tx).await {
        Ok(()) => {}
        Err(Closing::Protocol(reason)) => {
            broker.metrics.protocol_errors.inc();
            warn_limited!(CLOSE_WARNINGS, %peer, %reason, "closing connection");
        }
        Err(Closing::Auth(reason)) => {
            tracing::debug!(%peer, %reason, "closing connection");
        }
        Err(Closing::Idle) => {
            broker
                .metrics
                .connections_timed_out
                .with_label_values(&["idle"])
                .inc();
            tracing::debug!(%peer, "closing idle connection");
            link.closed.cancel();
        }
        Err(Closing::FrameTimeout(reason)) => {
            broker
                .metrics
                .connections_timed_out
                .with_label_values(&["frame"])
                .inc();
            warn_limited!(CLOSE_WARNINGS, %peer, %reason, "closing connection: frame timeout");
            link.closed.cancel();
        }
    }
    // The reader dropped its sender: the writer drains what is queued (unless the
    // connection was closed by a timeout), then exits. At shutdown a client that does not
    // read gets SHUTDOWN_DRAIN to take its replies, not the whole idle timeout.
    let mut writer = writer;
    tokio::select! {
        _ = &mut writer => {}
        _ = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_DRAIN).await;
        } => {
            link.closed.cancel();
            let _ = writer.await;
        }
    }
    // Share sessions die with their connection: their members' acquired records are released
    // at once rather than when their locks expire (Kafka's ConnectionDisconnectListener).
    if broker.shares.session_count() > 0 {
        let b = broker.clone();
        let _ =
            tokio::task::spawn_blocking(move || b.shares.connection_closed(connection_id)).await;
    }
    broker.metrics.connections.dec();
}

/// Connection ids, unique in the process.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

struct Reader<'a> {
    broker: &'a Arc<Broker>,
    replies: &'a Arc<ReplyMemory>,
    link: &'a Arc<Link>,
    peer: SocketAddr,
    shutdown: &'a CancellationToken,
    /// SASL authentication state and the connection's principal.
    sasl: SaslSession,
    listener: Arc<str>,
    /// This connection's id (share sessions are bound to it).
    connection_id: u64,
}

impl Reader<'_> {
    async fn run(
        &mut self,
        mut read_half: impl AsyncRead + Unpin,
        tx: mpsc::Sender<Outgoing>,
    ) -> Result<(), Closing> {
        let net = &self.broker.config.network;
        let frame_timeout = Duration::from_millis(net.frame_timeout_ms);
        loop {
            // Backpressure: while this connection's replies are unsent, leave its next
            // request in the socket buffer.
            while self.link.unsent.load(Ordering::Acquire) >= net.max_unsent_bytes_per_connection {
                tokio::select! {
                    _ = self.shutdown.cancelled() => return Ok(()),
                    _ = self.link.closed.cancelled() => return Ok(()),
                    _ = self.link.progress.notified() => {}
                }
            }
            let Some(frame) = self.read_frame(&mut read_half, frame_timeout).await? else {
                return Ok(());
            };
            if self.sasl.expects_raw_token() {
                // SaslHandshake v0 framing: a bare token, answered with a bare token.
                let out = self
                    .sasl
                    .raw_token(self.broker, frame.freeze(), std::time::Instant::now())
                    .await
                    .map_err(Closing::Auth)?;
                let held = self.replies.hold(out.len());
                let out = Outgoing::in_memory(out, held);
                self.link.unsent.fetch_add(out.len, Ordering::AcqRel);
                if tx.send(out).await.is_err() {
                    return Ok(());
                }
                continue;
            }
            let (header, request) = codec::decode_request(frame.freeze())
                .map_err(|e| Closing::Protocol(e.to_string()))?;
            let span = tracing::debug_span!(
                "request",
                api = ?header.api_key,
                version = header.api_version,
                correlation_id = header.correlation_id,
                client_id = %header.client_id,
            );
            let reply = self.process(&header, request).instrument(span).await?;
            if let Some(out) = reply {
                self.link.unsent.fetch_add(out.len, Ordering::AcqRel);
                if tx.send(out).await.is_err() {
                    return Ok(()); // writer gone: the socket is closed
                }
            }
            if let Some(reason) = self.sasl.take_close() {
                return Err(Closing::Auth(reason));
            }
        }
    }

    /// Reads one frame. `Ok(None)`: the client closed between frames, or shutdown.
    async fn read_frame(
        &self,
        read_half: &mut (impl AsyncRead + Unpin),
        frame_timeout: Duration,
    ) -> Result<Option<BytesMut>, Closing> {
        let max = self
            .sasl
            .frame_limit(self.broker.config.network.max_request_bytes);
        let mut len_buf = [0u8; 4];
        // Between frames: only the idle timeout applies.
        let first = loop {
            let deadline = self.link.idle_deadline();
            tokio::select! {
                _ = self.shutdown.cancelled() => return Ok(None),
                _ = self.link.closed.cancelled() => return Ok(None),
                r = read_half.read(&mut len_buf) => break r,
                _ = tokio::time::sleep_until(deadline) => {
                    if self.link.idle_deadline() <= Instant::now() {
                        return Err(Closing::Idle);
                    }
                }
            }
        };
        let mut have = match first {
            Ok(0) => return Ok(None),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return Ok(None),
            Err(e) => return Err(Closing::Protocol(format!("read error: {e}"))),
        };
        self.link.touch();
        // The frame has started: all of it must arrive by the frame deadline.
        let deadline = Instant::now() + frame_timeout;
        let stalled = |got: usize, want: usize| {
            Closing::FrameTimeout(format!(
                "{got} of {want} bytes of a frame within {} ms (network.frame_timeout_ms)",
                frame_timeout.as_millis()
            ))
        };
        while have < 4 {
            match tokio::time::timeout_at(deadline, read_half.read(&mut len_buf[have..])).await {
                Err(_) => return Err(stalled(have, 4)),
                Ok(Ok(0)) => return Err(Closing::Protocol("truncated frame length".into())),
                Ok(Ok(n)) => have += n,
                Ok(Err(e)) => return Err(Closing::Protocol(format!("read error: {e}"))),
            }
        }
        let len = i32::from_be_bytes(len_buf);
        if len < 0 || len as usize > max {
            return Err(Closing::Protocol(format!(
                "frame length {len} outside [0, {max}] (network.max_request_bytes, {} before SASL authentication)",
                super::sasl_session::MAX_UNAUTHENTICATED_FRAME
            )));
        }
        let len = len as usize;
        let mut frame = BytesMut::zeroed(len);
        let mut got = 0;
        while got < len {
            let read = tokio::select! {
                _ = self.link.closed.cancelled() => return Ok(None),
                r = tokio::time::timeout_at(deadline, read_half.read(&mut frame[got..])) => r,
            };
            match read {
                Err(_) => return Err(stalled(4 + got, 4 + len)),
                Ok(Ok(0)) => {
                    return Err(Closing::Protocol(format!(
                        "truncated frame: {got} of {len} bytes"
                    )))
                }
                Ok(Ok(n)) => {
                    got += n;
                    self.link.touch();
                }
                Ok(Err(e)) => return Err(Closing::Protocol(format!("read error: {e}"))),
            }
        }
        self.broker.metrics.bytes_in.inc_by(4 + len as u64);
        Ok(Some(frame))
    }

    /// Runs one request and encodes its reply; `None` when no reply is sent (acks=0).
    async fn process(
        &mut self,
        header: &RequestHeaderInfo,
        request: DecodedRequest,
    ) -> Result<Option<Outgoing>, Closing> {
        let broker = self.broker;
        let started = std::time::Instant::now();
        let api = handlers::api_name(header.api_key);
        let reply = match request {
            DecodedRequest::ApiVersionsTooNew => {
                let mut out = BytesMut::new();
                codec::encode_api_versions_too_new(&mut out, header.correlation_id);
                broker
                    .metrics
                    .requests
                    .with_label_values(&[
                        api,
                        crate::kafka_error::label(
                            crate::kafka_error::KafkaError::UnsupportedVersion.code(),
                        ),
                    ])
                    .inc();
                let held = self.replies.hold(out.len());
                Some(Outgoing::in_memory(out.freeze(), held))
            }
            DecodedRequest::Request(req) => {
                let ctx = RequestContext {
                    api_key: header.api_key,
                    api_version: header.api_version,
                    correlation_id: header.correlation_id,
                    client_id: header.client_id.clone(),
                    client_host: self.peer.ip(),
                    principal: self.sasl.principal(),
                    listener: self.listener.clone(),
                    connection_id: self.connection_id,
                };
                let now = std::time::Instant::now();
                let reply = match self.sasl.admit(broker, &ctx, *req, now).await {
                    Admit::Dispatch(req) => handlers::dispatch(broker, &ctx, *req).await,
                    Admit::Reply(reply) => reply,
                    Admit::Close(reason) => return Err(Closing::Auth(reason)),
                };
                let (code, encoded) = match reply {
                    Reply::Silent => (None, None),
                    Reply::Close(reason) => return Err(Closing::Protocol(reason)),
                    Reply::Respond(resp) => {
                        let mut out = BytesMut::new();
                        let r = codec::encode_response(
                            &mut out,
                            header.api_key,
                            header.api_version,
                            header.correlation_id,
                            &resp,
                        );
                        let code = handlers::top_level_error(&resp);
                        (
                            Some(code),
                            Some(r.map(|()| vec![Chunk::Bytes(out.freeze())])),
                        )
                    }
                    Reply::Fetch(reply) => {
                        let chunks = codec::encode_fetch_response(
                            header.api_version,
                            header.correlation_id,
                            &reply.response,
                            reply.files,
                        );
                        (Some(reply.response.error_code), Some(chunks))
                    }
                    Reply::ShareFetch(reply) => {
                        let chunks = codec::encode_share_fetch_response(
                            header.api_version,
                            header.correlation_id,
                            &reply.response,
                            reply.files,
                        );
                        (Some(reply.response.error_code), Some(chunks))
                    }
                };
                if let Some(code) = code {
                    broker
                        .metrics
                        .requests
                        .with_label_values(&[api, crate::kafka_error::label(code)])
                        .inc();
                }
                match encoded {
                    None => None,
                    // Encoding failures are bugs; closing beats a reply the client waits on
                    // forever.
                    Some(Err(e)) => {
                        return Err(Closing::Protocol(format!(
                            "failed to encode {api} response: {e}"
                        )))
                    }
                    Some(Ok(chunks)) => {
                        let len = chunks.iter().map(Chunk::len).sum();
                        let in_memory = chunks
                            .iter()
                            .filter_map(|c| match c {
                                Chunk::Bytes(b) => Some(b.len()),
                                Chunk::File(_) => None,
                            })
                            .sum();
                        Some(Outgoing {
                            chunks,
                            len,
                            _held: self.replies.hold(in_memory),
                        })
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
}

/// Writes replies in order; flushes whenever no further reply is queued, so pipelined
/// replies share a syscall without delaying a finished one. Record batches go from their
/// segment file to the socket after what is buffered ([`ReplySink::write_file`]). Each
/// reply's bytes in memory are returned once it is handed to the socket (or buffered).
async fn write_replies<W: ReplySink>(
    write_half: W,
    mut rx: mpsc::Receiver<Outgoing>,
    broker: Arc<Broker>,
    link: Arc<Link>,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, write_half);
    let mut scratch = Vec::new();
    let completed = 'write: loop {
        let out = match rx.try_recv() {
            Ok(o) => o,
            Err(mpsc::error::TryRecvError::Disconnected) => break true,
            Err(mpsc::error::TryRecvError::Empty) => {
                if link.guard(w.flush()).await.is_none() {
                    break false;
                }
                link.touch();
                match rx.recv().await {
                    Some(o) => o,
                    None => break true,
                }
            }
        };
        for chunk in &out.chunks {
            broker.metrics.bytes_out.inc_by(chunk.len() as u64);
            match chunk {
                Chunk::Bytes(bytes) => {
                    let mut off = 0;
                    while off < bytes.len() {
                        match link.guard(w.write(&bytes[off..])).await {
                            Some(n) if n > 0 => off += n,
                            _ => break 'write false,
                        }
                        link.touch();
                    }
                }
                Chunk::File(slice) => {
                    let mut off = 0;
                    while off < slice.len() {
                        match link
                            .guard(W::write_file(&mut w, slice, off, &mut scratch))
                            .await
                        {
                            Some(n) => off += n,
                            None => {
                                tracing::debug!(?slice, "sending fetched records failed");
                                break 'write false;
                            }
                        }
                        link.touch();
                    }
                }
            }
        }
        link.unsent.fetch_sub(out.len, Ordering::AcqRel);
        drop(out);
        link.progress.notify_one();
    };
    if completed {
        if link.guard(w.flush()).await.is_some() {
            let _ = link.guard(w.shutdown()).await;
        }
    } else if !link.closed.is_cancelled() {
        // The socket failed or stayed idle with a reply unsent: close both directions.
        if link.idle_deadline() <= Instant::now() {
            broker
                .metrics
                .connections_timed_out
                .with_label_values(&["idle"])
                .inc();
        }
        link.closed.cancel();
    }
    // Replies still queued return their bytes in memory as the channel drops.
    rx.close();
    while let Ok(out) = rx.try_recv() {
        link.unsent.fetch_sub(out.len, Ordering::AcqRel);
    }
    link.closed.cancel();
}
