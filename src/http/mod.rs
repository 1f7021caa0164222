//! The HTTP listener: `/metrics`, `/healthz`, `/readyz`, the web console at `/` and its JSON
//! API under `/api/`.
//!
//! axum routes ([`routes`]) on hyper's HTTP/1.1 server, driven connection by connection
//! from our own accept loop so that each connection first gets a slot ([`slots`]: at most
//! [`MAX_CONNECTIONS`] plus a reserve for health probes; a connection that has not sent its
//! request is closed to make room for a new one, so idle connections cannot lock out
//! `/healthz` and `/readyz`) and, with `http.tls`, a TLS handshake (`server::tls::https_config`). Bounds: request
//! heads ≤ [`MAX_HEAD_BYTES`] (431) with at most [`MAX_HEADERS`] header lines, bodies ≤
//! [`MAX_BODY_BYTES`] (413), [`IO_TIMEOUT`] for the TLS handshake and for the request head,
//! [`CONNECTION_DEADLINE`] for the whole exchange. One request per connection
//! (`Connection: close`), as the slots count connections, not requests.
//!
//! The console and its API answer only `Host` headers that name this broker ([`host`]:
//! DNS-rebinding protection; 403), and only with the configured credentials ([`auth`]:
//! bearer token or Basic auth; 401). `/metrics`, `/healthz` and `/readyz` are open. Without
//! a credential the console is served only on a loopback address: [`start`] refuses
//! otherwise (as `Config::validate` does before it).
//!
//! Lifecycle: [`start`] binds before the broker recovers, so `/healthz` (process up) and
//! `/readyz` (503 until ready) answer during recovery; [`HttpHandle::set_broker`] attaches
//! the recovered broker, installs the scrape-time state metrics, and enables the API.
//! `/readyz` turns 200 once `Broker::is_ready()` — logs recovered, store open, Kafka
//! listener bound. [`HttpHandle::reload`] re-reads the credential files and the TLS
//! certificate and key (the SIGHUP hook); connections accepted afterwards use them.
//!
//! Writes (topic create/delete, offset resets) are refused with 403 unless
//! `console.allow_writes`; POSTs must carry `Content-Type: application/json`, which a
//! cross-site form cannot send without a CORS preflight this server never grants.
//!
//! Blocking work (log reads, RocksDB properties, metric collection) runs in
//! `spawn_blocking`; nothing here holds a lock across `.await` (the `RwLock` around the
//! credentials and TLS acceptor is held only to clone an `Arc`).

mod api;
mod auth;
mod host;
mod routes;
mod slots;
mod source;

pub mod records;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::broker::Broker;
use crate::config::Config;
use crate::telemetry::Metrics;

use auth::{Credentials, FailureLog};
use host::AllowedHosts;
use routes::Response;
use slots::{Admission, Slot, Slots};
pub use slots::{HEALTH_RESERVE, MAX_CONNECTIONS};

/// Largest request line plus headers accepted (hyper's smallest read buffer).
pub const MAX_HEAD_BYTES: usize = 8 * 1024;
/// Most header lines accepted.
pub const MAX_HEADERS: usize = 64;
/// Largest request body accepted (POST actions carry a few fields of JSON).
pub const MAX_BODY_BYTES: usize = 64 * 1024;
/// Bound for the TLS handshake and for reading a request head.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Bound for a whole connection: handshake, request, handling and response.
pub const CONNECTION_DEADLINE: Duration = Duration::from_secs(60);

/// Why the HTTP listener could not start (or reload).
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("binding the HTTP listener on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("HTTP credentials: {0}")]
    Credential(String),
    #[error("HTTP TLS: {0}")]
    Tls(#[from] crate::server::tls::TlsError),
    #[error(
        "the HTTP listener is bound to {addr}, which is not a loopback address, and the \
         console has no credential: set http.token (or http.token_file) or http.user and \
         http.password (or http.password_file), or console.enabled = false"
    )]
    OpenConsole { addr: SocketAddr },
}

/// The parts of the configuration that [`HttpHandle::reload`] replaces.
struct Security {
    credentials: Option<Arc<Credentials>>,
    /// Present when `http.tls`.
    tls: Option<TlsAcceptor>,
}

impl Security {
    fn load(cfg: &Config) -> Result<Security, HttpError> {
        Ok(Security {
            credentials: Credentials::load(&cfg.http)?.map(Arc::new),
            tls: if cfg.http.tls {
                Some(TlsAcceptor::from(crate::server::tls::https_config(
                    &cfg.tls,
                )?))
            } else {
                None
            },
        })
    }
}

/// State shared by every HTTP connection.
pub(crate) struct HttpState {
    pub(crate) metrics: Arc<Metrics>,
    pub(crate) console_enabled: bool,
    pub(crate) allow_writes: bool,
    pub(crate) per_partition_metrics: bool,
    /// `Host` values the console answers (DNS-rebinding protection).
    pub(crate) allowed_hosts: AllowedHosts,
    /// Set once by `set_broker`; read-only afterwards.
    pub(crate) broker: OnceLock<Arc<Broker>>,
    /// Credentials and TLS acceptor; replaced whole by `reload`. A `std` lock held only to
    /// clone or swap an `Arc`, never across `.await`.
    security: RwLock<Arc<Security>>,
    pub(crate) failure_log: FailureLog,
}

impl HttpState {
    fn security(&self) -> Arc<Security> {
        match self.security.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The console's credentials; `None` when none are configured.
    pub(crate) fn credentials(&self) -> Option<Arc<Credentials>> {
        self.security().credentials.clone()
    }
}

/// The peer address of a request (a request extension, for the failed-login log).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer(pub(crate) SocketAddr);

/// The running listener.
pub struct HttpHandle {
    local_addr: SocketAddr,
    state: Arc<HttpState>,
    /// Whether connections are TLS (fixed at start: `reload` swaps certificates, not modes).
    tls: bool,
}

impl HttpHandle {
    /// The bound address (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Attaches the recovered broker: the API starts answering, the state metric families
    /// are installed, and `/readyz` follows `broker.is_ready()`. Later calls are ignored.
    pub fn set_broker(&self, broker: Arc<Broker>) {
        if self.state.broker.set(broker.clone()).is_err() {
            tracing::warn!("http: set_broker called twice; keeping the first broker");
            return;
        }
        let src = Arc::new(source::BrokerState(broker));
        if let Err(e) = self
            .state
            .metrics
            .install_state_source(src, self.state.per_partition_metrics)
        {
            tracing::error!(error = %e, "http: cannot install state metrics");
        }
    }

    /// Re-reads `[http]` credentials (and their files) and, when the listener serves TLS, the
    /// `[tls]` certificate and key; new connections use them. On error nothing changes.
    /// Turning TLS on or off, binding elsewhere or enabling the console need a restart, and
    /// dropping every credential on a non-loopback address is refused.
    pub fn reload(&self, cfg: &Config) -> Result<(), HttpError> {
        let next = Security::load(&Config {
            http: crate::config::HttpConfig {
                tls: self.tls,
                ..cfg.http.clone()
            },
            ..cfg.clone()
        })?;
        if next.credentials.is_none()
            && self.state.console_enabled
            && !self.local_addr.ip().is_loopback()
        {
            return Err(HttpError::OpenConsole {
                addr: self.local_addr,
            });
        }
        let next = Arc::new(next);
        match self.state.security.write() {
            Ok(mut g) => *g = next,
            Err(poisoned) => *poisoned.into_inner() = next,
        }
        tracing::info!("http: credentials and certificate reloaded");
        Ok(())
    }
}

/// Binds the HTTP listener on `cfg.http_listen` and serves until `shutdown`. `Ok(None)` when
/// the listener is disabled (empty address).
pub async fn start(
    cfg: &Config,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> Result<Option<HttpHandle>, HttpError> {
    if cfg.http_listen.is_empty() {
        return Ok(None);
    }
    let security = Security::load(cfg)?;
    let bind_error = |source| HttpError::Bind {
        addr: cfg.http_listen.clone(),
        source,
    };
    let listener = TcpListener::bind(&cfg.http_listen)
        .await
        .map_err(bind_error)?;
    let local_addr = listener.local_addr().map_err(bind_error)?;
    // The name in http_listen may resolve anywhere: judge the address actually bound.
    if cfg.console.enabled && security.credentials.is_none() && !local_addr.ip().is_loopback() {
        return Err(HttpError::OpenConsole { addr: local_addr });
    }
    let scheme = if security.tls.is_some() {
        "https"
    } else {
        "http"
    };
    tracing::info!(
        addr = %local_addr,
        console = cfg.console.enabled,
        auth = security.credentials.is_some(),
        tls = security.tls.is_some(),
        "http listening on {local_addr} ({scheme})"
    );
    let tls = security.tls.is_some();
    let state = Arc::new(HttpState {
        metrics,
        console_enabled: cfg.console.enabled,
        allow_writes: cfg.console.allow_writes,
        per_partition_metrics: cfg.telemetry.per_partition_metrics,
        allowed_hosts: AllowedHosts::from_config(cfg),
        broker: OnceLock::new(),
        security: RwLock::new(Arc::new(security)),
        failure_log: FailureLog::default(),
    });
    tokio::spawn(accept_loop(listener, state.clone(), shutdown));
    Ok(Some(HttpHandle {
        local_addr,
        state,
        tls,
    }))
}

async fn accept_loop(listener: TcpListener, state: Arc<HttpState>, shutdown: CancellationToken) {
    let slots = Arc::new(Slots::default());
    let router = routes::router(state.clone());
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "http accept");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let slot = match slots.admit() {
            Admission::Admitted { slot, evicted } => {
                if evicted {
                    state.metrics.http_connections_evicted.inc();
                }
                slot
            }
            Admission::Refused => {
                drop(stream);
                continue;
            }
        };
        let tls = state.security().tls.clone();
        let router = router.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let served = tokio::select! {
                _ = shutdown.cancelled() => Ok(()),
                r = tokio::time::timeout(
                    CONNECTION_DEADLINE,
                    serve_connection(stream, peer, tls, router, &slot),
                ) => r.unwrap_or_else(|_| Err("connection deadline".into())),
            };
            if let Err(e) = served {
                tracing::debug!(%peer, error = %e, "http connection");
            }
            drop(slot);
        });
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The TLS handshake (when configured), then one request and its response. A connection
/// evicted before its request head arrived is closed without an answer.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    tls: Option<TlsAcceptor>,
    router: axum::Router,
    slot: &Slot,
) -> Result<(), BoxError> {
    match tls {
        None => serve_http(stream, peer, router, slot).await,
        Some(acceptor) => {
            let handshake = tokio::select! {
                _ = slot.evict.cancelled() => return Ok(()),
                h = tokio::time::timeout(IO_TIMEOUT, acceptor.accept(stream)) => h,
            };
            match handshake {
                Ok(Ok(tls_stream)) => serve_http(tls_stream, peer, router, slot).await,
                Ok(Err(e)) => Err(format!("TLS handshake: {e}").into()),
                Err(_) => Err("TLS handshake timed out".into()),
            }
        }
    }
}

async fn serve_http<S>(
    stream: S,
    peer: SocketAddr,
    router: axum::Router,
    slot: &Slot,
) -> Result<(), BoxError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let health_only = slot.health_only;
    let service = hyper::service::service_fn(|mut req: hyper::Request<hyper::body::Incoming>| {
        // The head is in: the connection is busy now, no longer evictable.
        slot.request_read();
        req.extensions_mut().insert(Peer(peer));
        let router = router.clone();
        async move {
            if health_only && !matches!(req.uri().path(), "/healthz" | "/readyz") {
                return Ok(axum::response::IntoResponse::into_response(Response::text(
                    503,
                    "busy: only /healthz and /readyz are served now\n",
                )));
            }
            router.oneshot(req.map(axum::body::Body::new)).await
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .keep_alive(false)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .timer(TokioTimer::new())
        .header_read_timeout(IO_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service);
    tokio::pin!(conn);
    tokio::select! {
        // Only cancelled while no request head has arrived.
        _ = slot.evict.cancelled() => Ok(()),
        r = conn.as_mut() => r.map_err(Into::into),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Sends raw bytes, reads until the server closes: the whole response as text.
    async fn exchange(addr: SocketAddr, raw: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    /// Status code and body of a response.
    fn split(text: &str) -> (u16, String) {
        let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
    }

    async fn get(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
        split(&exchange(addr, raw).await)
    }

    fn test_config() -> Config {
        Config {
            http_listen: "127.0.0.1:0".into(),
            ..Config::default()
        }
    }

    #[tokio::test]
    async fn disabled_when_address_is_empty() {
        let cfg = Config {
            http_listen: String::new(),
            ..Config::default()
        };
        let h = start(&cfg, Arc::new(Metrics::new()), CancellationToken::new())
            .await
            .unwrap();
        assert!(h.is_none());
    }

    #[tokio::test]
    async fn readyz_is_503_before_the_broker_is_attached() {
        let shutdown = CancellationToken::new();
        let metrics = Arc::new(Metrics::new());
        metrics.records_in.inc_by(7);
        let h = start(&test_config(), metrics, shutdown.clone())
            .await
            .unwrap()
            .unwrap();
        let addr = h.local_addr();
        assert_ne!(addr.port(), 0);
        let (status, body) = get(addr, b"GET /readyz HTTP/1.1\r\n\r\n").await;
        assert_eq!(status, 503, "{body}");
        assert!(body.contains("not ready"));
        let (status, _) = get(addr, b"GET /healthz HTTP/1.1\r\n\r\n").await;
        assert_eq!(status, 200);
        // Metrics are served during recovery too (event families only).
        let (status, body) = get(addr, b"GET /metrics HTTP/1.1\r\n\r\n").await;
        assert_eq!(status, 200);
        assert!(body.contains("runnel_records_in_total 7"), "{body}");
        assert!(!body.contains("runnel_partitions "), "{body}");
        // The API waits for the broker.
        let (status, body) = get(
            addr,
            b"GET /api/overview HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        )
        .await;
        assert_eq!(status, 503, "{body}");
        // The console page is served at once.
        let (status, body) = get(addr, b"GET / HTTP/1.1\r\nHost: localhost:9644\r\n\r\n").await;
        assert_eq!(status, 200);
        assert!(body.contains("<title>Runnel console</title>"));
        shutdown.cancel();
    }

    #[tokio::test]
    async fn bad_requests_get_status_codes() {
        let shutdown = CancellationToken::new();
        let h = start(&test_config(), Arc::new(Metrics::new()), shutdown.clone())
            .await
            .unwrap()
            .unwrap();
        let addr = h.local_addr();
        assert_eq!(get(addr, b"GET /nope HTTP/1.1\r\n\r\n").await.0, 404);
        assert_eq!(
            get(addr, b"PUT / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                .await
                .0,
            405
        );
        assert_eq!(get(addr, b"POST /metrics HTTP/1.1\r\n\r\n").await.0, 405);
        assert_eq!(get(addr, b"DELETE /metrics HTTP/1.1\r\n\r\n").await.0, 405);
        assert_eq!(get(addr, b"GARBAGE\r\n\r\n").await.0, 400);
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_HEAD_BYTES + 100, b'a');
        huge.extend_from_slice(b"\r\n\r\n");
        assert_eq!(get(addr, &huge).await.0, 431);
        let mut many = b"GET /healthz HTTP/1.1\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        many.extend_from_slice(b"\r\n");
        assert_eq!(get(addr, &many).await.0, 431);
        let head = exchange(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n").await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(
            head.ends_with("\r\n\r\n"),
            "a HEAD answer has no body: {head:?}"
        );
        // Security headers on every answer, the CSP on the page; one request per connection.
        let page = exchange(addr, b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await;
        for h in [
            "cache-control: no-store",
            "x-content-type-options: nosniff",
            "content-security-policy: default-src 'self'",
            "connection: close",
        ] {
            assert!(page.to_ascii_lowercase().contains(h), "{h} missing: {page}");
        }
        shutdown.cancel();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn bodies_are_bounded() {
        let (running, http, _dir) = live_broker(true).await;
        let big = format!(
            "POST /api/topics/create HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        // Refused on the head alone (the body is never sent, so no reset races the answer).
        assert_eq!(get(http, big.as_bytes()).await.0, 413);
        // Chunked bodies are read (bounded the same way).
        let chunked = b"POST /api/topics/create HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n10\r\n{\"name\":\"chunk\"}\r\n0\r\n\r\n";
        let (status, body) = get(http, chunked).await;
        assert_eq!(status, 201, "{body}");
        running.shutdown().await;
    }

    fn post(path: &str, json: &str) -> Vec<u8> {
        format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{json}",
            json.len()
        )
        .into_bytes()
    }

    fn req(path: &str) -> Vec<u8> {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").into_bytes()
    }

    /// A broker on port 0 with a temp data dir, topic `orders` (2 partitions) holding 10 and
    /// 3 records, and group `billing` (offsets only) committed at orders-0=4, orders-1=3.
    async fn live_broker(
        allow_writes: bool,
    ) -> (crate::runtime::Running, SocketAddr, tempfile::TempDir) {
        use crate::broker::now_ms;
        use crate::cluster::controller::NewTopic;
        use crate::group::{CommitRequest, CommittedOffset};
        use crate::protocol::records::testutil;
        use kafka_protocol::records::Compression;

        let dir = tempfile::tempdir().unwrap();
        let mut cfg = test_config();
        cfg.data_dir = dir.path().to_path_buf();
        cfg.listen = "127.0.0.1:0".into();
        cfg.console.allow_writes = allow_writes;
        let running = crate::runtime::start(cfg).await.unwrap();
        let http = running.http_addr.unwrap();
        let b = running.broker.clone();
        tokio::task::spawn_blocking(move || {
            let nt = NewTopic {
                name: "orders".into(),
                num_partitions: 2,
                replication_factor: -1,
                assignments: Vec::new(),
                configs: Default::default(),
            };
            b.controller.create_topic(&nt, false, now_ms()).unwrap();
            let batch = |n: i64, tag: &str| {
                let recs: Vec<_> = (0..n)
                    .map(|i| {
                        testutil::record(
                            i,
                            now_ms(),
                            Some(bytes::Bytes::from(format!("k{i}"))),
                            bytes::Bytes::from(format!("{tag} {i}")),
                        )
                    })
                    .collect();
                testutil::encode(&recs, Compression::None)
            };
            let p0 = b.logs.get("orders", 0).unwrap();
            p0.append(&batch(5, "a"), 0, now_ms()).unwrap();
            p0.append(&batch(5, "b"), 0, now_ms()).unwrap();
            let p1 = b.logs.get("orders", 1).unwrap();
            p1.append(&batch(3, "c"), 0, now_ms()).unwrap();
        })
        .await
        .unwrap();
        let offset = |o| CommittedOffset {
            offset: o,
            leader_epoch: -1,
            metadata: String::new(),
            commit_timestamp_ms: 0,
        };
        running
            .broker
            .groups
            .commit_offsets(CommitRequest {
                group_id: "billing".into(),
                member_id: String::new(),
                generation_id: -1,
                group_instance_id: None,
                offsets: vec![
                    ("orders".into(), 0, offset(4)),
                    ("orders".into(), 1, offset(3)),
                ],
            })
            .await
            .unwrap();
        (running, http, dir)
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn metrics_show_offsets_and_lag_of_a_live_broker() {
        let (running, http, _dir) = live_broker(false).await;
        let (status, _) = get(http, &req("/readyz")).await;
        assert_eq!(status, 200);
        let (status, m) = get(http, &req("/metrics")).await;
        assert_eq!(status, 200);
        for line in [
            "runnel_partition_log_end_offset{partition=\"0\",topic=\"orders\"} 10",
            "runnel_partition_log_end_offset{partition=\"1\",topic=\"orders\"} 3",
            "runnel_partition_log_start_offset{partition=\"0\",topic=\"orders\"} 0",
            "runnel_consumer_group_lag{group=\"billing\",partition=\"0\",topic=\"orders\"} 6",
            "runnel_consumer_group_lag{group=\"billing\",partition=\"1\",topic=\"orders\"} 0",
            "runnel_consumer_group_total_lag{group=\"billing\"} 6",
            "runnel_consumer_group_state{group=\"billing\",state=\"Empty\"} 1",
            "runnel_consumer_group_members{group=\"billing\"} 0",
            "runnel_partitions 2",
        ] {
            assert!(m.contains(line), "missing {line} in\n{m}");
        }
        assert!(m.contains("runnel_store_size_bytes "), "{m}");
        assert!(m.contains("runnel_partition_size_bytes{partition=\"0\",topic=\"orders\"} "));
        running.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn console_api_shapes_against_a_live_broker() {
        let (running, http, _dir) = live_broker(false).await;
        let json = |body: String| -> serde_json::Value { serde_json::from_str(&body).unwrap() };
        let (status, body) = get(http, &req("/api/overview")).await;
        assert_eq!(status, 200, "{body}");
        let o = json(body);
        assert_eq!(o["cluster_id"].as_str().unwrap().len(), 22);
        assert_eq!(o["brokers"][0]["node_id"], 0);
        assert_eq!(o["topics"], 1);
        assert_eq!(o["allow_writes"], false);

        let (_, body) = get(http, &req("/api/topics")).await;
        let t = json(body);
        assert_eq!(t[0]["name"], "orders");
        assert_eq!(t[0]["records"], 13);
        assert_eq!(t[0]["partitions"][0]["log_end_offset"], 10);
        // A delete-policy topic: the cleaner never looks at it.
        assert!(t[0]["partitions"][0]["cleaner"].is_null());
        assert!(t[0]["configs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["name"] == "retention.ms"));

        let (_, body) = get(http, &req("/api/groups")).await;
        let g = json(body);
        assert_eq!(g[0]["group_id"], "billing");
        assert_eq!(g[0]["state"], "Empty");
        assert_eq!(g[0]["total_lag"], 6);
        assert_eq!(g[0]["offsets"][0]["lag"], 6);
        assert_eq!(g[0]["offsets"][0]["committed"], 4);

        // From an offset in the middle of the first batch, across into the second.
        let (_, body) = get(
            http,
            &req("/api/records?topic=orders&partition=0&offset=3&limit=4"),
        )
        .await;
        let r = json(body);
        let offsets: Vec<i64> = r["records"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["offset"].as_i64().unwrap())
            .collect();
        assert_eq!(offsets, vec![3, 4, 5, 6]);
        assert_eq!(r["records"][0]["value"]["text"], "a 3");
        assert_eq!(r["records"][2]["value"]["text"], "b 0");
        assert_eq!(r["next_offset"], 7);
        // Tail by default; by timestamp from the start.
        let (_, body) = get(http, &req("/api/records?topic=orders&partition=1")).await;
        assert_eq!(json(body)["records"].as_array().unwrap().len(), 3);
        let (_, body) = get(
            http,
            &req("/api/records?topic=orders&partition=0&timestamp=0&limit=2"),
        )
        .await;
        let r = json(body);
        assert_eq!(r["start_offset"], 0);
        assert_eq!(r["records"].as_array().unwrap().len(), 2);
        let (status, _) = get(http, &req("/api/records?topic=nope")).await;
        assert_eq!(status, 404);

        // Writes are refused by default.
        let (status, _) = get(http, &post("/api/topics/create", r#"{"name":"x"}"#)).await;
        assert_eq!(status, 403);
        running.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn console_writes_when_enabled() {
        let (running, http, _dir) = live_broker(true).await;
        let (status, body) = get(
            http,
            &post("/api/topics/create", r#"{"name":"fresh","partitions":3}"#),
        )
        .await;
        assert_eq!(status, 201, "{body}");
        assert!(running.broker.metadata.topic("fresh").is_some());
        let (status, _) = get(http, &post("/api/topics/create", r#"{"name":"fresh"}"#)).await;
        assert_eq!(status, 409);
        // Without the JSON content type a POST is refused (cross-site forms cannot set it).
        let raw = b"POST /api/topics/delete HTTP/1.1\r\nHost: [::1]\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\n{\"name\":\"fresh\"}";
        assert_eq!(get(http, raw).await.0, 415);
        let (status, body) = get(http, &post("/api/topics/delete", r#"{"name":"fresh"}"#)).await;
        assert_eq!(status, 200, "{body}");
        assert!(running.broker.metadata.topic("fresh").is_none());

        let (status, body) = get(
            http,
            &post(
                "/api/groups/reset-offsets",
                r#"{"group":"billing","topic":"orders","to":"earliest"}"#,
            ),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        let (_, m) = get(http, &req("/metrics")).await;
        assert!(
            m.contains("runnel_consumer_group_total_lag{group=\"billing\"} 13"),
            "{m}"
        );
        let (status, _) = get(
            http,
            &post(
                "/api/groups/reset-offsets",
                r#"{"group":"billing","topic":"orders","partition":0,"to":8}"#,
            ),
        )
        .await;
        assert_eq!(status, 200);
        let (_, m) = get(http, &req("/metrics")).await;
        assert!(
            m.contains(
                "runnel_consumer_group_lag{group=\"billing\",partition=\"0\",topic=\"orders\"} 2"
            ),
            "{m}"
        );
        running.shutdown().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn readyz_follows_the_broker_ready_flag() {
        use std::sync::atomic::Ordering;
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = test_config();
        cfg.data_dir = dir.path().to_path_buf();
        let shutdown = CancellationToken::new();
        let metrics = Arc::new(Metrics::new());
        let h = start(&cfg, metrics.clone(), shutdown.clone())
            .await
            .unwrap()
            .unwrap();
        let addr = h.local_addr();
        assert_eq!(get(addr, &req("/readyz")).await.0, 503);
        let broker = tokio::task::spawn_blocking(move || Broker::open(cfg, metrics))
            .await
            .unwrap()
            .unwrap();
        h.set_broker(broker.clone());
        // Recovered, but the Kafka listener is not serving yet.
        let (status, body) = get(addr, &req("/readyz")).await;
        assert_eq!(status, 503, "{body}");
        broker.ready.store(true, Ordering::Release);
        assert_eq!(get(addr, &req("/readyz")).await.0, 200);
        // A second attach is ignored (and does not register the state metrics twice).
        h.set_broker(broker.clone());
        assert_eq!(get(addr, &req("/metrics")).await.0, 200);
        shutdown.cancel();
        tokio::task::spawn_blocking(move || broker.close())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn console_refuses_foreign_host_headers() {
        let shutdown = CancellationToken::new();
        let h = start(&test_config(), Arc::new(Metrics::new()), shutdown.clone())
            .await
            .unwrap()
            .unwrap();
        let addr = h.local_addr();
        // A rebinding page: its own name, resolving to us.
        let evil = b"GET / HTTP/1.1\r\nHost: evil.example:9644\r\n\r\n";
        assert_eq!(get(addr, evil).await.0, 403);
        let evil_api = b"GET /api/overview HTTP/1.1\r\nHost: evil.example\r\n\r\n";
        assert_eq!(get(addr, evil_api).await.0, 403);
        assert_eq!(get(addr, b"GET / HTTP/1.0\r\n\r\n").await.0, 403);
        // Probes and scrapes answer any name.
        let probe = b"GET /healthz HTTP/1.1\r\nHost: runnel-0.runnel.svc:9644\r\n\r\n";
        assert_eq!(get(addr, probe).await.0, 200);
        let scrape = b"GET /metrics HTTP/1.1\r\nHost: evil.example\r\n\r\n";
        assert_eq!(get(addr, scrape).await.0, 200);
        let ok = b"GET / HTTP/1.1\r\nHost: 127.0.0.1:9644\r\n\r\n";
        assert_eq!(get(addr, ok).await.0, 200);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn console_can_be_disabled() {
        let shutdown = CancellationToken::new();
        let mut cfg = test_config();
        cfg.console.enabled = false;
        let h = start(&cfg, Arc::new(Metrics::new()), shutdown.clone())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(get(h.local_addr(), b"GET / HTTP/1.1\r\n\r\n").await.0, 404);
        assert_eq!(
            get(h.local_addr(), b"GET /api/topics HTTP/1.1\r\n\r\n")
                .await
                .0,
            404
        );
        assert_eq!(
            get(h.local_addr(), b"GET /metrics HTTP/1.1\r\n\r\n")
                .await
                .0,
            200
        );
        shutdown.cancel();
    }

    fn with_credentials(mut cfg: Config) -> Config {
        cfg.http.token = "t0ken".into();
        cfg.http.user = "ops".into();
        cfg.http.password = "pa55".into();
        cfg
    }

    fn basic(user_password: &str) -> String {
        use base64::Engine;
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(user_password)
        )
    }

    fn authed(path: &str, authorization: &str) -> Vec<u8> {
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: {authorization}\r\n\r\n")
            .into_bytes()
    }

    #[tokio::test]
    async fn console_needs_credentials_when_configured() {
        let shutdown = CancellationToken::new();
        let metrics = Arc::new(Metrics::new());
        let h = start(
            &with_credentials(test_config()),
            metrics.clone(),
            shutdown.clone(),
        )
        .await
        .unwrap()
        .unwrap();
        let addr = h.local_addr();
        // Without credentials: 401 with the Basic challenge (the browser prompts).
        for path in ["/", "/index.html", "/api/overview"] {
            let r = exchange(addr, &req(path)).await;
            assert_eq!(split(&r).0, 401, "{path}: {r}");
            assert!(
                r.contains("www-authenticate: Basic realm=\"runnel\"\r\n"),
                "{path}: {r}"
            );
        }
        // Wrong credentials of every kind.
        for wrong in [
            "Bearer nope".to_string(),
            "Bearer".to_string(),
            basic("ops:wrong"),
            basic("root:pa55"),
            "Basic %%%".to_string(),
            "Negotiate abc".to_string(),
        ] {
            let (status, _) = get(addr, &authed("/", &wrong)).await;
            assert_eq!(status, 401, "{wrong}");
        }
        // Right ones: bearer, Basic user/password, Basic with the token as password.
        for right in [
            "Bearer t0ken".to_string(),
            basic("ops:pa55"),
            basic("x:t0ken"),
        ] {
            let (status, body) = get(addr, &authed("/", &right)).await;
            assert_eq!(status, 200, "{right}");
            assert!(body.contains("<title>Runnel console</title>"));
        }
        let (status, _) = get(addr, &authed("/api/overview", "Bearer t0ken")).await;
        assert_eq!(
            status, 503,
            "authorized, but the broker is still recovering"
        );
        // The Host check comes first: a rebinding page gets 403 even with credentials.
        let evil = b"GET / HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer t0ken\r\n\r\n";
        assert_eq!(get(addr, evil).await.0, 403);
        // Probes and scrapes stay open, and count the failures.
        assert_eq!(get(addr, &req("/healthz")).await.0, 200);
        assert_eq!(get(addr, &req("/readyz")).await.0, 503);
        let (status, m) = get(addr, &req("/metrics")).await;
        assert_eq!(status, 200);
        assert!(
            m.contains("runnel_http_auth_failures_total{reason=\"missing\"} 3"),
            "{m}"
        );
        assert!(
            m.contains("runnel_http_auth_failures_total{reason=\"invalid\"} 6"),
            "{m}"
        );
        shutdown.cancel();
    }

    #[tokio::test]
    async fn console_is_open_on_loopback_without_credentials() {
        let shutdown = CancellationToken::new();
        let h = start(&test_config(), Arc::new(Metrics::new()), shutdown.clone())
            .await
            .unwrap()
            .unwrap();
        // Any Authorization header is ignored when nothing is configured.
        let (status, _) = get(h.local_addr(), &authed("/", "Bearer whatever")).await;
        assert_eq!(status, 200);
        assert_eq!(get(h.local_addr(), &req("/")).await.0, 200);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn refuses_an_open_console_on_a_non_loopback_address() {
        let mut cfg = test_config();
        cfg.http_listen = "0.0.0.0:0".into();
        let e = cfg.validate().unwrap_err().to_string();
        for key in [
            "http_listen",
            "http.token",
            "http.user",
            "http.password",
            "console.enabled",
        ] {
            assert!(e.contains(key), "{key} not named in: {e}");
        }
        let e = start(&cfg, Arc::new(Metrics::new()), CancellationToken::new())
            .await
            .err()
            .unwrap();
        assert!(matches!(e, HttpError::OpenConsole { .. }), "{e}");
        assert!(e.to_string().contains("http.token"), "{e}");
        // With a credential, or with the console off, it starts.
        let shutdown = CancellationToken::new();
        let with = with_credentials(cfg.clone());
        with.validate().unwrap();
        let h = start(&with, Arc::new(Metrics::new()), shutdown.clone())
            .await
            .unwrap()
            .unwrap();
        assert!(h.local_addr().ip().is_unspecified());
        let mut off = cfg.clone();
        off.console.enabled = false;
        off.validate().unwrap();
        let h = start(&off, Arc::new(Metrics::new()), shutdown.clone())
            .await
            .unwrap()
            .unwrap();
        let loopback = SocketAddr::from(([127, 0, 0, 1], h.local_addr().port()));
        assert_eq!(get(loopback, &req("/healthz")).await.0, 200);
        assert_eq!(get(loopback, &req("/")).await.0, 404);
        shutdown.cancel();
        // Loopback names and addresses need nothing.
        for ok in [
            "127.0.0.1:9644",
            "[::1]:9644",
            "localhost:9644",
            "127.1.2.3:1",
        ] {
            let c = Config {
                http_listen: ok.into(),
                ..Config::default()
            };
            c.validate().unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        // Half a Basic credential is an error naming the key.
        let mut half = test_config();
        half.http.user = "ops".into();
        assert!(half
            .validate()
            .unwrap_err()
            .to_string()
            .contains("http.password"));
    }

    /// A self-signed certificate for `localhost` and 127.0.0.1, written to `dir`; the
    /// updated config and the certificate's DER.
    fn with_tls(
        mut cfg: Config,
        dir: &std::path::Path,
        name: &str,
    ) -> (Config, rustls::pki_types::CertificateDer<'static>) {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
            .unwrap();
        let cert = dir.join(format!("{name}.pem"));
        let key = dir.join(format!("{name}.key"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.key_pair.serialize_pem()).unwrap();
        cfg.tls.cert_file = cert.display().to_string();
        cfg.tls.key_file = key.display().to_string();
        cfg.http.tls = true;
        (cfg, ck.cert.der().clone())
    }

    /// One request over TLS trusting only `ca`: the response text and the server's leaf.
    async fn tls_exchange(
        addr: SocketAddr,
        ca: &rustls::pki_types::CertificateDer<'static>,
        raw: &[u8],
    ) -> std::io::Result<(String, Vec<u8>)> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let client = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let connector = tokio_rustls::TlsConnector::from(Arc::new(client));
        let tcp = TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
        let mut s = connector.connect(name, tcp).await?;
        let leaf = s.get_ref().1.peer_certificates().unwrap()[0].to_vec();
        s.write_all(raw).await?;
        let mut out = Vec::new();
        s.read_to_end(&mut out).await?;
        Ok((String::from_utf8_lossy(&out).into_owned(), leaf))
    }

    #[tokio::test]
    async fn serves_https_with_the_tls_certificate_and_reloads_it() {
        let dir = tempfile::tempdir().unwrap();
        let (cfg, ca) = with_tls(with_credentials(test_config()), dir.path(), "first");
        let shutdown = CancellationToken::new();
        let h = start(&cfg, Arc::new(Metrics::new()), shutdown.clone())
            .await
            .unwrap()
            .unwrap();
        let addr = h.local_addr();
        let (r, leaf) = tls_exchange(addr, &ca, &req("/healthz")).await.unwrap();
        assert_eq!(split(&r), (200, "ok\n".into()));
        assert_eq!(leaf, ca.to_vec());
        let (r, _) = tls_exchange(addr, &ca, &req("/")).await.unwrap();
        assert_eq!(split(&r).0, 401);
        let (r, _) = tls_exchange(addr, &ca, &authed("/", &basic("ops:pa55")))
            .await
            .unwrap();
        assert_eq!(split(&r).0, 200);
        // Plain HTTP to the TLS port: no answer in HTTP, and the connection is closed.
        let plain = tokio::time::timeout(IO_TIMEOUT * 2, async {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(&req("/healthz")).await.unwrap();
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out).await;
            out
        })
        .await
        .expect("a plaintext client is closed, not left hanging");
        assert!(!plain.starts_with(b"HTTP/"), "{plain:?}");

        // Reload: a new certificate and a new token for new connections.
        let (mut next, ca2) = with_tls(cfg.clone(), dir.path(), "second");
        next.http.token = "n3w".into();
        h.reload(&next).unwrap();
        let (r, leaf) = tls_exchange(addr, &ca2, &authed("/", "Bearer n3w"))
            .await
            .unwrap();
        assert_eq!(split(&r).0, 200);
        assert_eq!(leaf, ca2.to_vec());
        assert!(tls_exchange(addr, &ca, &req("/healthz")).await.is_err());
        let (r, _) = tls_exchange(addr, &ca2, &authed("/", "Bearer t0ken"))
            .await
            .unwrap();
        assert_eq!(split(&r).0, 401);
        // A broken reload changes nothing.
        let mut broken = next.clone();
        broken.tls.key_file = dir.path().join("missing.key").display().to_string();
        assert!(matches!(h.reload(&broken), Err(HttpError::Tls(_))));
        let (r, _) = tls_exchange(addr, &ca2, &req("/healthz")).await.unwrap();
        assert_eq!(split(&r).0, 200);
        shutdown.cancel();
    }

    #[tokio::test]
    async fn tls_config_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let (mut cfg, _) = with_tls(test_config(), dir.path(), "c");
        std::fs::write(&cfg.tls.cert_file, "not a pem\n").unwrap();
        let e = start(&cfg, Arc::new(Metrics::new()), CancellationToken::new())
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("tls.cert_file"), "{e}");
        cfg.tls.cert_file = String::new();
        assert!(cfg.validate().unwrap_err().to_string().contains("http.tls"));
    }
}
