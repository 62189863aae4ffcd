//! Requests from other nodes: Raft's RPCs, commands forwarded to the leader, membership
//! changes, status.

use super::links::{Serve, Served};
use super::node::Member;
use super::propose::Retry;
use super::wire::{Request, Response};
use super::Cluster;
use openraft::Snapshot;
use std::sync::Arc;

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
            Request::Append(r) => Ok(Response::Append(self.raft().append_entries(r).await)),
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
            Request::Applied(index) => {
                let waited = self.wait_applied(index).await;
                waited.map(|()| Response::Done).map_err(|e| e.to_string())
            }
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
