//! The broker: shared state every handler works against, and the boot/shutdown sequence.
//!
//! Boot order: lock the data directory (one broker per directory), check the metadata store
//! against the log directory's marker and open it, open the group coordinator, then let the
//! controller reconcile the partition directories with the stored topics and open every
//! partition log (recovery happens here), then mark the broker ready. Shutdown runs the other
//! way: stop accepting, let in-flight requests finish, flush and close every log
//! (clean-shutdown marker), flush the store.
//!
//! Metadata loss is never silent. `<data_dir>/logs/cluster.meta` (see `store::marker`)
//! records the cluster id the logs belong to; the broker refuses to start when
//!
//! | marker | store (`<data_dir>/meta`)        | meaning                                  |
//! |--------|----------------------------------|------------------------------------------|
//! | yes    | missing                          | the store was deleted                    |
//! | yes    | no cluster id                    | the store was emptied or replaced        |
//! | yes    | other cluster id                 | store and logs come from different nodes |
//! | damaged| any                              | cannot tell: refuse rather than guess    |
//! | no     | missing, but partition dirs exist| the store of an older data dir was lost  |
//! | any    | RocksDB reports corruption       | WAL / MANIFEST / table damage            |
//!
//! and names the way out: restore `meta/` from a backup, or accept the loss with
//! `runnel recover --data-dir DIR --reset-metadata` ([`reset_metadata`]). A store without a
//! marker (a data directory from before the marker existed, or a crash right after the store
//! got its cluster id) gets its marker written from the store.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use uuid::Uuid;

use crate::cluster::topic_config::BrokerLayers;
use crate::cluster::{Controller, MetadataView, NodeInfo};
use crate::config::Config;
use crate::fetch_session::FetchSessionCache;
use crate::group::error::GroupError;
use crate::group::GroupCoordinator;
use crate::log::LogManager;
use crate::offsets_topic::OffsetsTopic;
use crate::replica::ReplicaManager;
use crate::security::acl::Authorizer;
use crate::share::persister::{LocalPersister, Persister, StateError};
use crate::share::remote::ClusterPersister;
use crate::share::ShareManager;
use crate::store::{marker, ConfigScope, Store};
use crate::telemetry::Metrics;
use crate::txn::{TxnConfig, TxnCoordinator, TxnStore};
use crate::txn_topic::TxnTopic;

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BootError {
    #[error("cannot create data directory {path}: {source}")]
    DataDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("data directory {0} is in use by another runnel process")]
    Locked(PathBuf),
    #[error("metadata store: {0}")]
    Store(#[from] crate::store::StoreError),
    #[error("metadata store {meta} cannot be opened: {source}. {}", recovery_hint(.data_dir))]
    StoreDamaged {
        meta: PathBuf,
        data_dir: PathBuf,
        source: crate::store::StoreError,
    },
    #[error("metadata store {meta} is missing, but the log directory {logs} belongs to cluster {cluster_id}; starting would forget every topic and committed offset. {}", recovery_hint(.data_dir))]
    MetadataMissing {
        meta: PathBuf,
        logs: PathBuf,
        data_dir: PathBuf,
        cluster_id: String,
    },
    #[error("metadata store {meta} has no cluster id, but the log directory {logs} belongs to cluster {cluster_id}: the store lost its data. {}", recovery_hint(.data_dir))]
    MetadataLost {
        meta: PathBuf,
        logs: PathBuf,
        data_dir: PathBuf,
        cluster_id: String,
    },
    #[error("cluster id mismatch: metadata store {meta} belongs to cluster {store_id} but the log directory {logs} belongs to cluster {logs_id}; they come from different brokers. {}", recovery_hint(.data_dir))]
    ClusterIdMismatch {
        meta: PathBuf,
        logs: PathBuf,
        data_dir: PathBuf,
        store_id: String,
        logs_id: String,
    },
    #[error("the log directory {logs} holds {partitions} partition directories but there is no metadata store at {meta}; starting would forget their topics. {}", recovery_hint(.data_dir))]
    LogsWithoutStore {
        meta: PathBuf,
        logs: PathBuf,
        data_dir: PathBuf,
        partitions: usize,
    },
    #[error("{source}. {}", recovery_hint(.data_dir))]
    MarkerDamaged {
        data_dir: PathBuf,
        source: crate::store::StoreError,
    },
    #[error("partition logs: {0}")]
    Log(#[from] crate::log::LogError),
    #[error("reconciling partition directories with the metadata store: {0}")]
    Topics(#[from] crate::cluster::TopicError),
    #[error("group coordinator: {0}")]
    Group(String),
    #[error("transaction coordinator: {0}")]
    Transactions(String),
}

/// The way out that every metadata-loss error names.
fn recovery_hint(data_dir: &Path) -> String {
    format!(
        "Restore the metadata store from a backup, or accept the loss with `runnel recover --data-dir {} --reset-metadata` \
         (keeps the partition data aside under *.orphan names; see README, \"Recovering from metadata loss\")",
        data_dir.display()
    )
}

/// Shared broker state.
pub struct Broker {
    pub config: Config,
    pub node: NodeInfo,
    /// The store's cluster id (single node); see [`Broker::cluster_id`].
    cluster_id: String,
    pub store: Arc<Store>,
    pub logs: Arc<LogManager>,
    pub metadata: Arc<MetadataView>,
    /// The partition layer: resolution, leadership and epoch checks, the ack policy.
    pub replicas: Arc<ReplicaManager>,
    /// Cluster mode: the replicated home of the groups (`__consumer_offsets`).
    pub offsets_topic: Option<Arc<OffsetsTopic>>,
    pub controller: Arc<Controller>,
    pub groups: Arc<GroupCoordinator>,
    /// The transaction coordinator (always built; an `Option` for tests that run without).
    pub txns: Option<TxnCoordinator>,
    /// Cluster mode: the replicated home of the transaction state (`__transaction_state`).
    pub txn_topic: Option<Arc<TxnTopic>>,
    /// Incremental fetch sessions (KIP-227), shared by every connection.
    pub fetch_sessions: Arc<FetchSessionCache>,
    /// Share groups' partitions and share sessions (KIP-932).
    pub shares: Arc<ShareManager>,
    pub metrics: Arc<Metrics>,
    /// ACLs and the rules that apply them (`[auth]`); every handler checks through it.
    pub acls: Authorizer,
    /// True once logs are recovered, the store is open and the listener is bound.
    pub ready: AtomicBool,
    /// Held for the broker's lifetime: an exclusive `flock` on `<data_dir>/.lock`.
    _dir_lock: File,
}

/// Milliseconds since the Unix epoch (wall clock: timestamps, retention, producer state).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Broker {
    /// Opens the data directory and recovers all state. Blocking: call before serving.
    pub fn open(config: Config, metrics: Arc<Metrics>) -> Result<Arc<Broker>, BootError> {
        let data_dir = config.data_dir.clone();
        let mkdir = |p: &PathBuf| {
            std::fs::create_dir_all(p).map_err(|source| BootError::DataDir {
                path: p.clone(),
                source,
            })
        };
        mkdir(&data_dir)?;
        let dir_lock = lock_dir(&data_dir)?;
        let logs_dir = data_dir.join("logs");
        mkdir(&logs_dir)?;
        let (store, cluster_id) = open_store(&data_dir, &logs_dir)?;
        let store = Arc::new(store);
        let nofile = crate::runtime::nofile_limit().map_or(1024, |l| l.0);
        let (fd_cache, max_partitions) = crate::runtime::fd_budget(
            nofile,
            config.log.max_open_segment_files,
            config.log.max_partitions,
        );
        let logs = Arc::new(LogManager::open_with(
            &logs_dir,
            crate::log::LogFiles::new(fd_cache),
        )?);
        let fsync_seconds = metrics.fsync_seconds.clone();
        logs.set_fsync_observer(Arc::new(move |d| fsync_seconds.observe(d.as_secs_f64())));
        // Dynamic broker configs: cluster-wide defaults under "", this node's under its id.
        let mut layers = BrokerLayers::from_static(config.log.clone());
        for (name, overrides) in store.load_config_overrides(ConfigScope::Broker)? {
            if name.is_empty() {
                layers.cluster = overrides;
            } else if name == config.node_id.to_string() {
                layers.per_broker = overrides;
            }
        }
        let group_configs = store
            .load_config_overrides(ConfigScope::Group)?
            .into_iter()
            .collect();
        let (host, port) = config.advertised();
        let node = NodeInfo {
            node_id: config.node_id,
            host,
            port,
            rack: Some(config.cluster.rack.clone()).filter(|r| !r.is_empty()),
        };
        let metadata = Arc::new(MetadataView::new(Vec::new()));
        let replicas = Arc::new(ReplicaManager::new(
            node.node_id,
            logs.clone(),
            metadata.clone(),
        ));
        let in_cluster = !config.cluster.controller_voters.trim().is_empty();
        let (groups, offsets_topic) = if in_cluster {
            let offsets = OffsetsTopic::new(
                node.node_id,
                replicas.clone(),
                store.clone(),
                Duration::from_millis(config.group.offsets_commit_timeout_ms),
            )?;
            let groups = GroupCoordinator::open_in_cluster(
                node.node_id,
                &config.group,
                offsets.clone(),
                config.group.offsets_topic_num_partitions,
            );
            (groups, Some(offsets))
        } else {
            let groups = GroupCoordinator::open(node.node_id, &config.group, store.clone())
                .map_err(|e| BootError::Group(e.to_string()))?;
            (groups, None)
        };
        let controller = Arc::new(
            Controller::new(
                node.clone(),
                layers,
                group_configs,
                store.clone(),
                logs.clone(),
                metadata.clone(),
                groups.clone(),
            )
            .with_max_partitions(max_partitions)
            .in_cluster(in_cluster),
        );
        let report = controller.recover(now_ms())?;
        if report.quarantined.is_empty() && report.finished_deletes.is_empty() {
            tracing::debug!(?report, "partition directories reconciled");
        } else {
            tracing::warn!(
                finished_deletes = ?report.finished_deletes,
                quarantined = report.quarantined.len(),
                "partition directories reconciled with the metadata store"
            );
        }
        let hosted = logs.partition_count();
        tracing::info!(
            open_file_limit = nofile,
            descriptor_cache = fd_cache,
            max_partitions,
            partitions = hosted,
            "file descriptor budget"
        );
        if hosted > max_partitions {
            tracing::warn!(
                partitions = hosted,
                max_partitions,
                "more partitions on disk than log.max_partitions allows; new ones are refused"
            );
        }
        tracing::info!(
            cluster_id = %cluster_id,
            node_id = node.node_id,
            topics = metadata.topics().len(),
            "recovered state"
        );
        let txn_config = TxnConfig {
            max_timeout_ms: config.transaction.max_timeout_ms,
            abort_check_interval_ms: config.transaction.abort_timed_out_check_interval_ms,
            id_expiration_ms: config.transaction.transactional_id_expiration_ms,
            remove_expired_interval_ms: config
                .transaction
                .remove_expired_transaction_cleanup_interval_ms,
        };
        let (txns, txn_topic) = if in_cluster {
            // Producer ids come from the controller quorum, unique across brokers; the source
            // runs on a blocking thread and waits for the quorum on the runtime.
            let topic = TxnTopic::new(
                node.node_id,
                replicas.clone(),
                store.clone(),
                Duration::from_millis(config.group.offsets_commit_timeout_ms),
            )?;
            let ctl = controller.clone();
            let c = TxnCoordinator::open(
                txn_config,
                topic.clone() as Arc<dyn TxnStore>,
                Arc::new(move || {
                    let member = ctl
                        .member()
                        .ok_or_else(|| "not a cluster member yet".to_string())?;
                    tokio::runtime::Handle::current()
                        .block_on(member.allocate_producer_id())
                        .map_err(|e| e.to_string())
                }),
                Arc::new(now_ms),
            )
            .map_err(BootError::Transactions)?;
            (c, Some(topic))
        } else {
            let ids = store.clone();
            let c = TxnCoordinator::open(
                txn_config,
                store.clone() as Arc<dyn TxnStore>,
                Arc::new(move || ids.allocate_producer_id().map_err(|e| e.to_string())),
                Arc::new(now_ms),
            )
            .map_err(BootError::Transactions)?;
            (c, None)
        };
        let txns = Some(txns);
        let acls = Authorizer::open(&config.auth, store.clone())?;
        let fetch_sessions = Arc::new(FetchSessionCache::new(
            config.fetch.max_incremental_sessions,
        ));
        // Share-partition state: the broker's store (single node), or the share group's
        // coordinator in the replicated offsets topic (cluster).
        let persister: Arc<dyn Persister> = match &offsets_topic {
            Some(o) => Arc::new(ClusterPersister::new(
                node.node_id,
                controller.clone(),
                o.clone(),
            )),
            None => Arc::new(LocalPersister(store.clone())),
        };
        let shares = Arc::new(ShareManager::new(
            store.clone(),
            persister,
            metrics.share.clone(),
        ));
        // A deleted share group (DeleteGroups, empty groups only) takes its share-partition
        // state and sessions with it. The hook runs on the coordinator's task: a single node's
        // deletion is one synced store write on a rare path; a cluster's is an acks=all append
        // to the offsets topic, run on a blocking thread in the background (logged if it fails).
        let deleted = shares.clone();
        // Classic members of consumer groups name their partitions by topic name.
        let image = metadata.clone();
        groups.on_topics(Arc::new(move || crate::handlers::metadata_topics(&image)));
        let offsets = offsets_topic.clone();
        groups.on_share_group_deleted(Arc::new(move |group: &str| match &offsets {
            None => {
                if let Err(e) = deleted.on_group_deleted(group) {
                    tracing::warn!(group, error = %e, "deleting a share group's share-partition state failed");
                }
            }
            Some(o) => {
                deleted.forget_group(group, true);
                let (o, group) = (o.clone(), group.to_string());
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn_blocking(move || {
                        if let Err(e) = o.delete_share_group_states(&group) {
                            tracing::warn!(group, error = %e, "deleting a share group's share-partition state failed");
                        }
                    });
                }
            }
        }));
        // Partitions a share group's known topics gained start at offset 0, through the
        // persister (this broker's store, or the share coordinator: the group's coordinator).
        let added_shares = shares.clone();
        groups.on_share_partitions_added(Arc::new(move |group: &str, added: &[(Uuid, i32)]| {
            added_shares
                .initialize_added(group, added)
                .map_err(|e| match e {
                    StateError::NotCoordinator(m) => GroupError::NotCoordinator(m),
                    StateError::LoadInProgress(_) => GroupError::CoordinatorLoadInProgress,
                    other => GroupError::CoordinatorNotAvailable(other.to_string()),
                })
        }));
        // A deleted topic takes its metrics and its share-partition state with it: in this
        // broker's memory and store, and in a cluster the share-state records of the share
        // groups this broker coordinates (tombstones appended at acks=all, in the background).
        let topic_metrics = metrics.clone();
        let topic_shares = shares.clone();
        let topic_offsets = offsets_topic.clone();
        controller.set_deleted_observer(Arc::new(move |name: &str, id| {
            topic_metrics.topics.remove_topic(name);
            if let Err(e) = topic_shares.on_topic_deleted(id) {
                tracing::warn!(topic = name, error = %e, "deleting a topic's share-partition state failed");
            }
            if let (Some(o), Ok(rt)) = (&topic_offsets, tokio::runtime::Handle::try_current()) {
                let (o, name) = (o.clone(), name.to_string());
                rt.spawn_blocking(move || {
                    if let Err(e) = o.delete_topic_share_states(id) {
                        tracing::warn!(topic = name, error = %e, "tombstoning a deleted topic's share states failed");
                    }
                });
            }
        }));
        Ok(Arc::new(Broker {
            config,
            shares,
            node,
            replicas,
            offsets_topic,
            cluster_id,
            store,
            logs,
            metadata,
            controller,
            groups,
            txns,
            txn_topic,
            fetch_sessions,
            metrics,
            acls,
            ready: AtomicBool::new(false),
            _dir_lock: dir_lock,
        }))
    }

    /// Whether the broker has finished recovery and bound its listener.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
            && self.controller.member().is_none_or(|m| !m.is_fenced())
    }

    /// The cluster id clients see: the quorum's in cluster mode, the store's otherwise.
    pub fn cluster_id(&self) -> String {
        match self.controller.member() {
            Some(m) => m.image().cluster_id.clone(),
            None => self.cluster_id.clone(),
        }
    }

    /// The brokers clients may use: this node alone, or every unfenced registered broker.
    /// The live brokers as clients of the listener named `listener` reach them: each broker's
    /// advertised address on the listener of that name (in a cluster, as it registered it;
    /// a broker without such a listener is shown with its first listener's address).
    pub fn live_brokers_on(&self, listener: &str) -> Vec<NodeInfo> {
        match self.controller.member() {
            Some(m) => m
                .image()
                .live_brokers()
                .map(|b| {
                    let (host, port) = b.endpoint(listener);
                    NodeInfo {
                        node_id: b.id,
                        host: host.to_string(),
                        port,
                        rack: b.rack.clone(),
                    }
                })
                .collect(),
            None => {
                let (host, port) = self.config.advertised_for(listener);
                vec![NodeInfo {
                    host,
                    port,
                    ..self.node.clone()
                }]
            }
        }
    }

    pub fn live_brokers(&self) -> Vec<NodeInfo> {
        match self.controller.member() {
            Some(m) => m
                .image()
                .live_brokers()
                .map(|b| NodeInfo {
                    node_id: b.id,
                    host: b.host.clone(),
                    port: b.port,
                    rack: b.rack.clone(),
                })
                .collect(),
            None => vec![self.node.clone()],
        }
    }

    /// Replicas of `replicas` on brokers that are not live (Metadata's offline replicas);
    /// always empty on a single node.
    pub fn offline_replicas(live: Option<&[i32]>, replicas: &[i32]) -> Vec<i32> {
        match live {
            Some(live) => replicas
                .iter()
                .copied()
                .filter(|r| !live.contains(r))
                .collect(),
            None => Vec::new(),
        }
    }

    /// The ids of the live brokers in cluster mode (`None` on a single node), for
    /// [`Broker::offline_replicas`].
    pub fn live_ids(&self) -> Option<Vec<i32>> {
        self.controller
            .member()
            .map(|m| m.image().live_brokers().map(|b| b.id).collect())
    }

    /// The broker reported as "controller" in Metadata and DescribeCluster: this node.
    /// Clients cannot reach the controller quorum, so, as in Kafka's KRaft mode, "controller"
    /// names a live broker that forwards admin requests. Kafka picks one at random; the
    /// broker answering is the one live broker the client has just reached, so a client never
    /// keeps sending admin requests to a dead broker it was told about earlier.
    pub fn controller_id(&self) -> i32 {
        self.node.node_id
    }

    /// Flushes and closes every log and the store. Called once, after the listener drained.
    pub fn close(&self) {
        if let Some(t) = &self.txns {
            t.stop();
        }
        self.groups.shutdown();
        if let Err(e) = self.logs.close_all() {
            tracing::error!(error = %e, "closing partition logs");
        }
        if let Err(e) = self.store.flush() {
            tracing::error!(error = %e, "flushing metadata store");
        }
    }
}

/// Opens the metadata store after checking it against the log directory's marker (see the
/// module header); returns it with the cluster id.
fn open_store(data_dir: &Path, logs_dir: &Path) -> Result<(Store, String), BootError> {
    let meta = data_dir.join("meta");
    let marked = marker::read(logs_dir).map_err(|source| BootError::MarkerDamaged {
        data_dir: data_dir.to_owned(),
        source,
    })?;
    let damaged = |source| BootError::StoreDamaged {
        meta: meta.clone(),
        data_dir: data_dir.to_owned(),
        source,
    };
    let Some(logs_id) = marked else {
        if !Store::exists(&meta) {
            let partitions = LogManager::open(logs_dir)?.scan()?.live.len();
            if partitions > 0 {
                return Err(BootError::LogsWithoutStore {
                    meta,
                    logs: logs_dir.to_owned(),
                    data_dir: data_dir.to_owned(),
                    partitions,
                });
            }
        }
        // A new data directory, or one from before the marker: the store is the authority.
        let store = Store::open(&meta).map_err(damaged)?;
        let id = store.cluster_id()?;
        marker::write(logs_dir, &id)?;
        tracing::info!(cluster_id = %id, marker = %logs_dir.join(marker::MARKER_FILE).display(), "wrote the data directory marker");
        return Ok((store, id));
    };
    if !Store::exists(&meta) {
        return Err(BootError::MetadataMissing {
            meta,
            logs: logs_dir.to_owned(),
            data_dir: data_dir.to_owned(),
            cluster_id: logs_id,
        });
    }
    let store = Store::open_existing(&meta).map_err(damaged)?;
    match store.stored_cluster_id().map_err(damaged)? {
        None => Err(BootError::MetadataLost {
            meta,
            logs: logs_dir.to_owned(),
            data_dir: data_dir.to_owned(),
            cluster_id: logs_id,
        }),
        Some(store_id) if store_id != logs_id => Err(BootError::ClusterIdMismatch {
            meta,
            logs: logs_dir.to_owned(),
            data_dir: data_dir.to_owned(),
            store_id,
            logs_id,
        }),
        Some(id) => Ok((store, id)),
    }
}

/// The metadata store of a stopped broker, for offline tools (`runnel user add`): takes the
/// data directory lock (so it fails with [`BootError::Locked`] while a broker runs), then
/// creates or opens the store with the same marker checks as a boot — a new data directory
/// gets its cluster id and marker as if a broker had started, and a directory a broker would
/// refuse is refused here too, so a tool never creates a store that hides metadata loss.
/// The lock is held as long as the returned file lives.
pub fn open_store_offline(data_dir: &Path) -> Result<(File, Store), BootError> {
    let mkdir = |p: &Path| {
        std::fs::create_dir_all(p).map_err(|source| BootError::DataDir {
            path: p.to_owned(),
            source,
        })
    };
    mkdir(data_dir)?;
    let lock = lock_dir(data_dir)?;
    let logs_dir = data_dir.join("logs");
    mkdir(&logs_dir)?;
    let (store, _cluster_id) = open_store(data_dir, &logs_dir)?;
    Ok((lock, store))
}

/// What [`reset_metadata`] did.
#[derive(Debug, Default)]
pub struct ResetReport {
    /// Where the old metadata store was moved (if there was one).
    pub old_store: Option<PathBuf>,
    /// Partition directories moved aside to `.orphan` names.
    pub quarantined: Vec<PathBuf>,
}

/// The operator's way out of a refused start (`runnel recover --reset-metadata`): accept that
/// the metadata (topics, topic ids, committed offsets, groups, cluster id) is gone. The old
/// store is moved to `meta.<nanos>.broken`, every live partition directory is quarantined
/// under a `.orphan` name (nothing is deleted), and the marker is removed; the next start
/// creates a new store and cluster id. Takes the data directory lock, so it cannot run
/// against a live broker.
pub fn reset_metadata(data_dir: &Path) -> Result<ResetReport, BootError> {
    if !data_dir.is_dir() {
        return Err(BootError::DataDir {
            path: data_dir.to_owned(),
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let _lock = lock_dir(data_dir)?;
    let mut report = ResetReport::default();
    let meta = data_dir.join("meta");
    if meta.exists() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let to = data_dir.join(format!("meta.{nanos}.broken"));
        std::fs::rename(&meta, &to).map_err(|source| BootError::DataDir {
            path: meta.clone(),
            source,
        })?;
        report.old_store = Some(to);
    }
    let logs_dir = data_dir.join("logs");
    if logs_dir.is_dir() {
        let logs = LogManager::open(&logs_dir)?;
        for (topic, p, _) in logs.scan()?.live {
            report.quarantined.push(logs.quarantine(&topic, p)?);
        }
        marker::remove(&logs_dir)?;
    }
    File::open(data_dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| BootError::DataDir {
            path: data_dir.to_owned(),
            source,
        })?;
    Ok(report)
}

/// Takes an exclusive advisory lock so two brokers never share a data directory.
fn lock_dir(dir: &std::path::Path) -> Result<File, BootError> {
    use std::os::unix::io::AsRawFd;
    let path = dir.join(".lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| BootError::DataDir {
            path: path.clone(),
            source,
        })?;
    // SAFETY: flock on a file descriptor we own; no memory is shared with the kernel.
    let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc != 0 {
        return Err(BootError::Locked(dir.to_owned()));
    }
    Ok(f)
}
