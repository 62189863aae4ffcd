//! Forming, joining and leaving the cluster. Membership changes run on the leader (a node
//! asked forwards them there): a joining disc node is added as a learner, caught up, then
//! made a voter; a RAM node stays a learner. The last disc node cannot be removed.

use super::node::{node_id, Member};
use super::wire::{Request, Response};
use super::Cluster;
use crate::broker::command::Actor;
use crate::config::NodeType;
use openraft::ChangeMembers;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

const ASK_TIMEOUT: Duration = Duration::from_secs(30);

impl Cluster {
    /// On start: nothing to do when this node already belongs to a cluster; alone (no
    /// peers) it forms a cluster of one; with peers it joins the first that is in a
    /// cluster, or, when none is and its address is the smallest of the disc nodes', forms
    /// the cluster.
    pub(super) async fn form_or_join(self: Arc<Self>) -> anyhow::Result<()> {
        if self.raft().is_initialized().await? {
            // Messages this node kept for queues homed elsewhere (mirrors' copies, which
            // start over) are released once it has caught up. Until then a queue it
            // mastered may have a new master already (see `Remotes::mirror_refused`).
            tokio::spawn(async move { self.caught_up().await });
            return Ok(());
        }
        if self.peers().is_empty() {
            if self.node_type() == NodeType::Ram {
                anyhow::bail!("cluster.peers: a RAM node needs a disc node to join");
            }
            return self.form().await;
        }
        tokio::spawn(async move {
            loop {
                match self.try_join_peers().await {
                    Ok(()) => return self.caught_up().await,
                    Err(e) => tracing::info!("not in a cluster yet: {e}"),
                }
                if self.node_type() == NodeType::Disc && self.first_disc_node().await {
                    if let Err(e) = self.clone().form().await {
                        tracing::error!("cannot form the cluster: {e}");
                    }
                    return;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        Ok(())
    }

    /// After joining or restarting: once this node has applied all the leader had applied,
    /// the messages it recovered for queues the cluster no longer has here (a RAM node's, or
    /// a mirror's copy) are released. If that cannot be known, they are kept.
    pub(super) async fn caught_up(&self) {
        let deadline = std::time::Instant::now() + ASK_TIMEOUT;
        while std::time::Instant::now() < deadline {
            if let Ok(leader) = self.leader() {
                let index = if leader.name == self.me.name {
                    // A node that led before it restarted may believe it still does: a
                    // quorum confirms it (and the index it had committed) first.
                    self.committed_here().await
                } else {
                    self.links
                        .request(&leader, Request::LastApplied, ASK_TIMEOUT)
                        .await
                };
                if let Ok(Response::Index(i)) = index {
                    if self.wait_applied(i).await.is_ok() {
                        self.broker.release_unclaimed();
                        self.remotes.set_caught_up(true);
                        return;
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        tracing::warn!(
            "not caught up with the cluster: recovered messages of unknown queues are kept"
        );
    }

    /// As the leader: the index committed, once a quorum confirmed this node still leads.
    pub(super) async fn committed_here(&self) -> Result<Response, super::links::LinkError> {
        match self.raft().ensure_linearizable().await {
            Ok(read) => Ok(Response::Index(read.map_or(0, |l| l.index))),
            Err(e) => Err(super::links::LinkError::Remote(e.to_string())),
        }
    }

    /// Whether this node forms the cluster: no peer with a smaller address is a disc node
    /// (a RAM node cannot form one; a peer that does not answer may be a disc node).
    async fn first_disc_node(&self) -> bool {
        for addr in self.peers() {
            if addr.as_str() > self.me.addr.as_str() {
                continue;
            }
            let peer = Member {
                name: String::new(),
                addr: addr.to_string(),
            };
            let wait = Duration::from_secs(2);
            let asked = self.links.request(&peer, Request::Status, wait).await;
            let ram = |s: &super::status::Status| {
                (s.members.iter()).any(|m| m.name == s.this_node && m.kind == "ram")
            };
            match asked {
                Ok(Response::Status(s)) if ram(&s) => {}
                _ => return false,
            }
        }
        true
    }

    /// The configured peers but this node (every node can share one list).
    fn peers(&self) -> Vec<&String> {
        let own = [self.me.addr.as_str(), self.config.listen.as_str()];
        (self.config.peers.iter())
            .filter(|p| !own.contains(&p.as_str()))
            .collect()
    }

    /// Forms a cluster of this node alone, and puts its current definitions in the log so
    /// nodes that join receive them.
    pub(super) async fn form(self: Arc<Self>) -> anyhow::Result<()> {
        let me = BTreeMap::from([(self.me.id(), self.me.clone())]);
        self.raft()
            .initialize(me)
            .await
            .map_err(|e| anyhow::anyhow!("cannot form the cluster: {e}"))?;
        tracing::info!("formed a cluster of {}", self.me.name);
        self.remotes.set_caught_up(true);
        let defs = self.broker.export_definitions();
        let steps = crate::broker::import::steps(&defs);
        let cmds = steps.into_iter().map(|s| s.cmd);
        self.broker
            .run_all(&Actor::BROKER, cmds)
            .await
            .map_err(|(_, e)| anyhow::anyhow!("cannot log this node's definitions: {e}"))
    }

    async fn try_join_peers(&self) -> Result<(), String> {
        let mut why = Vec::new();
        for addr in self.peers() {
            match self.join_via(addr).await {
                Ok(()) => return Ok(()),
                Err(e) => why.push(format!("{addr}: {e}")),
            }
        }
        Err(why.join("; "))
    }

    /// Asks the node at `addr` to add this one to its cluster.
    pub(crate) async fn join_via(&self, addr: &str) -> Result<(), String> {
        let peer = Member {
            name: String::new(),
            addr: addr.to_owned(),
        };
        let req = Request::Join {
            member: self.me.clone(),
            ram: self.node_type() == NodeType::Ram,
        };
        match self.links.request(&peer, req, ASK_TIMEOUT).await {
            Ok(Response::Done) => {
                tracing::info!("joined the cluster through {addr}");
                Ok(())
            }
            Ok(_) => Err("unexpected answer".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    /// The leader's member record, or why there is none.
    fn leader(&self) -> Result<Member, String> {
        let m = self.raft().metrics().borrow().clone();
        let id = m
            .current_leader
            .ok_or_else(|| format!("{} is not in a cluster with a leader", self.me.name))?;
        m.membership_config
            .membership()
            .get_node(&id)
            .cloned()
            .ok_or_else(|| "the leader is not a member".into())
    }

    /// Runs a membership request on the leader: here, or forwarded.
    pub(super) async fn membership_on_leader(
        &self,
        req: Request,
    ) -> Result<Option<Request>, String> {
        let leader = self.leader()?;
        if leader.name == self.me.name {
            return Ok(Some(req));
        }
        match self.links.request(&leader, req, ASK_TIMEOUT).await {
            Ok(Response::Done) => Ok(None),
            Ok(_) => Err("unexpected answer".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub(super) async fn add_member(&self, member: Member, ram: bool) -> Result<(), String> {
        let req = Request::Join { member, ram };
        let Some(Request::Join { member, ram }) = self.membership_on_leader(req).await? else {
            return Ok(());
        };
        let id = member.id();
        let e = |e: &dyn std::fmt::Display| e.to_string();
        self.raft()
            .add_learner(id, member.clone(), true)
            .await
            .map_err(|x| e(&x))?;
        if !ram {
            let voters = ChangeMembers::AddVoterIds(BTreeSet::from([id]));
            self.raft()
                .change_membership(voters, false)
                .await
                .map_err(|x| e(&x))?;
        }
        tracing::info!(
            "{} joined as a {} node",
            member.name,
            if ram { "ram" } else { "disc" }
        );
        Ok(())
    }

    /// Removes a node from the cluster (RabbitMQ's `forget_cluster_node`).
    pub(crate) async fn forget(&self, name: &str) -> Result<(), String> {
        let req = Request::Forget { name: name.into() };
        let Some(Request::Forget { name }) = self.membership_on_leader(req).await? else {
            return Ok(());
        };
        let id = node_id(&name);
        let m = self.raft().metrics().borrow().clone();
        let membership = m.membership_config.membership();
        if membership.get_node(&id).is_none() {
            return Err(format!("{name} is not a member of this cluster"));
        }
        let voters: BTreeSet<_> = membership.voter_ids().collect();
        let change = if voters.contains(&id) {
            if voters.len() == 1 {
                return Err(format!(
                    "{name} is the cluster's only disc node: it cannot be removed"
                ));
            }
            ChangeMembers::RemoveVoters(BTreeSet::from([id]))
        } else {
            ChangeMembers::RemoveNodes(BTreeSet::from([id]))
        };
        self.raft()
            .change_membership(change, false)
            .await
            .map_err(|e| e.to_string())?;
        tracing::info!("{name} removed from the cluster");
        Ok(())
    }

    /// Keeps a link up to every other member, so a member's death and return are seen
    /// within `net_ticktime` (and Raft's messages find the link open).
    pub(super) async fn watch_members(self: Arc<Self>) {
        let mut watched = BTreeSet::new();
        loop {
            let mut metrics = self.raft().metrics();
            loop {
                let members: Vec<Member> = {
                    let m = metrics.borrow_and_update();
                    let membership = m.membership_config.membership();
                    membership.nodes().map(|(_, n)| n.clone()).collect()
                };
                watched.retain(|n| members.iter().any(|m| m.name == *n));
                for m in members {
                    if m.name == self.me.name || !watched.insert(m.name.clone()) {
                        continue;
                    }
                    let cluster = Arc::downgrade(&self);
                    let id = m.id();
                    let keep = move || cluster.upgrade().is_some_and(|c| c.is_member(id));
                    tokio::spawn(self.links.clone().keep_up(m, keep));
                }
                if metrics.changed().await.is_err() {
                    break;
                }
            }
            // The group stopped: the node shuts down, or was reset (a new group follows).
            if *self.broker.shutdown.borrow() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    fn is_member(&self, id: super::node::NodeId) -> bool {
        let m = self.raft().metrics().borrow().clone();
        let found = m.membership_config.membership().get_node(&id).is_some();
        found
    }
}
