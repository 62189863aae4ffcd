//! Mirrored queues between nodes: a master's operations to the nodes holding its mirrors,
//! in order on each link, and the mirrors' word back that they hold the messages (which
//! lets the master's publisher confirms go).

use super::data::{Data, MirrorOp, QueueId};
use super::Remotes;
use crate::cluster::node::{node_id, NodeId};
use crate::queue::mirror::{self, MirrorLinks};
use crate::queue::Queue;
use std::sync::Arc;

impl MirrorLinks for Remotes {
    fn send(&self, q: &Queue, nodes: &[String], ops: Vec<mirror::MirrorOp>) {
        let wire: Vec<MirrorOp> = ops.iter().map(MirrorOp::of).collect();
        for node in nodes {
            let d = Data::Mirror {
                q: QueueId::of(q),
                ops: wire.clone(),
            };
            // A node that cannot be reached is dropped from the mirrors by the leader.
            self.links.send_data(node_id(node), d);
        }
    }
}

impl Remotes {
    fn any_queue(&self, q: &QueueId) -> Option<Arc<Queue>> {
        self.broker.vhost(&q.vhost)?.queue(&q.name)
    }

    /// At a mirror's node: the master's operations.
    pub(super) fn serve_mirror(&self, from: NodeId, q: QueueId, ops: Vec<MirrorOp>) {
        // Only from the queue's master: an old master back after a promotion is not one.
        let master =
            |x: &Arc<Queue>| x.is_remote() && x.home_node().is_some_and(|h| node_id(&h) == from);
        let Some(queue) = self.any_queue(&q).filter(master) else {
            return;
        };
        let links = self.links.clone();
        let held = Box::new(move |seqs| {
            links.send_data(from, Data::MirrorHas { q, seqs });
        });
        queue.mirror_apply(ops.into_iter().map(MirrorOp::into_op).collect(), held);
    }

    /// At the master: a mirror holds these messages.
    pub(super) fn mirror_has(&self, from: NodeId, q: QueueId, seqs: &[u64]) {
        let (Some(queue), Some(member)) = (self.any_queue(&q), self.links.member(from)) else {
            return;
        };
        queue.mirror_holds(&member.name, seqs);
    }

    /// The link to node `id` went down: confirms at masters here stop waiting for the
    /// mirrors there.
    pub(super) fn mirrors_down(&self, id: NodeId) {
        for vhost in self.broker.vhosts() {
            for q in vhost.queues().into_iter().filter(|q| q.is_mirrored()) {
                for node in q.mirrors().iter().filter(|n| node_id(n) == id) {
                    q.mirror_down(node);
                }
            }
        }
    }
}
