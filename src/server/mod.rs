//! The Kafka listener: accepts TCP connections, bounds their number (in total,
//! `network.max_connections`, and per client IP, `network.max_connections_per_ip`), and
//! hands each to a [`connection`] task together with the broker-wide account of reply bytes
//! in memory ([`reply_memory`]). A connection over either limit is closed at once, counted in
//! `runnel_connections_rejected_total{reason}` and logged at a limited rate
//! ([`warn_limit`]). Shutdown: the token stops the accept loop and every connection stops
//! reading new requests, answers the ones in flight, and closes.

pub mod connection;
pub mod reply_memory;
pub mod sasl_session;
pub mod send_file;
pub mod warn_limit;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::Broker;
use crate::config::ListenerConfig;
use crate::warn_limited;
use reply_memory::ReplyMemory;
use warn_limit::WarnLimit;

/// Warnings about refused connections and failed accepts: at most 10 per 10 s.
static ACCEPT_WARNINGS: WarnLimit = WarnLimit::new(10, Duration::from_secs(10));

/// Accepts connections until `shutdown` fires, then waits for open connections to drain.
/// `listener` is the socket bound for `config`, the Kafka listener it serves.
pub async fn run(
    broker: Arc<Broker>,
    listener: TcpListener,
    config: Arc<ListenerConfig>,
    shutdown: CancellationToken,
) {
    let net = &broker.config.network;
    let limit = Arc::new(Semaphore::new(net.max_connections));
    let per_ip = PerIpLimit::new(net.max_connections_per_ip);
    let replies = ReplyMemory::new(broker.metrics.response_bytes_in_flight.clone());
    let tracker = TaskTracker::new();
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
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            rejected("max_connections");
            warn_limited!(ACCEPT_WARNINGS, %peer, "connection limit reached (network.max_connections); closing new connection");
            continue;
        };
        let Some(ip_slot) = per_ip.try_acquire(peer.ip()) else {
            rejected("per_ip_limit");
            warn_limited!(ACCEPT_WARNINGS, %peer, "per-IP connection limit reached (network.max_connections_per_ip); closing new connection");
            continue;
        };
        let broker = broker.clone();
        let replies = replies.clone();
        let shutdown = shutdown.clone();
        let config = config.clone();
        tracker.spawn(async move {
            connection::serve(broker, replies, socket, peer, config, shutdown).await;
            drop(ip_slot);
            drop(permit);
        });
    }
    tracker.close();
    tracker.wait().await;
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
