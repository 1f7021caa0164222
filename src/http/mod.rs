//! The HTTP listener: `/metrics`, `/healthz`, `/readyz`, the web console at `/` and its JSON
//! API under `/api/`.
//!
//! A small hand-written HTTP/1.1 server on tokio rather than hyper/axum: the surface is a
//! handful of GET routes and three optional POST actions, every response is built whole and
//! sent with `Connection: close`, so framing is trivial and a dependency would add more code
//! than it saves. Bounds: request heads ≤ 8 KiB, bodies ≤ 64 KiB, [`MAX_CONNECTIONS`]
//! concurrent connections plus a small reserve for health probes ([`slots`]: a connection
//! that has not sent its request is closed to make room for a new one, so idle connections
//! cannot lock out `/healthz` and `/readyz`), and [`IO_TIMEOUT`] for reading a request and
//! for writing its response.
//!
//! The console and its API answer only `Host` headers that name this broker ([`host`]:
//! DNS-rebinding protection); other requests get 403.
//!
//! Lifecycle: [`start`] binds before the broker recovers, so `/healthz` (process up) and
//! `/readyz` (503 until ready) answer during recovery; [`HttpHandle::set_broker`] attaches
//! the recovered broker, installs the scrape-time state metrics, and enables the API.
//! `/readyz` turns 200 once `Broker::is_ready()` — logs recovered, store open, Kafka
//! listener bound.
//!
//! Writes (topic create/delete, offset resets) are refused with 403 unless
//! `console.allow_writes`; POSTs must carry `Content-Type: application/json`, which a
//! cross-site form cannot send without a CORS preflight this server never grants.
//!
//! Blocking work (log reads, RocksDB properties, metric collection) runs in
//! `spawn_blocking`; nothing here holds a lock across `.await`.

mod api;
mod host;
mod request;
mod slots;
mod source;

pub mod records;

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::config::Config;
use crate::telemetry::Metrics;

use host::AllowedHosts;
pub use request::{parse_head, Method, ParseError, Request, MAX_BODY_BYTES, MAX_HEAD_BYTES};
use slots::{Admission, Slot, Slots};
pub use slots::{HEALTH_RESERVE, MAX_CONNECTIONS};
/// Bound for reading one request and for writing one response.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// The console page, embedded at compile time (no build step).
const CONSOLE_HTML: &str = include_str!("console.html");

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
}

/// The running listener.
pub struct HttpHandle {
    local_addr: SocketAddr,
    state: Arc<HttpState>,
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
}

/// Binds the HTTP listener on `cfg.http_listen` and serves until `shutdown`. `Ok(None)` when
/// the listener is disabled (empty address).
pub async fn start(
    cfg: &Config,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
) -> std::io::Result<Option<HttpHandle>> {
    if cfg.http_listen.is_empty() {
        return Ok(None);
    }
    let listener = TcpListener::bind(&cfg.http_listen).await?;
    let local_addr = listener.local_addr()?;
    tracing::info!(addr = %local_addr, console = cfg.console.enabled, "http listening on {local_addr}");
    let state = Arc::new(HttpState {
        metrics,
        console_enabled: cfg.console.enabled,
        allow_writes: cfg.console.allow_writes,
        per_partition_metrics: cfg.telemetry.per_partition_metrics,
        allowed_hosts: AllowedHosts::from_config(cfg),
        broker: OnceLock::new(),
    });
    tokio::spawn(accept_loop(listener, state.clone(), shutdown));
    Ok(Some(HttpHandle { local_addr, state }))
}

async fn accept_loop(listener: TcpListener, state: Arc<HttpState>, shutdown: CancellationToken) {
    let slots = Arc::new(Slots::default());
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        let (stream, _peer) = match accepted {
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
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(e) = serve_connection(stream, &state, &slot).await {
                tracing::debug!(error = %e, "http connection");
            }
            drop(slot);
        });
    }
}

/// One request, one response, close. A connection evicted before its request arrived is
/// closed without an answer.
async fn serve_connection(
    mut stream: TcpStream,
    state: &Arc<HttpState>,
    slot: &Slot,
) -> std::io::Result<()> {
    let read = tokio::select! {
        _ = slot.evict.cancelled() => return Ok(()),
        r = tokio::time::timeout(IO_TIMEOUT, read_request(&mut stream)) => r,
    };
    slot.request_read();
    let response = match read {
        Err(_) => Response::text(408, "request timeout\n"),
        Ok(Err(e)) => return Err(e),
        Ok(Ok(Err(pe))) => Response::text(pe.status(), &format!("{pe}\n")),
        Ok(Ok(Ok((req, body)))) => {
            let head_only = req.method == Method::Head;
            let mut r = if slot.health_only && !matches!(req.path.as_str(), "/healthz" | "/readyz")
            {
                Response::text(503, "busy: only /healthz and /readyz are served now\n")
            } else {
                route(state, req, body).await
            };
            if head_only {
                r.body.clear();
            }
            r
        }
    };
    let bytes = response.encode();
    tokio::time::timeout(IO_TIMEOUT, async {
        stream.write_all(&bytes).await?;
        stream.shutdown().await
    })
    .await
    .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "write timeout"))?
}

/// Reads a head (bounded) and then exactly `Content-Length` body bytes (bounded).
async fn read_request(
    stream: &mut TcpStream,
) -> std::io::Result<Result<(Request, Vec<u8>), ParseError>> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        // Never hold more than one head plus one body, whatever the peer sends.
        let room = (MAX_HEAD_BYTES + MAX_BODY_BYTES).saturating_sub(buf.len());
        buf.extend_from_slice(&chunk[..n.min(room)]);
        match parse_head(&buf) {
            Err(e) => return Ok(Err(e)),
            Ok(None) => continue,
            Ok(Some((req, head_len))) => {
                let want = head_len + req.content_length;
                while buf.len() < want {
                    let n = stream.read(&mut chunk).await?;
                    if n == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                    buf.extend_from_slice(&chunk[..n.min(want - buf.len())]);
                }
                let body = buf.get(head_len..want).unwrap_or_default().to_vec();
                return Ok(Ok((req, body)));
            }
        }
    }
}

/// Dispatches one request. The single `match` over routes.
async fn route(state: &Arc<HttpState>, req: Request, body: Vec<u8>) -> Response {
    let path = req.path.as_str();
    let is_get = matches!(req.method, Method::Get | Method::Head);
    let console_route = path == "/" || path == "/index.html" || path.starts_with("/api/");
    if console_route && state.console_enabled && !state.allowed_hosts.allows(req.host.as_deref()) {
        return Response::text(
            403,
            "Host header not allowed: the console answers IP literals, localhost, the \
             http_listen host and console.allowed_hosts\n",
        );
    }
    match (is_get, path) {
        (true, "/healthz") => Response::text(200, "ok\n"),
        (true, "/readyz") => match state.broker.get() {
            Some(b) if b.is_ready() => Response::text(200, "ready\n"),
            Some(_) => Response::text(503, "not ready: starting listeners\n"),
            None => Response::text(503, "not ready: recovering logs and store\n"),
        },
        (true, "/metrics") => {
            let metrics = state.metrics.clone();
            match tokio::task::spawn_blocking(move || metrics.render()).await {
                Ok(text) => Response {
                    status: 200,
                    content_type: "text/plain; version=0.0.4; charset=utf-8",
                    body: text.into_bytes(),
                },
                Err(_) => Response::text(500, "metrics collection failed\n"),
            }
        }
        (true, "/") | (true, "/index.html") if state.console_enabled => Response {
            status: 200,
            content_type: "text/html; charset=utf-8",
            body: CONSOLE_HTML.as_bytes().to_vec(),
        },
        (_, p) if p.starts_with("/api/") => {
            if !state.console_enabled {
                return Response::text(404, "console disabled\n");
            }
            let Some(broker) = state.broker.get().cloned() else {
                return Response::json_error(503, "broker is still recovering");
            };
            if is_get {
                api::get(state, broker, &req).await
            } else {
                if req.content_type.as_deref() != Some("application/json") {
                    return Response::json_error(415, "POST bodies must be application/json");
                }
                if !state.allow_writes {
                    return Response::json_error(
                        403,
                        "console writes are disabled (console.allow_writes = false)",
                    );
                }
                api::post(broker, &req, &body).await
            }
        }
        (false, _) => Response::text(405, "method not allowed\n"),
        _ => Response::text(404, "not found\n"),
    }
}

/// A complete response.
#[derive(Debug)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) content_type: &'static str,
    pub(crate) body: Vec<u8>,
}

impl Response {
    pub(crate) fn text(status: u16, body: &str) -> Response {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.as_bytes().to_vec(),
        }
    }

    pub(crate) fn json<T: serde::Serialize>(status: u16, value: &T) -> Response {
        match serde_json::to_vec(value) {
            Ok(body) => Response {
                status,
                content_type: "application/json",
                body,
            },
            Err(e) => Response::text(500, &format!("encoding JSON: {e}\n")),
        }
    }

    pub(crate) fn json_error(status: u16, message: &str) -> Response {
        Response::json(status, &serde_json::json!({ "error": message }))
    }

    fn reason(status: u16) -> &'static str {
        match status {
            200 => "OK",
            201 => "Created",
            400 => "Bad Request",
            403 => "Forbidden",
            404 => "Not Found",
            405 => "Method Not Allowed",
            408 => "Request Timeout",
            409 => "Conflict",
            411 => "Length Required",
            413 => "Payload Too Large",
            415 => "Unsupported Media Type",
            431 => "Request Header Fields Too Large",
            500 => "Internal Server Error",
            503 => "Service Unavailable",
            _ => "",
        }
    }

    /// Status line, headers and body. The console may only be framed by itself and loads
    /// nothing from elsewhere.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n",
            self.status,
            Self::reason(self.status),
            self.content_type,
            self.body.len()
        );
        if self.content_type.starts_with("text/html") {
            out.push_str(
                "Content-Security-Policy: default-src 'self'; script-src 'unsafe-inline'; \
                 style-src 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'\r\n",
            );
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&self.body);
        bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn get(addr: SocketAddr, raw: &[u8]) -> (u16, String) {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(raw).await.unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text.get(9..12).and_then(|c| c.parse().ok()).unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (status, body)
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
        assert_eq!(get(addr, b"PUT / HTTP/1.1\r\n\r\n").await.0, 405);
        assert_eq!(get(addr, b"POST /metrics HTTP/1.1\r\n\r\n").await.0, 405);
        assert_eq!(get(addr, b"GARBAGE\r\n\r\n").await.0, 400);
        let mut huge = b"GET / HTTP/1.1\r\nX: ".to_vec();
        huge.resize(MAX_HEAD_BYTES + 100, b'a');
        assert_eq!(get(addr, &huge).await.0, 431);
        let (status, _) = get(addr, b"HEAD /healthz HTTP/1.1\r\n\r\n").await;
        assert_eq!(status, 200);
        shutdown.cancel();
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
}
