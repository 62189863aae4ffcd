//! What travels on an inter-node link: frames of a 4-byte big-endian length and a JSON
//! message, bounded in size; requests carry an id their response repeats.

use super::node::{Member, NodeId};
use super::raft::types::{SnapshotData, TypeConfig};
use crate::broker::command::CommandError;
use crate::broker::replicated::{Logged, Reply};
use openraft::error::{Fatal, RaftError};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, SnapshotResponse, VoteRequest, VoteResponse,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The largest frame a link accepts (a metadata snapshot of a very large broker fits).
pub(crate) const MAX_FRAME: u32 = 64 << 20;

#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Message {
    Request {
        id: u64,
        body: Box<Request>,
    },
    Response {
        id: u64,
        body: Box<Result<Response, String>>,
    },
    /// Sent on an idle link, so the peer knows this node is alive.
    Tick,
}

#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Request {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot {
        vote: openraft::Vote<NodeId>,
        meta: Box<openraft::SnapshotMeta<NodeId, Member>>,
        data: Box<SnapshotData>,
    },
    /// A command for the leader to append.
    Propose(Logged),
    /// Add this node to the cluster (a disc node votes, a RAM node follows).
    Join {
        member: Member,
        ram: bool,
    },
    /// Remove a node from the cluster.
    Forget {
        name: String,
    },
    /// The cluster as the receiving node sees it.
    Status,
    /// Answer once this log index is applied here.
    Applied(u64),
    /// The receiving node's figures (memory, disk, fds...).
    Figures,
}

#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Response {
    Append(Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<SnapshotResponse<NodeId>, Fatal<NodeId>>),
    /// The log index the command was applied at, and its outcome.
    Proposed(u64, Result<Reply, CommandError>),
    Done,
    Status(super::status::Status),
    Figures(crate::broker::node_figures::NodeFigures),
}

/// Writes one frame (not flushed).
pub(crate) async fn write<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &impl Serialize,
) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let len = u32::try_from(body.len())
        .ok()
        .filter(|&l| l <= MAX_FRAME)
        .ok_or_else(|| io::Error::other(format!("a {} byte frame is too large", body.len())))?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(&body).await
}

/// Reads one frame of at most `max` bytes.
pub(crate) async fn read<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    max: u32,
) -> io::Result<T> {
    let len = r.read_u32().await?;
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {len} byte frame is larger than the {max} allowed"),
        ));
    }
    let mut body = vec![0; len as usize];
    r.read_exact(&mut body).await?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
