//! Process wiring shared by `main` and the tests: bind the listeners, recover the broker,
//! start background work, serve until shut down.
//!
//! Order matters: the HTTP listener binds first so `/readyz` answers "not ready" during
//! recovery; the Kafka listener binds before recovery too (so the port is known and
//! reserved) but is only served once the broker is open.
//!
//! Also the process's file-descriptor budget: `raise_nofile_limit` (called by `main` before
//! anything opens files) and `fd_budget`, which splits the limit between the descriptor cache,
//! partitions and connections.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::broker::{now_ms, BootError, Broker};
use crate::cluster::image::Image;
use crate::cluster::member::Member;
use crate::cluster::quorum::{Quorum, QuorumTimings};
use crate::cluster::ClusterSetup;
use crate::config::Config;
use crate::telemetry::Metrics;

/// Headroom for the store (RocksDB), listeners, checkpoints and other short-lived files.
pub const FD_RESERVE: u64 = 256;

/// The process's `RLIMIT_NOFILE` as `(soft, hard)`.
// `rlim_t` is u64 on Linux but not on every target, hence the casts.
#[allow(clippy::unnecessary_cast)]
pub fn nofile_limit() -> std::io::Result<(u64, u64)> {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass; nothing else is shared.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((l.rlim_cur as u64, l.rlim_max as u64))
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit (capped at the kernel's `nr_open` when
/// the hard limit is unlimited). Returns `(soft before, soft after, hard)`.
#[allow(clippy::unnecessary_cast)]
pub fn raise_nofile_limit() -> std::io::Result<(u64, u64, u64)> {
    let (soft, hard) = nofile_limit()?;
    let target = if hard == libc::RLIM_INFINITY as u64 {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1 << 20)
    } else {
        hard
    };
    if soft >= target {
        return Ok((soft, soft, hard));
    }
    let l = libc::rlimit {
        rlim_cur: target as libc::rlim_t,
        rlim_max: hard as libc::rlim_t,
    };
    // SAFETY: setrlimit reads the struct we pass; nothing else is shared.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok((soft, target, hard))
}

/// How a descriptor limit is spent: `(descriptor cache cap, partition cap)`. The cache gets
/// `max_open_segment_files`, at most a quarter of the limit. Each partition keeps one
/// descriptor; with `max_partitions == 0` the cap is half of what is left after the cache and
/// [`FD_RESERVE`], the other half being left for connections. An explicit cap is used as is.
pub fn fd_budget(
    nofile: u64,
    max_open_segment_files: usize,
    max_partitions: usize,
) -> (usize, usize) {
    let cache = (max_open_segment_files as u64).min(nofile / 4);
    let partitions = if max_partitions == 0 {
        nofile.saturating_sub(cache + FD_RESERVE) / 2
    } else {
        max_partitions as u64
    };
    (
        usize::try_from(cache).unwrap_or(usize::MAX),
        usize::try_from(partitions).unwrap_or(usize::MAX),
    )
}

/// Why a broker process could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("binding the Kafka listener on {addr}: {source}")]
    BindKafka {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error(transparent)]
    Boot(#[from] BootError),
    #[error("recovery task failed: {0}")]
    Join(#[from] tokio::task::JoinError),
    #[error(transparent)]
    Quorum(#[from] crate::cluster::quorum::QuorumError),
    #[error("joining the cluster: {0}")]
    Cluster(String),
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
    /// This node's controller, when it is one.
    quorum: Option<Arc<Quorum>>,
}

/// Starts a broker with this configuration on the current tokio runtime.
pub async fn start(cfg: Config) -> Result<Running, StartError> {
    let setup = ClusterSetup::from_config(&cfg)
        .map_err(|(key, message)| StartError::Cluster(format!("{key}: {message}")))?;
    // The controller comes first: a broker of a forming cluster registers with it.
    let quorum = match &setup {
        Some(s) if s.controller => Some(
            Quorum::start(
                cfg.node_id,
                &cfg.data_dir.join("controller"),
                &s.voters,
                s.controller_listen.as_deref().unwrap_or_default(),
                QuorumTimings::new(
                    Duration::from_millis(cfg.cluster.broker_session_timeout_ms),
                    Some(cfg.cluster.leader_imbalance_check_interval_ms)
                        .filter(|&ms| ms > 0)
                        .map(Duration::from_millis),
                ),
            )
            .await?,
        ),
        _ => None,
    };
    let shutdown = CancellationToken::new();
    let metrics = Arc::new(Metrics::new());
    let http = crate::http::start(&cfg, metrics.clone(), shutdown.clone()).await?;
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
        cleaner: crate::log::CleanerConfig {
            threads: broker.config.log.cleaner_threads,
            backoff_ms: broker.config.log.cleaner_backoff_ms,
            io_max_bytes_per_second: match broker.config.log.cleaner_io_max_bytes_per_second {
                0 => u64::MAX,
                n => n,
            },
            dedupe_buffer_bytes: broker.config.log.cleaner_dedupe_buffer_size,
        },
    };
    broker.logs.spawn_background(background, stop_rx);
    broker.groups.spawn_background(shutdown.clone());
    if let Some(t) = &broker.txns {
        // Resumes the markers of transactions prepared before a restart.
        t.start(Arc::new(crate::txn::markers::BrokerMarkers {
            replicas: broker.replicas.clone(),
            groups: broker.groups.clone(),
        }));
    }
    if let Some(s) = &setup {
        join_cluster(&broker, s).await?;
    }
    broker.ready.store(true, Ordering::Release);
    // One listener until the listeners of `[[listeners]]` are bound each on its own.
    let listener_config = Arc::new(broker.config.kafka_listeners().remove(0));
    let server = tokio::spawn(crate::server::run(
        broker.clone(),
        listener,
        listener_config,
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
        quorum,
    })
}

/// Cluster mode: register, check the cluster id, apply the first image, then keep
/// heartbeating and following the metadata in the background.
async fn join_cluster(broker: &Arc<Broker>, setup: &ClusterSetup) -> Result<(), StartError> {
    let c = &broker.config.cluster;
    let session = Duration::from_millis(c.broker_session_timeout_ms);
    let member = Member::new(
        broker.node.node_id,
        setup.voters.clone(),
        broker.node.host.clone(),
        broker.node.port,
        broker.node.rack.clone(),
        Duration::from_millis(c.broker_heartbeat_interval_ms),
        session,
    );
    broker.controller.join_cluster(member.clone());
    broker
        .replicas
        .join_cluster(member.clone(), c.replica_lag_time_max_ms as i64);
    if let Some(offsets) = &broker.offsets_topic {
        offsets.start(broker.groups.clone());
    }
    // A restarted broker may have to wait for its previous session to expire.
    let patience = session * 2 + Duration::from_secs(5);
    let cluster_id = member.register(patience).await.map_err(|e| {
        StartError::Cluster(format!("registering node {}: {e}", broker.node.node_id))
    })?;
    match broker.store.joined_cluster_id().map_err(BootError::from)? {
        Some(id) if id != cluster_id => {
            return Err(StartError::Cluster(format!(
                "the data directory {} belongs to cluster {id}, but the controller quorum is cluster {cluster_id}; use an empty data directory for this node",
                broker.config.data_dir.display()
            )))
        }
        Some(_) => {}
        None => broker
            .store
            .set_joined_cluster_id(&cluster_id)
            .map_err(BootError::from)?,
    }
    tokio::spawn(member.clone().heartbeat_loop());
    // The first image before serving, so that Metadata is never older than the registration.
    loop {
        match member.fetch_image(0).await {
            Ok(Some(image)) => {
                apply_image(broker, image).await;
                break;
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "fetching the cluster metadata failed; retrying"),
        }
    }
    let b = broker.clone();
    tokio::spawn(async move {
        loop {
            let known = member.image().index;
            match member.fetch_image(known).await {
                Ok(Some(image)) => apply_image(&b, image).await,
                Ok(None) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "following the cluster metadata failed; retrying");
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
            }
        }
    });
    Ok(())
}

/// Applies one image to the broker's logs and view, then records it as applied (what the
/// heartbeats report). A failed apply is retried with the next image.
async fn apply_image(broker: &Arc<Broker>, image: Image) {
    let image = Arc::new(image);
    let (b, img) = (broker.clone(), image.clone());
    let res = tokio::task::spawn_blocking(move || {
        b.controller.apply_image(&img, now_ms())?;
        // Leaderships and followerships once the logs and the view agree with the image.
        b.replicas.apply_image(&img);
        // Then the groups of the offsets partitions led now (or no longer).
        if let Some(offsets) = &b.offsets_topic {
            offsets.apply_image(&img);
        }
        Ok::<(), crate::cluster::TopicError>(())
    })
    .await;
    match res {
        Ok(Ok(())) => {
            if let Some(m) = broker.controller.member() {
                m.applied(image);
            }
        }
        Ok(Err(e)) => {
            tracing::error!(error = %e, index = image.index, "applying cluster metadata failed")
        }
        Err(e) => tracing::error!(error = %e, "applying cluster metadata panicked"),
    }
}

impl Running {
    /// Stops accepting, answers in-flight requests, then flushes and closes all state.
    pub async fn shutdown(self) {
        if let Some(m) = self.broker.controller.member() {
            // Controlled shutdown: leaderships move before the listener closes.
            let patience =
                Duration::from_millis(self.broker.config.cluster.broker_session_timeout_ms);
            if m.controlled_shutdown(patience).await {
                tracing::info!("the controller moved this broker's leaderships away");
            }
        }
        self.broker.replicas.stop_replication();
        self.shutdown.cancel();
        let _ = self.server.await;
        let b = self.broker.clone();
        let _ = tokio::task::spawn_blocking(move || b.close()).await;
        if let Some(q) = self.quorum {
            q.shutdown().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_budget_splits_the_limit() {
        // 20000 descriptors: full cache, half of the rest for partitions.
        assert_eq!(
            fd_budget(20_000, 1000, 0),
            (1000, (20_000 - 1000 - 256) / 2)
        );
        // 1024: the cache is held to a quarter of the limit.
        assert_eq!(fd_budget(1024, 1000, 0), (256, (1024 - 256 - 256) / 2));
        // Tiny limits never underflow.
        assert_eq!(fd_budget(100, 1000, 0), (25, 0));
        // An explicit cap wins.
        assert_eq!(fd_budget(1024, 10, 5000), (10, 5000));
    }

    #[test]
    fn raising_the_limit_never_lowers_it() {
        let (before, after, hard) = raise_nofile_limit().unwrap();
        assert!(after >= before);
        assert!(after <= hard);
        assert_eq!(nofile_limit().unwrap().0, after);
    }
}
