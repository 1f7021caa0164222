//! The controller quorum: the one adapter around openraft (pinned exactly in Cargo.toml;
//! nothing outside this module names an openraft type).
//!
//! Every voter runs a [`Quorum`]: an openraft node whose log and snapshots live in
//! `<data_dir>/controller` (`store.rs`), whose peers talk over the controller listener
//! (`network.rs`, `wire.rs`), and whose state machine is the cluster [`Image`]. The active
//! controller is the Raft leader; it alone answers brokers (`service.rs`), so a broker never
//! reads metadata from a controller that could be behind. Followers answer NOT_LEADER with
//! the leader's id and the caller retries there.
//!
//! Time-driven decisions (fencing a broker whose session expired, choosing the cluster id)
//! are taken only by the leader, in one task, and enter the log as commands like everything
//! else; heartbeat bookkeeping stays in the leader's memory, as in Kafka, and every broker
//! gets a fresh session when leadership changes.

mod network;
mod service;
mod store;
pub mod wire;

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::sync::watch;

use super::image::{Command, Image, Reply};
use super::setup::Voter;
use crate::kafka_error::KafkaError;
use wire::Response;

openraft::declare_raft_types!(
    /// The controller's Raft types: commands in, replies out, u64 node ids.
    pub TypeConfig:
        D = Command,
        R = Reply,
);

/// Timing of the quorum and of broker sessions.
#[derive(Debug, Clone)]
pub struct QuorumTimings {
    /// Raft leader heartbeat.
    pub heartbeat: Duration,
    /// Raft election timeout, lower bound (the upper bound is twice it).
    pub election: Duration,
    /// A broker silent this long is fenced (`broker.session.timeout.ms`).
    pub broker_session: Duration,
    /// Preferred-leader rebalancing period; `None`: never.
    pub leader_rebalance: Option<Duration>,
}

impl QuorumTimings {
    pub fn new(broker_session: Duration, leader_rebalance: Option<Duration>) -> QuorumTimings {
        QuorumTimings {
            heartbeat: Duration::from_millis(250),
            election: Duration::from_millis(1000),
            broker_session,
            leader_rebalance,
        }
    }
}

/// One voter's running quorum member.
pub struct Quorum {
    node_id: u64,
    raft: Raft<TypeConfig>,
    image: watch::Receiver<Arc<Image>>,
    timings: QuorumTimings,
    /// Leader only: when each broker last heartbeated, and the image index it reported.
    /// Reset on every leadership change.
    sessions: Mutex<HashMap<i32, Session>>,
}

/// A broker's session as the active controller sees it.
#[derive(Debug, Clone, Copy)]
struct Session {
    last_seen: Instant,
    metadata_index: u64,
}

/// Why the quorum could not start.
#[derive(Debug, thiserror::Error)]
pub enum QuorumError {
    #[error("controller store at {path}: {message}")]
    Store { path: String, message: String },
    #[error("cannot bind the controller listener on {addr}: {source}")]
    Bind {
        addr: String,
        source: std::io::Error,
    },
    #[error("controller quorum: {0}")]
    Raft(String),
}

impl Quorum {
    /// Opens the controller store under `dir`, starts Raft, binds `listen` and serves it.
    /// A pristine quorum is initialised with `voters` (every voter does this; identical
    /// initialisations are safe).
    pub async fn start(
        node_id: i32,
        dir: &Path,
        voters: &[Voter],
        listen: &str,
        timings: QuorumTimings,
    ) -> Result<Arc<Quorum>, QuorumError> {
        let store_err = |message: String| QuorumError::Store {
            path: dir.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| store_err(e.to_string()))?;
        let db = store::open_db(dir).map_err(|e| store_err(e.to_string()))?;
        let (sm, image) =
            store::StateMachine::open(db.clone()).map_err(|e| store_err(e.to_string()))?;
        let log = store::LogStore::new(db);
        let election = timings.election.as_millis() as u64;
        let config = Config {
            cluster_name: "runnel-controller".into(),
            heartbeat_interval: timings.heartbeat.as_millis() as u64,
            election_timeout_min: election,
            election_timeout_max: election * 2,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(1000),
            max_in_snapshot_log_to_keep: 1000,
            ..Default::default()
        }
        .validate()
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|source| QuorumError::Bind {
                addr: listen.to_string(),
                source,
            })?;
        let raft = Raft::new(node_id as u64, Arc::new(config), network::Network, log, sm)
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let members: BTreeMap<u64, BasicNode> = voters
            .iter()
            .map(|v| (v.id as u64, BasicNode::new(v.addr())))
            .collect();
        if !raft
            .is_initialized()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?
        {
            // NotAllowed means another voter initialised first and we already hold its log.
            if let Err(e) = raft.initialize(members).await {
                tracing::debug!(error = %e, "quorum initialisation skipped");
            }
        }
        let quorum = Arc::new(Quorum {
            node_id: node_id as u64,
            raft,
            image,
            timings,
            sessions: Mutex::new(HashMap::new()),
        });
        tokio::spawn(service::serve(listener, quorum.clone()));
        tokio::spawn(service::leader_duties(quorum.clone()));
        tracing::info!(node_id, listen, voters = voters.len(), "controller started");
        Ok(quorum)
    }

    /// The current Raft leader, if known.
    pub fn leader(&self) -> Option<u64> {
        self.raft.metrics().borrow().current_leader
    }

    fn is_leader(&self) -> bool {
        self.leader() == Some(self.node_id)
    }

    /// Leader, and a quorum of voters acknowledged it within the election timeout, so no
    /// other voter can have been elected meanwhile (a follower waits at least that long
    /// after the last word from its leader). A leader cut off from the other voters keeps
    /// believing it leads until it hears of a newer term; this tells it otherwise.
    fn leadership_confirmed(&self) -> bool {
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.current_leader == Some(self.node_id)
            && m.millis_since_quorum_ack
                .is_some_and(|ms| ms <= self.timings.election.as_millis() as u64)
    }

    /// Proposes `cmd` and waits for it to be applied; NOT_LEADER when this node is not the
    /// leader or its Raft has stopped.
    async fn submit(&self, cmd: Command) -> Response {
        match self.raft.client_write(cmd).await {
            Ok(r) => Response::Reply(r.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => Response::NotLeader {
                leader: f.leader_id,
            },
            // This node's Raft has stopped (it is shutting down): nothing was committed here,
            // and the caller should find the new leader, as after a leader change.
            Err(RaftError::Fatal(e)) => {
                tracing::debug!(error = %e, "client write on a stopped quorum member");
                Response::NotLeader { leader: None }
            }
            Err(e) => Response::Reply(Reply::Error {
                code: KafkaError::NotController.code(),
                message: format!("the controller quorum could not commit the change: {e}"),
            }),
        }
    }

    /// Stops Raft (on process shutdown).
    pub async fn shutdown(&self) {
        let _ = self.raft.shutdown().await;
    }
}
