//! The controller listener and the active controller's duties.
//!
//! Every request on the listener is answered in order on its connection. Raft RPCs go to
//! openraft on any voter; broker RPCs (Submit, Heartbeat, FetchImage, DescribeQuorum) are
//! answered by the leader only, NOT_LEADER elsewhere.
//!
//! Heartbeats (Kafka's `BrokerHeartbeatManager`): the leader records when each broker was
//! last heard from; a fenced broker whose applied image has reached its own registration is
//! unfenced; a broker asking to shut down is fenced at once (its leaderships move, Kafka's
//! controlled shutdown) and told it may go. `leader_duties` fences brokers whose session
//! expired, one command per broker, and gives every broker a full session when this node
//! becomes leader so that an election never fences anyone by itself.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};

use super::wire::{read_frame, write_frame, QuorumState, Request, Response};
use super::{Quorum, Session};
use crate::cluster::image::{Command, Reply};
use crate::kafka_error::KafkaError;

/// Accepts controller connections until the process ends.
pub(super) async fn serve(listener: TcpListener, quorum: Arc<Quorum>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(connection(stream, quorum.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "controller listener accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(mut stream: TcpStream, quorum: Arc<Quorum>) {
    loop {
        let req: Request = match read_frame(&mut stream).await {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "controller connection closed");
                return;
            }
        };
        let resp = handle(&quorum, req).await;
        if write_frame(&mut stream, &resp).await.is_err() {
            return;
        }
    }
}

async fn handle(q: &Quorum, req: Request) -> Response {
    match req {
        Request::AppendEntries(r) => Response::AppendEntries(q.raft.append_entries(r).await),
        Request::Vote(r) => Response::Vote(q.raft.vote(r).await),
        Request::InstallSnapshot(r) => Response::InstallSnapshot(q.raft.install_snapshot(r).await),
        _ if !q.is_leader() => Response::NotLeader { leader: q.leader() },
        Request::Submit(cmd) => submit(q, cmd).await,
        Request::Heartbeat {
            id,
            epoch,
            metadata_index,
            want_shutdown,
        } => heartbeat(q, id, epoch, metadata_index, want_shutdown).await,
        Request::FetchImage {
            known_index,
            max_wait_ms,
        } => {
            let mut rx = q.image.clone();
            let wait = async {
                rx.wait_for(|img| img.index > known_index)
                    .await
                    .map(|img| Box::new((**img).clone()))
            };
            let limit = Duration::from_millis(max_wait_ms.min(30_000));
            match tokio::time::timeout(limit, wait).await {
                Ok(Ok(img)) => Response::Image(Some(img)),
                Ok(Err(_)) => Response::Unavailable("controller shutting down".into()),
                Err(_) => Response::Image(None),
            }
        }
        Request::DescribeQuorum => {
            let m = q.raft.metrics().borrow().clone();
            let voters = m
                .membership_config
                .membership()
                .voter_ids()
                .map(|id| {
                    let last = if id == q.node_id {
                        m.last_log_index
                    } else {
                        m.replication
                            .as_ref()
                            .and_then(|r| r.get(&id).cloned().flatten())
                            .map(|l| l.index)
                    };
                    (id, last.map_or(-1, |i| i as i64))
                })
                .collect();
            let observers = q
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .map(|(id, s)| {
                    (
                        *id,
                        s.metadata_index,
                        s.last_seen.elapsed().as_millis() as i64,
                    )
                })
                .collect();
            Response::Quorum(QuorumState {
                leader: q.node_id,
                term: m.current_term,
                high_watermark: m.last_applied.map_or(0, |l| l.index),
                voters,
                observers,
            })
        }
    }
}

/// Commits a forwarded command. A registration from a second live process claiming a node
/// id is refused before it reaches the log (the session table is the leader's memory).
async fn submit(q: &Quorum, cmd: Command) -> Response {
    if let Command::RegisterBroker {
        id, incarnation, ..
    } = &cmd
    {
        let image = q.image.borrow().clone();
        if let Some(b) = image.brokers.get(id) {
            let alive = q
                .sessions
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(id)
                .is_some_and(|s| s.last_seen.elapsed() < q.timings.broker_session);
            if &b.incarnation != incarnation && !b.fenced && alive {
                return Response::Reply(Reply::Error {
                    code: KafkaError::DuplicateBrokerRegistration.code(),
                    message: format!(
                        "node id {id} is already registered by another running broker ({}:{}); a broker with the same id may register once that one has been silent for {} ms",
                        b.host,
                        b.port,
                        q.timings.broker_session.as_millis()
                    ),
                });
            }
        }
        let resp = q.submit(cmd.clone()).await;
        if matches!(resp, Response::Reply(Reply::Registered { .. })) {
            touch(q, *id, 0);
        }
        return resp;
    }
    q.submit(cmd).await
}

fn touch(q: &Quorum, id: i32, metadata_index: u64) {
    q.sessions.lock().unwrap_or_else(|p| p.into_inner()).insert(
        id,
        Session {
            last_seen: Instant::now(),
            metadata_index,
        },
    );
}

async fn heartbeat(
    q: &Quorum,
    id: i32,
    epoch: i64,
    metadata_index: u64,
    want_shutdown: bool,
) -> Response {
    // A heartbeat renews the broker's belief that it still holds its leaderships, so only
    // a leader sure of its quorum may acknowledge it (see `Member::leadership_in_doubt`).
    if !q.leadership_confirmed() {
        return Response::NotLeader { leader: None };
    }
    let image = q.image.borrow().clone();
    let Some(b) = image.brokers.get(&id) else {
        return Response::Reply(Reply::Error {
            code: KafkaError::BrokerIdNotRegistered.code(),
            message: format!("broker {id} is not registered"),
        });
    };
    if b.epoch != epoch {
        return Response::Reply(Reply::Error {
            code: KafkaError::StaleBrokerEpoch.code(),
            message: format!("broker {id} epoch {epoch} is stale (current {})", b.epoch),
        });
    }
    touch(q, id, metadata_index);
    if want_shutdown {
        if !b.fenced {
            if let r @ (Response::NotLeader { .. } | Response::Reply(Reply::Error { .. })) =
                q.submit(Command::FenceBroker { id, epoch }).await
            {
                return r;
            }
        }
        return Response::Heartbeat {
            fenced: true,
            should_shutdown: true,
        };
    }
    let mut fenced = b.fenced;
    if fenced && metadata_index >= epoch as u64 {
        match q.submit(Command::UnfenceBroker { id, epoch }).await {
            Response::Reply(Reply::Done) => fenced = false,
            other => return other,
        }
    }
    Response::Heartbeat {
        fenced,
        should_shutdown: false,
    }
}

/// The leader's periodic work: choose the cluster id once, fence expired sessions, and every
/// leader-rebalance period move leaderships back to preferred replicas (Kafka's
/// `auto.leader.rebalance.enable`: only where the preferred replica is live and in the ISR).
pub(super) async fn leader_duties(q: Arc<Quorum>) {
    let tick =
        (q.timings.broker_session / 8).clamp(Duration::from_millis(50), Duration::from_millis(500));
    let mut was_leader = false;
    let mut last_rebalance = Instant::now();
    loop {
        tokio::time::sleep(tick).await;
        let leader = q.is_leader();
        if leader && !was_leader {
            // A new active controller: every registered broker starts with a full session.
            let image = q.image.borrow().clone();
            let now = Instant::now();
            let mut s = q.sessions.lock().unwrap_or_else(|p| p.into_inner());
            s.clear();
            for id in image.brokers.keys() {
                s.insert(
                    *id,
                    Session {
                        last_seen: now,
                        metadata_index: 0,
                    },
                );
            }
            drop(s);
            tracing::info!(node_id = q.node_id, "this node is the active controller");
        }
        was_leader = leader;
        if !leader {
            continue;
        }
        let image = q.image.borrow().clone();
        if image.cluster_id.is_empty() {
            let cluster_id = crate::store::kafka_uuid_string(uuid::Uuid::new_v4());
            let _ = q.submit(Command::Init { cluster_id }).await;
            continue;
        }
        let expired: Vec<(i32, i64)> = {
            let s = q.sessions.lock().unwrap_or_else(|p| p.into_inner());
            image
                .live_brokers()
                .filter(|b| {
                    s.get(&b.id)
                        .is_none_or(|s| s.last_seen.elapsed() >= q.timings.broker_session)
                })
                .map(|b| (b.id, b.epoch))
                .collect()
        };
        for (id, epoch) in expired {
            tracing::warn!(broker = id, epoch, "broker session expired; fencing it");
            let _ = q.submit(Command::FenceBroker { id, epoch }).await;
        }
        if let Some(period) = q.timings.leader_rebalance {
            if last_rebalance.elapsed() >= period {
                last_rebalance = Instant::now();
                for (topic, partition) in image.imbalanced_partitions() {
                    tracing::info!(
                        topic,
                        partition,
                        "moving the leadership back to the preferred replica"
                    );
                    let cmd = Command::ElectLeader {
                        topic,
                        partition,
                        unclean: false,
                    };
                    let _ = q.submit(cmd).await;
                }
            }
        }
    }
}
