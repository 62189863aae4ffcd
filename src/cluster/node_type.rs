//! `change_cluster_node_type disc|ram` (RabbitMQ's), on a running node. A disc node is a
//! voter with its log and metadata on disk; a RAM node is a learner keeping them in memory.
//! To become a RAM node, the node is first made a learner (refused if it is the last disc
//! node), then its storage moves to memory and the files go. To become a disc node, its
//! storage moves to disk first, then it is made a voter. Moving storage stops the node's
//! Raft group, carries the log, vote and applied position over, and starts the group again
//! on the new storage; the definitions and the queues' messages stay as they are. The new
//! type is kept in `data_dir/cluster/node_type`, so a restart keeps it.

use super::node::Member;
use super::raft::log_store::LogStore;
use super::raft::state_machine::{Position, StateMachine};
use super::raft::types::Raft;
use super::wire::Request;
use super::Cluster;
use crate::config::NodeType;
use openraft::ChangeMembers;
use std::collections::BTreeSet;
use std::sync::Arc;

/// Why the last disc node cannot become a RAM node.
const ONLY_DISC: &str = "the cluster's only disc node: make another node a disc node first";

impl Cluster {
    pub(crate) fn log(&self) -> LogStore {
        self.log.read().clone()
    }

    /// Makes this node a disc or a RAM node.
    pub async fn change_node_type(self: &Arc<Self>, to: NodeType) -> Result<(), String> {
        let _one_at_a_time = self.changing_type.lock().await;
        if self.node_type() == to {
            return Ok(());
        }
        let status = self.status();
        if status.members.len() < 2 {
            return Err(format!(
                "{} is not clustered: a node alone can only be a disc node",
                self.me.name
            ));
        }
        match to {
            NodeType::Ram => {
                let other_disc =
                    (status.members.iter()).any(|m| m.name != self.me.name && m.kind == "disc");
                if !other_disc {
                    return Err(format!("{} is {ONLY_DISC}", self.me.name));
                }
                self.set_voter(false).await?;
                self.move_storage(to).await
            }
            NodeType::Disc => {
                self.move_storage(to).await?;
                self.set_voter(true).await
            }
        }
    }

    /// Where the stopped group's state machine got to: openraft drops it once its task
    /// ends, which may come a little after `shutdown` returns.
    async fn stopped_position(&self) -> Result<Position, String> {
        let slot = self.stopped_at.lock().clone();
        for _ in 0..100 {
            if let Some(p) = slot.lock().clone() {
                return Ok(p);
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Err("the metadata log did not stop".into())
    }

    /// Asks the leader to make this node a voter, or a learner.
    async fn set_voter(&self, voter: bool) -> Result<(), String> {
        self.set_voter_of(self.me.clone(), voter).await
    }

    /// Makes `member` a voter or a learner, on the leader (here, or forwarded). A group just
    /// restarted on new storage, or a leader just elected, may not know the leader yet:
    /// that is retried for a while; a refusal is not.
    pub(super) async fn set_voter_of(&self, member: Member, voter: bool) -> Result<(), String> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let req = Request::SetVoter {
                member: member.clone(),
                voter,
            };
            let done = match self.membership_on_leader(req).await {
                Ok(Some(Request::SetVoter { member, voter })) => {
                    self.make_voter(&member, voter).await
                }
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            match done {
                Err(e) if !e.contains(ONLY_DISC) && std::time::Instant::now() < deadline => {
                    tracing::debug!("changing {}'s type: {e}; trying again", member.name);
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                done => return done,
            }
        }
    }

    /// On the leader: makes `member` a voter, or a learner.
    async fn make_voter(&self, member: &Member, voter: bool) -> Result<(), String> {
        let ids = BTreeSet::from([member.id()]);
        let change = if voter {
            ChangeMembers::AddVoterIds(ids)
        } else {
            let voters: BTreeSet<_> = {
                let m = self.raft().metrics().borrow().clone();
                m.membership_config.membership().voter_ids().collect()
            };
            if voters.len() == 1 && voters.contains(&member.id()) {
                return Err(format!("{} is {ONLY_DISC}", member.name));
            }
            ChangeMembers::RemoveVoters(ids)
        };
        // The node stays a member: as a learner when it stops voting.
        (self.raft().change_membership(change, true).await)
            .map_err(|e| format!("cannot change {}'s type: {e}", member.name))?;
        let kind = if voter { "disc" } else { "ram" };
        tracing::info!("{} is now a {kind} node", member.name);
        Ok(())
    }

    /// Moves this node's log and metadata to memory or to disk, restarting its Raft group
    /// on the new storage at the position it had reached.
    pub(super) async fn move_storage(self: &Arc<Self>, to: NodeType) -> Result<(), String> {
        let _ = self.raft().shutdown().await;
        let position = self.stopped_position().await?;
        let data_dir = self.broker.config.data_dir.clone();
        let from = self.log();
        let broker = self.broker.clone();
        let at = position.clone();
        let moved = tokio::task::spawn_blocking(move || -> anyhow::Result<LogStore> {
            let dir = data_dir.join("cluster");
            std::fs::create_dir_all(&dir)?;
            // The marker is written when the new storage is whole: after the files of a
            // disc node, before those of a RAM node go (a crash in between restarts the node
            // on storage that is complete).
            let mark = || -> std::io::Result<()> {
                let file = crate::config::node_type_file(&data_dir);
                let mut f = std::fs::File::create(&file)?;
                std::io::Write::write_all(&mut f, to.as_str().as_bytes())?;
                f.sync_all()?;
                crate::store::segment::sync_dir(&dir)
            };
            match to {
                NodeType::Ram => {
                    let log = LogStore::memory_from(&from);
                    mark()?;
                    broker.metadata.to_memory(&data_dir)?;
                    match std::fs::remove_dir_all(dir.join("raft-log")) {
                        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                        _ => Ok(log),
                    }
                }
                NodeType::Disc => {
                    let log = LogStore::open_from(&dir, &from)?;
                    let mut defs = broker.export_definitions();
                    defs.cluster = serde_json::to_value(&at).ok();
                    broker.metadata.to_disk(&data_dir, defs)?;
                    mark()?;
                    Ok(log)
                }
            }
        })
        .await
        .map_err(|e| e.to_string())?;
        // On failure the node starts again on the storage it had.
        let log = match moved {
            Ok(log) => {
                *self.node_type.write() = to;
                *self.log.write() = log.clone();
                log
            }
            Err(e) => {
                tracing::error!("cannot move the metadata to {}: {e}", to.as_str());
                self.log()
            }
        };
        let network = self.network();
        let sm = StateMachine::at(self.broker.clone(), self.waiters.clone(), position);
        *self.stopped_at.lock() = sm.stopped_at();
        let raft = Raft::new(self.me.id(), self.raft_config.clone(), network, log, sm)
            .await
            .map_err(|e| format!("cannot restart the metadata log: {e}"))?;
        *self.raft.write() = raft;
        if self.node_type() != to {
            return Err(format!(
                "cannot move this node's metadata to {}",
                to.as_str()
            ));
        }
        Ok(())
    }
}
