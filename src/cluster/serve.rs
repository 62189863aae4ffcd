//! Requests from other nodes: Raft's RPCs, commands forwarded to the leader, membership
//! changes, status.

use super::links::{Serve, Served};
use super::node::Member;
use super::propose::Retry;
use super::raft::types::TypeConfig;
use super::wire::{Request, Response};
use super::Cluster;
use openraft::raft::{AppendEntriesRequest, AppendEntriesResponse};
use openraft::Snapshot;
use std::sync::Arc;
use std::time::Duration;

/// How long an append's answer waits for this node to apply what the append committed.
/// Applying follows the append at once; a node catching up on many entries answers
/// without waiting, and tells the rest with the next append's answer.
const APPLY_WAIT: Duration = Duration::from_millis(100);

impl Serve for Cluster {
    fn serve(self: Arc<Self>, from: Member, req: Request) -> Served {
        Box::pin(async move { self.answer(from, req).await })
    }

    fn data(&self, from: &Member, d: super::queues::data::Data) {
        self.remotes.data(from.id(), d);
    }
}

impl Cluster {
    async fn answer(&self, from: Member, req: Request) -> Result<Response, String> {
        match req {
            Request::Append(r) => Ok(self.answer_append(r).await),
            Request::Vote(r) => Ok(Response::Vote(self.raft().vote(r).await)),
            Request::Snapshot { vote, meta, data } => {
                let snapshot = Snapshot {
                    meta: *meta,
                    snapshot: data,
                };
                Ok(Response::Snapshot(
                    self.raft().install_full_snapshot(vote, snapshot).await,
                ))
            }
            Request::Propose(entry) => match self.on_leader(entry).await {
                Ok((index, reply)) => Ok(Response::Proposed(index, reply)),
                Err(Retry::Forward(_)) => Err(format!("{} is not the leader", self.me.name)),
                Err(Retry::Fatal(e)) => Err(e),
            },
            Request::Join { member, ram } => {
                tracing::debug!("{} asks to add {}", from.name, member.name);
                self.add_member(member, ram).await.map(|()| Response::Done)
            }
            Request::SetVoter { member, voter } => {
                (self.set_voter_of(member, voter).await).map(|()| Response::Done)
            }
            Request::Forget { name } => self.forget(&name).await.map(|()| Response::Done),
            Request::Status => Ok(Response::Status(self.status())),
            // What the leader had committed, once a quorum confirmed it leads.
            Request::LastApplied => self.committed_here().await.map_err(|e| e.to_string()),
            Request::Figures => Ok(Response::Figures(
                crate::broker::node_figures::node_figures(&self.broker).await,
            )),
            Request::Get { q, holder } => self.remotes.serve_get(from.id(), q, holder).await,
            Request::Purge(q) => self.remotes.serve_purge(q).await,
            Request::Sync { q, start } => self.remotes.serve_sync(q, start).await,
            Request::Reports(qs) => Ok(self.remotes.serve_reports(&qs)),
            Request::MirrorInSync(q) => Ok(Response::Index(self.remotes.mirror_in_sync(&q) as u64)),
        }
    }
}

impl Cluster {
    /// Takes an append from the leader and answers once this node has applied what it
    /// committed, with the index applied here: the leader learns from it when a change is
    /// done here (`Cluster::applied_everywhere`).
    async fn answer_append(&self, r: AppendEntriesRequest<TypeConfig>) -> Response {
        let last = (r.entries.last().map(|e| e.log_id)).or(r.prev_log_id);
        let committed = r.leader_commit.zip(last).map(|(c, l)| c.index.min(l.index));
        let outcome = self.raft().append_entries(r).await;
        if let (Ok(AppendEntriesResponse::Success), Some(upto)) = (&outcome, committed) {
            self.waiters.applied_at_least(upto, APPLY_WAIT).await;
        }
        Response::Append(outcome, self.waiters.last_applied())
    }
}
