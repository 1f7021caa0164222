//! openraft's network: each controller reaches each other voter over one TCP connection to
//! its controller listener, one RPC at a time (openraft sends to one target sequentially).
//! A failed RPC drops the connection; the next one reconnects. Unreachable peers are
//! reported as such so openraft backs off instead of spinning.

use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;
use tokio::net::TcpStream;

use super::wire::{read_frame, write_frame, Request, Response};
use super::TypeConfig;

/// Makes one [`PeerClient`] per target voter.
pub struct Network;

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerClient;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> PeerClient {
        PeerClient {
            target,
            addr: node.addr.clone(),
            conn: None,
        }
    }
}

/// The connection to one peer controller.
pub struct PeerClient {
    target: u64,
    addr: String,
    conn: Option<TcpStream>,
}

/// Why one round trip failed.
enum CallError {
    /// Could not connect.
    Unreachable(std::io::Error),
    /// Connected, but the exchange failed or timed out.
    Network(std::io::Error),
}

impl PeerClient {
    async fn call(&mut self, req: &Request, ttl: Duration) -> Result<Response, CallError> {
        if self.conn.is_none() {
            let s = tokio::time::timeout(ttl, TcpStream::connect(&self.addr))
                .await
                .map_err(|_| {
                    CallError::Unreachable(std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("connect to {} timed out", self.addr),
                    ))
                })?
                .map_err(CallError::Unreachable)?;
            let _ = s.set_nodelay(true);
            self.conn = Some(s);
        }
        let conn = self.conn.as_mut().expect("connected above");
        let exchange = async {
            write_frame(conn, req).await?;
            read_frame::<_, Response>(conn).await?.ok_or_else(|| {
                std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "peer closed")
            })
        };
        match tokio::time::timeout(ttl, exchange).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.conn = None;
                Err(CallError::Network(e))
            }
            Err(_) => {
                self.conn = None;
                Err(CallError::Network(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "controller RPC timed out",
                )))
            }
        }
    }

    fn rpc_error<E: std::error::Error>(e: CallError) -> RPCError<u64, BasicNode, E> {
        match e {
            CallError::Unreachable(e) => RPCError::Unreachable(Unreachable::new(&e)),
            CallError::Network(e) => RPCError::Network(NetworkError::new(&e)),
        }
    }

    fn unexpected<E: std::error::Error>(r: Response) -> RPCError<u64, BasicNode, E> {
        let e = std::io::Error::other(format!("unexpected controller response: {r:?}"));
        RPCError::Network(NetworkError::new(&e))
    }
}

impl RaftNetwork<TypeConfig> for PeerClient {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self
            .call(&Request::AppendEntries(rpc), option.hard_ttl())
            .await
            .map_err(Self::rpc_error)?
        {
            Response::AppendEntries(Ok(r)) => Ok(r),
            Response::AppendEntries(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(Self::unexpected(other)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        match self
            .call(&Request::InstallSnapshot(rpc), option.hard_ttl())
            .await
            .map_err(Self::rpc_error)?
        {
            Response::InstallSnapshot(Ok(r)) => Ok(r),
            Response::InstallSnapshot(Err(e)) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            other => Err(Self::unexpected(other)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self
            .call(&Request::Vote(rpc), option.hard_ttl())
            .await
            .map_err(Self::rpc_error)?
        {
            Response::Vote(Ok(r)) => Ok(r),
            Response::Vote(Err(e)) => Err(RPCError::RemoteError(RemoteError::new(self.target, e))),
            other => Err(Self::unexpected(other)),
        }
    }
}
