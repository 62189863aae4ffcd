//! The cluster as one node sees it: members with their type and whether they run, and the
//! current leader of the metadata log.

use super::wire::{Request, Response};
use super::Cluster;
use crate::broker::node_figures::NodeFigures;
use serde::{Deserialize, Serialize};

/// A peer that takes longer to report its figures is listed without them.
const FIGURES_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct MemberStatus {
    pub name: String,
    pub addr: String,
    /// `disc` or `ram`.
    #[serde(rename = "type")]
    pub kind: String,
    pub running: bool,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct Status {
    pub this_node: String,
    pub members: Vec<MemberStatus>,
    /// The metadata log's leader, when one is known.
    pub leader: Option<String>,
    /// This node sees no more than half of the members (it pauses with `pause_minority`).
    pub minority: bool,
}

impl Status {
    pub fn disc_nodes(&self) -> Vec<&str> {
        self.nodes(|m| m.kind == "disc")
    }

    pub fn ram_nodes(&self) -> Vec<&str> {
        self.nodes(|m| m.kind == "ram")
    }

    pub fn running_nodes(&self) -> Vec<&str> {
        self.nodes(|m| m.running)
    }

    fn nodes(&self, f: impl Fn(&MemberStatus) -> bool) -> Vec<&str> {
        (self.members.iter().filter(|m| f(m)))
            .map(|m| m.name.as_str())
            .collect()
    }
}

impl Cluster {
    /// A running member's figures, asked over its link (`None` when it does not answer).
    pub async fn figures_of(&self, m: &MemberStatus) -> Option<NodeFigures> {
        let member = super::node::Member {
            name: m.name.clone(),
            addr: m.addr.clone(),
        };
        let asked = self
            .links
            .request(&member, Request::Figures, FIGURES_TIMEOUT);
        match asked.await {
            Ok(Response::Figures(f)) => Some(f),
            _ => None,
        }
    }

    pub fn status(&self) -> Status {
        let metrics = self.raft().metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: std::collections::BTreeSet<_> = membership.voter_ids().collect();
        let mut members: Vec<MemberStatus> = membership
            .nodes()
            .map(|(id, m)| MemberStatus {
                name: m.name.clone(),
                addr: m.addr.clone(),
                kind: if voters.contains(id) { "disc" } else { "ram" }.into(),
                running: *id == self.me.id() || self.links.is_up(*id),
            })
            .collect();
        if members.is_empty() {
            // Not in a cluster yet (waiting to join): only this node.
            members.push(MemberStatus {
                name: self.me.name.clone(),
                addr: self.me.addr.clone(),
                kind: self.node_type().as_str().into(),
                running: true,
            });
        }
        members.sort_by(|a, b| a.name.cmp(&b.name));
        let leader = metrics
            .current_leader
            .and_then(|id| membership.get_node(&id))
            .map(|m| m.name.clone());
        let running = members.iter().filter(|m| m.running).count();
        Status {
            this_node: self.me.name.clone(),
            minority: running * 2 <= members.len() && members.len() > 1,
            members,
            leader,
        }
    }
}

impl Cluster {
    /// The other members with a live link to this node.
    pub(super) fn running_peers(&self) -> Vec<super::node::NodeId> {
        let metrics = self.raft().metrics();
        let metrics = metrics.borrow();
        (metrics.membership_config.membership().nodes())
            .map(|(id, _)| *id)
            .filter(|&id| id != self.me.id() && self.links.is_up(id))
            .collect()
    }

    /// With `pause_minority`: pauses the node (clients closed and refused) while it sees no
    /// more than half of the cluster's members, and resumes when it sees a majority again.
    pub(super) async fn watch_partition(self: std::sync::Arc<Self>) {
        use crate::config::PartitionHandling;
        if self.config.partition_handling != PartitionHandling::PauseMinority {
            return;
        }
        let mut tick = tokio::time::interval(std::time::Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.broker.shutdown_signal() => return,
            }
            let minority = self.status().minority;
            if *self.broker.paused.borrow() != minority {
                if minority {
                    tracing::warn!(
                        "{}: sees a minority of the cluster, pausing (pause_minority)",
                        self.me.name
                    );
                } else {
                    tracing::warn!("{}: sees a majority again, resuming", self.me.name);
                }
                self.broker.paused.send_replace(minority);
            }
        }
    }
}

/// Since when each member has been seen down, for decisions that wait until a node is
/// really gone rather than its link blinking.
#[derive(Default)]
pub(crate) struct DownSince(std::collections::HashMap<String, std::time::Instant>);

impl DownSince {
    /// Notes who runs now; returns the members down for at least `down_for`.
    pub(crate) fn update(&mut self, status: &Status, down_for: std::time::Duration) -> Vec<String> {
        for m in &status.members {
            if m.running {
                self.0.remove(&m.name);
            } else {
                self.0
                    .entry(m.name.clone())
                    .or_insert_with(std::time::Instant::now);
            }
        }
        (self.0.iter())
            .filter(|(_, since)| since.elapsed() >= down_for)
            .map(|(name, _)| name.clone())
            .collect()
    }

    pub(crate) fn clear(&mut self) {
        self.0.clear();
    }
}
