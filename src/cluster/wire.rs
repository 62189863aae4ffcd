//! What travels on an inter-node link: frames of a 4-byte big-endian length and a JSON
//! message, bounded in size; requests carry an id their response repeats.

use super::node::{Member, NodeId};
use super::queues::data::{Carried, Data, QueueId};
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
    /// Make a member a voter (disc node) or a learner (RAM node).
    SetVoter {
        member: Member,
        voter: bool,
    },
    /// Remove a node from the cluster.
    Forget {
        name: String,
    },
    /// The cluster as the receiving node sees it.
    Status,
    /// The last log index the receiving node applied.
    LastApplied,
    /// The receiving node's figures (memory, disk, fds...).
    Figures,
    /// `basic.get` from a queue homed at the receiving node, for `holder` of the sender
    /// (none: no-ack).
    Get {
        q: QueueId,
        holder: Option<u64>,
    },
    Purge(QueueId),
    /// Starts (`start`) or cancels the sync of the mirrors of a queue mastered at the
    /// receiving node: `Response::Index` with how many.
    Sync {
        q: QueueId,
        start: bool,
    },
    /// What the management API shows of queues homed at the receiving node.
    Reports(Vec<QueueId>),
    /// Whether the receiving node's mirror of the queue holds what its master counted it
    /// synchronised for (`Response::Index` 1) or not (0): a node that restarted since, or
    /// was resumed, does not.
    MirrorInSync(QueueId),
}

#[derive(Serialize, Deserialize, Debug)]
pub(crate) enum Response {
    /// The append's outcome, and the last log index the answering node has applied.
    Append(
        Result<AppendEntriesResponse<NodeId>, RaftError<NodeId>>,
        u64,
    ),
    Vote(Result<VoteResponse<NodeId>, RaftError<NodeId>>),
    Snapshot(Result<SnapshotResponse<NodeId>, Fatal<NodeId>>),
    /// The log index the command was applied at, and its outcome.
    Proposed(u64, Result<Reply, CommandError>),
    Done,
    Index(u64),
    Status(super::status::Status),
    Figures(crate::broker::node_figures::NodeFigures),
    /// The head message, its redelivered flag, position and the messages left; `None`:
    /// the queue is empty.
    Got(Option<(Carried, bool, u64, u32)>),
    Purged(u32),
    Reports(Vec<Option<crate::queue::Report>>),
}

/// What a link's writer sends: a control message (JSON) or queue traffic (binary), the
/// latter held back until its gate (if any) passes.
pub(crate) enum Out {
    Control(Message),
    Data(Data, Option<crate::queue::mirror::Gate>),
}

/// What a link's reader received.
pub(crate) enum In {
    Control(Message),
    Data(Data),
}

/// Set in a frame's length for a data frame (postcard); frames are far smaller than this.
const DATA: u32 = 1 << 31;

/// Writes one frame (not flushed).
pub(crate) async fn write_out<W: AsyncWrite + Unpin>(w: &mut W, out: &Out) -> io::Result<()> {
    match out {
        Out::Control(m) => write(w, m).await,
        Out::Data(d, _) => {
            let body = postcard::to_stdvec(d).map_err(io::Error::other)?;
            let len = checked_len(body.len())?;
            w.write_all(&(len | DATA).to_be_bytes()).await?;
            w.write_all(&body).await
        }
    }
}

fn checked_len(len: usize) -> io::Result<u32> {
    u32::try_from(len)
        .ok()
        .filter(|&l| l <= MAX_FRAME)
        .ok_or_else(|| io::Error::other(format!("a {len} byte frame is too large")))
}

/// Reads one frame, control or data, of at most `max` bytes.
pub(crate) async fn read_in<R: AsyncRead + Unpin>(r: &mut R, max: u32) -> io::Result<In> {
    let word = r.read_u32().await?;
    let body = read_body(r, word & !DATA, max).await?;
    let invalid = |e: String| io::Error::new(io::ErrorKind::InvalidData, e);
    if word & DATA != 0 {
        postcard::from_bytes(&body)
            .map(In::Data)
            .map_err(|e| invalid(e.to_string()))
    } else {
        serde_json::from_slice(&body)
            .map(In::Control)
            .map_err(|e| invalid(e.to_string()))
    }
}

async fn read_body<R: AsyncRead + Unpin>(r: &mut R, len: u32, max: u32) -> io::Result<Vec<u8>> {
    if len > max {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("a {len} byte frame is larger than the {max} allowed"),
        ));
    }
    let mut body = vec![0; len as usize];
    r.read_exact(&mut body).await?;
    Ok(body)
}

/// Writes one frame (not flushed).
pub(crate) async fn write<W: AsyncWrite + Unpin>(
    w: &mut W,
    msg: &impl Serialize,
) -> io::Result<()> {
    let body = serde_json::to_vec(msg).map_err(io::Error::other)?;
    let len = checked_len(body.len())?;
    w.write_all(&len.to_be_bytes()).await?;
    w.write_all(&body).await
}

/// Reads one frame of at most `max` bytes.
pub(crate) async fn read<R: AsyncRead + Unpin, T: DeserializeOwned>(
    r: &mut R,
    max: u32,
) -> io::Result<T> {
    let len = r.read_u32().await?;
    let body = read_body(r, len, max).await?;
    serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}
