//! `reset` and `join_cluster` (RabbitMQ's): a node leaves its cluster (the others forget
//! it), forgets the log and its definitions, and either stands alone again as a cluster of
//! one, or joins another cluster and receives that cluster's definitions.

use super::raft::state_machine::{stored, Position, StateMachine};
use super::raft::types::Raft;
use super::Cluster;
use crate::config::NodeType;
use std::sync::Arc;

impl Cluster {
    /// Returns the node to a new node's state, alone in a cluster of its own.
    pub async fn reset(self: &Arc<Self>) -> Result<(), String> {
        self.leave_and_wipe().await?;
        self.clone().form().await.map_err(|e| e.to_string())
    }

    /// Resets the node, then joins the cluster of the node at `addr` (its inter-node
    /// address). If joining fails, the node stands alone again.
    pub async fn join_cluster(self: &Arc<Self>, addr: &str, ram: bool) -> Result<(), String> {
        self.leave_and_wipe().await?;
        let want = if ram { NodeType::Ram } else { NodeType::Disc };
        if self.node_type() != want {
            self.move_storage(want).await?;
        }
        match self.join_via(addr).await {
            Ok(()) => {
                self.caught_up().await;
                Ok(())
            }
            Err(e) => {
                // Alone, a node is a disc node.
                if self.node_type() == NodeType::Ram {
                    if let Err(f) = self.move_storage(NodeType::Disc).await {
                        tracing::error!("cannot become a disc node again: {f}");
                    }
                }
                if let Err(f) = self.clone().form().await {
                    tracing::error!("cannot stand alone again: {f}");
                }
                Err(e)
            }
        }
    }

    /// Leaves the cluster, if in one with others, and starts a new, empty Raft group on
    /// cleared storage and reset definitions.
    async fn leave_and_wipe(&self) -> Result<(), String> {
        if self.status().members.len() > 1 {
            self.forget(&self.me.name).await?;
        }
        let old = self.raft();
        let _ = old.shutdown().await;
        self.log().clear().await.map_err(|e| e.to_string())?;
        self.broker
            .reset_definitions(stored(&Position::default()))
            .map_err(|e| e.to_string())?;
        self.broker.release_unclaimed();
        let network = self.network();
        let fresh = StateMachine::fresh(self.broker.clone(), self.waiters.clone());
        *self.stopped_at.lock() = fresh.stopped_at();
        let config = self.raft_config.clone();
        let raft = Raft::new(self.me.id(), config, network, self.log(), fresh)
            .await
            .map_err(|e| format!("cannot restart the metadata log: {e}"))?;
        *self.raft.write() = raft;
        tracing::info!("{} reset", self.me.name);
        Ok(())
    }
}
