//! Mirrored queues between nodes: a master's operations to the nodes holding its mirrors,
//! in order on each link, and the mirrors' word back that they hold the messages (which
//! lets the master's publisher confirms go).

use super::data::{Data, MirrorOp, QueueId};
use super::Remotes;
use crate::cluster::links::Sent;
use crate::cluster::node::{node_id, NodeId};
use crate::queue::mirror::{self, Gate, MirrorLinks, Written};
use crate::queue::Queue;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

impl MirrorLinks for Remotes {
    fn send(&self, q: &Queue, nodes: &[String], ops: Vec<mirror::MirrorOp>) -> Option<Gate> {
        let applied = self.waiters.last_applied();
        let wire: Vec<MirrorOp> = ops.iter().map(|op| MirrorOp::of(op, applied)).collect();
        let mut sent = Vec::with_capacity(nodes.len());
        for node in nodes {
            let d = Data::Mirror {
                q: QueueId::of(q),
                ops: wire.clone(),
            };
            // A node that cannot be reached is dropped from the mirrors by the leader.
            sent.extend(self.links.send_gated(node_id(node), d, None));
        }
        (!sent.is_empty()).then(|| Arc::new(AllWritten(sent)) as Gate)
    }
}

/// Passes once every message is written (or its link closed).
struct AllWritten(Vec<Sent>);

impl Written for AllWritten {
    fn passed(&self) -> bool {
        self.0.iter().all(Sent::passed)
    }

    fn wait(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(async move {
            for s in &self.0 {
                s.reached().await;
            }
        })
    }
}

impl Remotes {
    /// At a mirror's node: the master's operations.
    pub(super) fn serve_mirror(&self, from: NodeId, q: QueueId, ops: Vec<MirrorOp>) {
        // Only from the queue's master: an old master back after a promotion is not one.
        let master =
            |x: &Arc<Queue>| x.is_remote() && x.home_node().is_some_and(|h| node_id(&h) == from);
        let Some(queue) = self.known_queue(&q).filter(master) else {
            // This node knows another master, or not the queue yet.
            self.links.send_data(from, Data::MirrorRefused { q });
            return;
        };
        // A resume from a master that had applied more of the log than this node: what
        // this node has yet to apply may move its mirror (a node that was away can still
        // have to apply its removal from the mirrors, which would undo the sync that
        // follows). It takes nothing from the master until it takes a later resume.
        let applied = self.waiters.last_applied();
        let ahead = |op: &MirrorOp| match op {
            MirrorOp::Resume { id, at } if *at > applied => Some(*id),
            _ => None,
        };
        if ops
            .iter()
            .find_map(ahead)
            .is_some_and(|id| queue.mirror_behind(id))
        {
            tracing::debug!(target: "warren::mirror_trace", "queue '{}': a resume from a master ahead of this node's log (at {applied}) refused", queue.name);
            self.links.send_data(from, Data::MirrorRefused { q });
            return;
        }
        let links = self.links.clone();
        let id_back = q.clone();
        let held = Box::new(move |held: Result<Vec<u64>, ()>| {
            let d = match held {
                Ok(seqs) => Data::MirrorHas { q, seqs },
                Err(()) => Data::MirrorRefused { q },
            };
            links.send_data(from, d);
        });
        let ops = ops.into_iter().map(MirrorOp::into_op).collect();
        let answers = queue.mirror_apply(ops, held);
        for (start, seqs) in answers.matched {
            let q = id_back.clone();
            let d = Data::MirrorMatches {
                q,
                from: start,
                seqs,
            };
            self.links.send_data(from, d);
        }
        if let Some(id) = answers.resumed {
            let q = id_back;
            self.links.send_data(from, Data::MirrorResumed { q, id });
        }
    }

    /// At the master: a mirror holds identically these messages of the batch offered from
    /// `start`.
    pub(super) fn mirror_matches(&self, from: NodeId, q: QueueId, start: u64, seqs: Vec<u64>) {
        let (Some(queue), Some(member)) = (self.known_queue(&q), self.links.member(from)) else {
            return;
        };
        queue.mirror_matched(&member.name, start, seqs);
    }

    /// At the master: a mirror holds these messages.
    pub(super) fn mirror_has(&self, from: NodeId, q: QueueId, seqs: &[u64]) {
        let (Some(queue), Some(member)) = (self.known_queue(&q), self.links.member(from)) else {
            return;
        };
        queue.mirror_holds(&member.name, seqs);
    }

    /// Whether this node's mirror of `q` holds what its master counted it synchronised for.
    pub(crate) fn mirror_in_sync(&self, q: &QueueId) -> bool {
        self.known_queue(q).is_some_and(|q| q.mirror_in_sync())
    }

    /// At the master: a mirror took a resume.
    pub(super) fn mirror_resumed(&self, from: NodeId, q: QueueId, id: u64) {
        let (Some(queue), Some(member)) = (self.known_queue(&q), self.links.member(from)) else {
            return;
        };
        queue.mirror_resumed(&member.name, id);
    }

    /// At the master: a mirror did not take operations; it is resumed. Not before this
    /// node has caught up with the log: a restarted node may be a master no longer, and
    /// its mirrors refuse it for that; what waits for them is then refused when the
    /// promotion is applied here, never confirmed.
    ///
    /// A mirror that knows another master is behind, or this node was deposed: what
    /// waits for it keeps waiting until it takes operations from here again (it was
    /// behind), or the promotion reaches this node (which refuses it all).
    pub(super) fn mirror_refused(&self, from: NodeId, q: QueueId) {
        if !self.caught_up.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        let (Some(queue), Some(member)) = (self.known_queue(&q), self.links.member(from)) else {
            return;
        };
        queue.mirror_suspect(&member.name);
    }

    /// The link to node `id` went down: its mirrors of queues mastered here are resumed.
    /// What waits for them keeps waiting until the leader removes them from the mirrors
    /// (this node is then still the master, on the majority's side), or they take
    /// operations from here again; a master cut off from the majority never confirms
    /// what only it holds.
    pub(super) fn mirrors_down(&self, id: NodeId) {
        for vhost in self.broker.vhosts() {
            for q in vhost.queues().into_iter().filter(|q| q.is_mirrored()) {
                for node in q.mirrors().iter().filter(|n| node_id(n) == id) {
                    q.mirror_suspect(node);
                }
            }
        }
    }
}
