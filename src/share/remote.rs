//! Cluster mode's [`Persister`]: share-partition state kept by the share group's coordinator
//! (the leader of the group's `__consumer_offsets` partition, `offsets_topic::share`).
//!
//! Each call finds the coordinator in the latest metadata image: this broker → the local
//! offsets topic directly; another broker → ReadShareGroupState (84) / WriteShareGroupState
//! (85) v0 over a `cluster::peer` connection (one idle connection per broker kept). The
//! request carries the whole state (start offset and every in-flight range), which replaces
//! the stored one — Runnel's coordinator does not merge batches as Kafka's does; both ends are
//! Runnel. NOT_COORDINATOR, COORDINATOR_LOAD_IN_PROGRESS, an unreachable coordinator or a
//! failed append are retried — the coordinator found again each time — until `RETRY_BOUND`;
//! fencing errors are final. Blocking: the share-partition manager calls it off the async
//! workers, and remote calls wait on the runtime.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kafka_protocol::messages::{
    read_share_group_state_request, write_share_group_state_request, ReadShareGroupStateRequest,
    WriteShareGroupStateRequest,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::manager::ShareKey;
use super::partition::{RecordState, Snapshot, StateRange};
use super::persister::{Persister, StateError};
use crate::cluster::controller::Controller;
use crate::cluster::peer::Peer;
use crate::cluster::OFFSETS_TOPIC;
use crate::offsets_topic::OffsetsTopic;

/// Read/WriteShareGroupState version brokers exchange (Kafka 4.1 has v0 only).
pub const SHARE_STATE_VERSION: i16 = 0;
/// How long one call keeps finding the coordinator and retrying.
const RETRY_BOUND: Duration = Duration::from_secs(15);
/// Pause between attempts.
const RETRY_BACKOFF: Duration = Duration::from_millis(200);
/// How long one remote exchange may take (the coordinator waits for acks=all).
const CALL_TIMEOUT: Duration = Duration::from_secs(35);
/// Largest response accepted.
const MAX_FRAME: usize = 16 << 20;

/// Share state through the share coordinator (see the module header).
pub struct ClusterPersister {
    node_id: i32,
    controller: Arc<Controller>,
    offsets: Arc<OffsetsTopic>,
    idle: Mutex<HashMap<i32, Peer>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The wire batches of a state.
pub fn to_wire_batches(s: &Snapshot) -> Vec<write_share_group_state_request::StateBatch> {
    s.ranges
        .iter()
        .map(|r| {
            write_share_group_state_request::StateBatch::default()
                .with_first_offset(r.first)
                .with_last_offset(r.last)
                .with_delivery_state(r.state as u8 as i8)
                .with_delivery_count(r.delivery_count)
        })
        .collect()
}

/// A state from wire fields; an unknown delivery state is an error.
pub fn from_wire(
    state_epoch: i32,
    start_offset: i64,
    batches: impl Iterator<Item = (i64, i64, i8, i16)>,
) -> Result<Snapshot, String> {
    let mut ranges = Vec::new();
    for (first, last, state, delivery_count) in batches {
        let state = RecordState::from_persisted(state as u8)
            .ok_or_else(|| format!("unknown delivery state {state}"))?;
        if last < first {
            return Err(format!("state batch {first}..{last} is empty"));
        }
        ranges.push(StateRange {
            first,
            last,
            state,
            delivery_count,
        });
    }
    Ok(Snapshot {
        state_epoch,
        start_offset,
        ranges,
    })
}

/// Where the coordinator of a group is.
enum Coordinator {
    Local,
    Remote(i32),
}

impl ClusterPersister {
    pub fn new(node_id: i32, controller: Arc<Controller>, offsets: Arc<OffsetsTopic>) -> Self {
        ClusterPersister {
            node_id,
            controller,
            offsets,
            idle: Mutex::new(HashMap::new()),
        }
    }

    fn coordinator(
        &self,
        group: &str,
    ) -> Result<(Coordinator, Arc<crate::cluster::image::Image>), StateError> {
        let member = self
            .controller
            .member()
            .ok_or_else(|| StateError::Unavailable("not a cluster member yet".into()))?;
        let image = member.image();
        let t = image.topics.get(OFFSETS_TOPIC).ok_or_else(|| {
            StateError::Unavailable("the offsets topic does not exist yet".into())
        })?;
        let p = crate::group::offsets_partition(group, t.partitions.len() as i32);
        let leader = t
            .partitions
            .iter()
            .find(|x| x.index == p)
            .map_or(-1, |x| x.leader);
        if leader < 0 {
            return Err(StateError::Unavailable(format!(
                "offsets partition {p} has no leader"
            )));
        }
        let c = if leader == self.node_id {
            Coordinator::Local
        } else {
            Coordinator::Remote(leader)
        };
        Ok((c, image))
    }

    /// Runs `once` until it succeeds, fails for good, or `RETRY_BOUND` passes.
    fn retrying<T>(
        &self,
        group: &str,
        mut once: impl FnMut(Coordinator, &crate::cluster::image::Image) -> Result<T, StateError>,
    ) -> Result<T, StateError> {
        let deadline = Instant::now() + RETRY_BOUND;
        loop {
            let r = self
                .coordinator(group)
                .and_then(|(c, image)| once(c, &image));
            match r {
                Err(e) if e.is_retriable() && Instant::now() + RETRY_BACKOFF < deadline => {
                    tracing::debug!(group, error = %e, "share state call failed; finding the coordinator again");
                    std::thread::sleep(RETRY_BACKOFF);
                }
                other => return other,
            }
        }
    }

    /// One remote exchange with broker `id`, on its idle connection or a new one.
    fn call<R: kafka_protocol::protocol::Request>(
        &self,
        image: &crate::cluster::image::Image,
        id: i32,
        req: &R,
    ) -> Result<R::Response, StateError> {
        let peer = lock(&self.idle).remove(&id);
        let client_id = format!("runnel-share-persister-{}", self.node_id);
        let rt = tokio::runtime::Handle::current();
        let r = rt.block_on(async {
            let mut peer = match peer {
                Some(p) => p,
                None => Peer::open_broker(image, id, client_id).await?,
            };
            let resp = peer
                .call(req, SHARE_STATE_VERSION, MAX_FRAME, CALL_TIMEOUT)
                .await?;
            Ok::<_, std::io::Error>((peer, resp))
        });
        match r {
            Ok((peer, resp)) => {
                lock(&self.idle).insert(id, peer);
                Ok(resp)
            }
            Err(e) => Err(StateError::Unavailable(format!(
                "share coordinator on broker {id}: {e}"
            ))),
        }
    }
}

impl Persister for ClusterPersister {
    fn shared(&self) -> bool {
        true
    }

    fn initialize_at_zero(&self, group: &str, added: &[(Uuid, i32)]) -> Result<(), StateError> {
        self.offsets.initialize_share_states(group, added)
    }

    fn read(&self, key: &ShareKey, leader_epoch: i32) -> Result<Option<Snapshot>, StateError> {
        let k = (key.group.to_string(), key.topic_id, key.partition);
        self.retrying(&key.group, |c, image| match c {
            Coordinator::Local => self.offsets.read_share_state(&k, leader_epoch).map(Some),
            Coordinator::Remote(id) => {
                let req = ReadShareGroupStateRequest::default()
                    .with_group_id(StrBytes::from_string(k.0.clone()))
                    .with_topics(vec![
                        read_share_group_state_request::ReadStateData::default()
                            .with_topic_id(k.1)
                            .with_partitions(vec![
                                read_share_group_state_request::PartitionData::default()
                                    .with_partition(k.2)
                                    .with_leader_epoch(leader_epoch),
                            ]),
                    ]);
                let resp = self.call(image, id, &req)?;
                let p = resp
                    .results
                    .iter()
                    .filter(|t| t.topic_id == k.1)
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.partition == k.2)
                    .ok_or_else(|| {
                        StateError::Unavailable(format!("broker {id} did not answer the partition"))
                    })?;
                if p.error_code != 0 {
                    let msg = p.error_message.as_ref().map_or("", |m| m.as_str());
                    return Err(StateError::from_code(p.error_code, msg.to_string()));
                }
                from_wire(
                    p.state_epoch,
                    p.start_offset,
                    p.state_batches.iter().map(|b| {
                        (
                            b.first_offset,
                            b.last_offset,
                            b.delivery_state,
                            b.delivery_count,
                        )
                    }),
                )
                .map(Some)
                .map_err(StateError::Unavailable)
            }
        })
    }

    fn write(&self, key: &ShareKey, leader_epoch: i32, state: &Snapshot) -> Result<(), StateError> {
        let k = (key.group.to_string(), key.topic_id, key.partition);
        self.retrying(&key.group, |c, image| match c {
            Coordinator::Local => self
                .offsets
                .write_share_state(&k, leader_epoch, state.clone()),
            Coordinator::Remote(id) => {
                let req = WriteShareGroupStateRequest::default()
                    .with_group_id(StrBytes::from_string(k.0.clone()))
                    .with_topics(vec![
                        write_share_group_state_request::WriteStateData::default()
                            .with_topic_id(k.1)
                            .with_partitions(vec![
                                write_share_group_state_request::PartitionData::default()
                                    .with_partition(k.2)
                                    .with_state_epoch(state.state_epoch)
                                    .with_leader_epoch(leader_epoch)
                                    .with_start_offset(state.start_offset)
                                    .with_state_batches(to_wire_batches(state)),
                            ]),
                    ]);
                let resp = self.call(image, id, &req)?;
                let p = resp
                    .results
                    .iter()
                    .filter(|t| t.topic_id == k.1)
                    .flat_map(|t| &t.partitions)
                    .find(|p| p.partition == k.2)
                    .ok_or_else(|| {
                        StateError::Unavailable(format!("broker {id} did not answer the partition"))
                    })?;
                if p.error_code != 0 {
                    let msg = p.error_message.as_ref().map_or("", |m| m.as_str());
                    return Err(StateError::from_code(p.error_code, msg.to_string()));
                }
                Ok(())
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_batches_round_trip_and_bad_ones_are_refused() {
        let s = Snapshot {
            state_epoch: 4,
            start_offset: 10,
            ranges: vec![
                StateRange {
                    first: 10,
                    last: 12,
                    state: RecordState::Acknowledged,
                    delivery_count: 1,
                },
                StateRange {
                    first: 13,
                    last: 13,
                    state: RecordState::Available,
                    delivery_count: 2,
                },
                StateRange {
                    first: 14,
                    last: 20,
                    state: RecordState::Archived,
                    delivery_count: 5,
                },
            ],
        };
        let wire = to_wire_batches(&s);
        assert_eq!(
            wire.iter().map(|b| b.delivery_state).collect::<Vec<_>>(),
            vec![2, 0, 4]
        );
        let back = from_wire(
            4,
            10,
            wire.iter().map(|b| {
                (
                    b.first_offset,
                    b.last_offset,
                    b.delivery_state,
                    b.delivery_count,
                )
            }),
        )
        .unwrap();
        assert_eq!(back, s);
        // ACQUIRED (1) is never persisted; 3 is no state; an inverted range is empty.
        for bad in [(0, 1, 1i8, 1i16), (0, 1, 3, 1), (5, 4, 2, 1)] {
            assert!(from_wire(0, 0, std::iter::once(bad)).is_err(), "{bad:?}");
        }
    }
}
