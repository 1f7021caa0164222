//! The controller listener's protocol: length-prefixed JSON frames, one request and one
//! response per frame, in order on a connection. Carries openraft's own RPCs between
//! controllers and the broker ↔ controller RPCs (registration, heartbeats, metadata pulls,
//! forwarded admin commands). Private to the cluster: no client ever speaks it.
//!
//! Frame: `u32` big-endian length, then that many bytes of JSON. A frame over
//! [`MAX_FRAME`] closes the connection.

use openraft::error::{InstallSnapshotError, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::TypeConfig;
use crate::cluster::image::{Command, Image, Reply};

/// Largest frame either side accepts (a metadata image of many thousand partitions fits).
pub const MAX_FRAME: usize = 64 << 20;

#[derive(Debug, Serialize, Deserialize)]
pub enum Request {
    AppendEntries(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<u64>),
    InstallSnapshot(InstallSnapshotRequest<TypeConfig>),
    /// A change for the quorum (admin requests forwarded by brokers, registrations).
    Submit(Command),
    /// A broker's liveness and progress (Kafka's BrokerHeartbeat).
    Heartbeat {
        id: i32,
        epoch: i64,
        /// The image index the broker has applied.
        metadata_index: u64,
        want_shutdown: bool,
    },
    /// The image once its index passes `known_index`, waiting up to `max_wait_ms`.
    FetchImage {
        known_index: u64,
        max_wait_ms: u64,
    },
    /// The quorum's state, for DescribeQuorum.
    DescribeQuorum,
}

#[derive(Debug, Serialize, Deserialize)]
pub enum Response {
    AppendEntries(Result<AppendEntriesResponse<u64>, RaftError<u64>>),
    Vote(Result<VoteResponse<u64>, RaftError<u64>>),
    InstallSnapshot(Result<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>>),
    Reply(Reply),
    Heartbeat {
        fenced: bool,
        should_shutdown: bool,
    },
    /// `None`: nothing newer within the wait.
    Image(Option<Box<Image>>),
    Quorum(QuorumState),
    /// This controller is not the active one; try `leader` (a node id) if known.
    NotLeader {
        leader: Option<u64>,
    },
    /// The request cannot be served now (shutting down, storage error); retry elsewhere.
    Unavailable(String),
}

/// The quorum as the active controller sees it (DescribeQuorum).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QuorumState {
    pub leader: u64,
    pub term: u64,
    /// Index of the last committed entry.
    pub high_watermark: u64,
    /// Per voter: (id, last log index the leader knows it holds, -1 unknown).
    pub voters: Vec<(u64, i64)>,
    /// Per broker: (id, image index it last reported, ms since its last heartbeat).
    pub observers: Vec<(i32, u64, i64)>,
}

/// Writes one frame.
pub async fn write_frame<W: AsyncWriteExt + Unpin, T: Serialize>(
    w: &mut W,
    msg: &T,
) -> std::io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(std::io::Error::other)?;
    if body.len() > MAX_FRAME {
        return Err(std::io::Error::other("controller frame too large"));
    }
    let mut buf = Vec::with_capacity(4 + body.len());
    buf.extend_from_slice(&(body.len() as u32).to_be_bytes());
    buf.extend_from_slice(&body);
    w.write_all(&buf).await?;
    w.flush().await
}

/// Reads one frame; `Ok(None)` at a clean end of stream.
pub async fn read_frame<R: AsyncReadExt + Unpin, T: DeserializeOwned>(
    r: &mut R,
) -> std::io::Result<Option<T>> {
    let mut len = [0u8; 4];
    match r.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_be_bytes(len) as usize;
    if len > MAX_FRAME {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("controller frame of {len} bytes is over the limit"),
        ));
    }
    // Allocation follows the bytes that actually arrive, not the length a peer claims.
    let mut body = Vec::with_capacity(len.min(64 * 1024));
    (&mut *r).take(len as u64).read_to_end(&mut body).await?;
    if body.len() != len {
        return Err(std::io::ErrorKind::UnexpectedEof.into());
    }
    serde_json::from_slice(&body)
        .map(Some)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}
