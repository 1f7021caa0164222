//! The broker: shared state every handler works against, and the boot/shutdown sequence.
//!
//! Boot order: lock the data directory (one broker per directory), open the metadata store,
//! read the cluster id and topics, open every partition log (recovery happens here), build
//! the metadata view, controller and group coordinator, then mark the broker ready.
//! Shutdown runs the other way: stop accepting, let in-flight requests finish, flush and
//! close every log (clean-shutdown marker), flush the store.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::cluster::{topic_config, Controller, MetadataView, NodeInfo, TopicInfo};
use crate::config::Config;
use crate::group::GroupCoordinator;
use crate::log::LogManager;
use crate::store::Store;
use crate::telemetry::Metrics;

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
    #[error("partition logs: {0}")]
    Log(#[from] crate::log::LogError),
    #[error("group coordinator: {0}")]
    Group(String),
}

/// Shared broker state.
pub struct Broker {
    pub config: Config,
    pub node: NodeInfo,
    pub cluster_id: String,
    pub store: Arc<Store>,
    pub logs: Arc<LogManager>,
    pub metadata: Arc<MetadataView>,
    pub controller: Arc<Controller>,
    pub groups: Arc<GroupCoordinator>,
    pub metrics: Arc<Metrics>,
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
        let store = Arc::new(Store::open(&data_dir.join("meta"))?);
        let cluster_id = store.cluster_id()?;
        let logs_dir = data_dir.join("logs");
        mkdir(&logs_dir)?;
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
        let now = now_ms();
        let mut topics = Vec::new();
        for rec in store.load_topics()? {
            let topic = TopicInfo::from_record(&rec);
            let cfg = topic_config::log_config(&config.log, &topic.configs);
            for p in &topic.partitions {
                logs.create(&topic.name, p.index, cfg, now)?;
            }
            topics.push(topic);
        }
        let (host, port) = config.advertised();
        let node = NodeInfo {
            node_id: config.node_id,
            host,
            port,
            rack: None,
        };
        let metadata = Arc::new(MetadataView::new(topics));
        let controller = Arc::new(
            Controller::new(
                node.clone(),
                config.log.clone(),
                store.clone(),
                logs.clone(),
                metadata.clone(),
            )
            .with_max_partitions(max_partitions),
        );
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
        let groups = GroupCoordinator::open(node.node_id, &config.group, store.clone())
            .map_err(|e| BootError::Group(e.to_string()))?;
        tracing::info!(
            cluster_id = %cluster_id,
            node_id = node.node_id,
            topics = metadata.topics().len(),
            "recovered state"
        );
        Ok(Arc::new(Broker {
            config,
            node,
            cluster_id,
            store,
            logs,
            metadata,
            controller,
            groups,
            metrics,
            ready: AtomicBool::new(false),
            _dir_lock: dir_lock,
        }))
    }

    /// Whether the broker has finished recovery and bound its listener.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Flushes and closes every log and the store. Called once, after the listener drained.
    pub fn close(&self) {
        self.groups.shutdown();
        if let Err(e) = self.logs.close_all() {
            tracing::error!(error = %e, "closing partition logs");
        }
        if let Err(e) = self.store.flush() {
            tracing::error!(error = %e, "flushing metadata store");
        }
    }
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
