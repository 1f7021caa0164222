//! The Kafka listener: accepts TCP connections, bounds their number, and hands each to a
//! [`connection`] task. Shutdown: the token stops the accept loop and every connection
//! stops reading new requests, answers the ones in flight, and closes.

pub mod connection;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::broker::Broker;

/// Accepts connections until `shutdown` fires, then waits for open connections to drain.
pub async fn run(broker: Arc<Broker>, listener: TcpListener, shutdown: CancellationToken) {
    let limit = Arc::new(Semaphore::new(broker.config.network.max_connections));
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
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let permit = match limit.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                tracing::warn!(%peer, "connection limit reached; closing new connection");
                continue;
            }
        };
        let broker = broker.clone();
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            connection::serve(broker, socket, peer, shutdown).await;
            drop(permit);
        });
    }
    tracker.close();
    tracker.wait().await;
}
