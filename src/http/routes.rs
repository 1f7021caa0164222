//! The routes of the HTTP listener (one axum `Router`) and the middleware in front of the
//! console's.
//!
//! Open to anyone who reaches the port: `/healthz`, `/readyz`, `/metrics`. The console
//! (`/`, `/index.html`) and its API (`/api/...`) exist only with `console.enabled`, and
//! pass two checks in this order: the `Host` header ([`super::host`], 403: DNS rebinding),
//! then the credentials ([`super::auth`], 401 with a Basic challenge). Every response
//! carries `Cache-Control: no-store` and `X-Content-Type-Options: nosniff`; the console page
//! also a Content-Security-Policy that allows nothing from elsewhere and no framing.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::auth::{Outcome, CHALLENGE};
use super::{api, HttpState, Peer, MAX_BODY_BYTES};
use crate::broker::now_ms;

/// The console page, embedded at compile time (no build step).
const CONSOLE_HTML: &str = include_str!("console.html");

const CSP: &str = "default-src 'self'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; \
                   img-src 'self' data:; frame-ancestors 'none'";

/// Every route of the listener.
pub(crate) fn router(state: Arc<HttpState>) -> Router {
    let mut app = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics));
    if state.console_enabled {
        let console = Router::new()
            .route("/", get(console_page))
            .route("/index.html", get(console_page))
            .route("/api/{*rest}", get(api_get).post(api_post))
            // The last layer added runs first: Host, then credentials.
            .route_layer(middleware::from_fn_with_state(state.clone(), authenticate))
            .route_layer(middleware::from_fn_with_state(state.clone(), check_host));
        app = app.merge(console);
    }
    app.fallback(not_found)
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(middleware::from_fn(refuse_large_bodies))
        .layer(middleware::map_response(common_headers))
        .with_state(state)
}

async fn healthz() -> Response {
    Response::text(200, "ok\n")
}

async fn readyz(State(state): State<Arc<HttpState>>) -> Response {
    match state.broker.get() {
        Some(b) if b.is_ready() => Response::text(200, "ready\n"),
        Some(_) => Response::text(503, "not ready: starting listeners\n"),
        None => Response::text(503, "not ready: recovering logs and store\n"),
    }
}

async fn metrics(State(state): State<Arc<HttpState>>) -> Response {
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

async fn console_page() -> Response {
    Response {
        status: 200,
        content_type: "text/html; charset=utf-8",
        body: CONSOLE_HTML.as_bytes().to_vec(),
    }
}

async fn not_found() -> Response {
    Response::text(404, "not found\n")
}

async fn api_get(
    State(state): State<Arc<HttpState>>,
    uri: Uri,
    Query(params): Query<Vec<(String, String)>>,
) -> Response {
    let Some(broker) = state.broker.get().cloned() else {
        return Response::json_error(503, "broker is still recovering");
    };
    api::get(&state, broker, uri.path(), &api::Params(params)).await
}

async fn api_post(
    State(state): State<Arc<HttpState>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(broker) = state.broker.get().cloned() else {
        return Response::json_error(503, "broker is still recovering");
    };
    // A cross-site form cannot send this content type without a CORS preflight, which this
    // server never grants.
    let json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|mime| mime.trim().eq_ignore_ascii_case("application/json"));
    if !json {
        return Response::json_error(415, "POST bodies must be application/json");
    }
    if !state.allow_writes {
        return Response::json_error(
            403,
            "console writes are disabled (console.allow_writes = false)",
        );
    }
    api::post(broker, uri.path(), &body).await
}

/// 403 unless the `Host` header names this broker (DNS-rebinding protection).
async fn check_host(
    State(state): State<Arc<HttpState>>,
    req: Request,
    next: Next,
) -> axum::response::Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok());
    if !state.allowed_hosts.allows(host) {
        return Response::text(
            403,
            "Host header not allowed: the console answers IP literals, localhost, the \
             http_listen host and console.allowed_hosts\n",
        )
        .into_response();
    }
    next.run(req).await
}

/// 401 with a Basic challenge unless the request carries a configured credential (or none
/// is configured).
async fn authenticate(
    State(state): State<Arc<HttpState>>,
    req: Request,
    next: Next,
) -> axum::response::Response {
    let Some(credentials) = state.credentials() else {
        return next.run(req).await;
    };
    let outcome = credentials.check(
        req.headers()
            .get(header::AUTHORIZATION)
            .map(HeaderValue::as_bytes),
    );
    if outcome == Outcome::Authorized {
        return next.run(req).await;
    }
    state
        .metrics
        .http_auth_failures
        .with_label_values(&[outcome.reason()])
        .inc();
    if outcome == Outcome::Invalid {
        let peer = req.extensions().get::<Peer>().map(|p| p.0);
        state.failure_log.failed(peer, req.uri().path(), now_ms());
    }
    let mut r = Response::text(401, "authentication required\n").into_response();
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(CHALLENGE),
    );
    r
}

/// 413 at once for a declared `Content-Length` above the limit, before any of the body is
/// awaited (the body limit alone would only trip once that much had arrived). Chunked
/// bodies are cut by [`DefaultBodyLimit`] as they are read.
async fn refuse_large_bodies(req: Request, next: Next) -> axum::response::Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Response::text(413, "request body larger than 64 KiB\n").into_response();
    }
    next.run(req).await
}

async fn common_headers(mut r: axum::response::Response) -> axum::response::Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    let html = h
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    if html {
        h.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CSP),
        );
    }
    r
}

/// A complete response, built whole (every body here is small and bounded).
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
}

impl IntoResponse for Response {
    fn into_response(self) -> axum::response::Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (
            status,
            [(header::CONTENT_TYPE, self.content_type)],
            self.body,
        )
            .into_response()
    }
}
