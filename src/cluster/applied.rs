//! How far each member has applied the metadata log, as the leader hears it: a member
//! answers each append with the index it has applied, after applying what that append
//! committed (see `Cluster::answer_append`). So the leader knows when a change is done on
//! every node from the answers replication brings anyway, without asking each node again.

use super::node::NodeId;
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::watch;

#[derive(Default)]
pub(crate) struct Applied {
    /// Each member's last answer (a member that restarted answers lower than before).
    seen: watch::Sender<HashMap<NodeId, u64>>,
}

impl Applied {
    /// `node` says it has applied the log up to `index`.
    pub(crate) fn report(&self, node: NodeId, index: u64) {
        self.seen
            .send_if_modified(|seen| seen.insert(node, index) != Some(index));
    }

    /// Waits up to `limit` until every one of `nodes` has said it applied up to `index`.
    pub(crate) async fn wait(&self, nodes: &[NodeId], index: u64, limit: Duration) {
        let mut rx = self.seen.subscribe();
        let everywhere =
            rx.wait_for(|seen| (nodes.iter()).all(|n| seen.get(n).is_some_and(|&at| at >= index)));
        let _ = tokio::time::timeout(limit, everywhere).await;
    }
}
