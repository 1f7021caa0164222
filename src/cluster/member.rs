//! A broker's membership in a cluster (Kafka's `BrokerLifecycleManager` and metadata
//! loader): it registers with the active controller under a new incarnation, heartbeats,
//! pulls the metadata image and has it applied locally, forwards admin changes to the
//! quorum, and on shutdown asks the controller to move its leaderships away first.
//!
//! Requests go to the last known leader, follow NOT_LEADER hints and otherwise try each
//! voter in turn, until a deadline. Each call is one short TCP connection to a controller
//! listener; the image pull is a long poll (the controller answers when the image changes).
//!
//! Invariants: the applied image index only grows (an image not newer than the last one is
//! ignored); the broker reports that index in heartbeats, and the controller unfences it only
//! once it has caught up with its own registration (Kafka's rule), so a broker never leads
//! from metadata older than its registration.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::sync::watch;

use super::image::{Command, Endpoint, Image, PartitionState, Reply, PRODUCER_ID_BLOCK};
use super::quorum::wire::{read_frame, write_frame, QuorumState, Request, Response};
use super::setup::Voter;
use crate::kafka_error::KafkaError;

/// How long opening a connection to a controller may take before the next voter is tried.
/// Generous for a LAN, and well inside the 2 s a heartbeat has for its whole round.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// How a request to the quorum failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum MemberError {
    /// No controller leader answered before the deadline.
    #[error("no active controller answered within {0:?}")]
    NoController(Duration),
    /// The controller refused (a Kafka error code and its message).
    #[error("{message}")]
    Refused { code: i16, message: String },
}

impl MemberError {
    pub fn kafka_code(&self) -> i16 {
        match self {
            MemberError::NoController(_) => KafkaError::RequestTimedOut.code(),
            MemberError::Refused { code, .. } => *code,
        }
    }
}

/// This broker's link to the controller quorum.
pub struct Member {
    node_id: i32,
    voters: Vec<Voter>,
    incarnation: String,
    /// The advertised address of every listener; the first is the broker's own address.
    endpoints: Vec<Endpoint>,
    rack: Option<String>,
    heartbeat_interval: Duration,
    /// `broker.session.timeout.ms`: how long the controller waits for a heartbeat before it
    /// fences this broker.
    session_timeout: Duration,
    /// When a heartbeat was last acknowledged by a controller sure of its leadership.
    last_heartbeat: std::sync::Mutex<Option<Instant>>,
    /// Index into `voters` of the last controller that answered as leader.
    leader: AtomicUsize,
    /// The broker epoch of the current registration (-1 before it).
    epoch: AtomicI64,
    fenced: AtomicBool,
    /// The latest image applied to this broker.
    image: watch::Sender<Arc<Image>>,
    /// Serialises re-registration.
    register_lock: tokio::sync::Mutex<()>,
    /// Set once shutdown started: heartbeats ask to shut down.
    shutting_down: AtomicBool,
    /// The current producer-id block: (next, end).
    producer_ids: tokio::sync::Mutex<(i64, i64)>,
}

impl Member {
    pub fn new(
        node_id: i32,
        voters: Vec<Voter>,
        endpoints: Vec<Endpoint>,
        rack: Option<String>,
        heartbeat_interval: Duration,
        session_timeout: Duration,
    ) -> Arc<Member> {
        Arc::new(Member {
            node_id,
            voters,
            incarnation: uuid::Uuid::new_v4().to_string(),
            endpoints,
            rack,
            heartbeat_interval,
            session_timeout,
            last_heartbeat: std::sync::Mutex::new(None),
            leader: AtomicUsize::new(0),
            epoch: AtomicI64::new(-1),
            fenced: AtomicBool::new(true),
            image: watch::channel(Arc::new(Image::default())).0,
            register_lock: tokio::sync::Mutex::new(()),
            shutting_down: AtomicBool::new(false),
            producer_ids: tokio::sync::Mutex::new((0, 0)),
        })
    }

    /// The latest image applied here.
    pub fn image(&self) -> Arc<Image> {
        self.image.borrow().clone()
    }

    /// Records that `image` has been applied to this broker's logs and view.
    pub fn applied(&self, image: Arc<Image>) {
        self.image.send_replace(image);
    }

    /// True while the controller keeps this broker fenced (not serving as leader yet).
    pub fn is_fenced(&self) -> bool {
        self.fenced.load(Ordering::Relaxed)
    }

    /// True when this broker may have been replaced as leader without knowing it yet: the
    /// controller says it is fenced, or no heartbeat has been acknowledged for a session
    /// timeout, so the controller may have fenced it and moved its leaderships (a broker cut
    /// off from the quorum, until it hears from the controller again). Its view of the
    /// partitions it leads is then possibly stale.
    pub fn leadership_in_doubt(&self) -> bool {
        self.is_fenced()
            || self
                .last_heartbeat
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_none_or(|t| t.elapsed() > self.session_timeout)
    }

    /// The controller quorum's voters.
    pub fn voters(&self) -> &[Voter] {
        &self.voters
    }

    /// One round trip with the controller at `voters[i]`. Opening the connection is bounded
    /// by [`CONNECT_TIMEOUT`] on its own, so an unreachable voter (a dead host, or a network
    /// partition that drops packets silently) costs that much before the next one is tried.
    async fn call_one(&self, i: usize, req: &Request, wait: Duration) -> std::io::Result<Response> {
        let addr = self.voters[i].addr();
        let io = async {
            let mut s = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&addr))
                .await
                .map_err(|_| std::io::Error::other(format!("connect to {addr} timed out")))??;
            let _ = s.set_nodelay(true);
            write_frame(&mut s, req).await?;
            read_frame::<_, Response>(&mut s)
                .await?
                .ok_or_else(|| std::io::Error::other("controller closed the connection"))
        };
        tokio::time::timeout(wait + Duration::from_secs(2), io)
            .await
            .map_err(|_| std::io::Error::other(format!("controller {addr} did not answer")))?
    }

    /// Sends `req` to the active controller, following leader hints, until `deadline`.
    async fn call(
        &self,
        req: &Request,
        wait: Duration,
        deadline: Duration,
    ) -> Result<Response, MemberError> {
        let start = Instant::now();
        let mut i = self.leader.load(Ordering::Relaxed) % self.voters.len();
        let mut attempts = 0usize;
        loop {
            match self.call_one(i, req, wait).await {
                Ok(Response::NotLeader { leader: Some(l) }) => {
                    match self.voters.iter().position(|v| v.id as u64 == l) {
                        Some(p) if p != i => {
                            // Remembered, so that the next call does not start at a voter
                            // that may be unreachable.
                            self.leader.store(p, Ordering::Relaxed);
                            i = p
                        }
                        _ => i = (i + 1) % self.voters.len(),
                    }
                }
                Ok(Response::NotLeader { leader: None }) | Ok(Response::Unavailable(_)) => {
                    i = (i + 1) % self.voters.len()
                }
                Ok(other) => {
                    self.leader.store(i, Ordering::Relaxed);
                    return Ok(other);
                }
                Err(e) => {
                    tracing::debug!(controller = %self.voters[i].addr(), error = %e, "controller unreachable");
                    i = (i + 1) % self.voters.len();
                }
            }
            attempts += 1;
            if start.elapsed() >= deadline {
                return Err(MemberError::NoController(deadline));
            }
            if attempts.is_multiple_of(self.voters.len()) {
                // A full round without a leader: an election is probably running.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }

    /// Commits `cmd` through the active controller and returns its reply.
    pub async fn submit(&self, cmd: Command, deadline: Duration) -> Result<Reply, MemberError> {
        match self
            .call(&Request::Submit(cmd), Duration::from_secs(5), deadline)
            .await?
        {
            Response::Reply(Reply::Error { code, message }) => {
                Err(MemberError::Refused { code, message })
            }
            Response::Reply(r) => Ok(r),
            other => Err(MemberError::Refused {
                code: KafkaError::UnknownServerError.code(),
                message: format!("unexpected controller answer {other:?}"),
            }),
        }
    }

    /// Proposes `isr` for a partition this broker leads (Kafka's AlterPartition), as a
    /// compare-and-set on the `leader_epoch` and `partition_epoch` the leader last saw.
    pub async fn alter_partition(
        &self,
        topic: &str,
        partition: i32,
        leader_epoch: i32,
        partition_epoch: i32,
        isr: Vec<i32>,
    ) -> Result<PartitionState, MemberError> {
        let cmd = Command::AlterPartition {
            broker: self.node_id,
            broker_epoch: self.epoch.load(Ordering::Relaxed),
            topic: topic.to_string(),
            partition,
            leader_epoch,
            partition_epoch,
            isr,
        };
        match self.submit(cmd, Duration::from_secs(10)).await? {
            Reply::Partition(p) => Ok(p),
            other => Err(MemberError::Refused {
                code: KafkaError::UnknownServerError.code(),
                message: format!("unexpected controller answer {other:?}"),
            }),
        }
    }

    /// A producer id unique in the cluster, from a block the quorum gave this broker.
    pub async fn allocate_producer_id(&self) -> Result<i64, MemberError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            let cmd = Command::AllocateProducerIds {
                broker: self.node_id,
                epoch: self.epoch.load(Ordering::Relaxed),
            };
            match self.submit(cmd, Duration::from_secs(10)).await? {
                Reply::ProducerIds { first } => *ids = (first, first + PRODUCER_ID_BLOCK),
                other => {
                    return Err(MemberError::Refused {
                        code: KafkaError::UnknownServerError.code(),
                        message: format!("unexpected controller reply {other:?}"),
                    })
                }
            }
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Registers this incarnation; returns the cluster id. Retries while another process
    /// still holds the node id's session, up to `patience`.
    pub async fn register(&self, patience: Duration) -> Result<String, MemberError> {
        let _g = self.register_lock.lock().await;
        let start = Instant::now();
        loop {
            let cmd = Command::RegisterBroker {
                id: self.node_id,
                incarnation: self.incarnation.clone(),
                host: self
                    .endpoints
                    .first()
                    .map(|e| e.host.clone())
                    .unwrap_or_default(),
                port: self.endpoints.first().map_or(-1, |e| e.port),
                endpoints: self.endpoints.clone(),
                rack: self.rack.clone(),
            };
            match self.submit(cmd, patience).await {
                Ok(Reply::Registered { epoch, cluster_id }) if !cluster_id.is_empty() => {
                    self.epoch.store(epoch, Ordering::Relaxed);
                    self.fenced.store(true, Ordering::Relaxed);
                    tracing::info!(
                        node_id = self.node_id,
                        epoch,
                        "registered with the controller"
                    );
                    return Ok(cluster_id);
                }
                // The quorum has not chosen its cluster id yet (it is forming).
                Ok(_) => {}
                Err(MemberError::Refused { code, message })
                    if code == KafkaError::DuplicateBrokerRegistration.code()
                        && start.elapsed() < patience =>
                {
                    tracing::warn!(%message, "registration refused; retrying");
                }
                Err(e) => return Err(e),
            }
            if start.elapsed() >= patience {
                return Err(MemberError::NoController(patience));
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }

    /// One heartbeat. Re-registers when the controller no longer knows this epoch.
    async fn heartbeat_once(&self) -> Result<bool, MemberError> {
        let req = Request::Heartbeat {
            id: self.node_id,
            epoch: self.epoch.load(Ordering::Relaxed),
            metadata_index: self.image.borrow().index,
            want_shutdown: self.shutting_down.load(Ordering::Relaxed),
        };
        match self
            .call(
                &req,
                Duration::from_secs(2),
                self.heartbeat_interval.max(Duration::from_secs(2)),
            )
            .await?
        {
            Response::Heartbeat {
                fenced,
                should_shutdown,
            } => {
                *self
                    .last_heartbeat
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                if self.fenced.swap(fenced, Ordering::Relaxed) != fenced {
                    tracing::info!(node_id = self.node_id, fenced, "broker fencing changed");
                }
                Ok(should_shutdown)
            }
            Response::Reply(Reply::Error { code, message })
                if code == KafkaError::StaleBrokerEpoch.code()
                    || code == KafkaError::BrokerIdNotRegistered.code() =>
            {
                tracing::warn!(%message, "controller lost this registration; registering again");
                self.register(Duration::from_secs(30)).await?;
                Ok(false)
            }
            Response::Reply(Reply::Error { code, message }) => {
                Err(MemberError::Refused { code, message })
            }
            other => Err(MemberError::Refused {
                code: KafkaError::UnknownServerError.code(),
                message: format!("unexpected heartbeat answer {other:?}"),
            }),
        }
    }

    /// Heartbeats every interval until the process ends.
    pub async fn heartbeat_loop(self: Arc<Self>) {
        loop {
            if let Err(e) = self.heartbeat_once().await {
                tracing::warn!(error = %e, "heartbeat to the controller failed");
            }
            tokio::time::sleep(self.heartbeat_interval).await;
        }
    }

    /// Waits for an image newer than `known_index` (long poll); `None` when nothing changed.
    pub async fn fetch_image(&self, known_index: u64) -> Result<Option<Image>, MemberError> {
        let wait = Duration::from_secs(5);
        match self
            .call(
                &Request::FetchImage {
                    known_index,
                    max_wait_ms: wait.as_millis() as u64,
                },
                wait,
                Duration::from_secs(10),
            )
            .await?
        {
            Response::Image(img) => Ok(img.map(|b| *b)),
            other => Err(MemberError::Refused {
                code: KafkaError::UnknownServerError.code(),
                message: format!("unexpected metadata answer {other:?}"),
            }),
        }
    }

    /// The quorum's state from the active controller.
    pub async fn describe_quorum(&self) -> Result<QuorumState, MemberError> {
        match self
            .call(
                &Request::DescribeQuorum,
                Duration::from_secs(2),
                Duration::from_secs(5),
            )
            .await?
        {
            Response::Quorum(q) => Ok(q),
            other => Err(MemberError::Refused {
                code: KafkaError::UnknownServerError.code(),
                message: format!("unexpected quorum answer {other:?}"),
            }),
        }
    }

    /// Controlled shutdown: heartbeats asking to shut down until the controller has moved
    /// this broker's leaderships away. Gives up after `patience`, or at once when no
    /// controller answers (the quorum is gone, as when a whole cluster stops); the session
    /// timeout then fences the broker instead.
    pub async fn controlled_shutdown(&self, patience: Duration) -> bool {
        self.shutting_down.store(true, Ordering::Relaxed);
        let start = Instant::now();
        while start.elapsed() < patience {
            match self.heartbeat_once().await {
                Ok(true) => return true,
                Ok(false) => {}
                Err(e @ MemberError::NoController(_)) => {
                    tracing::warn!(error = %e, "no controller for a controlled shutdown; stopping without it");
                    return false;
                }
                Err(e) => tracing::warn!(error = %e, "controlled shutdown heartbeat failed"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use tokio::net::TcpListener;

    use super::*;

    /// A controller stand-in on 127.0.0.1 answering every request with `answer()`; counts
    /// the requests it received.
    async fn fake_controller(id: i32, answer: fn() -> Response) -> (Voter, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(AtomicUsize::new(0));
        let counter = seen.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let counter = counter.clone();
                tokio::spawn(async move {
                    while let Ok(Some(_)) = read_frame::<_, Request>(&mut s).await {
                        counter.fetch_add(1, Ordering::SeqCst);
                        if write_frame(&mut s, &answer()).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        let voter = Voter {
            id,
            host: "127.0.0.1".into(),
            port: i32::from(port),
        };
        (voter, seen)
    }

    fn member(voters: Vec<Voter>, session: Duration) -> Arc<Member> {
        Member::new(
            7,
            voters,
            vec![Endpoint {
                name: "PLAINTEXT".into(),
                host: "127.0.0.1".into(),
                port: 9092,
            }],
            None,
            Duration::from_millis(100),
            session,
        )
    }

    fn alive() -> Response {
        Response::Heartbeat {
            fenced: false,
            should_shutdown: false,
        }
    }

    #[tokio::test]
    async fn leadership_is_in_doubt_until_a_heartbeat_and_again_a_session_later() {
        let (voter, _) = fake_controller(1, alive).await;
        let m = member(vec![voter], Duration::from_millis(300));
        assert!(m.leadership_in_doubt(), "fenced before the first heartbeat");
        m.heartbeat_once().await.unwrap();
        assert!(!m.leadership_in_doubt());
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            m.leadership_in_doubt(),
            "no heartbeat acknowledged for a session timeout"
        );
        m.heartbeat_once().await.unwrap();
        assert!(!m.leadership_in_doubt());
    }

    #[tokio::test]
    async fn a_fenced_answer_keeps_leadership_in_doubt() {
        let (voter, _) = fake_controller(1, || Response::Heartbeat {
            fenced: true,
            should_shutdown: false,
        })
        .await;
        let m = member(vec![voter], Duration::from_secs(30));
        m.heartbeat_once().await.unwrap();
        assert!(m.is_fenced());
        assert!(m.leadership_in_doubt());
    }

    #[tokio::test]
    async fn a_leader_hint_is_remembered_for_the_next_call() {
        let (follower, asked_follower) =
            fake_controller(1, || Response::NotLeader { leader: Some(2) }).await;
        let (leader, asked_leader) = fake_controller(2, alive).await;
        let m = member(vec![follower, leader], Duration::from_secs(30));
        m.heartbeat_once().await.unwrap();
        m.heartbeat_once().await.unwrap();
        assert_eq!(
            asked_follower.load(Ordering::SeqCst),
            1,
            "asked once, then skipped"
        );
        assert_eq!(asked_leader.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_unanswering_voter_costs_one_connect_timeout_not_the_whole_call() {
        // A listener whose accept queue is full drops further SYNs silently, as a network
        // partition does: connecting to it hangs.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let silent_port = silent.local_addr().unwrap().port();
        let mut fillers = Vec::new();
        for _ in 0..1024 {
            match tokio::time::timeout(
                Duration::from_millis(50),
                TcpStream::connect(("127.0.0.1", silent_port)),
            )
            .await
            {
                Ok(Ok(s)) => fillers.push(s),
                _ => break,
            }
        }
        let dead = Voter {
            id: 1,
            host: "127.0.0.1".into(),
            port: i32::from(silent_port),
        };
        let (leader, asked_leader) = fake_controller(2, alive).await;
        let m = member(vec![dead, leader], Duration::from_secs(30));
        let start = Instant::now();
        m.heartbeat_once().await.unwrap();
        assert!(start.elapsed() < CONNECT_TIMEOUT + Duration::from_millis(900));
        assert_eq!(asked_leader.load(Ordering::SeqCst), 1);
        drop(silent);
    }
}
