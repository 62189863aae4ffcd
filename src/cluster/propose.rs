//! Commands through the replicated log: a node appends on the leader (itself, or by
//! forwarding over its link to the leader), then waits until it applied the entry itself,
//! so what the client sees next on this node includes its own change.

use super::wire::{Request, Response};
use super::Cluster;
use crate::broker::command::{CommandError, CommandResult};
use crate::broker::replicated::{Logged, Replicator, Reply, ReplyFuture};
use openraft::error::{ClientWriteError, RaftError};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a command waits for a leader before it is refused.
const NO_LEADER_AFTER: Duration = Duration::from_secs(10);

/// Why a command could not be appended now.
#[derive(Clone)]
pub(super) enum Retry {
    /// The leader is elsewhere (and known, or not yet).
    Forward(Option<super::node::Member>),
    Fatal(String),
}

/// How long the leader waits for a running member to apply a change before answering
/// without it.
const APPLY_EVERYWHERE_WAIT: Duration = Duration::from_secs(2);

impl Cluster {
    /// Appends commands as one entry on this node, if it leads: the entry's index and each
    /// command's outcome.
    pub(super) async fn append(
        &self,
        entry: Vec<Logged>,
    ) -> Result<(u64, Vec<CommandResult<Reply>>), Retry> {
        match self.raft().client_write(entry).await {
            Ok(r) => Ok((r.log_id.index, r.data)),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(Retry::Forward(f.leader_node))
            }
            Err(e) => Err(Retry::Fatal(e.to_string())),
        }
    }

    /// Waits until every running member applied the log up to `index` (as RabbitMQ's
    /// metadata changes are done on every node when the client hears of them), as their
    /// answers to appends tell; a member that has not in time is not waited for.
    pub(super) async fn applied_everywhere(&self, index: u64) {
        let others = self.running_peers();
        (self.applied)
            .wait(&others, index, APPLY_EVERYWHERE_WAIT)
            .await;
    }

    /// Proposes an entry and answers with this node's outcome of applying it (the
    /// leader's, should this node's not come).
    async fn propose_entry(self: Arc<Self>, mut entry: Logged) -> CommandResult<Reply> {
        let (n, here) = self.waiters.register(&mut entry);
        let leaders = match self.clone().commit(entry).await {
            Ok(reply) => reply,
            Err(e) => {
                self.waiters.forget(n);
                return Err(e);
            }
        };
        match tokio::time::timeout(NO_LEADER_AFTER, here).await {
            Ok(Ok(reply)) => reply,
            _ => leaders,
        }
    }

    /// Appends an entry on the leader (here, or forwarded) and waits until this node
    /// applied it: the leader's outcome, or why it was not committed.
    async fn commit(self: Arc<Self>, entry: Logged) -> CommandResult<CommandResult<Reply>> {
        let started = Instant::now();
        loop {
            let leader = match self.on_leader(entry.clone()).await {
                Ok((_, reply)) => return Ok(reply),
                Err(Retry::Fatal(e)) => return Err(CommandError::Internal(e)),
                Err(Retry::Forward(leader)) => leader,
            };
            if let Some(leader) = leader {
                let req = Request::Propose(entry.clone());
                let answer = self.links.request(&leader, req, NO_LEADER_AFTER).await;
                if let Ok(Response::Proposed(index, reply)) = answer {
                    self.wait_applied(index).await?;
                    return Ok(reply);
                }
            }
            if started.elapsed() > NO_LEADER_AFTER {
                return Err(CommandError::Internal(
                    "no cluster leader: a majority of the disc nodes is not reachable".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until this node applied the log up to `index`.
    pub(super) async fn wait_applied(&self, index: u64) -> CommandResult<()> {
        if self.waiters.applied_at_least(index, NO_LEADER_AFTER).await {
            return Ok(());
        }
        Err(CommandError::Internal(format!(
            "not applied on this node: log index {index} not reached in {NO_LEADER_AFTER:?}"
        )))
    }
}

impl Replicator for Cluster {
    fn propose(&self, entry: Logged) -> ReplyFuture {
        match self.this() {
            Some(me) => Box::pin(me.propose_entry(entry)),
            None => Box::pin(async { Err(CommandError::Internal("the cluster stopped".into())) }),
        }
    }

    fn node(&self) -> &str {
        &self.me.name
    }

    fn home(&self, node: &str) -> Option<std::sync::Arc<dyn crate::queue::Home>> {
        (node != self.me.name).then(|| self.remotes.home(node) as _)
    }

    fn mirror_links(&self) -> Arc<dyn crate::queue::mirror::MirrorLinks> {
        self.remotes.clone()
    }

    fn running_nodes(&self) -> Vec<String> {
        self.status()
            .members
            .into_iter()
            .filter(|m| m.running)
            .map(|m| m.name)
            .collect()
    }
}
