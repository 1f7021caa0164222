//! The Kafka listeners: one accept loop per listener (`[[listeners]]`, or the single
//! PLAINTEXT `listen`), all under the broker-wide connection limits (in total,
//! `network.max_connections`, and per client IP, `network.max_connections_per_ip`) and the
//! broker-wide account of reply bytes in memory ([`reply_memory`]). Each accepted connection
//! becomes a [`connection`] task. A connection over either limit is closed at once, counted in
//! `runnel_connections_rejected_total{reason}` and logged at a limited rate
//! ([`warn_limit`]).
//!
//! On an SSL or SASL_SSL listener the task first completes the TLS handshake ([`tls`]),
//! bounded by `network.frame_timeout_ms`; a failed or timed-out handshake (a plaintext client,
//! an untrusted or missing client certificate) closes the connection, is counted in
//! `runnel_tls_handshake_failures_total{listener}` and logged at a limited rate. A verified
//! client certificate gives the connection its principal (`security/x509.rs`).
//!
//! Shutdown: the token stops the accept loops and every connection stops reading new
//! requests, answers the ones in flight, and closes.

pub mod connection;
pub mod reply_memory;
pub mod sasl_session;
pub mod send_file;
pub mod tls;
pub mod warn_limit;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::Broker;
use crate::config::ListenerConfig;
use crate::security::Principal;
use crate::warn_limited;
use connection::Peer;
use reply_memory::ReplyMemory;
use tls::TlsServer;
use warn_limit::WarnLimit;

/// Warnings about refused connections and failed accepts: at most 10 per 10 s.
static ACCEPT_WARNINGS: WarnLimit = WarnLimit::new(10, Duration::from_secs(10));

/// Failed TLS handshakes: at most 10 warnings per 10 s.
static TLS_WARNINGS: WarnLimit = WarnLimit::new(10, Duration::from_secs(10));

/// One bound Kafka listener: its socket, its configuration, and for a TLS listener the
/// broker's TLS server side.
pub struct BoundListener {
    pub socket: TcpListener,
    pub config: Arc<ListenerConfig>,
    pub tls: Option<Arc<TlsServer>>,
}

/// What every accept loop shares: the connection limits, the reply-memory account, and the
/// tracker of open connections.
struct Shared {
    broker: Arc<Broker>,
    limit: Arc<Semaphore>,
    per_ip: Arc<PerIpLimit>,
    replies: Arc<ReplyMemory>,
    tracker: TaskTracker,
    shutdown: CancellationToken,
}

/// Accepts connections on every listener until `shutdown` fires, then waits for open
/// connections to drain.
pub async fn run(broker: Arc<Broker>, listeners: Vec<BoundListener>, shutdown: CancellationToken) {
    let net = &broker.config.network;
    let shared = Arc::new(Shared {
        limit: Arc::new(Semaphore::new(net.max_connections)),
        per_ip: PerIpLimit::new(net.max_connections_per_ip),
        replies: ReplyMemory::new(broker.metrics.response_bytes_in_flight.clone()),
        tracker: TaskTracker::new(),
        shutdown,
        broker,
    });
    let loops: Vec<_> = listeners
        .into_iter()
        .map(|l| tokio::spawn(accept_loop(shared.clone(), l)))
        .collect();
    for l in loops {
        let _ = l.await;
    }
    shared.tracker.close();
    shared.tracker.wait().await;
}

/// Accepts connections of one listener until shutdown.
async fn accept_loop(shared: Arc<Shared>, listener: BoundListener) {
    let BoundListener {
        socket: listener,
        config,
        tls,
    } = listener;
    let broker = &shared.broker;
    let shutdown = &shared.shutdown;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // EMFILE and friends: back off briefly instead of spinning.
                warn_limited!(ACCEPT_WARNINGS, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let rejected = |reason: &str| {
            broker
                .metrics
                .connections_rejected
                .with_label_values(&[reason])
                .inc();
        };
        let Ok(permit) = shared.limit.clone().try_acquire_owned() else {
            rejected("max_connections");
            warn_limited!(ACCEPT_WARNINGS, %peer, "connection limit reached (network.max_connections); closing new connection");
            continue;
        };
        let Some(ip_slot) = shared.per_ip.try_acquire(peer.ip()) else {
            rejected("per_ip_limit");
            warn_limited!(ACCEPT_WARNINGS, %peer, "per-IP connection limit reached (network.max_connections_per_ip); closing new connection");
            continue;
        };
        let shared2 = shared.clone();
        let config = config.clone();
        let tls = tls.clone();
        shared.tracker.spawn(async move {
            let shared = shared2;
            let _ = socket.set_nodelay(true);
            match tls {
                None => {
                    let client = Peer {
                        addr: peer,
                        listener: config,
                        principal: Principal::anonymous(),
                    };
                    shared.serve(socket.into_split(), client).await
                }
                Some(tls) => {
                    if let Some((stream, client)) =
                        shared.handshake(&tls, socket, peer, config).await
                    {
                        shared.serve(tokio::io::split(stream), client).await
                    }
                }
            }
            drop(ip_slot);
            drop(permit);
        });
    }
}

impl Shared {
    async fn serve<R, W>(&self, halves: (R, W), client: Peer)
    where
        R: tokio::io::AsyncRead + Unpin + Send,
        W: connection::ReplySink,
    {
        connection::serve(
            self.broker.clone(),
            self.replies.clone(),
            halves,
            client,
            self.shutdown.clone(),
        )
        .await
    }

    /// The TLS handshake of a new connection, within `network.frame_timeout_ms`; `None` (the
    /// connection is closed) when it fails, times out, or shutdown comes first.
    async fn handshake(
        &self,
        tls: &TlsServer,
        socket: TcpStream,
        peer: std::net::SocketAddr,
        listener: Arc<ListenerConfig>,
    ) -> Option<(tokio_rustls::server::TlsStream<TcpStream>, Peer)> {
        let timeout = Duration::from_millis(self.broker.config.network.frame_timeout_ms);
        let handshake = tokio::time::timeout(timeout, tls.acceptor().accept(socket));
        let error = tokio::select! {
            _ = self.shutdown.cancelled() => return None,
            r = handshake => match r {
                Ok(Ok(stream)) => {
                    let principal = tls::client_principal(&stream);
                    if let Some(p) = &principal {
                        tracing::debug!(%peer, listener = %listener.name, principal = %p, "TLS client certificate verified");
                    }
                    let client = Peer {
                        addr: peer,
                        listener,
                        principal: principal.unwrap_or_else(Principal::anonymous),
                    };
                    return Some((stream, client));
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => format!("no handshake within {} ms (network.frame_timeout_ms)", timeout.as_millis()),
            },
        };
        self.broker
            .metrics
            .tls_handshake_failures
            .with_label_values(&[&listener.name])
            .inc();
        warn_limited!(TLS_WARNINGS, %peer, listener = %listener.name, %error, "TLS handshake failed; closing connection");
        None
    }
}

/// Open connections per client IP. A `std::sync::Mutex`: held for one map update, never
/// across `.await`.
struct PerIpLimit {
    max: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One counted connection; uncounted on drop (entries at zero are removed, so the map only
/// holds addresses with open connections).
struct IpSlot {
    limit: Arc<PerIpLimit>,
    ip: IpAddr,
}

impl PerIpLimit {
    fn new(max: usize) -> Arc<PerIpLimit> {
        Arc::new(PerIpLimit {
            max,
            open: Mutex::new(HashMap::new()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, usize>> {
        match self.open.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.lock();
        let n = open.entry(ip).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            limit: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.limit.lock();
        if let Some(n) = open.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn per_ip_limit_counts_and_releases() {
        let l = PerIpLimit::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let s1 = l.try_acquire(a).unwrap();
        let _s2 = l.try_acquire(a).unwrap();
        assert!(l.try_acquire(a).is_none());
        let _other = l.try_acquire(b).unwrap();
        drop(s1);
        let _s3 = l.try_acquire(a).unwrap();
        drop(_s3);
        drop(_s2);
        assert!(
            !l.lock().contains_key(&a),
            "no entry kept for an address at zero"
        );
    }
}
