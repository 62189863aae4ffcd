//! openraft's network over the inter-node links: each RPC is a request on the link to the
//! target node, answered in kind. An append's answer also says how far the target has
//! applied the log, kept in [`Applied`].

use super::types::{TypeConfig, Vote};
use crate::cluster::applied::Applied;
use crate::cluster::links::{LinkError, Links};
use crate::cluster::node::{Member, NodeId};
use crate::cluster::wire::{Request, Response};
use openraft::error::{
    Fatal, NetworkError, RPCError, RaftError, RemoteError, ReplicationClosed, StreamingError,
    Unreachable,
};
use openraft::network::RPCOption;
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use openraft::{AnyError, OptionalSend, RaftNetwork, RaftNetworkFactory, Snapshot};
use std::future::Future;
use std::sync::Arc;

#[derive(Clone)]
pub(crate) struct Network {
    pub(crate) links: Arc<Links>,
    pub(crate) applied: Arc<Applied>,
}

pub(crate) struct Client {
    links: Arc<Links>,
    applied: Arc<Applied>,
    target: NodeId,
    node: Member,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Client;

    async fn new_client(&mut self, target: NodeId, node: &Member) -> Client {
        Client {
            links: self.links.clone(),
            applied: self.applied.clone(),
            target,
            node: node.clone(),
        }
    }
}

type RpcError<E = openraft::error::Infallible> = RPCError<NodeId, Member, RaftError<NodeId, E>>;

fn any(e: &LinkError) -> AnyError {
    AnyError::error(e.to_string())
}

impl Client {
    async fn call(&self, req: Request, option: &RPCOption) -> Result<Response, LinkError> {
        self.links.request(&self.node, req, option.hard_ttl()).await
    }

    fn unexpected<E: std::error::Error>(&self) -> RPCError<NodeId, Member, E> {
        RPCError::Network(NetworkError::from(AnyError::error(format!(
            "{} answered with the wrong kind of response",
            self.node.name
        ))))
    }
}

fn rpc_error<E: std::error::Error>(e: LinkError) -> RPCError<NodeId, Member, E> {
    match e {
        LinkError::Unreachable(_) | LinkError::Closed(_) => {
            RPCError::Unreachable(Unreachable::from(any(&e)))
        }
        _ => RPCError::Network(NetworkError::from(any(&e))),
    }
}

impl RaftNetwork<TypeConfig> for Client {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RpcError> {
        match self.call(Request::Append(rpc), &option).await {
            Ok(Response::Append(r, applied)) => {
                self.applied.report(self.target, applied);
                r.map_err(|e| RemoteError::new(self.target, e).into())
            }
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(rpc_error(e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RpcError> {
        match self.call(Request::Vote(rpc), &option).await {
            Ok(Response::Vote(r)) => r.map_err(|e| RemoteError::new(self.target, e).into()),
            Ok(_) => Err(self.unexpected()),
            Err(e) => Err(rpc_error(e)),
        }
    }

    async fn full_snapshot(
        &mut self,
        vote: Vote,
        snapshot: Snapshot<TypeConfig>,
        _cancel: impl Future<Output = ReplicationClosed> + OptionalSend + 'static,
        option: RPCOption,
    ) -> Result<SnapshotResponse<NodeId>, StreamingError<TypeConfig, Fatal<NodeId>>> {
        let req = Request::Snapshot {
            vote,
            meta: Box::new(snapshot.meta),
            data: snapshot.snapshot,
        };
        match self.call(req, &option).await {
            Ok(Response::Snapshot(r)) => r.map_err(|e| RemoteError::new(self.target, e).into()),
            Ok(_) => Err(StreamingError::Network(NetworkError::from(
                AnyError::error("wrong kind of response to a snapshot"),
            ))),
            Err(e @ (LinkError::Unreachable(_) | LinkError::Closed(_))) => {
                Err(StreamingError::Unreachable(Unreachable::from(any(&e))))
            }
            Err(e) => Err(StreamingError::Network(NetworkError::from(any(&e)))),
        }
    }
}
