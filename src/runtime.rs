//! Process wiring shared by `main` and the tests: bind the listeners, recover the broker,
//! start background work, serve until shut down.
//!
//! Order matters: the HTTP listener binds first so `/readyz` answers "not ready" during
//! recovery; the Kafka listener binds before recovery too (so the port is known and
//! reserved) but is only served once the broker is open.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::broker::{BootError, Broker};
use crate::config::Config;
use crate::telemetry::Metrics;

/// Why a broker process could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding the Kafka listener on {addr}: {source}")]
    BindKafka {
        addr: String,
        source: std::io::Error,
    },
    #[error("binding the HTTP listener on {addr}: {source}")]
    BindHttp {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Boot(#[from] BootError),
    #[error("recovery task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
}

/// A running broker.
pub struct Running {
    pub broker: Arc<Broker>,
    /// The bound Kafka listener address (useful with port 0).
    pub kafka_addr: SocketAddr,
    /// The bound HTTP listener address, when enabled.
    pub http_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    server: JoinHandle<()>,
}

/// Starts a broker with this configuration on the current tokio runtime.
pub async fn start(cfg: Config) -> Result<Running, StartError> {
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(Metrics::new());
    let http = crate::http::start(&cfg, metrics.clone(), shutdown.clone())
        .await
        .map_err(|source| StartError::BindHttp {
            addr: cfg.http_listen.clone(),
            source,
        })?;
    let listener = tokio::net::TcpListener::bind(&cfg.listen)
        .await
        .map_err(|source| StartError::BindKafka {
            addr: cfg.listen.clone(),
            source,
        })?;
    let kafka_addr = listener
        .local_addr()
        .map_err(|source| StartError::BindKafka {
            addr: cfg.listen.clone(),
            source,
        })?;
    let mut cfg = cfg;
    // With port 0 the advertised address must carry the port actually bound.
    if cfg.advertised_listener.is_none() || cfg.advertised().1 == 0 {
        let (host, _) = cfg.advertised();
        cfg.advertised_listener = Some(format!("{host}:{}", kafka_addr.port()));
    }
    let broker = {
        let metrics = metrics.clone();
        tokio::task::spawn_blocking(move || Broker::open(cfg, metrics)).await??
    };
    if let Some(h) = &http {
        h.set_broker(broker.clone());
    }
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            let _ = stop_tx.send(true);
        });
    }
    let background = crate::log::BackgroundConfig {
        // Check often enough that flush.ms is honoured to within a few milliseconds.
        flush_check_interval_ms: broker.config.log.flush_ms.clamp(10, 1000) as u64,
        retention_check_interval_ms: broker.config.log.retention_check_interval_ms,
    };
    broker.logs.spawn_background(background, stop_rx);
    broker.groups.spawn_background(shutdown.clone());
    broker.ready.store(true, Ordering::Release);
    let server = tokio::spawn(crate::server::run(
        broker.clone(),
        listener,
        shutdown.clone(),
    ));
    tracing::info!(
        listen = %kafka_addr,
        advertised = %format!("{}:{}", broker.node.host, broker.node.port),
        "runnel is ready"
    );
    Ok(Running {
        http_addr: http.as_ref().map(|h| h.local_addr()),
        broker,
        kafka_addr,
        shutdown,
        server,
    })
}

impl Running {
    /// Stops accepting, answers in-flight requests, then flushes and closes all state.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        let _ = self.server.await;
        let b = self.broker.clone();
        let _ = tokio::task::spawn_blocking(move || b.close()).await;
    }
}
