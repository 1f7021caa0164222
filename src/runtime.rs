//! Process wiring shared by `main` and the tests: bind the listeners, recover the broker,
//! start background work, serve until shut down.
//!
//! Order matters: the HTTP listener binds first so `/readyz` answers "not ready" during
//! recovery; the Kafka listeners (every `[[listeners]]` entry, or the single PLAINTEXT
//! `listen`) bind before recovery too (so the ports are known and reserved, and with port 0
//! each advertised address carries the port bound) but are only served once the broker is
//! open. The TLS material is loaded before anything binds, so a bad certificate fails the
//! start with the file named; SIGHUP reloads it ([`Running::reload_tls`]).
//!
//! Also the process's file-descriptor budget: `raise_nofile_limit` (called by `main` before
//! anything opens files) and `fd_budget`, which splits the limit between the descriptor cache,
//! partitions and connections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::broker::{now_ms, BootError, Broker};
use crate::cluster::image::{Endpoint, Image};
use crate::cluster::member::Member;
use crate::cluster::quorum::{Quorum, QuorumTimings};
use crate::cluster::ClusterSetup;
use crate::config::Config;
use crate::server::tls::{TlsError, TlsServer};
use crate::server::BoundListener;
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
    #[error("binding the Kafka listener {listener} on {addr}: {source}")]
    BindKafka {
        listener: String,
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error("TLS: {0}")]
    Tls(#[from] TlsError),
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
    /// The bound address of the first Kafka listener (useful with port 0).
    pub kafka_addr: SocketAddr,
    /// The bound address of every Kafka listener, by listener name.
    pub listener_addrs: BTreeMap<String, SocketAddr>,
    /// The bound HTTP listener address, when enabled.
    pub http_addr: Option<SocketAddr>,
    shutdown: CancellationToken,
    server: JoinHandle<()>,
    /// The TLS server side, when a listener uses TLS.
    tls: Option<Arc<TlsServer>>,
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
    let http = crate::http::start(&cfg, metrics.clone(), shutdown.clone())
        .await?
        .map(Arc::new);
    let mut cfg = cfg;
    let tls = if cfg
        .kafka_listeners()
        .iter()
        .any(|l| l.security_protocol.uses_tls())
    {
        Some(Arc::new(TlsServer::load(&cfg.tls)?))
    } else {
        None
    };
    let sockets = bind_listeners(&mut cfg).await?;
    let kafka_addr = sockets[0].1;
    let listener_addrs: BTreeMap<String, SocketAddr> = cfg
        .kafka_listeners()
        .into_iter()
        .zip(&sockets)
        .map(|(l, (_, addr))| (l.name, *addr))
        .collect();
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
    broker
        .shares
        .spawn_timer(Duration::from_millis(100), shutdown.clone());
    if let Some(t) = &broker.txns {
        // Resumes the markers of transactions prepared before a restart (a single broker; a
        // cluster member resumes them as it loads `__transaction_state` partitions).
        let local = crate::txn::markers::BrokerMarkers {
            replicas: broker.replicas.clone(),
            groups: broker.groups.clone(),
        };
        if broker.txn_topic.is_some() {
            t.start(Arc::new(crate::txn_topic::markers::ClusterMarkers::new(
                local,
                broker.node.node_id,
                broker.controller.clone(),
            )));
        } else {
            t.start(Arc::new(local));
        }
    }
    if let Some(s) = &setup {
        join_cluster(&broker, s).await?;
    }
    broker.ready.store(true, Ordering::Release);
    let bound = broker
        .config
        .kafka_listeners()
        .into_iter()
        .zip(sockets)
        .map(|(config, (socket, addr))| {
            let (host, port) = config.advertised_endpoint();
            tracing::info!(
                listener = %config.name,
                security_protocol = config.security_protocol.name(),
                listen = %addr,
                advertised = %format!("{host}:{port}"),
                "Kafka listener"
            );
            BoundListener {
                socket,
                tls: tls.clone().filter(|_| config.security_protocol.uses_tls()),
                config: Arc::new(config),
            }
        })
        .collect();
    let server = tokio::spawn(crate::server::run(broker.clone(), bound, shutdown.clone()));
    if tls.is_some() || http.is_some() {
        reload_on_sighup(tls.clone(), http.clone(), broker.clone(), shutdown.clone());
    }
    tracing::info!(
        listen = %kafka_addr,
        advertised = %format!("{}:{}", broker.node.host, broker.node.port),
        "runnel is ready"
    );
    Ok(Running {
        http_addr: http.as_ref().map(|h| h.local_addr()),
        broker,
        kafka_addr,
        listener_addrs,
        shutdown,
        server,
        tls,
        quorum,
    })
}

/// Binds every Kafka listener, in order. With port 0 (or no advertised address) a listener's
/// advertised address becomes its advertised (or bound) host with the port actually bound,
/// written back into `cfg` so that Metadata answers it.
async fn bind_listeners(
    cfg: &mut Config,
) -> Result<Vec<(tokio::net::TcpListener, SocketAddr)>, StartError> {
    if !cfg.listeners.is_empty()
        && (cfg.listen != Config::default().listen || cfg.advertised_listener.is_some())
    {
        tracing::warn!(
            listen = %cfg.listen,
            "listen and advertised_listener are ignored: [[listeners]] are configured and are the complete list"
        );
    }
    let mut bound = Vec::new();
    for (i, l) in cfg.kafka_listeners().into_iter().enumerate() {
        let failed = |source| StartError::BindKafka {
            listener: l.name.clone(),
            addr: l.address.clone(),
            source,
        };
        let socket = tokio::net::TcpListener::bind(&l.address)
            .await
            .map_err(failed)?;
        let addr = socket.local_addr().map_err(failed)?;
        if l.advertised.is_none() || l.advertised_endpoint().1 == 0 {
            let advertised = format!("{}:{}", l.advertised_endpoint().0, addr.port());
            match cfg.listeners.get_mut(i) {
                Some(configured) => configured.advertised = Some(advertised),
                None => cfg.advertised_listener = Some(advertised),
            }
        }
        bound.push((socket, addr));
    }
    Ok(bound)
}

/// On every SIGHUP until shutdown, reloads the Kafka listeners' TLS certificate, key and CA,
/// and the HTTP listener's credentials (and certificate). A failed reload is logged and the
/// previous configuration stays in use.
fn reload_on_sighup(
    tls: Option<Arc<TlsServer>>,
    http: Option<Arc<crate::http::HttpHandle>>,
    broker: Arc<Broker>,
    shutdown: CancellationToken,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = match signal(SignalKind::hangup()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(error = %e, "cannot listen for SIGHUP; TLS material and console credentials will not be reloaded");
            return;
        }
    };
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                s = hangup.recv() => if s.is_none() { return },
            }
            if let Some(tls) = &tls {
                match tls.reload() {
                    Ok(()) => tracing::info!("SIGHUP: TLS certificate, key and CA reloaded"),
                    Err(e) => {
                        tracing::error!(error = %e, "SIGHUP: reloading TLS failed; the previous certificate stays in use")
                    }
                }
            }
            if let Some(http) = &http {
                if let Err(e) = http.reload(&broker.config) {
                    tracing::error!(error = %e, "SIGHUP: reloading the HTTP listener failed; its previous credentials stay in use");
                }
            }
        }
    });
}

/// Cluster mode: register, check the cluster id, apply the first image, then keep
/// heartbeating and following the metadata in the background.
async fn join_cluster(broker: &Arc<Broker>, setup: &ClusterSetup) -> Result<(), StartError> {
    let c = &broker.config.cluster;
    let session = Duration::from_millis(c.broker_session_timeout_ms);
    // Every listener's endpoint; the first is the node's own address (replication).
    let endpoints = broker
        .config
        .kafka_listeners()
        .iter()
        .map(|l| {
            let (host, port) = l.advertised_endpoint();
            Endpoint {
                name: l.name.clone(),
                host,
                port,
            }
        })
        .collect();
    let member = Member::new(
        broker.node.node_id,
        setup.voters.clone(),
        endpoints,
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
    if let (Some(topic), Some(txns)) = (&broker.txn_topic, &broker.txns) {
        topic.start(txns.clone());
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
        // And the transactional ids of the transaction-log partitions.
        if let Some(txns) = &b.txn_topic {
            txns.apply_image(&img);
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
    /// Reloads the TLS certificate, key and CA (what SIGHUP does): new connections use them,
    /// open ones keep their session. `Ok(false)` when no listener uses TLS; on error the
    /// previous configuration stays in use.
    pub fn reload_tls(&self) -> Result<bool, TlsError> {
        match &self.tls {
            Some(tls) => tls.reload().map(|()| true),
            None => Ok(false),
        }
    }

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
